/*
 * Local locks, for file systems without lock or flock.  Through FUSE the
 * kernel then keeps record and flock locks itself, per inode, for every
 * process using the mount.  In process, each program has its own instance,
 * so the locks must live where all of them meet: the kernel, on a "carrier"
 * file per locked file, in a directory of the user's own
 * ($DEFUSE_FUSE_LOCKDIR, else /dev/shm/defuse-fuse-locks.UID), named by the
 * mount's command line and the file's inode number.  Each open file takes
 * its own descriptor of the carrier at its first lock, so the kernel's
 * rules apply as they are: record locks belong to the process (F_SETLK),
 * OFD locks (l_pid -1 from the host) and flock locks to the open file.
 * Carriers are empty files and stay (removing one while another process
 * may be opening it would split its locks).
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

/* The carrier's descriptor for h, opened at its first lock; -errno. */
static int carrier(struct fc_inst *in, struct fc_file *h, uint64_t key)
{
	char name[PATH_MAX];
	int fd;

	if (h->lock_fd >= 0)
		return h->lock_fd;
	if (!in->lock_dir[0])
		return -ENOLCK;
	snprintf(name, sizeof(name), "%s/%016llx-%016llx", in->lock_dir,
		 (unsigned long long)in->key, (unsigned long long)key);
	fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno == ENOENT || errno == EACCES ? -ENOLCK : -errno;
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

int fc_local_setlk(struct fc_inst *in, struct fc_file *h, uint64_t key,
		   const struct flock *lock, int wait)
{
	int fd = carrier(in, h, key);
	struct flock l = *lock;
	int ofd = l.l_pid == -1;

	if (fd < 0)
		return fd;
	if (ofd)
		l.l_pid = 0;
	if (fcntl(fd, ofd ? (wait ? F_OFD_SETLKW : F_OFD_SETLK) : (wait ? F_SETLKW : F_SETLK),
		  &l) < 0)
		return errno == EACCES ? -EAGAIN : -errno;
	return 0;
}

int fc_local_flock(struct fc_inst *in, struct fc_file *h, uint64_t key, int op)
{
	int fd = carrier(in, h, key);

	if (fd < 0)
		return fd;
	return flock(fd, op) < 0 ? -errno : 0;
}

/* Where carriers go; the directory must be the user's own. */
FC_HIDDEN void fc_lock_dir(struct fc_inst *in)
{
	const char *env = getenv("DEFUSE_FUSE_LOCKDIR");
	struct stat st;

	if (env && *env)
		snprintf(in->lock_dir, sizeof(in->lock_dir), "%s", env);
	else
		snprintf(in->lock_dir, sizeof(in->lock_dir), "/dev/shm/defuse-fuse-locks.%u",
			 (unsigned)getuid());
	if (mkdir(in->lock_dir, 0700) && errno != EEXIST)
		in->lock_dir[0] = 0;
	else if (lstat(in->lock_dir, &st) || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
		 (st.st_mode & 022))
		in->lock_dir[0] = 0;
}

/*
 * A FIFO: the kernel opens a FIFO on a FUSE mount as a pipe of its own,
 * never asking the file system.  Here every process must meet the others
 * at it, so it is a carrier FIFO beside the lock carriers, opened with the
 * program's flags (blocking and ENXIO as the kernel's), and handed to the
 * host as a kernel descriptor; its mode and owner are the file system's.
 */
int fc_fifo_open(struct fc_inst *in, uint64_t ino, const struct stat *st, int flags)
{
	char name[PATH_MAX];
	int fd;

	if (!in->lock_dir[0])
		return -ENXIO;
	snprintf(name, sizeof(name), "%s/%016llx-%016llx.fifo", in->lock_dir,
		 (unsigned long long)in->key, (unsigned long long)ino);
	if (mkfifo(name, 0600) && errno != EEXIST)
		return -errno;
	/* (the directory is the user's own, 0700: nothing else can be there) */
	fd = open(name, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_DIRECTORY | O_NOFOLLOW));
	if (fd < 0)
		return -errno;
	/* best effort (fstat shows the carrier): its mode and owner */
	if (!fchmod(fd, st->st_mode & 07777))
		fchown(fd, st->st_uid, st->st_gid);
	return fd;
}
