/*
 * pt2: a passthrough file system written against libfuse 2's API
 * (FUSE_USE_VERSION 29), for the libfuse 2 stand-in's tests: it serves the
 * directory given by -o root=DIR.  Built twice from this source:
 *
 *   pt2      the 2.x API as current programs use it: readdir with offsets
 *            (telldir/seekdir), create, fgetattr and ftruncate on the open
 *            file's descriptor, utimens with flag_utime_omit_ok.
 *   pt2-old  (-DPT2_OLD) the oldest forms: getdir instead of opendir and
 *            readdir, utime instead of utimens, mknod + open instead of
 *            create, getattr and truncate by path only.
 *
 * Both run natively through kernel FUSE with the real libfuse 2 too.
 */
#define FUSE_USE_VERSION 29
#define _GNU_SOURCE 1
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

static struct {
	char *root;
} conf;

static const struct fuse_opt spec[] = {
	{ "root=%s", offsetof(typeof(conf), root), 0 },
	FUSE_OPT_END
};

/* The backing path of path, in a buffer of the caller's. */
#define REAL(path) real_path(path, (char[PATH_MAX]){ 0 })

static const char *real_path(const char *path, char *buf)
{
	snprintf(buf, PATH_MAX, "%s%s", conf.root, path);
	return buf;
}

static int err(int r)
{
	return r < 0 ? -errno : r;
}

static int pt_getattr(const char *path, struct stat *st)
{
	return err(lstat(REAL(path), st));
}

static int pt_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlink(REAL(path), buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int pt_mknod(const char *path, mode_t mode, dev_t dev)
{
	if (S_ISFIFO(mode))
		return err(mkfifo(REAL(path), mode));
	if (S_ISREG(mode)) {
		int fd = open(REAL(path), O_CREAT | O_EXCL | O_WRONLY, mode);

		return fd < 0 ? -errno : err(close(fd));
	}
	return err(mknod(REAL(path), mode, dev));
}

static int pt_mkdir(const char *path, mode_t mode)
{
	return err(mkdir(REAL(path), mode));
}

static int pt_unlink(const char *path)
{
	return err(unlink(REAL(path)));
}

static int pt_rmdir(const char *path)
{
	return err(rmdir(REAL(path)));
}

static int pt_symlink(const char *target, const char *path)
{
	return err(symlink(target, REAL(path)));
}

static int pt_rename(const char *from, const char *to)
{
	return err(rename(REAL(from), REAL(to)));
}

static int pt_link(const char *from, const char *to)
{
	return err(link(REAL(from), REAL(to)));
}

static int pt_chmod(const char *path, mode_t mode)
{
	return err(chmod(REAL(path), mode));
}

static int pt_chown(const char *path, uid_t uid, gid_t gid)
{
	return err(lchown(REAL(path), uid, gid));
}

static int pt_truncate(const char *path, off_t size)
{
	return err(truncate(REAL(path), size));
}

static int pt_open(const char *path, struct fuse_file_info *fi)
{
	int fd = open(REAL(path), fi->flags);

	if (fd < 0)
		return -errno;
	fi->fh = fd;
	return 0;
}

static int pt_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	return err(pread(fi->fh, buf, size, off));
}

static int pt_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	return err(pwrite(fi->fh, buf, size, off));
}

static int pt_statfs(const char *path, struct statvfs *st)
{
	return err(statvfs(REAL(path), st));
}

static int pt_flush(const char *path, struct fuse_file_info *fi)
{
	/* a close of a duplicate: what the kernel does at each close */
	return err(close(dup(fi->fh)));
}

static int pt_release(const char *path, struct fuse_file_info *fi)
{
	close(fi->fh);
	return 0;
}

static int pt_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return err(datasync ? fdatasync(fi->fh) : fsync(fi->fh));
}

static int pt_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	return err(lsetxattr(REAL(path), name, value, size, flags));
}

static int pt_getxattr(const char *path, const char *name, char *value, size_t size)
{
	return err(lgetxattr(REAL(path), name, value, size));
}

static int pt_listxattr(const char *path, char *list, size_t size)
{
	return err(llistxattr(REAL(path), list, size));
}

static int pt_removexattr(const char *path, const char *name)
{
	return err(lremovexattr(REAL(path), name));
}

static int pt_access(const char *path, int mask)
{
	return err(access(REAL(path), mask));
}

#ifdef PT2_OLD

static int pt_getdir(const char *path, fuse_dirh_t h, fuse_dirfil_t fill)
{
	DIR *d = opendir(REAL(path));
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (fill(h, e->d_name, e->d_type, e->d_ino))
			break;
	closedir(d);
	return 0;
}

static int pt_utime(const char *path, struct utimbuf *b)
{
	return err(utime(REAL(path), b));
}

#else

static int pt_opendir(const char *path, struct fuse_file_info *fi)
{
	DIR *d = opendir(REAL(path));

	if (!d)
		return -errno;
	fi->fh = (uintptr_t)d;
	return 0;
}

/* Offsets are telldir's: the listing goes on from where the last entry
   taken was. */
static int pt_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	struct dirent *e;

	seekdir(d, off);
	while ((e = readdir(d))) {
		struct stat st = { .st_ino = e->d_ino, .st_mode = (mode_t)e->d_type << 12 };

		if (fill(buf, e->d_name, &st, telldir(d)))
			break;
	}
	return 0;
}

static int pt_releasedir(const char *path, struct fuse_file_info *fi)
{
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int pt_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd = open(REAL(path), fi->flags, mode);

	if (fd < 0)
		return -errno;
	fi->fh = fd;
	return 0;
}

static int pt_fgetattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	return err(fstat(fi->fh, st));
}

static int pt_ftruncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	return err(ftruncate(fi->fh, size));
}

static int pt_utimens(const char *path, const struct timespec tv[2])
{
	return err(utimensat(AT_FDCWD, REAL(path), tv, AT_SYMLINK_NOFOLLOW));
}

#endif

static struct fuse_operations ops = {
	.getattr = pt_getattr,
	.readlink = pt_readlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.symlink = pt_symlink,
	.rename = pt_rename,
	.link = pt_link,
	.chmod = pt_chmod,
	.chown = pt_chown,
	.truncate = pt_truncate,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.statfs = pt_statfs,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.setxattr = pt_setxattr,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
	.access = pt_access,
#ifdef PT2_OLD
	.getdir = pt_getdir,
	.utime = pt_utime,
#else
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.releasedir = pt_releasedir,
	.create = pt_create,
	.fgetattr = pt_fgetattr,
	.ftruncate = pt_ftruncate,
	.utimens = pt_utimens,
	.flag_utime_omit_ok = 1,
#endif
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int r;

	if (fuse_opt_parse(&args, &conf, spec, NULL) == -1)
		return 1;
	if (!conf.root) {
		fprintf(stderr, "pt2: -o root=DIR is needed\n");
		return 1;
	}
	r = fuse_main(args.argc, args.argv, &ops, NULL);
	fuse_opt_free_args(&args);
	return r;
}
