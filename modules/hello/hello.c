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
 * messages.  `defuse mount /tmp/h hello` serves the same module through
 * kernel FUSE, for programs DEFUSE does not run.  The full contract is
 * include/defuse/module.h (docs/module-api.md on one page); a complete
 * module is modules/passthrough.
 *
 * What to know first:
 *  - Paths start at the mount's root ("/" is the root, "/hello" the file),
 *    already walked by DEFUSE: no "." or "..", no symbolic links, every
 *    directory on the way exists.  Only the last name may be missing, so
 *    every operation looks it up.
 *  - Errors are negative errno values, and must be the very ones a kernel
 *    file system gives for the same call: programs act on them (mkdir -p
 *    goes on after EEXIST and stops at anything else).
 *  - Operations may run at once from any number of threads.  hello changes
 *    nothing after it is loaded, so it needs no locks.
 *  - An operation left NULL gets the answer module.h gives for it, the
 *    same in-process and through FUSE.  hello sets DEFUSE_MODULE_READONLY,
 *    so DEFUSE itself refuses every change with the kernel's errors (EROFS,
 *    after EEXIST or ENOENT where the kernel looks first) and hello leaves
 *    every changing operation NULL; so are access (decided from the mode
 *    bits), readlink (no links: EINVAL), fgetattr (getattr of the path),
 *    listxattr (an empty list), release (nothing to free).
 *  - ioctls the kernel answers for every file system (FIONREAD, FIGETBSZ,
 *    ...) DEFUSE answers too; a module's ioctl gets the rest, the way
 *    kernel FUSE passes them on.
 */
#define _GNU_SOURCE 1	/* DT_DIR: beyond plain C11 */
#include <defuse/module.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>

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
 * Once per mount, in every process that uses it (and again after each
 * exec).  args is what follows "hello:" in `-m MNT=hello:ARGS`; *priv would
 * be the mount's state, handed to every other operation; conn says which
 * host runs us.  A failure reaches the user with the reason.
 */
static int h_init(const char *args, struct defuse_conn *conn, void **priv, char *why,
		  size_t why_len)
{
	(void)conn;
	*priv = NULL;
	if (*args) {
		snprintf(why, why_len, "hello: takes no arguments (got \"%s\")", args);
		return -EINVAL;
	}
	return 0;
}

/* stat and lstat by path (statx and fstat are built from it by DEFUSE). */
static int h_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	int node = lookup(path);

	(void)priv, (void)flags;	/* flags: DEFUSE_NOFOLLOW; no links here */
	if (node < 0)
		return node;
	memset(st, 0, sizeof(*st));
	st->st_ino = node;
	st->st_mode = node == ROOT ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = node == ROOT ? 2 : 1;
	st->st_size = node == ROOT ? 0 : (off_t)TEXT_LEN;
	st->st_blksize = 4096;
	return 0;
}

/*
 * open serves the directory too: DEFUSE opens directories with open and
 * lists them with readdir on the same handle.  Opens that would write never
 * come here (read-only).  kernel_fd = -1 makes the file "emulated": every
 * read comes back here (a module with a real file behind it hands over a
 * kernel descriptor instead, and is not asked again).
 */
static int h_open(void *priv, const char *path, int flags, mode_t mode,
		  struct defuse_open *out)
{
	int node = lookup(path);

	(void)priv, (void)mode;
	if (node < 0)
		return node;
	if (node == HELLO && (flags & O_DIRECTORY))
		return -ENOTDIR;
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

/* statfs, statvfs, df (DEFUSE adds the read-only flag). */
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
	return 0;
}

/* Extended attributes: none are set (getfattr, ls -l and cp -a ask).
   Without getxattr DEFUSE would say the file system has none at all
   (EOPNOTSUPP). */
static ssize_t h_getxattr(void *priv, const char *path, const char *name, void *value,
			  size_t size, int flags)
{
	(void)priv, (void)name, (void)value, (void)size, (void)flags;
	return lookup(path) < 0 ? -ENOENT : -ENODATA;
}

/* File attribute flags (lsattr, FS_IOC_GETFLAGS): none are set, as on a
   read-only tmpfs.  data holds the int the program gets back. */
static long h_ioctl(void *priv, uint64_t fh, unsigned int cmd, unsigned long arg, void *data,
		    size_t size)
{
	(void)priv, (void)fh, (void)arg;
	if (cmd == FS_IOC_GETFLAGS && size == sizeof(int)) {
		memset(data, 0, size);
		return 0;
	}
	return -ENOTTY;
}

static const struct defuse_ops hello_ops = {
	.init = h_init,
	.getattr = h_getattr,
	.open = h_open,
	.read = h_read,
	.readdir = h_readdir,
	.statfs = h_statfs,
	.getxattr = h_getxattr,
	.ioctl = h_ioctl,
};

/*
 * The one symbol DEFUSE looks for (DEFUSE_MODULE_SYMBOL).  api_version and
 * ops_size record the header this was built with: DEFUSE refuses a module
 * built for another API version, with a message that says so.
 */
__attribute__((visibility("default")))
const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "hello",
	.description = "a read-only file system of one file, /hello",
	.flags = DEFUSE_MODULE_READONLY,
	.ops = &hello_ops,
};
