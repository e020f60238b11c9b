/*
 * The core's one table of system calls (syscalls.h), and the entry that
 * serves a routed call: decode it once, then run its handler.
 *
 * A row says what kind of call it is (route.c), where its arguments are,
 * what core_resolve is to do with its path before the AT_* flags say more,
 * which AT_* flags it takes, and which handler serves it.  A call missing
 * here is never routed, so it goes to the kernel as it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include "core/core.h"
#include "core/resolve.h"
#include "core/syscalls.h"

/* Rows start from every position "none" and name what they have: a later
   designator overrides an earlier one by design. */
#pragma GCC diagnostic ignored "-Woverride-init"

/*
 * The handlers, by index: a row names one by its H_ number rather than
 * by address.  A table of 467 rows holding pointers was 15 KiB of
 * relocated data, four pages the loader wrote, so that every exec copied
 * them; as numbers the table is read-only data like any other, and only
 * this short array is relocated.
 */
enum {
	H_NONE, H_OPEN, H_OPENAT2, H_PATH, H_XATTRAT, H_TWO_PATHS, H_FD_TABLE,
	H_FCNTL, H_FCHDIR, H_GETCWD, H_FDIO, H_FXATTR, H_COPY, H_AIO,
	H_URING_SETUP, H_URING_ENTER, H_SOCK_ADDR, H_SOCK_NAME,
};

static long (*const handlers[])(struct core_call *c) = {
	[H_OPEN] = core_h_open,
	[H_OPENAT2] = core_h_openat2,
	[H_PATH] = core_h_path,
	[H_XATTRAT] = core_h_xattrat,
	[H_TWO_PATHS] = core_h_two_paths,
	[H_FD_TABLE] = core_h_fd_table,
	[H_FCNTL] = core_h_fcntl,
	[H_FCHDIR] = core_h_fchdir,
	[H_GETCWD] = core_h_getcwd,
	[H_FDIO] = core_h_fdio,
	[H_FXATTR] = core_h_fxattr,
	[H_COPY] = core_h_copy,
	[H_AIO] = core_h_aio,
	[H_URING_SETUP] = core_h_uring_setup,
	[H_URING_ENTER] = core_h_uring_enter,
	[H_SOCK_ADDR] = core_h_sock_addr,
	[H_SOCK_NAME] = core_h_sock_name,
};

#define ROW(kind_, op_, h_, ...)						\
	{ .kind = (kind_), .op = (op_), .handler = (h_), .dfd = -1, .path = -1,	\
	  .dfd2 = -1, .path2 = -1, .at = -1, .fd = -1, .fd2 = -1, .addr = -1,	\
	  .alen = -1, __VA_ARGS__ }

/* One path: the path in argument p, no dirfd / its dirfd in argument d. */
#define P(op, p, ...)		ROW(CORE_K_PATH, op, H_PATH, .path = p, __VA_ARGS__)
#define PAT(op, d, p, ...)	ROW(CORE_K_PATH, op, H_PATH, .dfd = d, .path = p, __VA_ARGS__)
/* Two: rename and link. */
#define P2(op, p, q)		ROW(CORE_K_PATH, op, H_TWO_PATHS, .path = p, .path2 = q)
#define PAT2(op, ...)		ROW(CORE_K_PATH, op, H_TWO_PATHS, .dfd = 0, .path = 1, \
				    .dfd2 = 2, .path2 = 3, __VA_ARGS__)
/* Descriptor table upkeep, and work on an open file. */
#define FD(op, h, ...)		ROW(CORE_K_FD, op, h, .fd = 0, __VA_ARGS__)
#define IO(...)			ROW(CORE_K_FDIO, OP_FDIO, H_FDIO, .fd = 0, __VA_ARGS__)
#define COPY(in, out)		ROW(CORE_K_FDIO, OP_COPY, H_COPY, .fd = in, .fd2 = out)
#define FXATTR			ROW(CORE_K_FDIO, OP_FXATTR, H_FXATTR, .fd = 0)
/* A socket address given, or returned. */
#define SOCK(op, a, l)		ROW(CORE_K_SOCK, op, H_SOCK_ADDR, .fd = 0, .addr = a, .alen = l)
#define SOCKNAME(a, l)		ROW(CORE_K_SOCK, OP_SOCKNAME, H_SOCK_NAME, .fd = 0, \
				    .addr = a, .alen = l)

#define FOLLOW		.res = CORE_RES_FOLLOW
#define NAME		.res = CORE_RES_NAME
#define CREATE		.res = CORE_RES_NAME | CORE_RES_CREATE
#define LCALL		.nofollow = DEFUSE_NOFOLLOW	/* lstat, lchown... */
#define AT(i, valid)	.at = (i), .at_valid = (valid)
#define NOFOLLOW_EMPTY	(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)

const struct core_sysdesc core_sys[CORE_NR] = {
	[SYS_open]	= ROW(CORE_K_PATH, OP_OPEN, H_OPEN, .path = 0),
	[SYS_creat]	= ROW(CORE_K_PATH, OP_CREAT, H_OPEN, .path = 0),
	[SYS_openat]	= ROW(CORE_K_PATH, OP_OPEN, H_OPEN, .dfd = 0, .path = 1),
	[SYS_openat2]	= ROW(CORE_K_PATH, OP_OPEN, H_OPENAT2, .dfd = 0, .path = 1),

	[SYS_stat]	= P(OP_STAT, 0, FOLLOW),
	[SYS_lstat]	= P(OP_STAT, 0, LCALL),
	[SYS_newfstatat] = PAT(OP_STAT, 0, 1, FOLLOW, AT(3, NOFOLLOW_EMPTY | AT_NO_AUTOMOUNT)),
	[SYS_statx]	= PAT(OP_STATX, 0, 1, FOLLOW,
			      AT(2, NOFOLLOW_EMPTY | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)),
	[SYS_access]	= P(OP_ACCESS, 0, FOLLOW),
	[SYS_faccessat]	= PAT(OP_ACCESS, 0, 1, FOLLOW),
	[SYS_faccessat2] = PAT(OP_ACCESS, 0, 1, FOLLOW, AT(3, NOFOLLOW_EMPTY | AT_EACCESS)),
	[SYS_readlink]	= P(OP_READLINK, 0),
	[SYS_readlinkat] = PAT(OP_READLINK, 0, 1),
	[SYS_statfs]	= P(OP_STATFS, 0, FOLLOW),
	/* The kernel watches what the module's file is (pathops.c). */
	[SYS_inotify_add_watch] = P(OP_WATCH, 1, FOLLOW),
	/* A handle is the kernel file's behind it, or none (pathops.c).
	   AT_SYMLINK_FOLLOW follows the last link; the handle kinds
	   (AT_HANDLE_FID 0x200, _MNT_ID_UNIQUE 0x1, _CONNECTABLE 0x2) are
	   the kernel's to check. */
	[SYS_name_to_handle_at] = PAT(OP_HANDLE, 0, 1, LCALL,
				      AT(4, AT_SYMLINK_FOLLOW | AT_EMPTY_PATH | 0x200 | 0x1 | 0x2)),
	[SYS_chdir]	= P(OP_CHDIR, 0, FOLLOW),
	[SYS_chroot]	= P(OP_CHROOT, 0, FOLLOW),
	[SYS_execve]	= P(OP_EXEC, 0, FOLLOW),
	[SYS_execveat]	= PAT(OP_EXEC, 0, 1, FOLLOW, AT(4, NOFOLLOW_EMPTY)),

	[SYS_mkdir]	= P(OP_MKDIR, 0, CREATE),
	[SYS_mkdirat]	= PAT(OP_MKDIR, 0, 1, CREATE),
	[SYS_mknod]	= P(OP_MKNOD, 0, CREATE),
	[SYS_mknodat]	= PAT(OP_MKNOD, 0, 1, CREATE),
	[SYS_rmdir]	= P(OP_RMDIR, 0, NAME),
	[SYS_unlink]	= P(OP_UNLINK, 0, NAME),
	[SYS_unlinkat]	= PAT(OP_UNLINK, 0, 1, NAME, AT(2, AT_REMOVEDIR)),
	[SYS_symlink]	= P(OP_SYMLINK, 1, CREATE),
	[SYS_symlinkat]	= PAT(OP_SYMLINK, 1, 2, CREATE),

	[SYS_chmod]	= P(OP_CHMOD, 0, FOLLOW),
	[SYS_fchmodat]	= PAT(OP_CHMOD, 0, 1, FOLLOW),
	[SYS_fchmodat2_] = PAT(OP_CHMOD, 0, 1, FOLLOW, AT(3, NOFOLLOW_EMPTY)),
	[SYS_chown]	= P(OP_CHOWN, 0, FOLLOW),
	[SYS_lchown]	= P(OP_CHOWN, 0, LCALL),
	[SYS_fchownat]	= PAT(OP_CHOWN, 0, 1, FOLLOW, AT(4, NOFOLLOW_EMPTY)),
	[SYS_truncate]	= P(OP_TRUNCATE, 0, FOLLOW),
	[SYS_utime]	= P(OP_UTIMENS, 0, FOLLOW, .times = CORE_UTIMBUF),
	[SYS_utimes]	= P(OP_UTIMENS, 0, FOLLOW, .times = CORE_TIMEVAL),
	[SYS_futimesat]	= PAT(OP_UTIMENS, 0, 1, FOLLOW, .times = CORE_TIMEVAL),
	[SYS_utimensat]	= PAT(OP_UTIMENS, 0, 1, FOLLOW, .times = CORE_TIMESPEC,
			      AT(3, NOFOLLOW_EMPTY)),

	[SYS_getxattr]	= P(OP_GETXATTR, 0, FOLLOW),
	[SYS_lgetxattr]	= P(OP_GETXATTR, 0, LCALL),
	[SYS_setxattr]	= P(OP_SETXATTR, 0, FOLLOW),
	[SYS_lsetxattr]	= P(OP_SETXATTR, 0, LCALL),
	[SYS_listxattr]	= P(OP_LISTXATTR, 0, FOLLOW),
	[SYS_llistxattr] = P(OP_LISTXATTR, 0, LCALL),
	[SYS_removexattr] = P(OP_REMOVEXATTR, 0, FOLLOW),
	[SYS_lremovexattr] = P(OP_REMOVEXATTR, 0, LCALL),
	/* The *xattrat calls (Linux 6.13) are served as their path-only twin:
	   the handler decodes again. */
	[SYS_setxattrat_] = ROW(CORE_K_PATH, OP_SETXATTR, H_XATTRAT, .dfd = 0, .path = 1),
	[SYS_getxattrat_] = ROW(CORE_K_PATH, OP_GETXATTR, H_XATTRAT, .dfd = 0, .path = 1),
	[SYS_listxattrat_] = ROW(CORE_K_PATH, OP_LISTXATTR, H_XATTRAT, .dfd = 0, .path = 1),
	[SYS_removexattrat_] = ROW(CORE_K_PATH, OP_REMOVEXATTR, H_XATTRAT, .dfd = 0,
				   .path = 1),

	[SYS_rename]	= P2(OP_RENAME, 0, 1),
	[SYS_renameat]	= PAT2(OP_RENAME),
	[SYS_renameat2]	= PAT2(OP_RENAME),
	[SYS_link]	= P2(OP_LINK, 0, 1),
	[SYS_linkat]	= PAT2(OP_LINK, AT(4, AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)),

	[SYS_close]	= FD(OP_CLOSE, H_FD_TABLE),
	[SYS_dup]	= FD(OP_DUP, H_FD_TABLE),
	[SYS_dup2]	= FD(OP_DUP2, H_FD_TABLE, .fd2 = 1),
	[SYS_dup3]	= FD(OP_DUP2, H_FD_TABLE, .fd2 = 1),
	[SYS_close_range] = FD(OP_CLOSE_RANGE, H_FD_TABLE),
	[SYS_fcntl]	= FD(OP_FCNTL, H_FCNTL),
	[SYS_fchdir]	= FD(OP_FCHDIR, H_FCHDIR),
	[SYS_getcwd]	= ROW(CORE_K_CWD, OP_GETCWD, H_GETCWD),

	/* The emulated-file code (emulated.c) serves these itself. */
	[SYS_read] = IO(), [SYS_write] = IO(), [SYS_pread64] = IO(), [SYS_pwrite64] = IO(),
	[SYS_readv] = IO(), [SYS_writev] = IO(), [SYS_preadv] = IO(), [SYS_pwritev] = IO(),
	[SYS_preadv2] = IO(), [SYS_pwritev2] = IO(), [SYS_lseek] = IO(), [SYS_fstat] = IO(),
	[SYS_getdents64] = IO(), [SYS_getdents] = IO(), [SYS_ftruncate] = IO(),
	[SYS_fsync] = IO(), [SYS_fdatasync] = IO(), [SYS_fallocate] = IO(),
	[SYS_fchmod] = IO(), [SYS_fchown] = IO(), [SYS_fstatfs] = IO(),
	[SYS_fadvise64] = IO(), [SYS_flock] = IO(), [SYS_ioctl] = IO(),
	[SYS_readahead] = IO(), [SYS_sync_file_range] = IO(), [SYS_syncfs] = IO(),
	[SYS_mmap]	= IO(.fd = 4),
	[SYS_fgetxattr] = FXATTR, [SYS_fsetxattr] = FXATTR,
	[SYS_flistxattr] = FXATTR, [SYS_fremovexattr] = FXATTR,
	/* Either end may be the emulated one (copy.c). */
	[SYS_sendfile]	= COPY(1, 0),
	[SYS_copy_file_range] = COPY(0, 2),
	[SYS_splice]	= COPY(0, 2),
	[SYS_tee]	= COPY(0, 1),

	/* Linux AIO: an iocb may name an emulated file (aio.c). */
	[SYS_io_submit]	= ROW(CORE_K_AIO, OP_FDIO, H_AIO),
	/* io_uring: an SQE may name an emulated file or a mount path
	   (uring.c). */
	[SYS_io_uring_setup] = ROW(CORE_K_URING, OP_FDIO, H_URING_SETUP),
	[SYS_io_uring_enter] = ROW(CORE_K_URING, OP_FDIO, H_URING_ENTER),

	/* A Unix socket's path may name a file in a mount (sockets.c). */
	[SYS_bind]	= SOCK(OP_BIND, 1, 2),
	[SYS_connect]	= SOCK(OP_CONNECT, 1, 2),
	[SYS_sendto]	= SOCK(OP_CONNECT, 4, 5),
	[SYS_sendmsg]	= SOCK(OP_SENDMSG, 1, -1),
	/* Only for the descriptors it may pass (SCM_RIGHTS). */
	[SYS_sendmmsg]	= SOCK(OP_SENDMMSG, 1, -1),
	[SYS_getsockname] = SOCKNAME(1, 2),
	[SYS_getpeername] = SOCKNAME(1, 2),
	[SYS_accept]	= SOCKNAME(1, 2),
	[SYS_accept4]	= SOCKNAME(1, 2),
	[SYS_recvfrom]	= SOCKNAME(4, 5),
};

const struct core_sysdesc core_sys_none = ROW(CORE_K_NONE, OP_NONE, H_NONE);

/* 0 if s is NULL or a string the program can read, else -EFAULT. */
static long readable(const char *s)
{
	return s && defuse_probe_strnlen(s, PATH_MAX) < 0 ? -EFAULT : 0;
}

/* The decoding every handler reads; -errno for flags the call refuses
   before any lookup, as the kernel does. */
static long decode(const struct defuse_syscall *sc, struct core_call *c)
{
	const struct core_sysdesc *d = core_sysdesc_of(sc->nr);

	c->sc = sc;
	c->orig = sc;
	c->d = d;
	c->op = d->op;
	c->dfd = d->dfd >= 0 ? sc->a[d->dfd] : AT_FDCWD;
	c->path = d->path >= 0 ? (const char *)sc->a[d->path] : NULL;
	c->arg = &sc->a[(d->path >= 0 ? d->path : d->fd >= 0 ? d->fd : -1) + 1];
	c->at = d->at >= 0 ? (unsigned)sc->a[d->at] : 0;
	c->res = d->res;
	c->nofollow = d->nofollow;
	c->fd = NULL;
	c->asked = false;
	c->said = 0;
	if (d->at >= 0) {
		if (c->at & ~d->at_valid)
			return -EINVAL;
		if (c->op == OP_STATX && (((unsigned)c->arg[1] & STATX__RESERVED) ||
					  (c->at & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE))
			return -EINVAL;
		if (c->at & AT_SYMLINK_NOFOLLOW) {
			c->res &= ~CORE_RES_FOLLOW;
			c->nofollow = DEFUSE_NOFOLLOW;
		}
		/* name_to_handle_at's flag is the other way round (linkat's is
		   twopaths.c's). */
		if (c->op == OP_HANDLE && (c->at & AT_SYMLINK_FOLLOW)) {
			c->res |= CORE_RES_FOLLOW;
			c->nofollow = 0;
		}
		if (c->op == OP_UNLINK && (c->at & AT_REMOVEDIR))
			c->op = OP_RMDIR;
	}
	/* The strings the call names, after its flags, as the kernel reads
	   them: a bad pointer is EFAULT, never a crash. */
	if (d->kind == CORE_K_PATH &&
	    (readable(c->path) < 0 || (d->path2 >= 0 && readable((const char *)sc->a[d->path2]) < 0) ||
	     (c->op == OP_SYMLINK && readable((const char *)sc->a[0]) < 0)))
		return -EFAULT;
	return 0;
}

long core_dispatch(const struct defuse_syscall *sc)
{
	struct core_call c;
	long r = decode(sc, &c);

	if (r < 0)
		return r;
	if (!c.d->handler)
		return defuse_forward(sc);
	return handlers[c.d->handler](&c);
}

long core_kernel_own(const struct core_call *c)
{
	return c->asked ? c->said : core_kernel_call(c->orig);
}

int core_resolve_physically(long dfd, const char *upath, unsigned res, bool known,
			    struct core_loc *l)
{
	int r;

	if (!known && !core_maybe_via_link(dfd, upath))
		return 0;
	if ((r = core_resolve(dfd, upath, res | CORE_RES_PHYSICAL, l)) < 0)
		/* Failing in the kernel part, it failed where the kernel did. */
		return l->where != CORE_UNTOUCHED ? r : 0;
	return l->where != CORE_UNTOUCHED;
}

int core_look_after(const struct core_call *c, const struct defuse_syscall *k, long r,
		    unsigned res, struct core_loc *l)
{
	bool landed = r >= 0 && core_kernel_landed(k, r);

	if (!landed && r != -ENOENT && r != -ENOTDIR)
		return 0;
	/* A landing, a walk that passed through a mount, or the call site's
	   own check (c->asked: route.c, core_kernel_suspect) says that a
	   kernel symbolic link was met without asking the kernel again. */
	return core_resolve_physically(c->dfd, c->path, res,
				       landed || c->asked || l->where != CORE_UNTOUCHED, l);
}

/*
 * A path call that went to the kernel unrouted (route.c saw no mount in
 * its path) and whose answer is suspect: its handler, as for a routed
 * call, but with the kernel's answer in hand, so that a path that stays
 * in the kernel is not asked again.  Calls on a descriptor (an empty
 * path) and chdir (the core has its say before the kernel there) keep the
 * kernel's answer; an exec comes here only from core_exec_again.
 */
static long again(void *arg)
{
	struct core_answered *a = arg;
	struct core_call c;

	if (decode(&a->sc, &c) < 0 || !c.d->handler || !c.path || !*c.path ||
	    c.op == OP_CHDIR)
		return a->r;
	c.asked = true;
	c.said = a->r;
	return handlers[c.d->handler](&c);
}

long core_look_again(void *arg)
{
	return core_cwd_call(again, arg);
}

static long dispatch_void(void *sc)
{
	return core_dispatch(sc);
}

/*
 * Work on an open file needs no cwd; everything else is served as one
 * call with one cwd: a chdir in another thread meanwhile comes after it.
 */
long core_handle(void *arg)
{
	const struct defuse_syscall *sc = arg;

	unsigned char kind = core_sysdesc_of(sc->nr)->kind;

	if (kind == CORE_K_FDIO || kind == CORE_K_AIO || kind == CORE_K_URING)
		return core_dispatch(sc);
	return core_cwd_call(dispatch_void, arg);
}
