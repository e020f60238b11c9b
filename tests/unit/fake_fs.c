/*
 * Fake modules for test_resolve.c (fake_fs.h).  They answer as a real file
 * system would for what the resolver asks (a component under a file is
 * ENOTDIR, not ENOENT), and refuse with EIO what the resolver should never
 * ask: a path through a symbolic link, which it must have spliced itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fake_fs.h"

struct node {
	char *path;
	mode_t mode;
	char *target;		/* symbolic links */
};

static struct node *nodes;
static size_t nnodes, cap;
struct fake_fs_count fake_fs_calls;

void fake_fs_count_reset(void)
{
	memset(&fake_fs_calls, 0, sizeof(fake_fs_calls));
}

void fake_fs_clear(void)
{
	for (size_t i = 0; i < nnodes; i++) {
		free(nodes[i].path);
		free(nodes[i].target);
	}
	free(nodes);
	nodes = NULL;
	nnodes = cap = 0;
}

static void add(const char *path, mode_t mode, const char *target)
{
	if (nnodes == cap) {
		cap = cap ? 2 * cap : 64;
		nodes = realloc(nodes, cap * sizeof(*nodes));
		if (!nodes)
			abort();
	}
	nodes[nnodes].path = strdup(path);
	nodes[nnodes].mode = mode;
	nodes[nnodes].target = target ? strdup(target) : NULL;
	if (!nodes[nnodes].path || (target && !nodes[nnodes].target))
		abort();
	nnodes++;
}

void fake_fs_dir(const char *path) { add(path, S_IFDIR | 0755, NULL); }
void fake_fs_file(const char *path) { add(path, S_IFREG | 0644, NULL); }
void fake_fs_link(const char *path, const char *target) { add(path, S_IFLNK | 0777, target); }

static struct node root = { "/", S_IFDIR | 0755, NULL };

void fake_fs_chmod(const char *path, mode_t bits)
{
	if (!strcmp(path, "/"))
		root.mode = S_IFDIR | bits;
	for (size_t i = 0; i < nnodes; i++)
		if (!strcmp(nodes[i].path, path))
			nodes[i].mode = (nodes[i].mode & S_IFMT) | bits;
}

static const struct node *find(const char *path, size_t n)
{
	if (n == 1 && path[0] == '/')
		return &root;
	for (size_t i = 0; i < nnodes; i++)
		if (strlen(nodes[i].path) == n && !memcmp(nodes[i].path, path, n))
			return &nodes[i];
	return NULL;
}

/* The node at path, as a kernel file system's lookup would find it. */
static int lookup(const char *path, const struct node **out)
{
	const struct node *d;

	if (path[0] != '/')
		return -EIO;
	for (const char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		if (!(d = find(path, s - path)))
			return -ENOENT;
		if (S_ISLNK(d->mode))
			return -EIO;
		if (!S_ISDIR(d->mode))
			return -ENOTDIR;
	}
	*out = find(path, strlen(path));
	return *out ? 0 : -ENOENT;
}

static int t_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	const struct node *f;
	int r = lookup(path, &f);
	size_t used = strlen(fake_fs_calls.getattr_paths);

	(void)priv;
	fake_fs_calls.getattr++;
	snprintf(fake_fs_calls.getattr_paths + used, sizeof(fake_fs_calls.getattr_paths) - used,
		 " %s", path);
	if (r < 0)
		return r;
	/* The resolver hands over resolved paths only; following is its job. */
	if (S_ISLNK(f->mode) && !(flags & DEFUSE_NOFOLLOW))
		return -EIO;
	memset(st, 0, sizeof(*st));
	st->st_mode = f->mode;
	st->st_nlink = 1;
	st->st_size = f->target ? (off_t)strlen(f->target) : 0;
	st->st_ino = (ino_t)(f - nodes) + 2;
	return 0;
}

static ssize_t t_readlink(void *priv, const char *path, char *buf, size_t size)
{
	const struct node *f;
	int r = lookup(path, &f);
	size_t n;

	(void)priv;
	fake_fs_calls.readlink++;
	if (r < 0)
		return r;
	if (!S_ISLNK(f->mode))
		return -EINVAL;
	n = strlen(f->target);
	if (n > size)
		n = size;
	memcpy(buf, f->target, n);
	return (ssize_t)n;
}

/* Emulated files only: no kernel descriptor, no lock_fd. */
static int t_open(void *priv, const char *path, int flags, mode_t mode,
		  struct defuse_open *out)
{
	const struct node *f;
	int r = lookup(path, &f);

	(void)priv, (void)flags, (void)mode;
	fake_fs_calls.open++;
	if (r < 0)
		return r;
	out->fh = (uint64_t)(f - nodes) + 2;
	return 0;
}

static void t_release(void *priv, uint64_t fh)
{
	(void)priv, (void)fh;
}

static const struct defuse_ops tree_ops = {
	.getattr = t_getattr,
	.readlink = t_readlink,
	.open = t_open,
	.release = t_release,
};

const struct defuse_module fake_fs_module = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "fake",
	.description = "an in-memory tree for the resolver's unit test",
	.flags = 0,
	.ops = &tree_ops,
};

static int t_init_perms(const char *args, struct defuse_conn *conn, void **priv, char *why,
			size_t len)
{
	(void)args, (void)priv, (void)why, (void)len;
	conn->want |= DEFUSE_CAP_PERMISSIONS;
	return 0;
}

static const struct defuse_ops perms_ops = {
	.init = t_init_perms,
	.getattr = t_getattr,
	.readlink = t_readlink,
	.open = t_open,
	.release = t_release,
};

const struct defuse_module fake_fs_module_perms = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "fake-perms",
	.description = "the same tree, its permissions checked by the host",
	.flags = 0,
	.ops = &perms_ops,
};

const struct defuse_module fake_fs_module_resolves = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "fake-resolves",
	.description = "the same tree, resolving paths itself",
	.flags = DEFUSE_MODULE_RESOLVES,
	.ops = &tree_ops,
};

/* ---- over a real directory --------------------------------------------- */

static char backed[4096];

void fake_backed_root(const char *dir)
{
	snprintf(backed, sizeof(backed), "%s", dir ? dir : "");
}

/* The backing file of path, or -ENOENT while no directory is served. */
static int backing(const char *path, char out[8192])
{
	if (!backed[0])
		return -ENOENT;
	snprintf(out, 8192, "%s%s", backed, path);
	return 0;
}

static int b_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	char p[8192];
	int r = backing(path, p);

	(void)priv;
	if (r < 0)
		return r;
	return fstatat(AT_FDCWD, p, st, (flags & DEFUSE_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) ?
	       -errno : 0;
}

static ssize_t b_readlink(void *priv, const char *path, char *buf, size_t size)
{
	char p[8192];
	int r = backing(path, p);
	ssize_t n;

	(void)priv;
	if (r < 0)
		return r;
	n = readlink(p, buf, size);
	return n < 0 ? -errno : n;
}

/* Every file handed over as a kernel descriptor, as passthrough does. */
static int b_open(void *priv, const char *path, int flags, mode_t mode,
		  struct defuse_open *out)
{
	char p[8192];
	int r = backing(path, p), fd;

	(void)priv;
	if (r < 0)
		return r;
	if ((fd = open(p, flags, mode)) < 0)
		return -errno;
	out->kernel_fd = fd;
	return 0;
}

static const struct defuse_ops backed_ops = {
	.getattr = b_getattr,
	.readlink = b_readlink,
	.open = b_open,
	.release = t_release,
};

const struct defuse_module fake_backed_module = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "fake-backed",
	.description = "a real directory, every file a kernel descriptor",
	.flags = 0,
	.ops = &backed_ops,
};
