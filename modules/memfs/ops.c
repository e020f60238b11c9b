/*
 * memfs's operations: the module API (include/defuse/module.h) over the
 * segment.  Each operation takes the segment's lock for its whole length,
 * so it is atomic for every thread of every process using the mount.
 * Checks come in the kernel's order: the walk (ENOENT, ENOTDIR, EACCES on
 * search), existence (EEXIST...), then permission, then the object's kind.
 *
 * Open files are per-process handles (a table private to the process, a
 * copy in a forked child) naming an inode whose open count lives in the
 * segment: an unlinked file is freed when the last handle of any process
 * is released.
 */
#include <defuse/module.h>

#include "memfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_HANDLES (1u << 20)
#define TMPFS_MAGIC_ 0x01021994

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif
#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x200000
#endif

/* What statx answers beyond struct stat, as the running kernel does for a
   tmpfs file: probed at init on the segment's own file (/dev/shm). */
struct statx_like {
	bool cm_always;		/* MTIME|CTIME even when not asked (before 6.13) */
	uint32_t mnt_bits;	/* STATX_MNT_ID, STATX_MNT_ID_UNIQUE it gave */
	uint64_t mnt_id, mnt_id_unique;	/* /dev/shm's mount */
	uint64_t attr_mask;	/* without STATX_ATTR_MOUNT_ROOT (the host's) */
};

struct handle {
	uint64_t ino;		/* 0: free */
	uint64_t opener;	/* its struct mopener (openers.c) */
	int flags;		/* open's flags */
	uint32_t next_free;	/* free list, by index + 1 */
};

struct mount {
	struct memfs m;
	struct handle *h;	/* MAX_HANDLES, reserved, touched as used */
	uint32_t free_head;	/* index + 1 of a free handle, 0: none */
	uint32_t high;		/* handles ever used */
	struct statx_like stx;	/* how the kernel answers statx on tmpfs */
	pid_t pid;		/* the process this instance serves, for its
				   openers: getpid() is a system call, one per
				   open otherwise.  Set at init and in a fork
				   child; a vfork child, which shares this
				   memory, records its parent (its openers then
				   live as long as the parent does) */
};

/* Every operation: the caller's identity, then the lock. */
#define ENTER                                              \
	struct mount *mt = priv;                           \
	struct memfs *m = &mt->m;                          \
	struct cred c;                                     \
	cred_get(&c);                                      \
	seg_lock(m)
#define LEAVE(r) do { seg_unlock(m); return (r); } while (0)

static struct handle *handle_of(struct mount *mt, uint64_t fh)
{
	if (fh == 0 || fh > mt->high || !mt->h[fh - 1].ino)
		return NULL;
	return &mt->h[fh - 1];
}

static uint64_t handle_new(struct mount *mt, uint64_t ino, int flags)
{
	uint32_t i;

	if (mt->free_head) {
		i = mt->free_head - 1;
		mt->free_head = mt->h[i].next_free;
	} else if (mt->high < MAX_HANDLES) {
		i = mt->high++;
	} else {
		return 0;
	}
	if (!(mt->h[i].opener = opener_add(&mt->m, ino, mt->pid))) {
		mt->h[i].next_free = mt->free_head;
		mt->free_head = i + 1;
		return 0;
	}
	mt->h[i].ino = ino;
	mt->h[i].flags = flags;
	return i + 1;
}

static void handle_free(struct mount *mt, uint64_t fh)
{
	struct handle *h = &mt->h[fh - 1];

	h->ino = 0;
	h->next_free = mt->free_head;
	mt->free_head = (uint32_t)fh;
}

static void stamp_mc(struct mnode *n)
{
	now(&n->mtime);
	n->ctime = n->mtime;
}

/* Set-group-ID goes with set-user-ID when the group may execute, or the
   caller is neither in the file's group nor root (the kernel's
   setattr_should_drop_sgid). */
static void kill_sgid(struct cred *c, struct mnode *n)
{
	if ((n->mode & S_IXGRP) || (c->uid != 0 && !cred_in_group(c, n->gid)))
		n->mode &= ~S_ISGID;
}

/* A write by anyone but root drops set-user-ID and set-group-ID, as the
   kernel's file_remove_privs. */
static void kill_privs(struct cred *c, struct mnode *n)
{
	if (c->uid == 0 || !S_ISREG(n->mode))
		return;
	n->mode &= ~S_ISUID;
	kill_sgid(c, n);
}

/* The sticky-directory rule: only the file's or the directory's owner
   (or root) removes or renames a name in it. */
static int sticky_ok(struct cred *c, struct mnode *dir, struct mnode *n)
{
	if (!(dir->mode & S_ISVTX) || c->uid == 0 || c->uid == n->uid || c->uid == dir->uid)
		return 0;
	return -EPERM;
}

/* ---- Life cycle ---------------------------------------------------- */

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

/*
 * The segment's file is on tmpfs (/dev/shm): statx of it tells what the
 * running kernel answers for tmpfs (mgtime file systems, since 6.13, drop
 * MTIME and CTIME from the result unless asked for one) and the mount ID
 * memfs reports, the one its storage is on.  Without statx: a kernel of
 * before 6.13's answers, no mount ID.
 */
static void statx_probe(struct statx_like *l, const char *path)
{
	struct statx x;

	l->cm_always = true;
	l->attr_mask = STATX_ATTR_APPEND | STATX_ATTR_IMMUTABLE | STATX_ATTR_NODUMP |
		       STATX_ATTR_AUTOMOUNT | STATX_ATTR_DAX;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &x) == 0) {
		l->cm_always = (x.stx_mask & STATX_MTIME) != 0;
		l->attr_mask = x.stx_attributes_mask & ~(uint64_t)STATX_ATTR_MOUNT_ROOT;
		if (x.stx_mask & STATX_MNT_ID) {
			l->mnt_bits |= STATX_MNT_ID;
			l->mnt_id = x.stx_mnt_id;
		}
	}
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID_UNIQUE, &x) == 0 &&
	    (x.stx_mask & STATX_MNT_ID_UNIQUE)) {
		l->mnt_bits |= STATX_MNT_ID_UNIQUE;
		l->mnt_id_unique = x.stx_mnt_id;
	}
}

/*
 * A new segment's size when the mount asks none: tmpfs's default, half the
 * machine's memory, and no more than /dev/shm holds (where the segment
 * lives; a container's may be 64 MiB).  Nothing is used until it is
 * written: the segment is sparse.
 */
static uint64_t default_size(void)
{
	uint64_t size = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) / 2;
	struct statvfs sv;

	if (statvfs("/dev/shm", &sv) == 0 && (uint64_t)sv.f_blocks * sv.f_frsize < size)
		size = (uint64_t)sv.f_blocks * sv.f_frsize;
	if (size < 64 * 1024 || size > (1ULL << 40))
		size = size < 64 * 1024 ? 64 * 1024 : 1ULL << 40;
	return size;
}

static int mfs_init(const char *args, struct defuse_conn *conn, void **priv, char *why,
		    size_t why_len)
{
	char buf[256], *name, *opt, *save = NULL;
	uint64_t size = default_size();
	struct mount *mt;
	int r;

	/* waits for locks itself, woken by every unlock (lock.c, lk_wait) */
	conn->want |= DEFUSE_CAP_LOCK_WAIT;
	/* The host's checks of the path too: its walk drops "." and ".." before
	   a path reaches the module, which can then not refuse them in a
	   directory the caller may not search, and it applies
	   fs.protected_hardlinks.  The module's own checks stay, for the
	   bridge and for what the host does not check. */
	conn->want |= DEFUSE_CAP_PERMISSIONS;
	if (strlen(args) >= sizeof buf) {
		snprintf(why, why_len, "memfs: arguments too long");
		return -EINVAL;
	}
	strcpy(buf, args);
	name = strtok_r(buf, ",", &save);
	if (!name || !*name || name[0] == '.' || strspn(name, "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(name) || strlen(name) > 200) {
		snprintf(why, why_len, "memfs: ARGS must start with a NAME of letters, digits, '.', "
			 "'_', '-' (memfs:NAME[,size=N])");
		return -EINVAL;
	}
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (strncmp(opt, "size=", 5) == 0 && parse_size(opt + 5, &size) == 0 &&
		    size >= 64 * 1024 && size <= (1ULL << 40))
			continue;
		snprintf(why, why_len, "memfs: bad option '%s' (size=N[KMG], 64K to 1T)", opt);
		return -EINVAL;
	}
	size = (size + MEMFS_PAGE - 1) & ~(uint64_t)(MEMFS_PAGE - 1);
	if (!(mt = calloc(1, sizeof *mt)))
		return -ENOMEM;
	mt->pid = getpid();
	mt->h = mmap(NULL, MAX_HANDLES * sizeof *mt->h, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mt->h == MAP_FAILED) {
		free(mt);
		return -ENOMEM;
	}
	if ((r = seg_open(&mt->m, name, size, why, why_len)) < 0) {
		munmap(mt->h, MAX_HANDLES * sizeof *mt->h);
		free(mt);
		return r;
	}
	statx_probe(&mt->stx, mt->m.shm_path);
	*priv = mt;
	return 0;
}

/* Handles are not released first (module.h): their open counts stay in
   the segment, like a killed process's (docs/memfs.md). */
static void mfs_destroy(void *priv)
{
	struct mount *mt = priv;

	seg_close(&mt->m);
	munmap(mt->h, MAX_HANDLES * sizeof *mt->h);
	free(mt);
}

/* The child has a copy of every handle and will release each itself. */
static void mfs_after_fork_child(void *priv)
{
	struct mount *mt = priv;
	struct memfs *m = &mt->m;

	mt->pid = getpid();
	seg_lock(m);
	for (uint32_t i = 0; i < mt->high; i++)
		if (mt->h[i].ino &&
		    !(mt->h[i].opener = opener_add(m, mt->h[i].ino, mt->pid)))
			N(m, mt->h[i].ino)->opens++;	/* no room: counted only */
	seg_unlock(m);
}

/* ---- Metadata by path ---------------------------------------------- */

static int mfs_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0)
		node_stat(m, ino, st);
	LEAVE(r);
}

/*
 * statx as tmpfs answers it: the basic set (without MTIME and CTIME when
 * neither is asked for, on a kernel that does so), the birth time when
 * asked for, the mount ID (the unique one when asked for and known), no
 * attributes set of those tmpfs supports (memfs keeps no chattr flags).
 * The host adds STATX_ATTR_MOUNT_ROOT.
 */
static int mfs_statx(void *priv, const char *path, int flags, unsigned int mask,
		     struct statx *x)
{
	const struct statx_like *l;
	struct mts btime = { 0, 0 };
	struct stat st;
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0) {
		node_stat(m, ino, &st);
		btime = N(m, ino)->btime;
	}
	seg_unlock(m);
	if (r < 0)
		return r;
	l = &mt->stx;
	memset(x, 0, sizeof *x);
	x->stx_mask = STATX_BASIC_STATS;
	x->stx_blksize = (uint32_t)st.st_blksize;
	x->stx_attributes_mask = l->attr_mask;
	x->stx_nlink = (uint32_t)st.st_nlink;
	x->stx_uid = st.st_uid;
	x->stx_gid = st.st_gid;
	x->stx_mode = (uint16_t)st.st_mode;
	x->stx_ino = st.st_ino;
	x->stx_size = (uint64_t)st.st_size;
	x->stx_blocks = (uint64_t)st.st_blocks;
	x->stx_atime.tv_sec = st.st_atim.tv_sec;
	x->stx_atime.tv_nsec = (uint32_t)st.st_atim.tv_nsec;
	if (l->cm_always || (mask & (STATX_MTIME | STATX_CTIME))) {
		x->stx_mtime.tv_sec = st.st_mtim.tv_sec;
		x->stx_mtime.tv_nsec = (uint32_t)st.st_mtim.tv_nsec;
		x->stx_ctime.tv_sec = st.st_ctim.tv_sec;
		x->stx_ctime.tv_nsec = (uint32_t)st.st_ctim.tv_nsec;
	} else {
		x->stx_mask &= ~(STATX_MTIME | STATX_CTIME);
	}
	if (mask & STATX_BTIME) {
		x->stx_mask |= STATX_BTIME;
		x->stx_btime.tv_sec = btime.sec;
		x->stx_btime.tv_nsec = (uint32_t)btime.nsec;
	}
	x->stx_rdev_major = major(st.st_rdev);
	x->stx_rdev_minor = minor(st.st_rdev);
	x->stx_dev_major = major(st.st_dev);
	x->stx_dev_minor = minor(st.st_dev);
	if ((mask & STATX_MNT_ID_UNIQUE) && (l->mnt_bits & STATX_MNT_ID_UNIQUE)) {
		x->stx_mask |= STATX_MNT_ID_UNIQUE;
		x->stx_mnt_id = l->mnt_id_unique;
	} else if (l->mnt_bits & STATX_MNT_ID) {
		x->stx_mask |= STATX_MNT_ID;
		x->stx_mnt_id = l->mnt_id;
	}
	return 0;
}

static int mfs_access(void *priv, const char *path, int mode, int flags)
{
	uint64_t ino;
	int r;
	ENTER;

	/* access(2) checks with the real IDs unless AT_EACCESS. */
	if (!(flags & AT_EACCESS)) {
		c.uid = getuid();
		c.gid = getgid();
	}
	if ((r = walk(m, &c, path, !(flags & AT_SYMLINK_NOFOLLOW), &ino)) == 0 && mode != F_OK)
		r = may(m, &c, N(m, ino), mode);
	LEAVE(r);
}

static ssize_t mfs_readlink(void *priv, const char *path, char *buf, size_t size)
{
	uint64_t ino;
	ssize_t r;
	ENTER;

	if ((r = walk(m, &c, path, false, &ino)) == 0) {
		struct mnode *n = N(m, ino);

		if (!S_ISLNK(n->mode)) {
			r = -EINVAL;
		} else {
			r = (ssize_t)(n->size < size ? n->size : size);
			memcpy(buf, P(m, n->data), (size_t)r);
			touch_atime(m, n);
		}
	}
	LEAVE(r);
}

static int mfs_statfs(void *priv, const char *path, struct statfs *st)
{
	uint64_t ino;
	int r;
	ENTER;

	/* Space the dead still hold is free (openers.c). */
	if (m->h->orphans)
		orphans_reap(m);
	if ((r = walk(m, &c, path, true, &ino)) == 0) {
		uint64_t total = m->size / MEMFS_PAGE, used = m->h->used / MEMFS_PAGE;

		memset(st, 0, sizeof *st);
		st->f_type = TMPFS_MAGIC_;
		st->f_bsize = MEMFS_PAGE;
		st->f_frsize = MEMFS_PAGE;
		st->f_blocks = total;
		st->f_bfree = st->f_bavail = used < total ? total - used : 0;
		/* An inode takes 256 bytes: as many as the free space holds. */
		st->f_files = m->h->inodes + st->f_bfree * (MEMFS_PAGE / 256);
		st->f_ffree = st->f_bfree * (MEMFS_PAGE / 256);
		st->f_namelen = MEMFS_NAME_MAX;
		st->f_flags = 0x1020;	/* ST_VALID | ST_RELATIME, as tmpfs */
	}
	LEAVE(r);
}

/* ---- Names ---------------------------------------------------------- */

/* Makes a new name for a new inode: mknod, mkdir, symlink. */
static int create(struct memfs *m, struct cred *c, const char *path, mode_t mode,
		  dev_t rdev, const char *target)
{
	uint64_t dir, ino, old, tgt = 0;
	const char *name;
	size_t len;
	int r;

	if ((r = walk_parent(m, c, path, &dir, &name, &len)) < 0)
		return r;
	if (len == 0 || dir_find(m, N(m, dir), name, len, &old) == 0)
		return -EEXIST;
	if ((r = may(m, c, N(m, dir), W_OK | X_OK)) < 0)
		return r;
	if (target) {
		size_t tl = strlen(target);

		if (tl == 0)
			return -ENOENT;	/* the kernel's answer, after the name's */
		if (tl >= PATH_MAX)
			return -ENAMETOOLONG;
		if (!(tgt = mem_alloc(m, tl + 1)))
			return -ENOSPC;
		memcpy(P(m, tgt), target, tl + 1);
	}
	if (!(ino = node_new(m, c, N(m, dir), mode))) {
		mem_free(m, tgt, target ? strlen(target) + 1 : 0);
		return -ENOSPC;
	}
	N(m, ino)->rdev = rdev;
	if (target) {
		N(m, ino)->data = tgt;
		N(m, ino)->size = strlen(target);
	}
	if ((r = dir_add(m, dir, name, len, ino)) < 0) {
		N(m, ino)->nlink = 0;
		node_put(m, ino);
		return r;
	}
	stamp_mc(N(m, dir));
	return 0;
}

static int mfs_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	int r;
	ENTER;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	/* may_mknod, before the name is looked up */
	if (S_ISDIR(mode))
		LEAVE(-EPERM);
	if (!S_ISREG(mode) && !S_ISCHR(mode) && !S_ISBLK(mode) && !S_ISFIFO(mode) &&
	    !S_ISSOCK(mode))
		LEAVE(-EINVAL);
	if (((S_ISCHR(mode) || S_ISBLK(mode)) && c.uid != 0))
		r = -EPERM;
	else
		r = create(m, &c, path, mode, S_ISCHR(mode) || S_ISBLK(mode) ? dev : 0, NULL);
	if (r == -EPERM && create(m, &c, path, 0, 0, NULL) == -EEXIST)
		r = -EEXIST;	/* the kernel looks the name up before CAP_MKNOD */
	LEAVE(r);
}

static int mfs_mkdir(void *priv, const char *path, mode_t mode)
{
	int r;
	ENTER;

	/* vfs_mkdir keeps the permission and sticky bits only: set-group-ID
	   comes from the parent (node_new), set-user-ID never. */
	r = create(m, &c, path, S_IFDIR | (mode & (S_IRWXU | S_IRWXG | S_IRWXO | S_ISVTX)), 0, NULL);
	LEAVE(r);
}

static int mfs_symlink(void *priv, const char *target, const char *path)
{
	int r;
	ENTER;

	r = create(m, &c, path, S_IFLNK | 0777, 0, target);
	LEAVE(r);
}

/* unlink and rmdir. */
static int remove_name(struct memfs *m, struct cred *c, const char *path, bool isdir)
{
	uint64_t dir, ino;
	struct mnode *d, *n;
	const char *name;
	size_t len;
	int r;

	if ((r = walk_parent(m, c, path, &dir, &name, &len)) < 0)
		return r;
	if (len == 0)
		return isdir ? -EBUSY : -EISDIR;
	d = N(m, dir);
	if ((r = dir_find(m, d, name, len, &ino)) < 0)
		return r;
	n = N(m, ino);
	if ((r = may(m, c, d, W_OK | X_OK)) < 0 || (r = sticky_ok(c, d, n)) < 0)
		return r;
	if (isdir && !S_ISDIR(n->mode))
		return -ENOTDIR;
	if (!isdir && S_ISDIR(n->mode))
		return -EISDIR;
	if (isdir && !dir_empty(m, n))
		return -ENOTEMPTY;
	dir_del(m, d, name, len);
	stamp_mc(d);
	now(&n->ctime);
	n->nlink = isdir ? 0 : n->nlink - 1;
	node_put(m, ino);
	return 0;
}

static int mfs_unlink(void *priv, const char *path)
{
	int r;
	ENTER;

	r = remove_name(m, &c, path, false);
	LEAVE(r);
}

static int mfs_rmdir(void *priv, const char *path)
{
	int r;
	ENTER;

	r = remove_name(m, &c, path, true);
	LEAVE(r);
}

/* Is dir inside (or) the directory anc? */
static bool inside(struct memfs *m, uint64_t dir, uint64_t anc)
{
	for (;;) {
		if (dir == anc)
			return true;
		if (dir == m->h->root)
			return false;
		dir = N(m, dir)->parent;
	}
}

static int do_rename(struct memfs *m, struct cred *c, const char *from, const char *to,
		     unsigned int flags)
{
	uint64_t od, nd, oi, ni = 0, wo = 0;
	const char *on, *nn;
	size_t ol, nl;
	struct mnode *o, *x = NULL;
	struct mts t;
	int r;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) ||
	    (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) && flags & RENAME_EXCHANGE))
		return -EINVAL;
	/* A whiteout is a device node: CAP_MKNOD first, as the kernel. */
	if ((flags & RENAME_WHITEOUT) && c->uid != 0)
		return -EPERM;
	if ((r = walk_parent(m, c, from, &od, &on, &ol)) < 0 ||
	    (r = walk_parent(m, c, to, &nd, &nn, &nl)) < 0)
		return r;
	if (ol == 0 || nl == 0)
		return flags & RENAME_NOREPLACE && nl == 0 ? -EEXIST : -EBUSY;
	if ((r = dir_find(m, N(m, od), on, ol, &oi)) < 0)
		return r;
	o = N(m, oi);
	if (dir_find(m, N(m, nd), nn, nl, &ni) == 0)
		x = N(m, ni);
	else if (flags & RENAME_EXCHANGE)
		return -ENOENT;
	if (x && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	/* Renaming a directory into itself or below it. */
	if (S_ISDIR(o->mode) && inside(m, nd, oi))
		return -EINVAL;
	if (x && (flags & RENAME_EXCHANGE) && S_ISDIR(x->mode) && inside(m, od, ni))
		return -EINVAL;
	if (x && !(flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(o->mode) && !S_ISDIR(x->mode))
			return -ENOTDIR;
		if (!S_ISDIR(o->mode) && S_ISDIR(x->mode))
			return -EISDIR;
	}
	if (oi == ni)
		return 0;	/* two names of one file: nothing to do */
	if ((r = may(m, c, N(m, od), W_OK | X_OK)) < 0 || (r = sticky_ok(c, N(m, od), o)) < 0)
		return r;
	if (nd != od && (r = may(m, c, N(m, nd), W_OK | X_OK)) < 0)
		return r;
	if (x && (r = sticky_ok(c, N(m, nd), x)) < 0)
		return r;
	/* A directory that changes parent rewrites its "..". */
	if (nd != od && S_ISDIR(o->mode) && (r = may(m, c, o, W_OK)) < 0)
		return r;
	if (nd != od && x && (flags & RENAME_EXCHANGE) && S_ISDIR(x->mode) &&
	    (r = may(m, c, x, W_OK)) < 0)
		return r;
	if (x && !(flags & RENAME_EXCHANGE) && S_ISDIR(x->mode) && !dir_empty(m, x))
		return -ENOTEMPTY;
	/* RENAME_WHITEOUT leaves at the old name what tmpfs leaves: a
	   character device 0:0 of mode 0, owned by the caller. */
	if ((flags & RENAME_WHITEOUT) && !(wo = node_new(m, c, N(m, od), S_IFCHR)))
		return -ENOSPC;
	now(&t);
	if (flags & RENAME_EXCHANGE) {
		dir_set(m, N(m, od), on, ol, ni);
		dir_set(m, N(m, nd), nn, nl, oi);
		x->ctime = t;
	} else if (x) {
		dir_set(m, N(m, nd), nn, nl, oi);
		if (wo)
			dir_set(m, N(m, od), on, ol, wo);
		else
			dir_del(m, N(m, od), on, ol);
		x->ctime = t;
		x->nlink = S_ISDIR(x->mode) ? 0 : x->nlink - 1;
		node_put(m, ni);
	} else {
		if ((r = dir_add(m, nd, nn, nl, oi)) < 0) {
			if (wo) {
				N(m, wo)->nlink = 0;
				node_put(m, wo);
			}
			return r;
		}
		/* dir_add counted the directory in nd: drop od's count
		   (dir_set does too). */
		if (wo)
			dir_set(m, N(m, od), on, ol, wo);
		else
			dir_del(m, N(m, od), on, ol);
	}
	o->ctime = t;
	N(m, od)->mtime = N(m, od)->ctime = t;
	N(m, nd)->mtime = N(m, nd)->ctime = t;
	return 0;
}

static int mfs_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	int r;
	ENTER;

	r = do_rename(m, &c, from, to, flags);
	LEAVE(r);
}

/* A new name to for inode ino (link, flink). */
static int link_to(struct memfs *m, struct cred *c, uint64_t ino, const char *to)
{
	struct mnode *n = N(m, ino);
	uint64_t dir, old;
	const char *name;
	size_t len;
	int r;

	if ((r = walk_parent(m, c, to, &dir, &name, &len)) < 0)
		return r;
	if (len == 0 || dir_find(m, N(m, dir), name, len, &old) == 0)
		return -EEXIST;
	if ((r = may(m, c, N(m, dir), W_OK | X_OK)) < 0)
		return r;
	if (S_ISDIR(n->mode))
		return -EPERM;
	if (n->nlink == 0 && !(n->flags & MN_LINKABLE))
		return -ENOENT;
	if ((r = dir_add(m, dir, name, len, ino)) < 0)
		return r;
	n->nlink++;
	n->flags &= ~MN_LINKABLE;
	now(&n->ctime);
	N(m, dir)->mtime = N(m, dir)->ctime = n->ctime;
	return 0;
}

static int mfs_link(void *priv, const char *from, const char *to)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, from, false, &ino)) == 0)
		r = link_to(m, &c, ino, to);
	LEAVE(r);
}

/* ---- Attributes ------------------------------------------------------ */

static int set_mode(struct memfs *m, struct cred *c, uint64_t ino, mode_t mode)
{
	struct mnode *n = N(m, ino);

	if (!is_owner(c, n))
		return -EPERM;
	mode &= 07777;
	if (c->uid != 0 && (mode & S_ISGID) && !cred_in_group(c, n->gid))
		mode &= ~S_ISGID;
	n->mode = (n->mode & S_IFMT) | mode;
	now(&n->ctime);
	return 0;
}

static int set_owner(struct memfs *m, struct cred *c, uint64_t ino, uid_t uid, gid_t gid)
{
	struct mnode *n = N(m, ino);

	if (uid != (uid_t)-1 && uid != n->uid && c->uid != 0)
		return -EPERM;
	if (uid != (uid_t)-1 && c->uid != 0 && c->uid != n->uid)
		return -EPERM;
	if (gid != (gid_t)-1 && c->uid != 0 &&
	    (c->uid != n->uid || (gid != n->gid && !cred_in_group(c, gid))))
		return -EPERM;
	/* As the kernel's chown_common: ATTR_KILL_SUID|ATTR_KILL_SGID for
	   every non-directory, even chown(-1, -1), even by root. */
	if (!S_ISDIR(n->mode)) {
		n->mode &= ~S_ISUID;
		kill_sgid(c, n);
	}
	if (uid != (uid_t)-1)
		n->uid = uid;
	if (gid != (gid_t)-1)
		n->gid = gid;
	now(&n->ctime);
	return 0;
}

static int set_size(struct memfs *m, struct cred *c, uint64_t ino, off_t size, bool check)
{
	struct mnode *n = N(m, ino);
	int r;

	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (check && (r = may(m, c, n, W_OK)) < 0)
		return r;
	if ((r = data_truncate(m, n, (uint64_t)size)) < 0)
		return r;
	kill_privs(c, n);
	stamp_mc(n);
	return 0;
}

static int set_times(struct memfs *m, struct cred *c, uint64_t ino, const struct timespec tv[2])
{
	struct mnode *n = N(m, ino);
	struct mts t;
	bool all_now = !tv || (tv[0].tv_nsec == UTIME_NOW && tv[1].tv_nsec == UTIME_NOW);
	int r;

	if (tv && tv[0].tv_nsec == UTIME_OMIT && tv[1].tv_nsec == UTIME_OMIT)
		return 0;
	for (int i = 0; tv && i < 2; i++)
		if (tv[i].tv_nsec != UTIME_NOW && tv[i].tv_nsec != UTIME_OMIT &&
		    (tv[i].tv_nsec < 0 || tv[i].tv_nsec >= 1000000000))
			return -EINVAL;
	if (!is_owner(c, n)) {
		if (!all_now)
			return -EPERM;
		if ((r = may(m, c, n, W_OK)) < 0)
			return r;
	}
	now(&t);
	for (int i = 0; i < 2; i++) {
		struct mts v = t;

		if (tv && tv[i].tv_nsec == UTIME_OMIT)
			continue;
		if (tv && tv[i].tv_nsec != UTIME_NOW) {
			v.sec = tv[i].tv_sec;
			v.nsec = tv[i].tv_nsec;
		}
		if (i == 0)
			n->atime = v;
		else
			n->mtime = v;
	}
	n->ctime = t;
	return 0;
}

static int mfs_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0)
		r = S_ISLNK(N(m, ino)->mode) ? -EOPNOTSUPP : set_mode(m, &c, ino, mode);
	LEAVE(r);
}

static int mfs_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0)
		r = set_owner(m, &c, ino, uid, gid);
	LEAVE(r);
}

static int mfs_truncate(void *priv, const char *path, off_t size)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, true, &ino)) == 0)
		r = set_size(m, &c, ino, size, true);
	LEAVE(r);
}

static int mfs_utimens(void *priv, const char *path, const struct timespec times[2], int flags)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0)
		r = set_times(m, &c, ino, times);
	LEAVE(r);
}

/* ---- Extended attributes --------------------------------------------- */

/* The kernel's xattr_permission for the namespaces memfs keeps: user.*
   (regular files and directories), trusted.* (root), security.*. */
static int xa_may_ns(struct memfs *m, struct cred *c, struct mnode *n, const char *name,
		     bool write);

/* The namespace's rules, then an empty name in it ("user.") is EINVAL, as
   the kernel's xattr_resolve_name. */
static int xa_may(struct memfs *m, struct cred *c, struct mnode *n, const char *name,
		  bool write)
{
	int r = xa_may_ns(m, c, n, name, write);

	if (r == 0 && name[strcspn(name, ".") + 1] == 0)
		return -EINVAL;
	return r;
}

static int xa_may_ns(struct memfs *m, struct cred *c, struct mnode *n, const char *name,
		     bool write)
{
	if (strncmp(name, "trusted.", 8) == 0) {
		if (c->uid != 0)
			return write ? -EPERM : -ENODATA;
		return 0;
	}
	if (strncmp(name, "security.", 9) == 0)
		return write && !is_owner(c, n) ? -EPERM : 0;
	if (strncmp(name, "user.", 5) != 0)
		return -EOPNOTSUPP;
	if (!S_ISREG(n->mode) && !S_ISDIR(n->mode))
		return write ? -EPERM : -ENODATA;
	if (write && S_ISDIR(n->mode) && (n->mode & S_ISVTX) && !is_owner(c, n))
		return -EPERM;
	return may(m, c, n, write ? W_OK : R_OK);
}

static ssize_t mfs_getxattr(void *priv, const char *path, const char *name, void *value,
			    size_t size, int flags)
{
	uint64_t ino;
	ssize_t r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0 &&
	    (r = xa_may(m, &c, N(m, ino), name, false)) == 0)
		r = xa_get(m, N(m, ino), name, value, size);
	LEAVE(r);
}

static int mfs_setxattr(void *priv, const char *path, const char *name, const void *value,
			size_t size, int xflags, int flags)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0 &&
	    (r = xa_may(m, &c, N(m, ino), name, true)) == 0 &&
	    (r = xa_set(m, N(m, ino), name, value, size, xflags)) == 0)
		now(&N(m, ino)->ctime);
	LEAVE(r);
}

static ssize_t mfs_listxattr(void *priv, const char *path, char *list, size_t size, int flags)
{
	uint64_t ino;
	ssize_t r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0)
		r = xa_list(m, N(m, ino), list, size);
	LEAVE(r);
}

static int mfs_removexattr(void *priv, const char *path, const char *name, int flags)
{
	uint64_t ino;
	int r;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), &ino)) == 0 &&
	    (r = xa_may(m, &c, N(m, ino), name, true)) == 0 &&
	    (r = xa_remove(m, N(m, ino), name)) == 0)
		now(&N(m, ino)->ctime);
	LEAVE(r);
}

/* ---- Open files -------------------------------------------------------- */

static int open_tmpfile(struct memfs *m, struct cred *c, const char *path, int flags,
			mode_t mode, uint64_t *out)
{
	uint64_t dir, ino;
	int r;

	if ((r = walk(m, c, path, true, &dir)) < 0)
		return r;
	if (!S_ISDIR(N(m, dir)->mode))
		return -ENOTDIR;
	if ((r = may(m, c, N(m, dir), W_OK | X_OK)) < 0)
		return r;
	if (!(ino = node_new(m, c, N(m, dir), S_IFREG | (mode & 07777))))
		return -ENOSPC;
	N(m, ino)->nlink = 0;
	if (!(flags & O_EXCL))
		N(m, ino)->flags |= MN_LINKABLE;
	*out = ino;
	return 0;
}

/* The checks and effects of opening ino, which exists, with flags (not
   O_PATH): do_open's and open_handle's. */
static int open_existing(struct memfs *m, struct cred *c, uint64_t ino, int flags)
{
	struct mnode *n = N(m, ino);
	int acc = flags & O_ACCMODE, want = 0, r;

	/* the kernel's order (do_open: ENOTDIR, then may_open's ELOOP) */
	if ((flags & O_DIRECTORY) && !S_ISDIR(n->mode))
		return -ENOTDIR;
	if (S_ISLNK(n->mode))
		return -ELOOP;	/* O_NOFOLLOW */
	if (acc == O_RDONLY || acc == O_RDWR)
		want |= R_OK;
	if (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC))
		want |= W_OK;
	if (flags & DEFUSE_O_EXEC) {
		/* to be run (do_open_execat): a regular file, executable */
		if (!S_ISREG(n->mode))
			return -EACCES;
		want = X_OK;
	}
	if (S_ISDIR(n->mode) && (want & W_OK))
		return -EISDIR;
	if ((flags & O_CREAT) && S_ISDIR(n->mode))
		return -EISDIR;
	if ((r = may(m, c, n, want)) < 0)
		return r;
	if (S_ISFIFO(n->mode) || S_ISSOCK(n->mode) || S_ISCHR(n->mode) || S_ISBLK(n->mode))
		return -ENXIO;	/* no kernel object behind them here */
	if ((flags & O_TRUNC) && S_ISREG(n->mode)) {
		data_truncate(m, n, 0);
		kill_privs(c, n);
		stamp_mc(n);
	}
	return 0;
}

static int do_open(struct mount *mt, struct cred *c, const char *path, int flags, mode_t mode,
		   struct defuse_open *out)
{
	struct memfs *m = &mt->m;
	int acc = flags & O_ACCMODE, r;
	bool created = false;
	uint64_t ino;

	if ((flags & O_TMPFILE) == O_TMPFILE) {
		if (acc == O_RDONLY)
			return -EINVAL;
		if ((r = open_tmpfile(m, c, path, flags, mode, &ino)) < 0)
			return r;
		created = true;
	} else if ((flags & O_CREAT) && (flags & O_DIRECTORY)) {
		return -EINVAL;	/* build_open_flags, Linux 6.4 on */
	} else if (flags & O_PATH) {
		if ((r = walk(m, c, path, !(flags & O_NOFOLLOW), &ino)) < 0)
			return r;
		if ((flags & O_DIRECTORY) && !S_ISDIR(N(m, ino)->mode))
			return -ENOTDIR;
		goto done;
	} else if (flags & O_CREAT) {
		uint64_t dir;
		const char *name;
		size_t len;

		if ((r = walk_parent(m, c, path, &dir, &name, &len)) < 0)
			return r;
		if (len == 0)	/* the root: it exists (do_open's order) */
			return flags & O_EXCL ? -EEXIST : -EISDIR;
		if (dir_find(m, N(m, dir), name, len, &ino) == 0) {
			if (flags & O_EXCL)
				return -EEXIST;
			if ((r = walk(m, c, path, !(flags & O_NOFOLLOW), &ino)) < 0)
				return r;
		} else {
			if ((r = may(m, c, N(m, dir), W_OK | X_OK)) < 0)
				return r;
			if (!(ino = node_new(m, c, N(m, dir), S_IFREG | (mode & 07777))))
				return -ENOSPC;
			if ((r = dir_add(m, dir, name, len, ino)) < 0) {
				N(m, ino)->nlink = 0;
				node_put(m, ino);
				return r;
			}
			stamp_mc(N(m, dir));
			created = true;
		}
	} else if ((r = walk(m, c, path, !(flags & O_NOFOLLOW), &ino)) < 0) {
		return r;
	}
	if (!created && (r = open_existing(m, c, ino, flags)) < 0)
		return r;
done:
	if (!(out->fh = handle_new(mt, ino, flags))) {
		if (created && N(m, ino)->nlink == 0)
			node_put(m, ino);
		return -ENFILE;
	}
	out->kernel_fd = -1;
	return 0;
}

static int mfs_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out)
{
	int r;
	ENTER;

	r = do_open(mt, &c, path, flags, mode, out);
	LEAVE(r);
}

/*
 * A file's handle: its inode (an offset in the segment, the same in every
 * process) and its birth time, which an inode reused at that offset would
 * not share.  open_handle is only asked while some open file description
 * holds the file (module.h), so the inode is alive then; its open count
 * says so before anything else of it is believed.
 */
struct mfs_handle {
	uint64_t ino;
	struct mts btime;
};

static ssize_t mfs_file_handle(void *priv, uint64_t fh, void *buf, size_t size)
{
	struct mfs_handle hd;
	struct handle *h;
	ssize_t r = -EBADF;
	ENTER;

	(void)c;
	if ((h = handle_of(mt, fh)) && size >= sizeof(hd)) {
		hd.ino = h->ino;
		hd.btime = N(m, h->ino)->btime;
		memcpy(buf, &hd, sizeof(hd));
		r = sizeof(hd);
	}
	LEAVE(r);
}

static int mfs_open_handle(void *priv, const void *handle, size_t len, int kfd, int flags,
			   struct defuse_open *out)
{
	struct mfs_handle hd;
	struct mnode *n;
	int r = -ESTALE;
	ENTER;

	(void)kfd;
	if (len != sizeof(hd))
		LEAVE(-ESTALE);
	memcpy(&hd, handle, sizeof(hd));
	if (hd.ino < sizeof(struct seg_hdr) || hd.ino % 8 || hd.ino > m->size - sizeof(*n))
		LEAVE(-ESTALE);
	n = N(m, hd.ino);
	if (n->opens == 0 || n->btime.sec != hd.btime.sec || n->btime.nsec != hd.btime.nsec)
		LEAVE(-ESTALE);
	if (flags & O_PATH)
		r = (flags & O_DIRECTORY) && !S_ISDIR(n->mode) ? -ENOTDIR : 0;
	else
		r = open_existing(m, &c, hd.ino, flags & ~O_NOFOLLOW);
	if (r == 0 && !(out->fh = handle_new(mt, hd.ino, flags)))
		r = -ENFILE;
	out->kernel_fd = -1;
	LEAVE(r);
}

static void mfs_release(void *priv, uint64_t fh)
{
	struct handle *h;
	ENTER;

	if ((h = handle_of(mt, fh))) {
		uint64_t ino = h->ino;

		if (h->opener)
			opener_drop(m, h->opener);
		else
			N(m, ino)->opens--;
		handle_free(mt, fh);
		node_put(m, ino);
	}
	seg_unlock(m);
}

/* The handle's inode, or -EBADF from the enclosing operation. */
#define HANDLE(var, fh)                          \
	struct handle *var = handle_of(mt, fh);  \
	if (!var)                                \
		LEAVE(-EBADF)

static ssize_t mfs_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	ssize_t r;
	ENTER;
	HANDLE(h, fh);
	struct mnode *n = N(m, h->ino);

	if (S_ISDIR(n->mode))
		LEAVE(-EISDIR);
	r = data_read(m, n, buf, size, (uint64_t)off);
	if (r >= 0 && !(h->flags & O_NOATIME))
		touch_atime(m, n);
	LEAVE(r);
}

static ssize_t write_at(struct memfs *m, struct cred *c, struct mnode *n, const void *buf,
			size_t size, uint64_t off)
{
	ssize_t r;

	if (S_ISDIR(n->mode))
		return -EISDIR;
	r = data_write(m, n, buf, size, off);
	if (r > 0) {
		kill_privs(c, n);
		stamp_mc(n);
	}
	return r;
}

static ssize_t mfs_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	ssize_t r;
	ENTER;
	HANDLE(h, fh);

	r = write_at(m, &c, N(m, h->ino), buf, size, (uint64_t)off);
	LEAVE(r);
}

static ssize_t mfs_append(void *priv, uint64_t fh, const void *buf, size_t size, off_t *end)
{
	ssize_t r;
	ENTER;
	HANDLE(h, fh);
	struct mnode *n = N(m, h->ino);
	uint64_t off = n->size;

	r = write_at(m, &c, n, buf, size, off);
	*end = (off_t)(off + (r > 0 ? (uint64_t)r : 0));
	LEAVE(r);
}

static int mfs_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	ENTER;
	HANDLE(h, fh);

	node_stat(m, h->ino, st);
	LEAVE(0);
}

static int mfs_ftruncate(void *priv, uint64_t fh, off_t size)
{
	int r;
	ENTER;
	HANDLE(h, fh);

	/* The descriptor was opened for writing: no permission check. */
	r = set_size(m, &c, h->ino, size, false);
	LEAVE(r);
}

static int mfs_fchmod(void *priv, uint64_t fh, mode_t mode)
{
	int r;
	ENTER;
	HANDLE(h, fh);

	r = S_ISLNK(N(m, h->ino)->mode) ? -EOPNOTSUPP : set_mode(m, &c, h->ino, mode);
	LEAVE(r);
}

static int mfs_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid)
{
	int r;
	ENTER;
	HANDLE(h, fh);

	r = set_owner(m, &c, h->ino, uid, gid);
	LEAVE(r);
}

static int mfs_futimens(void *priv, uint64_t fh, const struct timespec times[2])
{
	int r;
	ENTER;
	HANDLE(h, fh);

	r = set_times(m, &c, h->ino, times);
	LEAVE(r);
}

static int mfs_flink(void *priv, uint64_t fh, const char *newpath)
{
	int r;
	ENTER;
	HANDLE(h, fh);

	r = link_to(m, &c, h->ino, newpath);
	LEAVE(r);
}

static int mfs_fsync(void *priv, uint64_t fh, int datasync)
{
	(void)priv, (void)fh, (void)datasync;
	return 0;	/* memory is as durable as memfs gets */
}

static int mfs_fallocate(void *priv, uint64_t fh, int mode, off_t off, off_t len)
{
	int r = 0;
	ENTER;
	HANDLE(h, fh);
	struct mnode *n = N(m, h->ino);
	uint64_t o = (uint64_t)off, l = (uint64_t)len;

	if (off < 0 || len <= 0)
		LEAVE(-EINVAL);	/* vfs_fallocate's first check */
	if (S_ISDIR(n->mode))
		LEAVE(-EISDIR);
	if (!S_ISREG(n->mode))
		LEAVE(-ENODEV);
	if (o + l > (uint64_t)INT64_MAX)
		LEAVE(-EFBIG);	/* past s_maxbytes (MAX_LFS_FILESIZE) */
	/* tmpfs's modes: allocate (keeping the size or not), punch a hole. */
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		data_punch(m, n, o, l);
	} else if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) {
		if ((r = data_allocate(m, n, o, l)) == 0 && mode == 0 && o + l > n->size)
			n->size = o + l;
	} else {
		LEAVE(-EOPNOTSUPP);
	}
	if (r == 0)
		stamp_mc(n);
	LEAVE(r);
}

static off_t mfs_seek_data(void *priv, uint64_t fh, off_t off, int whence)
{
	off_t r;
	ENTER;
	HANDLE(h, fh);

	r = (off_t)data_seek(m, N(m, h->ino), (uint64_t)off, whence);
	LEAVE(r);
}

/*
 * Where an open file is now: up its parents to the root, each name found
 * in its parent's entries (a directory has one name).  A file's parent is
 * the directory of its latest link (dir.c); if that name is gone while the
 * file still has others, where they are is not known here (-EIO: the host
 * keeps the path it opened).
 */
static int mfs_fh_path(void *priv, uint64_t fh, char *buf, size_t size)
{
	char tmp[4096];
	size_t at = sizeof tmp - 1;
	ENTER;
	HANDLE(h, fh);
	uint64_t ino = h->ino;

	(void)c;
	tmp[at] = 0;
	while (ino != m->h->root) {
		struct mnode *n = N(m, ino), *p;
		struct mdent *e;
		uint64_t i;

		if (n->nlink == 0)
			LEAVE(-ENOENT);
		if (!n->parent)
			LEAVE(-EIO);	/* a file linked by an older memfs */
		p = N(m, n->parent);
		e = dir_entries(m, p);
		for (i = 0; i < p->used && e[i].ino != ino; i++)
			;
		if (i == p->used)
			LEAVE(S_ISDIR(n->mode) ? -ENOENT : -EIO);
		if (at < (size_t)e[i].len + 1)
			LEAVE(-ENAMETOOLONG);
		at -= e[i].len;
		memcpy(tmp + at, P(m, e[i].name), e[i].len);
		tmp[--at] = '/';
		ino = n->parent;
	}
	if (!tmp[at])
		tmp[--at] = '/';
	if (sizeof tmp - at > size)
		LEAVE(-ENAMETOOLONG);
	memcpy(buf, tmp + at, sizeof tmp - at);
	LEAVE(0);
}

/* Past every cookie (module.h: positions are int64_t, cookies grow by one). */
#define LISTED (1ULL << 62)

static int mfs_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	ENTER;
	HANDLE(h, fh);
	struct mnode *d = N(m, h->ino);
	struct mdent *e;
	uint64_t lo = 0, hi, bound;

	if (!S_ISDIR(d->mode))
		LEAVE(-ENOTDIR);
	if (d->nlink == 0)
		LEAVE(-ENOENT);	/* removed: the kernel lists nothing either */
	touch_atime(m, d);
	if (pos <= 0 && fill(ctx, ".", h->ino, DT_DIR, 1))
		LEAVE(0);
	if (pos <= 1 && fill(ctx, "..", d->parent, DT_DIR, 2))
		LEAVE(0);
	/*
	 * Newest first, as tmpfs lists, so that listings read as they do on
	 * tmpfs: entry k (its cookie) is at position LISTED - k, after "."
	 * and "..", and resuming at position p lists the entries of cookie
	 * LISTED - p and below, which an entry added meanwhile (a larger
	 * cookie) never joins.  Entries are sorted by cookie: find the first
	 * above that bound, and go down from there.
	 */
	bound = pos <= 2 ? UINT64_MAX : LISTED - (uint64_t)pos;
	e = dir_entries(m, d);
	hi = d->used;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (e[mid].cookie <= bound)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint64_t i = lo; i-- > 0;)
		if (dir_entry_live(&e[i]) &&
		    fill(ctx, P(m, e[i].name), e[i].ino, e[i].type,
			 (int64_t)(LISTED - e[i].cookie + 1)))
			break;
	LEAVE(0);
}

/* ---- Locks ------------------------------------------------------------- */

static int mfs_getlk(void *priv, uint64_t fh, uint64_t owner, struct flock *lock)
{
	int r;
	ENTER;
	HANDLE(h, fh);

	r = lk_get(m, N(m, h->ino), owner, lock);
	LEAVE(r);
}

/*
 * F_SETLKW and flock without LOCK_NB: a try, and while a lock is in the
 * way a sleep until locks change (lock.c, lk_wait), which the caller's
 * signals may end (module.h, DEFUSE_CAP_LOCK_WAIT), or EDEADLK for a
 * record lock whose wait would close a cycle, as the kernel's.  fl: the
 * record lock asked for, else NULL and op: flock's.
 */
static int lock_waiting(void *priv, uint64_t fh, uint64_t owner, const struct flock *fl,
			int op, int wait)
{
	struct mwait *entry = NULL;	/* among the waiters (lk_wait_prepare) */
	bool thorough = true;	/* look for ended holders in /proc too */

	for (;;) {
		uint32_t seen = 0;
		int r;
		ENTER;

		(void)c;
		lk_wait_done(&entry);	/* the last round's */
		HANDLE(h, fh);
		r = fl ? lk_set(m, N(m, h->ino), owner, fl) : lk_flock(m, N(m, h->ino), owner, op);
		if (r != -EAGAIN || !wait ||
		    (r = lk_wait_prepare(m, N(m, h->ino), owner, fl, thorough, &seen,
					 &entry)) < 0)
			LEAVE(r);
		seg_unlock(m);
		if (r == 1)
			continue;	/* nothing in the way any more */
		if ((r = lk_wait(m, seen)) < 0) {
			seg_lock(m);
			lk_wait_done(&entry);
			LEAVE(r);
		}
		thorough = r == 1;	/* a timeout: nothing woke it */
	}
}

static int mfs_setlk(void *priv, uint64_t fh, uint64_t owner, const struct flock *lock, int wait)
{
	return lock_waiting(priv, fh, owner, lock, 0, wait);
}

static int mfs_flock(void *priv, uint64_t fh, uint64_t owner, int op)
{
	return lock_waiting(priv, fh, owner, NULL, op, !(op & LOCK_NB));
}

static const struct defuse_ops memfs_ops = {
	.init = mfs_init,
	.destroy = mfs_destroy,
	.after_fork_child = mfs_after_fork_child,
	.getattr = mfs_getattr,
	.statx = mfs_statx,
	.access = mfs_access,
	.readlink = mfs_readlink,
	.statfs = mfs_statfs,
	.mknod = mfs_mknod,
	.mkdir = mfs_mkdir,
	.unlink = mfs_unlink,
	.rmdir = mfs_rmdir,
	.symlink = mfs_symlink,
	.rename = mfs_rename,
	.link = mfs_link,
	.chmod = mfs_chmod,
	.chown = mfs_chown,
	.truncate = mfs_truncate,
	.utimens = mfs_utimens,
	.getxattr = mfs_getxattr,
	.setxattr = mfs_setxattr,
	.listxattr = mfs_listxattr,
	.removexattr = mfs_removexattr,
	.open = mfs_open,
	.release = mfs_release,
	.read = mfs_read,
	.write = mfs_write,
	.append = mfs_append,
	.fgetattr = mfs_fgetattr,
	.ftruncate = mfs_ftruncate,
	.fchmod = mfs_fchmod,
	.fchown = mfs_fchown,
	.futimens = mfs_futimens,
	.flink = mfs_flink,
	.fsync = mfs_fsync,
	.fallocate = mfs_fallocate,
	.seek_data = mfs_seek_data,
	.readdir = mfs_readdir,
	.getlk = mfs_getlk,
	.setlk = mfs_setlk,
	.flock = mfs_flock,
	.file_handle = mfs_file_handle,
	.open_handle = mfs_open_handle,
	.fh_path = mfs_fh_path,
};

EXPORT const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "memfs",
	.description = "a file system in shared memory, one per NAME, coherent between "
		       "processes (ARGS: NAME[,size=N])",
	.flags = 0,
	.ops = &memfs_ops,
};
