/*
 * Locks.  NFSv3's lock protocol (NLM) is a service of its own that libnfs
 * does not speak, so the module does what the kernel client does with
 * `-o nolock`: locks are kept on this machine only, among the processes
 * that use the export through the module, and enforced by the kernel.
 *
 * Each NFS file gets a local lock file, named after the server, the export
 * and the file's handle, in lockdir= (/dev/shm/defuse-nfs-locks by
 * default, shared by all users: mode 1777, files 0666).  lock_fd hands the
 * host a descriptor of it per open file, opened with the open file's
 * access mode, and the host takes the program's record, OFD and flock
 * locks there (module.h, lock_fd): between threads and processes, released
 * on close and at exit, waiting and EDEADLK as the kernel does them.  A
 * second lock file per NFS file (".append") orders O_APPEND writes among
 * this machine's processes (file.c).
 *
 * The lock files stay: removing one while another process holds or is
 * about to take a lock on it would split the file's locks in two.  They
 * are empty, one per NFS file ever opened here.  Directories get no lock_fd
 * (module.h: the host finds an open directory's place by its lock
 * descriptor); flock on one is taken here on its lock file (op_flock),
 * record locks on one are ENOLCK.  locks=none turns them all off.
 */
#include "nfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* FNV-1a of the server and export: which NFS file system a handle is of. */
static uint64_t fs_key(const struct nfsmod *m)
{
	uint64_t h = 14695981039346656037ULL;

	for (const char *p = m->o.server; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *p = m->o.export; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

int lockfile_path(struct nfsmod *m, const struct nfile *f, const char *suffix, char *path,
		  size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n, sl = strlen(suffix);
	int k;

	k = snprintf(path, size, "%s/%016llx-", m->o.lockdir, (unsigned long long)fs_key(m));
	if (k < 0 || (size_t)k + 2 * f->fh.len + sl + 1 > size)
		return -ENAMETOOLONG;
	/* the handle in hex: a table, not snprintf per byte (every open
	   comes here) */
	n = (size_t)k;
	for (uint32_t i = 0; i < f->fh.len; i++) {
		path[n++] = hex[f->fh.data[i] >> 4];
		path[n++] = hex[f->fh.data[i] & 15];
	}
	memcpy(path + n, suffix, sl + 1);
	return 0;
}

void lockdir_make(struct nfsmod *m)
{
	if (mkdir(m->o.lockdir, 01777) == 0)
		chmod(m->o.lockdir, 01777);	/* not the caller's umask */
}

int lockfile_open(struct nfsmod *m, const struct nfile *f, const char *suffix)
{
	char path[PATH_MAX];
	int fd, acc, kept;

	if (lockfile_path(m, f, suffix, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	acc = suffix[0] ? O_RDWR : (f->flags & O_ACCMODE);
	/* most opens find it there: one system call */
	fd = open(path, acc | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, acc | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (fd < 0 && errno == ENOENT) {
			/* the directory went (a reboot of /dev/shm, a test's
			   cleanup) */
			lockdir_make(m);
			fd = open(path, acc | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
		}
		/* 0666 whatever the creator's umask; fails harmlessly for a
		   file of another user's, which its creator made so */
		if (fd >= 0)
			fchmod(fd, 0666);
	}
	if (fd < 0)
		return -errno;
	if (defuse_keep_fd && (kept = defuse_keep_fd(fd)) >= 0)
		fd = kept;
	return fd;
}

void lockfile_close(int fd)
{
	if (defuse_close_kept && defuse_close_kept(fd) == 0)
		return;
	close(fd);
}

int op_lock_fd(void *priv, uint64_t fh)
{
	struct nfsmod *m = priv;
	struct nfile *f = (struct nfile *)(uintptr_t)fh;
	int fd;

	if (m->o.nolock || f->dir)
		return -ENOLCK;
	nfs_lock(m);
	if (f->lockfd < 0 && (fd = lockfile_open(m, f, "")) >= 0)
		f->lockfd = fd;
	fd = f->lockfd >= 0 ? f->lockfd : -ENOLCK;
	nfs_unlock(m);
	return fd;
}

/*
 * flock(2) of an open directory: on its lock file, through a descriptor of
 * this open file's own, so the lock is the open file description's (a
 * fork shares the descriptor, and so the lock).  The host asks without
 * waiting and retries.
 */
int op_flock(void *priv, uint64_t fh, uint64_t owner, int op)
{
	struct nfsmod *m = priv;
	struct nfile *f = (struct nfile *)(uintptr_t)fh;
	int fd, r = 0;

	(void)owner;
	if (m->o.nolock || !f->dir)
		return -ENOLCK;
	nfs_lock(m);
	if (f->lockfd < 0 && (fd = lockfile_open(m, f, "")) >= 0)
		f->lockfd = fd;
	fd = f->lockfd;
	nfs_unlock(m);
	if (fd < 0)
		return -ENOLCK;
	{
		int saved = errno;

		if (flock(fd, op | LOCK_NB) < 0)
			r = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
		errno = saved;	/* the program's (module.c) */
	}
	return r;
}
