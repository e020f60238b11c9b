/*
 * DEFUSE module API, version 2.
 *
 * A module is a shared object that serves one kind of file system.  Two
 * hosts run it, and both keep this contract the same way (one adapter,
 * src/module/call.c, implements every fallback and policy below for both):
 *
 *  - in-process (DEFUSE_HOST_PROCESS): `defuse run -m MNT=MODULE:ARGS`, or
 *    LD_PRELOAD=libdefuse.so with DEFUSE_MOUNTS.  DEFUSE loads the module
 *    into every process that uses the mount and calls it directly, in the
 *    process and thread that made the system call: no daemon, no queue.
 *    Each process (each exec'd image) has its own instance of every mount:
 *    state a module keeps in memory is not seen by other processes.
 *  - the FUSE bridge (DEFUSE_HOST_FUSE): `defuse mount MNT MODULE:ARGS`
 *    serves one instance through kernel FUSE (libfuse 3, high-level API)
 *    for processes DEFUSE does not capture.
 *
 * docs/module-api.md has the contract on one page, the fallback table and
 * the changes since version 1.
 *
 * The contract, in short:
 *
 *  - Paths are relative to the mount's root and start with "/" ("/" is the
 *    root itself).  By default they are already resolved by the host: no
 *    "." or ".." components and no symbolic links, except in the last
 *    component where an operation says so; every directory on the way
 *    exists.  A module that sets DEFUSE_MODULE_RESOLVES gets paths (in
 *    process) that are only cleaned of "." and "//": they may hold ".." and
 *    symbolic links, which the module resolves itself, beneath its root,
 *    returning -EXDEV whenever resolution would leave the root (".." above
 *    it, an absolute symbolic link, a relative one climbing out).  The host
 *    then resolves that path component by component, as the kernel would
 *    across a mount boundary.  This saves one lookup per component (the
 *    passthrough module does it with openat2(RESOLVE_BENEATH)).  The bridge
 *    always hands over resolved paths (the kernel resolves them).
 *  - Errors are negative errno values (-ENOENT), exactly the values the
 *    kernel would give for the same failure on a local file system, in the
 *    kernel's order (an argument check before the lookup, the lookup before
 *    a permission check); success is 0 or a non-negative count.
 *  - Every operation pointer may be NULL.  What the hosts then do is
 *    written at each member ("NULL:") and is the same in both hosts.  Where
 *    a fallback names an existence check, the host first looks the path up
 *    (getattr) and returns that error (ENOENT...), as the kernel does before
 *    it finds that a file system lacks the operation.
 *  - Modes: the host applies the caller's umask to the mode of open
 *    (O_CREAT, O_TMPFILE), mkdir and mknod before calling the module (in
 *    process the host tracks the program's umask; through FUSE the kernel
 *    applies it).  The module stores the mode it is given, and stores no
 *    bit outside 07777 but the file type.
 *  - Read-only: a module that sets DEFUSE_MODULE_READONLY (or asks for
 *    DEFUSE_CAP_READONLY at init) is never asked to change anything: the
 *    hosts answer EROFS for every call that would, after the checks the
 *    kernel makes first and in its order (unlink of any name: EROFS; open
 *    O_CREAT of a missing name: EROFS, of an existing one without
 *    O_EXCL: the open goes on read-only; mkdir of an existing name: EEXIST;
 *    chmod of a missing name: ENOENT...), statfs reports ST_RDONLY, and the
 *    bridge mounts read-only.  Such a module may leave every operation that
 *    changes the file system NULL.
 *  - Threads: operations may be called from any thread, at the same time: a
 *    module must be thread-safe.
 *  - Signals: an operation is never re-entered from a signal handler in the
 *    same thread.  In process, a signal that arrives while DEFUSE or a
 *    module runs waits until the call returns to the program (docs/core.md,
 *    "Process lifecycle"), so a module may hold its own locks across its
 *    calls; for the same reason a blocking operation is not interrupted by
 *    a signal and must not block indefinitely (setlk and flock, which may
 *    wait, are asked without waiting in process and retried by the host,
 *    unless the module waits itself, interruptibly: DEFUSE_CAP_LOCK_WAIT).
 *    In the bridge a request whose caller got a signal is interrupted: the
 *    serving thread gets a signal that ends a blocking system call with
 *    EINTR, which the module returns.
 *  - Async-signal-safety: in process, operations may run while the
 *    program's thread was inside malloc, stdio or any other libc lock (the
 *    program made a system call from a signal handler, or another thread
 *    holds such a lock across fork).  Operations other than init and
 *    destroy should therefore not allocate, use stdio or take locks that
 *    code outside the module can hold; after_fork_child must not (see
 *    there).
 *  - A module's own system calls (made through libc or raw) go straight to
 *    the kernel: DEFUSE never routes them back into any mount.
 *
 * Build a module against the pkg-config package "defuse":
 *     cc -shared -fPIC $(pkg-config --cflags defuse) -o mymod.so mymod.c
 * and export one symbol, DEFUSE_MODULE_SYMBOL, a const struct
 * defuse_module.  A module built for another API version is refused by
 * both hosts with a message that says so.
 */
#ifndef DEFUSE_MODULE_H
#define DEFUSE_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>	/* struct flock */
#include <sys/stat.h>
#include <linux/stat.h>	/* struct statx */
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The API version this header describes. */
#define DEFUSE_API_VERSION 2

/** The symbol every module exports: `const struct defuse_module defuse_module_v2`. */
#define DEFUSE_MODULE_SYMBOL "defuse_module_v2"

/** Flag for operations on a path: do not follow a symbolic link in the last component. */
#define DEFUSE_NOFOLLOW 0x1

/**
 * What open hands back.
 *
 * fh is the module's handle for the open file, passed back to every
 * operation on it until release.
 *
 * kernel_fd: a module that keeps the file in a real kernel file (the
 * passthrough module does) may set it to a descriptor it opened with the
 * same access mode and status flags, when the host offers
 * DEFUSE_CAP_KERNEL_FD (both hosts do).  The host then serves the file
 * with that descriptor: in process the program gets that very open file
 * description (reads, writes, mmap, locks, fork and exec run at kernel
 * speed and never reach the module again); the bridge does the file's I/O
 * on it.  The host takes ownership of the descriptor and calls release for
 * fh at once: from then on the file is the kernel's.  A module that serves
 * the data itself leaves kernel_fd at -1 (the file is then "emulated": every
 * read and write comes to the module, and release comes when the last
 * descriptor of the open file is closed).
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

/**
 * Open flag: the file is opened to be run (execve), with O_RDONLY; the
 * kernel's __FMODE_EXEC, which FUSE hands file systems too.  The
 * permission to check is execute, not read (a program of mode 0711 runs
 * for every user, who cannot read it), and only a regular file can be
 * run (EACCES).  A module that checks no permissions may ignore it;
 * open(2) ignores it too.
 */
#define DEFUSE_O_EXEC 040

/** Which host runs the module (struct defuse_conn.host). */
#define DEFUSE_HOST_PROCESS 1	/* in the program's process (libdefuse.so) */
#define DEFUSE_HOST_FUSE    2	/* the FUSE bridge, defuse-fuse */

/**
 * Capabilities (struct defuse_conn.capable and .want).
 *
 * DEFUSE_CAP_KERNEL_FD: open may answer with a kernel descriptor
 * (defuse_open.kernel_fd).  Offered by both hosts; a module that finds it
 * missing serves every file's data itself.
 *
 * DEFUSE_CAP_READONLY: the host enforces a read-only file system (see the
 * top, and DEFUSE_MODULE_READONLY).  Offered by both hosts; a module asks
 * for it in want to be read-only for this mount only (an "ro" argument, a
 * source it can only read).
 *
 * DEFUSE_CAP_LOCK_WAIT: setlk with wait and flock without LOCK_NB come as
 * the program asked, in process too, and the module waits for the lock
 * itself, as the kernel does (an unlock anywhere ends the wait at once):
 * in a system call made between defuse_waiting(1) and defuse_waiting(0),
 * holding none of its locks there, and returning -EINTR when a signal
 * ended the wait (the system call's EINTR, or a 1 from defuse_waiting:
 * a handler ran while the module was not asleep).  Without it, the
 * in-process host asks
 * without waiting and asks again after a sleep while the lock is taken,
 * which can only notice an unlock late (up to 32 ms).  Offered by both
 * hosts; the bridge always asks as the program asked.
 *
 * DEFUSE_CAP_PERMISSIONS: the host checks the directories of a call's path
 * as the kernel checks them for a FUSE file system mounted with
 * default_permissions, from the attributes getattr gives: search (x) on
 * every directory a name is looked up in ("." and ".." too); write and
 * search on the directory where a name is made (mknod, mkdir, symlink,
 * link, open with O_CREAT of a missing name, O_TMPFILE) or removed
 * (unlink, rmdir, rename's two names), with the sticky directory's rule
 * (EPERM unless the caller owns the file or the directory); write on a
 * directory that rename moves to another directory; and, as
 * fs.protected_hardlinks says, link only of a file the caller owns or
 * may read and write (a regular one, neither set-user-ID nor executable
 * set-group-ID).  The caller is the thread's file-system user and group
 * (access(2): its real ones) and its supplementary groups; user 0 passes
 * them all, as the kernel's capabilities let it.  The errors come in the
 * kernel's order (an existing name is EEXIST, a missing one ENOENT, before
 * EACCES).  The file's own checks (open, access, changes of attributes)
 * stay the module's.  Only for paths the host resolves (a module without
 * DEFUSE_MODULE_RESOLVES).  Offered by both hosts: the in-process host
 * makes the checks, the FUSE bridge mounts with default_permissions (the
 * kernel then checks opens and changes of attributes too).
 *
 * DEFUSE_CAP_ONE_INSTANCE: the mount is served by one instance of the
 * module for the whole process tree, instead of one per process image.
 * For a module whose state cannot be split between processes (a disk
 * image whose metadata it keeps in memory: two instances writing one
 * image corrupt it).  init asks for it *instead of starting*: it sets it
 * in want and returns 0 having started nothing; the host then calls no
 * other operation of that start (not even destroy) and serves the mount
 * through the `shared` module (modules/shared: one server process, which
 * starts the module once), exactly as the mount `shared:MODULE:ARGS`.
 * Offered only by the in-process host (the bridge and the shared server
 * are one instance already, and there init starts as usual).
 */
#define DEFUSE_CAP_KERNEL_FD    0x1
#define DEFUSE_CAP_READONLY     0x2
#define DEFUSE_CAP_LOCK_WAIT    0x4
#define DEFUSE_CAP_PERMISSIONS  0x8
#define DEFUSE_CAP_ONE_INSTANCE 0x10

/**
 * What a host and a module agree on when a mount starts (init).  Hosts
 * fill host and capable, and want with what the module's flags already
 * ask for (DEFUSE_CAP_READONLY for DEFUSE_MODULE_READONLY); init may add
 * capabilities to want (bits the host does not offer are ignored).  The
 * host reads want after init returns 0.  reserved is zero.
 */
struct defuse_conn {
	uint32_t host;		/**< DEFUSE_HOST_* */
	uint32_t capable;	/**< DEFUSE_CAP_* this host offers */
	uint32_t want;		/**< DEFUSE_CAP_* the module uses */
	uint32_t reserved[5];
};

/** The operations of a module.  Any member may be NULL (see each). */
struct defuse_ops {
	/* ---- Life cycle ------------------------------------------------ */

	/**
	 * Starts one mount.  args is the text after "MODULE:" in the mount
	 * specification ("" if none); conn is the host's offer (struct
	 * defuse_conn).  Sets *priv to the mount's state, passed to every
	 * other operation.  Returns 0, or a negative errno and writes a
	 * one-line reason to `why` (NUL-terminated, at most why_len bytes),
	 * which the host shows to the user before it stops (in process the
	 * program does not run: status 127; the bridge does not mount).
	 *
	 * In process: called once per mount at the start of every process
	 * image that has the mount, before the program's code runs, while
	 * the process has one thread: at start-up and again in the new image
	 * after every exec (the module is loaded afresh; nothing of the old
	 * image's instance survives but the kernel descriptors it did not
	 * mark close-on-exec).  Not called in a forked child (see
	 * after_fork_child).  Bridge: once, in the serving process, before
	 * the mount is made.  May allocate and use stdio.
	 * NULL: *priv is NULL and the mount starts.
	 */
	int (*init)(const char *args, struct defuse_conn *conn, void **priv,
		    char *why, size_t why_len);

	/**
	 * Ends one mount, once, after which no operation of it is called.
	 *
	 * In process: when the process ends normally, that is through exit(3)
	 * (or a return from main): after the program's atexit handlers,
	 * library destructors and stdio's final flush, at the process's last
	 * system call (exit_group), and only if the process then has one
	 * thread (another thread could be inside the module).  Not called for
	 * _exit(2), a direct exit_group, a fatal signal, an exec (the image is
	 * replaced; the new one calls init), nor in a vfork child.  Open
	 * handles are not released first.  Bridge: after the file system is
	 * unmounted and every request has finished.  A module must not count
	 * on destroy to make data durable (a killed process never calls it).
	 * A module that must act at every end of a process, also where
	 * destroy is not called, has process_end (at the end of this table).
	 * NULL: nothing is done.
	 */
	void (*destroy)(void *priv);

	/**
	 * In process only: in the child, right after fork, before the
	 * program's code runs: a module that owns threads or connections must
	 * recreate them here (a forked child has only the calling thread;
	 * locks other threads held at the fork stay held).  Called for fork
	 * and for clone without CLONE_VM, once per mount; not for vfork (the
	 * child shares the parent's memory until it execs) nor for threads.
	 * Open handles stay valid: parent and child share every open file
	 * description, so a handle's state must live where both see it (a
	 * kernel descriptor, shared memory).  It runs right after the kernel's
	 * clone, before libc's own fork handling in the child: malloc's and
	 * stdio's locks may still be held then (libc took them for the fork),
	 * so it must not allocate, use stdio or take such locks; mark what
	 * must be recreated and do it at the next operation instead.  After
	 * exec the new image calls init again and reopens inherited emulated
	 * files (open_handle, else open by path).
	 * NULL: nothing is done.
	 */
	void (*after_fork_child)(void *priv);

	/* ---- Metadata by path ------------------------------------------- */

	/**
	 * stat of path; flags may hold DEFUSE_NOFOLLOW (lstat).  Also the
	 * host's lookup: in process, every component of a path the host
	 * resolves, and the existence checks of the fallbacks below.
	 * NULL: built from statx (STATX_BASIC_STATS); both NULL: -ENOSYS.
	 */
	int (*getattr)(void *priv, const char *path, struct stat *st, int flags);

	/**
	 * statx of path: flags DEFUSE_NOFOLLOW, mask as statx(2)'s.  Fills
	 * *stx including stx_mask.  In process only (FUSE speaks no statx
	 * in libfuse 3.14: the bridge uses getattr).
	 * NULL: built from getattr (STATX_BASIC_STATS, no birth time).
	 */
	int (*statx)(void *priv, const char *path, int flags, unsigned int mask,
		     struct statx *stx);

	/**
	 * access(2) check of path for mode (F_OK, or R_OK, W_OK, X_OK);
	 * flags as faccessat2's (AT_EACCESS, AT_SYMLINK_NOFOLLOW).  Runs with
	 * the caller's identity (in process: the thread's own; bridge: set
	 * per request as root, or the daemon's own).  Also chdir's check
	 * (X_OK).  Through FUSE without default_permissions only.
	 * NULL: decided from getattr's mode and owner with the caller's IDs
	 * (real ones, effective with AT_EACCESS): root may read and write
	 * anything and execute what has an x bit or is a directory; others
	 * need the owner's, a group's or the others' bits.  Read-only: W_OK
	 * on a file, directory or link is EROFS first.
	 */
	int (*access)(void *priv, const char *path, int mode, int flags);

	/**
	 * Target of the symbolic link at path into buf (not NUL-terminated,
	 * truncated at size).  Returns its length; -EINVAL for a name that is
	 * no symbolic link.
	 * NULL: the file system has no links: -EINVAL if path exists, else
	 * the lookup's error.
	 */
	ssize_t (*readlink)(void *priv, const char *path, char *buf, size_t size);

	/**
	 * statfs of the file system path is on (statfs, fstatfs, statvfs).
	 * Read-only: the host adds ST_RDONLY | ST_VALID to f_flags.  Through
	 * FUSE the kernel reports f_type and f_flags itself.
	 * NULL: existence check, then -ENOSYS (the kernel's answer for a
	 * file system without statfs).
	 */
	int (*statfs)(void *priv, const char *path, struct statfs *st);

	/* ---- Names ------------------------------------------------------- */

	/*
	 * Creating and removing names.  The host has checked the last
	 * component's kind ("." and ".." never come here) and that the
	 * directory part exists.  mode holds the file type (mknod) and the
	 * permission bits with the caller's umask already applied.
	 * NULL: the kernel's answer for a directory that cannot do it: after
	 * its lookups (mknod, mkdir, symlink: EEXIST for a taken name; link:
	 * ENOENT for a missing old name, then EEXIST; unlink, rmdir, rename:
	 * ENOENT for a missing name), -EPERM.  Read-only: mknod, mkdir,
	 * symlink and link EEXIST for a taken name, else EROFS; unlink,
	 * rmdir and rename EROFS without a lookup, as the kernel.
	 */
	int (*mknod)(void *priv, const char *path, mode_t mode, dev_t dev);
	int (*mkdir)(void *priv, const char *path, mode_t mode);
	int (*unlink)(void *priv, const char *path);
	int (*rmdir)(void *priv, const char *path);
	/** Creates path as a symbolic link containing target. */
	int (*symlink)(void *priv, const char *target, const char *path);
	/** flags as renameat2's (RENAME_NOREPLACE, RENAME_EXCHANGE, ...). */
	int (*rename)(void *priv, const char *from, const char *to, unsigned int flags);
	/** A new name to for the file at from (never a symbolic link followed). */
	int (*link)(void *priv, const char *from, const char *to);

	/* ---- Attributes by path ------------------------------------------ */

	/*
	 * Changes of one object's attributes.  flags: DEFUSE_NOFOLLOW (not
	 * truncate, which always follows).  Also what the *_by-handle
	 * operations fall back to (fchmod, fchown, futimens, ftruncate).
	 * NULL: existence check, then -EPERM.  Read-only: existence check,
	 * then EROFS (truncate: EISDIR for a directory and EINVAL for
	 * anything but a regular file come first; utimens with both times
	 * UTIME_OMIT is 0 without a lookup, as the kernel).
	 */
	/** mode: permission bits only (07777). */
	int (*chmod)(void *priv, const char *path, mode_t mode, int flags);
	/** uid or gid (uid_t)-1 / (gid_t)-1 leave that one unchanged. */
	int (*chown)(void *priv, const char *path, uid_t uid, gid_t gid, int flags);
	/** size >= 0 (the host answers EINVAL for a negative one first). */
	int (*truncate)(void *priv, const char *path, off_t size);
	/** times as utimensat's, including UTIME_NOW and UTIME_OMIT; NULL: now. */
	int (*utimens)(void *priv, const char *path, const struct timespec times[2],
		       int flags);

	/* ---- Extended attributes ----------------------------------------- */

	/*
	 * As the *xattr(2) calls; flags: DEFUSE_NOFOLLOW; xflags: setxattr's
	 * XATTR_CREATE, XATTR_REPLACE.  The host checks first what the kernel
	 * checks before the lookup: flags (EINVAL), the name (ERANGE for an
	 * empty one or one over 255 bytes), the size (E2BIG over 65536).
	 * NULL: existence check, then -EOPNOTSUPP (getxattr, setxattr,
	 * removexattr) and an empty list (listxattr: 0), the kernel's answers
	 * for a file system without extended attributes.  Read-only:
	 * setxattr and removexattr give EROFS after the existence check.
	 */
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
	 * O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW, O_PATH,
	 * O_TMPFILE as the kernel defines them) and fills *out.  Directories
	 * are opened here too (O_RDONLY | O_DIRECTORY, or O_PATH) and listed
	 * with readdir on the same handle; there is no opendir.  The host
	 * keeps the offset and O_APPEND semantics of emulated files; the
	 * module sees only positioned reads and writes.  mode has the caller's
	 * umask applied.  The bridge adds O_CLOEXEC, and may open O_WRONLY
	 * as O_RDWR and leave O_APPEND out under -o writeback_cache (the
	 * kernel then caches and places writes).  Read-only: the host has
	 * refused every open that writes (O_WRONLY, O_RDWR, O_TRUNC,
	 * O_TMPFILE, O_CREAT of a missing name) of a regular file, directory
	 * or link; O_CREAT and O_EXCL are taken out of the flags.
	 * NULL: existence check, then -ENOSYS: the module serves metadata
	 * only.  DEFUSE_O_EXEC in flags: opened to be run (below).
	 */
	int (*open)(void *priv, const char *path, int flags, mode_t mode,
		    struct defuse_open *out);

	/**
	 * The open file is gone.  In process: this process closed its last
	 * descriptor of the open file description.  Each process that shares
	 * it by fork releases its own (the child's instance is a copy of the
	 * parent's, handles included); not called at process exit, exec or
	 * kill (the memory goes, kernel descriptors close by themselves).
	 * Bridge: FUSE release, when the kernel drops the file, after the
	 * last close returned.
	 * NULL: nothing is done.
	 */
	void (*release)(void *priv, uint64_t fh);

	/**
	 * A descriptor of the open file is being closed: called at every
	 * close(2) (also dup2 or close_range over it) of an emulated file,
	 * before release for the last one, as FUSE's flush (not for O_PATH
	 * descriptors nor directories; in process: directories opened
	 * O_DIRECTORY, as every listing program opens them).  The place to
	 * report a deferred write error, which close returns.  In process it
	 * runs in the closing process; descriptors the kernel closes itself
	 * (at exit, close-on-exec at exec) are not flushed.  Bridge: FUSE
	 * flush.
	 * NULL: 0.
	 */
	int (*flush)(void *priv, uint64_t fh);

	/**
	 * Reads up to size bytes at off.  Returns the count (0 at end).
	 * NULL: -EINVAL, the kernel's answer for a file system without read.
	 */
	ssize_t (*read)(void *priv, uint64_t fh, void *buf, size_t size, off_t off);

	/**
	 * Writes size bytes at off.  Returns the count.
	 * NULL: -EINVAL, the kernel's answer for a file system without write.
	 */
	ssize_t (*write)(void *priv, uint64_t fh, const void *buf, size_t size, off_t off);

	/**
	 * An O_APPEND write of an emulated file: writes size bytes at the end
	 * of the file, atomically with respect to every other write to it
	 * (other open files, other processes), and sets *end to the offset
	 * just after the data.  Returns the count.
	 * NULL: the host writes at the size fgetattr reports, one append at a
	 * time per open file description (in process, across processes; the
	 * bridge, one at a time in all), so two descriptions of one file
	 * appending at once can overwrite each other.
	 */
	ssize_t (*append)(void *priv, uint64_t fh, const void *buf, size_t size, off_t *end);

	/**
	 * stat of the open file (also after it was renamed or unlinked).
	 * Also the size for lseek(SEEK_END), the no-holes fallback of
	 * seek_data, appends without append, and exec's copy.
	 * NULL: getattr of the path it was opened by (stale after a rename).
	 */
	int (*fgetattr)(void *priv, uint64_t fh, struct stat *st);

	/**
	 * ftruncate of the open file (the host checked it is open for
	 * writing, EINVAL otherwise, and size >= 0).
	 * NULL: truncate of the path it was opened by.
	 */
	int (*ftruncate)(void *priv, uint64_t fh, off_t size);

	/**
	 * fchmod, fchown, futimens of the open file (also of one opened
	 * O_PATH, through fchmodat(fd, "", AT_EMPTY_PATH)...); arguments as
	 * chmod, chown, utimens.  Read-only: EROFS (futimens with both times
	 * omitted: 0).
	 * NULL: chmod, chown, utimens of the path it was opened by.
	 */
	int (*fchmod)(void *priv, uint64_t fh, mode_t mode);
	int (*fchown)(void *priv, uint64_t fh, uid_t uid, gid_t gid);
	int (*futimens)(void *priv, uint64_t fh, const struct timespec times[2]);

	/**
	 * Links the open file to the name newpath, as linkat(fd, "", ...,
	 * AT_EMPTY_PATH) or linkat of /proc/self/fd/N with AT_SYMLINK_FOLLOW
	 * do: the way an O_TMPFILE file gets a name.  -ENOENT for a file
	 * that cannot get one (unlinked, or O_TMPFILE | O_EXCL), -EEXIST for
	 * a taken name.  In process only (libfuse's high-level API has no
	 * tmpfile).  Read-only: EEXIST for a taken name, else EROFS.
	 * NULL: link of the path it was opened by, or -ENOENT for an
	 * O_TMPFILE file (it has no name).
	 */
	int (*flink)(void *priv, uint64_t fh, const char *newpath);

	/**
	 * fsync and fdatasync (datasync 1) of the open file, or of an open
	 * directory (fsyncdir).  In process also syncfs on it.
	 * NULL: 0.
	 */
	int (*fsync)(void *priv, uint64_t fh, int datasync);

	/**
	 * fallocate(2) modes (the host checked the file is open for writing).
	 * NULL: -EOPNOTSUPP, the kernel's answer.
	 */
	int (*fallocate)(void *priv, uint64_t fh, int mode, off_t off, off_t len);

	/**
	 * SEEK_DATA or SEEK_HOLE from off: the offset found, -ENXIO past the
	 * data.  Bridge: FUSE lseek.
	 * NULL: the whole file is data, as the kernel answers for file
	 * systems without holes (its size from fgetattr).
	 */
	off_t (*seek_data)(void *priv, uint64_t fh, off_t off, int whence);

	/**
	 * Lists a directory opened by open, from position pos (0: the start,
	 * else a `next` given to fill earlier), calling fill for each entry
	 * until it returns 1 or the directory ends.  Includes "." and "..".
	 * Returns 0 or -errno (-ENOTDIR for a handle of a file).
	 * NULL: -ENOTDIR, as the kernel for a file system that cannot list.
	 */
	int (*readdir)(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill,
		       void *ctx);

	/* ---- Locks ------------------------------------------------------ */

	/**
	 * Locks of an emulated open file, by a kernel descriptor: one of the
	 * file's backing inode that belongs to this open file alone (opened
	 * for fh, with its access mode) and stays open until release.  The
	 * in-process host takes the program's record (F_SETLK...),
	 * open-file-description (F_OFD_*) and flock locks on it, so the
	 * kernel enforces them: between threads and processes, against other
	 * programs using the backing file, and releases them on close and at
	 * exit.  The bridge takes flock locks on it (record locks of a FUSE
	 * mount are kept by the FUSE kernel module unless the module has
	 * getlk/setlk).  The module keeps ownership; it must not open and
	 * close other descriptors of that inode meanwhile (closing any
	 * descriptor of a file drops the process's record locks).  The
	 * in-process host also uses it to ask the kernel where an open
	 * directory is now (after a rename), so it must be a descriptor of
	 * the open file itself.  Across exec the host hands it to the new
	 * image, which owns it from then on (with the locks on it) and
	 * closes it itself: the module must not count on it after an exec.
	 * Returns the descriptor, or -errno.  Takes precedence over getlk,
	 * setlk and flock.
	 * NULL: the lock operations below, else no locks (ENOLCK).
	 */
	int (*lock_fd)(void *priv, uint64_t fh);

	/*
	 * Locks kept by the module itself, for a module with no kernel file
	 * behind an open file (no lock_fd), as FUSE's getlk, setlk and flock.
	 *
	 * owner identifies who holds a lock; compare it for equality only.
	 * For record locks (F_SETLK) it is the process (in process, its ID;
	 * through FUSE, the kernel's owner of the caller's descriptor table),
	 * for open-file-description locks (F_OFD_SETLK) and flock locks the
	 * open file description (shared by dup and fork).  Two requests of
	 * one owner never conflict; a lock of one owner replaces, splits or
	 * merges with the owner's earlier locks on the same range, as POSIX
	 * says.  struct flock comes normalized: l_whence SEEK_SET, l_start
	 * >= 0, l_len >= 0 (0: to the end of the file, however it grows);
	 * l_pid is the caller's process for record locks and -1 for OFD
	 * locks: keep it, getlk reports it.  The host checked the type
	 * against the file's access mode (EBADF) before.
	 *
	 * The host releases locks: a record lock when its process closes any
	 * descriptor of the file (setlk F_UNLCK of the whole file with that
	 * owner, after flush), an OFD or flock lock when the last descriptor
	 * of its open file description is closed (before release).  A
	 * process that ends without closing (killed, or in process any exit)
	 * does not release: a module that shares locks between processes
	 * must drop those of an l_pid that no longer exists.
	 *
	 * NULL, and no lock_fd: -ENOLCK for every lock call (the kernel's
	 * answer when no lock can be had), in both hosts.
	 */
	/** F_GETLK: the first lock that would conflict with *lock, written
	    into *lock, or l_type F_UNLCK if none. */
	int (*getlk)(void *priv, uint64_t fh, uint64_t owner, struct flock *lock);
	/**
	 * F_SETLK: takes (F_RDLCK, F_WRLCK) or drops (F_UNLCK) a lock;
	 * -EAGAIN on a conflict.  wait 1 (F_SETLKW): wait until it can be
	 * taken instead, or -EDEADLK; in process the host asks to wait only
	 * a module that wants DEFUSE_CAP_LOCK_WAIT (else it retries, so that
	 * the caller's signals can interrupt it).
	 */
	int (*setlk)(void *priv, uint64_t fh, uint64_t owner, const struct flock *lock,
		     int wait);
	/** flock(2): op LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB or not (the
	    in-process host adds LOCK_NB, and retries, unless the module wants
	    DEFUSE_CAP_LOCK_WAIT). */
	int (*flock)(void *priv, uint64_t fh, uint64_t owner, int op);

	/*
	 * Opening a file again by what it is, not by its name.  A process
	 * that inherits an open file through exec, or that opens
	 * /proc/self/fd/N (/dev/fd/N, /dev/stdin), must get the very file it
	 * holds, as the kernel gives it: even when it was renamed, removed or
	 * replaced under its name meanwhile.  A handle is the module's own
	 * name for a file, kept for the file's whole life (NFS's file handle,
	 * FUSE's inode number and generation, an inode index in memory).
	 */
	/**
	 * Writes open file fh's handle into buf (at most size bytes; size is
	 * at least DEFUSE_HANDLE_MAX) and returns its length (1 or more), or
	 * -errno.  The host keeps it in the open file description, which other
	 * processes and images share, so it must mean the same file in every
	 * process that mounts the same file system; it is asked for at most
	 * once per open file description, when it is first needed (exec, an
	 * open of /proc/self/fd/N).
	 * NULL (or NULL open_handle): the host reopens by path, checks that it
	 * found the same file (st_dev and st_ino, through fgetattr) and fails
	 * with EBADF (exec) or ESTALE (/proc/self/fd/N) when it did not.
	 */
	ssize_t (*file_handle)(void *priv, uint64_t fh, void *buf, size_t size);
	/**
	 * Opens the file a handle names, with open(2)'s access mode and
	 * O_TRUNC, O_APPEND, O_DIRECTORY, O_PATH, O_NOATIME (O_CREAT and
	 * O_EXCL never come), and fills *out as open does; kernel_fd in *out
	 * is allowed, as for open.  The file may have no name any more: it
	 * lives while some process holds it open, so the module must keep a
	 * removed file whose handle an open file description carries for as
	 * long as the description lives (in process: until release, and across
	 * exec until the new image's open_handle took it).  Permissions are
	 * checked as open checks them, with the caller's IDs.
	 *
	 * kfd, when not -1, is a kernel descriptor of the same file the host
	 * lends for the call: the lock_fd the file's earlier open gave
	 * (passed down through exec, or this process's own).  A module with
	 * kernel files behind its files may reopen it (open
	 * "/proc/self/fd/KFD"); it must neither close nor keep it.
	 * Returns 0 or -errno: -ESTALE when the handle names no file any more.
	 */
	int (*open_handle)(void *priv, const void *handle, size_t len, int kfd, int flags,
			   struct defuse_open *out);

	/**
	 * mmap of an emulated file (in process only): a kernel descriptor
	 * whose bytes are the open file's bytes, and stay so both ways: what
	 * read and write of fh show, a mapping of it shows, and what is
	 * written through a mapping of it, read shows (the module's own file
	 * behind fh, as passthrough's backing file).  The host then maps it
	 * itself, with the program's flags: MAP_SHARED and MAP_PRIVATE are
	 * the kernel's own mappings, coherent with every process and program
	 * using that file, with nothing to write back and nothing lost when
	 * a process is killed.  It must have fh's access mode (a shared
	 * writable mapping needs it open for writing, and the kernel refuses
	 * mprotect(PROT_WRITE) otherwise).  The module keeps ownership (it may
	 * be the lock_fd descriptor).  Returns the descriptor, or -errno.
	 * NULL, or an error: the host's user-space pager serves the mapping,
	 * a page cache filled with read and written back with write
	 * (docs/paging.md).
	 */
	int (*map_fd)(void *priv, uint64_t fh);

	/**
	 * Where open file fh is now (in process only): its mount-relative
	 * path ("/a/b", "/" for the root) written into buf (size bytes, at
	 * least PATH_MAX), after renames of it or of a directory above it.
	 * The host asks for directories it keeps open (a directory
	 * descriptor, the cwd) when a path relative to one fails, to walk
	 * again from where the directory went, as the kernel's lookup
	 * starts from the directory's inode whatever its name became,
	 * and for any open file whose /proc/self/fd link the program
	 * reads.  Returns 0, -ENOENT when it has no name any more
	 * (removed), or -errno (not known: the host uses the path fh was
	 * opened by).  Used only for modules without kernel files (no
	 * kernel_fd, no lock_fd), whose place the host learns from the
	 * kernel otherwise.
	 * NULL: the host keeps the path fh was opened by.
	 */
	int (*fh_path)(void *priv, uint64_t fh, char *buf, size_t size);

	/**
	 * In process only: the process ends, however it got there: exit(3),
	 * _exit(2) (which shells call: dash always ends so) or a direct
	 * exit_group, at that last system call, once per mount, before
	 * destroy when destroy is called too.  Not for a fatal signal, an
	 * exec, a thread's own exit, nor in a vfork child (its memory is the
	 * parent's).  Other threads may still be running and calling the
	 * module (destroy waits for one thread; this does not): free nothing
	 * they may use.  The program may have called _exit where it held a
	 * libc lock (in a signal handler, in a forked child): do not
	 * allocate, use stdio or take such locks.  For a module whose work
	 * outlives the process elsewhere (the shared module's server) and
	 * that must be done before the process's parent sees it end.
	 * Bridge: not called.
	 * NULL: nothing is done.
	 */
	void (*process_end)(void *priv);

	/**
	 * An ioctl on open file fh (a file or a directory) that the host does
	 * not answer itself: it answers those the kernel answers for every
	 * file system (FIONREAD, FIGETBSZ, FS_IOC_FIEMAP, ...; docs/core.md,
	 * "ioctl").  As kernel FUSE passes a file system its ioctls
	 * ("restricted" ones), cmd says how many bytes its argument points to
	 * and which way they go (_IOC_SIZE, _IOC_DIR; FS_IOC_GETFLAGS and
	 * FS_IOC_SETFLAGS carry an int, as the kernel reads and writes them
	 * whatever their number says): data holds those size bytes, the
	 * program's when _IOC_DIR(cmd) has _IOC_WRITE, else zeros, and after
	 * a call that returned >= 0 the host copies them back to the program
	 * when it has _IOC_READ.  arg is the program's argument as it was: a
	 * value for requests without data; a pointer into the program's
	 * memory is not the module's to follow (kernel FUSE does not let a
	 * file system follow one either).  Returns the ioctl's result (>= 0)
	 * or -errno; -ENOTTY for a request the module does not know.
	 * Bridge: kernel FUSE's FUSE_IOCTL.
	 * NULL: -ENOTTY for every such request.
	 */
	long (*ioctl)(void *priv, uint64_t fh, unsigned int cmd, unsigned long arg,
		      void *data, size_t size);
};

/** The largest handle a module's file_handle may write. */
#define DEFUSE_HANDLE_MAX 128

/*
 * Host services, for modules running in process: libdefuse.so defines
 * them (its only exported symbols), the bridge does not.  Declared weak:
 * outside the in-process host (a unit test, the FUSE bridge) they are
 * NULL, so test before calling.
 */

/**
 * Sets a descriptor the module keeps for itself (a root directory, a
 * connection, an emulated file's backing descriptor) aside, so it does not
 * take a number the program would get, and the program's close, dup2 and
 * close_range cannot touch it.  Returns the descriptor's new number (the
 * old one is closed), or -errno.  Call it as
 * `fd = defuse_keep_fd ? defuse_keep_fd(fd) : fd`.
 */
extern int defuse_keep_fd(int fd) __attribute__((weak));

/**
 * Closes a descriptor set aside with defuse_keep_fd (a plain close would
 * leave its number marked as DEFUSE's).  Returns 0 or -errno (-EBADF for
 * a descriptor that was not set aside).  Outside the in-process host,
 * close the descriptor yourself.
 */
extern int defuse_close_kept(int fd) __attribute__((weak));

/**
 * Whether the calling thread's file-system user and group IDs are its real
 * ones, as they are unless the program is set-user-ID or changed its IDs.
 * access(2) checks with the real IDs, so a module that looks paths up with
 * its own system calls (which use the file-system IDs) has to switch IDs
 * for access only when this says 0.  Cached per thread and forgotten at
 * every set*id call the thread makes, so it costs no system call in the
 * common case.  Outside the in-process host compare getuid() with
 * setfsuid(-1) yourself.
 */
extern int defuse_fs_ids_are_real(void) __attribute__((weak));

/**
 * The calling thread's file-system user and group IDs (what setfsuid(-1)
 * and setfsgid(-1) return), the IDs the kernel checks permissions with,
 * for a module that checks them itself.  Cached as defuse_fs_ids_are_real
 * is: no system call in the common case.  Outside the in-process host ask
 * the kernel.
 */
extern void defuse_fs_ids(uid_t *uid, gid_t *gid) __attribute__((weak));

/**
 * Whether the owner of a lock a module keeps itself (getlk, setlk, flock)
 * still exists: 1 yes, 0 no, -1 cannot be known.  An OFD or flock lock's
 * owner is an open file description, which lives while any process holds
 * it (shared by fork, handed down by exec and passed over sockets), so no
 * single process's death says it is gone: ask this instead.  A record
 * lock's owner is its process.  Call it for a lock found in the way, to
 * drop the locks of owners that ended without unlocking (killed, or every
 * holder gone).  It makes one system call and never waits, so it may be
 * called with the module's own locks held.  Outside the in-process host,
 * and on -1, judge by the process that took the lock.
 */
extern int defuse_lock_owner_alive(uint64_t owner) __attribute__((weak));

/**
 * Around a system call of the module's that may wait for something only
 * another process can do (opening a FIFO waits for its other end): on 1
 * before, 0 after.  In between, the caller's signals are not held back
 * (see "Signals" above): one that arrives runs its handler and ends the
 * wait with EINTR (or restarts it, SA_RESTART), as the kernel's own wait,
 * and one held back earlier in the operation is delivered first, so that
 * it cannot stay blocked through a wait it should have ended: then
 * defuse_waiting(1) returns 1 (else 0).  defuse_waiting(0) returns 1 if a
 * handler of the caller's ran in between (else 0), also one that ran just
 * before the module's system call began, which then went on waiting.  A
 * module that waits in a loop (wait, look again, wait...) should take
 * either 1 for a wait the signal ended and return -EINTR, as the kernel's
 * wait would have (also under SA_RESTART, which the kernel would have
 * restarted): the signal came during the program's call.  Hold none of
 * the module's locks in between: the handler may call into the mount.
 * Outside the in-process host, signals interrupt such a call anyway.
 */
extern int defuse_waiting(int on) __attribute__((weak));

/**
 * The program's umask, as DEFUSE keeps it (no system call): for a module
 * whose own files must come out with the modes it asks for, whatever the
 * program's umask (a FUSE file system that set umask(0) in its start-up
 * and creates its own files: their modes under the program's umask would
 * lose bits).  Outside the in-process host ask the kernel (umask(2)).
 */
extern mode_t defuse_umask(void) __attribute__((weak));

/**
 * 1 when the caller runs in a vfork child (vfork, or posix_spawn's child
 * before its exec): a process with a descriptor table of its own that
 * shares its suspended parent's memory, so what the module changes in
 * memory is the parent's too.  A module that keeps state between calls
 * holding descriptors (a cache of open directories, say) must not add
 * to it there (the descriptors would be the child's alone) nor close
 * what it holds (they are the parent's too); 0 otherwise.  No system
 * call.  Outside the in-process host a module is never called in one.
 */
extern int defuse_in_vfork_child(void) __attribute__((weak));

/**
 * Makes the calling thread the module's own for the rest of its life, as a
 * FUSE daemon's threads are the daemon's: none of its system calls is
 * DEFUSE's to route (a path in a mount goes to the kernel, so the thread
 * never re-enters a module; its exec and fork are plain), and, since the
 * program's signal handlers are for the program's threads, it should block
 * the asynchronous signals (pthread_sigmask), or a process-directed signal
 * may be taken by it and held until its end.  Call it first thing in a
 * thread the module created (the fuse module does, for the threads its file
 * systems start); never in a thread of the program's.  Outside the
 * in-process host the weak symbol is NULL: `if (defuse_own_thread)
 * defuse_own_thread();`.
 */
extern void defuse_own_thread(void) __attribute__((weak));

/** Module flags (struct defuse_module.flags). */
#define DEFUSE_MODULE_RESOLVES 0x2 /* resolves ".." and symlinks itself (see top) */
#define DEFUSE_MODULE_READONLY 0x4 /* a read-only file system (see top) */

/** The one object a module exports, under the name DEFUSE_MODULE_SYMBOL. */
struct defuse_module {
	uint32_t api_version;	/**< DEFUSE_API_VERSION the module was built with */
	uint32_t ops_size;	/**< sizeof(struct defuse_ops) it was built with;
				     operations added later at the end of the
				     struct within one API version are NULL
				     for a module built before them */
	const char *name;	/**< short name, as in "-m /mnt=NAME:args" */
	const char *description; /**< one line: what it serves, its ARGS */
	uint32_t flags;		/**< DEFUSE_MODULE_* */
	const struct defuse_ops *ops;
};

#ifdef __cplusplus
}
#endif

#endif
