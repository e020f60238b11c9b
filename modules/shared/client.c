/*
 * shared: one instance of a module for a whole process tree.
 *
 *     defuse run -m MNT=shared:MODULE[:ARGS] -- PROGRAM...
 *     defuse run -m /mnt/e=shared:fuse:/usr/sbin/fuse2fs:/img/ext4.img -- make -j4
 *
 * In process every image has its own instance of a module (module.h); a
 * file system whose state must be one (fuse2fs keeps the image's metadata
 * in memory, sshfs its ssh connection) is then corrupted or hangs when two
 * processes write at once.  This module is a thin client in each process:
 * every operation goes over one SOCK_SEQPACKET connection per process to a
 * server (server.c, defuse-shared-server) that runs MODULE once and serves
 * them all, one call at a time.  Files are emulated (the server's ids are
 * the handles) unless the module opens them as kernel descriptors, which
 * come with the reply (SCM_RIGHTS); locks are the server's (locks.c).
 * In process only: the mount point comes from DEFUSE_MOUNTS (the FUSE
 * bridge is one instance already).  docs/fuse-compat.md,
 * "One shared instance", has the costs and the limits.
 *
 * The server is found by an abstract AF_UNIX name made of the user and a
 * hash of the mount point and MODULE[:ARGS]: the same file system named
 * the same way means the same state (one image, one connection), so two
 * runs that name it share one server (as they must: two fuse2fs on one
 * image corrupt it), and anything else gets its own.  The first process
 * that finds none starts it (the server daemonizes, so it is never the
 * program's child); it ends when its last client connection closes.  A
 * process of the tree that runs as another user (exec'd by su) looks for
 * root's server first and shows it the tree's key (c_init, server.c).
 *
 * Operations run where the program made its call, with libc locks maybe
 * held (module.h): after init nothing here allocates; requests on one
 * connection are one at a time (a futex lock of our own), which also lets
 * the reply buffer for readdir be the mount's.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "proto.h"

extern char **environ;

#define HELD_MAX (1 << 20)	/* open files per process and mount */
#define START_WAIT_MS 60000	/* a server ending (destroy) or starting */

struct cmount {
	int fd;			/* the connection, set aside (defuse_keep_fd) */
	int lock;		/* futex word: one request at a time */
	struct sockaddr_un sa;
	socklen_t salen;
	uint64_t *held;		/* ids this process holds (told to the server
				   by a forked child), mmap'd at init */
	size_t nheld;
	char *rbuf;		/* readdir replies, under lock */
	gid_t *groups;		/* the caller's groups for a request, under lock */
	uid_t server_uid;	/* the user the server runs as: ours, or root's */
	unsigned char key[SH_KEY_LEN];	/* the tree's session key (DEFUSE_SESSION) */
	size_t key_len;		/* SH_KEY_LEN, or 0: none */
};

/* ---- the lock and one request ------------------------------------------ */

static void lock(int *w)
{
	int c = 0;

	if (__atomic_compare_exchange_n(w, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	if (c != 2)
		c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
		c = __atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE);
	}
}

static void unlock(int *w)
{
	if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) == 2)
		syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sends q with its strings and data on fd and takes the reply into rp and
   out (at most outmax bytes).  A server that is gone answers -EIO: never
   a hang (its end closes the connection, and recv returns). */
static int64_t xfer_fd(int fd, struct sh_req *q, const char *s1, const char *s2,
		       const void *d, size_t dn, struct sh_rep *rp, void *out, size_t outmax,
		       int *fdout, const gid_t *groups)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr *cm;
	struct iovec iov[5];
	struct msghdr mh;
	ssize_t n;

	if (fd < 0)
		return -EIO;
	q->n1 = s1 ? (uint32_t)strlen(s1) + 1 : 0;
	q->n2 = s2 ? (uint32_t)strlen(s2) + 1 : 0;
	q->dn = (uint32_t)dn;
	if (!groups)
		q->ngroups = 0;
	iov[0] = (struct iovec){ q, sizeof(*q) };
	iov[1] = (struct iovec){ (void *)s1, q->n1 };
	iov[2] = (struct iovec){ (void *)s2, q->n2 };
	iov[3] = (struct iovec){ (void *)d, dn };
	iov[4] = (struct iovec){ (void *)groups, q->ngroups * sizeof(gid_t) };
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 5;
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EMSGSIZE ? -ENAMETOOLONG : -EIO;
	iov[0] = (struct iovec){ rp, sizeof(*rp) };
	iov[1] = (struct iovec){ out, out ? outmax : 0 };
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	do
		n = sh_recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	/* A descriptor comes only with an open's reply; anywhere else it is
	   closed, never left in the program's table. */
	cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
		int kfd;

		memcpy(&kfd, CMSG_DATA(cm), sizeof(int));
		if (fdout && n >= (ssize_t)sizeof(*rp))
			*fdout = kfd;
		else
			close(kfd);
	}
	if (n < (ssize_t)sizeof(*rp) || (mh.msg_flags & MSG_TRUNC))
		return -EIO;
	return rp->ret;
}

static int64_t xfer(int fd, struct sh_req *q, const char *s1, const char *s2, const void *d,
		    size_t dn, struct sh_rep *rp, void *out, size_t outmax)
{
	return xfer_fd(fd, q, s1, s2, d, dn, rp, out, outmax, NULL, NULL);
}

/*
 * Who calls, for the server to call the module as (server.c, become): the
 * thread's real, effective and file-system IDs and its groups, as the
 * module would find them in process (fuse_get_context, access(2)'s real
 * IDs).  Five system calls, against the round trip's two context
 * switches.  Under m->lock.
 */
static void caller(struct cmount *m, struct sh_req *q)
{
	uid_t su;
	gid_t sg;
	int n = (int)syscall(SYS_getgroups, SH_GROUPS_MAX, m->groups);

	q->creds = 1;
	syscall(SYS_getresuid, &q->uid[0], &q->uid[1], &su);
	syscall(SYS_getresgid, &q->gid[0], &q->gid[1], &sg);
	q->uid[2] = (uint32_t)syscall(SYS_setfsuid, -1);
	q->gid[2] = (uint32_t)syscall(SYS_setfsgid, -1);
	q->ngroups = n > 0 ? (uint32_t)n : 0;
}

static int64_t call(struct cmount *m, struct sh_req *q, const char *s1, const char *s2,
		    const void *d, size_t dn, struct sh_rep *rp, void *out, size_t outmax)
{
	int64_t r;

	lock(&m->lock);
	caller(m, q);
	r = xfer_fd(m->fd, q, s1, s2, d, dn, rp, out, outmax, NULL, m->groups);
	unlock(&m->lock);
	return r;
}

#define M ((struct cmount *)priv)
#define REQ(o) struct sh_req q = { .op = (o) }; struct sh_rep rp

/* ---- by path ---------------------------------------------------------- */

static int c_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	REQ(SH_GETATTR);
	q.a[0] = flags;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, st, sizeof(*st));
}

static int c_statx(void *priv, const char *path, int flags, unsigned int mask,
		   struct statx *stx)
{
	REQ(SH_STATX);
	q.a[0] = flags;
	q.a[1] = mask;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, stx, sizeof(*stx));
}

static int c_access(void *priv, const char *path, int mode, int flags)
{
	REQ(SH_ACCESS);
	q.a[0] = mode;
	q.a[1] = flags;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static ssize_t c_readlink(void *priv, const char *path, char *buf, size_t size)
{
	REQ(SH_READLINK);
	q.a[0] = (int64_t)(size > SH_CHUNK ? SH_CHUNK : size);
	return (ssize_t)call(M, &q, path, NULL, NULL, 0, &rp, buf, (size_t)q.a[0]);
}

static int c_statfs(void *priv, const char *path, struct statfs *st)
{
	REQ(SH_STATFS);
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, st, sizeof(*st));
}

static int c_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	REQ(SH_MKNOD);
	q.a[0] = mode;
	q.a[1] = (int64_t)dev;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_mkdir(void *priv, const char *path, mode_t mode)
{
	REQ(SH_MKDIR);
	q.a[0] = mode;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_unlink(void *priv, const char *path)
{
	REQ(SH_UNLINK);
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_rmdir(void *priv, const char *path)
{
	REQ(SH_RMDIR);
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_symlink(void *priv, const char *target, const char *path)
{
	REQ(SH_SYMLINK);
	return (int)call(M, &q, target, path, NULL, 0, &rp, NULL, 0);
}

static int c_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	REQ(SH_RENAME);
	q.a[0] = flags;
	return (int)call(M, &q, from, to, NULL, 0, &rp, NULL, 0);
}

static int c_link(void *priv, const char *from, const char *to)
{
	REQ(SH_LINK);
	return (int)call(M, &q, from, to, NULL, 0, &rp, NULL, 0);
}

static int c_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	REQ(SH_CHMOD);
	q.a[0] = mode;
	q.a[1] = flags;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	REQ(SH_CHOWN);
	q.a[0] = uid;
	q.a[1] = gid;
	q.a[2] = flags;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_truncate(void *priv, const char *path, off_t size)
{
	REQ(SH_TRUNCATE);
	q.a[0] = size;
	return (int)call(M, &q, path, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_utimens(void *priv, const char *path, const struct timespec times[2], int flags)
{
	REQ(SH_UTIMENS);
	q.a[0] = flags;
	return (int)call(M, &q, path, NULL, times, times ? 2 * sizeof(times[0]) : 0, &rp, NULL,
			 0);
}

static ssize_t c_getxattr(void *priv, const char *path, const char *name, void *value,
			  size_t size, int flags)
{
	REQ(SH_GETXATTR);
	q.a[0] = (int64_t)(size > SH_CHUNK ? SH_CHUNK : size);
	q.a[1] = flags;
	return (ssize_t)call(M, &q, path, name, NULL, 0, &rp, value, (size_t)q.a[0]);
}

static int c_setxattr(void *priv, const char *path, const char *name, const void *value,
		      size_t size, int xflags, int flags)
{
	REQ(SH_SETXATTR);
	if (size > SH_CHUNK)
		return -E2BIG;
	q.a[0] = xflags;
	q.a[1] = flags;
	return (int)call(M, &q, path, name, value, size, &rp, NULL, 0);
}

static ssize_t c_listxattr(void *priv, const char *path, char *list, size_t size, int flags)
{
	REQ(SH_LISTXATTR);
	q.a[0] = (int64_t)(size > SH_CHUNK ? SH_CHUNK : size);
	q.a[1] = flags;
	return (ssize_t)call(M, &q, path, NULL, NULL, 0, &rp, list, (size_t)q.a[0]);
}

static int c_removexattr(void *priv, const char *path, const char *name, int flags)
{
	REQ(SH_REMOVEXATTR);
	q.a[0] = flags;
	return (int)call(M, &q, path, name, NULL, 0, &rp, NULL, 0);
}

/* ---- open files --------------------------------------------------------- */

/* An open answered: note the id (a forked child tells the server it holds
   it too), or give it back when there is no room to note it. */
static int opened(struct cmount *m, int64_t r, const struct sh_rep *rp, int kfd, int flags,
		  struct defuse_open *out)
{
	struct sh_req q = { .op = SH_RELEASE };
	struct sh_rep rr;

	if (r >= 0 && rp->v[1] && kfd < 0)
		r = -EIO;	/* a kernel descriptor announced but not received */
	if (r < 0) {
		if (kfd >= 0)
			close(kfd);
		return (int)r;
	}
	/* The program's close-on-exec, which the passing lost. */
	if (kfd >= 0 && !(flags & O_CLOEXEC))
		fcntl(kfd, F_SETFD, 0);
	lock(&m->lock);
	if (m->nheld == HELD_MAX) {
		if (kfd >= 0)
			close(kfd);
		q.fh = (uint64_t)rp->v[0];
		xfer(m->fd, &q, NULL, NULL, NULL, 0, &rr, NULL, 0);
		unlock(&m->lock);
		return -EMFILE;
	}
	m->held[m->nheld++] = (uint64_t)rp->v[0];
	unlock(&m->lock);
	out->fh = (uint64_t)rp->v[0];
	out->kernel_fd = kfd;
	return 0;
}

static int64_t call_fd(struct cmount *m, struct sh_req *q, const char *s1, const void *d,
		       size_t dn, struct sh_rep *rp, int *kfd)
{
	int64_t r;

	*kfd = -1;
	lock(&m->lock);
	caller(m, q);
	r = xfer_fd(m->fd, q, s1, NULL, d, dn, rp, NULL, 0, kfd, m->groups);
	unlock(&m->lock);
	return r;
}

static int c_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out)
{
	int64_t r;
	int kfd;
	REQ(SH_OPEN);

	q.a[0] = flags;
	q.a[1] = mode;
	r = call_fd(M, &q, path, NULL, 0, &rp, &kfd);
	return opened(M, r, &rp, kfd, flags, out);
}

static int c_open_handle(void *priv, const void *handle, size_t len, int hkfd, int flags,
			 struct defuse_open *out)
{
	int64_t r;
	int kfd;
	REQ(SH_OPEN_HANDLE);

	(void)hkfd;	/* the server has no use for our descriptors */
	q.a[0] = flags;
	r = call_fd(M, &q, NULL, handle, len, &rp, &kfd);
	return opened(M, r, &rp, kfd, flags, out);
}

static void c_release(void *priv, uint64_t fh)
{
	struct cmount *m = M;
	REQ(SH_RELEASE);

	q.fh = fh;
	lock(&m->lock);
	for (size_t i = 0; i < m->nheld; i++)
		if (m->held[i] == fh) {
			m->held[i] = m->held[--m->nheld];
			break;
		}
	xfer(m->fd, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
	unlock(&m->lock);
}

static int c_flush(void *priv, uint64_t fh)
{
	REQ(SH_FLUSH);
	q.fh = fh;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

/* Reads and writes go in pieces of SH_CHUNK; a short piece ends them, as
   the module's own short count would. */
static ssize_t c_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	size_t done = 0;

	while (done < size) {
		size_t n = size - done > SH_CHUNK ? SH_CHUNK : size - done;
		int64_t r;
		REQ(SH_READ);

		q.fh = fh;
		q.a[0] = (int64_t)n;
		q.a[1] = off + (off_t)done;
		r = call(M, &q, NULL, NULL, NULL, 0, &rp, (char *)buf + done, n);
		if (r < 0)
			return done ? (ssize_t)done : (ssize_t)r;
		done += (size_t)r;
		if ((size_t)r < n)
			break;
	}
	return (ssize_t)done;
}

static ssize_t c_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	size_t done = 0;

	do {
		size_t n = size - done > SH_CHUNK ? SH_CHUNK : size - done;
		int64_t r;
		REQ(SH_WRITE);

		q.fh = fh;
		q.a[0] = off + (off_t)done;
		r = call(M, &q, NULL, NULL, (const char *)buf + done, n, &rp, NULL, 0);
		if (r < 0)
			return done ? (ssize_t)done : (ssize_t)r;
		done += (size_t)r;
		if ((size_t)r < n)
			break;
	} while (done < size);
	return (ssize_t)done;
}

/* One piece only: an append is one atomic step of the module's, and
   cutting it would let another process's append fall between the pieces. */
static ssize_t c_append(void *priv, uint64_t fh, const void *buf, size_t size, off_t *end)
{
	int64_t r;
	REQ(SH_APPEND);

	q.fh = fh;
	r = call(M, &q, NULL, NULL, buf, size > SH_CHUNK ? SH_CHUNK : size, &rp, NULL, 0);
	if (r >= 0)
		*end = (off_t)rp.v[0];
	return (ssize_t)r;
}

static int c_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	REQ(SH_FGETATTR);
	q.fh = fh;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, st, sizeof(*st));
}

static int c_ftruncate(void *priv, uint64_t fh, off_t size)
{
	REQ(SH_FTRUNCATE);
	q.fh = fh;
	q.a[0] = size;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_fchmod(void *priv, uint64_t fh, mode_t mode)
{
	REQ(SH_FCHMOD);
	q.fh = fh;
	q.a[0] = mode;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid)
{
	REQ(SH_FCHOWN);
	q.fh = fh;
	q.a[0] = uid;
	q.a[1] = gid;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_futimens(void *priv, uint64_t fh, const struct timespec times[2])
{
	REQ(SH_FUTIMENS);
	q.fh = fh;
	return (int)call(M, &q, NULL, NULL, times, times ? 2 * sizeof(times[0]) : 0, &rp, NULL,
			 0);
}

static int c_flink(void *priv, uint64_t fh, const char *newpath)
{
	REQ(SH_FLINK);
	q.fh = fh;
	return (int)call(M, &q, newpath, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_fsync(void *priv, uint64_t fh, int datasync)
{
	REQ(SH_FSYNC);
	q.fh = fh;
	q.a[0] = datasync;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

static int c_fallocate(void *priv, uint64_t fh, int mode, off_t off, off_t len)
{
	REQ(SH_FALLOCATE);
	q.fh = fh;
	q.a[0] = mode;
	q.a[1] = off;
	q.a[2] = len;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

static long c_ioctl(void *priv, uint64_t fh, unsigned int cmd, unsigned long arg, void *data,
		    size_t size)
{
	REQ(SH_IOCTL);
	q.fh = fh;
	q.a[0] = cmd;
	q.a[1] = (int64_t)arg;
	return (long)call(M, &q, NULL, NULL, data, size, &rp, data, size);
}

static off_t c_seek_data(void *priv, uint64_t fh, off_t off, int whence)
{
	REQ(SH_SEEK_DATA);
	q.fh = fh;
	q.a[0] = off;
	q.a[1] = whence;
	return (off_t)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

/* The server lists as many entries as fit a reply; they are handed to fill
   here until it is full, and the listing goes on from the last one taken. */
static int c_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	struct cmount *m = M;
	char name[NAME_MAX + 1];

	for (;;) {
		int64_t r;
		size_t at = 0;
		int more;
		REQ(SH_READDIR);

		q.fh = fh;
		q.a[0] = pos;
		lock(&m->lock);
		caller(m, &q);
		r = xfer_fd(m->fd, &q, NULL, NULL, NULL, 0, &rp, m->rbuf, SH_CHUNK, NULL, m->groups);
		more = r >= 0 && rp.v[0];
		while (r >= 0 && at + sizeof(struct sh_dirent) <= rp.n) {
			struct sh_dirent de;

			memcpy(&de, m->rbuf + at, sizeof(de));
			if (de.namelen > NAME_MAX || at + sizeof(de) + de.namelen > rp.n)
				break;
			memcpy(name, m->rbuf + at + sizeof(de), de.namelen);
			name[de.namelen] = 0;
			if (fill(ctx, name, de.ino, de.type, de.next) == 1) {
				more = 0;
				break;
			}
			pos = de.next;
			at += (sizeof(de) + de.namelen + 7) & ~(size_t)7;
		}
		unlock(&m->lock);
		if (r < 0 || !more)
			return (int)(r < 0 ? r : 0);
	}
}

/* Locks are the server's: they need no lock operation of the module's. */
static int c_getlk(void *priv, uint64_t fh, uint64_t owner, struct flock *fl)
{
	REQ(SH_GETLK);
	q.fh = fh;
	q.a[0] = (int64_t)owner;
	return (int)call(M, &q, NULL, NULL, fl, sizeof(*fl), &rp, fl, sizeof(*fl));
}

static int c_setlk(void *priv, uint64_t fh, uint64_t owner, const struct flock *fl, int wait)
{
	REQ(SH_SETLK);
	(void)wait;	/* the in-process host never asks to wait */
	q.fh = fh;
	q.a[0] = (int64_t)owner;
	return (int)call(M, &q, NULL, NULL, fl, sizeof(*fl), &rp, NULL, 0);
}

static int c_flock(void *priv, uint64_t fh, uint64_t owner, int op)
{
	REQ(SH_FLOCK);
	q.fh = fh;
	q.a[0] = (int64_t)owner;
	q.a[1] = op;
	return (int)call(M, &q, NULL, NULL, NULL, 0, &rp, NULL, 0);
}

static ssize_t c_file_handle(void *priv, uint64_t fh, void *buf, size_t size)
{
	REQ(SH_FILE_HANDLE);
	q.fh = fh;
	return (ssize_t)call(M, &q, NULL, NULL, NULL, 0, &rp, buf, size);
}

static int c_fh_path(void *priv, uint64_t fh, char *buf, size_t size)
{
	int64_t r;
	REQ(SH_FH_PATH);

	q.fh = fh;
	r = call(M, &q, NULL, NULL, NULL, 0, &rp, buf, size);
	if (r == 0 && (rp.n == 0 || rp.n > size || buf[rp.n - 1]))
		return -EIO;
	return (int)r;
}

/* ---- life --------------------------------------------------------------- */

/* Connects to the mount's server; the connection's fd, or -errno.  Only a
   server of the user it should run as (m->server_uid: ours, or root's) is
   spoken to. */
static int dial(const struct cmount *m)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), e;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&m->sa, m->salen) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    cred.uid != m->server_uid) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

/*
 * The first request on connection fd: the session key (which admits a
 * process of another user to a root server of its tree, server.c), and
 * the server's answer in *rp.  0, or -errno (-EPIPE and the like when the
 * server turned us away).
 */
static int64_t hello(const struct cmount *m, int fd, struct sh_rep *rp)
{
	struct sh_req q = { .op = SH_HELLO };

	return xfer(fd, &q, NULL, NULL, m->key, m->key_len, rp, NULL, 0);
}

/* The tree's session key from DEFUSE_SESSION (set by `defuse run`), if
   it is one: SH_KEY_LEN bytes as hex digits. */
static void session_key(struct cmount *m)
{
	const char *hex = getenv("DEFUSE_SESSION");

	m->key_len = 0;
	if (!hex || strlen(hex) != 2 * SH_KEY_LEN)
		return;
	for (size_t i = 0; i < SH_KEY_LEN; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return;
		m->key[i] = (unsigned char)v;
	}
	m->key_len = SH_KEY_LEN;
}

/* m's address for the server of user uid: "defuse-shared.UID.HASH". */
static void set_name(struct cmount *m, uid_t uid, uint64_t hash, char *name, size_t size)
{
	snprintf(name, size, "defuse-shared.%u.%016llx", (unsigned)uid, (unsigned long long)hash);
	memset(&m->sa, 0, sizeof(m->sa));
	m->sa.sun_family = AF_UNIX;
	memcpy(m->sa.sun_path + 1, name, strlen(name));
	m->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	m->server_uid = uid;
}

static void *held_map(void)
{
	void *p = mmap(NULL, HELD_MAX * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * A forked child: its own connection, and the server told which open files
 * it holds too (parent and child share them; each releases them).  The
 * parent's connection, inherited, is closed only then, so the server's
 * count of clients never falls to zero while the child lives, even when
 * the parent has already exited.  Raw system calls only (module.h: no
 * allocation, no libc locks here).
 */
static void c_after_fork_child(void *priv)
{
	struct cmount *m = M;
	int old = m->fd, fd;

	m->lock = 0;
	fd = dial(m);
	/* A child of a process that is not the server's user (it joined a
	   root server with the tree's key) must say the key again. */
	if (fd >= 0 && geteuid() != m->server_uid) {
		struct sh_rep rp;

		if (hello(m, fd, &rp) < 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0) {
		size_t i = 0;

		do {
			size_t n = m->nheld - i > SH_CHUNK / 8 ? SH_CHUNK / 8 : m->nheld - i;
			REQ(SH_ADOPT);

			if (xfer(fd, &q, NULL, NULL, m->held + i, n * 8, &rp, NULL, 0) < 0) {
				close(fd);
				fd = -1;
				break;
			}
			i += n;
		} while (i < m->nheld);
	}
	if (fd >= 0 && defuse_keep_fd)
		fd = defuse_keep_fd(fd);
	if (old >= 0) {
		if (!defuse_close_kept || defuse_close_kept(old) < 0)
			close(old);
	}
	m->fd = fd < 0 ? -1 : fd;	/* no server: every call EIO */
}

/* Where the server program is: beside this module. */
static int server_path(char *buf, size_t size)
{
	Dl_info di;
	const char *slash;

	if (!dladdr((void *)server_path, &di) || !di.dli_fname ||
	    !(slash = strrchr(di.dli_fname, '/')))
		return -1;
	return snprintf(buf, size, "%.*s/defuse-shared-server", (int)(slash - di.dli_fname),
			di.dli_fname) < (int)size ? 0 : -1;
}

/* libdefuse.so's path, where the server finds modules by name as the
   core does; outside the in-process host, this program's own. */
static int self_path(char *buf, size_t size)
{
	Dl_info di;
	ssize_t n;

	if (defuse_keep_fd && dladdr((void *)defuse_keep_fd, &di) && di.dli_fname &&
	    strlen(di.dli_fname) < size) {
		strcpy(buf, di.dli_fname);
		return 0;
	}
	n = readlink("/proc/self/exe", buf, size - 1);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* The environment for the server: the program's, without what would load
   DEFUSE into it or give it the program's mounts. */
static char **server_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];

		if (!strncmp(e, "LD_PRELOAD=", 11))
			continue;
		if (!strncmp(e, "DEFUSE_", 7) && strncmp(e, "DEFUSE_MODULE_PATH=", 19) &&
		    strncmp(e, "DEFUSE_FUSE_PATH=", 17) && strncmp(e, "DEFUSE_FUSE_LOCKDIR=", 20) &&
		    strncmp(e, "DEFUSE_DEBUG=", 13))
			continue;
		env[k++] = (char *)e;
	}
	return env;
}

/*
 * Starts a server: 0 (started, or another one has the name: connect to
 * it), or -errno with the reason in why.  The server forks once and its
 * first process exits at once, so the program never has it as a child.
 */
static int spawn(const char *name, const char *point, const char *spec, char *why,
		 size_t why_len)
{
	char prog[PATH_MAX], self[PATH_MAX], fdarg[16], msg[1024];
	char *argv[7];
	char **env;
	int p[2], st, r;
	size_t got = 0;
	pid_t pid;

	if (server_path(prog, sizeof(prog)) < 0 || access(prog, X_OK) < 0) {
		snprintf(why, why_len, "shared: cannot find defuse-shared-server beside the module");
		return -ENOENT;
	}
	if (self_path(self, sizeof(self)) < 0)
		self[0] = 0;
	if (pipe2(p, 0) < 0) {
		snprintf(why, why_len, "shared: pipe: %s", strerror(errno));
		return -errno;
	}
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
	argv[0] = prog;
	argv[1] = fdarg;
	argv[2] = (char *)name;
	argv[3] = self;
	argv[4] = (char *)point;
	argv[5] = (char *)spec;
	argv[6] = NULL;
	env = server_env();
	r = env ? posix_spawn(&pid, prog, NULL, NULL, argv, env) : ENOMEM;
	free(env);
	close(p[1]);
	if (r) {
		close(p[0]);
		snprintf(why, why_len, "shared: cannot start %s: %s", prog, strerror(r));
		return -r;
	}
	for (;;) {
		ssize_t n = read(p[0], msg + got, sizeof(msg) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	msg[got] = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!strcmp(msg, "OK") || !strcmp(msg, "B"))
		return 0;
	if (!strncmp(msg, "E ", 2)) {
		snprintf(why, why_len, "%s", msg + 2);
		return -EIO;
	}
	snprintf(why, why_len, "shared: the server for '%s' ended as it started", spec);
	return -EIO;
}

/* The mount point of the mount whose ARGS are args (DEFUSE_MOUNTS: one
   POINT=MODULE:ARGS per line), or NULL.  The mount is POINT=shared:args,
   or POINT=args when args's module asked the host for one instance
   (DEFUSE_CAP_ONE_INSTANCE), which then started this one with them. */
static char *find_point(const char *args)
{
	const char *m = getenv("DEFUSE_MOUNTS");
	size_t alen = strlen(args);

	while (m && *m) {
		size_t len = strcspn(m, "\n");
		const char *eq = memchr(m, '=', len), *colon;

		if (eq && (colon = memchr(eq, ':', len - (size_t)(eq - m))) &&
		    (((size_t)(m + len - colon - 1) == alen && !strncmp(colon + 1, args, alen)) ||
		     ((size_t)(m + len - eq - 1) == alen && !strncmp(eq + 1, args, alen))))
			return strndup(m, (size_t)(eq - m));
		m += len + (m[len] == '\n');
	}
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Every operation the client can forward, and the live table: only those
   the wrapped module has (a NULL one is answered by the host as for any
   module without it).  One table for all shared mounts of the process
   (the core takes it before init): the union of their modules'; a mount
   asked for what its module lacks answers ENOSYS. */
static const struct defuse_ops full;
static struct defuse_ops live;

static void live_add(uint64_t mask)
{
	size_t nslots = sizeof(struct defuse_ops) / sizeof(void (*)(void));

	for (size_t i = 0; i < nslots; i++) {
		void (*fn)(void);

		if (!(mask & (1ULL << i)))
			continue;
		memcpy(&fn, (const char *)&full + i * sizeof(fn), sizeof(fn));
		if (fn)
			memcpy((char *)&live + i * sizeof(fn), &fn, sizeof(fn));
	}
	/* A module with kernel files behind its own (lock_fd) reopens a
	   handle through the descriptor the host lends (passthrough): the
	   server has none to lend, so such files are reopened by path (the
	   host checks it found the same file). */
	if (mask & (1ULL << SH_SLOT(lock_fd))) {
		live.file_handle = NULL;
		live.open_handle = NULL;
	}
	/* Appends are the server's when the module has none: at the size,
	   one at a time for every process. */
	if ((mask & (1ULL << SH_SLOT(write))) && (mask & (1ULL << SH_SLOT(fgetattr))))
		live.append = full.append;
	/* Locks are the server's own, for any module that opens files. */
	if (mask & (1ULL << SH_SLOT(open))) {
		live.getlk = full.getlk;
		live.setlk = full.setlk;
		live.flock = full.flock;
	}
}

/*
 * Connects to m's server and greets it: 1 when m has its connection now
 * (set aside), 0 when there is none to have (*err: dial's -errno, or 0
 * when the server did not answer), -errno on failure (why says it).
 */
static int attach(struct cmount *m, struct defuse_conn *conn, int *err, char *why,
		  size_t why_len)
{
	struct sh_rep rp;
	int fd = dial(m);

	*err = fd < 0 ? fd : 0;
	if (fd < 0)
		return 0;
	if (hello(m, fd, &rp) < 0) {
		close(fd);
		return 0;
	}
	if (rp.v[1])
		conn->want |= DEFUSE_CAP_READONLY;
	if (rp.v[2])
		conn->want |= DEFUSE_CAP_PERMISSIONS;
	live_add((uint64_t)rp.v[0]);
	m->fd = defuse_keep_fd ? defuse_keep_fd(fd) : fd;
	if (m->fd < 0) {
		close(fd);
		snprintf(why, why_len, "shared: no descriptor for the connection");
		return -EMFILE;
	}
	return 1;
}

static int c_init(const char *args, struct defuse_conn *conn, void **privp, char *why,
		  size_t why_len)
{
	struct cmount *m;
	char *point = find_point(args), *real, name[100];
	long waited = 0;
	int r = 0, spawned = 0, err;
	uint64_t hash;

	if (!*args) {
		snprintf(why, why_len, "shared: expected shared:MODULE[:ARGS]");
		free(point);
		return -EINVAL;
	}
	if (!point) {
		snprintf(why, why_len, "shared: cannot find this mount in DEFUSE_MOUNTS");
		return -EINVAL;
	}
	real = realpath(point, NULL);
	hash = sh_hash(real ? real : point, args);
	free(real);
	m = calloc(1, sizeof(*m));
	if (!m || !(m->held = held_map()) || !(m->rbuf = malloc(SH_CHUNK)) ||
	    !(m->groups = malloc(SH_GROUPS_MAX * sizeof(gid_t)))) {
		snprintf(why, why_len, "shared: out of memory");
		r = -ENOMEM;
		goto fail;
	}
	session_key(m);
	/* A process of another user in a tree that runs as root (a program
	   exec'd by su or setpriv): the tree's root server, when there is
	   one and it takes our key, is this mount's, as one kernel mount
	   serves every user; a server of its own would be a second instance
	   (two fuse2fs writing one image).  Else, or without a key, a server
	   of our own user. */
	if (getuid() != 0 && m->key_len) {
		set_name(m, 0, hash, name, sizeof(name));
		if ((r = attach(m, conn, &err, why, why_len)) != 0)
			goto done;
	}
	set_name(m, getuid(), hash, name, sizeof(name));
	/* Connect to the server, or start one and connect: a server that is
	   ending (its destroy writing back) keeps its name until it is done,
	   so this waits for it rather than starting a second instance. */
	for (;;) {
		if ((r = attach(m, conn, &err, why, why_len)) != 0)
			goto done;
		if (err == -EACCES) {
			snprintf(why, why_len, "shared: the server's name %s is another user's", name);
			r = -EACCES;
			goto fail;
		}
		if (waited >= START_WAIT_MS) {
			snprintf(why, why_len, "shared: the server for '%s' does not answer", args);
			r = -ETIMEDOUT;
			goto fail;
		}
		if (err == -ECONNREFUSED || err == -ENOENT || spawned > 100) {
			r = spawn(name, point, args, why, why_len);
			if (r < 0)
				goto fail;
			spawned++;
		}
		sleep_ms(20);
		waited += 20;
	}
done:
	if (r > 0) {
		*privp = m;
		free(point);
		return 0;
	}
fail:
	if (m) {
		if (m->held)
			munmap(m->held, HELD_MAX * sizeof(uint64_t));
		free(m->rbuf);
		free(m->groups);
		free(m);
	}
	free(point);
	return r;
}

/*
 * Closing is what tells the server this process is done.  Waits for it to
 * have let go of us, and when we were its last client for the module's
 * destroy too, so that `defuse run ...; e2fsck IMG` finds the image
 * written back: the server gets a pipe's write end (BYE) and closes it
 * then.  Not shutdown(): a child forked a moment ago may still share this
 * connection, until its after_fork_child has made its own.  Bounded: a
 * server stuck in destroy does not keep the program from ending.  Under
 * the lock: another thread of an ending process may be in a call, whose
 * reply comes first; after it every call is EIO.  System calls only (see
 * c_process_end).
 */
static void leave(struct cmount *m)
{
	int p[2] = { -1, -1 };
	ssize_t n = 0;

	lock(&m->lock);
	if (m->fd >= 0 && pipe2(p, O_CLOEXEC) == 0) {
		struct sh_req q = { .op = SH_BYE };
		struct iovec iov = { &q, sizeof(q) };
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct msghdr mh;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		sh_pass_fd(&mh, cbuf, p[1]);
		n = sendmsg(m->fd, &mh, MSG_NOSIGNAL);
		close(p[1]);
	}
	if (m->fd >= 0 && (!defuse_close_kept || defuse_close_kept(m->fd) < 0))
		close(m->fd);
	m->fd = -1;
	unlock(&m->lock);
	if (p[0] >= 0) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		char c;

		while (n > 0) {
			int r = poll(&pf, 1, 60000);

			if (r < 0 && errno == EINTR)
				continue;
			if (r != 1 || read(p[0], &c, 1) <= 0)
				break;
		}
		close(p[0]);
	}
}

/* Every end of the process, not only exit(3), which alone calls destroy:
   a shell (dash) ends with _exit, and when it is the run's program and the
   server's last client, the run must not return before destroy. */
static void c_process_end(void *priv)
{
	leave(M);
}

static void c_destroy(void *priv)
{
	struct cmount *m = M;

	leave(m);	/* process_end did, unless another host calls */
	munmap(m->held, HELD_MAX * sizeof(uint64_t));
	free(m->rbuf);
	free(m->groups);
	free(m);
}

static const struct defuse_ops full = {
	.init = c_init,
	.destroy = c_destroy,
	.after_fork_child = c_after_fork_child,
	.process_end = c_process_end,
	.getattr = c_getattr,
	.statx = c_statx,
	.access = c_access,
	.readlink = c_readlink,
	.statfs = c_statfs,
	.mknod = c_mknod,
	.mkdir = c_mkdir,
	.unlink = c_unlink,
	.rmdir = c_rmdir,
	.symlink = c_symlink,
	.rename = c_rename,
	.link = c_link,
	.chmod = c_chmod,
	.chown = c_chown,
	.truncate = c_truncate,
	.utimens = c_utimens,
	.getxattr = c_getxattr,
	.setxattr = c_setxattr,
	.listxattr = c_listxattr,
	.removexattr = c_removexattr,
	.open = c_open,
	.release = c_release,
	.flush = c_flush,
	.read = c_read,
	.write = c_write,
	.append = c_append,
	.fgetattr = c_fgetattr,
	.ftruncate = c_ftruncate,
	.fchmod = c_fchmod,
	.fchown = c_fchown,
	.futimens = c_futimens,
	.flink = c_flink,
	.fsync = c_fsync,
	.fallocate = c_fallocate,
	.ioctl = c_ioctl,
	.seek_data = c_seek_data,
	.readdir = c_readdir,
	.getlk = c_getlk,
	.setlk = c_setlk,
	.flock = c_flock,
	.file_handle = c_file_handle,
	.open_handle = c_open_handle,
	.fh_path = c_fh_path,
};

/* Until the first init: life cycle only (init fills in the rest). */
static struct defuse_ops live = {
	.init = c_init,
	.destroy = c_destroy,
	.after_fork_child = c_after_fork_child,
	.process_end = c_process_end,
};

__attribute__((visibility("default"))) const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "shared",
	.description = "one instance of MODULE for every process of the tree, in a server "
		       "process: MODULE[:ARGS]",
	.flags = 0,
	.ops = &live,
};
