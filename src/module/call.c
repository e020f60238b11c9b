/*
 * The module adapter (call.h): each mod_* function calls the module's
 * operation, or does what include/defuse/module.h promises when it is NULL,
 * and refuses changes to a read-only mount in the kernel's order.  The
 * table of these answers is docs/module-api.md; the kernel's order was
 * checked against a read-only tmpfs (tests/modules/hello).
 */
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "module/call.h"

#define OPS (ref->ops)
#define PRIV (ref->priv)

/* statfs f_flags (linux/statfs.h): glibc's statvfs trusts f_flags only
   with ST_VALID, which the kernel always sets. */
#define MOD_ST_RDONLY 0x0001
#define MOD_ST_VALID  0x0020

/* The kernel's limits for extended attributes (linux/limits.h). */
#define MOD_XATTR_NAME_MAX 255
#define MOD_XATTR_SIZE_MAX 65536
#define MOD_XATTR_CREATE 0x1
#define MOD_XATTR_REPLACE 0x2

/* ---- Life cycle ---------------------------------------------------- */

int mod_start(struct defuse_mount_ref *ref, const struct defuse_module *mod, uint32_t host,
	      const char *args, char *why, size_t why_len)
{
	struct defuse_conn conn;
	int r = 0;

	memset(&conn, 0, sizeof(conn));
	conn.host = host;
	conn.capable = MOD_HOST_CAPS | (host == DEFUSE_HOST_PROCESS ? DEFUSE_CAP_ONE_INSTANCE : 0);
	conn.want = (mod->flags & DEFUSE_MODULE_READONLY) ? DEFUSE_CAP_READONLY : 0;
	ref->mod = mod;
	ref->ops = mod->ops;
	ref->priv = NULL;
	if (why_len)
		why[0] = 0;
	if (mod->ops->init)
		r = mod->ops->init(args ? args : "", &conn, &ref->priv, why, why_len);
	if (r > 0)
		r = -EINVAL;	/* not a result the contract allows */
	ref->want = conn.want & conn.capable;
	ref->readonly = (ref->want & DEFUSE_CAP_READONLY) != 0;
	return r;
}

void mod_destroy(struct defuse_mount_ref *ref)
{
	if (ref->ops && ref->ops->destroy)
		ref->ops->destroy(ref->priv);
	ref->ops = NULL;
}

void mod_after_fork_child(const struct defuse_mount_ref *ref)
{
	if (OPS->after_fork_child)
		OPS->after_fork_child(PRIV);
}

void mod_process_end(const struct defuse_mount_ref *ref)
{
	if (OPS && OPS->process_end)
		OPS->process_end(PRIV);
}

/* ---- Metadata ------------------------------------------------------- */

static void statx_to_stat(const struct statx *x, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = x->stx_mode;
	st->st_nlink = x->stx_nlink;
	st->st_uid = x->stx_uid;
	st->st_gid = x->stx_gid;
	st->st_size = (off_t)x->stx_size;
	st->st_blocks = (blkcnt_t)x->stx_blocks;
	st->st_blksize = (blksize_t)x->stx_blksize;
	st->st_ino = x->stx_ino;
	st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
	st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
	st->st_atim.tv_sec = x->stx_atime.tv_sec;
	st->st_atim.tv_nsec = x->stx_atime.tv_nsec;
	st->st_mtim.tv_sec = x->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = x->stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = x->stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = x->stx_ctime.tv_nsec;
}

void mod_stat_to_statx(const struct stat *st, struct statx *x)
{
	memset(x, 0, sizeof(*x));
	x->stx_mask = STATX_BASIC_STATS;
	x->stx_blksize = (uint32_t)st->st_blksize;
	x->stx_nlink = (uint32_t)st->st_nlink;
	x->stx_uid = st->st_uid;
	x->stx_gid = st->st_gid;
	x->stx_mode = (uint16_t)st->st_mode;
	x->stx_ino = st->st_ino;
	x->stx_size = (uint64_t)st->st_size;
	x->stx_blocks = (uint64_t)st->st_blocks;
	x->stx_atime.tv_sec = st->st_atim.tv_sec;
	x->stx_atime.tv_nsec = (uint32_t)st->st_atim.tv_nsec;
	x->stx_mtime.tv_sec = st->st_mtim.tv_sec;
	x->stx_mtime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
	x->stx_ctime.tv_sec = st->st_ctim.tv_sec;
	x->stx_ctime.tv_nsec = (uint32_t)st->st_ctim.tv_nsec;
	x->stx_rdev_major = major(st->st_rdev);
	x->stx_rdev_minor = minor(st->st_rdev);
	x->stx_dev_major = major(st->st_dev);
	x->stx_dev_minor = minor(st->st_dev);
}

int mod_getattr_from_statx(const struct defuse_mount_ref *ref, const char *path,
			   struct stat *st, int flags)
{
	struct statx x;
	int r;

	if (!OPS->statx)
		return -ENOSYS;
	r = OPS->statx(PRIV, path, flags, STATX_BASIC_STATS, &x);
	if (r == 0)
		statx_to_stat(&x, st);
	return r;
}

int mod_statx(const struct defuse_mount_ref *ref, const char *path, int flags,
	      unsigned int mask, struct statx *stx)
{
	struct stat st;
	int r;

	if (OPS->statx)
		return OPS->statx(PRIV, path, flags, mask, stx);
	r = mod_getattr(ref, path, &st, flags);
	if (r == 0)
		mod_stat_to_statx(&st, stx);
	return r;
}

/* The existence check of a fallback: 0, or the lookup's error. */
static int exists(const struct defuse_mount_ref *ref, const char *path, int flags)
{
	struct stat st;

	return mod_getattr(ref, path, &st, flags);
}

/* A name to be created: EEXIST if taken, else what the lookup said, with
   ENOENT (the name is free) turned into err. */
static int create_check(const struct defuse_mount_ref *ref, const char *path, int err)
{
	int r = exists(ref, path, DEFUSE_NOFOLLOW);

	return r == 0 ? -EEXIST : r == -ENOENT ? err : r;
}

/* Would the kernel refuse writing to this object on a read-only file
   system (sb_permission: regular files, directories, links)? */
static int ro_kind(mode_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode);
}

/* Supplementary groups looked at: a caller in more is taken to be in none
   of them (getgroups fails for a shorter list). */
#define GROUPS_MAX 1024

static int in_groups(const struct mod_caller *who, gid_t gid)
{
	gid_t groups[GROUPS_MAX];
	int n;

	if (!who->groups)
		return 0;
	n = who->groups(who->arg, groups, GROUPS_MAX);
	for (int i = 0; i < n && i < GROUPS_MAX; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

int mod_permits(const struct stat *st, int mode, uid_t uid, gid_t gid,
		const struct mod_caller *who)
{
	unsigned bits = st->st_mode;

	mode &= R_OK | W_OK | X_OK;
	if (uid == 0) {
		/* root: anything but executing a file without an x bit */
		if ((mode & X_OK) && !S_ISDIR(st->st_mode) && !(st->st_mode & 0111))
			return -EACCES;
		return 0;
	}
	if (st->st_uid == uid)
		bits >>= 6;
	else if ((mode & (bits ^ (bits >> 3))) && (st->st_gid == gid || in_groups(who, st->st_gid)))
		bits >>= 3;
	return (mode & ~bits) ? -EACCES : 0;
}

int mod_access(const struct defuse_mount_ref *ref, const char *path, int mode, int flags,
	       const struct mod_caller *who)
{
	int nofollow = (flags & AT_SYMLINK_NOFOLLOW) ? DEFUSE_NOFOLLOW : 0;
	struct stat st;
	uid_t uid;
	gid_t gid;
	int r;

	if (ref->readonly || !OPS->access) {
		r = mod_getattr(ref, path, &st, nofollow);
		if (r < 0)
			return r;
		if (ref->readonly && (mode & W_OK) && ro_kind(st.st_mode))
			return -EROFS;
	}
	if (OPS->access)
		return OPS->access(PRIV, path, mode, flags);
	if (mode == F_OK)
		return 0;
	who->ids(who->arg, &uid, &gid);
	return mod_permits(&st, mode, uid, gid, who);
}

ssize_t mod_readlink(const struct defuse_mount_ref *ref, const char *path, char *buf,
		     size_t size)
{
	int r;

	if (OPS->readlink)
		return OPS->readlink(PRIV, path, buf, size);
	/* No links in this file system: whatever exists is no link. */
	r = exists(ref, path, DEFUSE_NOFOLLOW);
	return r < 0 ? r : -EINVAL;
}

int mod_statfs(const struct defuse_mount_ref *ref, const char *path, struct statfs *st)
{
	int r;

	if (!OPS->statfs) {
		r = exists(ref, path, 0);
		return r < 0 ? r : -ENOSYS;
	}
	r = OPS->statfs(PRIV, path, st);
	if (r == 0 && ref->readonly)
		st->f_flags |= MOD_ST_RDONLY | MOD_ST_VALID;
	return r;
}

/* ---- Names ---------------------------------------------------------- */

/* mknod, mkdir, symlink: the name must be free. */
static int make_name(const struct defuse_mount_ref *ref, const char *path, int have)
{
	if (ref->readonly)
		return create_check(ref, path, -EROFS);
	if (!have)
		return create_check(ref, path, -EPERM);
	return 1;	/* go on */
}

int mod_mknod(const struct defuse_mount_ref *ref, const char *path, mode_t mode, dev_t dev)
{
	int r = make_name(ref, path, OPS->mknod != NULL);

	return r <= 0 ? r : OPS->mknod(PRIV, path, mode, dev);
}

int mod_mkdir(const struct defuse_mount_ref *ref, const char *path, mode_t mode)
{
	int r = make_name(ref, path, OPS->mkdir != NULL);

	return r <= 0 ? r : OPS->mkdir(PRIV, path, mode);
}

int mod_symlink(const struct defuse_mount_ref *ref, const char *target, const char *path)
{
	int r = make_name(ref, path, OPS->symlink != NULL);

	return r <= 0 ? r : OPS->symlink(PRIV, target, path);
}

/* unlink, rmdir, rename: a read-only file system refuses before looking
   the name up (do_unlinkat, do_renameat2: mnt_want_write first). */
static int remove_name(const struct defuse_mount_ref *ref, const char *path, int have)
{
	int r;

	if (ref->readonly)
		return -EROFS;
	if (have)
		return 1;
	r = exists(ref, path, DEFUSE_NOFOLLOW);
	return r < 0 ? r : -EPERM;
}

int mod_unlink(const struct defuse_mount_ref *ref, const char *path)
{
	int r = remove_name(ref, path, OPS->unlink != NULL);

	return r <= 0 ? r : OPS->unlink(PRIV, path);
}

int mod_rmdir(const struct defuse_mount_ref *ref, const char *path)
{
	int r = remove_name(ref, path, OPS->rmdir != NULL);

	return r <= 0 ? r : OPS->rmdir(PRIV, path);
}

int mod_rename(const struct defuse_mount_ref *ref, const char *from, const char *to,
	       unsigned int flags)
{
	int r = remove_name(ref, from, OPS->rename != NULL);

	return r <= 0 ? r : OPS->rename(PRIV, from, to, flags);
}

int mod_link(const struct defuse_mount_ref *ref, const char *from, const char *to)
{
	int r;

	if (!ref->readonly && OPS->link)
		return OPS->link(PRIV, from, to);
	/* linkat looks the old name up, then the new one */
	if ((r = exists(ref, from, DEFUSE_NOFOLLOW)) < 0)
		return r;
	return create_check(ref, to, ref->readonly ? -EROFS : -EPERM);
}

/* ---- Attributes ----------------------------------------------------- */

/* chmod, chown, utimens, xattr changes: the object must exist, then the
   read-only or missing-operation answer. */
static int change(const struct defuse_mount_ref *ref, const char *path, int flags, int have,
		  int missing)
{
	int r;

	if (!ref->readonly && have)
		return 1;
	r = exists(ref, path, flags & DEFUSE_NOFOLLOW);
	return r < 0 ? r : ref->readonly ? -EROFS : missing;
}

int mod_chmod(const struct defuse_mount_ref *ref, const char *path, mode_t mode, int flags)
{
	int r = change(ref, path, flags, OPS->chmod != NULL, -EPERM);

	return r <= 0 ? r : OPS->chmod(PRIV, path, mode & 07777, flags);
}

int mod_chown(const struct defuse_mount_ref *ref, const char *path, uid_t uid, gid_t gid,
	      int flags)
{
	int r = change(ref, path, flags, OPS->chown != NULL, -EPERM);

	return r <= 0 ? r : OPS->chown(PRIV, path, uid, gid, flags);
}

int mod_truncate(const struct defuse_mount_ref *ref, const char *path, off_t size)
{
	struct stat st;
	int r;

	if (size < 0)
		return -EINVAL;
	if (!ref->readonly && OPS->truncate)
		return OPS->truncate(PRIV, path, size);
	if ((r = mod_getattr(ref, path, &st, 0)) < 0)
		return r;
	/* vfs_truncate: the kind first, then the mount */
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return ref->readonly ? -EROFS : -EPERM;
}

static int both_omitted(const struct timespec times[2])
{
	return times && times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT;
}

int mod_utimens(const struct defuse_mount_ref *ref, const char *path,
		const struct timespec times[2], int flags)
{
	int r;

	/* utimensat does nothing, not even the lookup, when both are omitted */
	if (ref->readonly && both_omitted(times))
		return 0;
	r = change(ref, path, flags, OPS->utimens != NULL, -EPERM);
	return r <= 0 ? r : OPS->utimens(PRIV, path, times, flags);
}

/* ---- Extended attributes -------------------------------------------- */

/* What the kernel checks of a name before the lookup. */
static int xattr_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, MOD_XATTR_NAME_MAX + 1) : 0;

	return n == 0 || n > MOD_XATTR_NAME_MAX ? -ERANGE : 0;
}

ssize_t mod_getxattr(const struct defuse_mount_ref *ref, const char *path, const char *name,
		     void *value, size_t size, int flags)
{
	int r = xattr_name_ok(name);

	if (r < 0)
		return r;
	if (OPS->getxattr)
		return OPS->getxattr(PRIV, path, name, value, size, flags);
	r = exists(ref, path, flags & DEFUSE_NOFOLLOW);
	return r < 0 ? r : -EOPNOTSUPP;
}

int mod_setxattr(const struct defuse_mount_ref *ref, const char *path, const char *name,
		 const void *value, size_t size, int xflags, int flags)
{
	int r;

	if (xflags & ~(MOD_XATTR_CREATE | MOD_XATTR_REPLACE))
		return -EINVAL;
	if ((r = xattr_name_ok(name)) < 0)
		return r;
	if (size > MOD_XATTR_SIZE_MAX)
		return -E2BIG;
	r = change(ref, path, flags, OPS->setxattr != NULL, -EOPNOTSUPP);
	return r <= 0 ? r : OPS->setxattr(PRIV, path, name, value, size, xflags, flags);
}

ssize_t mod_listxattr(const struct defuse_mount_ref *ref, const char *path, char *list,
		      size_t size, int flags)
{
	int r;

	if (OPS->listxattr)
		return OPS->listxattr(PRIV, path, list, size, flags);
	r = exists(ref, path, flags & DEFUSE_NOFOLLOW);
	return r < 0 ? r : 0;	/* no attributes: an empty list */
}

int mod_removexattr(const struct defuse_mount_ref *ref, const char *path, const char *name,
		    int flags)
{
	int r = xattr_name_ok(name);

	if (r < 0)
		return r;
	r = change(ref, path, flags, OPS->removexattr != NULL, -EOPNOTSUPP);
	return r <= 0 ? r : OPS->removexattr(PRIV, path, name, flags);
}

/* ---- Open files ----------------------------------------------------- */

/*
 * An open of a read-only file system that would write, as the kernel's
 * path_openat answers it: 1 to go on with *flags (O_CREAT and O_EXCL
 * taken out), else the error.
 */
static int open_readonly(const struct defuse_mount_ref *ref, const char *path, int *flags)
{
	int f = *flags, acc = f & O_ACCMODE, r;
	int writes = acc == O_WRONLY || acc == O_RDWR || (f & O_TRUNC);
	int tmpfile = (f & O_TMPFILE) == O_TMPFILE;
	int excl = (f & O_CREAT) && (f & O_EXCL);
	struct stat st;

	if ((f & O_PATH) || !(writes || tmpfile || (f & O_CREAT)))
		return 1;
	r = mod_getattr(ref, path, &st, (f & O_NOFOLLOW) || excl ? DEFUSE_NOFOLLOW : 0);
	if (tmpfile)	/* a new file in the directory path names */
		return r < 0 ? r : S_ISDIR(st.st_mode) ? -EROFS : -ENOTDIR;
	if (r == -ENOENT && (f & O_CREAT))
		return -EROFS;
	if (r < 0)
		return r;
	if (excl)
		return -EEXIST;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;		/* O_NOFOLLOW */
	if (S_ISDIR(st.st_mode) && (f & O_CREAT))
		return -EISDIR;
	if ((f & O_DIRECTORY) && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (S_ISDIR(st.st_mode) && writes)
		return -EISDIR;
	if (writes && ro_kind(st.st_mode))
		return -EROFS;
	*flags = f & ~(O_CREAT | O_EXCL);
	return 1;
}

int mod_open(const struct defuse_mount_ref *ref, const char *path, int flags, mode_t mode,
	     struct defuse_open *out)
{
	int r;

	out->fh = 0;
	out->kernel_fd = -1;
	if (ref->readonly && (r = open_readonly(ref, path, &flags)) <= 0)
		return r;
	if (!OPS->open) {
		r = exists(ref, path, (flags & O_NOFOLLOW) ? DEFUSE_NOFOLLOW : 0);
		return r < 0 ? r : -ENOSYS;
	}
	r = OPS->open(PRIV, path, flags, mode, out);
	if (r > 0)
		r = 0;
	if (r < 0)
		out->kernel_fd = -1;
	return r;
}

ssize_t mod_file_handle(const struct defuse_mount_ref *ref, uint64_t fh, void *buf,
			size_t size)
{
	ssize_t n;

	if (!OPS->file_handle || !OPS->open_handle)
		return -ENOSYS;
	n = OPS->file_handle(PRIV, fh, buf, size);
	/* A length the buffer cannot hold is nonsense: no handle. */
	return n == 0 || n > (ssize_t)size ? -EIO : n;
}

int mod_open_handle(const struct defuse_mount_ref *ref, const void *handle, size_t len,
		    int kfd, int flags, struct defuse_open *out)
{
	int acc = flags & O_ACCMODE, r;

	out->fh = 0;
	out->kernel_fd = -1;
	flags &= ~(O_CREAT | O_EXCL);
	if (!OPS->open_handle)
		return -ENOSYS;
	/* No name to look at: a read-only file system refuses every open
	   that writes, whatever the file is. */
	if (ref->readonly && !(flags & O_PATH) &&
	    (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC)))
		return -EROFS;
	r = OPS->open_handle(PRIV, handle, len, kfd, flags, out);
	if (r > 0)
		r = 0;
	if (r < 0)
		out->kernel_fd = -1;
	return r;
}

void mod_release(const struct defuse_mount_ref *ref, uint64_t fh)
{
	if (OPS->release)
		OPS->release(PRIV, fh);
}

int mod_flush(const struct defuse_mount_ref *ref, uint64_t fh)
{
	return OPS->flush ? OPS->flush(PRIV, fh) : 0;
}

int mod_fgetattr(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		 struct stat *st)
{
	if (OPS->fgetattr)
		return OPS->fgetattr(PRIV, fh, st);
	return mod_getattr(ref, path, st, 0);
}

ssize_t mod_append(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		   const void *buf, size_t size, off_t *end,
		   void (*lock)(void *), void (*unlock)(void *), void *arg)
{
	struct stat st;
	ssize_t r;

	if (OPS->append)
		return OPS->append(PRIV, fh, buf, size, end);
	if (!OPS->write)
		return -EINVAL;
	lock(arg);
	r = mod_fgetattr(ref, fh, path, &st);
	if (r == 0) {
		*end = st.st_size;
		r = OPS->write(PRIV, fh, buf, size, st.st_size);
		if (r > 0)
			*end += r;
	}
	unlock(arg);
	return r;
}

int mod_ftruncate(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		  off_t size)
{
	if (size < 0)
		return -EINVAL;
	if (OPS->ftruncate && !ref->readonly)
		return OPS->ftruncate(PRIV, fh, size);
	return mod_truncate(ref, path, size);
}

int mod_fchmod(const struct defuse_mount_ref *ref, uint64_t fh, const char *path, mode_t mode)
{
	if (ref->readonly)
		return -EROFS;
	if (OPS->fchmod)
		return OPS->fchmod(PRIV, fh, mode & 07777);
	return mod_chmod(ref, path, mode, 0);
}

int mod_fchown(const struct defuse_mount_ref *ref, uint64_t fh, const char *path, uid_t uid,
	       gid_t gid)
{
	if (ref->readonly)
		return -EROFS;
	if (OPS->fchown)
		return OPS->fchown(PRIV, fh, uid, gid);
	return mod_chown(ref, path, uid, gid, 0);
}

int mod_futimens(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		 const struct timespec times[2])
{
	if (ref->readonly)
		return both_omitted(times) ? 0 : -EROFS;
	if (OPS->futimens)
		return OPS->futimens(PRIV, fh, times);
	return mod_utimens(ref, path, times, 0);
}

int mod_flink(const struct defuse_mount_ref *ref, uint64_t fh, const char *path, int tmpfile,
	      const char *newpath)
{
	if (ref->readonly)
		return create_check(ref, newpath, -EROFS);
	if (OPS->flink)
		return OPS->flink(PRIV, fh, newpath);
	/* linkat of a file with no name: the kernel's ENOENT (i_nlink 0) */
	return tmpfile ? -ENOENT : mod_link(ref, path, newpath);
}

int mod_fsync(const struct defuse_mount_ref *ref, uint64_t fh, int datasync)
{
	return OPS->fsync ? OPS->fsync(PRIV, fh, datasync) : 0;
}

int mod_fallocate(const struct defuse_mount_ref *ref, uint64_t fh, int mode, off_t off,
		  off_t len)
{
	return OPS->fallocate ? OPS->fallocate(PRIV, fh, mode, off, len) : -EOPNOTSUPP;
}

size_t mod_ioctl_size(unsigned int cmd)
{
	/* The kernel reads and writes an int for these (FUSE's fileattr
	   too), whatever their number's size says: a program's int must not
	   get 8 bytes back. */
	if (cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_SETFLAGS)
		return sizeof(int);
	return _IOC_DIR(cmd) == _IOC_NONE ? 0 : _IOC_SIZE(cmd);
}

long mod_ioctl(const struct defuse_mount_ref *ref, uint64_t fh, unsigned int cmd,
	       unsigned long arg, void *data, size_t size)
{
	return OPS->ioctl ? OPS->ioctl(PRIV, fh, cmd, arg, data, size) : -ENOTTY;
}

off_t mod_seek_data(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		    off_t off, int whence)
{
	struct stat st;
	int r;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (OPS->seek_data)
		return OPS->seek_data(PRIV, fh, off, whence);
	/* No holes: all data up to the end, which is the one hole. */
	if ((r = mod_fgetattr(ref, fh, path, &st)) < 0)
		return r;
	if (off < 0 || off >= st.st_size)
		return -ENXIO;
	return whence == SEEK_DATA ? off : st.st_size;
}

int mod_readdir(const struct defuse_mount_ref *ref, uint64_t fh, int64_t pos,
		defuse_fill_dir fill, void *ctx)
{
	return OPS->readdir ? OPS->readdir(PRIV, fh, pos, fill, ctx) : -ENOTDIR;
}

/* ---- Locks ---------------------------------------------------------- */

int mod_lock_fd(const struct defuse_mount_ref *ref, uint64_t fh)
{
	return OPS->lock_fd ? OPS->lock_fd(PRIV, fh) : -ENOLCK;
}

int mod_getlk(const struct defuse_mount_ref *ref, uint64_t fh, uint64_t owner,
	      struct flock *lock)
{
	return OPS->getlk ? OPS->getlk(PRIV, fh, owner, lock) : -ENOLCK;
}

int mod_setlk(const struct defuse_mount_ref *ref, uint64_t fh, uint64_t owner,
	      const struct flock *lock, int wait)
{
	return OPS->setlk ? OPS->setlk(PRIV, fh, owner, lock, wait) : -ENOLCK;
}

int mod_flock(const struct defuse_mount_ref *ref, uint64_t fh, uint64_t owner, int op)
{
	return OPS->flock ? OPS->flock(PRIV, fh, owner, op) : -ENOLCK;
}
