/*
 * DEFUSE module API, version 1 (draft: the core that calls it is being
 * built, see issue "Mounts, descriptors and the passthrough module").
 *
 * A module is a shared object that serves one kind of file system.  DEFUSE
 * loads it into every process that uses a mount of it and calls it directly,
 * in the process and thread that made the system call: there is no daemon
 * and no request queue.
 *
 * The contract, in short:
 *
 *  - Paths are relative to the mount's root and start with "/" ("/" is the
 *    root itself).  By default they are already resolved by the core: no
 *    "." or ".." components and no symbolic links, except in the last
 *    component where an operation says so.  A module that sets
 *    DEFUSE_MODULE_RESOLVES gets paths that are only cleaned of "." and
 *    "//": they may hold ".." and symbolic links, which the module resolves
 *    itself, beneath its root, returning -EXDEV whenever resolution would
 *    leave the root (".." above it, an absolute symbolic link, a relative
 *    one climbing out).  The core then resolves that path component by
 *    component, as the kernel would across a mount boundary.  This saves
 *    the core one lookup per component (the passthrough module does it with
 *    openat2(RESOLVE_BENEATH)).
 *  - Errors are returned as negative errno values (-ENOENT), exactly the
 *    values the kernel would give for the same failure on a local file
 *    system; success is 0 or a non-negative count.
 *  - Every operation pointer may be NULL.  The core then falls back as each
 *    operation's comment says, or fails the call with -ENOSYS (-EOPNOTSUPP
 *    for extended attributes and fallocate).
 *  - Operations may be called from any thread, at the same time: a module
 *    must be thread-safe.  They are never re-entered from a signal handler
 *    in the same thread: a signal that arrives while DEFUSE or a module runs
 *    waits until the call returns to the program (docs/core.md, "Process
 *    lifecycle"), so a module may hold its own locks across its calls.
 *    For the same reason a blocking operation is not interrupted by
 *    signals; it should not block indefinitely.
 *  - A module's own system calls (made through libc or raw) go straight to
 *    the kernel: DEFUSE never routes them back into any mount.
 *
 * Build a module against the pkg-config package "defuse":
 *     cc -shared -fPIC $(pkg-config --cflags defuse) -o mymod.so mymod.c
 * and export one symbol, DEFUSE_MODULE_SYMBOL, a const struct
 * defuse_module.
 */
#ifndef DEFUSE_MODULE_H
#define DEFUSE_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <linux/stat.h>	/* struct statx */
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The API version this header describes. */
#define DEFUSE_API_VERSION 1

/** The symbol every module exports: `const struct defuse_module defuse_module_v1`. */
#define DEFUSE_MODULE_SYMBOL "defuse_module_v1"

/** Flag for operations on a path: do not follow a symbolic link in the last component. */
#define DEFUSE_NOFOLLOW 0x1

/**
 * What open and create hand back.
 *
 * fh is the module's handle for the open file, passed back to every
 * operation on it until release.
 *
 * kernel_fd: a module that keeps the file in a real kernel file (the
 * passthrough module does) sets it to a descriptor it opened with the same
 * access mode and status flags.  The core then gives the program that very
 * open file description: reads, writes, mmap, locks, fork and exec run at
 * kernel speed and never reach the module again.  The core takes ownership
 * of the descriptor and calls release for fh at once: from then on the file
 * is the kernel's.  A module that serves the data itself leaves kernel_fd at
 * -1 (the file is then "emulated": every read and write comes to the module,
 * and release comes when the last descriptor of the open file is closed).
 */
struct defuse_open {
	uint64_t fh;
	int kernel_fd;
};

/**
 * Called by readdir for each entry, in order.  name is NUL-terminated;
 * ino and type (DT_REG, DT_DIR, ... or DT_UNKNOWN) as in getdents64;
 * next is the position to pass to readdir to continue after this entry.
 * Returns 0 to go on, 1 when the caller's buffer is full (stop without
 * error: the entry was not taken and will be offered again at `next` of
 * the previous entry).
 */
typedef int (*defuse_fill_dir)(void *ctx, const char *name, uint64_t ino,
			       unsigned char type, int64_t next);

/** The operations of a module.  Any member may be NULL (see the top). */
struct defuse_ops {
	/* ---- Life cycle ------------------------------------------------ */

	/**
	 * Starts one mount.  args is the text after "MODULE:" in the mount
	 * specification ("" if none).  Sets *priv to the mount's state, passed
	 * to every other operation.  Returns 0, or a negative errno and writes
	 * a one-line reason to `why` (NUL-terminated, at most why_len bytes),
	 * which DEFUSE shows to the user.
	 */
	int (*init)(const char *args, void **priv, char *why, size_t why_len);

	/** Ends one mount: the process exits or the mount is dropped. */
	void (*destroy)(void *priv);

	/**
	 * In the child, right after fork, before the program's code runs: a
	 * module that owns threads or connections must recreate them here (a
	 * forked child has only the calling thread; locks other threads held
	 * at the fork stay held).  Called for fork and for clone without
	 * CLONE_VM, once per mount; not for vfork (the child shares the
	 * parent's memory until it execs) nor for threads.  Open handles stay
	 * valid: parent and child share every open file description, so a
	 * handle's state must live where both see it (a kernel descriptor,
	 * shared memory).  After exec the new image starts the mounts again
	 * (init) and reopens inherited emulated files by path.
	 */
	void (*after_fork_child)(void *priv);

	/* ---- Metadata by path ------------------------------------------- */

	/** stat of path; flags may hold DEFUSE_NOFOLLOW (lstat). */
	int (*getattr)(void *priv, const char *path, struct stat *st, int flags);

	/**
	 * statx of path: flags DEFUSE_NOFOLLOW, mask as statx(2)'s.  Fills
	 * *stx including stx_mask.  NULL: the core builds it from getattr
	 * (STATX_BASIC_STATS, no birth time).
	 */
	int (*statx)(void *priv, const char *path, int flags, unsigned int mask,
		     struct statx *stx);

	/**
	 * access(2) check of path for mode (F_OK, R_OK, W_OK, X_OK); flags as
	 * faccessat2's (AT_EACCESS, AT_SYMLINK_NOFOLLOW).  NULL: the core
	 * decides from getattr's mode and owner.
	 */
	int (*access)(void *priv, const char *path, int mode, int flags);

	/**
	 * Target of the symbolic link at path into buf (not NUL-terminated,
	 * truncated at size).  Returns its length.
	 */
	ssize_t (*readlink)(void *priv, const char *path, char *buf, size_t size);

	int (*mknod)(void *priv, const char *path, mode_t mode, dev_t dev);
	int (*mkdir)(void *priv, const char *path, mode_t mode);
	int (*unlink)(void *priv, const char *path);
	int (*rmdir)(void *priv, const char *path);
	/** Creates path as a symbolic link containing target. */
	int (*symlink)(void *priv, const char *target, const char *path);
	/** flags as renameat2's (RENAME_NOREPLACE, RENAME_EXCHANGE, ...). */
	int (*rename)(void *priv, const char *from, const char *to, unsigned int flags);
	int (*link)(void *priv, const char *from, const char *to);
	/** flags: DEFUSE_NOFOLLOW (fchmodat2 with AT_SYMLINK_NOFOLLOW). */
	int (*chmod)(void *priv, const char *path, mode_t mode, int flags);
	/** uid or gid (uid_t)-1 / (gid_t)-1 leave that one unchanged. */
	int (*chown)(void *priv, const char *path, uid_t uid, gid_t gid, int flags);
	int (*truncate)(void *priv, const char *path, off_t size);
	/** times as utimensat's, including UTIME_NOW and UTIME_OMIT. */
	int (*utimens)(void *priv, const char *path, const struct timespec times[2],
		       int flags);
	int (*statfs)(void *priv, const char *path, struct statfs *st);

	/** Extended attributes, as the *xattr(2) calls; flags: DEFUSE_NOFOLLOW. */
	ssize_t (*getxattr)(void *priv, const char *path, const char *name,
			    void *value, size_t size, int flags);
	int (*setxattr)(void *priv, const char *path, const char *name,
			const void *value, size_t size, int xflags, int flags);
	ssize_t (*listxattr)(void *priv, const char *path, char *list, size_t size,
			     int flags);
	int (*removexattr)(void *priv, const char *path, const char *name, int flags);

	/* ---- Open files ------------------------------------------------- */

	/**
	 * Opens path with open(2)'s flags (O_CREAT with mode creates it;
	 * O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW as the kernel
	 * defines them).  The core keeps the offset and O_APPEND semantics of
	 * emulated files; the module sees only positioned reads and writes.
	 */
	int (*open)(void *priv, const char *path, int flags, mode_t mode,
		    struct defuse_open *out);

	/** Reads up to size bytes at off.  Returns the count (0 at end). */
	ssize_t (*read)(void *priv, uint64_t fh, void *buf, size_t size, off_t off);
	/** Writes size bytes at off.  Returns the count. */
	ssize_t (*write)(void *priv, uint64_t fh, const void *buf, size_t size, off_t off);
	/** stat of the open file (also after it was unlinked).  NULL: getattr of its path. */
	int (*fgetattr)(void *priv, uint64_t fh, struct stat *st);
	int (*ftruncate)(void *priv, uint64_t fh, off_t size);
	int (*fsync)(void *priv, uint64_t fh, int datasync);
	/** fallocate(2) modes.  NULL: -EOPNOTSUPP. */
	int (*fallocate)(void *priv, uint64_t fh, int mode, off_t off, off_t len);
	/**
	 * SEEK_DATA / SEEK_HOLE from off.  NULL: the whole file is data (the
	 * kernel's own fallback for file systems without holes).
	 */
	off_t (*seek_data)(void *priv, uint64_t fh, off_t off, int whence);
	/** The last descriptor of the open file description is gone. */
	int (*release)(void *priv, uint64_t fh);

	/* ---- Directories ------------------------------------------------ */

	int (*opendir)(void *priv, const char *path, uint64_t *fh);
	/**
	 * Lists entries from position pos (0: the start, else a `next` given
	 * to fill earlier), calling fill for each until it returns 1 or the
	 * directory ends.  Includes "." and "..".  Returns 0 or -errno.
	 */
	int (*readdir)(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill,
		       void *ctx);
	int (*releasedir)(void *priv, uint64_t fh);

	/* ---- Added in API v1 (the core checks ops_size before using them) -- */

	/**
	 * Locks of an emulated open file: a kernel descriptor, of the file's
	 * backing inode, that belongs to this open file alone (opened for fh,
	 * with its access mode) and stays open until release.  The core takes
	 * the program's record (F_SETLK...), open-file-description (F_OFD_*)
	 * and flock locks on it, so the kernel enforces them: between threads
	 * and processes, against other programs using the backing file, and
	 * releases them on close and at exit.  The module keeps ownership; it
	 * must not open and close other descriptors of that inode meanwhile
	 * (closing any descriptor of a file drops the process's record locks).
	 * The core also uses it to ask the kernel where an open directory is
	 * now (after a rename), so it must be a descriptor of the open file
	 * itself.  Across exec the core hands it to the new image, which owns
	 * it from then on (with the locks on it) and closes it itself: the
	 * module must not count on it after an exec.
	 * Returns the descriptor, or -errno.  NULL: the lock calls on the
	 * module's emulated files fail with EOPNOTSUPP.
	 */
	int (*lock_fd)(void *priv, uint64_t fh);

	/**
	 * An O_APPEND write of an emulated file: writes size bytes at the end
	 * of the file, atomically with respect to every other write to it
	 * (other open files, other processes), and sets *end to the offset
	 * just after the data.  Returns the count.  NULL: the core writes at
	 * the size fgetattr reports, under the open file's own lock, so two
	 * open files of one file appending at once can overwrite each other.
	 */
	ssize_t (*append)(void *priv, uint64_t fh, const void *buf, size_t size, off_t *end);
};

/**
 * Host service: sets a descriptor the module keeps for itself (a root
 * directory, a connection) aside, so it does not take a number the program
 * would get, and the program's close, dup2 and close_range cannot touch it.
 * Returns the descriptor's new number (the old one is closed), or -errno.
 * Declared weak: outside DEFUSE (a unit test, the FUSE bridge) it is NULL,
 * so call it as `fd = defuse_keep_fd ? defuse_keep_fd(fd) : fd`.
 */
extern int defuse_keep_fd(int fd) __attribute__((weak));

/**
 * Closes a descriptor set aside with defuse_keep_fd (a plain close would
 * leave its number marked as DEFUSE's).  Returns 0 or -errno.  Weak like
 * defuse_keep_fd: outside DEFUSE, close the descriptor yourself.
 */
extern int defuse_close_kept(int fd) __attribute__((weak));

/**
 * Whether the calling thread's file-system user and group IDs are its real
 * ones, as they are unless the program is set-user-ID or changed its IDs.
 * access(2) checks with the real IDs, so a module that looks paths up with
 * its own system calls (which use the file-system IDs) has to switch IDs
 * for access only when this says 0.  Cached per thread and forgotten at
 * every set*id call the thread makes, so it costs no system call in the
 * common case.  Weak like defuse_keep_fd: outside DEFUSE it is NULL; then
 * compare getuid() with setfsuid(-1) yourself.
 */
extern int defuse_fs_ids_are_real(void) __attribute__((weak));

/** Module flags (struct defuse_module.flags). */
#define DEFUSE_MODULE_NOT_SIGNAL_SAFE 0x1 /* the core blocks signals around calls */
#define DEFUSE_MODULE_RESOLVES        0x2 /* resolves ".." and symlinks itself (see top) */

/** The one object a module exports, under the name DEFUSE_MODULE_SYMBOL. */
struct defuse_module {
	uint32_t api_version;	/**< DEFUSE_API_VERSION the module was built with */
	uint32_t ops_size;	/**< sizeof(struct defuse_ops) it was built with */
	const char *name;	/**< short name, as in "-m /mnt=NAME:args" */
	const char *description; /**< one line for `defuse modules` */
	uint32_t flags;		/**< DEFUSE_MODULE_* */
	const struct defuse_ops *ops;
};

#ifdef __cplusplus
}
#endif

#endif
