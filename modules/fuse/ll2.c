/*
 * libfuse 2's low-level API, in the libfuse.so.2 stand-in: httpfs2 and
 * vmfs-fuse are built on it.  A 2.x fuse_lowlevel_ops (fuse2.h) is served
 * by the shared core's low level (ll.c) through a 3.x table of
 * translators: the members are in the same places, and differ in 2.x's
 * fuse_file_info (lent to each call in 2.x's layout), 2.x's
 * fuse_conn_info for init, and rename without flags.  The replies are the
 * core's (fuse_reply_open and _create read 2.x's layout: fc_reply_fi);
 * the session takes its mount point from fuse_mount's channel
 * (fuse_session_add_chan), and runs as 3.x's does.
 */
#include "fc.h"
#include "fuse2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What a 2.x session keeps besides the core's (se->v2). */
struct ll2 {
	struct fuse2_lowlevel_ops op;
	struct fuse_conn_info_opts *conn_opts;	/* max_write=, atomic_o_trunc... */
};

static void free_ll2(void *p)
{
	struct ll2 *v = p;

	free(v->conn_opts);
	free(v);
}

static const struct fuse2_lowlevel_ops *op2(fuse_req_t req)
{
	return &((struct ll2 *)fc_req_session(req)->v2)->op;
}

/* A call with a file, lent as 2.x's (NULL stays NULL); what the call may
   have set is given back to the core's after. */
#define WITH_FI2(fi, call)						\
	do {								\
		struct fuse2_file_info f2_, *fp_ = NULL;		\
		if (fi) {						\
			fc2_fi_to2(fi, &f2_);				\
			fp_ = &f2_;					\
		}							\
		call;							\
		if (fi)							\
			fc2_fi_from2_all(&f2_, fi);			\
	} while (0)

/* init: libfuse 2's defaults (no atomic_o_trunc unless asked), the
   options given (2.x's low level took max_write=, async_read... itself),
   then the file system's init with 2.x's fuse_conn_info. */
static void t_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fuse_session *se = fc_starting && fc_starting->se ? fc_starting->se : NULL;
	struct ll2 *v = se ? se->v2 : NULL;
	struct fuse2_conn_info c2;

	if (!v)
		return;
	fc2_conn_prepare(conn, v->conn_opts);
	if (!v->op.init)
		return;
	fc2_conn_to2(conn, &c2);
	v->op.init(userdata, &c2);
	fc2_conn_from2(&c2, conn);
}

static void t_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->getattr(req, ino, fp_));
}

static void t_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		      struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->setattr(req, ino, attr, to_set, fp_));
}

/* 2.x has no rename flags: what RENAME_NOREPLACE or _EXCHANGE asks it
   cannot do, as the kernel answers a file system without them. */
static void t_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		     const char *newname, unsigned int flags)
{
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	op2(req)->rename(req, parent, name, newparent, newname);
}

#define T_FI(m)								\
	static void t_##m(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) \
	{								\
		WITH_FI2(fi, op2(req)->m(req, ino, fp_));		\
	}
T_FI(open)
T_FI(flush)
T_FI(release)
T_FI(opendir)
T_FI(releasedir)
#undef T_FI

static void t_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->read(req, ino, size, off, fp_));
}

static void t_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->readdir(req, ino, size, off, fp_));
}

static void t_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->write(req, ino, buf, size, off, fp_));
}

static void t_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->write_buf(req, ino, bufv, off, fp_));
}

static void t_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->fsync(req, ino, datasync, fp_));
}

static void t_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->fsyncdir(req, ino, datasync, fp_));
}

static void t_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->create(req, parent, name, mode, fp_));
}

static void t_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct flock *lock)
{
	WITH_FI2(fi, op2(req)->getlk(req, ino, fp_, lock));
}

static void t_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct flock *lock, int sleep)
{
	WITH_FI2(fi, op2(req)->setlk(req, ino, fp_, lock, sleep));
}

static void t_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	WITH_FI2(fi, op2(req)->flock(req, ino, fp_, op));
}

static void t_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			struct fuse_file_info *fi)
{
	WITH_FI2(fi, op2(req)->fallocate(req, ino, mode, offset, length, fp_));
}

static void t_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		    struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		    size_t out_bufsz)
{
	WITH_FI2(fi, op2(req)->ioctl(req, ino, (int)cmd, arg, fp_, flags, in_buf, in_bufsz,
				     out_bufsz));
}

/* The 3.x table for o: a member only where o has the operation (the core
   answers a missing one as libfuse does); those without a file are o's. */
static void ops3(const struct fuse2_lowlevel_ops *o, struct fuse_lowlevel_ops *op)
{
	memset(op, 0, sizeof(*op));
	op->destroy = o->destroy;
	op->lookup = o->lookup;
	op->forget = o->forget;
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
	op->access = o->access;
	op->bmap = o->bmap;
	op->forget_multi = o->forget_multi;
#define T(m) op->m = o->m ? t_##m : NULL
	op->init = t_init;	/* 2.x's conn and its option defaults, always */
	T(getattr);
	T(setattr);
	T(rename);
	T(open);
	T(read);
	T(write);
	T(flush);
	T(release);
	T(fsync);
	T(opendir);
	T(readdir);
	T(releasedir);
	T(fsyncdir);
	T(create);
	T(getlk);
	T(setlk);
	T(write_buf);
	T(flock);
	T(fallocate);
	T(ioctl);
#undef T
}

/* Options of 2.x that 3.x has no more: big_writes (always), large_read
   (a 2.4 kernel's mount option). */
static const struct fuse_opt v2_spec[] = {
	FUSE_OPT_KEY("big_writes", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("large_read", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

FC_EXPORT struct fuse_session *fuse_lowlevel_new(struct fuse_args *args,
						 const struct fuse2_lowlevel_ops *op,
						 size_t op_size, void *userdata)
{
	struct ll2 *v = calloc(1, sizeof(*v));
	struct fuse_lowlevel_ops o3;
	struct fuse_session *se;

	if (!v)
		return NULL;
	if (op_size > sizeof(v->op)) {
		fuse_log(FUSE_LOG_ERR, "fuse: warning: library too old, some operations may "
			 "not work\n");
		op_size = sizeof(v->op);
	}
	memcpy(&v->op, op, op_size);
	if (fuse_opt_parse(args, NULL, v2_spec, NULL) == -1 ||
	    !(v->conn_opts = fuse_parse_conn_info_opts(args))) {
		free(v);
		return NULL;
	}
	ops3(&v->op, &o3);
	se = fuse_session_new(args, &o3, sizeof(o3), userdata);
	if (!se) {
		free_ll2(v);
		return NULL;
	}
	se->v2 = v;
	se->free_v2 = free_ll2;
	return se;
}

/* fuse_mount's channel: where the session is mounted. */
FC_EXPORT void fuse_session_add_chan(struct fuse_session *se, struct fuse_chan *ch)
{
	if (ch)
		fuse_session_mount(se, fc2_chan_mountpoint(ch));
}

FC_EXPORT void fuse_session_remove_chan(struct fuse_chan *ch)
{
	(void)ch;	/* fuse_unmount frees it */
}

int fc2_session_loop_mt(struct fuse_session *se);
FC_EXPORT int fc2_session_loop_mt(struct fuse_session *se)
{
	return fc_session_loop(se, 0);
}
__asm__(".symver fc2_session_loop_mt, fuse_session_loop_mt@@FUSE_2.4");
