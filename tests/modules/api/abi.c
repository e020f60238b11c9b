/*
 * The module ABI, version 2: the layout of every structure a module and
 * DEFUSE share, against a table written down here.  A change to
 * include/defuse/module.h that moves, resizes or reorders anything fails
 * this test: such a change is a new API version (DEFUSE_API_VERSION, the
 * symbol's name, docs/module-api.md's changelog), never a silent one,
 * since modules built against the old header would be called wrongly.
 * The table is for LP64 Linux (x86-64, aarch64, riscv64); elsewhere the
 * test skips.  Runs without cmocka: it prints each difference.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <defuse/module.h>

struct row {
	const char *type, *member;
	size_t got, want;
};

#define SIZE(t, n) { #t, NULL, sizeof(struct t), n }
#define OFF(t, m, n) { #t, #m, offsetof(struct t, m), n }

static const struct row table[] = {
	SIZE(defuse_ops, 392),
	OFF(defuse_ops, init, 0),
	OFF(defuse_ops, destroy, 8),
	OFF(defuse_ops, after_fork_child, 16),
	OFF(defuse_ops, getattr, 24),
	OFF(defuse_ops, statx, 32),
	OFF(defuse_ops, access, 40),
	OFF(defuse_ops, readlink, 48),
	OFF(defuse_ops, statfs, 56),
	OFF(defuse_ops, mknod, 64),
	OFF(defuse_ops, mkdir, 72),
	OFF(defuse_ops, unlink, 80),
	OFF(defuse_ops, rmdir, 88),
	OFF(defuse_ops, symlink, 96),
	OFF(defuse_ops, rename, 104),
	OFF(defuse_ops, link, 112),
	OFF(defuse_ops, chmod, 120),
	OFF(defuse_ops, chown, 128),
	OFF(defuse_ops, truncate, 136),
	OFF(defuse_ops, utimens, 144),
	OFF(defuse_ops, getxattr, 152),
	OFF(defuse_ops, setxattr, 160),
	OFF(defuse_ops, listxattr, 168),
	OFF(defuse_ops, removexattr, 176),
	OFF(defuse_ops, open, 184),
	OFF(defuse_ops, release, 192),
	OFF(defuse_ops, flush, 200),
	OFF(defuse_ops, read, 208),
	OFF(defuse_ops, write, 216),
	OFF(defuse_ops, append, 224),
	OFF(defuse_ops, fgetattr, 232),
	OFF(defuse_ops, ftruncate, 240),
	OFF(defuse_ops, fchmod, 248),
	OFF(defuse_ops, fchown, 256),
	OFF(defuse_ops, futimens, 264),
	OFF(defuse_ops, flink, 272),
	OFF(defuse_ops, fsync, 280),
	OFF(defuse_ops, fallocate, 288),
	OFF(defuse_ops, seek_data, 296),
	OFF(defuse_ops, readdir, 304),
	OFF(defuse_ops, lock_fd, 312),
	OFF(defuse_ops, getlk, 320),
	OFF(defuse_ops, setlk, 328),
	OFF(defuse_ops, flock, 336),
	OFF(defuse_ops, file_handle, 344),
	OFF(defuse_ops, open_handle, 352),
	OFF(defuse_ops, map_fd, 360),
	OFF(defuse_ops, fh_path, 368),
	OFF(defuse_ops, process_end, 376),
	OFF(defuse_ops, ioctl, 384),
	SIZE(defuse_module, 40),
	OFF(defuse_module, api_version, 0),
	OFF(defuse_module, ops_size, 4),
	OFF(defuse_module, name, 8),
	OFF(defuse_module, description, 16),
	OFF(defuse_module, flags, 24),
	OFF(defuse_module, ops, 32),
	SIZE(defuse_open, 16),
	OFF(defuse_open, fh, 0),
	OFF(defuse_open, kernel_fd, 8),
	SIZE(defuse_conn, 32),
	OFF(defuse_conn, host, 0),
	OFF(defuse_conn, capable, 4),
	OFF(defuse_conn, want, 8),
	OFF(defuse_conn, reserved, 12),
	/* and the members' own sizes where they are not pointers */
	{ "defuse_conn", "reserved (size)", sizeof(((struct defuse_conn *)0)->reserved), 20 },
	{ "defuse_open", "fh (size)", sizeof(((struct defuse_open *)0)->fh), 8 },
	{ "defuse_open", "kernel_fd (size)", sizeof(((struct defuse_open *)0)->kernel_fd), 4 },
};

/* The constants a built module carries in its code. */
static const struct row constants[] = {
	{ "DEFUSE_API_VERSION", NULL, DEFUSE_API_VERSION, 2 },
	{ "DEFUSE_NOFOLLOW", NULL, DEFUSE_NOFOLLOW, 0x1 },
	{ "DEFUSE_MODULE_RESOLVES", NULL, DEFUSE_MODULE_RESOLVES, 0x2 },
	{ "DEFUSE_MODULE_READONLY", NULL, DEFUSE_MODULE_READONLY, 0x4 },
	{ "DEFUSE_HOST_PROCESS", NULL, DEFUSE_HOST_PROCESS, 1 },
	{ "DEFUSE_HOST_FUSE", NULL, DEFUSE_HOST_FUSE, 2 },
	{ "DEFUSE_CAP_KERNEL_FD", NULL, DEFUSE_CAP_KERNEL_FD, 0x1 },
	{ "DEFUSE_CAP_READONLY", NULL, DEFUSE_CAP_READONLY, 0x2 },
	{ "DEFUSE_CAP_LOCK_WAIT", NULL, DEFUSE_CAP_LOCK_WAIT, 0x4 },
	{ "DEFUSE_CAP_PERMISSIONS", NULL, DEFUSE_CAP_PERMISSIONS, 0x8 },
	{ "DEFUSE_CAP_ONE_INSTANCE", NULL, DEFUSE_CAP_ONE_INSTANCE, 0x10 },
	{ "DEFUSE_O_EXEC", NULL, DEFUSE_O_EXEC, 040 },
	{ "DEFUSE_HANDLE_MAX", NULL, DEFUSE_HANDLE_MAX, 128 },
};

/* Every member of struct defuse_ops is in the table: the sum of the
   pointers listed is the struct's size (no member left out, none added). */
static size_t ops_listed(void)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)
		if (table[i].member && !strcmp(table[i].type, "defuse_ops"))
			n++;
	return n;
}

int main(void)
{
	int bad = 0;

	if (sizeof(void *) != 8 || sizeof(long) != 8) {
		printf("SKIP: the table is for LP64\n");
		return 77;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++) {
		const struct row *r = &table[i];

		if (r->got != r->want) {
			printf("FAIL struct %s%s%s: %zu, the ABI says %zu\n", r->type,
			       r->member ? "." : " size", r->member ? r->member : "", r->got, r->want);
			bad++;
		}
	}
	for (size_t i = 0; i < sizeof(constants) / sizeof(*constants); i++)
		if (constants[i].got != constants[i].want) {
			printf("FAIL %s = %zu, the ABI says %zu\n", constants[i].type, constants[i].got,
			       constants[i].want);
			bad++;
		}
	if (ops_listed() * sizeof(void *) != sizeof(struct defuse_ops)) {
		printf("FAIL struct defuse_ops has %zu bytes, the table lists %zu members\n",
		       sizeof(struct defuse_ops), ops_listed());
		bad++;
	}
	if (strcmp(DEFUSE_MODULE_SYMBOL, "defuse_module_v2")) {
		printf("FAIL DEFUSE_MODULE_SYMBOL is %s\n", DEFUSE_MODULE_SYMBOL);
		bad++;
	}
	printf("%s: %zu layout rows, %zu constants\n", bad ? "FAIL" : "ok",
	       sizeof(table) / sizeof(*table), sizeof(constants) / sizeof(*constants));
	return bad ? 1 : 0;
}
