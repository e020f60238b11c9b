/*
 * DEFUSE operations served by a file system of libfuse's high-level API.
 *
 * Each operation does what the kernel's FUSE client and libfuse's high
 * level together do for the same system call, in the same order:
 *  - the kernel looks a name up before it acts on it, so calls on names
 *    look the path up first (getattr) and answer EEXIST, ENOENT, EISDIR,
 *    ENOTDIR as the kernel would before the file system is asked;
 *  - an operation the file system lacks (-ENOSYS) gets the kernel's answer
 *    for it: flush, fsync and access succeed, xattrs are EOPNOTSUPP,
 *    fallocate EOPNOTSUPP, create falls back on mknod + open, lseek on the
 *    size, statfs on libfuse's defaults;
 *  - libfuse's options: use_ino (else inode numbers of libfuse's own kind:
 *    see path_ino), set_uid/set_gid/set_mode, hard_remove (else an open
 *    file that is unlinked is renamed to .fuse_hidden* until released),
 *    nullpath_ok, direct_io, kernel_cache;
 *  - reads and writes go to the file system in requests of at most
 *    max_read / max_write bytes (128 KiB), as FUSE sends them.
 * Where in process cannot be the same, docs/fuse-compat.md says so.
 */
#include "fc.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef ST_VALID
#define ST_VALID 0x0020		/* statfs f_flags: the flags are valid (linux/statfs.h) */
#endif
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

/* ---- entering and leaving ------------------------------------------- */

/* This thread's calls into any mount of the high level, counted (the
   lookup open may take over, below).  Initial-exec, as context.c's: no
   allocation at a thread's first call, which may come from a signal
   handler that interrupted malloc. */
static __thread uint64_t calls_here __attribute__((tls_model("initial-exec")));

/* Starts a call: the mount must still be there (fuse_exit ends it), and a
   file system served by fuse_loop (single-threaded) gets one call at a
   time.  Returns 0 or -ENOTCONN. */
static int begin(struct fc_inst *in, int creating)
{
	struct fuse *f = in->f;

	calls_here++;
	if (!f || f->exited || in->state != FC_SERVING)
		return -ENOTCONN;
	if (in->single)
		pthread_mutex_lock(&in->serial);
	fc_ctx_enter(f, creating);
	return 0;
}

static void end(struct fc_inst *in)
{
	fc_ctx_leave();
	if (in->single)
		pthread_mutex_unlock(&in->serial);
}

#define BEGIN(creating)					\
	struct fc_inst *in = priv;			\
	struct fuse *f;					\
	int r_ = begin(in, (creating));			\
	if (r_)						\
		return r_;				\
	f = in->f

#define RETURN(v) do { typeof(v) v_ = (v); end(in); return v_; } while (0)

/* ---- inode numbers and attributes ------------------------------------ */

/*
 * Without use_ino, libfuse numbers the nodes it has looked up; a process
 * of its own would number them differently.  Here every process must agree
 * (git keeps inode numbers in its index, tar and cp -a find hard links by
 * them), so the number is a hash of the path: 1 for the root, stable while
 * the name stays, different for each name of a hard link, as libfuse's.
 */
uint64_t fc_path_ino(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (!path || !strcmp(path, "/"))
		return FUSE_ROOT_ID;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h <= FUSE_ROOT_ID ? h + 2 : h;
}

/* The owner, group and mode the kernel sees (uid=, gid=, umask=). */
static void fix_perm(struct fuse *f, struct stat *st)
{
	if (f->conf.set_mode)
		st->st_mode = (st->st_mode & S_IFMT) | (0777 & ~f->conf.umask);
	if (f->conf.set_uid)
		st->st_uid = f->conf.uid;
	if (f->conf.set_gid)
		st->st_gid = f->conf.gid;
}

static void fix_stat(struct fuse *f, const char *path, struct stat *st)
{
	if (!f->conf.use_ino)
		st->st_ino = fc_path_ino(path);
	fix_perm(f, st);
	if (!st->st_blksize)
		st->st_blksize = 4096;	/* the FUSE superblock's block size */
}

/* The kernel's lookup: stat of path, or -errno. */
static int lookup(struct fuse *f, const char *path, struct stat *st)
{
	int r;

	memset(st, 0, sizeof(*st));
	r = fuse_fs_getattr(f->fs, path, st, NULL);
	return r > 0 ? 0 : r;
}

/* ---- open files -------------------------------------------------------- */

static struct fc_file *H(uint64_t fh)
{
	return (struct fc_file *)(uintptr_t)fh;
}

/* The path an operation on h gets: NULL with nullpath_ok, else a copy of
   its current one (a rename in another thread may replace it). */
static const char *hpath(struct fc_inst *in, struct fc_file *h, char buf[PATH_MAX])
{
	if (in->f->conf.nullpath_ok)
		return NULL;
	pthread_mutex_lock(&in->files_lock);
	snprintf(buf, PATH_MAX, "%s", h->path);
	pthread_mutex_unlock(&in->files_lock);
	return buf;
}

/* A new open file, complete before renames and removals (paths.c) see it. */
static struct fc_file *new_file(struct fc_inst *in, const char *path,
				const struct fuse_file_info *fi, int is_dir, int path_only)
{
	struct fc_file *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->path = strdup(path);
	if (!h->path) {
		free(h);
		return NULL;
	}
	h->fi = *fi;
	h->is_dir = is_dir;
	h->is_path_only = path_only;
	h->lock_fd = -1;
	h->inst = in;
	pthread_mutex_init(&h->dir_lock, NULL);
	pthread_mutex_lock(&in->files_lock);
	h->next = in->files;
	if (in->files)
		in->files->prev = h;
	in->files = h;
	pthread_mutex_unlock(&in->files_lock);
	return h;
}

static void free_file(struct fc_inst *in, struct fc_file *h)
{
	fc_file_free(in, &in->files, h);
}

/* Is the file path names open (a FUSE open of a file: not O_PATH, not
   opendir, as libfuse counts opens) in this process? */
static int is_open(struct fc_inst *in, const char *path)
{
	int found = 0;

	pthread_mutex_lock(&in->files_lock);
	FC_EACH_FILE(in, h)
		found |= !h->is_path_only && !h->is_dir && !h->removed && !h->adopted &&
			 !strcmp(h->path, path);
	pthread_mutex_unlock(&in->files_lock);
	return found;
}

/* Is h's file open through another handle of this process?  (An inherited
   file opened again counts as the file that opened it again: adopt.c.) */
static int is_open_other(struct fc_inst *in, struct fc_file *h)
{
	int found = 0;

	pthread_mutex_lock(&in->files_lock);
	FC_EACH_FILE(in, o)
		found |= o != h && !o->is_path_only && !o->removed && !o->adopted &&
			 !strcmp(o->path, h->path);
	pthread_mutex_unlock(&in->files_lock);
	return found;
}

/*
 * libfuse's hiding: an open file that loses its name is renamed to
 * DIR/.fuse_hiddenXXXXXXXXYYYYYYYY instead, and removed when released, so
 * that operations on it still find it by path, and a file system that
 * frees a file at its unlink (fuse2fs: the blocks written after it were
 * left allocated to no inode, and e2fsck found the image corrupt) never
 * sees an open one unlinked.  As libfuse 2 and 3 do, nullpath_ok or not:
 * only hard_remove unlinks at once.  (A mapped file is released by the
 * munmap and close that end its use, not later: pager_fault.c, serving.)
 * 0 if hidden, 1 if it need not be, or -errno.
 */
static int hide(struct fc_inst *in, const char *path)
{
	struct fuse *f = in->f;
	char hidden[PATH_MAX + 32];
	const char *slash;
	struct stat st;
	int r;

	if (f->conf.hard_remove || !is_open(in, path))
		return 1;
	slash = strrchr(path, '/');
	for (int tries = 0; tries < 10; tries++) {
		snprintf(hidden, sizeof(hidden), "%.*s/.fuse_hidden%08x%08x",
			 (int)(slash - path), path, (unsigned)fc_path_ino(path),
			 ++in->hidden_seq);
		if (lookup(f, hidden, &st) == -ENOENT)
			break;
	}
	r = fuse_fs_rename(f->fs, path, hidden, 0);
	if (r == -ENOSYS)
		return 1;
	if (r)
		return r;
	fc_files_renamed(in, path, hidden, 0);
	pthread_mutex_lock(&in->files_lock);
	FC_EACH_FILE(in, h)
		if (!strcmp(h->path, hidden))
			h->hidden = 1;
	pthread_mutex_unlock(&in->files_lock);
	return 0;
}

/* ---- metadata ------------------------------------------------------------ */

/*
 * The lookup the host just made.  To open a file the core looks its last
 * name up (getattr) and then opens it, in one system call, and the high
 * level looked the name up again first, as libfuse does for a FUSE OPEN
 * of an inode the kernel looked up just before: two lookups where the
 * kernel makes one (a round trip to the server of a network file system,
 * an lstat for a passthrough).  So open takes over the getattr's answer
 * when it is this thread's very next call after it, for the same path,
 * within a millisecond: the same system call, as the kernel's lookup and
 * open are.  An exclusive create looks up again (the core does not look
 * its name up first, so the getattr before may be another call's).
 */
#define LAST_NS 1000000

/* Small (static TLS is scarce): the path as its hash and length, and of
   the attributes what open looks at but for a FIFO's (looked up again). */
struct last_lookup {
	struct fc_inst *in;	/* NULL: none */
	uint64_t seq;		/* calls_here at the getattr */
	uint64_t at_ns;
	uint64_t hash;		/* fc_path_ino of the path */
	size_t len;
	int r;
	mode_t mode;
	uid_t uid;		/* (owner and group: default_permissions) */
	gid_t gid;
};

static __thread struct last_lookup last __attribute__((tls_model("initial-exec")));

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void note_lookup(struct fc_inst *in, const char *path, int r, const struct stat *st)
{
	last.in = NULL;
	if (!r && S_ISFIFO(st->st_mode))
		return;		/* its open wants the whole stat */
	last.hash = fc_path_ino(path);
	last.len = strlen(path);
	last.r = r;
	last.mode = r ? 0 : st->st_mode;
	last.uid = r ? 0 : st->st_uid;
	last.gid = r ? 0 : st->st_gid;
	last.seq = calls_here;
	last.at_ns = now_ns();
	last.in = in;
}

/* The lookup of path open makes: the getattr's just before (st then
   holds the file's type, permission bits, owner and group only), or anew. */
static int open_lookup(struct fc_inst *in, const char *path, int flags, struct stat *st)
{
	int took = last.in == in && last.seq + 1 == calls_here &&
		   !((flags & O_CREAT) && (flags & O_EXCL)) && last.len == strlen(path) &&
		   last.hash == fc_path_ino(path) && now_ns() - last.at_ns < LAST_NS;

	last.in = NULL;
	if (!took)
		return lookup(in->f, path, st);
	memset(st, 0, sizeof(*st));
	st->st_mode = last.mode;
	st->st_uid = last.uid;
	st->st_gid = last.gid;
	return last.r;
}

static int hl_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	int r;
	BEGIN(0);

	(void)flags;	/* the host resolved links: path is the object itself */
	r = lookup(f, path, st);
	if (!r)
		fix_stat(f, path, st);
	note_lookup(in, path, r, st);
	RETURN(r);
}

/* Without default_permissions the kernel asks the file system (ENOSYS
   there: granted); with it, the kernel decides from the mode bits. */
static int hl_access(void *priv, const char *path, int mode, int flags)
{
	uid_t ruid, euid, suid, fsuid = -1;
	gid_t rgid, egid, sgid, fsgid = -1;
	struct stat st;
	int r;
	BEGIN(0);

	/* access(2) looks up and checks as the real IDs (AT_EACCESS: the
	   effective ones), and so must the file system's own calls. */
	if (!defuse_fs_ids_are_real || !defuse_fs_ids_are_real() || (flags & AT_EACCESS)) {
		getresuid(&ruid, &euid, &suid);
		getresgid(&rgid, &egid, &sgid);
		fsuid = setfsuid(flags & AT_EACCESS ? euid : ruid);
		fsgid = setfsgid(flags & AT_EACCESS ? egid : rgid);
	}
	r = lookup(f, path, &st);
	if (!r)
		fix_perm(f, &st);	/* as the kernel sees it */
	/* with default_permissions, and for symbolic links (FUSE gives them
	   no permission operation), the kernel decides from the mode bits */
	if (!r && (f->mo.default_permissions || S_ISLNK(st.st_mode)))
		r = fc_mode_permits(&st, mode, flags & AT_EACCESS ? FC_IDS_EFFECTIVE : FC_IDS_REAL);
	else if (!r)
		r = fuse_fs_access(f->fs, path, mode);
	if (r == -ENOSYS)
		r = 0;
	if (fsuid != (uid_t)-1) {
		setfsuid(fsuid);
		setfsgid(fsgid);
	}
	RETURN(r);
}

/* Only symbolic links reach FUSE's readlink; libfuse gives the file system
   PATH_MAX + 1 bytes and passes on what it wrote, NUL-terminated. */
static ssize_t hl_readlink(void *priv, const char *path, char *buf, size_t size)
{
	char link[PATH_MAX + 1];
	struct stat st;
	ssize_t n;
	int r;
	BEGIN(0);

	r = lookup(f, path, &st);
	if (!r && !S_ISLNK(st.st_mode))
		r = -EINVAL;
	if (!r) {
		link[0] = 0;
		r = fuse_fs_readlink(f->fs, path, link, sizeof(link));
	}
	if (r < 0)
		RETURN((ssize_t)r);
	link[PATH_MAX] = 0;
	n = strlen(link);
	if ((size_t)n > size)
		n = size;
	memcpy(buf, link, n);
	RETURN(n);
}

static int hl_statfs(void *priv, const char *path, struct statfs *out)
{
	struct statvfs sv;
	struct stat st;
	int r;
	BEGIN(0);

	r = lookup(f, path, &st);
	if (r)
		RETURN(r);
	memset(&sv, 0, sizeof(sv));
	r = fuse_fs_statfs(f->fs, path, &sv);
	if (r < 0)
		RETURN(r);
	memset(out, 0, sizeof(*out));
	out->f_type = FUSE_SUPER_MAGIC;
	out->f_bsize = sv.f_bsize;
	out->f_frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	out->f_blocks = sv.f_blocks;
	out->f_bfree = sv.f_bfree;
	out->f_bavail = sv.f_bavail;
	out->f_files = sv.f_files;
	out->f_ffree = sv.f_ffree;
	out->f_namelen = sv.f_namemax;
	out->f_flags = ST_VALID;
	RETURN(0);
}

/* ---- names ------------------------------------------------------------ */

/* The kernel's check before creating name: it must not exist. */
static int must_not_exist(struct fuse *f, const char *path)
{
	struct stat st;
	int r = lookup(f, path, &st);

	return r == -ENOENT ? 0 : r ? r : -EEXIST;
}

static int hl_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	struct fuse_file_info fi;
	int r;
	BEGIN(1);

	r = must_not_exist(f, path);
	if (!r && S_ISREG(mode)) {
		/* libfuse makes a regular file with create when it can */
		memset(&fi, 0, sizeof(fi));
		fi.flags = O_CREAT | O_EXCL | O_WRONLY;
		r = fuse_fs_create(f->fs, path, mode, &fi);
		if (!r)
			fuse_fs_release(f->fs, path, &fi);
		else if (r == -ENOSYS)
			r = fuse_fs_mknod(f->fs, path, mode, dev);
	} else if (!r) {
		r = fuse_fs_mknod(f->fs, path, mode, dev);
	}
	RETURN(r);
}

static int hl_mkdir(void *priv, const char *path, mode_t mode)
{
	int r;
	BEGIN(1);

	r = must_not_exist(f, path);
	if (!r)
		r = fuse_fs_mkdir(f->fs, path, mode);
	RETURN(r);
}

static int hl_symlink(void *priv, const char *target, const char *path)
{
	int r;
	BEGIN(0);

	r = must_not_exist(f, path);
	if (!r)
		r = fuse_fs_symlink(f->fs, target, path);
	RETURN(r);
}

static int hl_link(void *priv, const char *from, const char *to)
{
	struct stat st;
	int r;
	BEGIN(0);

	r = lookup(f, from, &st);
	if (!r && S_ISDIR(st.st_mode))
		r = -EPERM;
	if (!r)
		r = must_not_exist(f, to);
	if (!r)
		r = fuse_fs_link(f->fs, from, to);
	RETURN(r);
}

static int hl_unlink(void *priv, const char *path)
{
	struct stat st;
	int r;
	BEGIN(0);

	r = lookup(f, path, &st);
	if (!r && S_ISDIR(st.st_mode))
		r = -EISDIR;
	if (!r)
		r = hide(in, path);
	if (r == 1)
		r = fuse_fs_unlink(f->fs, path);
	if (!r)
		fc_files_removed(in, path, 0);	/* hidden ones are not at path any more */
	RETURN(r);
}

static int hl_rmdir(void *priv, const char *path)
{
	struct stat st;
	int r;
	BEGIN(0);

	r = lookup(f, path, &st);
	if (!r && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (!r)
		r = fuse_fs_rmdir(f->fs, path);
	if (!r)
		fc_files_removed(in, path, 0);
	RETURN(r);
}

static int hl_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	struct stat a, b;
	int r, rb;
	BEGIN(0);

	r = lookup(f, from, &a);
	rb = r ? 0 : lookup(f, to, &b);
	if (!r && rb && rb != -ENOENT)
		r = rb;
	if (!r && (flags & RENAME_EXCHANGE) && rb)
		r = rb;
	if (!r && !rb && (flags & RENAME_NOREPLACE))
		r = -EEXIST;
	if (!r && !rb && !(flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(a.st_mode) && !S_ISDIR(b.st_mode))
			r = -ENOTDIR;
		else if (!S_ISDIR(a.st_mode) && S_ISDIR(b.st_mode))
			r = -EISDIR;
	}
	if (!r && !rb && !(flags & RENAME_EXCHANGE) && strcmp(from, to)) {
		r = hide(in, to);
		r = r == 1 ? 0 : r;
	}
	if (!r)
		r = fuse_fs_rename(f->fs, from, to, flags);
	if (r == -ENOSYS && flags)
		r = -EINVAL;	/* the kernel's answer once rename2 is unknown */
	/* Open files follow.  Two names of one file are two nodes to
	   libfuse's high level, as here: the rename reaches the file system
	   and the names' open files move as for any other two files. */
	if (!r && !rb && !(flags & RENAME_EXCHANGE) && strcmp(from, to))
		fc_files_removed(in, to, 0);	/* replaced (a hidden file is not at to) */
	if (!r && strcmp(from, to))
		fc_files_renamed(in, from, to, flags & RENAME_EXCHANGE);
	RETURN(r);
}

/* ---- attributes --------------------------------------------------------- */

/* With default_permissions, the kernel's checks of a change (set: FUSE's
   FUSE_SET_ATTR_* bits, a: the new values) first. */
static int dp_change(struct fuse *f, const struct stat *st, int set, const struct stat *a)
{
	struct stat seen;

	if (!f->mo.default_permissions)
		return 0;
	seen = *st;
	fix_perm(f, &seen);
	return fc_dp_setattr(&seen, set, a);
}

/* With default_permissions, the kernel's check of an open first. */
static int dp_open(struct fuse *f, const struct stat *st, int flags)
{
	struct stat seen;

	if (!f->mo.default_permissions)
		return 0;
	seen = *st;
	fix_perm(f, &seen);
	return fc_dp_open(&seen, flags);
}

static int hl_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	struct stat st;
	int r;
	BEGIN(0);

	r = lookup(f, path, &st);
	if (!r && (flags & DEFUSE_NOFOLLOW) && S_ISLNK(st.st_mode))
		r = -EOPNOTSUPP;
	if (!r)
		r = dp_change(f, &st, FUSE_SET_ATTR_MODE, NULL);
	if (!r)
		r = fuse_fs_chmod(f->fs, path, mode, NULL);
	fc_privs_again(in, mode, r);
	RETURN(r);
}

/* The mode the kernel would send with a change of st (fc_kill_setid),
   set first, as libfuse's setattr sets a mode before the rest.  Its error
   is not the change's: a file system that runs as its caller (a
   passthrough) may not chmod another's file, and the kernel under it
   takes the bits itself. */
static void kill_setid(struct fuse *f, const char *path, const struct stat *st, int why,
		       struct fuse_file_info *fi)
{
	mode_t m = fc_kill_setid(st, why);

	if (m != (st->st_mode & 07777)) {
		fc_ctx_as_kernel(1);
		fuse_fs_chmod(f->fs, path, m, fi);
		fc_ctx_as_kernel(0);
	}
}

static int hl_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	struct stat st;
	int r;
	BEGIN(0);

	(void)flags;
	r = lookup(f, path, &st);
	if (!r) {
		struct stat a = { .st_uid = uid, .st_gid = gid };

		r = dp_change(f, &st, (uid != (uid_t)-1 ? FUSE_SET_ATTR_UID : 0) |
				      (gid != (gid_t)-1 ? FUSE_SET_ATTR_GID : 0), &a);
	}
	if (!r)
		kill_setid(f, path, &st, FC_KILL_CHOWN, NULL);
	if (!r)
		r = fuse_fs_chown(f->fs, path, uid, gid, NULL);
	RETURN(r);
}

static int hl_truncate(void *priv, const char *path, off_t size)
{
	struct stat st;
	int r;
	BEGIN(0);

	r = lookup(f, path, &st);
	if (!r && S_ISDIR(st.st_mode))
		r = -EISDIR;
	else if (!r && !S_ISREG(st.st_mode))
		r = -EINVAL;
	if (!r)
		r = dp_change(f, &st, FUSE_SET_ATTR_SIZE, NULL);
	if (!r)
		kill_setid(f, path, &st, FC_KILL_WRITE, NULL);
	if (!r)
		r = fuse_fs_truncate(f->fs, path, size, NULL);
	RETURN(r);
}

/* NULL times are "now" for both; both omitted changes nothing. */
static const struct timespec *times_of(const struct timespec *t, struct timespec buf[2])
{
	if (t)
		return t;
	buf[0].tv_sec = buf[1].tv_sec = 0;
	buf[0].tv_nsec = buf[1].tv_nsec = UTIME_NOW;
	return buf;
}

static int hl_utimens(void *priv, const char *path, const struct timespec times[2], int flags)
{
	struct timespec now[2];
	const struct timespec *t = times_of(times, now);
	struct stat st;
	int r;
	BEGIN(0);

	(void)flags;
	r = lookup(f, path, &st);
	if (r || (t[0].tv_nsec == UTIME_OMIT && t[1].tv_nsec == UTIME_OMIT))
		RETURN(r);
	if (f->mo.default_permissions) {
		struct stat a = { 0 };	/* (the change in FUSE's terms) */

		r = dp_change(f, &st, fc_times_to_set(t, &a), &a);
	}
	if (!r)
		r = fuse_fs_utimens(f->fs, path, t, NULL);
	RETURN(r);
}

/* ---- extended attributes: ENOSYS is EOPNOTSUPP, as the kernel says ------ */

static int xattr_err(int r)
{
	return r == -ENOSYS ? -EOPNOTSUPP : r;
}

static ssize_t hl_getxattr(void *priv, const char *path, const char *name, void *value,
			   size_t size, int flags)
{
	struct stat st;
	int r;
	BEGIN(0);

	(void)flags;
	r = lookup(f, path, &st);
	if (!r)
		r = xattr_err(fuse_fs_getxattr(f->fs, path, name, value, size));
	RETURN((ssize_t)r);
}

static int hl_setxattr(void *priv, const char *path, const char *name, const void *value,
		       size_t size, int xflags, int flags)
{
	struct stat st;
	int r;
	BEGIN(0);

	(void)flags;
	r = lookup(f, path, &st);
	if (!r)
		r = xattr_err(fuse_fs_setxattr(f->fs, path, name, value, size, xflags));
	RETURN(r);
}

static ssize_t hl_listxattr(void *priv, const char *path, char *list, size_t size, int flags)
{
	struct stat st;
	int r;
	BEGIN(0);

	(void)flags;
	r = lookup(f, path, &st);
	if (!r)
		r = xattr_err(fuse_fs_listxattr(f->fs, path, list, size));
	RETURN((ssize_t)r);
}

static int hl_removexattr(void *priv, const char *path, const char *name, int flags)
{
	struct stat st;
	int r;
	BEGIN(0);

	(void)flags;
	r = lookup(f, path, &st);
	if (!r)
		r = xattr_err(fuse_fs_removexattr(f->fs, path, name));
	RETURN(r);
}

/* ---- open and release ---------------------------------------------------- */

/* A new file: create, or (file system without it) mknod and open. */
static int create_file(struct fuse *f, const char *path, int flags, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct stat st;
	int r;

	/* FUSE's create and mknod get the file type with the mode */
	mode = S_IFREG | (mode & 07777);
	fi->flags = flags & ~O_NOCTTY;
	r = fuse_fs_create(f->fs, path, mode, fi);
	if (!r) {
		/* libfuse looks the new file up, and gives it back if it cannot */
		r = lookup(f, path, &st);
		if (r)
			fuse_fs_release(f->fs, path, fi);
		return r;
	}
	if (r != -ENOSYS)
		return r;
	r = fuse_fs_mknod(f->fs, path, mode, 0);
	if (r)
		return r;
	memset(fi, 0, sizeof(*fi));
	fi->flags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY);
	return fuse_fs_open(f->fs, path, fi);
}

/* An existing file, directory or other object. */
static int open_existing(struct fuse *f, const char *path, const struct stat *st, int flags,
			 struct fuse_file_info *fi, int *is_dir)
{
	int trunc;
	int r;

	if ((flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (S_ISDIR(st->st_mode)) {
		if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT)))
			return -EISDIR;
		if ((r = dp_open(f, st, flags)))
			return r;
		*is_dir = 1;
		fi->flags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY);
		return fuse_fs_opendir(f->fs, path, fi);
	}
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	if (S_ISLNK(st->st_mode))
		return -ELOOP;	/* the host follows links; this is O_NOFOLLOW */
	if (S_ISSOCK(st->st_mode))
		return -ENXIO;
	if ((r = dp_open(f, st, flags)))
		return r;
	/* O_TRUNC goes with the open (FUSE_CAP_ATOMIC_O_TRUNC, which libfuse
	   asks for by default), or after it as a truncate with the handle. */
	trunc = (flags & O_TRUNC) && !(f->inst->conn.want & FUSE_CAP_ATOMIC_O_TRUNC) &&
		(flags & O_ACCMODE) != O_RDONLY;
	fi->flags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | (trunc ? O_TRUNC : 0));
	r = fuse_fs_open(f->fs, path, fi);
	if (!r && trunc) {
		r = fuse_fs_truncate(f->fs, f->conf.nullpath_ok ? NULL : path, 0, fi);
		if (r)
			fuse_fs_release(f->fs, path, fi);
	}
	return r;
}

static int hl_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out)
{
	struct fuse_file_info fi;
	struct fc_file *h;
	struct stat st;
	int r, is_dir = 0, path_only = 0, given = flags, created = 0;
	BEGIN((flags & O_CREAT) != 0);

	memset(&fi, 0, sizeof(fi));
	out->kernel_fd = -1;
	/* The file system's own descriptors should not outlive an exec: the
	   new image starts the file system afresh. */
	flags |= O_CLOEXEC;
	r = open_lookup(in, path, flags, &st);
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		/* the kernel's checks, then FUSE's answer: libfuse 3.14's high
		   level has no tmpfile */
		if ((flags & O_ACCMODE) == O_RDONLY)
			r = -EINVAL;
		else if (!r && !S_ISDIR(st.st_mode))
			r = -ENOTDIR;
		RETURN(r ? r : -EOPNOTSUPP);
	}
	if (r && r != -ENOENT)
		RETURN(r);
	if (!r && S_ISFIFO(st.st_mode) && !(flags & O_PATH)) {
		if ((flags & O_CREAT) && (flags & O_EXCL))
			RETURN(-EEXIST);
		if (flags & O_DIRECTORY)
			RETURN(-ENOTDIR);
		/* the kernel's check, then the host's stand-in (fc_dp_open) */
		fix_perm(f, &st);
		r = fc_dp_open(&st, given);
		RETURN(r ? r : -ENXIO);
	}
	if (flags & O_PATH) {
		/* No FUSE open for O_PATH: the kernel only looks it up. */
		if (r)
			RETURN(r);
		if ((flags & O_DIRECTORY) && !S_ISDIR(st.st_mode))
			RETURN(-ENOTDIR);
		path_only = 1;
		is_dir = S_ISDIR(st.st_mode);
	} else if (r) {
		if (!(flags & O_CREAT))
			RETURN(-ENOENT);
		r = create_file(f, path, flags, mode, &fi);
		created = 1;
	} else {
		r = open_existing(f, path, &st, flags, &fi, &is_dir);
		/* a truncating open is a truncation (handle_truncate) */
		if (!r && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
			kill_setid(f, path, &st, FC_KILL_WRITE, &fi);
	}
	if (r)
		RETURN(r);
	if (f->conf.direct_io)
		fi.direct_io = 1;
	if (f->conf.kernel_cache)
		fi.keep_cache = 1;
	h = new_file(in, path, &fi, is_dir, path_only);
	if (!h) {
		if (!path_only) {
			if (is_dir)
				fuse_fs_releasedir(f->fs, path, &fi);
			else
				fuse_fs_release(f->fs, path, &fi);
		}
		RETURN(-ENOMEM);
	}
	/* A file with no set-ID bit when it was opened has none to lose at
	   its first write: no need to ask for its mode then. */
	h->privs_done = !((created ? mode : st.st_mode) & (S_ISUID | S_ISGID));
	out->fh = (uintptr_t)h;
	RETURN(0);
}

/* Gives the file system its file back; a hidden one loses its name now. */
static void release_file(struct fc_inst *in, struct fc_file *h)
{
	struct fuse *f = in->f;
	char buf[PATH_MAX];
	const char *p = hpath(in, h, buf);

	if (h->is_path_only)
		;
	else if (h->is_dir)
		fuse_fs_releasedir(f->fs, p, FC_FI(h));
	else
		fuse_fs_release(f->fs, p, FC_FI(h));
	if (h->hidden && !is_open_other(in, h))
		fuse_fs_unlink(f->fs, h->path);
	free_file(in, h);
}

static void hl_release(void *priv, uint64_t fh)
{
	struct fc_inst *in = priv;

	if (!fh)
		return;		/* a FIFO, given to the host as a kernel descriptor */
	if (begin(in, 0)) {
		free_file(in, H(fh));
		return;
	}
	release_file(in, H(fh));
	end(in);
}

static int hl_flush(void *priv, uint64_t fh)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	int r;
	struct fuse_file_info fi;
	BEGIN(0);

	if (h->is_dir || h->is_path_only)
		RETURN(0);
	fi = h->fi;
	fi.flush = 1;
	fi.lock_owner = (uint64_t)getpid();
	r = fuse_fs_flush(f->fs, hpath(in, h, buf), &fi);
	RETURN(r == -ENOSYS ? 0 : r);
}

/* ---- data ----------------------------------------------------------------- */

static const char *hpath_fi(struct fc_inst *in, struct fc_file *h, char buf[PATH_MAX]);

/*
 * Whether off is at or past the end of h's file.  Kernel FUSE, but for
 * direct_io, reads only what it knows the file to hold: a read at its end
 * returns 0 without asking; some file systems fail such a read (fusefat:
 * EPERM, "cannot seek beyond EOF").  Asked only when a read failed.
 */
static int past_end(struct fuse *f, struct fc_inst *in, struct fc_file *h, off_t off)
{
	char buf[PATH_MAX];
	struct stat st;

	if (FC_FI(h)->direct_io)
		return 0;
	memset(&st, 0, sizeof(st));
	return fuse_fs_getattr(f->fs, hpath_fi(in, h, buf), &st, FC_ATTR_FI(h)) >= 0 &&
	       off >= st.st_size;
}

static ssize_t hl_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	struct fc_file *h = H(fh);
	size_t done = 0, max;
	char pbuf[PATH_MAX];
	const char *p;
	BEGIN(0);

	if (h->is_dir)
		RETURN((ssize_t)-EISDIR);
	p = hpath(in, h, pbuf);
	max = f->mo.max_read && f->mo.max_read < in->conn.max_read ? f->mo.max_read :
	      in->conn.max_read;
	while (done < size) {
		size_t n = size - done < max ? size - done : max;
		int r = fuse_fs_read(f->fs, p, (char *)buf + done, n, off + done, FC_FI(h));

		if (r < 0 && !done && past_end(f, in, h, off))
			RETURN(0);
		if (r < 0)
			RETURN(done ? (ssize_t)done : (ssize_t)r);
		if ((size_t)r > n)
			r = n;
		done += r;
		if ((size_t)r < n)
			break;
	}
	RETURN((ssize_t)done);
}

static const char *hpath_fi(struct fc_inst *in, struct fc_file *h, char buf[PATH_MAX]);
static const char *hpath_noh2(struct fc_inst *in, struct fc_file *h, char buf[PATH_MAX]);

/* A write or truncation through h: the set-ID bits go first, as the kernel
   takes them (fc_kill_setid), unless the caller is privileged (asked
   first: no getattr then).  Its errors are not the write's. */
static void handle_kill_setid(struct fc_inst *in, struct fc_file *h)
{
	char buf[PATH_MAX];
	struct stat st;

	if (fc_dp_open_passes())
		return;
	memset(&st, 0, sizeof(st));
	if (fuse_fs_getattr(in->f->fs, hpath_fi(in, h, buf), &st, FC_ATTR_FI(h)) == 0)
		kill_setid(in->f, hpath_noh2(in, h, buf), &st, FC_KILL_WRITE, FC_ATTR_FI(h));
}

static ssize_t hl_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	struct fc_file *h = H(fh);
	size_t done = 0, max;
	char pbuf[PATH_MAX];
	const char *p;
	BEGIN(0);

	p = hpath(in, h, pbuf);
	if (!__atomic_load_n(&h->privs_done, __ATOMIC_RELAXED)) {
		handle_kill_setid(in, h);
		__atomic_store_n(&h->privs_done, 1, __ATOMIC_RELAXED);
	}
	max = in->conn.max_write;
	while (done < size) {
		size_t n = size - done < max ? size - done : max;
		int r = fuse_fs_write(f->fs, p, (const char *)buf + done, n, off + done, FC_FI(h));

		if (r < 0)
			RETURN(done ? (ssize_t)done : (ssize_t)r);
		if ((size_t)r > n)
			RETURN(done ? (ssize_t)done : (ssize_t)-EIO);	/* as libfuse */
		done += r;
		if ((size_t)r < n)
			break;
	}
	RETURN((ssize_t)done);
}

/* ---- by handle ------------------------------------------------------------ */

/* The path a call by handle gets: NULL only with nullpath_ok and a handle
   to go by. */
static const char *hpath_fi(struct fc_inst *in, struct fc_file *h, char buf[PATH_MAX])
{
	if (!fc_has_attr_fi(h) || !in->f->conf.nullpath_ok) {
		pthread_mutex_lock(&in->files_lock);
		snprintf(buf, PATH_MAX, "%s", h->path);
		pthread_mutex_unlock(&in->files_lock);
		return buf;
	}
	return NULL;
}

/* ... for fchmod, fchown and futimens: libfuse 2's chmod, chown and
   utimens take no handle, so a libfuse 2 file system always gets the path
   (with nullpath_ok it got NULL, and fuse2fs crashed on it). */
static const char *hpath_noh2(struct fc_inst *in, struct fc_file *h, char buf[PATH_MAX])
{
	if (!in->f->v2)
		return hpath_fi(in, h, buf);
	pthread_mutex_lock(&in->files_lock);
	snprintf(buf, PATH_MAX, "%s", h->path);
	pthread_mutex_unlock(&in->files_lock);
	return buf;
}

static int hl_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	int r;
	BEGIN(0);

	memset(st, 0, sizeof(*st));
	r = fuse_fs_getattr(f->fs, hpath_fi(in, h, buf), st, FC_ATTR_FI(h));
	if (r > 0)
		r = 0;
	if (!r) {
		pthread_mutex_lock(&in->files_lock);
		fix_stat(f, h->path, st);
		/* a hidden file has lost its name: libfuse counts it so */
		if (h->hidden && st->st_nlink > 0)
			st->st_nlink--;
		pthread_mutex_unlock(&in->files_lock);
	}
	RETURN(r);
}

static int hl_ftruncate(void *priv, uint64_t fh, off_t size)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	BEGIN(0);

	handle_kill_setid(in, h);
	RETURN(fuse_fs_truncate(f->fs, hpath_fi(in, h, buf), size, FC_ATTR_FI(h)));
}

static int hl_fchmod(void *priv, uint64_t fh, mode_t mode)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	int r;
	BEGIN(0);

	r = fuse_fs_chmod(f->fs, hpath_noh2(in, h, buf), mode, FC_ATTR_FI(h));
	fc_privs_again(in, mode, r);
	RETURN(r);
}

static int hl_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	struct stat st;
	int r;
	BEGIN(0);

	memset(&st, 0, sizeof(st));
	r = fuse_fs_getattr(f->fs, hpath_fi(in, h, buf), &st, FC_ATTR_FI(h));
	if (r > 0)
		r = 0;
	if (!r)
		kill_setid(f, hpath_noh2(in, h, buf), &st, FC_KILL_CHOWN, FC_ATTR_FI(h));
	if (!r)
		r = fuse_fs_chown(f->fs, hpath_noh2(in, h, buf), uid, gid, FC_ATTR_FI(h));
	RETURN(r);
}

static int hl_futimens(void *priv, uint64_t fh, const struct timespec times[2])
{
	struct fc_file *h = H(fh);
	struct timespec now[2];
	const struct timespec *t = times_of(times, now);
	char buf[PATH_MAX];
	BEGIN(0);

	if (t[0].tv_nsec == UTIME_OMIT && t[1].tv_nsec == UTIME_OMIT)
		RETURN(0);
	RETURN(fuse_fs_utimens(f->fs, hpath_noh2(in, h, buf), t, FC_ATTR_FI(h)));
}

static int hl_fsync(void *priv, uint64_t fh, int datasync)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	const char *p;
	int r;
	BEGIN(0);

	if (h->is_path_only)
		RETURN(-EBADF);
	p = hpath(in, h, buf);
	r = h->is_dir ? fuse_fs_fsyncdir(f->fs, p, datasync, FC_FI(h)) :
			fuse_fs_fsync(f->fs, p, datasync, FC_FI(h));
	RETURN(r == -ENOSYS ? 0 : r);
}

static int hl_fallocate(void *priv, uint64_t fh, int mode, off_t off, off_t len)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	int r;
	BEGIN(0);

	r = fuse_fs_fallocate(f->fs, hpath(in, h, buf), mode, off, len, FC_FI(h));
	RETURN(r == -ENOSYS ? -EOPNOTSUPP : r);
}

/* libfuse's ioctl: the argument's bytes in data, a directory flagged; no
   ioctl is ENOSYS there, which kernel FUSE turns into ENOTTY. */
static long hl_ioctl(void *priv, uint64_t fh, unsigned int cmd, unsigned long arg, void *data,
		     size_t size)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	int r;
	BEGIN(0);

	(void)size;
	r = fuse_fs_ioctl(f->fs, hpath(in, h, buf), cmd, (void *)arg, FC_FI(h),
			  h->is_dir ? FUSE_IOCTL_DIR : 0, data);
	RETURN(r == -ENOSYS ? -ENOTTY : r);
}

/* FUSE's lseek, or the kernel's own answer without it: no holes. */
static off_t hl_seek_data(void *priv, uint64_t fh, off_t off, int whence)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX];
	struct stat st;
	off_t r;
	BEGIN(0);

	r = fuse_fs_lseek(f->fs, hpath(in, h, buf), off, whence, FC_FI(h));
	if (r != -ENOSYS)
		RETURN(r);
	memset(&st, 0, sizeof(st));
	r = fuse_fs_getattr(f->fs, hpath_fi(in, h, buf), &st, FC_ATTR_FI(h));
	if (r < 0)
		RETURN(r);
	if (off >= st.st_size)
		RETURN((off_t)-ENXIO);
	RETURN(whence == SEEK_DATA ? off : st.st_size);
}

/* Where h is now (paths.c). */
static int hl_fh_path(void *priv, uint64_t fh, char *buf, size_t size)
{
	return fc_file_path(priv, H(fh), buf, size);
}

/* ---- directories ------------------------------------------------------- */

struct fill {
	struct fc_inst *in;
	struct fc_file *h;
	const char *dir;	/* the directory's path, for inode numbers */
	defuse_fill_dir fill;
	void *ctx;
	int err;
};

/* The entry's inode number: the file system's with use_ino, else the
   number getattr gives the same name (fc_path_ino): as readdir_ino. */
static uint64_t entry_ino(struct fill *c, const char *name, const struct stat *st)
{
	char path[PATH_MAX];
	const char *slash;

	if (c->in->f->conf.use_ino)
		return st ? st->st_ino : 0xffffffffULL;
	if (!strcmp(name, "."))
		return fc_path_ino(c->dir);
	if (!strcmp(name, "..")) {
		slash = strrchr(c->dir, '/');
		if (!slash || slash == c->dir)
			return FUSE_ROOT_ID;
		snprintf(path, sizeof(path), "%.*s", (int)(slash - c->dir), c->dir);
		return fc_path_ino(path);
	}
	snprintf(path, sizeof(path), "%s%s%s", c->dir, strcmp(c->dir, "/") ? "/" : "", name);
	return fc_path_ino(path);
}

static int filler(void *buf, const char *name, const struct stat *st, off_t off,
		  enum fuse_fill_dir_flags flags)
{
	struct fill *c = buf;
	struct fc_file *h = c->h;
	unsigned char type = st && (st->st_mode & S_IFMT) ? IFTODT(st->st_mode) : DT_UNKNOWN;
	uint64_t ino = entry_ino(c, name, st);

	(void)flags;
	if (!h->dir_mode)
		h->dir_mode = off ? 1 : 2;
	if (h->dir_mode == 1) {
		if (!off) {
			c->err = -EIO;	/* offsets for some entries only */
			return 1;
		}
		return c->fill(c->ctx, name, ino, type, off) ? 1 : 0;
	}
	if (h->nents == h->capents) {
		size_t cap = h->capents ? 2 * h->capents : 64;
		struct fc_dirent *e = realloc(h->ents, cap * sizeof(*e));

		if (!e) {
			c->err = -ENOMEM;
			return 1;
		}
		h->ents = e;
		h->capents = cap;
	}
	h->ents[h->nents].name = strdup(name);
	if (!h->ents[h->nents].name) {
		c->err = -ENOMEM;
		return 1;
	}
	h->ents[h->nents].ino = ino;
	h->ents[h->nents].type = type;
	h->nents++;
	return 0;
}

/*
 * A file system either gives each entry an offset, and is called again
 * from the offset of the last entry taken, or gives 0 and lists the whole
 * directory at once, which is kept here and served by position (libfuse
 * keeps it the same way); position 0 reads the directory again.
 */
static int hl_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	struct fc_file *h = H(fh);
	char buf[PATH_MAX], dir[PATH_MAX];
	struct fill c = { .in = priv, .h = h, .fill = fill, .ctx = ctx };
	int r = 0;
	BEGIN(0);

	if (!h->is_dir)
		RETURN(-ENOTDIR);
	pthread_mutex_lock(&in->files_lock);
	snprintf(dir, sizeof(dir), "%s", h->path);
	pthread_mutex_unlock(&in->files_lock);
	c.dir = dir;
	pthread_mutex_lock(&h->dir_lock);
	if (h->dir_mode == 1 || !pos || h->dir_mode == 0) {
		if (h->dir_mode == 2 || !pos) {
			fc_file_clear_listing(h);
			if (!pos)
				h->dir_mode = 0;
		}
		r = fuse_fs_readdir(f->fs, hpath(in, h, buf), &c, filler,
				    h->dir_mode == 1 ? pos : 0, FC_FI(h), 0);
		if (!r && c.err)
			r = c.err;
		if (r || h->dir_mode == 1) {
			pthread_mutex_unlock(&h->dir_lock);
			RETURN(r);
		}
	}
	for (size_t i = pos; i < h->nents; i++)
		if (fill(ctx, h->ents[i].name, h->ents[i].ino, h->ents[i].type, i + 1))
			break;
	pthread_mutex_unlock(&h->dir_lock);
	RETURN(0);
}

/* ---- locks -------------------------------------------------------------- */

/* A file system with lock (FUSE_CAP_POSIX_LOCKS) keeps record locks
   itself, and with flock (FUSE_CAP_FLOCK_LOCKS) flock locks; without, and
   always for directories (FUSE's directories have no lock operations),
   they are local (lock.c), as the kernel keeps them, on a carrier named by
   the number getattr shows; once h has its carrier open, no key is needed
   (0). */
static uint64_t lock_key(struct fc_inst *in, struct fc_file *h)
{
	struct fuse *f = in->f;
	char buf[PATH_MAX];
	struct stat st;

	if (h->lock_fd >= 0)
		return 0;
	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&in->files_lock);
	snprintf(buf, sizeof(buf), "%s", h->path);
	pthread_mutex_unlock(&in->files_lock);
	if (!f->conf.use_ino)
		return fc_path_ino(buf);
	fuse_fs_getattr(f->fs, f->conf.nullpath_ok && fc_has_attr_fi(h) ? NULL : buf, &st,
			FC_ATTR_FI(h));
	return st.st_ino;
}

static int hl_getlk(void *priv, uint64_t fh, uint64_t owner, struct flock *lock)
{
	struct fc_file *h = H(fh);
	struct fuse_file_info fi;
	char buf[PATH_MAX];
	int r;
	BEGIN(0);

	if (!(in->conn.want & FUSE_CAP_POSIX_LOCKS) || h->is_dir)
		RETURN(fc_local_getlk(in, h, lock_key(in, h), lock));
	fi = h->fi;
	fi.lock_owner = owner;
	r = fuse_fs_lock(f->fs, hpath(in, h, buf), &fi, F_GETLK, lock);
	RETURN(r);
}

static int hl_setlk(void *priv, uint64_t fh, uint64_t owner, const struct flock *lock, int wait)
{
	struct fc_file *h = H(fh);
	struct flock l = *lock;
	struct fuse_file_info fi;
	char buf[PATH_MAX];
	int r;
	BEGIN(0);

	if (!(in->conn.want & FUSE_CAP_POSIX_LOCKS) || h->is_dir) {
		uint64_t key = lock_key(in, h);

		end(in);	/* a wait holds none of the module's locks */
		return fc_local_setlk(in, h, key, lock, wait);
	}
	fi = h->fi;
	fi.lock_owner = owner;
	/* in process asked without waiting: module.c waits (lock_pause) */
	r = fuse_fs_lock(f->fs, hpath(in, h, buf), &fi,
			 wait && !defuse_waiting ? F_SETLKW : F_SETLK, &l);
	RETURN(r);
}

static int hl_flock(void *priv, uint64_t fh, uint64_t owner, int op)
{
	struct fc_file *h = H(fh);
	struct fuse_file_info fi;
	char buf[PATH_MAX];
	BEGIN(0);

	if (!(in->conn.want & FUSE_CAP_FLOCK_LOCKS) || h->is_dir) {
		uint64_t key = lock_key(in, h);

		end(in);	/* a wait holds none of the module's locks */
		return fc_local_flock(in, h, key, op);
	}
	fi = h->fi;
	fi.lock_owner = owner;
	RETURN(fuse_fs_flock(f->fs, hpath(in, h, buf), &fi, defuse_waiting ? op | LOCK_NB : op));
}

/* ---- life ---------------------------------------------------------------- */

/* What in process can do (capable), and libfuse's default want. */
void fc_conn_defaults(struct fuse_conn_info *c)
{
	memset(c, 0, sizeof(*c));
	c->proto_major = 7;
	c->proto_minor = 38;
	c->max_write = FC_MAX_IO;
	c->max_read = FC_MAX_IO;
	c->max_readahead = FC_MAX_IO;
	c->max_background = 12;
	c->congestion_threshold = 9;
	c->time_gran = 1;
	c->capable = FUSE_CAP_ASYNC_READ | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_ATOMIC_O_TRUNC |
		     FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_DONT_MASK | FUSE_CAP_FLOCK_LOCKS |
		     FUSE_CAP_IOCTL_DIR | FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS |
		     FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_ASYNC_DIO | FUSE_CAP_PARALLEL_DIROPS |
		     FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_NO_OPEN_SUPPORT |
		     FUSE_CAP_NO_OPENDIR_SUPPORT | FUSE_CAP_CACHE_SYMLINKS |
		     FUSE_CAP_EXPLICIT_INVAL_DATA | FUSE_CAP_EXPIRE_ONLY |
		     /* how libfuse would move bytes through /dev/fuse: in
			process there is none, and every reply is copied
			whatever the file system asks (fuse-overlayfs asks
			for all three and refuses to start without them) */
		     FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ;
	/* libfuse's defaults; the lock capabilities go to a file system that
	   has the operations (fuse_fs_init, fc_ll_init take them away) */
	c->want = FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_AUTO_INVAL_DATA |
		  FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_ASYNC_DIO | FUSE_CAP_IOCTL_DIR |
		  FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
		  FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS;
}

int fc_hl_init(struct fc_inst *in)
{
	struct fuse *f = in->f;
	struct fuse_conn_info *c = &in->conn;
	unsigned extra;

	fc_conn_defaults(c);
	if (f->mo.max_read && f->mo.max_read < c->max_read)
		c->max_read = f->mo.max_read;
	fc_ctx_enter(f, 0);
	fuse_fs_init(f->fs, c, &f->conf);
	fc_ctx_leave();
	in->initialized = 1;
	if (f->exited) {
		fc_why(in, "%s: its init ended the file system (fuse_exit)", in->name);
		return -1;
	}
	extra = c->want & ~c->capable;
	if (extra) {
		fc_why(in, "%s: its init asked for FUSE capabilities 0x%x, which are not "
		       "offered in process", in->name, extra);
		return -1;
	}
	if (!c->max_write || c->max_write > FC_MAX_IO)
		c->max_write = FC_MAX_IO;
	if (!c->max_read || c->max_read > FC_MAX_IO)
		c->max_read = FC_MAX_IO;
	if (f->mo.ro)
		in->defuse_want |= DEFUSE_CAP_READONLY;
	/* the kernel's checks of the path's directories: the host's */
	if (f->mo.default_permissions)
		in->defuse_want |= DEFUSE_CAP_PERMISSIONS;
	return 0;
}

/* The end of the mount (fuse_destroy, after the loop returned): open files
   are released, as the kernel releases them when their processes end,
   then the file system's destroy. */
void fc_hl_destroy(struct fc_inst *in)
{
	struct fuse *f = in->f;

	fc_ctx_enter(f, 0);
	while (in->files)
		release_file(in, in->files);
	fuse_fs_destroy(f->fs);
	f->fs = NULL;
	fc_ctx_leave();
	in->initialized = 0;
}

static void hl_after_fork_child(void *priv)
{
	struct fc_inst *in = priv;

	/* Another thread may have held them at the fork. */
	pthread_mutex_init(&in->serial, NULL);
	pthread_mutex_init(&in->files_lock, NULL);
}

const struct defuse_ops fc_hl_ops = {
	.destroy = fc_stop,
	.after_fork_child = hl_after_fork_child,
	.getattr = hl_getattr,
	.access = hl_access,
	.readlink = hl_readlink,
	.statfs = hl_statfs,
	.mknod = hl_mknod,
	.mkdir = hl_mkdir,
	.unlink = hl_unlink,
	.rmdir = hl_rmdir,
	.symlink = hl_symlink,
	.rename = hl_rename,
	.link = hl_link,
	.chmod = hl_chmod,
	.chown = hl_chown,
	.truncate = hl_truncate,
	.utimens = hl_utimens,
	.getxattr = hl_getxattr,
	.setxattr = hl_setxattr,
	.listxattr = hl_listxattr,
	.removexattr = hl_removexattr,
	.open = hl_open,
	.release = hl_release,
	.flush = hl_flush,
	.read = hl_read,
	.write = hl_write,
	.fgetattr = hl_fgetattr,
	.ftruncate = hl_ftruncate,
	.fchmod = hl_fchmod,
	.fchown = hl_fchown,
	.futimens = hl_futimens,
	.fsync = hl_fsync,
	.fallocate = hl_fallocate,
	.seek_data = hl_seek_data,
	.readdir = hl_readdir,
	.getlk = hl_getlk,
	.setlk = hl_setlk,
	.flock = hl_flock,
	.fh_path = hl_fh_path,
	.ioctl = hl_ioctl,
};
