/*
 * Routing: may a call concern a mount?  Runs on every path or descriptor
 * call while mounts exist, so it only looks at strings and tables, makes no
 * system call and errs on the side of "yes" (vfs.c then decides for real).
 *
 * A path can reach a mount when:
 *   - it is absolute and starts with a mount point (whole components), or
 *     has "." / ".." / empty components (lexical resolution needed);
 *   - it is relative to a directory inside a mount (the cwd, a dirfd);
 *   - it is relative to a kernel directory and has a ".." component or a
 *     component named like a mount point's last component;
 *   - it is empty (AT_EMPTY_PATH) and its directory is in a mount;
 *   - it is chdir's (a kernel symbolic link may lead into a mount), or
 *     openat2's with a mount's dirfd (RESOLVE_IN_ROOT).
 * Kernel symbolic links that lead into a mount are not seen here: see
 * docs/core.md.
 *
 * Reads the path from the program's memory directly: a bad pointer faults
 * here instead of giving EFAULT (docs/core.md).
 */
#include <fcntl.h>
#include <sys/syscall.h>
#include "common/util.h"
#include "core/core.h"

struct core_fd **core_fds;
int core_nfds;

/* Which arguments are (dirfd, path) pairs, per system call. */
struct path_args {
	signed char dfd1, path1, dfd2, path2;
};

#define NR_ROUTE 467
static struct path_args args_of[NR_ROUTE];
static unsigned char kind_of[NR_ROUTE];

enum { R_NONE, R_PATH, R_FD, R_CWD, R_FDIO };

/* For R_FDIO: which argument is the descriptor. */
static signed char fd_arg[NR_ROUTE];

#define P1(nr, p)		do { kind_of[nr] = R_PATH; args_of[nr] = (struct path_args){ -1, p, -1, -1 }; } while (0)
#define PAT(nr, d, p)		do { kind_of[nr] = R_PATH; args_of[nr] = (struct path_args){ d, p, -1, -1 }; } while (0)
#define P2(nr, p, q)		do { kind_of[nr] = R_PATH; args_of[nr] = (struct path_args){ -1, p, -1, q }; } while (0)
#define PAT2(nr, d, p, e, q)	do { kind_of[nr] = R_PATH; args_of[nr] = (struct path_args){ d, p, e, q }; } while (0)

void core_route_init(void)
{
	P1(SYS_open, 0); PAT(SYS_openat, 0, 1); PAT(SYS_openat2, 0, 1); P1(SYS_creat, 0);
	P1(SYS_stat, 0); P1(SYS_lstat, 0); PAT(SYS_newfstatat, 0, 1); PAT(SYS_statx, 0, 1);
	P1(SYS_access, 0); PAT(SYS_faccessat, 0, 1); PAT(SYS_faccessat2, 0, 1);
	P1(SYS_mkdir, 0); PAT(SYS_mkdirat, 0, 1); P1(SYS_mknod, 0); PAT(SYS_mknodat, 0, 1);
	P1(SYS_rmdir, 0); P1(SYS_unlink, 0); PAT(SYS_unlinkat, 0, 1);
	P2(SYS_rename, 0, 1); PAT2(SYS_renameat, 0, 1, 2, 3); PAT2(SYS_renameat2, 0, 1, 2, 3);
	P2(SYS_link, 0, 1); PAT2(SYS_linkat, 0, 1, 2, 3);
	P1(SYS_symlink, 1); PAT(SYS_symlinkat, 1, 2);
	P1(SYS_readlink, 0); PAT(SYS_readlinkat, 0, 1);
	P1(SYS_chmod, 0); PAT(SYS_fchmodat, 0, 1); PAT(SYS_fchmodat2_, 0, 1);
	P1(SYS_chown, 0); P1(SYS_lchown, 0); PAT(SYS_fchownat, 0, 1);
	P1(SYS_truncate, 0); P1(SYS_utime, 0); P1(SYS_utimes, 0);
	PAT(SYS_futimesat, 0, 1); PAT(SYS_utimensat, 0, 1);
	P1(SYS_statfs, 0); P1(SYS_chdir, 0);
	P1(SYS_getxattr, 0); P1(SYS_lgetxattr, 0); P1(SYS_setxattr, 0); P1(SYS_lsetxattr, 0);
	P1(SYS_listxattr, 0); P1(SYS_llistxattr, 0); P1(SYS_removexattr, 0);
	P1(SYS_lremovexattr, 0);
	PAT(SYS_setxattrat_, 0, 1); PAT(SYS_getxattrat_, 0, 1);
	PAT(SYS_listxattrat_, 0, 1); PAT(SYS_removexattrat_, 0, 1);
	P1(SYS_execve, 0); PAT(SYS_execveat, 0, 1);

	/* Calls on a descriptor that an emulated file must answer. */
	static const short fdio[] = {
		SYS_read, SYS_write, SYS_pread64, SYS_pwrite64, SYS_readv, SYS_writev,
		SYS_preadv, SYS_pwritev, SYS_preadv2, SYS_pwritev2, SYS_lseek, SYS_fstat,
		SYS_getdents64, SYS_getdents, SYS_ftruncate, SYS_fsync, SYS_fdatasync,
		SYS_fallocate, SYS_fchmod, SYS_fchown, SYS_fstatfs, SYS_fadvise64,
		SYS_flock, SYS_ioctl, SYS_readahead, SYS_sync_file_range, SYS_syncfs,
		SYS_fgetxattr, SYS_fsetxattr, SYS_flistxattr, SYS_fremovexattr,
		SYS_sendfile, SYS_copy_file_range, SYS_splice, SYS_tee, SYS_mmap,
	};
	for (unsigned i = 0; i < sizeof(fdio) / sizeof(fdio[0]); i++) {
		kind_of[fdio[i]] = R_FDIO;
		fd_arg[fdio[i]] = 0;
	}
	fd_arg[SYS_mmap] = 4;

	kind_of[SYS_close] = R_FD;
	kind_of[SYS_dup] = R_FD;
	kind_of[SYS_dup2] = R_FD;
	kind_of[SYS_dup3] = R_FD;
	kind_of[SYS_fcntl] = R_FD;
	kind_of[SYS_close_range] = R_FD;
	kind_of[SYS_fchdir] = R_FD;
	kind_of[SYS_getcwd] = R_CWD;
}

int core_is_path_call(long nr)
{
	return (unsigned long)nr < NR_ROUTE && (kind_of[nr] == R_PATH || kind_of[nr] == R_CWD);
}

int core_routes(long nr)
{
	return (unsigned long)nr < NR_ROUTE && kind_of[nr] != R_NONE;
}

static int is_mount_fd(long fd)
{
	return core_fd_get(fd) != NULL;
}

static int is_emulated_fd(long fd)
{
	return core_fd_emulated(fd) != NULL;
}

/* Any "", "." or ".." component, or one named like a mount point? */
static int suspicious_components(const char *p, int names_too)
{
	while (*p) {
		const char *c = p;
		size_t n;

		while (*p && *p != '/')
			p++;
		n = p - c;
		if (*p)
			p++;
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 1;
		if (names_too)
			for (int i = 0; i < core_nmounts; i++)
				if (n == core_mounts[i].baselen &&
				    !memcmp(c, core_mounts[i].base, n))
					return 1;
	}
	return 0;
}

static int under_a_mount(const char *p)
{
	for (int i = 0; i < core_nmounts; i++) {
		const struct core_mount *m = &core_mounts[i];
		size_t k;

		for (k = 0; k < m->len && p[k] == m->point[k]; k++)
			;
		if (k == m->len && (p[k] == '/' || p[k] == 0))
			return 1;
	}
	return 0;
}

/*
 * "/proc/self/fd/N", "/proc/thread-self/fd/N" or "/dev/fd/N" naming a
 * descriptor: the number, and where the rest of the path starts; -1 if not.
 * For an emulated file these magic links lead to the placeholder, so the
 * core must answer them (tar's fchmodat goes through /proc/self/fd).
 */
long core_fd_link(const char *p, const char **rest)
{
	static const char *const prefixes[] = {
		"/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/",
	};

	for (unsigned i = 0; i < 3; i++) {
		const char *a = prefixes[i], *q = p;
		long n = 0;

		while (*a && *q == *a)
			a++, q++;
		if (*a || *q < '0' || *q > '9')
			continue;
		while (*q >= '0' && *q <= '9' && n < CORE_FD_MAX)
			n = n * 10 + (*q++ - '0');
		if (*q && *q != '/')
			return -1;
		*rest = q;
		return n;
	}
	return -1;
}

static int path_may_hit(long dfd, const char *p)
{
	if (!p || p[0] == 0)	/* AT_EMPTY_PATH: the directory itself */
		return ((int)dfd == AT_FDCWD && core_cwd_inside()) || is_mount_fd(dfd);
	if (p[0] == '/') {
		const char *rest;
		long fd = core_nfds ? core_fd_link(p, &rest) : -1;

		if (fd >= 0 && is_emulated_fd(fd))
			return 1;
		return under_a_mount(p) || suspicious_components(p + 1, 0);
	}
	if (dfd == AT_FDCWD || (int)dfd == AT_FDCWD) {
		if (core_cwd_inside())
			return 1;
	} else if (is_mount_fd(dfd)) {
		return 1;
	}
	return suspicious_components(p, 1);
}

int core_route(const struct defuse_syscall *sc)
{
	const struct path_args *a;

	switch (kind_of[sc->nr]) {
	case R_PATH:
		/* Leaving a mount's cwd must be seen, wherever the new one is,
		   and so must entering one through a kernel symbolic link
		   (chdir is rare). */
		if (sc->nr == SYS_chdir)
			return 1;
		a = &args_of[sc->nr];
		/* RESOLVE_IN_ROOT: even an absolute path starts at the dirfd. */
		if (sc->nr == SYS_openat2 && is_mount_fd(sc->a[0]))
			return 1;
		if (path_may_hit(a->dfd1 >= 0 ? sc->a[a->dfd1] : AT_FDCWD,
				 (const char *)sc->a[a->path1]))
			return 1;
		return a->path2 >= 0 &&
		       path_may_hit(a->dfd2 >= 0 ? sc->a[a->dfd2] : AT_FDCWD,
				    (const char *)sc->a[a->path2]);
	case R_FD:
		/* Upkeep of the descriptor table, only where a mount fd is involved. */
		switch (sc->nr) {
		case SYS_dup2:
		case SYS_dup3:
			return is_mount_fd(sc->a[0]) || is_mount_fd(sc->a[1]);
		case SYS_fcntl:
			/* An emulated file answers every command; a kernel-backed
			   one only needs the table kept for dups. */
			return is_emulated_fd(sc->a[0]) ||
			       ((sc->a[1] == F_DUPFD || sc->a[1] == F_DUPFD_CLOEXEC) &&
				is_mount_fd(sc->a[0]));
		case SYS_close_range:
			return core_nfds > 0;
		case SYS_fchdir:
			return core_cwd_inside() || is_mount_fd(sc->a[0]);
		default:	/* close, dup */
			return is_mount_fd(sc->a[0]);
		}
	case R_CWD:
		return core_cwd_inside();
	case R_FDIO:
		if (is_emulated_fd(sc->a[(int)fd_arg[sc->nr]]))
			return 1;
		/* The other end of a copy between descriptors. */
		if (sc->nr == SYS_sendfile || sc->nr == SYS_splice || sc->nr == SYS_tee)
			return is_emulated_fd(sc->a[sc->nr == SYS_sendfile ? 1 : 2]);
		if (sc->nr == SYS_copy_file_range)
			return is_emulated_fd(sc->a[2]);
		return 0;
	}
	return 0;
}
