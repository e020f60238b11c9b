/*
 * The file system's own working directory (fscwd.c): a file system whose
 * start-up moved into a directory (bindfs: its source) names its files
 * relative to it; in process the working directory is the program's, so
 * the file system's relative paths are made absolute from its own.
 */
#ifndef DEFUSE_FUSE_FSCWD_H
#define DEFUSE_FUSE_FSCWD_H

#include <limits.h>
#include <sys/types.h>

/* The working directory of the file system being called in this thread
   (NULL: the process's, nothing to do); set by the module around each call. */
extern __thread const char *fscwd_dir;

/* The umask of the file system being called in this thread, if its
   start-up set one other than the program's (libfuse's passthrough
   examples, unionfs, fuse-overlayfs set 0), else -1; set with fscwd_dir. */
extern __thread int fscwd_umask;

/* Set by the module while the file system answers an access check made
   as the effective IDs (faccessat2's AT_EACCESS): its access(2), which
   the kernel answers for the real IDs, is then asked as the effective
   ones too (the module has set the file-system IDs to them). */
extern __thread int fscwd_eaccess;

/* The permission bits of mode that the program's umask takes from a file
   the file system makes and its own umask would have left (0: nothing to
   mend, the common case, asked without a system call).  The wrappers
   that make files give them back after (fscwd_mend_at, _fd). */
mode_t fscwd_lost(mode_t mode);
void fscwd_mend_at(int dirfd, const char *path, mode_t lost);
void fscwd_mend_fd(int fd, mode_t lost);

/* path as the file system means it: relative to its own directory. */
const char *fscwd_path(const char *path, char buf[PATH_MAX]);
/* The same for an *at call's (dirfd, path). */
const char *fscwd_at(int dirfd, const char *path, char buf[PATH_MAX]);
/* The wrapper for libc's name, or NULL (fdwrap.c's table asks). */
void *fscwd_wrapper_for(const char *name);

#endif
