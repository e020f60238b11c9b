/*
 * libfuse 2's face: the stand-in libfuse.so.2 (docs/fuse-compat.md).  A
 * libfuse 2 file system is served by the same core as a libfuse 3 one:
 * its struct fuse_operations (2.x layout, fuse2.h) is turned into a 3.x
 * one whose members translate each call (2.x's fuse_file_info, the 4-
 * argument filler, getdir, fgetattr/ftruncate beside getattr/truncate,
 * utime, rename without flags, init with the 2.x fuse_conn_info; the
 * older tables of FUSE_USE_VERSION 22 and 25 too), and the 2.x entry
 * points (fuse_main_real, fuse_setup, fuse_new on a channel, fuse_mount
 * returning one, fuse_parse_cmdline's four arguments...) do their work
 * with the core's.  libfuse 2's low-level API is ll2.c's.
 *
 * Entry points whose names libfuse 3's headers declare with other
 * signatures are defined as fc2_* and exported under libfuse 2's name and
 * version with .symver; those the two APIs share (fuse_opt_*, fuse_loop,
 * fuse_get_context...) are the core's, listed in fuse2.map.
 */
#include "fc.h"
#include "fuse2.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>

const int fc_libfuse_major = 2;

/* A 2.x channel: all fuse_mount leaves for fuse_new (nothing is mounted). */
struct fuse_chan {
	char *mountpoint;
	int null_fd1;		/* fuse_chan_fd's descriptor + 1, 0: none yet */
};

/* An older table's differences (fuse2.h): which, and its members whose
   types differ from 2.9's. */
struct compat2 {
	int version;				/* 22 or 25; 0: none */
	void *(*init)(void);
	int (*statfs)(const char *, struct statfs *);	/* 22 */
};

/* What a libfuse 2 file system's handle keeps besides the core's (f->v2). */
struct fc2 {
	struct fuse2_operations op;
	struct compat2 compat;
	struct fuse_conn_info_opts *conn_opts;	/* max_write=, atomic_o_trunc... */
	struct fuse_chan *ch;			/* fuse_setup's, for fuse_teardown */
};

static void free_v2(void *p)
{
	struct fc2 *v2 = p;

	free(v2->conn_opts);
	free(v2);
}

static struct fc2 *v2_of_call(void)
{
	return fuse_get_context()->fuse->v2;
}

static const struct fuse2_operations *op2(void)
{
	return &v2_of_call()->op;
}

/* ---- fuse_file_info: 3.x's kept by the core, 2.x's lent to the call ---- */

void fc2_fi_to2(const struct fuse_file_info *fi, struct fuse2_file_info *f2)
{
	memset(f2, 0, sizeof(*f2));
	f2->flags = fi->flags;
	f2->fh_old = (unsigned long)fi->fh;
	f2->writepage = fi->writepage;
	f2->direct_io = fi->direct_io;
	f2->keep_cache = fi->keep_cache;
	f2->flush = fi->flush;
	f2->nonseekable = fi->nonseekable;
	f2->flock_release = fi->flock_release;
	f2->fh = fi->fh;
	f2->lock_owner = fi->lock_owner;
}

/* What a 2.x call may set for the core to keep: the handle and the open
   flags.  A FUSE_USE_VERSION 22 file system's handle is fh_old's word. */
static void fi_from2(const struct fuse2_file_info *f2, struct fuse_file_info *fi)
{
	fi->fh = v2_of_call()->compat.version == 22 ? f2->fh_old : f2->fh;
	fi->direct_io = f2->direct_io;
	fi->keep_cache = f2->keep_cache;
	fi->nonseekable = f2->nonseekable;
}

void fc2_fi_from2_all(const struct fuse2_file_info *f2, struct fuse_file_info *fi)
{
	fi->flags = f2->flags;
	fi->writepage = f2->writepage;
	fi->direct_io = f2->direct_io;
	fi->keep_cache = f2->keep_cache;
	fi->flush = f2->flush;
	fi->nonseekable = f2->nonseekable;
	fi->flock_release = f2->flock_release;
	fi->fh = f2->fh;
	fi->lock_owner = f2->lock_owner;
}

/* A libfuse 2 program's low-level reply gives 2.x's fuse_file_info. */
void fc_reply_fi(const struct fuse_file_info *given, struct fuse_file_info *out)
{
	fc2_fi_from2_all((const struct fuse2_file_info *)(const void *)given, out);
}

/* A call with a file: fi lent as 2.x's (NULL stays NULL), given back after. */
#define WITH_FI(fi, call)						\
	({								\
		struct fuse2_file_info f2_, *fp_ = NULL;		\
		int r_;							\
		if (fi) {						\
			fc2_fi_to2(fi, &f2_);				\
			fp_ = &f2_;					\
		}							\
		r_ = call;						\
		if (fi)							\
			fi_from2(&f2_, fi);				\
		r_;							\
	})

/* ---- the operations, 3.x in, 2.x out ---------------------------------- */

static int t_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	const struct fuse2_operations *o = op2();

	/* libfuse 2 asks fgetattr for a file given by handle, else getattr */
	if (fi && o->fgetattr)
		return WITH_FI(fi, o->fgetattr(path, st, fp_));
	if (!path || !o->getattr)
		return -ENOSYS;
	return o->getattr(path, st);
}

static int t_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	const struct fuse2_operations *o = op2();

	if (fi && o->ftruncate)
		return WITH_FI(fi, o->ftruncate(path, size, fp_));
	if (!path || !o->truncate)
		return -ENOSYS;
	return o->truncate(path, size);
}

static int t_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)fi;
	return op2()->chmod(path, mode);
}

static int t_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)fi;
	return op2()->chown(path, uid, gid);
}

static int t_rename(const char *from, const char *to, unsigned int flags)
{
	/* 2.x has no RENAME_NOREPLACE or RENAME_EXCHANGE */
	return flags ? -EINVAL : op2()->rename(from, to);
}

/*
 * utimens: a 2.x file system without flag_utime_omit_ok is never given
 * UTIME_NOW or UTIME_OMIT: NOW is the time now, OMIT the file's own time.
 * One with only utime gets whole seconds.
 */
static int t_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	const struct fuse2_operations *o = op2();
	struct timespec t[2] = { tv[0], tv[1] };

	if (!o->flag_utime_omit_ok || !o->utimens) {
		struct timespec now;
		struct stat st;
		int have_st = 0;

		clock_gettime(CLOCK_REALTIME, &now);
		for (int i = 0; i < 2; i++) {
			if (t[i].tv_nsec == UTIME_NOW) {
				t[i] = now;
			} else if (t[i].tv_nsec == UTIME_OMIT) {
				if (!have_st) {
					int r = t_getattr(path, &st, fi);

					if (r)
						return r;
					have_st = 1;
				}
				t[i] = i ? st.st_mtim : st.st_atim;
			}
		}
	}
	if (o->utimens)
		return o->utimens(path, t);
	if (o->utime) {
		struct utimbuf b = { .actime = t[0].tv_sec, .modtime = t[1].tv_sec };

		return o->utime(path, &b);
	}
	return -ENOSYS;
}

static int t_open(const char *path, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->open(path, fp_));
}

static int t_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->read(path, buf, size, off, fp_));
}

static int t_write(const char *path, const char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->write(path, buf, size, off, fp_));
}

static int t_flush(const char *path, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->flush(path, fp_));
}

static int t_release(const char *path, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->release(path, fp_));
}

static int t_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->fsync(path, datasync, fp_));
}

static int t_opendir(const char *path, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->opendir(path, fp_));
}

static int t_releasedir(const char *path, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->releasedir(path, fp_));
}

static int t_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->fsyncdir(path, datasync, fp_));
}

static int t_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->create(path, mode, fp_));
}

static int t_lock(const char *path, struct fuse_file_info *fi, int cmd, struct flock *lock)
{
	return WITH_FI(fi, op2()->lock(path, fp_, cmd, lock));
}

static int t_flock(const char *path, struct fuse_file_info *fi, int op)
{
	return WITH_FI(fi, op2()->flock(path, fp_, op));
}

static int t_fallocate(const char *path, int mode, off_t off, off_t len,
		       struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->fallocate(path, mode, off, len, fp_));
}

static int t_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	/* struct fuse_bufvec is the same in both */
	return WITH_FI(fi, op2()->read_buf(path, bufp, size, off, fp_));
}

static int t_write_buf(const char *path, struct fuse_bufvec *buf, off_t off,
		       struct fuse_file_info *fi)
{
	return WITH_FI(fi, op2()->write_buf(path, buf, off, fp_));
}

static int t_ioctl(const char *path, unsigned int cmd, void *arg, struct fuse_file_info *fi,
		   unsigned int flags, void *data)
{
	return WITH_FI(fi, op2()->ioctl(path, (int)cmd, arg, fp_, flags, data));
}

static int t_poll(const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph,
		  unsigned *reventsp)
{
	return WITH_FI(fi, op2()->poll(path, fp_, ph, reventsp));
}

/* readdir: the 2.x filler (no flags) feeds the core's. */
struct dirbuf {
	void *buf;
	fuse_fill_dir_t fill;
};

static int fill2(void *b, const char *name, const struct stat *st, off_t off)
{
	struct dirbuf *d = b;

	return d->fill(d->buf, name, st, off, 0);
}

/* getdir's filler: a name, its d_type and its inode number, no offsets
   (the core then keeps the listing, as libfuse 2 does). */
struct fuse2_dirhandle {
	struct dirbuf d;
};

static int getdir_fill(struct fuse2_dirhandle *h, const char *name, int type, ino_t ino)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = (mode_t)type << 12;	/* DT_* is S_IF* >> 12 */
	return h->d.fill(h->d.buf, name, &st, 0, 0) ? 1 : 0;
}

static int t_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		     struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	const struct fuse2_operations *o = op2();
	struct fuse2_dirhandle h = { { buf, filler } };

	(void)flags;
	if (o->readdir)
		return WITH_FI(fi, o->readdir(path, &h.d, fill2, off, fp_));
	return o->getdir(path, &h, getdir_fill);
}

/* init: 2.x's fuse_conn_info, whose capability bits are 3.x's but for
   BIG_WRITES (always on in process). */
#define CAPS_SHARED 0xfdfu

void fc2_conn_prepare(struct fuse_conn_info *conn, struct fuse_conn_info_opts *opts)
{
	/* libfuse 2 truncates before the open unless asked (atomic_o_trunc) */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	if (opts)
		fuse_apply_conn_info_opts(opts, conn);
}

void fc2_conn_to2(const struct fuse_conn_info *conn, struct fuse2_conn_info *c2)
{
	memset(c2, 0, sizeof(*c2));
	c2->proto_major = conn->proto_major;
	c2->proto_minor = conn->proto_minor;
	c2->async_read = !!(conn->want & FUSE_CAP_ASYNC_READ);
	c2->max_write = conn->max_write;
	c2->max_readahead = conn->max_readahead;
	c2->capable = (conn->capable & CAPS_SHARED) | FUSE2_CAP_BIG_WRITES;
	c2->want = (conn->want & CAPS_SHARED) | FUSE2_CAP_BIG_WRITES;
	c2->max_background = conn->max_background;
	c2->congestion_threshold = conn->congestion_threshold;
}

void fc2_conn_from2(const struct fuse2_conn_info *c2, struct fuse_conn_info *conn)
{
	conn->want = (conn->want & ~CAPS_SHARED) | (c2->want & CAPS_SHARED);
	if (!c2->async_read)
		conn->want &= ~FUSE_CAP_ASYNC_READ;
	conn->max_write = c2->max_write;
	conn->max_readahead = c2->max_readahead;
	conn->max_background = c2->max_background;
	conn->congestion_threshold = c2->congestion_threshold;
}

static void *t_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fc2 *v2 = fuse_get_context()->fuse->v2;
	struct fuse2_conn_info c2;
	void *data;

	(void)cfg;
	fc2_conn_prepare(conn, v2->conn_opts);
	if (v2->compat.init)
		return v2->compat.init();	/* 22 and 25: no conn */
	if (!v2->op.init)
		return fuse_get_context()->private_data;
	fc2_conn_to2(conn, &c2);
	data = v2->op.init(&c2);
	fc2_conn_from2(&c2, conn);
	return data;
}

/* FUSE_USE_VERSION 22's statfs fills a struct statfs. */
static int t_statfs22(const char *path, struct statvfs *sv)
{
	struct statfs sf;
	int r;

	memset(&sf, 0, sizeof(sf));
	r = v2_of_call()->compat.statfs(path, &sf);
	if (r)
		return r;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = sv->f_frsize = sf.f_bsize;
	sv->f_blocks = sf.f_blocks;
	sv->f_bfree = sf.f_bfree;
	sv->f_bavail = sf.f_bavail;
	sv->f_files = sf.f_files;
	sv->f_ffree = sf.f_ffree;
	sv->f_favail = sf.f_ffree;
	sv->f_namemax = sf.f_namelen;
	return 0;
}

/* The 3.x table for o: a member only where o has the operation, so that the
   core's defaults for a missing one (libfuse's) stay. */
static void ops3(const struct fuse2_operations *o, struct fuse_operations *op)
{
	memset(op, 0, sizeof(*op));
	/* the same in both */
	op->readlink = o->readlink;
	op->mknod = o->mknod;
	op->mkdir = o->mkdir;
	op->unlink = o->unlink;
	op->rmdir = o->rmdir;
	op->symlink = o->symlink;
	op->link = o->link;
	op->statfs = o->statfs;
	op->setxattr = o->setxattr;
	op->getxattr = o->getxattr;
	op->listxattr = o->listxattr;
	op->removexattr = o->removexattr;
	op->destroy = o->destroy;
	op->access = o->access;
	op->bmap = o->bmap;
#define T(m, cond) op->m = (cond) ? t_##m : NULL
	T(getattr, o->getattr || o->fgetattr);
	T(truncate, o->truncate || o->ftruncate);
	T(chmod, o->chmod);
	T(chown, o->chown);
	T(rename, o->rename);
	T(utimens, o->utimens || o->utime);
	T(open, o->open);
	T(read, o->read);
	T(write, o->write);
	T(flush, o->flush);
	T(release, o->release);
	T(fsync, o->fsync);
	T(opendir, o->opendir);
	T(readdir, o->readdir || o->getdir);
	T(releasedir, o->releasedir);
	T(fsyncdir, o->fsyncdir);
	T(create, o->create);
	T(lock, o->lock);
	T(flock, o->flock);
	T(fallocate, o->fallocate);
	T(read_buf, o->read_buf);
	T(write_buf, o->write_buf);
	T(ioctl, o->ioctl);
	T(poll, o->poll);
	T(init, 1);	/* 2.x's conn and its option defaults, always */
#undef T
}

/* ---- the entry points --------------------------------------------------- */

#define FC2_VERSION_TEXT "2.9.9 (DEFUSE in-process)"

/* Options of 2.x's fuse_new and fuse_mount that 3.x's have no more:
   big_writes (always), large_read (a 2.4 kernel's), nopath (the high
   level's own: 3.x's nullpath_ok). */
struct v2_opts {
	int nopath;
};

static const struct fuse_opt v2_spec[] = {
	FUSE_OPT_KEY("big_writes", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("large_read", FUSE_OPT_KEY_DISCARD),
	{ "nopath", offsetof(struct v2_opts, nopath), 1 },
	FUSE_OPT_END
};

/* fuse_new for a table of FUSE_USE_VERSION compat (0: 26 to 29; 22, 25). */
static struct fuse *new2(struct fuse_chan *ch, struct fuse_args *args, const void *op,
			 size_t op_size, void *user_data, int compat)
{
	struct fc2 *v2 = calloc(1, sizeof(*v2));
	size_t size = compat == 22 ? FUSE2_OPS_COMPAT22_SIZE :
		      compat == 25 ? FUSE2_OPS_COMPAT25_SIZE : sizeof(v2->op);
	struct fuse_operations o3;
	struct v2_opts vo = { 0 };
	struct fuse *f;

	if (!v2 || !ch)
		goto fail;
	if (op_size > size) {
		fuse_log(FUSE_LOG_ERR, "fuse: warning: library too old, some operations may "
			 "not work\n");
		op_size = size;
	}
	memcpy(&v2->op, op, op_size);
	v2->compat.version = compat;
	if (compat) {
		/* the same slots, other types: called through compat's */
		v2->compat.init = (void *(*)(void))(void *)v2->op.init;
		v2->op.init = NULL;
	}
	if (compat == 22) {
		v2->compat.statfs = (int (*)(const char *, struct statfs *))(void *)v2->op.statfs;
		v2->op.statfs = NULL;
	}
	if (fuse_opt_parse(args, &vo, v2_spec, NULL) == -1)
		goto fail;
	v2->conn_opts = fuse_parse_conn_info_opts(args);
	if (!v2->conn_opts)
		goto fail;
	ops3(&v2->op, &o3);
	if (v2->compat.statfs)
		o3.statfs = t_statfs22;
	f = fc_new(args, &o3, sizeof(o3), user_data);
	if (!f)
		goto fail;
	f->v2 = v2;
	f->free_v2 = free_v2;
	if (v2->op.flag_nullpath_ok || v2->op.flag_nopath || vo.nopath)
		f->conf.nullpath_ok = 1;
	f->mountpoint = strdup(ch->mountpoint);
	return f;
fail:
	if (v2)
		free(v2->conn_opts);
	free(v2);
	return NULL;
}

struct fuse *fc2_new(struct fuse_chan *ch, struct fuse_args *args,
		     const struct fuse2_operations *op, size_t op_size, void *user_data);
FC_EXPORT struct fuse *fc2_new(struct fuse_chan *ch, struct fuse_args *args,
			       const struct fuse2_operations *op, size_t op_size,
			       void *user_data)
{
	return new2(ch, args, op, op_size, user_data, 0);
}
__asm__(".symver fc2_new, fuse_new@@FUSE_2.6");

/* libfuse 2's mount takes -r for -o ro (libfuse 3's does not). */
#define KEY_RO 1
static const struct fuse_opt mount2_spec[] = {
	FUSE_OPT_KEY("-r", KEY_RO),
	FUSE_OPT_END
};

static int mount2_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	(void)data;
	(void)arg;
	if (key != KEY_RO)
		return 1;
	return fuse_opt_add_arg(out, "-oro");
}

/* Nothing to mount: the DEFUSE host serves the mount point.  The mount
   options stay in args for fuse_new, which knows them too. */
struct fuse_chan *fc2_mount(const char *mountpoint, struct fuse_args *args);
FC_EXPORT struct fuse_chan *fc2_mount(const char *mountpoint, struct fuse_args *args)
{
	struct fuse_chan *ch;

	if (args && fuse_opt_parse(args, NULL, mount2_spec, mount2_proc) == -1)
		return NULL;
	if (!mountpoint) {
		fuse_log(FUSE_LOG_ERR, "fuse: missing mountpoint parameter\n");
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (ch)
		ch->mountpoint = strdup(mountpoint);
	if (!ch || !ch->mountpoint) {
		free(ch);
		return NULL;
	}
	return ch;
}
__asm__(".symver fc2_mount, fuse_mount@@FUSE_2.6");

void fc2_unmount(const char *mountpoint, struct fuse_chan *ch);
FC_EXPORT void fc2_unmount(const char *mountpoint, struct fuse_chan *ch)
{
	(void)mountpoint;
	if (ch) {
		fc_null_fd_close(&ch->null_fd1);
		free(ch->mountpoint);
	}
	free(ch);
}
__asm__(".symver fc2_unmount, fuse_unmount@@FUSE_2.6");

const char *fc2_chan_mountpoint(const struct fuse_chan *ch)
{
	return ch->mountpoint;
}

/* There is no /dev/fuse descriptor in process: one to set flags on
   (fuse_session_fd's kind). */
FC_EXPORT int fuse_chan_fd(struct fuse_chan *ch)
{
	return ch ? fc_null_fd(&ch->null_fd1) : -1;
}

int fc2_parse_cmdline(struct fuse_args *args, char **mountpoint, int *multithreaded,
		      int *foreground);
FC_EXPORT int fc2_parse_cmdline(struct fuse_args *args, char **mountpoint, int *multithreaded,
				int *foreground)
{
	struct fuse_cmdline_opts o;

	if (mountpoint)
		*mountpoint = NULL;
	if (fc_parse_cmdline(args, &o) == -1)
		return -1;
	if (o.show_version) {
		printf("FUSE library version: %s\n", FC2_VERSION_TEXT);
		free(o.mountpoint);
		return -1;
	}
	if (o.show_help) {
		printf("usage: %s mountpoint [options]\n\n", args->argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		/* as libfuse 2: -h goes on, for fuse_new to show its options and
		   refuse */
		if (fuse_opt_add_arg(args, "-h") == -1)
			return -1;
	}
	if (mountpoint)
		*mountpoint = o.mountpoint;
	else
		free(o.mountpoint);
	if (multithreaded)
		*multithreaded = !o.singlethread;
	if (foreground)
		*foreground = o.foreground;
	return 0;
}
__asm__(".symver fc2_parse_cmdline, fuse_parse_cmdline@@FUSE_2.5");

static struct fuse *setup2(int argc, char *argv[], const void *op, size_t op_size,
			   char **mountpoint, int *multithreaded, void *user_data, int compat)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_chan *ch;
	struct fuse *f = NULL;
	int foreground;

	if (fc2_parse_cmdline(&args, mountpoint, multithreaded, &foreground) == -1)
		goto out;
	ch = fc2_mount(*mountpoint, &args);
	if (!ch)
		goto out;
	f = new2(ch, &args, op, op_size, user_data, compat);
	if (!f) {
		fc2_unmount(*mountpoint, ch);
		goto out;
	}
	((struct fc2 *)f->v2)->ch = ch;
	fuse_daemonize(foreground);
	fuse_set_signal_handlers(fuse_get_session(f));
out:
	fuse_opt_free_args(&args);
	if (!f && mountpoint) {
		free(*mountpoint);
		*mountpoint = NULL;
	}
	return f;
}

struct fuse *fc2_setup(int argc, char *argv[], const struct fuse2_operations *op,
		       size_t op_size, char **mountpoint, int *multithreaded, void *user_data);
FC_EXPORT struct fuse *fc2_setup(int argc, char *argv[], const struct fuse2_operations *op,
				 size_t op_size, char **mountpoint, int *multithreaded,
				 void *user_data)
{
	return setup2(argc, argv, op, op_size, mountpoint, multithreaded, user_data, 0);
}
__asm__(".symver fc2_setup, fuse_setup@@FUSE_2.6");

void fc2_teardown(struct fuse *f, char *mountpoint);
FC_EXPORT void fc2_teardown(struct fuse *f, char *mountpoint)
{
	struct fc2 *v2 = f->v2;

	fuse_remove_signal_handlers(fuse_get_session(f));
	fc2_unmount(mountpoint, v2->ch);
	v2->ch = NULL;
	fuse_destroy(f);
	free(mountpoint);
}
__asm__(".symver fc2_teardown, fuse_teardown@@FUSE_2.6");

static int main2(int argc, char *argv[], const void *op, size_t op_size, void *user_data,
		 int compat)
{
	char *mountpoint;
	int multithreaded, r;
	struct fuse *f = setup2(argc, argv, op, op_size, &mountpoint, &multithreaded,
				user_data, compat);

	if (!f)
		return 1;
	r = fc_loop(f, !multithreaded);
	fc2_teardown(f, mountpoint);
	return r == -1 ? 1 : 0;
}

int fc2_main_real(int argc, char *argv[], const struct fuse2_operations *op, size_t op_size,
		  void *user_data);
FC_EXPORT int fc2_main_real(int argc, char *argv[], const struct fuse2_operations *op,
			    size_t op_size, void *user_data)
{
	return main2(argc, argv, op, op_size, user_data, 0);
}
__asm__(".symver fc2_main_real, fuse_main_real@@FUSE_2.6");

/*
 * The entry points of the older tables (fuse2.h: FUSE_USE_VERSION 22 and
 * 25), as libfuse 2.9 still serves them: fuseiso is built with 22, afuse
 * and convmvfs with 25.  The descriptor of fuse_setup's older forms is one
 * to set flags on, as fuse_chan_fd's.
 */
FC_EXPORT int fuse_main_real_compat25(int argc, char *argv[], const void *op, size_t op_size)
{
	return main2(argc, argv, op, op_size, NULL, 25);
}

FC_EXPORT int fuse_main_real_compat22(int argc, char *argv[], const void *op, size_t op_size)
{
	return main2(argc, argv, op, op_size, NULL, 22);
}

static struct fuse *setup_fd(int argc, char *argv[], const void *op, size_t op_size,
			     char **mountpoint, int *multithreaded, int *fd, int compat)
{
	struct fuse *f = setup2(argc, argv, op, op_size, mountpoint, multithreaded, NULL,
				compat);

	if (f && fd)
		*fd = fuse_chan_fd(((struct fc2 *)f->v2)->ch);
	return f;
}

FC_EXPORT struct fuse *fuse_setup_compat25(int argc, char *argv[], const void *op,
					   size_t op_size, char **mountpoint, int *multithreaded,
					   int *fd)
{
	return setup_fd(argc, argv, op, op_size, mountpoint, multithreaded, fd, 25);
}

FC_EXPORT struct fuse *fuse_setup_compat22(int argc, char *argv[], const void *op,
					   size_t op_size, char **mountpoint, int *multithreaded,
					   int *fd)
{
	return setup_fd(argc, argv, op, op_size, mountpoint, multithreaded, fd, 22);
}

FC_EXPORT void fuse_teardown_compat22(struct fuse *f, int fd, char *mountpoint)
{
	(void)fd;	/* the channel's, closed with it */
	fc2_teardown(f, mountpoint);
}

int fc2_loop_mt(struct fuse *f);
FC_EXPORT int fc2_loop_mt(struct fuse *f)
{
	return fc_loop(f, 0);
}
__asm__(".symver fc2_loop_mt, fuse_loop_mt@@FUSE_2.2");

FC_EXPORT int fuse_exited(struct fuse *f)
{
	return f->exited;
}

/* Nothing is cached in process. */
FC_EXPORT int fuse_invalidate(struct fuse *f, const char *path)
{
	(void)f;
	(void)path;
	return 0;
}

FC_EXPORT int fuse_is_lib_option(const char *opt)
{
	return fc_is_lib_option(opt);
}

int fc2_version(void);
FC_EXPORT int fc2_version(void)
{
	return 29;
}
__asm__(".symver fc2_version, fuse_version@@FUSE_2.7");
