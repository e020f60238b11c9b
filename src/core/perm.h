/*
 * The kernel's permission checks of directories, made by the core for a
 * module that wants DEFUSE_CAP_PERMISSIONS (module.h; perm.c says how).
 * Each returns 0 when the call may go on, or the kernel's -errno.
 */
#ifndef DEFUSE_CORE_PERM_H
#define DEFUSE_CORE_PERM_H

#include <stdbool.h>
#include <sys/stat.h>
#include "core/resolve.h"

/* Are lookups in mount m checked for this thread (the module wants it and
   the caller, by its real IDs when real, is not user 0)? */
bool core_perm_on(int m, bool real);

/* Search permission on the directory l->path, whose attributes the walk
   may hold (l->attrs); they are left in *dir. */
int core_perm_search(const struct core_loc *l, bool real, struct stat *dir);

/* A call makes the name l->path (mknod, mkdir, symlink). */
int core_perm_make(const struct core_loc *l);

/* open(2) with O_CREAT (of a missing name) or O_TMPFILE (in l->path). */
int core_perm_open(const struct core_loc *l, int flags);

/* unlink, rmdir of l->path. */
int core_perm_remove(const struct core_loc *l);

/* rename(2) of a->path to b->path (renameat2's flags). */
int core_perm_rename(const struct core_loc *a, const struct core_loc *b, unsigned flags);

/* link(2) of a->path (NULL: an open file, AT_EMPTY_PATH) as b->path. */
int core_perm_link(const struct core_loc *a, const struct core_loc *b);

/* A check of a node of mount m (attributes st) that no module call makes,
   the core serving the call itself: connect(2) to a Unix socket's node
   needs write permission on it (unix_find_bsd). */
int core_perm_node(int m, const struct stat *st, int mask);

#endif
