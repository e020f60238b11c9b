/*
 * A version 2 module built before operations were added to the end of
 * struct defuse_ops: its ops_size is SHORT_OPS_SIZE, smaller than this
 * header's.  The host must load it and treat the operations its table
 * lacks as NULL, never read past what the module declared: the two that
 * follow the declared size here abort if they are ever called.  One file,
 * /f, reading "ok\n".  Built twice: with v2's first size (loads) and with
 * a size below it (refused); api_test.py, mode "short".
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <defuse/module.h>

static int short_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	(void)priv;
	(void)flags;
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (!strcmp(path, "/f")) {
		st->st_mode = S_IFREG | 0644;
		st->st_size = 3;
	} else {
		return -ENOENT;
	}
	st->st_ino = path[1] ? 2 : 1;
	return 0;
}

static int short_open(void *priv, const char *path, int flags, mode_t mode,
		      struct defuse_open *out)
{
	(void)priv;
	(void)mode;
	if (strcmp(path, "/f"))
		return strcmp(path, "/") ? -ENOENT : -EISDIR;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	out->fh = 1;
	out->kernel_fd = -1;
	return 0;
}

static ssize_t short_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	(void)priv;
	(void)fh;
	if (off >= 3)
		return 0;
	if (size > (size_t)(3 - off))
		size = 3 - off;
	memcpy(buf, "ok\n" + off, size);
	return (ssize_t)size;
}

static ssize_t never_file_handle(void *priv, uint64_t fh, void *buf, size_t size)
{
	(void)priv, (void)fh, (void)buf, (void)size;
	abort();
}

static int never_open_handle(void *priv, const void *handle, size_t len, int kfd, int flags,
			     struct defuse_open *out)
{
	(void)priv, (void)handle, (void)len, (void)kfd, (void)flags, (void)out;
	abort();
}

static const struct defuse_ops short_ops = {
	.getattr = short_getattr,
	.open = short_open,
	.read = short_read,
	/* Past SHORT_OPS_SIZE: not this module's as far as the host knows. */
	.file_handle = never_file_handle,
	.open_handle = never_open_handle,
};

__attribute__((visibility("default")))
const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = SHORT_OPS_SIZE,
	.name = "v2short",
	.description = "a v2 module with the operations table of v2's first release",
	.flags = 0,
	.ops = &short_ops,
};
