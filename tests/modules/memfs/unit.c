/*
 * memfs through the module API, without DEFUSE: the operations on their
 * own, two mounts of one NAME (two instances, as two processes have),
 * forked processes, locks between owners, and a process killed while
 * holding the segment's lock.  Built with the module's sources so that the
 * last can take the lock directly.  The segment is removed at exit, also
 * after a failure.
 */
#include <defuse/module.h>

#include "../../../modules/memfs/memfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

extern const struct defuse_module defuse_module_v2;
static const struct defuse_ops *O;
static char name[64], shm[128];
static int failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,       \
				__LINE__, #cond);                              \
			failures++;                                            \
		}                                                              \
	} while (0)
#define EQ(a, b)                                                               \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			fprintf(stderr, "%s:%d: FAILED: %s = %lld, want %lld\n", \
				__FILE__, __LINE__, #a, a_, b_);               \
			failures++;                                            \
		}                                                              \
	} while (0)

static void cleanup(void)
{
	unlink(shm);
}

static void *mount_it(const char *args)
{
	struct defuse_conn conn = { .host = DEFUSE_HOST_PROCESS, .capable = DEFUSE_CAP_KERNEL_FD };
	char why[256] = "";
	void *priv = NULL;
	int r = O->init(args, &conn, &priv, why, sizeof why);

	if (r < 0) {
		fprintf(stderr, "init %s: %d %s\n", args, r, why);
		exit(1);
	}
	return priv;
}

static uint64_t open_fh(void *p, const char *path, int flags, mode_t mode)
{
	struct defuse_open o = { 0, -2 };
	int r = O->open(p, path, flags, mode, &o);

	EQ(r, 0);
	EQ(o.kernel_fd, -1);
	return o.fh;
}

static int put(void *p, const char *path, const char *s)
{
	uint64_t fh = open_fh(p, path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	ssize_t r = O->write(p, fh, s, strlen(s), 0);

	O->release(p, fh);
	return (int)r;
}

static ssize_t get(void *p, const char *path, char *buf, size_t size)
{
	uint64_t fh = open_fh(p, path, O_RDONLY, 0);
	ssize_t r = O->read(p, fh, buf, size - 1, 0);

	buf[r > 0 ? r : 0] = 0;
	O->release(p, fh);
	return r;
}

struct list {
	char names[64][32];
	int64_t next[64];
	int n, limit;
};

static int fill(void *ctx, const char *nm, uint64_t ino, unsigned char type, int64_t next)
{
	struct list *l = ctx;

	(void)ino, (void)type;
	if (l->n >= l->limit)
		return 1;
	snprintf(l->names[l->n], 32, "%s", nm);
	l->next[l->n++] = next;
	return 0;
}

static void t_files(void *p)
{
	char buf[8192];
	struct stat st;
	uint64_t fh;

	EQ(O->mkdir(p, "/d", 0755), 0);
	EQ(O->mkdir(p, "/d", 0755), -EEXIST);
	EQ(put(p, "/d/f", "hello"), 5);
	EQ(get(p, "/d/f", buf, sizeof buf), 5);
	CHECK(strcmp(buf, "hello") == 0);
	EQ(O->getattr(p, "/d/nope", &st, 0), -ENOENT);
	EQ(O->getattr(p, "/d/f/x", &st, 0), -ENOTDIR);
	/* A hole reads as zeros and takes no blocks. */
	fh = open_fh(p, "/d/f", O_RDWR, 0);
	EQ(O->write(p, fh, "x", 1, 3 * 4096 + 10), 1);
	EQ(O->fgetattr(p, fh, &st), 0);
	EQ(st.st_size, 3 * 4096 + 11);
	EQ(st.st_blocks, 2 * 8);
	EQ(O->read(p, fh, buf, 4096, 4096), 4096);
	CHECK(buf[0] == 0 && buf[4095] == 0);
	EQ(O->seek_data(p, fh, 100, SEEK_HOLE), 4096);
	EQ(O->seek_data(p, fh, 4096, SEEK_DATA), 3 * 4096);
	/* Shrinking zeroes the tail: growing again shows zeros. */
	EQ(O->ftruncate(p, fh, 2), 0);
	EQ(O->ftruncate(p, fh, 10), 0);
	EQ(O->read(p, fh, buf, 100, 0), 10);
	CHECK(memcmp(buf, "he\0\0\0\0\0\0\0\0", 10) == 0);
	EQ(O->fallocate(p, fh, 0, 0, 3 * 4096), 0);
	EQ(O->fgetattr(p, fh, &st), 0);
	EQ(st.st_size, 3 * 4096);
	EQ(st.st_blocks, 3 * 8);
	EQ(O->fallocate(p, fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), 0);
	EQ(O->fgetattr(p, fh, &st), 0);
	EQ(st.st_blocks, 2 * 8);
	EQ(O->fallocate(p, fh, FALLOC_FL_PUNCH_HOLE, 0, 1), -EOPNOTSUPP);
	off_t end = 0;
	EQ(O->append(p, fh, "END", 3, &end), 3);
	EQ(end, 3 * 4096 + 3);
	O->release(p, fh);
	EQ(O->truncate(p, "/d", 0), -EISDIR);
	EQ(O->unlink(p, "/d"), -EISDIR);
	EQ(O->rmdir(p, "/d"), -ENOTEMPTY);
	EQ(O->rmdir(p, "/d/f"), -ENOTDIR);
	EQ(O->rmdir(p, "/"), -EBUSY);
}

static void t_links(void *p)
{
	char buf[256];
	struct stat st;

	EQ(O->link(p, "/d/f", "/d/g"), 0);
	EQ(O->getattr(p, "/d/f", &st, 0), 0);
	EQ(st.st_nlink, 2);
	EQ(O->link(p, "/d", "/e"), -EPERM);
	EQ(O->link(p, "/d/f", "/d/g"), -EEXIST);
	EQ(O->symlink(p, "d/f", "/s"), 0);
	EQ(O->readlink(p, "/s", buf, sizeof buf), 3);
	EQ(O->readlink(p, "/d/f", buf, sizeof buf), -EINVAL);
	EQ(O->getattr(p, "/s", &st, DEFUSE_NOFOLLOW), 0);
	CHECK(S_ISLNK(st.st_mode));
	EQ(O->getattr(p, "/s", &st, 0), 0);
	CHECK(S_ISREG(st.st_mode));
	EQ(O->symlink(p, "/abs", "/a"), 0);
	EQ(O->getattr(p, "/a", &st, 0), -EXDEV);
	EQ(O->symlink(p, "loop", "/loop"), 0);
	EQ(O->getattr(p, "/loop", &st, 0), -ELOOP);
	EQ(O->unlink(p, "/d/g"), 0);
	EQ(O->getattr(p, "/d/f", &st, 0), 0);
	EQ(st.st_nlink, 1);
}

static void t_rename(void *p)
{
	struct stat st, st2;
	char buf[64];

	EQ(put(p, "/r1", "one"), 3);
	EQ(put(p, "/r2", "two"), 3);
	EQ(O->rename(p, "/r1", "/r2", RENAME_NOREPLACE), -EEXIST);
	EQ(O->rename(p, "/r1", "/r2", RENAME_EXCHANGE), 0);
	EQ(get(p, "/r1", buf, sizeof buf), 3);
	CHECK(strcmp(buf, "two") == 0);
	EQ(O->rename(p, "/r1", "/r2", 0), 0);
	EQ(O->getattr(p, "/r1", &st, 0), -ENOENT);
	EQ(get(p, "/r2", buf, sizeof buf), 3);
	CHECK(strcmp(buf, "two") == 0);
	EQ(O->rename(p, "/r2", "/nope", RENAME_EXCHANGE), -ENOENT);
	EQ(O->mkdir(p, "/m", 0755), 0);
	EQ(O->mkdir(p, "/m/n", 0755), 0);
	EQ(O->rename(p, "/m", "/m/n/x", 0), -EINVAL);
	EQ(O->rename(p, "/r2", "/m", 0), -EISDIR);
	EQ(O->rename(p, "/m", "/r2", 0), -ENOTDIR);
	EQ(O->rename(p, "/m/n", "/d/n", 0), 0);
	EQ(O->getattr(p, "/d", &st, 0), 0);
	EQ(st.st_nlink, 3);
	EQ(O->getattr(p, "/m", &st2, 0), 0);
	EQ(st2.st_nlink, 2);
	EQ(O->rename(p, "/m", "/d/n", 0), 0);	/* over an empty directory */
	EQ(O->getattr(p, "/d", &st, 0), 0);
	EQ(st.st_nlink, 3);
}

static void t_readdir(void *p)
{
	struct list l = { .limit = 64 };
	uint64_t fh;
	char path[32];

	EQ(O->mkdir(p, "/ls", 0755), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(path, sizeof path, "/ls/f%d", i);
		EQ(put(p, path, "x"), 1);
	}
	fh = open_fh(p, "/ls", O_RDONLY | O_DIRECTORY, 0);
	/* Newest first, as tmpfs.  Read 5, then remove one already seen and
	   one not, add one: the rest resumes exactly where it stopped, and
	   the new one (newer than the listing) does not join it. */
	l.limit = 5;
	EQ(O->readdir(p, fh, 0, fill, &l), 0);
	EQ(l.n, 5);
	CHECK(strcmp(l.names[0], ".") == 0 && strcmp(l.names[1], "..") == 0);
	CHECK(strcmp(l.names[2], "f9") == 0 && strcmp(l.names[4], "f7") == 0);
	EQ(O->unlink(p, "/ls/f8"), 0);
	EQ(O->unlink(p, "/ls/f2"), 0);
	EQ(put(p, "/ls/new", "y"), 1);
	int64_t pos = l.next[4];
	l.limit = 64;
	l.n = 0;
	EQ(O->readdir(p, fh, pos, fill, &l), 0);
	EQ(l.n, 6);	/* f6 f5 f4 f3 f1 f0 */
	CHECK(strcmp(l.names[0], "f6") == 0 && strcmp(l.names[5], "f0") == 0);
	EQ(O->readdir(p, fh, l.next[5], fill, &l), 0);
	EQ(l.n, 6);
	/* From the start again: the new one first. */
	l.n = 0;
	EQ(O->readdir(p, fh, 2, fill, &l), 0);
	CHECK(l.n == 9 && strcmp(l.names[0], "new") == 0);
	O->release(p, fh);
}

static void t_attrs(void *p)
{
	struct stat st;
	char buf[64];
	struct timespec ts[2] = { { 1000, 5 }, { 2000, 7 } };

	EQ(O->chmod(p, "/d/f", 04755, 0), 0);
	EQ(O->getattr(p, "/d/f", &st, 0), 0);
	EQ(st.st_mode, S_IFREG | 04755);
	EQ(O->chown(p, "/d/f", 12, 34, 0), 0);
	EQ(O->getattr(p, "/d/f", &st, 0), 0);
	EQ(st.st_uid, 12);
	EQ(st.st_gid, 34);
	EQ(st.st_mode, S_IFREG | 0755);	/* chown drops set-user-ID */
	EQ(O->utimens(p, "/d/f", ts, 0), 0);
	EQ(O->getattr(p, "/d/f", &st, 0), 0);
	EQ(st.st_atim.tv_sec, 1000);
	EQ(st.st_mtim.tv_nsec, 7);
	CHECK(st.st_ctim.tv_sec > 2000);
	EQ(O->chmod(p, "/s", 0700, DEFUSE_NOFOLLOW), -EOPNOTSUPP);
	EQ(O->setxattr(p, "/d/f", "user.a", "va", 2, 0, 0), 0);
	EQ(O->setxattr(p, "/d/f", "user.a", "vb", 2, XATTR_CREATE, 0), -EEXIST);
	EQ(O->setxattr(p, "/d/f", "user.b", "vb", 2, XATTR_REPLACE, 0), -ENODATA);
	EQ(O->setxattr(p, "/d/f", "user.b", "", 0, 0, 0), 0);
	EQ(O->getxattr(p, "/d/f", "user.a", buf, sizeof buf, 0), 2);
	EQ(O->getxattr(p, "/d/f", "user.a", buf, 1, 0), -ERANGE);
	EQ(O->listxattr(p, "/d/f", buf, sizeof buf, 0), 14);
	EQ(O->removexattr(p, "/d/f", "user.a", 0), 0);
	EQ(O->getxattr(p, "/d/f", "user.a", buf, sizeof buf, 0), -ENODATA);
	EQ(O->setxattr(p, "/s", "user.a", "x", 1, 0, DEFUSE_NOFOLLOW), -EPERM);
	EQ(O->setxattr(p, "/d/f", "bogus.a", "x", 1, 0, 0), -EOPNOTSUPP);
	struct statfs sf;
	EQ(O->statfs(p, "/", &sf), 0);
	EQ(sf.f_bsize, 4096);
	CHECK(sf.f_bfree < sf.f_blocks);
}

/* Bytes in use in the segment (a mount's state starts with its memfs). */
static uint64_t used_of(void *p)
{
	return ((struct memfs *)p)->h->used;
}

static void t_unlinked_and_tmpfile(void *p, void *q)
{
	struct stat st;
	char buf[16];
	uint64_t used, fh, fq;

	EQ(put(p, "/gone", "data"), 4);
	used = used_of(p);
	fh = open_fh(p, "/gone", O_RDONLY, 0);
	fq = open_fh(q, "/gone", O_RDONLY, 0);	/* the other "process" */
	EQ(O->unlink(p, "/gone"), 0);
	EQ(O->getattr(q, "/gone", &st, 0), -ENOENT);
	O->release(p, fh);
	EQ(O->read(q, fq, buf, sizeof buf, 0), 4);
	EQ(O->fgetattr(q, fq, &st), 0);
	EQ(st.st_nlink, 0);
	EQ(O->flink(q, fq, "/back"), -ENOENT);
	O->release(q, fq);
	/* All freed: page, inode, name, page table. */
	EQ(used - used_of(p), 4096 + mem_class_size(sizeof(struct mnode)) + 32 + 32);

	fh = open_fh(p, "/d", O_TMPFILE | O_RDWR, 0600);
	EQ(O->write(p, fh, "tmp", 3, 0), 3);
	EQ(O->flink(p, fh, "/d/named"), 0);
	O->release(p, fh);
	EQ(get(q, "/d/named", buf, sizeof buf), 3);
	fh = open_fh(p, "/d", O_TMPFILE | O_RDWR | O_EXCL, 0600);
	EQ(O->flink(p, fh, "/d/named2"), -ENOENT);
	O->release(p, fh);
}

static void t_locks(void *p, void *q)
{
	uint64_t a = open_fh(p, "/d/f", O_RDWR, 0), b = open_fh(q, "/d/f", O_RDWR, 0);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 10,
			    .l_pid = getppid() };

	/* Record locks: owners 1 and 2 (two processes). */
	EQ(O->setlk(p, a, 1, &fl, 0), 0);
	fl.l_pid = getpid();
	fl.l_start = 15;
	fl.l_len = 1;
	EQ(O->setlk(q, b, 2, &fl, 0), -EAGAIN);
	fl.l_type = F_RDLCK;
	EQ(O->getlk(q, b, 2, &fl), 0);
	EQ(fl.l_type, F_WRLCK);
	EQ(fl.l_start, 10);
	EQ(fl.l_len, 10);
	EQ(fl.l_pid, getppid());
	/* Unlock the middle: the owner keeps both ends. */
	fl = (struct flock){ .l_type = F_UNLCK, .l_start = 12, .l_len = 4, .l_pid = getppid() };
	EQ(O->setlk(p, a, 1, &fl, 0), 0);
	fl = (struct flock){ .l_type = F_WRLCK, .l_start = 12, .l_len = 4, .l_pid = getpid() };
	EQ(O->setlk(q, b, 2, &fl, 0), 0);
	fl = (struct flock){ .l_type = F_WRLCK, .l_start = 0, .l_len = 0, .l_pid = getpid() };
	EQ(O->getlk(q, b, 3, &fl), 0);
	EQ(fl.l_start, 10);
	EQ(fl.l_len, 2);
	/* An OFD lock conflicts with another owner's record lock. */
	fl = (struct flock){ .l_type = F_RDLCK, .l_start = 18, .l_len = 1, .l_pid = -1 };
	EQ(O->setlk(q, b, 1, &fl, 0), -EAGAIN);
	fl = (struct flock){ .l_type = F_UNLCK, .l_start = 0, .l_len = 0, .l_pid = getppid() };
	EQ(O->setlk(p, a, 1, &fl, 0), 0);
	fl = (struct flock){ .l_type = F_UNLCK, .l_start = 0, .l_len = 0, .l_pid = getpid() };
	EQ(O->setlk(q, b, 2, &fl, 0), 0);
	/* flock: another space. */
	EQ(O->flock(p, a, 7, LOCK_EX | LOCK_NB), 0);
	EQ(O->flock(q, b, 8, LOCK_SH | LOCK_NB), -EAGAIN);
	EQ(O->flock(p, a, 7, LOCK_UN), 0);
	EQ(O->flock(q, b, 8, LOCK_SH | LOCK_NB), 0);
	EQ(O->flock(p, a, 7, LOCK_SH | LOCK_NB), 0);
	EQ(O->flock(q, b, 8, LOCK_UN), 0);
	EQ(O->flock(p, a, 7, LOCK_UN), 0);

	/* A lock whose holder died is dropped when found in the way. */
	pid_t pid = fork();
	if (pid == 0) {
		O->after_fork_child(p);
		_exit(O->flock(p, a, 99, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	EQ(WEXITSTATUS(status), 0);
	EQ(O->flock(q, b, 8, LOCK_EX | LOCK_NB), 0);
	EQ(O->flock(q, b, 8, LOCK_UN), 0);

	/* A forked child converting the lock of the description it shares
	   with its parent, then exiting, leaves the parent's lock held
	   (conformance flock-inherited-description). */
	EQ(O->flock(p, a, 50, LOCK_EX | LOCK_NB), 0);
	pid = fork();
	if (pid == 0) {
		O->after_fork_child(p);
		_exit(O->flock(p, a, 50, LOCK_SH | LOCK_NB) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	EQ(WEXITSTATUS(status), 0);
	EQ(O->flock(q, b, 8, LOCK_EX | LOCK_NB), -EAGAIN);
	EQ(O->flock(q, b, 8, LOCK_SH | LOCK_NB), 0);
	EQ(O->flock(q, b, 8, LOCK_UN), 0);
	EQ(O->flock(p, a, 50, LOCK_UN), 0);
	O->release(p, a);
	O->release(q, b);
}

/* Answers the conformance suite (tests/conformance, mode memfs) found
   different from tmpfs's, now the kernel's. */
static void t_kernel_answers(void *p)
{
	struct defuse_open o = { 0, -2 };
	struct stat st;
	char target[201];
	uint64_t fh;

	/* mkdir keeps no set-ID bits of its mode */
	EQ(O->mkdir(p, "/k", 0755), 0);
	EQ(O->mkdir(p, "/k/c", 02755), 0);
	EQ(O->mkdir(p, "/k/s", 04755), 0);
	EQ(O->getattr(p, "/k/c", &st, 0), 0);
	EQ(st.st_mode, S_IFDIR | 0755);
	EQ(O->getattr(p, "/k/s", &st, 0), 0);
	EQ(st.st_mode, S_IFDIR | 0755);
	/* mknod: no directories, no unknown types, before the name */
	EQ(O->mknod(p, "/k/d", S_IFDIR | 0755, 0), -EPERM);
	EQ(O->mknod(p, "/k/c", S_IFDIR | 0755, 0), -EPERM);
	EQ(O->mknod(p, "/k/bad", 0170000, 0), -EINVAL);
	EQ(O->getattr(p, "/k/bad", &st, 0), -ENOENT);
	/* chown(-1, -1) of a non-directory drops set-ID bits, even by root */
	EQ(put(p, "/k/f", "x"), 1);
	EQ(O->chmod(p, "/k/f", 02755, 0), 0);
	EQ(O->chown(p, "/k/f", -1, -1, 0), 0);
	EQ(O->getattr(p, "/k/f", &st, 0), 0);
	EQ(st.st_mode, S_IFREG | 0755);
	/* open: O_CREAT|O_DIRECTORY is EINVAL; O_EXCL of the root EEXIST */
	EQ(O->open(p, "/k/new", O_CREAT | O_DIRECTORY | O_RDONLY, 0755, &o), -EINVAL);
	EQ(O->getattr(p, "/k/new", &st, 0), -ENOENT);
	EQ(O->open(p, "/", O_CREAT | O_EXCL | O_RDONLY, 0755, &o), -EEXIST);
	EQ(O->open(p, "/", O_CREAT | O_RDONLY, 0755, &o), -EISDIR);
	/* a symbolic link of 128 bytes or more takes a page, as in tmpfs */
	memset(target, 't', sizeof target - 1);
	target[sizeof target - 1] = 0;
	EQ(O->symlink(p, target, "/k/long"), 0);
	EQ(O->getattr(p, "/k/long", &st, DEFUSE_NOFOLLOW), 0);
	EQ(st.st_blocks, 8);
	target[127] = 0;
	EQ(O->symlink(p, target, "/k/short"), 0);
	EQ(O->getattr(p, "/k/short", &st, DEFUSE_NOFOLLOW), 0);
	EQ(st.st_blocks, 0);
	/* a sparse size far past the segment (16M here) */
	EQ(O->truncate(p, "/k/f", 1LL << 40), 0);
	EQ(O->getattr(p, "/k/f", &st, 0), 0);
	EQ(st.st_size, 1LL << 40);
	EQ(st.st_blocks, 8);
	fh = open_fh(p, "/k/f", O_RDWR, 0);
	EQ(O->seek_data(p, fh, 1LL << 39, SEEK_DATA), -ENXIO);	/* at once, past the table */
	EQ(O->seek_data(p, fh, 1LL << 39, SEEK_HOLE), 1LL << 39);
	EQ(O->seek_data(p, fh, 0, SEEK_HOLE), 4096);
	EQ(O->fallocate(p, fh, 0, 0, 0), -EINVAL);
	EQ(O->fallocate(p, fh, 0, -1, 10), -EINVAL);
	EQ(O->fallocate(p, fh, 0, 1LL << 40, 1LL << 30), -ENOSPC);
	EQ(O->fallocate(p, fh, 0, INT64_MAX - 5, 10), -EFBIG);
	O->release(p, fh);
	EQ(O->truncate(p, "/k/f", 1), 0);
	/* xattr: an empty name in a namespace */
	EQ(O->setxattr(p, "/k/f", "user.", "v", 1, 0, 0), -EINVAL);
	EQ(O->setxattr(p, "/k/f", "trusted.", "v", 1, 0, 0), -EINVAL);
	EQ(O->setxattr(p, "/k/f", "user.n", "v", 1, 0, 0), 0);
}

/* A forked child writes through the shared segment; a process killed
   while holding the segment's lock does not hang the next taker. */
static void t_processes(void *p)
{
	char buf[64];
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		O->after_fork_child(p);
		_exit(put(p, "/from-child", "child wrote") == 11 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	EQ(WEXITSTATUS(status), 0);
	EQ(get(p, "/from-child", buf, sizeof buf), 11);

	pid = fork();
	if (pid == 0) {
		seg_lock((struct memfs *)p);
		kill(getpid(), SIGKILL);
		pause();
	}
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));
	alarm(10);	/* a hang here is the failure */
	EQ(put(p, "/after-kill", "ok"), 2);
	alarm(0);
}

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif

/* statx of memfs against statx of a tmpfs file (the segment's own, on
   /dev/shm) for the same request: the same result mask and attribute
   mask (less MOUNT_ROOT, the host's), /dev/shm's mount ID; a birth time
   kept from creation, seen by another mount, moved by nothing. */
static void t_statx(void *p, void *q)
{
	static const unsigned masks[] = {
		0, STATX_TYPE, STATX_SIZE, STATX_MTIME, STATX_CTIME, STATX_BASIC_STATS,
		STATX_BASIC_STATS | STATX_BTIME, STATX_TYPE | STATX_BTIME,
		STATX_ALL, STATX_MNT_ID, STATX_MNT_ID_UNIQUE, STATX_ALL | STATX_MNT_ID_UNIQUE | 0x8000u,
	};
	struct timespec t0, t1, ts[2] = { { 1000, 5 }, { 2000, 7 } };
	struct statx x, k;
	struct stat st;
	uint64_t fh;

	clock_gettime(CLOCK_REALTIME, &t0);
	EQ(O->mkdir(p, "/sx", 0755), 0);
	EQ(put(p, "/sx/f", "hello"), 5);
	clock_gettime(CLOCK_REALTIME, &t1);
	EQ(O->symlink(p, "f", "/sx/l"), 0);
	for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
		EQ(O->statx(p, "/sx/f", 0, masks[i], &x), 0);
		EQ(statx(AT_FDCWD, shm, 0, masks[i], &k), 0);
		EQ(x.stx_mask, k.stx_mask);
		EQ(x.stx_attributes_mask, k.stx_attributes_mask & ~(uint64_t)STATX_ATTR_MOUNT_ROOT);
		EQ(x.stx_attributes, 0);
		EQ(x.stx_mnt_id, k.stx_mnt_id);
		EQ(x.stx_blksize, 4096);
		if (!(x.stx_mask & STATX_MTIME))
			EQ(x.stx_mtime.tv_sec, 0);
		if (!(x.stx_mask & STATX_BTIME))
			EQ(x.stx_btime.tv_sec, 0);
	}
	EQ(O->statx(p, "/sx/f", 0, STATX_BASIC_STATS | STATX_BTIME, &x), 0);
	EQ(O->getattr(p, "/sx/f", &st, 0), 0);
	CHECK(x.stx_mask & STATX_BTIME);
	EQ(x.stx_ino, st.st_ino);
	EQ(x.stx_size, 5);
	EQ(x.stx_blocks, st.st_blocks);
	EQ(x.stx_mode, S_IFREG | 0644);
	EQ(x.stx_nlink, 1);
	EQ(x.stx_mtime.tv_sec, st.st_mtim.tv_sec);
	EQ(x.stx_mtime.tv_nsec, st.st_mtim.tv_nsec);
	EQ(x.stx_ctime.tv_nsec, st.st_ctim.tv_nsec);
	CHECK(x.stx_btime.tv_sec > t0.tv_sec ||
	      (x.stx_btime.tv_sec == t0.tv_sec && x.stx_btime.tv_nsec >= t0.tv_nsec));
	CHECK(x.stx_btime.tv_sec < t1.tv_sec ||
	      (x.stx_btime.tv_sec == t1.tv_sec && x.stx_btime.tv_nsec <= t1.tv_nsec));
	struct statx_timestamp born = x.stx_btime;

	/* Writes, times, modes, links and renames move other times, never it. */
	fh = open_fh(p, "/sx/f", O_WRONLY | O_APPEND, 0);
	EQ(O->write(p, fh, "more", 4, 5), 4);
	O->release(p, fh);
	EQ(O->utimens(p, "/sx/f", ts, 0), 0);
	EQ(O->chmod(p, "/sx/f", 0600, 0), 0);
	EQ(O->link(p, "/sx/f", "/sx/g"), 0);
	EQ(O->rename(p, "/sx/f", "/sx/h", 0), 0);
	EQ(O->statx(q, "/sx/h", 0, STATX_BTIME | STATX_MTIME, &x), 0);
	EQ(x.stx_btime.tv_sec, born.tv_sec);
	EQ(x.stx_btime.tv_nsec, born.tv_nsec);
	EQ(x.stx_mtime.tv_sec, 2000);
	EQ(x.stx_mtime.tv_nsec, 7);
	EQ(x.stx_size, 9);
	EQ(x.stx_nlink, 2);
	EQ(x.stx_mode, S_IFREG | 0600);

	/* Links followed or not; a directory; errors as getattr's. */
	EQ(O->rename(p, "/sx/h", "/sx/f", 0), 0);
	EQ(O->statx(p, "/sx/l", 0, STATX_BASIC_STATS, &x), 0);
	EQ(x.stx_mode, S_IFREG | 0600);
	EQ(O->statx(p, "/sx/l", DEFUSE_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &x), 0);
	EQ(x.stx_mode, S_IFLNK | 0777);
	EQ(x.stx_size, 1);
	CHECK(x.stx_btime.tv_sec > born.tv_sec ||
	      (x.stx_btime.tv_sec == born.tv_sec && x.stx_btime.tv_nsec > born.tv_nsec));
	EQ(O->statx(p, "/sx", 0, STATX_BASIC_STATS, &x), 0);
	EQ(x.stx_mode, S_IFDIR | 0755);
	EQ(x.stx_size, 5 * 20);
	EQ(x.stx_nlink, 2);
	EQ(O->statx(p, "/sx/none", 0, STATX_BASIC_STATS, &x), -ENOENT);
	EQ(O->statx(p, "/sx/f/x", 0, STATX_BASIC_STATS, &x), -ENOTDIR);
	EQ(O->unlink(p, "/sx/g"), 0);
	EQ(O->unlink(p, "/sx/f"), 0);
	EQ(O->unlink(p, "/sx/l"), 0);
	EQ(O->rmdir(p, "/sx"), 0);
}

/* RENAME_WHITEOUT: a character device 0:0 of mode 0 at the old name, as
   tmpfs leaves; root only (CAP_MKNOD), never with RENAME_EXCHANGE. */
static void t_whiteout(void *p)
{
	char buf[16];
	struct stat st;

	EQ(O->mkdir(p, "/w", 0755), 0);
	EQ(put(p, "/w/a", "A"), 1);
	EQ(O->rename(p, "/w/a", "/w/b", RENAME_WHITEOUT | RENAME_EXCHANGE), -EINVAL);
	EQ(O->rename(p, "/w/a", "/w/b", RENAME_WHITEOUT), 0);
	EQ(O->getattr(p, "/w/a", &st, DEFUSE_NOFOLLOW), 0);
	EQ(st.st_mode, S_IFCHR);
	EQ(st.st_rdev, 0);
	EQ(st.st_nlink, 1);
	EQ(st.st_uid, 0);
	EQ(get(p, "/w/b", buf, sizeof buf), 1);
	/* Over an existing name, with NOREPLACE refused there. */
	EQ(put(p, "/w/x", "X"), 1);
	EQ(O->rename(p, "/w/b", "/w/x", RENAME_WHITEOUT | RENAME_NOREPLACE), -EEXIST);
	EQ(O->rename(p, "/w/b", "/w/x", RENAME_WHITEOUT), 0);
	EQ(O->getattr(p, "/w/b", &st, DEFUSE_NOFOLLOW), 0);
	EQ(st.st_mode, S_IFCHR);
	EQ(get(p, "/w/x", buf, sizeof buf), 1);
	EQ(buf[0], 'A');
	/* A directory: the parent's link count follows the moved one. */
	EQ(O->mkdir(p, "/w/d", 0755), 0);
	EQ(O->mkdir(p, "/w/e", 0755), 0);
	EQ(O->rename(p, "/w/d", "/w/e", RENAME_WHITEOUT), 0);
	EQ(O->getattr(p, "/w", &st, 0), 0);
	EQ(st.st_nlink, 3);
	EQ(st.st_size, 7 * 20);	/* a, b, d whiteouts; x, e */
	EQ(O->getattr(p, "/w/d", &st, DEFUSE_NOFOLLOW), 0);
	EQ(st.st_mode, S_IFCHR);
	EQ(O->getattr(p, "/w/e", &st, 0), 0);
	CHECK(S_ISDIR(st.st_mode));
	/* Not root: EPERM before any lookup. */
	setfsuid(1000);
	EQ(O->rename(p, "/w/none", "/w/f", RENAME_WHITEOUT), -EPERM);
	setfsuid(0);
	EQ(O->rename(p, "/w/none", "/w/f", RENAME_WHITEOUT), -ENOENT);
	const char *names[] = { "/w/a", "/w/b", "/w/d", "/w/x" };
	for (size_t i = 0; i < 4; i++)
		EQ(O->unlink(p, names[i]), 0);
	EQ(O->rmdir(p, "/w/e"), 0);
	EQ(O->rmdir(p, "/w"), 0);
}

int main(void)
{
	void *p, *q;

	O = defuse_module_v2.ops;
	snprintf(name, sizeof name, "unit-%d", (int)getpid());
	snprintf(shm, sizeof shm, "/dev/shm/defuse-memfs.%s", name);
	atexit(cleanup);
	char args[128];
	snprintf(args, sizeof args, "%s,size=16M", name);
	p = mount_it(args);
	q = mount_it(name);	/* size comes from the segment */
	t_files(p);
	t_links(p);
	t_rename(p);
	t_readdir(p);
	t_attrs(p);
	t_unlinked_and_tmpfile(p, q);
	t_locks(p, q);
	t_processes(p);
	t_kernel_answers(p);
	t_statx(p, q);
	if (geteuid() == 0)
		t_whiteout(p);
	char why[512];
	struct defuse_conn conn = { 0 };
	void *x;
	EQ(O->init("../evil", &conn, &x, why, sizeof why), -EINVAL);
	EQ(O->init("ok,size=zz", &conn, &x, why, sizeof why), -EINVAL);
	/* A segment of another layout version is refused, saying so. */
	char vname[80], vshm[160];
	snprintf(vname, sizeof vname, "%s-v", name);
	snprintf(vshm, sizeof vshm, "/dev/shm/defuse-memfs.%s", vname);
	O->destroy(mount_it(vname));
	int vfd = open(vshm, O_RDWR);
	uint32_t old = MEMFS_VERSION - 1;
	EQ(pwrite(vfd, &old, sizeof old, offsetof(struct seg_hdr, version)), 4);
	close(vfd);
	EQ(O->init(vname, &conn, &x, why, sizeof why), -EPROTO);
	CHECK(strstr(why, "layout") && strstr(why, "remove it"));
	unlink(vshm);
	O->destroy(p);
	O->destroy(q);
	printf("%s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
