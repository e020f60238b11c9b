/*
 * The passthrough module's cache of directory descriptors (dircache.c).
 *
 * A path operation below the root opens the parent beneath the root with
 * openat2(RESOLVE_BENEATH), acts on the name and closes the parent: three
 * system calls, one of them a whole lookup, for what the kernel does in
 * one natively.  The cache keeps O_PATH descriptors of directories the
 * process used more than once, so that the operation becomes one *at call
 * on a kept directory.  It stays coherent with every change made to the
 * backing directory by anyone (this process, other processes under DEFUSE
 * or not): each kept directory, and every directory above it, is watched
 * with inotify, and the watches' events are read before every use
 * (dircache.c says how, and what is not seen).
 */
#ifndef DEFUSE_PASSTHROUGH_DIRCACHE_H
#define DEFUSE_PASSTHROUGH_DIRCACHE_H

#include <stddef.h>

struct dircache;
struct dc_entry;

/* A cache for the directory tree below root (O_PATH), or NULL when there
   is to be none: unless the environment says DEFUSE_PASSTHROUGH_DIRCACHE=1
   (dircache.c says why it is not the default), outside the in-process
   host, or out of memory. */
struct dircache *dircache_new(int root);

/* Closes every descriptor the cache keeps and frees it (NULL: nothing). */
void dircache_free(struct dircache *dc);

/*
 * A descriptor of the directory rel (relative to the root, len bytes, no
 * leading or trailing '/'), current as of this call, or -1 when the caller
 * must look it up itself (not cached yet, a path the cache does not take,
 * another thread busy with the cache).  On success *held is to be given to
 * dircache_put once the descriptor is no longer used.
 */
int dircache_get(struct dircache *dc, const char *rel, size_t len, struct dc_entry **held);

void dircache_put(struct dc_entry *held);

/* In a forked child, before anything else: the cache's watches are the
   parent's, so the child drops what it inherited at its next use.  No
   system call here. */
void dircache_after_fork_child(struct dircache *dc);

#endif
