/*
 * Fake modules for the resolver's unit test (test_resolve.c), reached the
 * way the core reaches any module: through struct defuse_module and the
 * adapter (src/module/call.c).
 *
 *   - fake_fs_module: an in-memory tree of directories, regular files and
 *     symbolic links, built by the test.  fake_fs_module_resolves serves
 *     the same tree with DEFUSE_MODULE_RESOLVES, fake_fs_module_perms
 *     with DEFUSE_CAP_PERMISSIONS (the core checks permissions for it).
 *   - fake_backed_module: a real directory of the kernel's, so that open
 *     of "/" hands out a kernel descriptor of its backing root, as a
 *     passthrough module does (the resolver's rename detection needs one).
 */
#ifndef DEFUSE_TESTS_FAKE_FS_H
#define DEFUSE_TESTS_FAKE_FS_H

#include <defuse/module.h>

extern const struct defuse_module fake_fs_module;
extern const struct defuse_module fake_fs_module_resolves;
extern const struct defuse_module fake_fs_module_perms;
extern const struct defuse_module fake_backed_module;

/* The tree ("/" always exists).  A parent must be added before its
   children; every path is absolute, without a trailing slash. */
void fake_fs_clear(void);
void fake_fs_dir(const char *path);
void fake_fs_file(const char *path);
void fake_fs_link(const char *path, const char *target);
/* The permission bits of a node (every node is user 0's and group 0's). */
void fake_fs_chmod(const char *path, mode_t bits);

/* Calls into the in-memory tree since the last fake_fs_count_reset;
   getattr_paths: the path of each getattr, in order, each after a space
   (as many as fit). */
struct fake_fs_count {
	int getattr, readlink, open;
	char getattr_paths[512];
};
extern struct fake_fs_count fake_fs_calls;
void fake_fs_count_reset(void);

/* The directory fake_backed_module serves (NULL: its open fails). */
void fake_backed_root(const char *dir);

#endif
