/*
 * fuse_get_context and the caller's identity.  In process the caller is the
 * thread that runs the operation, so its identity is read from the kernel,
 * and only when the file system asks: fuse_get_context() fills in the
 * fields at the moment it is called.
 */
#include "fc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct fc_tls {
	struct fuse_context ctx;
	struct fuse *f;		/* the mount being called, or NULL */
	int creating;		/* in create, mknod or mkdir: umask is asked for */
	int as_kernel;		/* a change the kernel makes itself (fc_ctx_as_kernel) */
	int umask_known;	/* umask below read already in this call */
	mode_t umask;
};

static __thread struct fc_tls tls __attribute__((tls_model("initial-exec")));

void fc_ctx_enter(struct fuse *f, int creating)
{
	tls.f = f;
	tls.creating = creating;
	tls.umask_known = 0;
	tls.ctx.private_data = f && f->fs ? f->fs->user_data : NULL;
}

void fc_ctx_leave(void)
{
	tls.creating = 0;
}

/* The calling process's umask (only asked in creating calls, which is
   where FUSE hands it over): the host's copy (no system call: fuse2fs asks
   for its context in every call), else from /proc. */
mode_t fc_current_umask(void)
{
	char buf[2048];
	ssize_t n;
	char *p;
	int fd;

	if (defuse_umask)
		return defuse_umask();
	fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 022;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 022;
	buf[n] = 0;
	p = strstr(buf, "Umask:");
	return p ? (mode_t)strtoul(p + 6, NULL, 8) : 022;
}

void fc_ctx_as_kernel(int on)
{
	tls.as_kernel = on;
}

void fc_ctx_ids(uid_t *uid, gid_t *gid)
{
	if (tls.as_kernel) {
		*uid = 0;
		*gid = 0;
		return;
	}
	/* setfs[ug]id with an invalid ID changes nothing and returns the
	   current one: the IDs the kernel checks files with, as FUSE's. */
	*uid = (uid_t)syscall(SYS_setfsuid, -1);
	*gid = (gid_t)syscall(SYS_setfsgid, -1);
}

FC_EXPORT struct fuse_context *fuse_get_context(void)
{
	struct fuse_context *c = &tls.ctx;

	c->fuse = tls.f;
	fc_ctx_ids(&c->uid, &c->gid);
	c->pid = syscall(SYS_gettid);
	if (tls.creating && !tls.umask_known) {
		/* once per call: fuse2fs asks for its context seven times in a
		   create, and outside the host each answer reads /proc */
		tls.umask = fc_current_umask();
		tls.umask_known = 1;
	}
	c->umask = tls.creating ? tls.umask : 0;
	return c;
}

/* For fuse_fs_* (fs.c): which stacked file system's user_data callers see. */
FC_HIDDEN void fc_ctx_private(void *data)
{
	tls.ctx.private_data = data;
}

FC_HIDDEN void *fc_ctx_get_private(void)
{
	return tls.ctx.private_data;
}

FC_EXPORT int fuse_getgroups(int size, gid_t list[])
{
	int n = getgroups(size, list);

	return n < 0 ? -errno : n;
}

/* No request is ever interrupted: an operation runs in the caller's own
   thread, whose signals wait until it returns. */
FC_EXPORT int fuse_interrupted(void)
{
	return 0;
}

/*
 * Permission checks the kernel makes itself before a call reaches a FUSE
 * file system: a FIFO's open always; with default_permissions, open,
 * access and changes of attributes too (generic_permission,
 * setattr_prepare).  In process they are made here, from the file's
 * attributes, as the calling thread's IDs.
 */

/* The caller's user and group for which: FC_IDS_REAL (access(2)),
   FC_IDS_EFFECTIVE (AT_EACCESS) or FC_IDS_FS (every other call). */
static void caller(int which, uid_t *uid, gid_t *gid)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (which == FC_IDS_FS) {
		/* an invalid ID changes nothing and tells the current one */
		*uid = (uid_t)syscall(SYS_setfsuid, -1);
		*gid = (gid_t)syscall(SYS_setfsgid, -1);
		return;
	}
	getresuid(&ruid, &euid, &suid);
	getresgid(&rgid, &egid, &sgid);
	*uid = which == FC_IDS_REAL ? ruid : euid;
	*gid = which == FC_IDS_REAL ? rgid : egid;
}

static int in_group(gid_t mine, gid_t gid)
{
	gid_t groups[256];
	int n;

	if (gid == mine)
		return 1;
	n = getgroups(256, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* generic_permission's answer for the caller uid, gid. */
static int mode_allows(const struct stat *st, int mode, uid_t uid, gid_t gid)
{
	int bits;

	mode &= R_OK | W_OK | X_OK;
	if (!mode)
		return 0;
	if (uid == 0) {
		if (!(mode & X_OK) || S_ISDIR(st->st_mode) || (st->st_mode & 0111))
			return 0;
		return -EACCES;
	}
	if (st->st_uid == uid)
		bits = st->st_mode >> 6;
	else
		bits = in_group(gid, st->st_gid) ? st->st_mode >> 3 : st->st_mode;
	return (bits & mode & 7) == (mode & 7) ? 0 : -EACCES;
}

int fc_mode_permits(const struct stat *st, int mode, int which)
{
	uid_t uid;
	gid_t gid;

	if (!(mode & (R_OK | W_OK | X_OK)))
		return 0;	/* F_OK: no IDs to ask for */
	caller(which, &uid, &gid);
	return mode_allows(st, mode, uid, gid);
}

int fc_dp_open(const struct stat *st, int flags)
{
	static const int want[4] = { R_OK, W_OK, R_OK | W_OK, R_OK | W_OK };

	if (flags & O_PATH)
		return 0;
	if (flags & DEFUSE_O_EXEC)	/* to be run: do_open_execat's check */
		return fc_mode_permits(st, X_OK, FC_IDS_FS);
	return fc_mode_permits(st, want[flags & O_ACCMODE] | (flags & O_TRUNC ? W_OK : 0),
			       FC_IDS_FS);
}

int fc_dp_open_passes(void)
{
	uid_t uid;
	gid_t gid;

	caller(FC_IDS_FS, &uid, &gid);
	return uid == 0;
}

int fc_times_to_set(const struct timespec *t, struct stat *a)
{
	int set = 0;

	if (!t) {
		return FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		       FUSE_SET_ATTR_MTIME_NOW;
	}
	if (t[0].tv_nsec == UTIME_NOW)
		set |= FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW;
	else if (t[0].tv_nsec != UTIME_OMIT)
		set |= FUSE_SET_ATTR_ATIME, a->st_atim = t[0];
	if (t[1].tv_nsec == UTIME_NOW)
		set |= FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW;
	else if (t[1].tv_nsec != UTIME_OMIT)
		set |= FUSE_SET_ATTR_MTIME, a->st_mtim = t[1];
	return set;
}

mode_t fc_kill_setid(const struct stat *st, int why)
{
	mode_t m = st->st_mode & 07777;
	uid_t uid;
	gid_t gid;

	if (!(m & (S_ISUID | S_ISGID)) ||
	    (why == FC_KILL_CHOWN ? S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)))
		return m;
	caller(FC_IDS_FS, &uid, &gid);
	if (why == FC_KILL_WRITE && uid == 0)
		return m;	/* CAP_FSETID */
	m &= ~S_ISUID;
	if ((m & S_IXGRP) || (uid != 0 && !in_group(gid, st->st_gid)))
		m &= ~S_ISGID;
	return m;
}

void fc_privs_again(struct fc_inst *in, mode_t mode, int r)
{
	if (r != 0 || !(mode & (S_ISUID | S_ISGID)))
		return;
	pthread_mutex_lock(&in->files_lock);
	FC_EACH_FILE(in, h)
		__atomic_store_n(&h->privs_done, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&in->files_lock);
}

int fc_dp_setattr(const struct stat *st, int set, const struct stat *a)
{
	/* Both times "now" is a touch (utimensat with NULL times); any other
	   change of times counts as times of one's choosing, "now" beside
	   UTIME_OMIT too (vfs_utimes: ATTR_TIMES_SET). */
	int both_now = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_MTIME_NOW;
	int now = (set & both_now) == both_now;
	int chosen = !now && (set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME));
	uid_t uid;
	gid_t gid;
	int owner;

	caller(FC_IDS_FS, &uid, &gid);
	if (uid == 0)
		return 0;	/* CAP_CHOWN, CAP_FOWNER */
	owner = uid == st->st_uid;
	if ((set & FUSE_SET_ATTR_SIZE) && mode_allows(st, W_OK, uid, gid))
		return -EACCES;
	if ((set & FUSE_SET_ATTR_UID) && (!owner || a->st_uid != st->st_uid))
		return -EPERM;
	if ((set & FUSE_SET_ATTR_GID) &&
	    (!owner || (a->st_gid != st->st_gid && !in_group(gid, a->st_gid))))
		return -EPERM;
	if ((set & FUSE_SET_ATTR_MODE) && !owner)
		return -EPERM;
	/* times of one's choosing: the owner's; a touch: anyone who may write */
	if (chosen && !owner)
		return -EPERM;
	if (now && !owner && mode_allows(st, W_OK, uid, gid))
		return -EACCES;
	return 0;
}
