/*
 * The module's operations as libfuse high-level operations.
 *
 * The kernel resolves paths itself and hands libfuse one inode at a time,
 * so every path we pass on names exactly the object to act on: the module
 * is always asked not to follow a last-component symbolic link
 * (DEFUSE_NOFOLLOW), and its O_NOFOLLOW-free open is only ever reached for
 * non-links.  Open files are `struct handle`: when the module answered open
 * with a kernel descriptor (kernel_fd), the data goes through that
 * descriptor here, as it would in a captured process, and the module's fh is
 * released at once (module.h); otherwise every call goes to the module.
 *
 * Every call into the module goes through the module adapter
 * (src/module/call.h), which keeps module.h's fallbacks and the read-only
 * policy exactly as the in-process host does; directories are opened with
 * the module's open and listed with readdir on that handle, as in process.
 *
 * libfuse's high-level API knows a file only by its path, and the kernel
 * sends fstat without the file handle, so a file unlinked (or replaced, or a
 * directory removed) while open would answer fstat with ESTALE.  The bridge
 * therefore reads the kernel's requests and writes its replies itself
 * (libfuse's custom I/O, bridge_io_start): it learns which kernel node each
 * open handle is, and answers a GETATTR that libfuse found no path for from
 * an open handle of that node, as a local file system answers fstat from
 * the inode.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "fuse/bridge.h"

#define REF (&bridge.ref)

struct handle {
	uint64_t fh;	/* the module's handle, when kfd < 0 */
	int kfd;	/* the module's kernel descriptor, or -1 */
	int flags;	/* open(2) flags as the module saw them */
	int is_dir;
	/* The open's reference, and one per GETATTR borrowing the handle
	   (handle_borrow): the module's fh or kfd goes with the last. */
	int refs;
	uint64_t nodeid;	/* the kernel's node, once the open's reply named it */
	struct handle *next;	/* in nodes[], while known */
	/* Owners that took record or OFD locks kept by the module through
	   this open: their locks go when it is released (b_release). */
	uint64_t owners[8];
	int nowners;
	char path[];	/* at open: for the rare call that needs a path but
			   gets only the handle (it may be stale after a rename) */
};

static struct handle *H(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static struct handle *new_handle(const char *path, int flags, int is_dir)
{
	size_t n = strlen(path) + 1;
	struct handle *h = malloc(sizeof(*h) + n);

	if (!h)
		return NULL;
	h->fh = 0;
	h->kfd = -1;
	h->flags = flags;
	h->is_dir = is_dir;
	h->refs = 1;
	h->nodeid = 0;
	h->next = NULL;
	h->nowners = 0;
	memcpy(h->path, path, n);
	return h;
}

static int neg_errno(long r)
{
	return r < 0 ? -errno : 0;
}

/* ---- Open handles by kernel node ------------------------------------- */

/*
 * The request this thread serves: libfuse reads a request and runs its
 * operation in the same thread, and the reply is written there too.  Set
 * by bridge_io's read, used by the operations and the reply.
 */
static __thread struct {
	uint64_t unique, nodeid;
	uint32_t opcode;
	struct handle *opened;	/* by this request's open, create or opendir */
} req;

#define NODES 256
static struct handle *nodes[NODES];
static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;

/* The open's reply is about to tell the kernel: h is nodeid's from now on. */
static void handle_known(struct handle *h, uint64_t nodeid)
{
	pthread_mutex_lock(&nodes_lock);
	h->nodeid = nodeid;
	h->next = nodes[nodeid % NODES];
	nodes[nodeid % NODES] = h;
	pthread_mutex_unlock(&nodes_lock);
}

static void handle_forget(struct handle *h)
{
	pthread_mutex_lock(&nodes_lock);
	if (h->nodeid) {
		struct handle **p = &nodes[h->nodeid % NODES];

		while (*p && *p != h)
			p = &(*p)->next;
		if (*p)
			*p = h->next;
		h->nodeid = 0;
	}
	pthread_mutex_unlock(&nodes_lock);
}

/* An open handle of nodeid, referenced (handle_put), or NULL. */
static struct handle *handle_borrow(uint64_t nodeid)
{
	struct handle *h;

	pthread_mutex_lock(&nodes_lock);
	for (h = nodes[nodeid % NODES]; h && h->nodeid != nodeid; h = h->next)
		;
	if (h)
		__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&nodes_lock);
	return h;
}

/* The last reference gives the module its handle back. */
static void handle_put(struct handle *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (h->kfd >= 0)
		close(h->kfd);
	else
		mod_release(REF, h->fh);
	free(h);
}

/* ---- The caller's identity ------------------------------------------ */

/*
 * Only a root daemon can take its callers' identities, and only callers of
 * another identity need it (allow_other).  setfsuid, setfsgid and the raw
 * setgroups call change the calling thread only (glibc's setgroups would
 * change every thread), so concurrent requests do not interfere.
 */
struct caller {
	int switched;
};

static void as_caller(struct caller *c)
{
	const struct fuse_context *ctx = fuse_get_context();
	gid_t groups[256];
	int n;

	c->switched = 0;
	if (!bridge.switch_creds || !ctx || (ctx->uid == bridge.uid && ctx->gid == bridge.gid))
		return;
	n = fuse_getgroups(256, groups);
	if (n < 0 || n > 256)
		n = 0;
	syscall(SYS_setgroups, n, groups);
	syscall(SYS_setfsgid, ctx->gid);
	syscall(SYS_setfsuid, ctx->uid);
	c->switched = 1;
}

static void as_self(struct caller *c)
{
	if (!c->switched)
		return;
	syscall(SYS_setfsuid, bridge.uid);
	syscall(SYS_setfsgid, bridge.gid);
	syscall(SYS_setgroups, bridge.ngroups, bridge.groups);
}

/* Runs EXPR (an int-valued module call) as the caller. */
#define AS_CALLER(EXPR) ({			\
	struct caller c_;			\
	long r_;				\
	as_caller(&c_);				\
	r_ = (EXPR);				\
	as_self(&c_);				\
	r_;					\
})

/* ---- Metadata ------------------------------------------------------- */

/* The path of a call that may come with a handle only (nullpath_ok). */
static const char *path_of(const char *path, const struct handle *h)
{
	return path ? path : h->path;
}

static int b_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (fi) {
		struct handle *h = H(fi);

		if (h->kfd >= 0)
			return neg_errno(fstat(h->kfd, st));
		return mod_fgetattr(REF, h->fh, path_of(path, h), st);
	}
	if (!path)
		return -ESTALE;
	return AS_CALLER(mod_getattr(REF, path, st, DEFUSE_NOFOLLOW));
}

static int b_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	n = AS_CALLER(mod_readlink(REF, path, buf, size - 1));
	if (n < 0)
		return (int)n;
	buf[n] = 0;
	return 0;
}

/* Modes come with the caller's umask applied by the kernel (no
   FUSE_CAP_DONT_MASK), as module.h wants them. */
static int b_mknod(const char *path, mode_t mode, dev_t rdev)
{
	return AS_CALLER(mod_mknod(REF, path, mode, rdev));
}

static int b_mkdir(const char *path, mode_t mode)
{
	return AS_CALLER(mod_mkdir(REF, path, mode & 07777));
}

static int b_unlink(const char *path)
{
	return AS_CALLER(mod_unlink(REF, path));
}

static int b_rmdir(const char *path)
{
	return AS_CALLER(mod_rmdir(REF, path));
}

static int b_symlink(const char *target, const char *path)
{
	return AS_CALLER(mod_symlink(REF, target, path));
}

static int b_rename(const char *from, const char *to, unsigned int flags)
{
	return AS_CALLER(mod_rename(REF, from, to, flags));
}

static int b_link(const char *from, const char *to)
{
	return AS_CALLER(mod_link(REF, from, to));
}

/* The caller's identity for the module's access check (b_access). */
static void caller_ids(void *arg, uid_t *uid, gid_t *gid);
static int caller_groups(void *arg, gid_t *out, int max);

/*
 * A write, truncate or chown by a caller without CAP_FSETID clears the
 * file's set-user-ID bit (and set-group-ID with group execute).  FUSE asks
 * the file system for it with a plain mode SETATTR (the bridge does not
 * take FUSE_HANDLE_KILLPRIV, which would cost a getattr per write), and the
 * kernel clears them for any such caller, owner or not (ATTR_FORCE).  Run
 * as a caller who does not own the file, the module's chmod refuses
 * (EPERM), and the write failed with it.  So a chmod refused as the caller
 * that only takes S_ISUID or S_ISGID off a regular file's mode is done as
 * the daemon, when the caller may write the file (so could clear them by
 * writing anyway).  An explicit chmod u-s by such a caller then succeeds
 * too, where the kernel would refuse it.
 */
static int kill_suid(const char *path, const struct handle *h, mode_t mode)
{
	struct mod_caller who = { caller_ids, caller_groups, NULL };
	mode_t cur, gone;
	struct stat st;

	if (!bridge.switch_creds || (h ? mod_fgetattr(REF, h->fh, path_of(path, h), &st)
				       : mod_getattr(REF, path, &st, DEFUSE_NOFOLLOW)) < 0)
		return -EPERM;
	cur = st.st_mode & 07777;
	gone = cur & ~(mode & 07777);
	if (!S_ISREG(st.st_mode) || (mode & 07777 & ~cur) || !gone ||
	    (gone & ~(mode_t)(S_ISUID | S_ISGID)))
		return -EPERM;
	/* An open handle was opened for writing: the kernel sends it only
	   from a truncate of that open. */
	if (!h && AS_CALLER(mod_access(REF, path, W_OK, AT_EACCESS | AT_SYMLINK_NOFOLLOW, &who)))
		return -EPERM;
	return h ? mod_fchmod(REF, h->fh, path_of(path, h), mode & 07777)
		 : mod_chmod(REF, path, mode & 07777, DEFUSE_NOFOLLOW);
}

/* With a handle (fchmod, fchown, ftruncate, futimens): the open file's own
   operation, else the path one. */
static int b_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int r;

	if (fi && H(fi)->kfd >= 0)
		return neg_errno(fchmod(H(fi)->kfd, mode));
	if (fi)
		r = AS_CALLER(mod_fchmod(REF, H(fi)->fh, path_of(path, H(fi)), mode));
	else
		r = AS_CALLER(mod_chmod(REF, path, mode, DEFUSE_NOFOLLOW));
	return r == -EPERM ? kill_suid(path, fi ? H(fi) : NULL, mode) : r;
}

static int b_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	if (fi && H(fi)->kfd >= 0)
		return neg_errno(fchown(H(fi)->kfd, uid, gid));
	if (fi)
		return AS_CALLER(mod_fchown(REF, H(fi)->fh, path_of(path, H(fi)), uid, gid));
	return AS_CALLER(mod_chown(REF, path, uid, gid, DEFUSE_NOFOLLOW));
}

static int b_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	if (fi && H(fi)->kfd >= 0)
		return neg_errno(ftruncate(H(fi)->kfd, size));
	if (fi)
		return AS_CALLER(mod_ftruncate(REF, H(fi)->fh, path_of(path, H(fi)), size));
	return AS_CALLER(mod_truncate(REF, path, size));
}

static int b_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	if (fi && H(fi)->kfd >= 0)
		return neg_errno(futimens(H(fi)->kfd, tv));
	if (fi)
		return AS_CALLER(mod_futimens(REF, H(fi)->fh, path_of(path, H(fi)), tv));
	return AS_CALLER(mod_utimens(REF, path, tv, DEFUSE_NOFOLLOW));
}

static int b_statfs(const char *path, struct statvfs *sv)
{
	struct statfs sf;
	int r;

	r = AS_CALLER(mod_statfs(REF, path, &sf));
	if (r < 0)
		return r;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = (unsigned long)sf.f_bsize;
	sv->f_frsize = (unsigned long)(sf.f_frsize ? sf.f_frsize : sf.f_bsize);
	sv->f_blocks = sf.f_blocks;
	sv->f_bfree = sf.f_bfree;
	sv->f_bavail = sf.f_bavail;
	sv->f_files = sf.f_files;
	sv->f_ffree = sf.f_ffree;
	sv->f_favail = sf.f_ffree;
	sv->f_namemax = (unsigned long)sf.f_namelen;
	return 0;
}

/* The caller's supplementary groups, asked of the kernel only when the
   access fallback needs them. */
static int caller_groups(void *arg, gid_t *out, int max)
{
	(void)arg;
	return fuse_getgroups(max, out);
}

/*
 * access(2) and chdir come here only without default_permissions.  The
 * request runs with the caller's file-system IDs, which the kernel set to
 * the real IDs for access(2): hence AT_EACCESS.
 */
static void caller_ids(void *arg, uid_t *uid, gid_t *gid)
{
	const struct fuse_context *ctx = fuse_get_context();

	(void)arg;
	*uid = ctx->uid;
	*gid = ctx->gid;
}

static int b_access(const char *path, int mask)
{
	struct mod_caller who = { caller_ids, caller_groups, NULL };

	return AS_CALLER(mod_access(REF, path, mask, AT_EACCESS | AT_SYMLINK_NOFOLLOW, &who));
}

/* ---- Extended attributes -------------------------------------------- */

static int b_setxattr(const char *path, const char *name, const char *value, size_t size,
		      int flags)
{
	return AS_CALLER(mod_setxattr(REF, path, name, value, size, flags, DEFUSE_NOFOLLOW));
}

static int b_getxattr(const char *path, const char *name, char *value, size_t size)
{
	return (int)AS_CALLER(mod_getxattr(REF, path, name, value, size, DEFUSE_NOFOLLOW));
}

static int b_listxattr(const char *path, char *list, size_t size)
{
	return (int)AS_CALLER(mod_listxattr(REF, path, list, size, DEFUSE_NOFOLLOW));
}

static int b_removexattr(const char *path, const char *name)
{
	return AS_CALLER(mod_removexattr(REF, path, name, DEFUSE_NOFOLLOW));
}

/* ---- Open files ----------------------------------------------------- */

/* Calls the module's open and makes the handle. */
static int open_common(const char *path, int flags, mode_t mode, struct fuse_file_info *fi)
{
	struct defuse_open out = { .fh = 0, .kernel_fd = -1 };
	struct handle *h;
	int r;

	/* Our buffers are not aligned for O_DIRECT; the kernel's page cache
	   is bypassed by direct_io instead, which is what O_DIRECT asks. */
	if (flags & O_DIRECT) {
		flags &= ~O_DIRECT;
		fi->direct_io = 1;
	}
	if (bridge.writeback)
		flags &= ~O_APPEND;	/* the kernel places appending writes */
	h = new_handle(path, flags, (flags & O_DIRECTORY) != 0);
	if (!h)
		return -ENOMEM;
	r = -EACCES;
	if (bridge.writeback && (flags & O_ACCMODE) == O_WRONLY) {
		/* The kernel may read to fill a page it caches for writing. */
		r = AS_CALLER(mod_open(REF, path, (flags & ~O_ACCMODE) | O_RDWR | O_CLOEXEC,
				       mode, &out));
		if (r == 0)
			h->flags = (flags & ~O_ACCMODE) | O_RDWR;
	}
	if (r == -EACCES)
		r = AS_CALLER(mod_open(REF, path, flags | O_CLOEXEC, mode, &out));
	if (r < 0) {
		free(h);
		return r;
	}
	if (out.kernel_fd >= 0) {
		/* The file is the kernel's from here on (module.h). */
		h->kfd = out.kernel_fd;
		mod_release(REF, out.fh);
	} else {
		h->fh = out.fh;
	}
	fi->fh = (uintptr_t)h;
	req.opened = h;		/* its node is in the reply (bridge_io) */
	return 0;
}

static int b_open(const char *path, struct fuse_file_info *fi)
{
	return open_common(path, fi->flags, 0, fi);
}

static int b_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return open_common(path, fi->flags | O_CREAT, mode, fi);
}

static int b_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	struct fuse_bufvec *bv = malloc(sizeof(*bv));
	ssize_t n;

	(void)path;
	if (!bv)
		return -ENOMEM;
	*bv = FUSE_BUFVEC_INIT(size);
	if (h->kfd >= 0) {
		/* libfuse reads (or splices) straight from the descriptor. */
		bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv->buf[0].fd = h->kfd;
		bv->buf[0].pos = off;
		*bufp = bv;
		return 0;
	}
	bv->buf[0].mem = malloc(size ? size : 1);
	if (!bv->buf[0].mem) {
		free(bv);
		return -ENOMEM;
	}
	n = mod_read(REF, h->fh, bv->buf[0].mem, size, off);
	if (n < 0) {
		free(bv->buf[0].mem);
		free(bv);
		return (int)n;
	}
	bv->buf[0].size = (size_t)n;
	*bufp = bv;
	return 0;
}

/* Appends of a module without append are placed at the end here, one at a
   time (module.h's fallback, kept by the adapter with this lock). */
static pthread_mutex_t append_lock = PTHREAD_MUTEX_INITIALIZER;

static void append_take(void *m)
{
	pthread_mutex_lock(m);
}

static void append_give(void *m)
{
	pthread_mutex_unlock(m);
}

static int emulated_write(struct handle *h, const char *data, size_t size, off_t off)
{
	size_t done = 0;
	ssize_t n = 0;

	if ((h->flags & O_APPEND) && !bridge.writeback) {
		off_t end;

		n = mod_append(REF, h->fh, h->path, data, size, &end, append_take, append_give,
			       &append_lock);
		return (int)n;
	}
	while (done < size) {
		n = mod_write(REF, h->fh, data + done, size - done, off + (off_t)done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done ? (int)done : (n < 0 ? (int)n : 0);
}

static int b_write_buf(const char *path, struct fuse_bufvec *src, off_t off,
		       struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	size_t size = fuse_buf_size(src);
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
	ssize_t n;
	char *mem;

	(void)path;
	if (h->kfd >= 0) {
		if (src->count == 1 && !(src->buf[0].flags & FUSE_BUF_IS_FD)) {
			n = pwrite(h->kfd, src->buf[0].mem, size, off);
			return n < 0 ? -errno : (int)n;
		}
		dst.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		dst.buf[0].fd = h->kfd;
		dst.buf[0].pos = off;
		return (int)fuse_buf_copy(&dst, src, 0);
	}
	if (src->count == 1 && !(src->buf[0].flags & FUSE_BUF_IS_FD))
		return emulated_write(h, src->buf[0].mem, size, off);
	mem = malloc(size ? size : 1);
	if (!mem)
		return -ENOMEM;
	dst.buf[0].mem = mem;
	n = fuse_buf_copy(&dst, src, 0);
	n = n < 0 ? n : emulated_write(h, mem, (size_t)n, off);
	free(mem);
	return (int)n;
}

/* Every close of a descriptor of the open file (module.h: flush).  Record
   locks of the closing owner are dropped by libfuse itself, through
   b_lock, when the module keeps them. */
static int b_flush(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);

	(void)path;
	return h->kfd >= 0 ? 0 : mod_flush(REF, h->fh);
}

/*
 * Files and directories alike: both were opened by the module's open.  A
 * GETATTR may be using the handle meanwhile (handle_borrow): the module
 * gets it back when that one is done.
 */
static int b_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);

	(void)path;
	if (req.opened == h)
		req.opened = NULL;	/* mknod's create and release, or a failed reply */
	handle_forget(h);
	if (h->kfd < 0) {
		/* The open file description is gone: its OFD locks with it,
		   as the kernel drops them at the last close (FUSE sends no
		   unlock for them: the kernel keeps no local copy). */
		struct flock all = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

		for (int i = 0; i < h->nowners; i++)
			mod_setlk(REF, h->fh, h->owners[i], &all, 0);
		/* Its flock locks too (libfuse leaves that to the file
		   system: flock_release); a kernel descriptor's go with it. */
		if (fi->flock_release && mod_lock_fd(REF, h->fh) < 0)
			mod_flock(REF, h->fh, fi->lock_owner, LOCK_UN);
	}
	handle_put(h);
	return 0;
}

/* fsync and fsyncdir. */
static int b_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);

	(void)path;
	if (h->kfd >= 0)
		return neg_errno(datasync ? fdatasync(h->kfd) : fsync(h->kfd));
	return mod_fsync(REF, h->fh, datasync);
}

static int b_fallocate(const char *path, int mode, off_t off, off_t len,
		       struct fuse_file_info *fi)
{
	struct handle *h = H(fi);

	(void)path;
	if (h->kfd >= 0)
		return neg_errno(fallocate(h->kfd, mode, off, len));
	return mod_fallocate(REF, h->fh, mode, off, len);
}

/* The ioctls kernel FUSE passes on (the generic ones it answers itself):
   a module's own, with the bytes it sized (mod_ioctl_size).  A
   kernel-backed file's are not passed to its descriptor: a request whose
   handler writes more than its number says would write past libfuse's
   buffer. */
static int b_ioctl(const char *path, unsigned int cmd, void *arg, struct fuse_file_info *fi,
		   unsigned int flags, void *data)
{
	struct handle *h = H(fi);
	size_t size = mod_ioctl_size(cmd);
	unsigned char copy[1 << _IOC_SIZEBITS];

	(void)path;
	(void)flags;
	if (h->kfd >= 0)
		return -ENOTTY;
	/* Without _IOC_READ, data is libfuse's copy of the request: the
	   module gets one it may write, as module.h lets it. */
	if (!(_IOC_DIR(cmd) & _IOC_READ) && size) {
		memcpy(copy, data, size);
		data = copy;
	}
	return (int)mod_ioctl(REF, h->fh, cmd, (unsigned long)arg, data, size);
}

/* Only SEEK_DATA and SEEK_HOLE come here (the kernel keeps offsets). */
static off_t b_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	off_t r;

	if (h->kfd >= 0) {
		r = lseek(h->kfd, off, whence);
		return r < 0 ? -errno : r;
	}
	return mod_seek_data(REF, h->fh, path_of(path, h), off, whence);
}

static ssize_t b_copy_file_range(const char *pin, struct fuse_file_info *fin, off_t oin,
				 const char *pout, struct fuse_file_info *fout, off_t oout,
				 size_t len, int flags)
{
	struct handle *in = H(fin), *out = H(fout);
	ssize_t n;

	(void)pin;
	(void)pout;
	/* Emulated ends: the kernel falls back to copying through read and write. */
	if (in->kfd < 0 || out->kfd < 0)
		return -EOPNOTSUPP;
	n = copy_file_range(in->kfd, &oin, out->kfd, &oout, len, (unsigned int)flags);
	return n < 0 ? -errno : n;
}

/* ---- Locks ---------------------------------------------------------- */

/*
 * The kernel descriptor an open file's locks go on: the file's own
 * (kernel_fd), or the module's lock_fd; -1 when the module keeps locks
 * itself or has none.
 */
static int lock_kfd(const struct handle *h)
{
	int fd;

	if (h->kfd >= 0)
		return h->kfd;
	fd = mod_lock_fd(REF, h->fh);
	return fd >= 0 ? fd : -1;
}

/*
 * flock locks belong to an open file description, and each FUSE open is one
 * handle here: a kernel descriptor of its own gives the caller exactly
 * flock's semantics, shared with processes that use the backing file
 * directly (the in-process fast path).  Otherwise the module's flock with
 * the kernel's owner for the open file, or ENOLCK, as in process.  A
 * blocking request waits in this thread until granted or interrupted
 * (-o intr, on by default).
 */
static int b_flock(const char *path, struct fuse_file_info *fi, int op)
{
	struct handle *h = H(fi);
	int fd = lock_kfd(h);

	(void)path;
	if (fd >= 0)
		return neg_errno(flock(fd, op));
	return mod_flock(REF, h->fh, fi->lock_owner, op);
}

/*
 * Record and OFD locks, registered only when the module keeps locks itself
 * (setlk) or has no kernel descriptor to take them on (no lock_fd): then
 * every request comes here, with the owner the kernel gives.  A file with a
 * kernel descriptor takes them there as OFD locks of this FUSE open (the
 * daemon is one process: POSIX locks of its own would all be one owner's).
 * Without registration the FUSE kernel module keeps record locks itself.
 */
static int b_lock(const char *path, struct fuse_file_info *fi, int cmd, struct flock *lock)
{
	struct handle *h = H(fi);
	int fd = lock_kfd(h);

	(void)path;
	if (fd >= 0) {
		int ofd = cmd == F_GETLK ? F_OFD_GETLK : cmd == F_SETLKW ? F_OFD_SETLKW : F_OFD_SETLK;

		lock->l_pid = 0;
		return neg_errno(fcntl(fd, ofd, lock));
	}
	if (cmd == F_GETLK)
		return mod_getlk(REF, h->fh, fi->lock_owner, lock);
	if (lock->l_type != F_UNLCK) {
		static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
		int i;

		pthread_mutex_lock(&owners_lock);
		for (i = 0; i < h->nowners && h->owners[i] != fi->lock_owner; i++)
			;
		if (i == h->nowners && i < 8)
			h->owners[h->nowners++] = fi->lock_owner;
		pthread_mutex_unlock(&owners_lock);
	}
	return mod_setlk(REF, h->fh, fi->lock_owner, lock, cmd == F_SETLKW);
}

int bridge_wants_lock(void)
{
	return mod_has_setlk(REF) || !mod_has_lock_fd(REF);
}

/* ---- Directories ---------------------------------------------------- */

/* As in a captured process: the module's open, then readdir on its handle. */
static int b_opendir(const char *path, struct fuse_file_info *fi)
{
	return open_common(path, O_RDONLY | O_DIRECTORY, 0, fi);
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_one(void *ctx, const char *name, uint64_t ino, unsigned char type, int64_t next)
{
	struct fill_ctx *c = ctx;
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = DTTOIF(type);
	return c->filler(c->buf, name, &st, next, 0) ? 1 : 0;
}

/* A kernel directory descriptor listed the way the module's readdir would. */
static int list_kfd(int fd, off_t pos, struct fill_ctx *c)
{
	char buf[16384] __attribute__((aligned(8)));
	ssize_t n;

	if (lseek(fd, pos, SEEK_SET) < 0)
		return -errno;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n;) {
			const struct dirent64 *d = (const void *)(buf + i);

			if (fill_one(c, d->d_name, d->d_ino, d->d_type, d->d_off))
				return 0;
			i += d->d_reclen;
		}
	}
	return n < 0 ? -errno : 0;
}

static int b_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		     struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct handle *h = H(fi);
	struct fill_ctx c = { buf, filler };

	(void)path;
	(void)flags;
	if (h->kfd >= 0)
		return list_kfd(h->kfd, off, &c);
	return mod_readdir(REF, h->fh, off, fill_one, &c);
}

/* ---- Life cycle ----------------------------------------------------- */

/*
 * The module was started before the mount (so that a failing init leaves
 * nothing mounted) and is ended after the loop: nothing to do here but the
 * connection's settings.
 */
static void *b_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Unlinked open files stay usable through their handle, instead of
	   libfuse's .fuse_hidden renames, which both views would see. */
	cfg->hard_remove = 1;
	/* Hard links and tools that compare inodes see the module's numbers. */
	cfg->use_ino = 1;
	/* Reads and writes go by handle: no path to build per request. */
	cfg->nullpath_ok = 1;
	/* A request whose caller got a signal is interrupted (main.c). */
	cfg->intr = 1;
	cfg->intr_signal = BRIDGE_INTR_SIGNAL;
	if (bridge.direct_io)
		cfg->direct_io = 1;
	conn->want |= FUSE_CAP_ATOMIC_O_TRUNC & conn->capable;
	/* The kernel applies the caller's umask (module.h's mode contract). */
	conn->want &= ~FUSE_CAP_DONT_MASK;
	if (bridge.conn_opts)
		fuse_apply_conn_info_opts(bridge.conn_opts, conn);
	/* -o splice_read: the bridge reads requests itself (bridge_io_start),
	   and libfuse would end the session for a capability it lacks. */
	conn->want &= ~(FUSE_CAP_SPLICE_READ & ~conn->capable);
	if (bridge.max_read)
		conn->max_read = bridge.max_read;
	bridge.writeback = (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0;
	return NULL;
}

/* ---- The kernel's requests and our replies --------------------------- */

/*
 * Requests are read and replies written here (libfuse's custom I/O) so
 * that the bridge sees what the path-based API hides: which kernel node an
 * open handle is (the node in an open's request, or in a create's reply),
 * and GETATTRs of a node libfuse has no path for any more.  Those come from
 * fstat of a file unlinked or renamed over while open, or of a directory
 * removed while open (the kernel sends fstat without the file handle);
 * libfuse answers ESTALE.  When an open handle of that node exists, its
 * attributes (fgetattr, or fstat of its kernel descriptor) are the answer,
 * as a local file system's fstat gives the inode's.  Calls on a name in a
 * removed directory get ENOENT, as on a local file system, instead of
 * libfuse's ESTALE.
 *
 * libfuse then cannot splice requests into a pipe (FUSE_CAP_SPLICE_READ,
 * which it offers only for a custom I/O that splices itself), and reads
 * them into memory.  Nothing is lost by default: libfuse splices only into
 * a pipe that holds max_write and a page, which the default max_write of
 * 1 MiB never allows (pipe-max-size is 1 MiB), so it read them before too;
 * with -o max_write=131072, where it did splice, writes of 384 MiB measured
 * the same within this machine's noise (1.0 to 1.4 GB/s either way).
 */
static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)userdata;
	req.opened = NULL;
	req.opcode = 0;
	if (n >= (ssize_t)sizeof(*in)) {
		req.unique = in->unique;
		req.nodeid = in->nodeid;
		req.opcode = in->opcode;
	}
	return n;
}

/* Replies libfuse splices (-o splice_write): file data, nothing to see. */
static ssize_t io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			      unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

/* The first n bytes of a reply's argument (after the header), or -1. */
static int reply_arg(const struct iovec *iov, int count, void *out, size_t n)
{
	size_t done = 0, skip = sizeof(struct fuse_out_header);

	for (int i = 0; i < count && done < n; i++) {
		size_t len = iov[i].iov_len, from = skip < len ? skip : len;
		size_t k = len - from < n - done ? len - from : n - done;

		memcpy((char *)out + done, (const char *)iov[i].iov_base + from, k);
		done += k;
		skip -= from;
	}
	return done == n ? 0 : -1;
}

static void fuse_attr_of(struct fuse_attr *a, const struct stat *st)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = (uint32_t)st->st_rdev;
	a->size = (uint64_t)st->st_size;
	a->blksize = (uint32_t)st->st_blksize;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
}

/*
 * A GETATTR libfuse answered ESTALE: the attributes of an open handle of
 * the node, if there is one.  Not cached by the kernel (attr_valid 0): the
 * file is still changing through its handles.
 */
static ssize_t stale_getattr(int fd, struct iovec *iov, int count)
{
	struct {
		struct fuse_out_header h;
		struct fuse_attr_out a;
	} r;
	struct handle *h = handle_borrow(req.nodeid);
	struct stat st;
	int e;

	if (!h)
		return writev(fd, iov, count);
	e = h->kfd >= 0 ? neg_errno(fstat(h->kfd, &st)) : mod_fgetattr(REF, h->fh, h->path, &st);
	handle_put(h);
	if (e < 0)
		return writev(fd, iov, count);
	memset(&r, 0, sizeof(r));
	r.h.len = sizeof(r);
	r.h.unique = req.unique;
	fuse_attr_of(&r.a.attr, &st);
	return write(fd, &r, sizeof(r));
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_entry_out entry;

	(void)userdata;
	if (count < 1 || iov[0].iov_len < sizeof(*out) || !out->unique || out->unique != req.unique)
		return writev(fd, iov, count);	/* a notification, or not ours */
	if (req.opened) {
		/* Known before the kernel has the handle: so before any
		   request of the kernel's can name it. */
		if (!out->error && (req.opcode == FUSE_OPEN || req.opcode == FUSE_OPENDIR))
			handle_known(req.opened, req.nodeid);
		else if (!out->error && req.opcode == FUSE_CREATE &&
			 !reply_arg(iov, count, &entry, sizeof(entry)))
			handle_known(req.opened, entry.nodeid);
		req.opened = NULL;
	}
	if (out->error == -ESTALE) {
		switch (req.opcode) {
		case FUSE_GETATTR:
			return stale_getattr(fd, iov, count);
		case FUSE_LOOKUP: case FUSE_CREATE: case FUSE_MKNOD: case FUSE_MKDIR:
		case FUSE_SYMLINK: case FUSE_LINK: case FUSE_UNLINK: case FUSE_RMDIR:
		case FUSE_RENAME: case FUSE_RENAME2:
			out->error = -ENOENT;	/* a name in a removed directory */
			break;
		}
	}
	return writev(fd, iov, count);
}

int bridge_io_start(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
		.splice_send = io_splice_send,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

const struct fuse_operations bridge_ops = {
	.getattr = b_getattr,
	.readlink = b_readlink,
	.mknod = b_mknod,
	.mkdir = b_mkdir,
	.unlink = b_unlink,
	.rmdir = b_rmdir,
	.symlink = b_symlink,
	.rename = b_rename,
	.link = b_link,
	.chmod = b_chmod,
	.chown = b_chown,
	.truncate = b_truncate,
	.open = b_open,
	.statfs = b_statfs,
	.flush = b_flush,
	.release = b_release,
	.fsync = b_fsync,
	.setxattr = b_setxattr,
	.getxattr = b_getxattr,
	.listxattr = b_listxattr,
	.removexattr = b_removexattr,
	.opendir = b_opendir,
	.readdir = b_readdir,
	.releasedir = b_release,
	.fsyncdir = b_fsync,
	.init = b_init,
	.access = b_access,
	.create = b_create,
	.lock = b_lock,
	.utimens = b_utimens,
	.write_buf = b_write_buf,
	.read_buf = b_read_buf,
	.flock = b_flock,
	.fallocate = b_fallocate,
	.ioctl = b_ioctl,
	.copy_file_range = b_copy_file_range,
	.lseek = b_lseek,
};
