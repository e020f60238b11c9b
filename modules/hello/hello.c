/*
 * hello: a read-only file system of one file.  The smallest complete DEFUSE
 * module, and the one to start from.
 *
 *     $ defuse run -m /tmp/h=hello -- cat /tmp/h/hello
 *     Hello, World!
 *
 * A module is a shared object that exports one struct (at the bottom).
 * DEFUSE loads it into every program that uses a mount of it and calls these
 * functions directly, in the thread that made the system call: no daemon, no
 * messages.  `defuse mount /tmp/h hello -o ro` serves the same module
 * through kernel FUSE, for programs DEFUSE does not run.  The full contract
 * is include/defuse/module.h; a complete module is modules/passthrough.
 *
 * What to know first:
 *  - Paths start at the mount's root ("/" is the root, "/hello" the file),
 *    already walked by DEFUSE: no "." or "..", no symbolic links, every
 *    directory on the way exists.  Only the last name may be missing, so
 *    every operation looks it up.
 *  - Errors are negative errno values, and must be the very ones a kernel
 *    file system gives for the same call: programs act on them (mkdir -p
 *    goes on after EEXIST and stops at anything else).  Below, every
 *    refusal is what the kernel answers on a read-only mount, in the order
 *    the kernel checks.
 *  - Operations may run at once from any number of threads.  hello changes
 *    nothing after it is loaded, so it needs no locks.
 *  - An operation left NULL fails with ENOSYS (or falls back, as module.h
 *    says of each).  A read-only file system has to say EROFS instead, so
 *    hello spells out each refusal.  It leaves NULL what it has no use
 *    for: write and the other calls on an open file that only a writable
 *    open could make, release (nothing to free), opendir and releasedir
 *    (open and readdir serve directories).
 */
#define _GNU_SOURCE 1	/* O_TMPFILE, DT_DIR: beyond plain C11 */
#include <defuse/module.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The statfs flags of a read-only mount (linux/statfs.h; glibc's statvfs
   trusts f_flags only when ST_VALID is set, as the kernel always does). */
#define HELLO_ST_RDONLY 0x0001
#define HELLO_ST_VALID  0x0020

static const char text[] = "Hello, World!\n";
#define TEXT_LEN (sizeof(text) - 1)

/* The two objects.  Their inode numbers double as the handles (fh) that
   open gives out, so an open file needs no memory of its own. */
enum { ROOT = 1, HELLO = 2 };

/* Which object path names, or -ENOENT. */
static int lookup(const char *path)
{
	if (!strcmp(path, "/"))
		return ROOT;
	if (!strcmp(path, "/hello"))
		return HELLO;
	return -ENOENT;
}

/*
 * Once per mount, in every process that uses it.  args is what follows
 * "hello:" in `-m MNT=hello:ARGS`; *priv would be the mount's state, handed
 * to every other operation.  A failure reaches the user with the reason.
 */
static int h_init(const char *args, void **priv, char *why, size_t why_len)
{
	*priv = NULL;
	if (*args) {
		snprintf(why, why_len, "hello: takes no arguments (got \"%s\")", args);
		return -EINVAL;
	}
	return 0;
}

/* The attributes of an object: what stat shows. */
static void attributes(int node, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = node;
	st->st_mode = node == ROOT ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = node == ROOT ? 2 : 1;
	st->st_size = node == ROOT ? 0 : (off_t)TEXT_LEN;
	st->st_blksize = 4096;
}

/* stat and lstat by path; statx is built from it by DEFUSE. */
static int h_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	int node = lookup(path);

	(void)priv, (void)flags;	/* flags: DEFUSE_NOFOLLOW; no links here */
	if (node < 0)
		return node;
	attributes(node, st);
	return 0;
}

/* fstat of an open file; DEFUSE also takes the size from it for
   lseek(SEEK_END), SEEK_DATA and SEEK_HOLE. */
static int h_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	(void)priv;
	attributes((int)fh, st);
	return 0;
}

/*
 * access(2).  Without it DEFUSE decides from the mode bits, which let root
 * write anything; a read-only file system refuses W_OK to everyone.
 */
static int h_access(void *priv, const char *path, int mode, int flags)
{
	int node = lookup(path);

	(void)priv, (void)flags;
	if (node < 0)
		return node;
	if (mode & W_OK)
		return -EROFS;
	if ((mode & X_OK) && node == HELLO)
		return -EACCES;	/* no execute bit, not even for root */
	return 0;
}

/*
 * readlink: DEFUSE asks it of any name a program asks it of (realpath does,
 * for each component), so a file system without symbolic links answers
 * EINVAL, "not a link", as the kernel does.
 */
static ssize_t h_readlink(void *priv, const char *path, char *buf, size_t size)
{
	(void)priv, (void)buf, (void)size;
	return lookup(path) < 0 ? -ENOENT : -EINVAL;
}

/*
 * open serves the directory too: DEFUSE opens directories with open and
 * lists them with readdir on the same handle.  kernel_fd = -1 makes the file
 * "emulated": every read comes back here (a module with a real file behind
 * it hands over a kernel descriptor instead, and is not asked again).
 * Nothing to free at close, so release is left NULL.
 */
static int h_open(void *priv, const char *path, int flags, mode_t mode,
		  struct defuse_open *out)
{
	int node = lookup(path);
	int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);

	(void)priv, (void)mode;
	if (node < 0)
		return (flags & O_CREAT) ? -EROFS : node;
	if ((flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (node == HELLO && (flags & O_DIRECTORY))
		return -ENOTDIR;
	if (node == ROOT && (flags & O_TMPFILE) == O_TMPFILE)
		return -EROFS;	/* a new, unnamed file */
	if (node == ROOT && (writes || (flags & O_CREAT)))
		return -EISDIR;
	if (writes)
		return -EROFS;
	out->fh = node;
	out->kernel_fd = -1;
	return 0;
}

/* read, pread, readv...: DEFUSE keeps the file offset and passes it in. */
static ssize_t h_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	(void)priv;
	if (fh == ROOT)
		return -EISDIR;
	if ((size_t)off >= TEXT_LEN)
		return 0;
	if (size > TEXT_LEN - off)
		size = TEXT_LEN - off;
	memcpy(buf, text + off, size);
	return size;
}

/*
 * getdents64 (ls, readdir(3)).  Entries are offered from position pos, each
 * with the position of the next one: when the program's buffer is full,
 * fill returns 1 and the listing resumes there at the next call (also after
 * lseek or seekdir).
 */
static int h_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	static const struct { const char *name; uint64_t ino; unsigned char type; } dir[] = {
		{ ".", ROOT, DT_DIR }, { "..", ROOT, DT_DIR }, { "hello", HELLO, DT_REG },
	};

	(void)priv;
	if (fh != ROOT)
		return -ENOTDIR;
	for (int64_t i = pos; i >= 0 && i < 3; i++)
		if (fill(ctx, dir[i].name, dir[i].ino, dir[i].type, i + 1))
			break;
	return 0;
}

/* statfs, statvfs, df. */
static int h_statfs(void *priv, const char *path, struct statfs *st)
{
	int node = lookup(path);

	(void)priv;
	if (node < 0)
		return node;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_files = 2;
	st->f_namelen = 255;
	st->f_flags = HELLO_ST_RDONLY | HELLO_ST_VALID;
	return 0;
}

/* Extended attributes: none are set (getfattr, ls -l and cp -a ask). */
static ssize_t h_getxattr(void *priv, const char *path, const char *name, void *value,
			  size_t size, int flags)
{
	(void)priv, (void)name, (void)value, (void)size, (void)flags;
	return lookup(path) < 0 ? -ENOENT : -ENODATA;
}

static ssize_t h_listxattr(void *priv, const char *path, char *list, size_t size, int flags)
{
	(void)priv, (void)list, (void)size, (void)flags;
	return lookup(path) < 0 ? -ENOENT : 0;
}

/* ---- Refusals ---------------------------------------------------------- */

/* Changing an object: it must exist (ENOENT), then EROFS. */
static int change(const char *path)
{
	return lookup(path) < 0 ? -ENOENT : -EROFS;
}

/* Making a name: EEXIST if it is taken, else EROFS. */
static int create(const char *path)
{
	return lookup(path) < 0 ? -EROFS : -EEXIST;
}

static int h_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	(void)priv, (void)mode, (void)dev;
	return create(path);
}

static int h_mkdir(void *priv, const char *path, mode_t mode)
{
	(void)priv, (void)mode;
	return create(path);
}

static int h_symlink(void *priv, const char *target, const char *path)
{
	(void)priv, (void)target;
	return create(path);
}

static int h_link(void *priv, const char *from, const char *to)
{
	(void)priv;
	return lookup(from) < 0 ? -ENOENT : create(to);
}

/* Removing or renaming: EROFS even for a name that does not exist. */
static int h_unlink(void *priv, const char *path)
{
	(void)priv, (void)path;
	return -EROFS;
}

static int h_rmdir(void *priv, const char *path)
{
	(void)priv, (void)path;
	return -EROFS;
}

static int h_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	(void)priv, (void)from, (void)to, (void)flags;
	return -EROFS;
}

/* chmod and chown (also fchmod, fchown of an open file: DEFUSE passes its path). */
static int h_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	(void)priv, (void)mode, (void)flags;
	return change(path);
}

static int h_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	(void)priv, (void)uid, (void)gid, (void)flags;
	return change(path);
}

static int h_truncate(void *priv, const char *path, off_t size)
{
	(void)priv, (void)size;
	return lookup(path) == ROOT ? -EISDIR : change(path);
}

static int h_utimens(void *priv, const char *path, const struct timespec times[2], int flags)
{
	(void)priv, (void)times, (void)flags;
	return change(path);
}

static int h_setxattr(void *priv, const char *path, const char *name, const void *value,
		      size_t size, int xflags, int flags)
{
	(void)priv, (void)name, (void)value, (void)size, (void)xflags, (void)flags;
	return change(path);
}

static int h_removexattr(void *priv, const char *path, const char *name, int flags)
{
	(void)priv, (void)name, (void)flags;
	return change(path);
}

static const struct defuse_ops hello_ops = {
	.init = h_init,
	.getattr = h_getattr,
	.access = h_access,
	.readlink = h_readlink,
	.open = h_open,
	.read = h_read,
	.fgetattr = h_fgetattr,
	.readdir = h_readdir,
	.statfs = h_statfs,
	.getxattr = h_getxattr,
	.listxattr = h_listxattr,
	.mknod = h_mknod,
	.mkdir = h_mkdir,
	.symlink = h_symlink,
	.link = h_link,
	.unlink = h_unlink,
	.rmdir = h_rmdir,
	.rename = h_rename,
	.chmod = h_chmod,
	.chown = h_chown,
	.truncate = h_truncate,
	.utimens = h_utimens,
	.setxattr = h_setxattr,
	.removexattr = h_removexattr,
};

/*
 * The one symbol DEFUSE looks for (DEFUSE_MODULE_SYMBOL).  api_version and
 * ops_size record the header this was built with: DEFUSE refuses a module of
 * another API version, and never reads past the ops this one knows.
 */
__attribute__((visibility("default")))
const struct defuse_module defuse_module_v1 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "hello",
	.description = "a read-only file system of one file, /hello",
	.ops = &hello_ops,
};
