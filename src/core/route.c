/*
 * Routing: may a call concern a mount?  Runs on every path or descriptor
 * call while mounts exist, so it only looks at strings and tables, makes no
 * system call and errs on the side of "yes" (the handlers syscalls.c names
 * then decide for real).  What each call's arguments are: syscalls.c.
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
 * Kernel symbolic links that lead into a mount are not seen here, only
 * in the kernel's answer (core_kernel_suspect: docs/core.md).
 *
 * Reads the path from the program's memory directly, once it has been
 * probed (kernel/probe.S): a bad pointer goes to the core, which answers
 * EFAULT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include "common/util.h"
#include "kernel/sys.h"
#include "core/core.h"
#include "core/syscalls.h"

struct core_fd **core_fds;
int core_nfds;

static int is_mount_fd(long fd)
{
	return core_fd_get(fd) != NULL;
}

static int is_emulated_fd(long fd)
{
	return core_fd_emulated(fd) != NULL;
}

/* The calls on a FIFO's stand-in descriptor that are its node's, not its
   pipe's (pathops.c, core_h_standin). */
static int standin_attr_call(const struct defuse_syscall *sc, const struct core_sysdesc *d)
{
	struct core_fd *f;

	switch (sc->nr) {
	case SYS_fstat: case SYS_fchmod: case SYS_fchown: case SYS_fstatfs:
	case SYS_fgetxattr: case SYS_fsetxattr: case SYS_flistxattr: case SYS_fremovexattr:
		f = core_fd_get(sc->a[d->fd]);
		return f && f->standin;
	}
	return 0;
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
 * "/proc/self/fd/N", "/proc/thread-self/fd/N", "/dev/fd/N" or
 * "/proc/PID/fd/N" with this process's PID naming a descriptor, or
 * "/dev/stdin", "/dev/stdout", "/dev/stderr" (links to /proc/self/fd/0, 1
 * and 2): the number, and where the rest of the path starts; -1 if not.
 * For an emulated file these magic links lead to the placeholder, so the
 * core must answer them (tar's fchmodat goes through /proc/self/fd; `echo
 * x > /dev/stderr` with stderr in a mount truncated DEFUSE's record, and
 * the shell died of SIGBUS).
 */
long core_fd_link(const char *p, const char **rest)
{
	static const char *const prefixes[] = {
		"/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/", "/proc/",
	};
	static const char *const std[] = { "in", "out", "err" };

	if (p[1] == 'd' && !strncmp(p, "/dev/std", 8)) {
		for (long n = 0; n < 3; n++) {
			size_t len = strlen(std[n]);

			if (!strncmp(p + 8, std[n], len) && (p[8 + len] == 0 || p[8 + len] == '/')) {
				*rest = p + 8 + len;
				return n;
			}
		}
		return -1;
	}

	for (unsigned i = 0; i < 4; i++) {
		const char *a = prefixes[i], *q = p;
		long n = 0;

		while (*a && *q == *a)
			a++, q++;
		if (i == 3 && !*a) {
			/* "/proc/PID/fd/N" with this process's own PID, and
			   "/proc/PID/task/TID/fd/N" ("self" for PID too) with
			   one of its threads. */
			const char *digits = q;
			long pid = 0, tid = 0;

			if (!strncmp(q, "self/task/", 10)) {
				pid = defuse_self.pid;
				q += 4;
			} else {
				while (*q >= '0' && *q <= '9' && pid < 1L << 32)
					pid = pid * 10 + (*q++ - '0');
				if (q == digits || pid != defuse_self.pid)
					return -1;
			}
			if (!strncmp(q, "/task/", 6)) {
				digits = q += 6;
				while (*q >= '0' && *q <= '9' && tid < 1L << 32)
					tid = tid * 10 + (*q++ - '0');
				/* Natively no such directory for another
				   process's thread: the kernel's ENOENT. */
				if (q == digits || strncmp(q, "/fd/", 4) ||
				    sys_failed(sys3(SYS_tgkill, pid, tid, 0)))
					return -1;
			}
			if (strncmp(q, "/fd/", 4))
				return -1;
			q += 4;
		}
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
	/* A bad pointer: the core answers EFAULT, as the kernel would. */
	if (p && defuse_probe_strnlen(p, PATH_MAX) < 0)
		return 1;
	if (!p || p[0] == 0)	/* AT_EMPTY_PATH: the directory itself */
		return ((int)dfd == AT_FDCWD && core_cwd_inside()) || is_mount_fd(dfd);
	if (p[0] == '/') {
		const char *rest;
		long fd = core_fd_link(p, &rest);

		/* An emulated file, or a placeholder not adopted yet: the
		   kernel would open DEFUSE's record. */
		if (fd >= 0 && (is_emulated_fd(fd) || (!core_fd_get(fd) && core_is_placeholder(fd))))
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

/*
 * A Unix socket address that may name a file in a mount: read with the
 * probe (a bad pointer goes to the core, which says EFAULT).  Abstract
 * addresses and other families never do.
 */
static int unix_addr_may_hit(const void *addr, long len)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	unsigned short family;
	long n = len - (long)offsetof(struct sockaddr_un, sun_path);

	if (!addr || n <= 0)
		return 0;
	if (n > (long)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	if (defuse_probe_read(&family, addr, sizeof(family)) < 0 ||
	    defuse_probe_read(buf, (const char *)addr + offsetof(struct sockaddr_un, sun_path),
			      n) < 0)
		return 1;
	if (family != AF_UNIX || !buf[0])
		return 0;
	buf[n] = 0;
	return path_may_hit(AT_FDCWD, buf);
}

static int socket_may_hit(const struct core_sysdesc *d, const struct defuse_syscall *sc)
{
	struct msghdr msg;

	switch (d->op) {
	case OP_SOCKNAME:
		return __atomic_load_n(&core_sock_named, __ATOMIC_RELAXED);
	case OP_SENDMSG:
		if (defuse_probe_read(&msg, (const void *)sc->a[d->addr], sizeof(msg)) < 0)
			return 1;
		/* Descriptors passed (SCM_RIGHTS) may be emulated files'. */
		return unix_addr_may_hit(msg.msg_name, msg.msg_namelen) ||
		       (msg.msg_controllen && core_nfds);
	case OP_SENDMMSG:
		return core_nfds > 0;
	default:
		return unix_addr_may_hit((const void *)sc->a[d->addr], sc->a[d->alen]);
	}
}

int core_routes(long nr)
{
	return (unsigned long)nr < CORE_NR && core_sys[nr].kind != CORE_K_NONE;
}

int core_route(const struct defuse_syscall *sc)
{
	const struct core_sysdesc *d = &core_sys[sc->nr];

	switch (d->kind) {
	case CORE_K_PATH:
		/* Leaving a mount's cwd must be seen, wherever the new one is,
		   and so must entering one through a kernel symbolic link
		   (chdir is rare). */
		if (d->op == OP_CHDIR)
			return 1;
		/* RESOLVE_IN_ROOT: even an absolute path starts at the dirfd. */
		if (sc->nr == SYS_openat2 && is_mount_fd(sc->a[0]))
			return 1;
		if (path_may_hit(d->dfd >= 0 ? sc->a[d->dfd] : AT_FDCWD,
				 (const char *)sc->a[d->path]))
			return 1;
		/* The magic link of a kernel-backed file: the kernel names
		   the backing file, the program's path is the mount's. */
		if (d->op == OP_READLINK && sc->a[d->path] && *(const char *)sc->a[d->path] == '/') {
			const char *rest;
			long fd = core_fd_link((const char *)sc->a[d->path], &rest);

			if (fd >= 0 && !*rest && is_mount_fd(fd))
				return 1;
		}
		return d->path2 >= 0 &&
		       path_may_hit(d->dfd2 >= 0 ? sc->a[d->dfd2] : AT_FDCWD,
				    (const char *)sc->a[d->path2]);
	case CORE_K_FD:
		/* Upkeep of the descriptor table, only where a mount fd is involved. */
		switch (d->op) {
		case OP_DUP2:
			return is_mount_fd(sc->a[d->fd]) || is_mount_fd(sc->a[d->fd2]);
		case OP_FCNTL:
			/* An emulated file answers every command; a kernel-backed
			   one only needs the table kept for dups. */
			return is_emulated_fd(sc->a[0]) ||
			       ((sc->a[1] == F_DUPFD || sc->a[1] == F_DUPFD_CLOEXEC) &&
				is_mount_fd(sc->a[0]));
		case OP_CLOSE_RANGE:
			return core_nfds > 0;
		case OP_FCHDIR:
			return core_cwd_inside() || is_mount_fd(sc->a[0]);
		default:	/* close, dup */
			return is_mount_fd(sc->a[d->fd]);
		}
	case CORE_K_CWD:
		return core_cwd_inside();
	case CORE_K_FDIO:
		/* An emulated file, at either end of a copy. */
		return is_emulated_fd(sc->a[d->fd]) || (d->fd2 >= 0 && is_emulated_fd(sc->a[d->fd2])) ||
		       standin_attr_call(sc, d);
	case CORE_K_SOCK:
		return socket_may_hit(d, sc);
	case CORE_K_AIO:
		/* Its iocbs are looked at only while mount files are open. */
		return core_nfds > 0;
	case CORE_K_URING:
		/* Every setup, to know its ring; every submission while there
		   are mounts: an SQE's absolute path may name one with no
		   mount file open (uring.c). */
		return sc->nr == SYS_io_uring_setup || ((unsigned)sc->a[1] && core_nmounts);
	}
	return 0;
}

/* ---- the kernel's answer --------------------------------------------- */

struct core_kid core_mount_kids[CORE_MOUNTS_MAX];

/* Is ino a mount point's kernel directory's inode number (on some device)?
   An inode number is never 0: a mount without one matches nothing. */
static int kdir_ino(unsigned long ino)
{
	for (int i = 0; i < core_nmounts; i++)
		if (core_mount_kids[i].ino == ino && ino)
			return 1;
	return 0;
}

/* Is (dev, ino) a mount point's kernel directory? */
static int mount_kdir(unsigned long dev, unsigned long ino)
{
	for (int i = 0; i < core_nmounts; i++)
		if (core_mount_kids[i].ino == ino && core_mount_kids[i].dev == dev && ino)
			return 1;
	return 0;
}

/* The same for statx's answer, by its device's major and minor numbers. */
static int mount_kdir_x(unsigned major, unsigned minor, unsigned long ino)
{
	for (int i = 0; i < core_nmounts; i++)
		if (core_mount_kids[i].ino == ino && core_mount_kids[i].major == major &&
		    core_mount_kids[i].minor == minor && ino)
			return 1;
	return 0;
}

/* A struct stat the kernel has just filled in, read with the probe
   (another thread may unmap it meanwhile): its inode number first, which
   rules out nearly every answer, then its device. */
static int stat_landed(const struct stat *st)
{
	unsigned long dev, ino;

	if (defuse_probe_read(&ino, &st->st_ino, sizeof(ino)) < 0 || !kdir_ino(ino))
		return 0;
	return defuse_probe_read(&dev, &st->st_dev, sizeof(dev)) == 0 && mount_kdir(dev, ino);
}

static int statx_landed(const struct statx *x)
{
	unsigned long ino;
	unsigned mask, dev[2];	/* stx_dev_major, stx_dev_minor */

	if (defuse_probe_read(&ino, &x->stx_ino, sizeof(ino)) < 0 || !kdir_ino(ino) ||
	    defuse_probe_read(&mask, &x->stx_mask, sizeof(mask)) < 0 || !(mask & STATX_INO) ||
	    defuse_probe_read(dev, &x->stx_dev_major, sizeof(dev)) < 0)
		return 0;
	return mount_kdir_x(dev[0], dev[1], ino);
}

/* AT_EMPTY_PATH with an empty path: the call is on its descriptor, whose
   answer is the descriptor's own, wherever it was opened. */
static int on_descriptor(long at, const char *path)
{
	char c;

	return (at & AT_EMPTY_PATH) && (!path || (defuse_probe_read(&c, path, 1) == 0 && !c));
}

/* One name, no slash in it (read after the probe, as path_may_hit does). */
static int one_name(const char *p)
{
	if (!p || defuse_probe_strnlen(p, PATH_MAX) < 0)
		return 0;
	while (*p && *p != '/')
		p++;
	return !*p;
}

int core_kernel_landed(const struct defuse_syscall *sc, long r)
{
	const char *path;
	unsigned long flags;
	struct open_how how;
	struct stat st;

	switch (sc->nr) {
	case SYS_stat:
	case SYS_lstat:
		return stat_landed((const void *)sc->a[1]);
	case SYS_newfstatat:
		return !on_descriptor(sc->a[3], (const char *)sc->a[1]) &&
		       stat_landed((const void *)sc->a[2]);
	case SYS_statx:
		return !on_descriptor(sc->a[2], (const char *)sc->a[1]) &&
		       statx_landed((const void *)sc->a[4]);
	case SYS_open:
		path = (const char *)sc->a[0];
		flags = sc->a[1];
		break;
	case SYS_openat:
		path = (const char *)sc->a[1];
		flags = sc->a[2];
		break;
	case SYS_openat2:
		if (defuse_probe_read(&how, (const void *)sc->a[2], sizeof(how.flags)) < 0)
			return 0;
		path = (const char *)sc->a[1];
		flags = how.flags;
		break;
	default:
		return 0;
	}
	/* Only a directory open asks (opendir, ls): one fstat.  O_TMPFILE
	   carries O_DIRECTORY's bit but opens a new file.  One name opened
	   O_NOFOLLOW (fts and find descending: openat of each subdirectory)
	   is no link, and a mount point named so is routed: no fstat. */
	if ((flags & O_TMPFILE) != O_DIRECTORY || ((flags & O_NOFOLLOW) && one_name(path)))
		return 0;
	return sys2(SYS_fstat, r, &st) == 0 && mount_kdir(st.st_dev, st.st_ino);
}

int core_maybe_via_link(long dfd, const char *upath)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
	long fd;

	if (!upath)
		return 0;
	fd = sys4(SYS_openat2, dfd, upath, &how, sizeof(how));
	if (fd >= 0)
		sys1(SYS_close, fd);
	return fd == -ELOOP;
}

/*
 * A failure is suspect only when a symbolic link was met on the way: that
 * openat2 is made here, at the call site, so that the many failures that
 * meet none (a search along a path list) cost one system call more and no
 * trip into the cold core.
 */
int core_kernel_suspect(const struct defuse_syscall *sc, long r)
{
	const struct core_sysdesc *d;

	if (r >= 0)
		return core_kernel_landed(sc, r);
	if ((r != -ENOENT && r != -ENOTDIR) || (unsigned long)sc->nr >= CORE_NR)
		return 0;
	d = &core_sys[sc->nr];
	if (d->kind != CORE_K_PATH)
		return 0;
	return core_maybe_via_link(d->dfd >= 0 ? sc->a[d->dfd] : AT_FDCWD,
				   (const char *)sc->a[d->path]) ||
	       (d->path2 >= 0 && core_maybe_via_link(d->dfd2 >= 0 ? sc->a[d->dfd2] : AT_FDCWD,
						     (const char *)sc->a[d->path2]));
}
