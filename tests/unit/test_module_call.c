/*
 * The module adapter (src/module/call.c) against module.h's table of NULL
 * fallbacks and read-only answers (docs/module-api.md): a fake module of a
 * root directory, a file "/f" (0644), a directory "/d" and a FIFO "/p",
 * whose operations are switched on one by one.  Both hosts get these
 * answers through the adapter, so this is the contract's own test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "module/call.h"

/* ---- The fake module ---------------------------------------------------- */

static int calls;		/* module operations called */
static char last[32];		/* the last one */

static void called(const char *what)
{
	calls++;
	snprintf(last, sizeof(last), "%s", what);
}

static int kind_of(const char *path, mode_t *mode)
{
	if (!strcmp(path, "/") || !strcmp(path, "/d"))
		*mode = S_IFDIR | 0755;
	else if (!strcmp(path, "/f"))
		*mode = S_IFREG | 0644;
	else if (!strcmp(path, "/p"))
		*mode = S_IFIFO | 0600;
	else if (!strcmp(path, "/x"))
		*mode = S_IFREG | 0755;
	else
		return -ENOENT;
	return 0;
}

static int f_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	mode_t mode;
	int r = kind_of(path, &mode);

	(void)priv, (void)flags;
	called("getattr");
	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_uid = 1000;
	st->st_gid = 1000;
	st->st_size = 42;
	st->st_ino = 7;
	return 0;
}

static int f_statx(void *priv, const char *path, int flags, unsigned mask, struct statx *x)
{
	mode_t mode;
	int r = kind_of(path, &mode);

	(void)priv, (void)flags, (void)mask;
	called("statx");
	if (r < 0)
		return r;
	memset(x, 0, sizeof(*x));
	x->stx_mask = STATX_BASIC_STATS | STATX_BTIME;
	x->stx_mode = mode;
	x->stx_size = 42;
	x->stx_ino = 7;
	return 0;
}

/* Stands for any operation that changes something: records "change". */
static int f_ok(void)
{
	called("change");
	return 0;
}

static int f_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *o)
{
	mode_t m;

	(void)priv, (void)mode;
	called("open");
	if (kind_of(path, &m) < 0 && !(flags & O_CREAT))
		return -ENOENT;
	o->fh = (uint64_t)flags;	/* what the module saw */
	return 0;
}

static ssize_t f_write(void *priv, uint64_t fh, const void *buf, size_t n, off_t off)
{
	(void)priv, (void)fh, (void)buf;
	called("write");
	return off == 42 ? (ssize_t)n : -EIO;	/* appends land at the size */
}

static int f_link(void *priv, const char *from, const char *to)
{
	(void)priv, (void)from, (void)to;
	called("link");
	return 0;
}

static int f_statfs(void *priv, const char *path, struct statfs *st)
{
	(void)priv, (void)path;
	called("statfs");
	memset(st, 0, sizeof(*st));
	return 0;
}

static struct defuse_ops ops;
static struct defuse_module mod = { DEFUSE_API_VERSION, sizeof(struct defuse_ops), "fake", "",
				    0, &ops };
static struct defuse_mount_ref ref;

static int setup(void **state)
{
	(void)state;
	memset(&ops, 0, sizeof(ops));
	ops.getattr = f_getattr;
	mod.flags = 0;
	calls = 0;
	last[0] = 0;
	assert_int_equal(mod_start(&ref, &mod, DEFUSE_HOST_PROCESS, "", NULL, 0), 0);
	return 0;
}

static void readonly(void)
{
	mod.flags = DEFUSE_MODULE_READONLY;
	assert_int_equal(mod_start(&ref, &mod, DEFUSE_HOST_FUSE, "", NULL, 0), 0);
	assert_true(ref.readonly);
}

/* ---- Metadata ---------------------------------------------------------- */

static void test_getattr_statx_each_other(void **state)
{
	struct stat st;
	struct statx x;

	(void)state;
	ops.getattr = NULL;
	assert_int_equal(mod_getattr(&ref, "/f", &st, 0), -ENOSYS);	/* neither */
	ops.statx = f_statx;
	assert_int_equal(mod_getattr(&ref, "/f", &st, 0), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_size, 42);
	ops.statx = NULL;
	ops.getattr = f_getattr;
	assert_int_equal(mod_statx(&ref, "/f", 0, STATX_ALL, &x), 0);
	assert_int_equal(x.stx_mask, STATX_BASIC_STATS);
	assert_int_equal(x.stx_mode, S_IFREG | 0644);
	assert_int_equal(mod_statx(&ref, "/nope", 0, STATX_ALL, &x), -ENOENT);
}

static uid_t who_uid;

static void ids(void *arg, uid_t *uid, gid_t *gid)
{
	(void)arg;
	*uid = who_uid;
	*gid = 50;
}

static int groups(void *arg, gid_t *out, int max)
{
	(void)arg;
	assert_true(max > 0);
	out[0] = 1000;
	return 1;
}

static void test_access_fallback(void **state)
{
	struct mod_caller who = { ids, groups, NULL };

	(void)state;
	who_uid = 0;	/* root: anything but x without an x bit */
	assert_int_equal(mod_access(&ref, "/f", R_OK | W_OK, 0, &who), 0);
	assert_int_equal(mod_access(&ref, "/f", X_OK, 0, &who), -EACCES);
	assert_int_equal(mod_access(&ref, "/x", X_OK, 0, &who), 0);
	assert_int_equal(mod_access(&ref, "/d", X_OK, 0, &who), 0);
	assert_int_equal(mod_access(&ref, "/nope", F_OK, 0, &who), -ENOENT);
	who_uid = 1000;	/* the owner: rw- */
	assert_int_equal(mod_access(&ref, "/f", R_OK | W_OK, 0, &who), 0);
	assert_int_equal(mod_access(&ref, "/f", X_OK, 0, &who), -EACCES);
	who_uid = 2000;	/* a member of group 1000 (supplementary): r-- */
	assert_int_equal(mod_access(&ref, "/f", R_OK, 0, &who), 0);
	assert_int_equal(mod_access(&ref, "/f", W_OK, 0, &who), -EACCES);
	readonly();
	who_uid = 0;
	assert_int_equal(mod_access(&ref, "/f", W_OK, 0, &who), -EROFS);
	assert_int_equal(mod_access(&ref, "/p", W_OK, 0, &who), 0);	/* a FIFO stays writable */
	assert_int_equal(mod_access(&ref, "/nope", W_OK, 0, &who), -ENOENT);
}

static void test_readlink_fallback(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(mod_readlink(&ref, "/f", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(mod_readlink(&ref, "/nope", buf, sizeof(buf)), -ENOENT);
}

static void test_statfs(void **state)
{
	struct statfs sf;

	(void)state;
	assert_int_equal(mod_statfs(&ref, "/", &sf), -ENOSYS);
	assert_int_equal(mod_statfs(&ref, "/nope", &sf), -ENOENT);
	ops.statfs = f_statfs;
	assert_int_equal(mod_statfs(&ref, "/", &sf), 0);
	assert_int_equal(sf.f_flags, 0);
	readonly();
	assert_int_equal(mod_statfs(&ref, "/", &sf), 0);
	assert_true(sf.f_flags & ST_RDONLY);
}

/* ---- Names and attributes ------------------------------------------- */

static void test_missing_changes(void **state)
{
	struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };

	(void)state;
	/* the kernel's lookup first, then EPERM: no such operation */
	assert_int_equal(mod_mkdir(&ref, "/f", 0755), -EEXIST);
	assert_int_equal(mod_mkdir(&ref, "/new", 0755), -EPERM);
	assert_int_equal(mod_mknod(&ref, "/new", S_IFIFO | 0644, 0), -EPERM);
	assert_int_equal(mod_symlink(&ref, "t", "/f"), -EEXIST);
	assert_int_equal(mod_unlink(&ref, "/nope"), -ENOENT);
	assert_int_equal(mod_unlink(&ref, "/f"), -EPERM);
	assert_int_equal(mod_rmdir(&ref, "/d"), -EPERM);
	assert_int_equal(mod_rename(&ref, "/nope", "/g", 0), -ENOENT);
	assert_int_equal(mod_link(&ref, "/nope", "/g"), -ENOENT);
	assert_int_equal(mod_link(&ref, "/f", "/d"), -EEXIST);
	assert_int_equal(mod_link(&ref, "/f", "/g"), -EPERM);
	assert_int_equal(mod_chmod(&ref, "/nope", 0644, 0), -ENOENT);
	assert_int_equal(mod_chmod(&ref, "/f", 0644, 0), -EPERM);
	assert_int_equal(mod_chown(&ref, "/f", 1, 1, 0), -EPERM);
	assert_int_equal(mod_utimens(&ref, "/f", ts, 0), -EPERM);
	assert_int_equal(mod_truncate(&ref, "/f", -1), -EINVAL);
	assert_int_equal(mod_truncate(&ref, "/d", 0), -EISDIR);
	assert_int_equal(mod_truncate(&ref, "/p", 0), -EINVAL);
	assert_int_equal(mod_truncate(&ref, "/f", 0), -EPERM);
}

static void test_readonly_names(void **state)
{
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };

	(void)state;
	ops.mkdir = (void *)f_ok;
	ops.unlink = (void *)f_ok;
	ops.rename = (void *)f_ok;
	ops.chmod = (void *)f_ok;
	ops.utimens = (void *)f_ok;
	ops.truncate = (void *)f_ok;
	readonly();
	calls = 0;
	assert_int_equal(mod_mkdir(&ref, "/f", 0755), -EEXIST);
	assert_int_equal(mod_mkdir(&ref, "/new", 0755), -EROFS);
	assert_int_equal(mod_unlink(&ref, "/nope"), -EROFS);	/* no lookup */
	assert_int_equal(mod_rename(&ref, "/nope", "/x", 0), -EROFS);
	assert_int_equal(mod_link(&ref, "/nope", "/g"), -ENOENT);
	assert_int_equal(mod_link(&ref, "/f", "/f"), -EEXIST);
	assert_int_equal(mod_link(&ref, "/f", "/g"), -EROFS);
	assert_int_equal(mod_chmod(&ref, "/nope", 0644, 0), -ENOENT);
	assert_int_equal(mod_chmod(&ref, "/f", 0644, 0), -EROFS);
	assert_int_equal(mod_utimens(&ref, "/nope", omit, 0), 0);	/* nothing to do */
	assert_int_equal(mod_truncate(&ref, "/d", 0), -EISDIR);
	assert_int_equal(mod_truncate(&ref, "/f", 0), -EROFS);
	assert_int_equal(mod_setxattr(&ref, "/f", "user.a", "1", 1, 0, 0), -EROFS);
	assert_int_equal(mod_removexattr(&ref, "/nope", "user.a", 0), -ENOENT);
	assert_string_equal(last, "getattr");	/* no changing operation was called */
	assert_int_equal(calls, 13);		/* only the lookups the kernel makes */
}

static void test_xattr_fallbacks(void **state)
{
	char buf[16], name[300];

	(void)state;
	assert_int_equal(mod_getxattr(&ref, "/f", "user.a", buf, sizeof(buf), 0), -EOPNOTSUPP);
	assert_int_equal(mod_getxattr(&ref, "/nope", "user.a", buf, sizeof(buf), 0), -ENOENT);
	assert_int_equal(mod_listxattr(&ref, "/f", buf, sizeof(buf), 0), 0);
	assert_int_equal(mod_listxattr(&ref, "/nope", buf, sizeof(buf), 0), -ENOENT);
	assert_int_equal(mod_setxattr(&ref, "/f", "user.a", "1", 1, 0, 0), -EOPNOTSUPP);
	assert_int_equal(mod_removexattr(&ref, "/f", "user.a", 0), -EOPNOTSUPP);
	/* the kernel's checks before the lookup */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	assert_int_equal(mod_getxattr(&ref, "/nope", name, buf, sizeof(buf), 0), -ERANGE);
	assert_int_equal(mod_setxattr(&ref, "/nope", "", "1", 1, 0, 0), -ERANGE);
	assert_int_equal(mod_setxattr(&ref, "/nope", "user.a", "1", 1, 4, 0), -EINVAL);
	assert_int_equal(mod_setxattr(&ref, "/nope", "user.a", "1", 65537, 0, 0), -E2BIG);
}

/* ---- Open files ---------------------------------------------------------- */

static void test_open(void **state)
{
	struct defuse_open o;

	(void)state;
	assert_int_equal(mod_open(&ref, "/f", O_RDONLY, 0, &o), -ENOSYS);	/* metadata only */
	assert_int_equal(mod_open(&ref, "/nope", O_RDONLY, 0, &o), -ENOENT);
	ops.open = f_open;
	assert_int_equal(mod_open(&ref, "/f", O_RDWR, 0, &o), 0);
	assert_int_equal(o.kernel_fd, -1);
}

static void test_open_readonly(void **state)
{
	struct defuse_open o;

	(void)state;
	ops.open = f_open;
	readonly();
	/* as path_openat on a read-only mount */
	assert_int_equal(mod_open(&ref, "/f", O_WRONLY, 0, &o), -EROFS);
	assert_int_equal(mod_open(&ref, "/f", O_RDONLY | O_TRUNC, 0, &o), -EROFS);
	assert_int_equal(mod_open(&ref, "/new", O_WRONLY | O_CREAT, 0644, &o), -EROFS);
	assert_int_equal(mod_open(&ref, "/new", O_RDONLY | O_CREAT, 0644, &o), -EROFS);
	assert_int_equal(mod_open(&ref, "/f", O_RDONLY | O_CREAT | O_EXCL, 0644, &o), -EEXIST);
	assert_int_equal(mod_open(&ref, "/d", O_RDONLY | O_CREAT, 0644, &o), -EISDIR);
	assert_int_equal(mod_open(&ref, "/d", O_WRONLY, 0, &o), -EISDIR);
	assert_int_equal(mod_open(&ref, "/d", O_RDWR | O_TMPFILE, 0600, &o), -EROFS);
	assert_int_equal(mod_open(&ref, "/f", O_RDWR | O_TMPFILE, 0600, &o), -ENOTDIR);
	assert_int_equal(mod_open(&ref, "/nope", O_WRONLY, 0, &o), -ENOENT);
	assert_int_equal(mod_open(&ref, "/p", O_WRONLY, 0, &o), 0);	/* FIFOs are written */
	/* an existing name, read-only: O_CREAT is taken out */
	assert_int_equal(mod_open(&ref, "/f", O_RDONLY | O_CREAT, 0644, &o), 0);
	assert_int_equal(o.fh & (O_CREAT | O_EXCL), 0);
}

static void take(void *arg)
{
	(*(int *)arg)++;
}

static void test_file_fallbacks(void **state)
{
	struct stat st;
	char buf[4];
	off_t end = 0;
	int locked = 0;
	struct flock fl = { .l_type = F_WRLCK };
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };

	(void)state;
	assert_int_equal(mod_read(&ref, 1, buf, sizeof(buf), 0), -EINVAL);
	assert_int_equal(mod_write(&ref, 1, buf, sizeof(buf), 0), -EINVAL);
	assert_int_equal(mod_flush(&ref, 1), 0);
	assert_int_equal(mod_fsync(&ref, 1, 0), 0);
	assert_int_equal(mod_fallocate(&ref, 1, 0, 0, 1), -EOPNOTSUPP);
	assert_int_equal(mod_readdir(&ref, 1, 0, NULL, NULL), -ENOTDIR);
	assert_int_equal(mod_lock_fd(&ref, 1), -ENOLCK);
	assert_int_equal(mod_getlk(&ref, 1, 1, &fl), -ENOLCK);
	assert_int_equal(mod_setlk(&ref, 1, 1, &fl, 0), -ENOLCK);
	assert_int_equal(mod_flock(&ref, 1, 1, LOCK_EX), -ENOLCK);
	/* by handle -> by the path it was opened by */
	assert_int_equal(mod_fgetattr(&ref, 1, "/f", &st), 0);
	assert_int_equal(st.st_size, 42);
	assert_int_equal(mod_fchmod(&ref, 1, "/f", 0600), -EPERM);
	assert_int_equal(mod_ftruncate(&ref, 1, "/f", 0), -EPERM);
	ops.chmod = (void *)f_ok;
	assert_int_equal(mod_fchmod(&ref, 1, "/f", 0600), 0);
	assert_string_equal(last, "change");	/* the path's chmod */
	/* no holes: data to the end, then the one hole */
	assert_int_equal(mod_seek_data(&ref, 1, "/f", 5, SEEK_DATA), 5);
	assert_int_equal(mod_seek_data(&ref, 1, "/f", 5, SEEK_HOLE), 42);
	assert_int_equal(mod_seek_data(&ref, 1, "/f", 42, SEEK_DATA), -ENXIO);
	/* append: under the host's lock, at fgetattr's size */
	ops.write = f_write;
	assert_int_equal(mod_append(&ref, 1, "/f", "abc", 3, &end, take, take, &locked), 3);
	assert_int_equal(end, 45);
	assert_int_equal(locked, 2);
	/* flink: the path's link, but an O_TMPFILE file has none */
	assert_int_equal(mod_flink(&ref, 1, "/f", 1, "/g"), -ENOENT);
	ops.link = f_link;
	assert_int_equal(mod_flink(&ref, 1, "/f", 0, "/g"), 0);
	assert_string_equal(last, "link");
	readonly();
	assert_int_equal(mod_fchmod(&ref, 1, "/f", 0600), -EROFS);
	assert_int_equal(mod_futimens(&ref, 1, "/f", omit), 0);
	assert_int_equal(mod_flink(&ref, 1, "/f", 0, "/d"), -EEXIST);
	assert_int_equal(mod_flink(&ref, 1, "/f", 0, "/g"), -EROFS);
}

static int f_init_ro(const char *args, struct defuse_conn *conn, void **priv, char *why,
		     size_t len)
{
	(void)args, (void)why, (void)len;
	assert_int_equal(conn->host, DEFUSE_HOST_FUSE);
	assert_int_equal(conn->capable,
			 DEFUSE_CAP_KERNEL_FD | DEFUSE_CAP_READONLY | DEFUSE_CAP_LOCK_WAIT |
				 DEFUSE_CAP_PERMISSIONS);
	assert_int_equal(conn->want, 0);
	conn->want |= DEFUSE_CAP_READONLY | 0x100;	/* and one nobody offers */
	*priv = &ops;
	return 0;
}

static void test_init_wants_readonly(void **state)
{
	(void)state;
	ops.init = f_init_ro;
	assert_int_equal(mod_start(&ref, &mod, DEFUSE_HOST_FUSE, "ro", NULL, 0), 0);
	assert_true(ref.readonly);
	assert_int_equal(ref.want, DEFUSE_CAP_READONLY);
	assert_ptr_equal(ref.priv, &ops);
}

/* The in-process host offers one instance for the tree; the bridge, one
   instance already, does not (module.h). */
static int f_init_one(const char *args, struct defuse_conn *conn, void **priv, char *why,
		      size_t len)
{
	(void)args, (void)priv, (void)why, (void)len;
	if (conn->host == DEFUSE_HOST_PROCESS)
		assert_true(conn->capable & DEFUSE_CAP_ONE_INSTANCE);
	else
		assert_false(conn->capable & DEFUSE_CAP_ONE_INSTANCE);
	conn->want |= DEFUSE_CAP_ONE_INSTANCE;
	return 0;
}

static void test_one_instance_offered_in_process(void **state)
{
	(void)state;
	ops.init = f_init_one;
	assert_int_equal(mod_start(&ref, &mod, DEFUSE_HOST_PROCESS, "", NULL, 0), 0);
	assert_int_equal(ref.want, DEFUSE_CAP_ONE_INSTANCE);
	assert_int_equal(mod_start(&ref, &mod, DEFUSE_HOST_FUSE, "", NULL, 0), 0);
	assert_int_equal(ref.want, 0);	/* not offered: not taken */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_getattr_statx_each_other, setup),
		cmocka_unit_test_setup(test_access_fallback, setup),
		cmocka_unit_test_setup(test_readlink_fallback, setup),
		cmocka_unit_test_setup(test_statfs, setup),
		cmocka_unit_test_setup(test_missing_changes, setup),
		cmocka_unit_test_setup(test_readonly_names, setup),
		cmocka_unit_test_setup(test_xattr_fallbacks, setup),
		cmocka_unit_test_setup(test_open, setup),
		cmocka_unit_test_setup(test_open_readonly, setup),
		cmocka_unit_test_setup(test_file_fallbacks, setup),
		cmocka_unit_test_setup(test_init_wants_readonly, setup),
		cmocka_unit_test_setup(test_one_instance_offered_in_process, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
