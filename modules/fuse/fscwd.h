/*
 * The file system's own working directory (fscwd.c): a file system whose
 * start-up moved into a directory (bindfs: its source) names its files
 * relative to it; in process the working directory is the program's, so
 * the file system's relative paths are made absolute from its own.
 */
#ifndef DEFUSE_FUSE_FSCWD_H
#define DEFUSE_FUSE_FSCWD_H

#include <limits.h>

/* The working directory of the file system being called in this thread
   (NULL: the process's, nothing to do); set by the module around each call. */
extern __thread const char *fscwd_dir;

/* path as the file system means it: relative to its own directory. */
const char *fscwd_path(const char *path, char buf[PATH_MAX]);
/* The same for an *at call's (dirfd, path). */
const char *fscwd_at(int dirfd, const char *path, char buf[PATH_MAX]);
/* The wrapper for libc's name, or NULL (fdwrap.c's table asks). */
void *fscwd_wrapper_for(const char *name);

#endif
