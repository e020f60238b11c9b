/*
 * Inodes: creation, freeing (when the last name and the last open handle of
 * every process are gone), stat, the caller's identity and the kernel's
 * permission rules (the host checks no permission: the module is the file
 * system, as the kernel's generic_permission is for tmpfs).
 */
#include "memfs.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>
#include <defuse/module.h>

void now(struct mts *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = ts.tv_sec;
	t->nsec = ts.tv_nsec;
}

/* The file-system IDs, which the kernel checks (not the effective ones,
   though they are the same unless the program called setfsuid). */
void cred_get(struct cred *c)
{
	/* In process the host knows them without a system call. */
	if (defuse_fs_ids) {
		defuse_fs_ids(&c->uid, &c->gid);
	} else {
		c->uid = (uid_t)setfsuid((uid_t)-1);
		c->gid = (gid_t)setfsgid((gid_t)-1);
	}
	c->ngroups = -1;
}

bool cred_in_group(struct cred *c, gid_t gid)
{
	if (gid == c->gid)
		return true;
	if (c->ngroups < 0) {
		c->ngroups = getgroups(64, c->groups);
		if (c->ngroups < 0)
			c->ngroups = 0;
	}
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

bool is_owner(struct cred *c, struct mnode *n)
{
	return c->uid == 0 || c->uid == n->uid;
}

/* generic_permission: mask of R_OK, W_OK, X_OK; root (CAP_DAC_OVERRIDE)
   passes but needs some x bit to execute a non-directory. */
int may(struct memfs *m, struct cred *c, struct mnode *n, int mask)
{
	unsigned bits;

	(void)m;
	if (c->uid == 0) {
		if ((mask & X_OK) && !S_ISDIR(n->mode) && !(n->mode & 0111))
			return -EACCES;
		return 0;
	}
	if (c->uid == n->uid)
		bits = (n->mode >> 6) & 7;
	else if (cred_in_group(c, n->gid))
		bits = (n->mode >> 3) & 7;
	else
		bits = n->mode & 7;
	return (mask & ~(int)bits & 7) ? -EACCES : 0;
}

unsigned char dt_of(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return DT_REG;
	case S_IFDIR: return DT_DIR;
	case S_IFLNK: return DT_LNK;
	case S_IFIFO: return DT_FIFO;
	case S_IFSOCK: return DT_SOCK;
	case S_IFCHR: return DT_CHR;
	case S_IFBLK: return DT_BLK;
	}
	return DT_UNKNOWN;
}

/* A new inode owned by the caller; group and set-group-ID bit from dir as
   the kernel's inode_init_owner does.  nlink 1 (a directory: 2). */
uint64_t node_new(struct memfs *m, struct cred *c, struct mnode *dir, mode_t mode)
{
	uint64_t ino = mem_alloc(m, sizeof(struct mnode));
	struct mnode *n;

	if (!ino)
		return 0;
	n = N(m, ino);
	n->mode = mode;
	n->uid = c->uid;
	n->gid = c->gid;
	if (dir && (dir->mode & S_ISGID)) {
		n->gid = dir->gid;
		if (S_ISDIR(mode))
			n->mode |= S_ISGID;
		else if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
			 !cred_in_group(c, n->gid) && c->uid != 0)
			n->mode &= ~S_ISGID;
	}
	n->nlink = S_ISDIR(mode) ? 2 : 1;
	n->next_cookie = 2;	/* 0 and 1 are "." and ".." */
	now(&n->mtime);
	n->atime = n->ctime = n->btime = n->mtime;
	m->h->inodes++;
	return ino;
}

void node_put(struct memfs *m, uint64_t ino)
{
	struct mnode *n = N(m, ino);

	orphan_check(m, ino);
	if (n->nlink > 0 || n->opens > 0)
		return;
	orphan_forget(m, ino);
	if (S_ISREG(n->mode))
		data_truncate(m, n, 0);
	else if (S_ISDIR(n->mode))
		dir_free(m, n);
	else if (S_ISLNK(n->mode))
		mem_free(m, n->data, n->size + 1);
	xa_free_all(m, n);
	lk_free_all(m, n);
	/* A handle kept somewhere must never match what takes this place
	   (ops.c, mfs_open_handle). */
	n->btime = (struct mts){ 0, 0 };
	mem_free(m, ino, sizeof *n);
	m->h->inodes--;
}

void node_stat(struct memfs *m, uint64_t ino, struct stat *st)
{
	struct mnode *n = N(m, ino);

	memset(st, 0, sizeof *st);
	st->st_dev = 0;
	st->st_ino = ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	/* A directory's size counts its entries, as tmpfs's does (20 bytes
	   each, "." and ".." included). */
	st->st_size = S_ISDIR(n->mode) ? (off_t)(n->size + 2) * 20 : (off_t)n->size;
	st->st_blksize = MEMFS_PAGE;
	st->st_blocks = (blkcnt_t)(n->pages * (MEMFS_PAGE / 512));
	/* tmpfs keeps a target of 128 bytes or more (with its NUL: more than
	   SHORT_SYMLINK_LEN) in a page of its own. */
	if (S_ISLNK(n->mode) && n->size + 1 > 128)
		st->st_blocks = MEMFS_PAGE / 512;
	st->st_atim.tv_sec = n->atime.sec;
	st->st_atim.tv_nsec = n->atime.nsec;
	st->st_mtim.tv_sec = n->mtime.sec;
	st->st_mtim.tv_nsec = n->mtime.nsec;
	st->st_ctim.tv_sec = n->ctime.sec;
	st->st_ctim.tv_nsec = n->ctime.nsec;
}

static int ts_le(const struct mts *a, const struct mts *b)
{
	return a->sec < b->sec || (a->sec == b->sec && a->nsec <= b->nsec);
}

/* relatime, the kernel's default: atime moves when it is not newer than
   mtime or ctime, or is a day old. */
void touch_atime(struct memfs *m, struct mnode *n)
{
	struct mts t;

	(void)m;
	now(&t);
	if (ts_le(&n->atime, &n->mtime) || ts_le(&n->atime, &n->ctime) ||
	    t.sec - n->atime.sec >= 24 * 3600)
		n->atime = t;
}
