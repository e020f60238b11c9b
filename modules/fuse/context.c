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
};

static __thread struct fc_tls tls __attribute__((tls_model("initial-exec")));

void fc_ctx_enter(struct fuse *f, int creating)
{
	tls.f = f;
	tls.creating = creating;
	tls.ctx.private_data = f && f->fs ? f->fs->user_data : NULL;
}

void fc_ctx_leave(void)
{
	tls.creating = 0;
}

/* The calling process's umask, from /proc (only asked in creating calls,
   which is where FUSE hands it over). */
mode_t fc_current_umask(void)
{
	char buf[2048];
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

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

FC_EXPORT struct fuse_context *fuse_get_context(void)
{
	struct fuse_context *c = &tls.ctx;

	c->fuse = tls.f;
	/* setfs[ug]id with an invalid ID changes nothing and returns the
	   current one: the IDs the kernel checks files with, as FUSE's. */
	c->uid = syscall(SYS_setfsuid, -1);
	c->gid = syscall(SYS_setfsgid, -1);
	c->pid = syscall(SYS_gettid);
	c->umask = tls.creating ? fc_current_umask() : 0;
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

/* The kernel's decision from the mode bits (generic_permission), for
   default_permissions and FIFOs. */
int fc_mode_permits(const struct stat *st, int mode, int eaccess)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid, groups[256];
	uid_t uid;
	gid_t gid;
	int n, bits;

	getresuid(&ruid, &euid, &suid);
	getresgid(&rgid, &egid, &sgid);
	uid = eaccess ? euid : ruid;
	gid = eaccess ? egid : rgid;
	mode &= R_OK | W_OK | X_OK;
	if (!mode)
		return 0;
	if (uid == 0) {
		if (!(mode & X_OK) || S_ISDIR(st->st_mode) || (st->st_mode & 0111))
			return 0;
		return -EACCES;
	}
	if (st->st_uid == uid) {
		bits = st->st_mode >> 6;
	} else {
		int member = st->st_gid == gid;

		n = getgroups(256, groups);
		for (int i = 0; i < n && !member; i++)
			member = groups[i] == st->st_gid;
		bits = member ? st->st_mode >> 3 : st->st_mode;
	}
	return (bits & mode & 7) == (mode & 7) ? 0 : -EACCES;
}
