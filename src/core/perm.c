/*
 * Permission checks of directories for a module that wants
 * DEFUSE_CAP_PERMISSIONS (module.h): what the kernel's VFS checks before a
 * call reaches a FUSE file system mounted with default_permissions
 * (may_lookup, may_create, may_delete, vfs_rename's, may_linkat), made here
 * from the attributes the module's getattr gives, in the kernel's order.
 * The file's own checks (open, access, changes of attributes) are the
 * module's: a FUSE file system's are made by the fuse module.
 *
 * The caller is the thread's file-system user and group (access(2): its
 * real ones), cached per thread by creds.c, and its supplementary groups,
 * asked of the kernel only when the group's and the others' bits differ in
 * what is asked (mod_permits, as acl_permission_check).  User 0 passes
 * everything here, as the kernel's CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
 * and CAP_FOWNER let it, so root pays nothing; a read-only mount makes and
 * removes no name (EROFS, module/call.c), so only its lookups are checked.
 *
 * The walk (resolve.c) checks search permission as it goes and leaves the
 * attributes of the last name's directory in the result (dir_attrs); the
 * checks of a call that makes or removes the name use them, or ask.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/perm.h"
#include "core/syscalls.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

static void caller(bool real, uid_t *uid, gid_t *gid)
{
	if (real && !defuse_fs_ids_are_real()) {
		*uid = (uid_t)sys0(SYS_getuid);
		*gid = (gid_t)sys0(SYS_getgid);
		return;
	}
	defuse_fs_ids(uid, gid);
}

bool core_perm_on(int m, bool real)
{
	const struct core_mount *cm = &core_mounts[m];
	uid_t uid;
	gid_t gid;

	if (!(cm->ref.want & DEFUSE_CAP_PERMISSIONS) || cm->resolves || cm->dead)
		return false;
	caller(real, &uid, &gid);
	return uid != 0;
}

/* Does the mount check calls that make or remove names? */
static bool names_checked(int m)
{
	return !CORE_REF(m)->readonly && core_perm_on(m, false);
}

/* generic_permission for the caller: mask of R_OK, W_OK, X_OK. */
static int permits(const struct stat *st, int mask, bool real)
{
	struct mod_caller who;
	uid_t uid;
	gid_t gid;

	caller(real, &uid, &gid);
	return mod_permits(st, mask, uid, gid, core_caller(0, &who));
}

/* The sticky directory's rule (check_sticky): only the file's owner or
   the directory's may remove or replace a name in it. */
static int sticky_ok(const struct stat *dir, const struct stat *victim)
{
	uid_t uid;
	gid_t gid;

	if (!(dir->st_mode & S_ISVTX))
		return 0;
	caller(false, &uid, &gid);
	return victim->st_uid == uid || dir->st_uid == uid ? 0 : -EPERM;
}

static int getattr(int m, const char *path, struct stat *st, int flags)
{
	return mod_getattr(CORE_REF(m), path, st, flags);
}

/* The directory part of a mount-relative path. */
static void parent_of(const char *path, char out[CORE_PATH_ROOM])
{
	const char *s = strrchr(path, '/');
	size_t n = s && s != path ? (size_t)(s - path) : 1;

	memcpy(out, path, n);
	out[n] = 0;
}

/* The attributes of the directory of l's last name. */
static int dir_of(const struct core_loc *l, struct stat *dir)
{
	char parent[CORE_PATH_ROOM];

	if (l->dir_attrs) {
		*dir = l->dir_st;
		return 0;
	}
	parent_of(l->path, parent);
	return getattr(l->mount, parent, dir, 0);
}

int core_perm_search(const struct core_loc *l, bool real, struct stat *dir)
{
	int r;

	if (l->attrs)
		*dir = l->st;
	else if ((r = getattr(l->mount, l->path, dir, 0)) < 0)
		return r;
	return permits(dir, X_OK, real);
}

/* may_create: write and search permission on the name's directory. */
static int may_create(const struct core_loc *l)
{
	struct stat dir;
	int r = dir_of(l, &dir);

	return r < 0 ? r : permits(&dir, W_OK | X_OK, false);
}

int core_perm_make(const struct core_loc *l)
{
	struct stat st;
	int r;

	if (!names_checked(l->mount) || (r = may_create(l)) == 0)
		return 0;
	/* The name is looked up first: one that exists is EEXIST. */
	return getattr(l->mount, l->path, &st, DEFUSE_NOFOLLOW) == 0 ? -EEXIST : r;
}

int core_perm_open(const struct core_loc *l, int flags)
{
	struct stat st;

	if (!names_checked(l->mount))
		return 0;
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		/* vfs_tmpfile: l is the directory itself */
		if (l->attrs)
			st = l->st;
		else if (getattr(l->mount, l->path, &st, 0) < 0)
			return 0;	/* the module's answer */
		return permits(&st, W_OK | X_OK, false);
	}
	/* O_CREAT checks the directory only for a name that is missing. */
	if (!(flags & O_CREAT) || l->attrs ||
	    getattr(l->mount, l->path, &st, DEFUSE_NOFOLLOW) != -ENOENT)
		return 0;
	return may_create(l);
}

/* may_delete of the name l, whose attributes are victim. */
static int may_delete(const struct core_loc *l, const struct stat *victim)
{
	struct stat dir;
	int r;

	if ((r = dir_of(l, &dir)) < 0 || (r = permits(&dir, W_OK | X_OK, false)) < 0)
		return r;
	return sticky_ok(&dir, victim);
}

int core_perm_remove(const struct core_loc *l)
{
	struct stat victim;
	int r;

	if (!names_checked(l->mount))
		return 0;
	/* The name is looked up first: one that is missing is ENOENT. */
	if ((r = getattr(l->mount, l->path, &victim, DEFUSE_NOFOLLOW)) < 0)
		return r;
	return may_delete(l, &victim);
}

/* Is path below dir (a descendant, not dir itself)? */
static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || (n == 1 && path[1]));
}

int core_perm_rename(const struct core_loc *a, const struct core_loc *b, unsigned flags)
{
	char pa[CORE_PATH_ROOM], pb[CORE_PATH_ROOM];
	struct stat old, new;
	bool have_new;
	int r;

	if (!names_checked(a->mount))
		return 0;
	/* What do_renameat2 finds before vfs_rename checks permissions:
	   the module gives those answers itself. */
	if ((r = getattr(a->mount, a->path, &old, DEFUSE_NOFOLLOW)) < 0)
		return r;
	r = getattr(b->mount, b->path, &new, DEFUSE_NOFOLLOW);
	if (r < 0 && r != -ENOENT)
		return r;
	have_new = r == 0;
	if (((flags & RENAME_NOREPLACE) && have_new) || ((flags & RENAME_EXCHANGE) && !have_new) ||
	    below(b->path, a->path) || below(a->path, b->path))
		return 0;
	if (have_new && old.st_ino == new.st_ino && old.st_dev == new.st_dev)
		return 0;	/* the same file: nothing is done */
	if ((r = may_delete(a, &old)) < 0)
		return r;
	if ((r = have_new ? may_delete(b, &new) : may_create(b)) < 0)
		return r;
	/* A directory moved to another directory gets a new "..". */
	parent_of(a->path, pa);
	parent_of(b->path, pb);
	if (strcmp(pa, pb)) {
		if (S_ISDIR(old.st_mode) && (r = permits(&old, W_OK, false)) < 0)
			return r;
		if ((flags & RENAME_EXCHANGE) && S_ISDIR(new.st_mode))
			return permits(&new, W_OK, false);
	}
	return 0;
}

int core_perm_node(int m, const struct stat *st, int mask)
{
	return core_perm_on(m, false) ? permits(st, mask, false) : 0;
}

/* fs.protected_hardlinks, read once per image. */
static int protected_hardlinks(void)
{
	static int value = -1;
	char c = '0';
	long fd;

	if (value >= 0)
		return value;
	fd = sys4(SYS_openat, AT_FDCWD, "/proc/sys/fs/protected_hardlinks", O_RDONLY | O_CLOEXEC,
		  0);
	if (fd >= 0) {
		if (sys3(SYS_read, fd, &c, 1) != 1)
			c = '0';
		sys1(SYS_close, fd);
	}
	value = c == '1';
	return value;
}

/* safe_hardlink_source: a file anyone may link who may read and write it. */
static bool safe_source(const struct stat *st)
{
	if (!S_ISREG(st->st_mode) || (st->st_mode & S_ISUID) ||
	    (st->st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		return false;
	return permits(st, R_OK | W_OK, false) == 0;
}

int core_perm_link(const struct core_loc *a, const struct core_loc *b)
{
	struct stat src, st;
	uid_t uid;
	gid_t gid;
	int r;

	if (!names_checked(b->mount))
		return 0;
	if (a && (r = getattr(a->mount, a->path, &src, DEFUSE_NOFOLLOW)) < 0)
		return r;
	if (getattr(b->mount, b->path, &st, DEFUSE_NOFOLLOW) == 0)
		return -EEXIST;
	caller(false, &uid, &gid);
	if (a && protected_hardlinks() && src.st_uid != uid && !safe_source(&src))
		return -EPERM;	/* may_linkat */
	return may_create(b);
}
