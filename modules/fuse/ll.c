/*
 * libfuse's low-level API (fuse_lowlevel.h) in process: DEFUSE's calls by
 * path served by a file system of inodes.
 *
 * Requests.  Each call makes a request on its own stack, calls the file
 * system's operation and waits for the reply (fuse_reply_*), which most
 * file systems give before they return; one that replies later, from
 * another thread, is waited for.
 *
 * Names.  FUSE's kernel looks paths up name by name (lookup), and each
 * successful lookup is a reference the file system keeps until the kernel
 * forgets it (forget, with the count).  Here a path is walked from the
 * root (FUSE_ROOT_ID) the same way.  A directory's name whose entry may
 * be cached (entry_timeout > 0) is kept in the name cache (names.c),
 * holding its one reference until it expires or changes, in this process
 * or in any other serving the same file system, as the kernel's dentries
 * are kept; other references are forgotten when the call is over.  Files'
 * names are kept only with DEFUSE_FUSE_NAME_CACHE=all: a file system may
 * find a known inode by walking all it holds (passthrough_ll does), so
 * thousands of held files would slow every lookup.  An open file holds a
 * reference of its own (a lookup made for it, or create's, or a pinned
 * cache entry's) until it is released.  DEFUSE_FUSE_NAME_CACHE=0 looks
 * every name up afresh.
 *
 * Everything a file system may ask of the kernel besides (notifications,
 * polls) is answered as done or not needed; CUSE has no meaning in process.
 */
#include "fc.h"

#include <cuse_lowlevel.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef ST_VALID
#define ST_VALID 0x0020
#endif
#define FUSE_SUPER_MAGIC_ 0x65735546
#define DIRBUF 16384		/* bytes per readdir request */

/* ---- requests ------------------------------------------------------------- */

enum { R_NONE = 1, R_ERR, R_ENTRY, R_CREATE, R_ATTR, R_READLINK, R_OPEN, R_WRITE, R_BUF,
       R_STATFS, R_XATTR, R_LOCK, R_BMAP, R_LSEEK, R_POLL, R_IOCTL };

struct fuse_req {
	struct fuse_session *se;
	struct fuse_ctx ctx;
	int creating;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done;
	int kind;
	int err;
	struct fuse_entry_param e;
	struct fuse_file_info fi;
	struct stat attr;
	char *out;		/* where a reply's bytes go (read, readdir, xattrs, link) */
	size_t out_cap, out_len;
	size_t count;
	struct statvfs stv;
	struct flock lock;
	off_t off;
};

static void req_init(struct fuse_req *r, struct fuse_session *se, void *out, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->se = se;
	r->out = out;
	r->out_cap = cap;
	pthread_mutex_init(&r->m, NULL);
	pthread_cond_init(&r->cv, NULL);
}

/* Waits for the reply (given at once, usually) and cleans up. */
static void req_wait(struct fuse_req *r)
{
	if (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&r->m);
		while (!r->done)
			pthread_cond_wait(&r->cv, &r->m);
		pthread_mutex_unlock(&r->m);
	}
	pthread_mutex_destroy(&r->m);
	pthread_cond_destroy(&r->cv);
}

static int finish(fuse_req_t r, int kind)
{
	r->kind = kind;
	pthread_mutex_lock(&r->m);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->m);
	return 0;
}

FC_EXPORT int fuse_reply_err(fuse_req_t req, int err)
{
	req->err = -abs(err);
	return finish(req, R_ERR);
}

FC_EXPORT void fuse_reply_none(fuse_req_t req)
{
	finish(req, R_NONE);
}

FC_EXPORT int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	req->e = *e;
	return finish(req, R_ENTRY);
}

FC_EXPORT int fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
				const struct fuse_file_info *fi)
{
	req->e = *e;
	fc_reply_fi(fi, &req->fi);
	return finish(req, R_CREATE);
}

FC_EXPORT int fuse_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout)
{
	(void)attr_timeout;
	req->attr = *attr;
	return finish(req, R_ATTR);
}

/* Copies n bytes into the request's buffer, as far as it has room. */
static void put(fuse_req_t req, const void *p, size_t n)
{
	size_t room = req->out_cap > req->out_len ? req->out_cap - req->out_len : 0;

	if (n > room)
		n = room;
	if (n && req->out)
		memcpy(req->out + req->out_len, p, n);
	req->out_len += n;
}

FC_EXPORT int fuse_reply_readlink(fuse_req_t req, const char *link)
{
	put(req, link, strlen(link));
	return finish(req, R_READLINK);
}

FC_EXPORT int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	fc_reply_fi(fi, &req->fi);
	return finish(req, R_OPEN);
}

FC_EXPORT int fuse_reply_write(fuse_req_t req, size_t count)
{
	req->count = count;
	return finish(req, R_WRITE);
}

FC_EXPORT int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	put(req, buf, size);
	return finish(req, R_BUF);
}

FC_EXPORT int fuse_reply_data(fuse_req_t req, struct fuse_bufvec *bufv,
			      enum fuse_buf_copy_flags flags)
{
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(req->out_cap - req->out_len);
	ssize_t n;

	dst.buf[0].mem = req->out + req->out_len;
	n = fuse_buf_copy(&dst, bufv, flags);
	if (n < 0) {
		req->err = n;
		return finish(req, R_ERR);
	}
	req->out_len += n;
	return finish(req, R_BUF);
}

FC_EXPORT int fuse_reply_iov(fuse_req_t req, const struct iovec *iov, int count)
{
	for (int i = 0; i < count; i++)
		put(req, iov[i].iov_base, iov[i].iov_len);
	return finish(req, R_BUF);
}

FC_EXPORT int fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf)
{
	req->stv = *stbuf;
	return finish(req, R_STATFS);
}

FC_EXPORT int fuse_reply_xattr(fuse_req_t req, size_t count)
{
	req->count = count;
	return finish(req, R_XATTR);
}

FC_EXPORT int fuse_reply_lock(fuse_req_t req, const struct flock *lock)
{
	req->lock = *lock;
	return finish(req, R_LOCK);
}

FC_EXPORT int fuse_reply_bmap(fuse_req_t req, uint64_t idx)
{
	req->off = idx;
	return finish(req, R_BMAP);
}

FC_EXPORT int fuse_reply_lseek(fuse_req_t req, off_t off)
{
	req->off = off;
	return finish(req, R_LSEEK);
}

FC_EXPORT int fuse_reply_poll(fuse_req_t req, unsigned revents)
{
	req->count = revents;
	return finish(req, R_POLL);
}

/* A retry is for unrestricted ioctls (CUSE's): kernel FUSE answers one to
   a file system's ioctl with EIO. */
FC_EXPORT int fuse_reply_ioctl_retry(fuse_req_t req, const struct iovec *in_iov, size_t in_count,
				     const struct iovec *out_iov, size_t out_count)
{
	(void)in_iov;
	(void)in_count;
	(void)out_iov;
	(void)out_count;
	req->err = -EIO;
	return finish(req, R_ERR);
}

FC_EXPORT int fuse_reply_ioctl(fuse_req_t req, int result, const void *buf, size_t size)
{
	put(req, buf, size);
	req->count = result;
	return finish(req, R_IOCTL);
}

FC_EXPORT int fuse_reply_ioctl_iov(fuse_req_t req, int result, const struct iovec *iov, int count)
{
	for (int i = 0; i < count; i++)
		put(req, iov[i].iov_base, iov[i].iov_len);
	req->count = result;
	return finish(req, R_IOCTL);
}

struct fuse_session *fc_req_session(fuse_req_t req)
{
	return req->se;
}

FC_EXPORT void *fuse_req_userdata(fuse_req_t req)
{
	return req->se->userdata;
}

/* The caller is the thread making the call: its identity, read now. */
FC_EXPORT const struct fuse_ctx *fuse_req_ctx(fuse_req_t req)
{
	fc_ctx_ids(&req->ctx.uid, &req->ctx.gid);
	req->ctx.pid = syscall(SYS_gettid);
	req->ctx.umask = req->creating ? fc_current_umask() : 0;
	return &req->ctx;
}

FC_EXPORT int fuse_req_getgroups(fuse_req_t req, int size, gid_t list[])
{
	int n = getgroups(size, list);

	(void)req;
	return n < 0 ? -errno : n;
}

FC_EXPORT void fuse_req_interrupt_func(fuse_req_t req, fuse_interrupt_func_t func, void *data)
{
	(void)req;
	(void)func;
	(void)data;
}

FC_EXPORT int fuse_req_interrupted(fuse_req_t req)
{
	(void)req;
	return 0;
}

/* ---- directory buffers ------------------------------------------------ */

/* One entry of a readdir reply, as fuse_add_direntry lays it out here. */
struct ll_dirent {
	uint64_t ino;
	uint64_t off;
	uint64_t lookup;	/* readdirplus: the inode whose lookup it holds */
	uint32_t namelen;
	uint32_t type;
	char name[];
};

static size_t dirent_size(size_t namelen)
{
	return (offsetof(struct ll_dirent, name) + namelen + 7) & ~(size_t)7;
}

static size_t add_dirent(char *buf, size_t bufsize, const char *name, uint64_t ino,
			 unsigned type, off_t off, uint64_t lookup)
{
	size_t namelen = strlen(name), size = dirent_size(namelen);
	struct ll_dirent *d = (struct ll_dirent *)buf;

	if (!buf || size > bufsize)
		return size;
	d->ino = ino;
	d->off = off;
	d->lookup = lookup;
	d->namelen = namelen;
	d->type = type;
	memcpy(d->name, name, namelen);
	memset(d->name + namelen, 0, size - offsetof(struct ll_dirent, name) - namelen);
	return size;
}

FC_EXPORT size_t fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name,
				   const struct stat *stbuf, off_t off)
{
	(void)req;
	return add_dirent(buf, bufsize, name, stbuf ? stbuf->st_ino : 0,
			  stbuf ? (stbuf->st_mode & S_IFMT) >> 12 : DT_UNKNOWN, off, 0);
}

FC_EXPORT size_t fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize,
					const char *name, const struct fuse_entry_param *e,
					off_t off)
{
	(void)req;
	return add_dirent(buf, bufsize, name, e->attr.st_ino, (e->attr.st_mode & S_IFMT) >> 12,
			  off, e->ino);
}

/* ---- the session ------------------------------------------------------------ */

FC_EXPORT struct fuse_session *fuse_session_new(struct fuse_args *args,
						const struct fuse_lowlevel_ops *op,
						size_t op_size, void *userdata)
{
	struct fuse_session *se;

	if (op_size > sizeof(struct fuse_lowlevel_ops)) {
		fuse_log(FUSE_LOG_ERR, "fuse: warning: library too old, some operations may "
			 "not work\n");
		op_size = sizeof(struct fuse_lowlevel_ops);
	}
	se = calloc(1, sizeof(*se));
	if (!se) {
		fuse_log(FUSE_LOG_ERR, "fuse: failed to allocate fuse object\n");
		return NULL;
	}
	if (fc_parse_mount_opts(args, &se->mo) == -1 || fc_check_no_args(args)) {
		free(se->mo.fsname);
		free(se->mo.subtype);
		free(se);
		return NULL;
	}
	memcpy(&se->op, op, op_size);
	se->userdata = userdata;
	se->inst = fc_starting;
	return se;
}

FC_EXPORT int fuse_session_custom_io(struct fuse_session *se, const struct fuse_custom_io *io,
				     int fd)
{
	(void)se;
	(void)io;
	(void)fd;
	return -EOPNOTSUPP;
}

FC_EXPORT int fuse_session_mount(struct fuse_session *se, const char *mountpoint)
{
	free(se->mountpoint);
	se->mountpoint = strdup(mountpoint ? mountpoint : "");
	return se->mountpoint ? 0 : -1;
}

FC_EXPORT void fuse_session_unmount(struct fuse_session *se)
{
	(void)se;
}

int fc_session_loop(struct fuse_session *se, int single)
{
	struct fc_inst *in = fc_starting;

	if (se->f)
		return se->f->inst ? -EINVAL : fuse_loop(se->f);
	if (!in || in->state != FC_STARTING || in->se || in->f) {
		fuse_log(FUSE_LOG_ERR, "fuse: session loop entered outside the file system's "
			 "start-up: not supported in process\n");
		return -EINVAL;
	}
	in->se = se;
	in->single = single;
	se->inst = in;
	return fc_serve(in);
}

FC_EXPORT int fuse_session_loop(struct fuse_session *se)
{
	return fc_session_loop(se, 1);
}

FC_EXPORT void fuse_session_exit(struct fuse_session *se)
{
	se->exited = 1;
	if (se->f)
		fuse_exit(se->f);
}

FC_EXPORT void fuse_session_reset(struct fuse_session *se)
{
	se->exited = 0;
}

FC_EXPORT int fuse_session_exited(struct fuse_session *se)
{
	return se->exited;
}

FC_EXPORT void fuse_session_destroy(struct fuse_session *se)
{
	struct fc_inst *in = se->inst;

	if (se->f)
		return;		/* the high level's: fuse_destroy frees it */
	if (in && in->se == se && in->initialized)
		fc_ll_destroy(in);
	if (in && in->se == se)
		in->se = NULL;
	fc_session_close_fd(se);
	if (se->free_v2)
		se->free_v2(se->v2);
	free(se->mo.fsname);
	free(se->mo.subtype);
	free(se->mountpoint);
	free(se);
}

/*
 * There is no /dev/fuse channel in process.  A program that only sets
 * flags on the session's descriptor (sshfs sets FD_CLOEXEC, and prints a
 * warning when that fails; archivemount sets it on libfuse 2's
 * fuse_chan_fd without looking whether it got one) gets one it may set
 * them on: /dev/null, opened at the first call and set aside
 * (defuse_keep_fd), closed with the session or channel.  Nothing arrives
 * on it (a read gives end of file, and fuse_session_receive_buf
 * EOPNOTSUPP).  *slot: the descriptor + 1, 0 while there is none.
 */
int fc_null_fd(int *slot)
{
	int fd, none = 0;

	fd = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (fd)
		return fd - 1;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (defuse_keep_fd) {
		int kept = defuse_keep_fd(fd);

		if (kept >= 0)
			fd = kept;
	}
	if (!__atomic_compare_exchange_n(slot, &none, fd + 1, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		if (!(defuse_close_kept && defuse_close_kept(fd) == 0))
			close(fd);	/* another thread's came first */
		return none - 1;
	}
	return fd;
}

void fc_null_fd_close(int *slot)
{
	int fd = *slot - 1;

	if (fd < 0)
		return;
	*slot = 0;
	if (!(defuse_close_kept && defuse_close_kept(fd) == 0))
		close(fd);
}

FC_EXPORT int fuse_session_fd(struct fuse_session *se)
{
	return se ? fc_null_fd(&se->null_fd1) : -1;
}

void fc_session_close_fd(struct fuse_session *se)
{
	if (se)
		fc_null_fd_close(&se->null_fd1);
}

FC_EXPORT void fuse_session_process_buf(struct fuse_session *se, const struct fuse_buf *buf)
{
	(void)se;
	(void)buf;
}

FC_EXPORT int fuse_session_receive_buf(struct fuse_session *se, struct fuse_buf *buf)
{
	(void)se;
	(void)buf;
	return -EOPNOTSUPP;
}

/* ---- names ------------------------------------------------------------------ */

struct fc_ll {
	struct fc_names *names;	/* names kept between calls (names.c) */
};

/* The references a call holds until it is over. */
struct refs {
	fuse_ino_t small[32];
	fuse_ino_t *v;
	size_t n, cap;
};

/* The file system forgets n lookups of ino. */
static void forget(struct fuse_session *se, fuse_ino_t ino, uint64_t n)
{
	struct fuse_req r;

	if (!ino || ino == FUSE_ROOT_ID || !n)
		return;
	if (se->op.forget) {
		req_init(&r, se, NULL, 0);
		se->op.forget(&r, ino, n);
		req_wait(&r);
	} else if (se->op.forget_multi) {
		struct fuse_forget_data d = { ino, n };

		req_init(&r, se, NULL, 0);
		se->op.forget_multi(&r, 1, &d);
		req_wait(&r);
	}
}

/* The name cache's way to give a reference back. */
static void forget_one(void *se, fuse_ino_t ino)
{
	forget(se, ino, 1);
}

static void refs_init(struct refs *rf)
{
	rf->v = rf->small;
	rf->n = 0;
	rf->cap = sizeof(rf->small) / sizeof(rf->small[0]);
}

static void refs_add(struct refs *rf, fuse_ino_t ino)
{
	if (rf->n == rf->cap) {
		size_t cap = 2 * rf->cap;
		fuse_ino_t *v = malloc(cap * sizeof(*v));

		if (!v)
			return;		/* the reference stays held: a leak, not a fault */
		memcpy(v, rf->v, rf->n * sizeof(*v));
		if (rf->v != rf->small)
			free(rf->v);
		rf->v = v;
		rf->cap = cap;
	}
	rf->v[rf->n++] = ino;
}

static void refs_drop(struct fuse_session *se, struct refs *rf)
{
	for (size_t i = rf->n; i-- > 0;)
		forget(se, rf->v[i], 1);
	if (rf->v != rf->small)
		free(rf->v);
	refs_init(rf);
}

/* A call here changed name path: every process's cache entry for it goes. */
static void name_changed(struct fuse_session *se, const char *path)
{
	struct fc_names *c = se->inst->ll->names;

	if (c)
		fc_names_changed(c, path, forget_one, se);
}

/* Read before a call that makes a name (took_entry's snap). */
static struct fc_name_snap name_snap(struct fuse_session *se)
{
	struct fc_names *c = se->inst->ll->names;

	return c ? fc_names_snap(c) : (struct fc_name_snap){ 0, 0 };
}

static void cache_clear(struct fuse_session *se)
{
	if (se->inst && se->inst->ll)
		fc_names_clear(se->inst->ll->names, forget_one, se);
}

/* lookup(parent, name): 0 with *e (a reference the caller now holds) or -errno. */
static int do_lookup(struct fuse_session *se, fuse_ino_t parent, const char *name,
		     struct fuse_entry_param *e)
{
	struct fuse_req r;

	if (!se->op.lookup)
		return -ENOSYS;
	req_init(&r, se, NULL, 0);
	se->op.lookup(&r, parent, name);
	req_wait(&r);
	if (r.kind != R_ENTRY)
		return r.kind == R_ERR && r.err ? r.err : -EIO;
	*e = r.e;
	return e->ino ? 0 : -ENOENT;	/* ino 0: a negative entry */
}

/*
 * The inode of path.  Every component comes from the cache or a lookup
 * whose reference goes to the cache or to rf.  *fresh: *e holds the
 * attributes of a lookup of the last component made now.  *seq (may be
 * NULL): the number of the cache entry the walk ended at (0: the root), or
 * FC_NAMES_NONE.  Entries are keyed by the path as "/a/b" whatever its spelling
 * ("//a/b/").
 */
static int resolve(struct fuse_session *se, const char *path, struct refs *rf,
		   fuse_ino_t *ino, struct fuse_entry_param *e, int *fresh, uint64_t *seq_out)
{
	struct fc_names *c = se->inst->ll->names;
	fuse_ino_t cur = FUSE_ROOT_ID;
	uint64_t seq = fc_names_keep(c) ? 0 : FC_NAMES_NONE;
	uint32_t h = FC_NAMES_HASH0;
	const char *p = path;
	char key[PATH_MAX];
	size_t klen = 0;
	mode_t type;

	*fresh = 0;
	if (seq != FC_NAMES_NONE)
		fc_names_sync(c, forget_one, se);
	while (*p == '/')
		p++;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		int last = !end || !end[strspn(end, "/")];
		struct fuse_entry_param ent;
		struct fc_name_snap snap = { 0, 0 };
		char name[NAME_MAX + 1];
		int r;

		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, n);
		name[n] = 0;
		if (seq != FC_NAMES_NONE && klen + 1 + n >= sizeof(key))
			seq = FC_NAMES_NONE;	/* (a path past PATH_MAX from a deep cwd) */
		if (seq != FC_NAMES_NONE) {
			key[klen] = '/';
			memcpy(key + klen + 1, p, n);
			h = fc_names_hash(h, key + klen, n + 1);
			klen += n + 1;
		}
		p += n;
		while (*p == '/')
			p++;
		if (seq != FC_NAMES_NONE &&
		    fc_names_get(c, key, klen, h, seq, &cur, &type, &seq, NULL))
			continue;
		if (seq != FC_NAMES_NONE)
			snap = fc_names_snap(c);	/* before the lookup */
		r = do_lookup(se, cur, name, &ent);
		if (r)
			return r;
		cur = ent.ino;
		if (last) {
			*e = ent;
			*fresh = 1;
		}
		if (seq != FC_NAMES_NONE && ent.entry_timeout > 0) {
			seq = fc_names_put(c, key, klen, h, ent.ino, ent.attr.st_mode, snap, seq,
					   ent.entry_timeout, NULL, forget_one, se);
			if (!seq) {
				refs_add(rf, ent.ino);
				seq = FC_NAMES_NONE;
			}
		} else {
			refs_add(rf, ent.ino);
			seq = FC_NAMES_NONE;
		}
	}
	*ino = cur;
	if (seq_out)
		*seq_out = seq;
	return 0;
}

/* A reference on the inode a name led to, held by a call or an open file:
   a pinned cache entry's, or a lookup's own. */
struct lref {
	fuse_ino_t ino;
	struct fc_name *pin;
};

static void lref_drop(struct fuse_session *se, struct lref *ref)
{
	if (ref->pin)
		fc_names_unpin(se->inst->ll->names, ref->pin, forget_one, se);
	else
		forget(se, ref->ino, 1);
	ref->ino = 0;
	ref->pin = NULL;
}

/*
 * The last name of path, in directory parent whose cache entry is pseq
 * (resolve's seq): from the cache, or looked up (then kept in the cache
 * where it may be).  *ref is the caller's to drop; *fresh as resolve's,
 * and when not fresh e->attr.st_mode holds the file type alone.
 * The kernel too keeps the dentry an open file or a call holds, and asks
 * the file system nothing for a name it has.
 */
static int lookup_last(struct fuse_session *se, const char *path, fuse_ino_t parent,
		       uint64_t pseq, const char *name, struct fuse_entry_param *e, int *fresh,
		       struct lref *ref)
{
	struct fc_names *c = se->inst->ll->names;
	struct fc_name_snap snap = { 0, 0 };
	int r;

	*fresh = 0;
	ref->pin = NULL;
	if (pseq != FC_NAMES_NONE &&
	    fc_names_get_path(c, path, pseq, &ref->ino, &e->attr.st_mode, &ref->pin)) {
		e->ino = ref->ino;
		return 0;
	}
	if (pseq != FC_NAMES_NONE)
		snap = fc_names_snap(c);	/* before the lookup */
	r = do_lookup(se, parent, name, e);
	if (r)
		return r;
	*fresh = 1;
	ref->ino = e->ino;
	if (pseq != FC_NAMES_NONE && e->entry_timeout > 0)
		fc_names_put_path(c, path, e->ino, e->attr.st_mode, snap, pseq, e->entry_timeout,
				  &ref->pin, forget_one, se);
	return 0;
}

/* The parent directory of path and its last name. */
static int split(const char *path, char dir[PATH_MAX], const char **name)
{
	const char *slash = strrchr(path, '/');

	if (!slash || !slash[1])
		return -EINVAL;
	snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
	if (!dir[0])
		strcpy(dir, "/");
	*name = slash + 1;
	return strlen(*name) > NAME_MAX ? -ENAMETOOLONG : 0;
}

/* ---- calls ---------------------------------------------------------------- */

static int begin(struct fc_inst *in)
{
	if (!in->se || in->se->exited || in->state != FC_SERVING)
		return -ENOTCONN;
	if (in->single)
		pthread_mutex_lock(&in->serial);
	return 0;
}

static void end(struct fc_inst *in, struct refs *rf)
{
	refs_drop(in->se, rf);
	if (in->single)
		pthread_mutex_unlock(&in->serial);
}

#define BEGIN()						\
	struct fc_inst *in = priv;			\
	struct fuse_session *se;			\
	struct refs rf;					\
	int r_ = begin(in);				\
	if (r_)						\
		return r_;				\
	se = in->se;					\
	refs_init(&rf)

#define RETURN(v) do { typeof(v) v_ = (v); end(in, &rf); return v_; } while (0)

/* A request's outcome: 0 for the kind hoped for, else its error. */
static int outcome(const struct fuse_req *r, int kind)
{
	/* fuse_reply_err(req, 0) is a reply without data: fine where data
	   may be empty (read, readdir, xattrs), not where a struct is due */
	if (r->kind == R_ERR)
		return r->err ? r->err : (kind == R_ERR || kind == R_BUF) ? 0 : -EIO;
	return r->kind == kind ? 0 : -EIO;
}

static int do_getattr(struct fuse_session *se, fuse_ino_t ino, struct fuse_file_info *fi,
		      struct stat *st)
{
	struct fuse_req r;
	int err;

	if (!se->op.getattr)
		return -ENOSYS;
	req_init(&r, se, NULL, 0);
	se->op.getattr(&r, ino, fi);
	req_wait(&r);
	err = outcome(&r, R_ATTR);
	if (!err)
		*st = r.attr;
	return err;
}

static void fix_stat(struct stat *st)
{
	if (!st->st_blksize)
		st->st_blksize = 4096;
}

/* stat of path (the lookup's attributes if it was looked up now). */
static int stat_path(struct fuse_session *se, const char *path, struct refs *rf, struct stat *st,
		     fuse_ino_t *ino_out)
{
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int fresh, r = resolve(se, path, rf, &ino, &e, &fresh, NULL);

	if (r)
		return r;
	if (fresh)
		*st = e.attr;
	else
		r = do_getattr(se, ino, NULL, st);
	if (!r)
		fix_stat(st);
	if (ino_out)
		*ino_out = ino;
	return r;
}

static int ll_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	BEGIN();

	(void)flags;
	memset(st, 0, sizeof(*st));
	RETURN(stat_path(se, path, &rf, st, NULL));
}

static int ll_access(void *priv, const char *path, int mode, int flags)
{
	uid_t ruid, euid, suid, fsuid = -1;
	gid_t rgid, egid, sgid, fsgid = -1;
	struct stat st;
	fuse_ino_t ino;
	int r;
	BEGIN();

	if (!defuse_fs_ids_are_real || !defuse_fs_ids_are_real() || (flags & AT_EACCESS)) {
		getresuid(&ruid, &euid, &suid);
		getresgid(&rgid, &egid, &sgid);
		fsuid = setfsuid(flags & AT_EACCESS ? euid : ruid);
		fsgid = setfsgid(flags & AT_EACCESS ? egid : rgid);
	}
	r = stat_path(se, path, &rf, &st, &ino);
	if (!r && (se->mo.default_permissions || S_ISLNK(st.st_mode))) {
		r = fc_mode_permits(&st, mode, flags & AT_EACCESS ? FC_IDS_EFFECTIVE : FC_IDS_REAL);
	} else if (!r && se->op.access) {
		struct fuse_req q;

		req_init(&q, se, NULL, 0);
		se->op.access(&q, ino, mode);
		req_wait(&q);
		r = outcome(&q, R_ERR);
		if (r == -ENOSYS)
			r = 0;
	}
	if (fsuid != (uid_t)-1) {
		setfsuid(fsuid);
		setfsgid(fsgid);
	}
	RETURN(r);
}

static ssize_t ll_readlink(void *priv, const char *path, char *buf, size_t size)
{
	char link[PATH_MAX + 1];
	struct fuse_req q;
	struct stat st;
	fuse_ino_t ino;
	int r;
	BEGIN();

	r = stat_path(se, path, &rf, &st, &ino);
	if (!r && !S_ISLNK(st.st_mode))
		r = -EINVAL;
	if (!r && !se->op.readlink)
		r = -ENOSYS;
	if (r)
		RETURN((ssize_t)r);
	req_init(&q, se, link, PATH_MAX);
	se->op.readlink(&q, ino);
	req_wait(&q);
	r = outcome(&q, R_READLINK);
	if (r)
		RETURN((ssize_t)r);
	if (q.out_len > size)
		q.out_len = size;
	memcpy(buf, link, q.out_len);
	RETURN((ssize_t)q.out_len);
}

static int ll_statfs(void *priv, const char *path, struct statfs *out)
{
	struct statvfs sv = { .f_bsize = 512, .f_namemax = 255 };
	struct stat st;
	fuse_ino_t ino;
	int r;
	BEGIN();

	r = stat_path(se, path, &rf, &st, &ino);
	if (!r && se->op.statfs) {
		struct fuse_req q;

		req_init(&q, se, NULL, 0);
		se->op.statfs(&q, ino);
		req_wait(&q);
		r = outcome(&q, R_STATFS);
		sv = q.stv;
	}
	if (r)
		RETURN(r);
	memset(out, 0, sizeof(*out));
	out->f_type = FUSE_SUPER_MAGIC_;
	out->f_bsize = sv.f_bsize;
	out->f_frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	out->f_blocks = sv.f_blocks;
	out->f_bfree = sv.f_bfree;
	out->f_bavail = sv.f_bavail;
	out->f_files = sv.f_files;
	out->f_ffree = sv.f_ffree;
	out->f_namelen = sv.f_namemax;
	out->f_flags = ST_VALID;
	RETURN(0);
}

/* ---- names ---------------------------------------------------------------- */

/* The parent's inode and the last name of path, which must not exist;
   *pseq: the parent's cache entry (resolve's seq). */
static int new_name(struct fuse_session *se, const char *path, struct refs *rf,
		    fuse_ino_t *parent, const char **name, uint64_t *pseq)
{
	char dir[PATH_MAX];
	struct fuse_entry_param e;
	int fresh, r = split(path, dir, name);

	if (!r)
		r = resolve(se, dir, rf, parent, &e, &fresh, pseq);
	if (r)
		return r;
	r = do_lookup(se, *parent, *name, &e);
	if (!r) {
		forget(se, e.ino, 1);
		return -EEXIST;
	}
	return r == -ENOENT ? 0 : r;
}

/* After a call that makes path (snap read before it, its parent's
   entry pseq): on success the entry's reference is kept in the cache or
   forgotten; either way the name changed. */
static void took_entry(struct fuse_session *se, const char *path, struct fc_name_snap snap,
		       uint64_t pseq, int err, const struct fuse_entry_param *e)
{
	struct fc_names *c = se->inst->ll->names;

	if (err)
		name_changed(se, path);
	else if (c)
		fc_names_made(c, path, snap, e->ino, e->attr.st_mode, pseq, e->entry_timeout, NULL,
			      forget_one, se);
	else
		forget(se, e->ino, 1);
}

static int make(struct fc_inst *in, struct fuse_session *se, struct refs *rf, const char *path,
		mode_t mode, dev_t dev, const char *target)
{
	const char *name;
	fuse_ino_t parent;
	struct fuse_req q;
	uint64_t pseq;
	struct fc_name_snap snap;
	int r = new_name(se, path, rf, &parent, &name, &pseq);

	(void)in;
	if (r)
		return r;
	if (!(target ? (void *)se->op.symlink : S_ISDIR(mode) ? (void *)se->op.mkdir :
	      (void *)se->op.mknod))
		return -ENOSYS;
	snap = name_snap(se);
	req_init(&q, se, NULL, 0);
	q.creating = !target;
	if (target)
		se->op.symlink(&q, target, parent, name);
	else if (S_ISDIR(mode))
		se->op.mkdir(&q, parent, name, mode & 07777);
	else
		se->op.mknod(&q, parent, name, mode, dev);
	req_wait(&q);
	r = outcome(&q, R_ENTRY);
	took_entry(se, path, snap, pseq, r, &q.e);
	return r;
}

static int ll_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	BEGIN();
	if (S_ISDIR(mode))
		RETURN(-EPERM);		/* the kernel's answer, before any lookup */
	RETURN(make(in, se, &rf, path, mode, dev, NULL));
}

static int ll_mkdir(void *priv, const char *path, mode_t mode)
{
	BEGIN();
	RETURN(make(in, se, &rf, path, S_IFDIR | (mode & 07777), 0, NULL));
}

static int ll_symlink(void *priv, const char *target, const char *path)
{
	BEGIN();
	RETURN(make(in, se, &rf, path, S_IFLNK | 0777, 0, target));
}

static int ll_link(void *priv, const char *from, const char *to)
{
	struct fuse_entry_param e;
	struct stat st;
	fuse_ino_t ino, parent;
	const char *name;
	struct fuse_req q;
	uint64_t pseq;
	struct fc_name_snap snap;
	int r, fresh;
	BEGIN();

	r = resolve(se, from, &rf, &ino, &e, &fresh, NULL);
	if (!r)
		r = fresh ? (st = e.attr, 0) : do_getattr(se, ino, NULL, &st);
	if (!r && S_ISDIR(st.st_mode))
		r = -EPERM;
	if (!r)
		r = new_name(se, to, &rf, &parent, &name, &pseq);
	if (!r && !se->op.link)
		r = -ENOSYS;
	if (r)
		RETURN(r);
	snap = name_snap(se);
	req_init(&q, se, NULL, 0);
	se->op.link(&q, ino, parent, name);
	req_wait(&q);
	r = outcome(&q, R_ENTRY);
	took_entry(se, to, snap, pseq, r, &q.e);
	RETURN(r);
}

/* unlink or rmdir of path, after the kernel's checks of what it is. */
static int remove_name(struct fuse_session *se, struct refs *rf, const char *path, int dir)
{
	char d[PATH_MAX];
	const char *name;
	struct fuse_entry_param e;
	fuse_ino_t parent;
	struct fuse_req q;
	struct lref victim;
	uint64_t pseq;
	int fresh, r = split(path, d, &name);

	if (!r)
		r = resolve(se, d, rf, &parent, &e, &fresh, &pseq);
	/* held until the call ends, as the kernel holds the victim's inode:
	   its number names it, not another inode made meanwhile */
	if (!r)
		r = lookup_last(se, path, parent, pseq, name, &e, &fresh, &victim);
	if (r)
		return r;
	if (dir && !S_ISDIR(e.attr.st_mode))
		r = -ENOTDIR;
	else if (!dir && S_ISDIR(e.attr.st_mode))
		r = -EISDIR;
	else if (!(dir ? se->op.rmdir : se->op.unlink))
		r = -ENOSYS;
	if (!r) {
		req_init(&q, se, NULL, 0);
		(dir ? se->op.rmdir : se->op.unlink)(&q, parent, name);
		req_wait(&q);
		r = outcome(&q, R_ERR);
		name_changed(se, path);
		if (!r)
			fc_files_removed(se->inst, path, e.ino);
	}
	lref_drop(se, &victim);
	return r;
}

static int ll_unlink(void *priv, const char *path)
{
	BEGIN();
	RETURN(remove_name(se, &rf, path, 0));
}

static int ll_rmdir(void *priv, const char *path)
{
	BEGIN();
	RETURN(remove_name(se, &rf, path, 1));
}

static int ll_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	char d1[PATH_MAX], d2[PATH_MAX];
	const char *n1, *n2;
	struct fuse_entry_param e, a, b;
	fuse_ino_t p1, p2;
	struct fuse_req q;
	int fresh, r, rb;
	BEGIN();

	r = split(from, d1, &n1);
	if (!r)
		r = split(to, d2, &n2);
	if (!r)
		r = resolve(se, d1, &rf, &p1, &e, &fresh, NULL);
	if (!r)
		r = resolve(se, d2, &rf, &p2, &e, &fresh, NULL);
	if (!r)
		r = do_lookup(se, p1, n1, &a);
	if (r)
		RETURN(r);
	/* both held until the call ends: equal numbers are then one inode */
	refs_add(&rf, a.ino);
	rb = do_lookup(se, p2, n2, &b);
	if (!rb)
		refs_add(&rf, b.ino);
	if (rb && rb != -ENOENT)
		RETURN(rb);
	if ((flags & RENAME_EXCHANGE) && rb)
		RETURN(rb);
	if (!rb && (flags & RENAME_NOREPLACE))
		RETURN(-EEXIST);
	/* Two names of one inode: the kernel does nothing, and asks no file
	   system (vfs_rename) */
	if (!rb && a.ino == b.ino)
		RETURN(0);
	if (!rb && !(flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(a.attr.st_mode) && !S_ISDIR(b.attr.st_mode))
			RETURN(-ENOTDIR);
		if (!S_ISDIR(a.attr.st_mode) && S_ISDIR(b.attr.st_mode))
			RETURN(-EISDIR);
	}
	if (!se->op.rename)
		RETURN(-ENOSYS);
	req_init(&q, se, NULL, 0);
	se->op.rename(&q, p1, n1, p2, n2, flags);
	req_wait(&q);
	r = outcome(&q, R_ERR);
	if (r == -ENOSYS && flags)
		r = -EINVAL;
	name_changed(se, from);
	name_changed(se, to);
	if (!r && !rb && !(flags & RENAME_EXCHANGE))
		fc_files_removed(in, to, b.ino);	/* replaced */
	if (!r)
		fc_files_renamed(in, from, to, flags & RENAME_EXCHANGE);
	RETURN(r);
}

/* ---- attributes ------------------------------------------------------------ */

static int setattr(struct fuse_session *se, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi)
{
	struct fuse_req q;

	if (!se->op.setattr)
		return -ENOSYS;
	req_init(&q, se, NULL, 0);
	se->op.setattr(&q, ino, attr, to_set, fi);
	req_wait(&q);
	return outcome(&q, R_ATTR);
}

/* The mode the kernel would send with a change of st (fc_kill_setid), set
   first.  Its error is not the change's: a file system that runs as its
   caller (passthrough_ll) may not chmod another's file, and the kernel
   under it takes the bits itself. */
static void kill_setid(struct fuse_session *se, fuse_ino_t ino, const struct stat *st, int why,
		       struct fuse_file_info *fi)
{
	struct stat a = { .st_mode = fc_kill_setid(st, why) };

	if (a.st_mode != (st->st_mode & 07777)) {
		fc_ctx_as_kernel(1);
		setattr(se, ino, &a, FUSE_SET_ATTR_MODE, fi);
		fc_ctx_as_kernel(0);
	}
}

/* One setattr of path (what, a: the attributes to set). */
static int set_path(struct fuse_session *se, struct refs *rf, const char *path, int to_set,
		    struct stat *a, int check)
{
	struct stat st;
	fuse_ino_t ino;
	int r = stat_path(se, path, rf, &st, &ino);

	if (!r && check == 1 && S_ISLNK(st.st_mode))
		r = -EOPNOTSUPP;	/* lchmod */
	if (!r && check == 2 && S_ISDIR(st.st_mode))
		r = -EISDIR;
	else if (!r && check == 2 && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (!r && to_set && se->mo.default_permissions)
		r = fc_dp_setattr(&st, to_set, a);
	if (!r && (to_set & FUSE_SET_ATTR_SIZE))
		kill_setid(se, ino, &st, FC_KILL_WRITE, NULL);
	if (!r && to_set)
		r = setattr(se, ino, a, to_set, NULL);
	return r;
}

static int ll_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	struct stat a = { .st_mode = mode };
	int r;
	BEGIN();

	r = set_path(se, &rf, path, FUSE_SET_ATTR_MODE, &a, flags & DEFUSE_NOFOLLOW ? 1 : 0);
	fc_privs_again(in, mode, r);
	RETURN(r);
}

static int chown_set(uid_t uid, gid_t gid, struct stat *a)
{
	a->st_uid = uid;
	a->st_gid = gid;
	return (uid != (uid_t)-1 ? FUSE_SET_ATTR_UID : 0) |
	       (gid != (gid_t)-1 ? FUSE_SET_ATTR_GID : 0);
}

static int ll_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	struct stat a = { 0 }, st;
	int set = chown_set(uid, gid, &a), r;
	fuse_ino_t ino;
	BEGIN();

	(void)flags;
	r = stat_path(se, path, &rf, &st, &ino);
	if (!r && set && se->mo.default_permissions)
		r = fc_dp_setattr(&st, set, &a);
	if (!r)
		kill_setid(se, ino, &st, FC_KILL_CHOWN, NULL);
	if (!r && set)
		r = setattr(se, ino, &a, set, NULL);
	RETURN(r);
}

static int ll_truncate(void *priv, const char *path, off_t size)
{
	struct stat a = { .st_size = size };
	BEGIN();
	RETURN(set_path(se, &rf, path, FUSE_SET_ATTR_SIZE, &a, 2));
}

static int ll_utimens(void *priv, const char *path, const struct timespec times[2], int flags)
{
	struct stat a = { 0 };
	int set = fc_times_to_set(times, &a);
	BEGIN();

	(void)flags;
	RETURN(set_path(se, &rf, path, set, &a, 0));
}

/* ---- extended attributes --------------------------------------------------- */

static int xerr(int r)
{
	return r == -ENOSYS ? -EOPNOTSUPP : r;
}

/* getxattr or listxattr (name NULL): the size, or the bytes into value. */
static ssize_t xget(struct fuse_session *se, struct refs *rf, const char *path, const char *name,
		    void *value, size_t size)
{
	struct fuse_req q;
	struct stat st;
	fuse_ino_t ino;
	int r = stat_path(se, path, rf, &st, &ino);

	if (!r && (name ? !se->op.getxattr : !se->op.listxattr))
		r = -ENOSYS;
	if (r)
		return xerr(r);
	req_init(&q, se, value, size);
	if (name)
		se->op.getxattr(&q, ino, name, size);
	else
		se->op.listxattr(&q, ino, size);
	req_wait(&q);
	if (q.kind == R_XATTR)
		return q.count;
	if (q.kind == R_BUF || (q.kind == R_ERR && !q.err))
		return q.out_len;
	return xerr(outcome(&q, R_BUF));
}

static ssize_t ll_getxattr(void *priv, const char *path, const char *name, void *value,
			   size_t size, int flags)
{
	BEGIN();

	(void)flags;
	RETURN(xget(se, &rf, path, name, value, size));
}

static ssize_t ll_listxattr(void *priv, const char *path, char *list, size_t size, int flags)
{
	BEGIN();

	(void)flags;
	RETURN(xget(se, &rf, path, NULL, list, size));
}

static int ll_setxattr(void *priv, const char *path, const char *name, const void *value,
		       size_t size, int xflags, int flags)
{
	struct fuse_req q;
	struct stat st;
	fuse_ino_t ino;
	int r;
	BEGIN();

	(void)flags;
	r = stat_path(se, path, &rf, &st, &ino);
	if (!r && !se->op.setxattr)
		r = -ENOSYS;
	if (r)
		RETURN(xerr(r));
	req_init(&q, se, NULL, 0);
	se->op.setxattr(&q, ino, name, value, size, xflags);
	req_wait(&q);
	RETURN(xerr(outcome(&q, R_ERR)));
}

static int ll_removexattr(void *priv, const char *path, const char *name, int flags)
{
	struct fuse_req q;
	struct stat st;
	fuse_ino_t ino;
	int r;
	BEGIN();

	(void)flags;
	r = stat_path(se, path, &rf, &st, &ino);
	if (!r && !se->op.removexattr)
		r = -ENOSYS;
	if (r)
		RETURN(xerr(r));
	req_init(&q, se, NULL, 0);
	se->op.removexattr(&q, ino, name);
	req_wait(&q);
	RETURN(xerr(outcome(&q, R_ERR)));
}

/* ---- open files ---------------------------------------------------------- */

static struct fc_file *H(uint64_t fh)
{
	return (struct fc_file *)(uintptr_t)fh;
}

/* A new open file, complete before renames and removals (paths.c) see it. */
static struct fc_file *new_file(struct fc_inst *in, const char *path, fuse_ino_t ino,
				const struct fuse_file_info *fi, int is_dir, int path_only)
{
	struct fc_file *h = calloc(1, sizeof(*h));

	if (!h || !(h->path = strdup(path))) {
		free(h);
		return NULL;
	}
	h->fi = *fi;
	h->ino = ino;
	h->is_dir = is_dir;
	h->is_path_only = path_only;
	h->lock_fd = -1;
	h->inst = in;
	pthread_mutex_lock(&in->files_lock);
	h->next = in->files;
	if (in->files)
		in->files->prev = h;
	in->files = h;
	pthread_mutex_unlock(&in->files_lock);
	return h;
}

static void free_file(struct fc_inst *in, struct fc_file *h)
{
	fc_file_free(in, &in->files, h);
}

/* open or opendir of ino, or create of name in parent. */
static int call_open(struct fuse_session *se, int dir, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_req q;
	void (*op)(fuse_req_t, fuse_ino_t, struct fuse_file_info *) =
		dir ? se->op.opendir : se->op.open;

	if (!op)
		return 0;	/* libfuse: no open is an open that succeeds */
	req_init(&q, se, NULL, 0);
	op(&q, ino, fi);
	req_wait(&q);
	if (q.kind == R_OPEN)
		*fi = q.fi;
	return outcome(&q, R_OPEN);
}

static void call_release(struct fuse_session *se, struct fc_file *h)
{
	struct fuse_req q;
	void (*op)(fuse_req_t, fuse_ino_t, struct fuse_file_info *) =
		h->is_dir ? se->op.releasedir : se->op.release;

	if (!h->is_path_only && op) {
		req_init(&q, se, NULL, 0);
		op(&q, h->ino, FC_FI(h));
		req_wait(&q);
	}
	lref_drop(se, &(struct lref){ h->ino, h->pin });
	h->pin = NULL;
}

static int ll_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out)
{
	struct fuse_file_info fi;
	struct fuse_entry_param e;
	struct fc_file *h;
	struct stat st;
	fuse_ino_t ino, parent;
	char dir[PATH_MAX];
	const char *name = NULL;	/* "/" has none, and is never created */
	struct lref ref = { FUSE_ROOT_ID, NULL };	/* the file's, while open */
	uint64_t pseq = FC_NAMES_NONE;
	int r, fresh = 1, is_dir = 0, path_only = 0, given = flags, trunc;
	int privs_known = 0;	/* st's mode tells the set-ID bits, or mode's */
	BEGIN();

	memset(&fi, 0, sizeof(fi));
	out->kernel_fd = -1;
	flags |= O_CLOEXEC;
	if (!strcmp(path, "/")) {
		r = do_getattr(se, FUSE_ROOT_ID, NULL, &st);
		ino = FUSE_ROOT_ID;
		e.ino = FUSE_ROOT_ID;
	} else {
		r = split(path, dir, &name);
		if (!r)
			r = resolve(se, dir, &rf, &parent, &e, &fresh, &pseq);
		if (r)
			RETURN(r);	/* the directory part: no file to create */
		r = lookup_last(se, path, parent, pseq, name, &e, &fresh, &ref);
		ino = e.ino;
		st = e.attr;
		/* from the cache, the type alone: a FIFO's carrier takes its
		   mode and owner, and so does default_permissions' check
		   (but root's) */
		if (!r && !fresh &&
		    (S_ISFIFO(st.st_mode) || (se->mo.default_permissions && !fc_dp_open_passes()))) {
			r = do_getattr(se, ino, NULL, &st);
			if (r) {
				lref_drop(se, &ref);
				RETURN(r);
			}
			fresh = 1;
		}
	}
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		if (!r)
			lref_drop(se, &ref);
		if ((flags & O_ACCMODE) == O_RDONLY)
			r = -EINVAL;
		else if (!r && !S_ISDIR(st.st_mode))
			r = -ENOTDIR;
		RETURN(r ? r : -EOPNOTSUPP);
	}
	if (r && !(r == -ENOENT && (flags & O_CREAT) && strcmp(path, "/")))
		RETURN(r);
	if (r) {
		/* a new file: create, or mknod and open */
		struct fuse_req q;

		req_init(&q, se, NULL, 0);
		q.creating = 1;
		fi.flags = flags & ~O_NOCTTY;
		r = -ENOSYS;
		if (se->op.create) {
			struct fc_name_snap snap = name_snap(se);

			se->op.create(&q, parent, name, S_IFREG | (mode & 07777), &fi);
			req_wait(&q);
			r = outcome(&q, R_CREATE);
			if (r) {
				name_changed(se, path);
			} else {
				fi = q.fi;
				ino = ref.ino = q.e.ino;
				ref.pin = NULL;
				if (se->inst->ll->names)
					fc_names_made(se->inst->ll->names, path, snap, ino,
						      q.e.attr.st_mode, pseq, q.e.entry_timeout,
						      &ref.pin, forget_one, se);
			}
		}
		if (r == -ENOSYS) {
			r = make(in, se, &rf, path, S_IFREG | (mode & 07777), 0, NULL);
			if (!r)
				r = do_lookup(se, parent, name, &e);
			if (!r) {
				ino = ref.ino = e.ino;
				ref.pin = NULL;
				memset(&fi, 0, sizeof(fi));
				fi.flags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY);
				r = call_open(se, 0, ino, &fi);
				if (r)
					lref_drop(se, &ref);
			}
		}
		if (r)
			RETURN(r);
		st.st_mode = mode;
		privs_known = 1;
	} else {
		privs_known = fresh;
		if ((flags & O_CREAT) && (flags & O_EXCL))
			r = -EEXIST;
		else if (S_ISFIFO(st.st_mode) && !(flags & O_PATH))
			r = (flags & O_DIRECTORY) ? -ENOTDIR : 1;
		else if (flags & O_PATH)
			r = (flags & O_DIRECTORY) && !S_ISDIR(st.st_mode) ? -ENOTDIR : 2;
		else if (S_ISDIR(st.st_mode))
			r = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT)) ?
			    -EISDIR : 3;
		else if (flags & O_DIRECTORY)
			r = -ENOTDIR;
		else if (S_ISLNK(st.st_mode))
			r = -ELOOP;
		else if (S_ISSOCK(st.st_mode))
			r = -ENXIO;
		/* a file or directory the kernel would check first (a FIFO's
		   check is below, O_PATH has none) */
		if ((r == 0 || r == 3) && se->mo.default_permissions) {
			int denied = fc_dp_open(&st, flags);

			if (denied)
				r = denied;
		}
		if (r < 0) {
			lref_drop(se, &ref);
			RETURN(r);
		}
		if (r == 1) {
			/* the kernel's check, then the host's stand-in (fc_dp_open) */
			r = fc_dp_open(&st, given);
			lref_drop(se, &ref);
			RETURN(r ? r : -ENXIO);
		}
		path_only = r == 2;
		is_dir = r == 3 || (path_only && S_ISDIR(st.st_mode));
		r = 0;
		if (!path_only) {
			trunc = (flags & O_TRUNC) && !(in->conn.want & FUSE_CAP_ATOMIC_O_TRUNC) &&
				(flags & O_ACCMODE) != O_RDONLY;
			fi.flags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | (trunc ? O_TRUNC : 0));
			r = call_open(se, is_dir, ino, &fi);
			if (!r && trunc) {
				struct stat a = { .st_size = 0 };

				r = setattr(se, ino, &a, FUSE_SET_ATTR_SIZE, &fi);
			}
			/* a truncating open is a truncation (handle_truncate) */
			if (!r && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY &&
			    !fc_dp_open_passes() &&
			    (privs_known || (privs_known = !do_getattr(se, ino, &fi, &st))))
				kill_setid(se, ino, &st, FC_KILL_WRITE, &fi);
			if (r) {
				lref_drop(se, &ref);
				RETURN(r);
			}
		}
	}
	h = new_file(in, path, ino, &fi, is_dir, path_only);
	if (h) {
		h->pin = ref.pin;
		/* no set-ID bit when opened: none to lose at its first write */
		h->privs_done = privs_known && !(st.st_mode & (S_ISUID | S_ISGID));
	}
	if (!h) {
		struct fc_file tmp = { .fi = fi, .ino = ino, .is_dir = is_dir,
				       .is_path_only = path_only, .pin = ref.pin };

		call_release(se, &tmp);
		RETURN(-ENOMEM);
	}
	out->fh = (uintptr_t)h;
	RETURN(0);
}

static void ll_release(void *priv, uint64_t fh)
{
	struct fc_inst *in = priv;
	struct fc_file *h = H(fh);

	if (!h)
		return;
	if (!begin(in)) {
		struct refs rf;

		refs_init(&rf);
		call_release(in->se, h);
		end(in, &rf);
	}
	free_file(in, h);
}

/* flush, fsync or fsyncdir: ENOSYS is success, as the kernel has it. */
static int ll_flush(void *priv, uint64_t fh)
{
	struct fc_file *h = H(fh);
	struct fuse_file_info fi;
	struct fuse_req q;
	BEGIN();

	if (h->is_dir || h->is_path_only || !se->op.flush)
		RETURN(0);
	fi = h->fi;
	fi.flush = 1;
	fi.lock_owner = (uint64_t)getpid();
	req_init(&q, se, NULL, 0);
	se->op.flush(&q, h->ino, &fi);
	req_wait(&q);
	RETURN(outcome(&q, R_ERR) == -ENOSYS ? 0 : outcome(&q, R_ERR));
}

static int ll_fsync(void *priv, uint64_t fh, int datasync)
{
	struct fc_file *h = H(fh);
	void (*op)(fuse_req_t, fuse_ino_t, int, struct fuse_file_info *);
	struct fuse_req q;
	int r;
	BEGIN();

	if (h->is_path_only)
		RETURN(-EBADF);
	op = h->is_dir ? se->op.fsyncdir : se->op.fsync;
	if (!op)
		RETURN(0);
	req_init(&q, se, NULL, 0);
	op(&q, h->ino, datasync, FC_FI(h));
	req_wait(&q);
	r = outcome(&q, R_ERR);
	RETURN(r == -ENOSYS ? 0 : r);
}

static ssize_t ll_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	struct fc_file *h = H(fh);
	size_t done = 0, max;
	BEGIN();

	if (h->is_dir)
		RETURN((ssize_t)-EISDIR);
	if (!se->op.read)
		RETURN((ssize_t)-ENOSYS);
	max = se->mo.max_read && se->mo.max_read < in->conn.max_read ? se->mo.max_read :
	      in->conn.max_read;
	while (done < size) {
		size_t n = size - done < max ? size - done : max;
		struct fuse_req q;
		int r;

		req_init(&q, se, (char *)buf + done, n);
		se->op.read(&q, h->ino, n, off + done, FC_FI(h));
		req_wait(&q);
		r = outcome(&q, R_BUF);
		if (r)
			RETURN(done ? (ssize_t)done : (ssize_t)r);
		if (q.out_len > n)
			q.out_len = n;
		done += q.out_len;
		if (q.out_len < n)
			break;
	}
	RETURN((ssize_t)done);
}

/* A write or truncation through h: the set-ID bits go first, as the kernel
   takes them (kill_setid), unless the caller is privileged (asked first:
   no getattr then). */
static void handle_kill_setid(struct fuse_session *se, struct fc_file *h)
{
	struct stat st;

	if (!fc_dp_open_passes() && !do_getattr(se, h->ino, FC_ATTR_FI(h), &st))
		kill_setid(se, h->ino, &st, FC_KILL_WRITE, FC_ATTR_FI(h));
}

static ssize_t ll_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	struct fc_file *h = H(fh);
	size_t done = 0, max;
	BEGIN();

	if (!se->op.write && !se->op.write_buf)
		RETURN((ssize_t)-ENOSYS);
	if (!__atomic_load_n(&h->privs_done, __ATOMIC_RELAXED)) {
		handle_kill_setid(se, h);
		__atomic_store_n(&h->privs_done, 1, __ATOMIC_RELAXED);
	}
	max = in->conn.max_write;
	while (done < size) {
		size_t n = size - done < max ? size - done : max;
		struct fuse_req q;
		int r;

		req_init(&q, se, NULL, 0);
		if (se->op.write) {
			se->op.write(&q, h->ino, (const char *)buf + done, n, off + done, FC_FI(h));
		} else {
			struct fuse_bufvec v = FUSE_BUFVEC_INIT(n);

			v.buf[0].mem = (char *)buf + done;
			se->op.write_buf(&q, h->ino, &v, off + done, FC_FI(h));
		}
		req_wait(&q);
		r = outcome(&q, R_WRITE);
		if (r)
			RETURN(done ? (ssize_t)done : (ssize_t)r);
		if (q.count > n)
			RETURN(done ? (ssize_t)done : (ssize_t)-EIO);
		done += q.count;
		if (q.count < n)
			break;
	}
	RETURN((ssize_t)done);
}

/* Where h is now (paths.c). */
static int ll_fh_path(void *priv, uint64_t fh, char *buf, size_t size)
{
	return fc_file_path(priv, H(fh), buf, size);
}

static int ll_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	struct fc_file *h = H(fh);
	int r;
	BEGIN();

	memset(st, 0, sizeof(*st));
	r = do_getattr(se, h->ino, FC_ATTR_FI(h), st);
	if (!r)
		fix_stat(st);
	RETURN(r);
}

static int ll_ftruncate(void *priv, uint64_t fh, off_t size)
{
	struct stat a = { .st_size = size };
	BEGIN();

	handle_kill_setid(se, H(fh));
	RETURN(setattr(se, H(fh)->ino, &a, FUSE_SET_ATTR_SIZE, FC_ATTR_FI(H(fh))));
}

static int ll_fchmod(void *priv, uint64_t fh, mode_t mode)
{
	struct stat a = { .st_mode = mode };
	int r;
	BEGIN();

	r = setattr(se, H(fh)->ino, &a, FUSE_SET_ATTR_MODE, FC_ATTR_FI(H(fh)));
	fc_privs_again(in, mode, r);
	RETURN(r);
}

static int ll_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid)
{
	struct stat a = { 0 }, st;
	int set = chown_set(uid, gid, &a);
	BEGIN();

	if (!do_getattr(se, H(fh)->ino, FC_ATTR_FI(H(fh)), &st))
		kill_setid(se, H(fh)->ino, &st, FC_KILL_CHOWN, FC_ATTR_FI(H(fh)));
	if (!set)
		RETURN(0);
	RETURN(setattr(se, H(fh)->ino, &a, set, FC_ATTR_FI(H(fh))));
}

static int ll_futimens(void *priv, uint64_t fh, const struct timespec times[2])
{
	struct stat a = { 0 };
	int set = fc_times_to_set(times, &a);
	BEGIN();

	if (!set)
		RETURN(0);
	RETURN(setattr(se, H(fh)->ino, &a, set, FC_ATTR_FI(H(fh))));
}

static int ll_fallocate(void *priv, uint64_t fh, int mode, off_t off, off_t len)
{
	struct fc_file *h = H(fh);
	struct fuse_req q;
	int r;
	BEGIN();

	if (!se->op.fallocate)
		RETURN(-EOPNOTSUPP);
	req_init(&q, se, NULL, 0);
	se->op.fallocate(&q, h->ino, mode, off, len, FC_FI(h));
	req_wait(&q);
	r = outcome(&q, R_ERR);
	RETURN(r == -ENOSYS ? -EOPNOTSUPP : r);
}

/* As kernel FUSE's restricted ioctl: in_buf the argument's bytes the
   program gives, out_bufsz those it gets back (the reply's, into data). */
static long ll_ioctl(void *priv, uint64_t fh, unsigned int cmd, unsigned long arg, void *data,
		     size_t size)
{
	struct fc_file *h = H(fh);
	struct fuse_req q;
	uint8_t in_buf[1 << _IOC_SIZEBITS];
	size_t in_size = (_IOC_DIR(cmd) & _IOC_WRITE) ? size : 0;
	size_t out_size = (_IOC_DIR(cmd) & _IOC_READ) ? size : 0;
	int r;
	BEGIN();

	if (!se->op.ioctl)
		RETURN(-ENOTTY);
	memcpy(in_buf, data, in_size);
	req_init(&q, se, data, out_size);
	se->op.ioctl(&q, h->ino, cmd, (void *)arg, FC_FI(h), h->is_dir ? FUSE_IOCTL_DIR : 0,
		     in_size ? in_buf : NULL, in_size, out_size);
	req_wait(&q);
	r = outcome(&q, R_IOCTL);
	if (r == -ENOSYS)
		RETURN(-ENOTTY);
	RETURN(r < 0 ? (long)r : (long)q.count);
}

static off_t ll_seek_data(void *priv, uint64_t fh, off_t off, int whence)
{
	struct fc_file *h = H(fh);
	struct stat st;
	int r = -ENOSYS;
	BEGIN();

	if (se->op.lseek) {
		struct fuse_req q;

		req_init(&q, se, NULL, 0);
		se->op.lseek(&q, h->ino, off, whence, FC_FI(h));
		req_wait(&q);
		r = outcome(&q, R_LSEEK);
		if (!r)
			RETURN(q.off);
		if (r != -ENOSYS)
			RETURN((off_t)r);
	}
	r = do_getattr(se, h->ino, FC_ATTR_FI(h), &st);
	if (r)
		RETURN((off_t)r);
	if (off >= st.st_size)
		RETURN((off_t)-ENXIO);
	RETURN(whence == SEEK_DATA ? off : st.st_size);
}

/* ---- directories ---------------------------------------------------------- */

/* Entries of a readdir reply (readdirplus: each holds a lookup to forget). */
static int ll_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	struct fc_file *h = H(fh);
	char *buf;
	int plus, r = 0, full = 0;
	BEGIN();

	if (!h->is_dir)
		RETURN(-ENOTDIR);
	plus = !se->op.readdir;
	if (plus && !se->op.readdirplus)
		RETURN(-ENOSYS);
	if (!pos) {
		/* the kernel refuses to list a removed directory (ENOENT)
		   before asking the file system */
		struct stat st;

		if (!do_getattr(se, h->ino, NULL, &st) && st.st_nlink == 0)
			RETURN(-ENOENT);
	}
	buf = malloc(DIRBUF);
	if (!buf)
		RETURN(-ENOMEM);
	while (!full) {
		struct fuse_req q;
		size_t at = 0;

		req_init(&q, se, buf, DIRBUF);
		(plus ? se->op.readdirplus : se->op.readdir)(&q, h->ino, DIRBUF, pos, FC_FI(h));
		req_wait(&q);
		r = outcome(&q, R_BUF);
		if (r || !q.out_len)
			break;
		while (at + offsetof(struct ll_dirent, name) <= q.out_len) {
			struct ll_dirent *d = (struct ll_dirent *)(buf + at);
			char name[NAME_MAX + 1];
			size_t n = d->namelen > NAME_MAX ? NAME_MAX : d->namelen;

			if (at + dirent_size(d->namelen) > q.out_len)
				break;
			memcpy(name, d->name, n);
			name[n] = 0;
			at += dirent_size(d->namelen);
			if (d->lookup)
				forget(se, d->lookup, 1);
			if (full)
				continue;
			if (fill(ctx, name, d->ino, d->type, d->off)) {
				full = 1;
				continue;
			}
			pos = d->off;
		}
	}
	free(buf);
	RETURN(r);
}

/* ---- locks ----------------------------------------------------------------- */

/* The number local locks' carriers are named by (lock.c): the file
   system's st_ino, else the node's; none needed once h has its carrier
   open (0). */
static uint64_t lock_key(struct fuse_session *se, struct fc_file *h)
{
	struct stat st = { 0 };

	if (h->lock_fd >= 0)
		return 0;
	do_getattr(se, h->ino, FC_ATTR_FI(h), &st);
	return st.st_ino ? st.st_ino : h->ino;
}

static int ll_getlk(void *priv, uint64_t fh, uint64_t owner, struct flock *lock)
{
	struct fc_file *h = H(fh);
	struct fuse_file_info fi;
	struct fuse_req q;
	int r;
	BEGIN();

	if (!(in->conn.want & FUSE_CAP_POSIX_LOCKS) || h->is_dir)
		RETURN(fc_local_getlk(in, h, lock_key(se, h), lock));
	fi = h->fi;
	fi.lock_owner = owner;
	req_init(&q, se, NULL, 0);
	se->op.getlk(&q, h->ino, &fi, lock);
	req_wait(&q);
	r = outcome(&q, R_LOCK);
	if (!r)
		*lock = q.lock;
	RETURN(r);
}

static int ll_setlk(void *priv, uint64_t fh, uint64_t owner, const struct flock *lock, int wait)
{
	struct fc_file *h = H(fh);
	struct flock l = *lock;
	struct fuse_file_info fi;
	struct fuse_req q;
	BEGIN();

	if (!(in->conn.want & FUSE_CAP_POSIX_LOCKS) || h->is_dir) {
		uint64_t key = lock_key(se, h);

		end(in, &rf);	/* a wait holds none of the module's locks */
		return fc_local_setlk(in, h, key, lock, wait);
	}
	fi = h->fi;
	fi.lock_owner = owner;
	req_init(&q, se, NULL, 0);
	/* in process asked without waiting: module.c waits (lock_pause) */
	se->op.setlk(&q, h->ino, &fi, &l, wait && !defuse_waiting);
	req_wait(&q);
	RETURN(outcome(&q, R_ERR));
}

static int ll_flock(void *priv, uint64_t fh, uint64_t owner, int op)
{
	struct fc_file *h = H(fh);
	struct fuse_file_info fi;
	struct fuse_req q;
	BEGIN();

	if (!(in->conn.want & FUSE_CAP_FLOCK_LOCKS) || h->is_dir) {
		uint64_t key = lock_key(se, h);

		end(in, &rf);	/* a wait holds none of the module's locks */
		return fc_local_flock(in, h, key, op);
	}
	fi = h->fi;
	fi.lock_owner = owner;
	req_init(&q, se, NULL, 0);
	se->op.flock(&q, h->ino, &fi, defuse_waiting ? op | LOCK_NB : op);
	req_wait(&q);
	RETURN(outcome(&q, R_ERR));
}

/* ---- life ------------------------------------------------------------------ */

int fc_ll_init(struct fc_inst *in)
{
	struct fuse_session *se = in->se;
	struct fuse_conn_info *c = &in->conn;
	const char *want;
	unsigned extra;

	in->ll = calloc(1, sizeof(*in->ll));
	if (!in->ll) {
		fc_why(in, "%s: out of memory", in->name);
		return -1;
	}
	/* DEFUSE_FUSE_NAME_CACHE: "0" none, "all" files' names too, "1" even
	   where other processes' changes cannot be seen (no lock directory);
	   else directories' names, where they can be */
	want = fc_setting("DEFUSE_FUSE_NAME_CACHE");
	if (!want)
		want = "";
	in->ll->names = fc_names_new(in->lock_dir, in->key,
				     !strcmp(want, "0") ? 0 : !strcmp(want, "1") ? 1 : -1,
				     !strcmp(want, "all") || !strcmp(want, "1"));
	if (!in->ll->names) {
		free(in->ll);
		in->ll = NULL;
		fc_why(in, "%s: out of memory", in->name);
		return -1;
	}
	fc_conn_defaults(c);
	/* as libfuse's low level: lock capabilities for the operations there */
	if (!se->op.getlk || !se->op.setlk)
		c->want &= ~FUSE_CAP_POSIX_LOCKS;
	if (!se->op.flock)
		c->want &= ~FUSE_CAP_FLOCK_LOCKS;
	if (se->mo.max_read && se->mo.max_read < c->max_read)
		c->max_read = se->mo.max_read;
	if (se->op.init)
		se->op.init(se->userdata, c);
	in->initialized = 1;
	if (se->exited) {
		fc_why(in, "%s: its init ended the session (fuse_session_exit)", in->name);
		return -1;
	}
	extra = c->want & ~c->capable;
	if (extra) {
		fc_why(in, "%s: its init asked for FUSE capabilities 0x%x, which are not "
		       "offered in process", in->name, extra);
		return -1;
	}
	if (!c->max_write || c->max_write > FC_MAX_IO)
		c->max_write = FC_MAX_IO;
	if (!c->max_read || c->max_read > FC_MAX_IO)
		c->max_read = FC_MAX_IO;
	if (se->mo.ro)
		in->defuse_want |= DEFUSE_CAP_READONLY;
	/* the kernel's checks of the path's directories: the host's */
	if (se->mo.default_permissions)
		in->defuse_want |= DEFUSE_CAP_PERMISSIONS;
	return 0;
}

/* The session ends (fuse_session_destroy after the loop): open files are
   released and names forgotten, as at an unmount, then destroy. */
void fc_ll_destroy(struct fc_inst *in)
{
	struct fuse_session *se = in->se;

	while (in->files) {
		struct fc_file *h = in->files;

		call_release(se, h);
		free_file(in, h);
	}
	fc_names_free(in->ll->names, forget_one, se);
	in->ll->names = NULL;
	if (se->op.destroy)
		se->op.destroy(se->userdata);
	in->initialized = 0;
	free(in->ll);
	in->ll = NULL;
}

static void ll_after_fork_child(void *priv)
{
	struct fc_inst *in = priv;

	pthread_mutex_init(&in->serial, NULL);
	pthread_mutex_init(&in->files_lock, NULL);
	if (in->ll)
		fc_names_after_fork_child(in->ll->names);
}

const struct defuse_ops fc_ll_ops = {
	.destroy = fc_stop,
	.after_fork_child = ll_after_fork_child,
	.getattr = ll_getattr,
	.access = ll_access,
	.readlink = ll_readlink,
	.statfs = ll_statfs,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.symlink = ll_symlink,
	.rename = ll_rename,
	.link = ll_link,
	.chmod = ll_chmod,
	.chown = ll_chown,
	.truncate = ll_truncate,
	.utimens = ll_utimens,
	.getxattr = ll_getxattr,
	.setxattr = ll_setxattr,
	.listxattr = ll_listxattr,
	.removexattr = ll_removexattr,
	.open = ll_open,
	.release = ll_release,
	.flush = ll_flush,
	.read = ll_read,
	.write = ll_write,
	.fgetattr = ll_fgetattr,
	.ftruncate = ll_ftruncate,
	.fchmod = ll_fchmod,
	.fchown = ll_fchown,
	.futimens = ll_futimens,
	.fsync = ll_fsync,
	.fallocate = ll_fallocate,
	.seek_data = ll_seek_data,
	.readdir = ll_readdir,
	.getlk = ll_getlk,
	.setlk = ll_setlk,
	.flock = ll_flock,
	.fh_path = ll_fh_path,
	.ioctl = ll_ioctl,
};

/* ---- notifications: the name cache forgets; there is no other cache ------ */

FC_EXPORT int fuse_lowlevel_notify_poll(struct fuse_pollhandle *ph)
{
	(void)ph;
	return 0;
}

FC_EXPORT int fuse_lowlevel_notify_inval_inode(struct fuse_session *se, fuse_ino_t ino,
					       off_t off, off_t len)
{
	(void)se;
	(void)ino;
	(void)off;
	(void)len;
	return 0;
}

FC_EXPORT int fuse_lowlevel_notify_inval_entry(struct fuse_session *se, fuse_ino_t parent,
					       const char *name, size_t namelen)
{
	(void)parent;
	(void)name;
	(void)namelen;
	cache_clear(se);
	return 0;
}

FC_EXPORT int fuse_lowlevel_notify_expire_entry(struct fuse_session *se, fuse_ino_t parent,
						const char *name, size_t namelen,
						enum fuse_expire_flags flags)
{
	(void)flags;
	return fuse_lowlevel_notify_inval_entry(se, parent, name, namelen);
}

FC_EXPORT int fuse_lowlevel_notify_delete(struct fuse_session *se, fuse_ino_t parent,
					  fuse_ino_t child, const char *name, size_t namelen)
{
	(void)child;
	return fuse_lowlevel_notify_inval_entry(se, parent, name, namelen);
}

FC_EXPORT int fuse_lowlevel_notify_store(struct fuse_session *se, fuse_ino_t ino, off_t offset,
					 struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
{
	(void)se;
	(void)ino;
	(void)offset;
	(void)bufv;
	(void)flags;
	return 0;
}

/* Nothing is cached to be retrieved: the file system gets no reply. */
FC_EXPORT int fuse_lowlevel_notify_retrieve(struct fuse_session *se, fuse_ino_t ino, size_t size,
					    off_t offset, void *cookie)
{
	(void)se;
	(void)ino;
	(void)size;
	(void)offset;
	(void)cookie;
	return -ENOSYS;
}

/* ---- CUSE: character devices, which need the kernel ------------------- */

FC_EXPORT struct fuse_session *cuse_lowlevel_new(struct fuse_args *args,
						 const struct cuse_info *ci,
						 const struct cuse_lowlevel_ops *clop,
						 void *userdata)
{
	(void)args;
	(void)ci;
	(void)clop;
	(void)userdata;
	fuse_log(FUSE_LOG_ERR, "cuse: character devices cannot be served in process\n");
	if (fc_starting)
		fc_why(fc_starting, "%s: a CUSE character device cannot be served in process",
		       fc_starting->name);
	return NULL;
}

FC_EXPORT struct fuse_session *cuse_lowlevel_setup(int argc, char *argv[],
						   const struct cuse_info *ci,
						   const struct cuse_lowlevel_ops *clop,
						   int *multithreaded, void *userdata)
{
	(void)argc;
	(void)argv;
	(void)multithreaded;
	return cuse_lowlevel_new(NULL, ci, clop, userdata);
}

FC_EXPORT void cuse_lowlevel_teardown(struct fuse_session *se)
{
	(void)se;
}

FC_EXPORT int cuse_lowlevel_main(int argc, char *argv[], const struct cuse_info *ci,
				 const struct cuse_lowlevel_ops *clop, void *userdata)
{
	(void)argc;
	(void)argv;
	cuse_lowlevel_new(NULL, ci, clop, userdata);
	return 1;
}
