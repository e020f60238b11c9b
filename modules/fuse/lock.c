/*
 * Local locks, for file systems without lock or flock.  Through FUSE the
 * kernel then keeps record and flock locks itself, per inode, for every
 * process using the mount.  In process, each program has its own instance,
 * so the locks must live where all of them meet: the kernel, on a "carrier"
 * file per locked file, named by the mount's command line and the file's
 * inode number, in one directory for every user ($DEFUSE_FUSE_LOCKDIR,
 * else /dev/shm/defuse-fuse-locks, sticky and open to all as /tmp is).
 * Through FUSE a lock holds against every process using the mount,
 * whoever it runs as, and so here against another user's processes and a
 * process that changed its uid since it started; carriers are 0666 for
 * that.  The trust is /tmp's: another user can make a carrier first, with
 * a mode that keeps the locks of that file from working here (ENOLCK), but
 * cannot take or remove a lock a process holds.  Each open file takes
 * its own descriptor of the carrier at its first lock, so the kernel's
 * rules apply as they are: record locks belong to the process (F_SETLK),
 * OFD locks (l_pid -1 from the host) and flock locks to the open file.
 * Carriers are empty files and stay (removing one while another process
 * may be opening it would split its locks).
 *
 * In process the module waits for a lock itself (DEFUSE_CAP_LOCK_WAIT):
 * for a local lock in the kernel (F_SETLKW, flock), which wakes it at the
 * unlock and says EDEADLK; for a file system's own lock operations by
 * asking again after pauses (module.c, lock_pause).  Either way with the
 * caller's signals free to end the wait (defuse_waiting) and none of the
 * module's locks held (hl.c and ll.c let go of theirs first).
 */
#include "fc.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file in the lock directory, opened read-write and made if missing,
   0666 whatever the umask; -errno. */
int fc_shared_file(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd, tries = 0;

	if (!dir[0])
		return -ENOLCK;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* Most opens find it: one system call.  O_CREAT of a file another
	   user made in a sticky directory fails where fs.protected_regular
	   is set, so it is asked for only when the file is missing (and the
	   plain open tried again if another process made it meanwhile). */
	while ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0 && errno == ENOENT &&
	       tries++ < 2) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (fd >= 0) {
			fchmod(fd, 0666);
			break;
		}
		if (errno != EEXIST)
			break;
	}
	return fd < 0 ? -errno : fd;
}

/* The carrier's descriptor for h, opened at its first lock; -errno. */
static int carrier(struct fc_inst *in, struct fc_file *h, uint64_t key)
{
	char name[64];
	int fd;

	if (h->lock_fd >= 0)
		return h->lock_fd;
	snprintf(name, sizeof(name), "%016llx-%016llx", (unsigned long long)in->key,
		 (unsigned long long)key);
	fd = fc_shared_file(in->lock_dir, name);
	if (fd < 0)
		return fd == -ENOENT || fd == -EACCES ? -ENOLCK : fd;
	if (defuse_keep_fd) {
		int kept = defuse_keep_fd(fd);

		if (kept >= 0)
			fd = kept;
	}
	h->lock_fd = fd;
	return fd;
}

int fc_local_getlk(struct fc_inst *in, struct fc_file *h, uint64_t key, struct flock *lock)
{
	int fd = carrier(in, h, key);
	int ofd = lock->l_pid == -1;

	if (fd < 0)
		return fd;
	if (ofd)
		lock->l_pid = 0;
	if (fcntl(fd, ofd ? F_OFD_GETLK : F_GETLK, lock) < 0)
		return -errno;
	return 0;
}

/* A wait in the kernel, which the caller's signals may end (in process). */
static void waiting(int wait, int on)
{
	if (wait && defuse_waiting)
		defuse_waiting(on);
}

int fc_local_setlk(struct fc_inst *in, struct fc_file *h, uint64_t key,
		   const struct flock *lock, int wait)
{
	int fd = carrier(in, h, key), r;
	struct flock l = *lock;
	int ofd = l.l_pid == -1;

	if (fd < 0)
		return fd;
	if (ofd)
		l.l_pid = 0;
	waiting(wait, 1);
	r = fcntl(fd, ofd ? (wait ? F_OFD_SETLKW : F_OFD_SETLK) : (wait ? F_SETLKW : F_SETLK),
		  &l) < 0 ? -errno : 0;
	waiting(wait, 0);
	return r == -EACCES ? -EAGAIN : r;
}

int fc_local_flock(struct fc_inst *in, struct fc_file *h, uint64_t key, int op)
{
	int fd = carrier(in, h, key), r;

	if (fd < 0)
		return fd;
	waiting(!(op & LOCK_NB), 1);
	r = flock(fd, op) < 0 ? -errno : 0;
	waiting(!(op & LOCK_NB), 0);
	return r;
}

/* Where carriers go: $DEFUSE_FUSE_LOCKDIR as it is, else the directory
   all users share, made sticky and open to all whatever the umask.  One
   that is not a directory, or a shared one that is not sticky (anyone
   could then remove another's carriers) is not used: locks are ENOLCK. */
FC_HIDDEN void fc_lock_dir(struct fc_inst *in)
{
	const char *env = fc_setting("DEFUSE_FUSE_LOCKDIR");
	int shared = !env || !*env;
	struct stat st;

	snprintf(in->lock_dir, sizeof(in->lock_dir), "%s",
		 shared ? "/dev/shm/defuse-fuse-locks" : env);
	if (mkdir(in->lock_dir, shared ? 01777 : 0700) == 0 && shared)
		chmod(in->lock_dir, 01777);
	if (lstat(in->lock_dir, &st) || !S_ISDIR(st.st_mode) ||
	    (shared && (st.st_mode & 01777) != 01777))
		in->lock_dir[0] = 0;
}
