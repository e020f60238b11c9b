/*
 * badpage: a test-only module (tests/paging/eio.c) serving one read-only
 * emulated file, /bad, whose reads fail with EIO on chosen pages: the
 * pager's answer to a module error while filling a page is SIGBUS to the
 * program, as the kernel gives for an I/O error on a mapped file, and this
 * is the only way to make that error happen on demand.
 *
 *     defuse run -m DIR=badpage.so:3,5 -- PROG      (pages 3 and 5 fail)
 *
 * /bad is BADPAGE_PAGES pages long; byte i is badpage_byte(i) (eio.c has
 * the same formula).  No kernel descriptor is handed out, so every mapping
 * of /bad goes through the user-space pager.  Built only for the tests.
 */
#define _GNU_SOURCE 1
#include <defuse/module.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BADPAGE_PAGES 16
#define PAGE 4096
#define FILE_LEN ((off_t)BADPAGE_PAGES * PAGE)

enum { ROOT = 1, BAD = 2 };

/* Which pages fail: set once at init, read-only afterwards (no locks). */
static unsigned char failing[BADPAGE_PAGES];

static char badpage_byte(off_t i)
{
	return (char)('a' + (i / PAGE + i * 7) % 26);
}

static int lookup(const char *path)
{
	if (!strcmp(path, "/"))
		return ROOT;
	if (!strcmp(path, "/bad"))
		return BAD;
	return -ENOENT;
}

/* args: page numbers separated by commas. */
static int b_init(const char *args, struct defuse_conn *conn, void **priv, char *why,
		  size_t why_len)
{
	const char *p = args;

	(void)conn;
	*priv = NULL;
	memset(failing, 0, sizeof(failing));
	while (*p) {
		char *end;
		long n = strtol(p, &end, 10);

		if (end == p || n < 0 || n >= BADPAGE_PAGES || (*end && *end != ',')) {
			snprintf(why, why_len, "badpage: want page numbers 0..%d, got \"%s\"",
				 BADPAGE_PAGES - 1, args);
			return -EINVAL;
		}
		failing[n] = 1;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int b_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	int node = lookup(path);

	(void)priv, (void)flags;
	if (node < 0)
		return node;
	memset(st, 0, sizeof(*st));
	st->st_ino = node;
	st->st_mode = node == ROOT ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = node == ROOT ? 2 : 1;
	st->st_size = node == ROOT ? 0 : FILE_LEN;
	st->st_blksize = PAGE;
	return 0;
}

static int b_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out)
{
	int node = lookup(path);

	(void)priv, (void)mode;
	if (node < 0)
		return node;
	if (node == BAD && (flags & O_DIRECTORY))
		return -ENOTDIR;
	out->fh = node;
	out->kernel_fd = -1;	/* emulated: the pager serves every mapping */
	return 0;
}

/* A read touching a failing page fails whole, with EIO, as a disk read of a
   bad sector does: the pager may ask for many pages at once and must then
   fall back to the page the program touched. */
static ssize_t b_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	(void)priv;
	if (fh == ROOT)
		return -EISDIR;
	if (off >= FILE_LEN)
		return 0;
	if ((off_t)size > FILE_LEN - off)
		size = FILE_LEN - off;
	for (off_t pg = off / PAGE; pg * PAGE < off + (off_t)size; pg++)
		if (failing[pg])
			return -EIO;
	for (size_t i = 0; i < size; i++)
		((char *)buf)[i] = badpage_byte(off + i);
	return size;
}

static int b_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	static const struct { const char *name; uint64_t ino; unsigned char type; } dir[] = {
		{ ".", ROOT, DT_DIR }, { "..", ROOT, DT_DIR }, { "bad", BAD, DT_REG },
	};

	(void)priv;
	if (fh != ROOT)
		return -ENOTDIR;
	for (int64_t i = pos; i >= 0 && i < 3; i++)
		if (fill(ctx, dir[i].name, dir[i].ino, dir[i].type, i + 1))
			break;
	return 0;
}

static const struct defuse_ops badpage_ops = {
	.init = b_init,
	.getattr = b_getattr,
	.open = b_open,
	.read = b_read,
	.readdir = b_readdir,
};

__attribute__((visibility("default")))
const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "badpage",
	.description = "test only: one read-only file, /bad, whose chosen pages fail with EIO",
	.flags = DEFUSE_MODULE_READONLY,
	.ops = &badpage_ops,
};
