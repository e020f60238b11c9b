/*
 * What the core knows of each system call, written once (syscalls.c):
 * whether it may concern a mount and how to tell (route.c reads the kind
 * and the argument positions), and how it is served (the operation and its
 * handler).  A routed call is decoded once into struct core_call, which
 * every later step reads.
 */
#ifndef DEFUSE_CORE_SYSCALLS_H
#define DEFUSE_CORE_SYSCALLS_H

#include <stdbool.h>
#include "kernel/kernel.h"

/* System call numbers the table covers (x86-64: up to removexattrat). */
#define CORE_NR 467

/* What kind of call it is for the core: route.c's question. */
enum core_kind {
	CORE_K_NONE,	/* never the core's */
	CORE_K_PATH,	/* names a path, or two: (dirfd, path) pairs */
	CORE_K_FD,	/* changes the descriptor table or the cwd by
			   descriptor (close, dup, fcntl, fchdir) */
	CORE_K_CWD,	/* getcwd */
	CORE_K_FDIO,	/* works on an open file: an emulated file's is
			   the core's (the descriptor in .fd, or .fd2) */
	CORE_K_SOCK,	/* a Unix socket's address, which may name a file
			   in a mount (.addr, .alen; sockets.c) */
	CORE_K_AIO,	/* io_submit: its iocbs may name emulated files
			   (aio.c) */
	CORE_K_URING,	/* io_uring_setup (its ring kept), io_uring_enter:
			   its SQEs may name emulated files or mount paths
			   (uring.c) */
};

/* What the core does: the handler's operation, whatever the call's shape. */
enum core_op {
	OP_NONE,
	/* one path */
	OP_OPEN, OP_CREAT, OP_STAT, OP_STATX, OP_ACCESS, OP_MKDIR, OP_MKNOD,
	OP_UNLINK, OP_RMDIR, OP_READLINK, OP_CHMOD, OP_CHOWN, OP_TRUNCATE,
	OP_UTIMENS, OP_STATFS, OP_CHDIR, OP_SYMLINK, OP_GETXATTR, OP_SETXATTR,
	OP_LISTXATTR, OP_REMOVEXATTR, OP_EXEC, OP_WATCH, OP_HANDLE, OP_CHROOT,
	/* two paths */
	OP_RENAME, OP_LINK,
	/* the descriptor table and the cwd */
	OP_CLOSE, OP_DUP, OP_DUP2, OP_FCNTL, OP_CLOSE_RANGE, OP_FCHDIR, OP_GETCWD,
	/* an open file */
	OP_FDIO, OP_FXATTR, OP_COPY,
	/* a socket's address: given (bind; connect and sendto; sendmsg's
	   msghdr), or returned (getsockname, getpeername, accept, recvfrom) */
	OP_BIND, OP_CONNECT, OP_SENDMSG, OP_SENDMMSG, OP_SOCKNAME,
};

/* OP_UTIMENS: the times argument's type. */
enum core_times { CORE_TIMESPEC, CORE_UTIMBUF, CORE_TIMEVAL };

struct core_call;

struct core_sysdesc {
	unsigned char kind;		/* enum core_kind */
	unsigned char op;		/* enum core_op */
	/* Argument positions, -1 for none (a path without a dirfd is
	   relative to the cwd). */
	signed char dfd, path;		/* the (first) path */
	signed char dfd2, path2;	/* the second: rename, link */
	signed char at;			/* the AT_* flags */
	signed char fd, fd2;		/* CORE_K_FD, CORE_K_FDIO: the
					   descriptor(s) */
	signed char addr, alen;		/* CORE_K_SOCK: the address and its
					   length (OP_SOCKNAME: a pointer to
					   it); OP_SENDMSG: the msghdr */
	unsigned char handler;		/* its handler: an index into
					   syscalls.c's table, not a pointer
					   (0: none, to the kernel) */
	unsigned short res;		/* core_resolve's flags (resolve.h)
					   before the AT_* flags */
	unsigned char nofollow;		/* DEFUSE_NOFOLLOW for the module
					   (lstat, lchown, l*xattr) */
	unsigned char times;		/* enum core_times */
	unsigned at_valid;		/* the AT_* flags it takes; others
					   are EINVAL before any lookup */
};

extern const struct core_sysdesc core_sys[CORE_NR] HIDDEN;
extern const struct core_sysdesc core_sys_none HIDDEN;	/* CORE_K_NONE */

static inline const struct core_sysdesc *core_sysdesc_of(long nr)
{
	return (unsigned long)nr < CORE_NR ? &core_sys[nr] : &core_sys_none;
}

/*
 * A routed call, decoded (syscalls.c, core_decode): the program's call,
 * its table entry, its path and flags, and what the handlers add.
 */
struct core_call {
	const struct defuse_syscall *sc;	/* the call as served */
	const struct defuse_syscall *orig;	/* the program's own, which
						   goes to the kernel for a
						   path that never met a mount
						   (sc, but for *xattrat's
						   path-only twins) */
	const struct core_sysdesc *d;
	enum core_op op;	/* d->op, or what the flags make of it
				   (unlinkat with AT_REMOVEDIR: OP_RMDIR) */
	long dfd;		/* AT_FDCWD when the call has none */
	const char *path;	/* the program's path (NULL if none) */
	const long *arg;	/* the arguments after the path */
	unsigned at;		/* the AT_* flags, 0 if none */
	unsigned res;		/* core_resolve's flags */
	int nofollow;		/* DEFUSE_NOFOLLOW or 0, for the module */
	struct core_fd *fd;	/* CORE_K_FDIO: the emulated file, held */
	/* A call that comes to the core after the kernel answered it
	   (core_look_again): the answer, which stands for the program's own
	   call wherever the core would make it again (core_kernel_own). */
	bool asked;
	long said;
};

/* Serves a call: decode, then its handler (cwd.c's core_cwd_call around
   it for calls that name a path). */
long core_dispatch(const struct defuse_syscall *sc);

/* The handlers the table names (open.c, pathops.c, twopaths.c, fdops.c). */
long core_h_open(struct core_call *c);
long core_h_openat2(struct core_call *c);
long core_h_path(struct core_call *c);
long core_h_xattrat(struct core_call *c);
long core_h_two_paths(struct core_call *c);
long core_h_fd_table(struct core_call *c);
long core_h_fcntl(struct core_call *c);
/* fstat & co. of a FIFO's stand-in descriptor f, held (pathops.c). */
long core_h_standin(struct core_call *c, struct core_fd *f);
long core_h_fchdir(struct core_call *c);
long core_h_getcwd(struct core_call *c);
long core_h_fdio(struct core_call *c);
long core_h_fxattr(struct core_call *c);
long core_h_copy(struct core_call *c);
long core_h_aio(struct core_call *c);
long core_h_uring_setup(struct core_call *c);
long core_h_uring_enter(struct core_call *c);
long core_h_sock_addr(struct core_call *c);
long core_h_sock_name(struct core_call *c);

/* sockets.c: core_sock_named (entry.h). */

/* ---- what the handlers share ---- */

struct core_loc;
struct mod_caller;

/* The program's call, or the exec it stands for (exec_resolve.c: while
   core_exec_resolve runs an exec is collected, not made), to the kernel. */
long core_kernel_call(const struct defuse_syscall *k);
/* The program's own call c to the kernel, or the kernel's answer to it
   when it has been asked already. */
long core_kernel_own(const struct core_call *c);
/* Is the kernel's answer r to call k a mount point's kernel directory (a
   stat's, or an O_DIRECTORY open's descriptor: one fstat)?  route.c. */
int core_kernel_landed(const struct defuse_syscall *k, long r);
/* A path whose walk stayed in the kernel's file system resolved again
   physically into l, if a kernel symbolic link may have led it into a
   mount (known: a link was met; else core_maybe_via_link asks): 1 when it
   leads somewhere else (a mount, or another kernel path), 0 when it leads
   where the kernel went, or the walk's -errno once it entered a mount. */
int core_resolve_physically(long dfd, const char *upath, unsigned res, bool known,
			    struct core_loc *l);
/*
 * The look-after (docs/core.md, "Kernel symbolic links into a mount"): the
 * kernel answered r to call k (c's own, or with its path made a kernel
 * path), whose path the walk found as l (in the kernel's file system:
 * untouched, or a kernel path after passing through a mount).  When r is
 * ENOENT or ENOTDIR and a symbolic link was met on the way, or r is a
 * mount point's kernel directory, the path is resolved again physically
 * (res: the call's resolution flags) into l: 1 when it leads into a mount
 * or elsewhere in the kernel (l says where), 0 when r stands, or the
 * walk's -errno once it entered a mount (a loop through it).
 */
int core_look_after(const struct core_call *c, const struct defuse_syscall *k, long r,
		    unsigned res, struct core_loc *l);
/* The same with d's path replaced by path (absolute), its dirfd AT_FDCWD. */
long core_kernel_at(const struct defuse_syscall *sc, const struct core_sysdesc *d,
		    const char *path);
/* exec of a file in a mount (exec_resolve.c). */
long core_exec_open(const struct core_call *c, const struct core_loc *l);
/* chdir into a mount's directory; chdir that the walk found to end in the
   kernel's file system (chdir.c). */
long core_chdir_in(const struct core_loc *l);
long core_chdir_kernel(const struct core_call *c, const struct core_loc *l);
/* Who asks, for a module's access checks: the effective IDs (AT_EACCESS,
   chdir's search permission), else the real ones, as access(2)
   (program.c). */
const struct mod_caller *core_caller(int effective, struct mod_caller *who);

#endif
