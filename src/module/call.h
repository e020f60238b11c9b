/*
 * The module adapter: the one place where the module API's contract
 * (include/defuse/module.h) is kept for both hosts.  Every call a host
 * makes into a module goes through a mod_* function here, which calls the
 * operation or, when it is NULL, does what module.h promises for it, and
 * applies the read-only policy (DEFUSE_MODULE_READONLY).  The in-process
 * core (src/core) and the FUSE bridge (src/fuse) both use it, so a module
 * gives the same answers through either.
 *
 * Layer: above kernel, below trace and the core (docs/architecture.md); it
 * uses nothing but the module's operations and the C string functions.
 * Async-signal-safe: no allocation, no stdio, no locks, no system calls of
 * its own (a lock a fallback needs, the append one, is the host's,
 * passed in).  Paths, handles and kernel descriptors stay the host's
 * business: the adapter gets the open file's path where a fallback needs
 * it, and never sees a kernel-backed file.
 */
#ifndef DEFUSE_MODULE_CALL_H
#define DEFUSE_MODULE_CALL_H

#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <sys/types.h>
#include <defuse/module.h>

/* One started mount of a module, as a host holds it. */
struct defuse_mount_ref {
	const struct defuse_module *mod;
	const struct defuse_ops *ops;
	void *priv;
	int readonly;		/* DEFUSE_MODULE_READONLY, or init wanted
				   DEFUSE_CAP_READONLY */
	uint32_t want;		/* the capabilities init kept (conn.want) */
};

/*
 * Who makes a call, for the fallbacks that decide permissions (access),
 * asked only when a fallback needs it (a module with access never costs
 * the host a look at the caller): ids gives the user and group ID to
 * check with; groups, asked only when the owner and group do not decide,
 * fills up to max supplementary group IDs and returns how many (or < 0).
 */
struct mod_caller {
	void (*ids)(void *arg, uid_t *uid, gid_t *gid);
	int (*groups)(void *arg, gid_t *out, int max);
	void *arg;
};

/* What the host offers every module (struct defuse_conn.capable); the
   in-process host DEFUSE_CAP_ONE_INSTANCE too. */
#define MOD_HOST_CAPS (DEFUSE_CAP_KERNEL_FD | DEFUSE_CAP_READONLY | DEFUSE_CAP_LOCK_WAIT | \
		       DEFUSE_CAP_PERMISSIONS)

/* The mode a creating call hands the module: the caller's umask applied to
   the permission bits (module.h, "Modes"). */
static inline mode_t mod_umasked(mode_t mode, mode_t umask)
{
	return mode & ~(umask & 0777);
}

/* ---- Life cycle ---------------------------------------------------- */

/* Starts a mount of mod for host (DEFUSE_HOST_*): init with the host's
   offer.  0, or -errno with a reason in why (maybe empty). */
int mod_start(struct defuse_mount_ref *ref, const struct defuse_module *mod, uint32_t host,
	      const char *args, char *why, size_t why_len);
void mod_destroy(struct defuse_mount_ref *ref);
void mod_after_fork_child(const struct defuse_mount_ref *ref);
void mod_process_end(const struct defuse_mount_ref *ref);

/* ---- By path -------------------------------------------------------- */

/* getattr is the host's lookup, once per path component: inline when the
   module has it, the statx fallback out of line. */
int mod_getattr_from_statx(const struct defuse_mount_ref *ref, const char *path,
			   struct stat *st, int flags);
static inline int mod_getattr(const struct defuse_mount_ref *ref, const char *path,
			      struct stat *st, int flags)
{
	if (ref->ops->getattr)
		return ref->ops->getattr(ref->priv, path, st, flags);
	return mod_getattr_from_statx(ref, path, st, flags);
}
/* What struct stat can tell of a statx (STATX_BASIC_STATS), for a host
   that has only a stat of the file. */
void mod_stat_to_statx(const struct stat *st, struct statx *x);
int mod_statx(const struct defuse_mount_ref *ref, const char *path, int flags,
	      unsigned int mask, struct statx *stx);
int mod_access(const struct defuse_mount_ref *ref, const char *path, int mode, int flags,
	       const struct mod_caller *who);
/* The kernel's decision from the mode bits (generic_permission, no ACLs):
   may user uid, group gid (and who's supplementary groups, asked only when
   the group's and the others' bits differ in what is asked) have mode
   (R_OK, W_OK, X_OK) on a file of attributes st?  User 0 may anything but
   execute a file without an x bit.  0 or -EACCES. */
int mod_permits(const struct stat *st, int mode, uid_t uid, gid_t gid,
		const struct mod_caller *who);
ssize_t mod_readlink(const struct defuse_mount_ref *ref, const char *path, char *buf,
		     size_t size);
int mod_statfs(const struct defuse_mount_ref *ref, const char *path, struct statfs *st);
int mod_mknod(const struct defuse_mount_ref *ref, const char *path, mode_t mode, dev_t dev);
int mod_mkdir(const struct defuse_mount_ref *ref, const char *path, mode_t mode);
int mod_unlink(const struct defuse_mount_ref *ref, const char *path);
int mod_rmdir(const struct defuse_mount_ref *ref, const char *path);
int mod_symlink(const struct defuse_mount_ref *ref, const char *target, const char *path);
int mod_rename(const struct defuse_mount_ref *ref, const char *from, const char *to,
	       unsigned int flags);
int mod_link(const struct defuse_mount_ref *ref, const char *from, const char *to);
int mod_chmod(const struct defuse_mount_ref *ref, const char *path, mode_t mode, int flags);
int mod_chown(const struct defuse_mount_ref *ref, const char *path, uid_t uid, gid_t gid,
	      int flags);
int mod_truncate(const struct defuse_mount_ref *ref, const char *path, off_t size);
int mod_utimens(const struct defuse_mount_ref *ref, const char *path,
		const struct timespec times[2], int flags);
ssize_t mod_getxattr(const struct defuse_mount_ref *ref, const char *path, const char *name,
		     void *value, size_t size, int flags);
int mod_setxattr(const struct defuse_mount_ref *ref, const char *path, const char *name,
		 const void *value, size_t size, int xflags, int flags);
ssize_t mod_listxattr(const struct defuse_mount_ref *ref, const char *path, char *list,
		      size_t size, int flags);
int mod_removexattr(const struct defuse_mount_ref *ref, const char *path, const char *name,
		    int flags);

/* ---- Open files ------------------------------------------------------
 * path: the path the file was opened by (for the fallbacks to path
 * operations; it may be stale after a rename).  out->kernel_fd is -1
 * unless the module handed one over. */

int mod_open(const struct defuse_mount_ref *ref, const char *path, int flags, mode_t mode,
	     struct defuse_open *out);
void mod_release(const struct defuse_mount_ref *ref, uint64_t fh);
int mod_flush(const struct defuse_mount_ref *ref, uint64_t fh);

/* The hot pair: one test, one call (module.h: NULL is EINVAL). */
static inline ssize_t mod_read(const struct defuse_mount_ref *ref, uint64_t fh, void *buf,
			       size_t size, off_t off)
{
	return ref->ops->read ? ref->ops->read(ref->priv, fh, buf, size, off) : -EINVAL;
}

static inline ssize_t mod_write(const struct defuse_mount_ref *ref, uint64_t fh,
				const void *buf, size_t size, off_t off)
{
	return ref->ops->write ? ref->ops->write(ref->priv, fh, buf, size, off) : -EINVAL;
}

/*
 * An O_APPEND write.  Without the module's append: lock(arg), the size
 * from fgetattr, a write there, unlock(arg): the host's lock orders the
 * appends of one open file description (module.h).
 */
ssize_t mod_append(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		   const void *buf, size_t size, off_t *end,
		   void (*lock)(void *), void (*unlock)(void *), void *arg);
int mod_fgetattr(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		 struct stat *st);
/* fh_path (where open file fh is now, mount-relative), or -ENOSYS. */
static inline int mod_fh_path(const struct defuse_mount_ref *ref, uint64_t fh, char *buf,
			      size_t size)
{
	int r;

	if (!ref->ops->fh_path)
		return -ENOSYS;
	r = ref->ops->fh_path(ref->priv, fh, buf, size);
	/* Nonsense (no leading '/', no end) is no answer. */
	if (r == 0 && (buf[0] != '/' || !memchr(buf, 0, size)))
		return -EIO;
	return r;
}
/* file_handle, -ENOSYS unless the module has both file_handle and
   open_handle (a handle is no use without the other), -EIO for a length
   that does not fit. */
ssize_t mod_file_handle(const struct defuse_mount_ref *ref, uint64_t fh, void *buf,
			size_t size);
/* open_handle, or -ENOSYS; the read-only policy as for open (-EROFS for
   an open that writes). */
int mod_open_handle(const struct defuse_mount_ref *ref, const void *handle, size_t len,
		    int kfd, int flags, struct defuse_open *out);
int mod_ftruncate(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		  off_t size);
int mod_fchmod(const struct defuse_mount_ref *ref, uint64_t fh, const char *path, mode_t mode);
int mod_fchown(const struct defuse_mount_ref *ref, uint64_t fh, const char *path, uid_t uid,
	       gid_t gid);
int mod_futimens(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		 const struct timespec times[2]);
/* tmpfile: the file was opened O_TMPFILE (it has no name to link by). */
int mod_flink(const struct defuse_mount_ref *ref, uint64_t fh, const char *path, int tmpfile,
	      const char *newpath);
int mod_fsync(const struct defuse_mount_ref *ref, uint64_t fh, int datasync);
int mod_fallocate(const struct defuse_mount_ref *ref, uint64_t fh, int mode, off_t off,
		  off_t len);
off_t mod_seek_data(const struct defuse_mount_ref *ref, uint64_t fh, const char *path,
		    off_t off, int whence);
/* An ioctl the host does not answer itself (module.h, ioctl); its data
   is mod_ioctl_size(cmd) bytes, for both hosts alike. */
size_t mod_ioctl_size(unsigned int cmd);
long mod_ioctl(const struct defuse_mount_ref *ref, uint64_t fh, unsigned int cmd,
	       unsigned long arg, void *data, size_t size);
int mod_readdir(const struct defuse_mount_ref *ref, uint64_t fh, int64_t pos,
		defuse_fill_dir fill, void *ctx);

/* ---- Locks ----------------------------------------------------------
 * The order is the host's: a kernel descriptor first (mod_lock_fd: the
 * descriptor, or -ENOLCK when the module keeps none), then these, which
 * give -ENOLCK without the module's operation. */

int mod_lock_fd(const struct defuse_mount_ref *ref, uint64_t fh);
/* map_fd: a kernel descriptor to map for fh, or -errno (NULL: -ENODEV, and
   the host's pager maps the file). */
static inline int mod_map_fd(const struct defuse_mount_ref *ref, uint64_t fh)
{
	return ref->ops->map_fd ? ref->ops->map_fd(ref->priv, fh) : -ENODEV;
}
/* Does the module keep locks itself (setlk, flock), or give a kernel
   descriptor to take them on (lock_fd)? */
static inline int mod_has_lock_fd(const struct defuse_mount_ref *ref)
{
	return ref->ops->lock_fd != NULL;
}
static inline int mod_has_setlk(const struct defuse_mount_ref *ref)
{
	return ref->ops->setlk != NULL;
}
static inline int mod_has_flock(const struct defuse_mount_ref *ref)
{
	return ref->ops->flock != NULL;
}
/* Does the module wait for its own locks (DEFUSE_CAP_LOCK_WAIT)? */
static inline int mod_waits_for_locks(const struct defuse_mount_ref *ref)
{
	return (ref->want & DEFUSE_CAP_LOCK_WAIT) != 0;
}
int mod_getlk(const struct defuse_mount_ref *ref, uint64_t fh, uint64_t owner,
	      struct flock *lock);
int mod_setlk(const struct defuse_mount_ref *ref, uint64_t fh, uint64_t owner,
	      const struct flock *lock, int wait);
int mod_flock(const struct defuse_mount_ref *ref, uint64_t fh, uint64_t owner, int op);

#endif
