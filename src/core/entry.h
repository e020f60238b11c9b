/*
 * The core's one face to capture: everything capture may call, and nothing
 * else (tests/layers checks that capture names no other core symbol).  The
 * core never calls capture; both stand on the kernel layer.
 *
 * "Hot" functions run at the syscall site (no vector registers, no libc);
 * "cold" ones must be entered through capture's call_cold (extended state
 * saved, DEFUSE's own stack), and have its signature where they are passed
 * to it directly.
 */
#ifndef DEFUSE_CORE_ENTRY_H
#define DEFUSE_CORE_ENTRY_H

#include <errno.h>
#include <limits.h>
#include <sys/syscall.h>
#include "kernel/kernel.h"

/* Start-up: reads DEFUSE_MOUNTS; exits the process on a bad mount (cold). */
void core_init(const char *spec) HIDDEN;

/* Mounts exist at all (set once at start-up). */
extern int core_nmounts HIDDEN;

/* Hot: may this call concern a mount?  No system call, no lock. */
int core_routes(long nr) HIDDEN;
int core_route(const struct defuse_syscall *sc) HIDDEN;
static inline int core_wants(const struct defuse_syscall *sc)
{
	return unlikely(core_nmounts) && core_routes(sc->nr) && core_route(sc);
}

/* Cold: serves a call core_wants. */
long core_handle(void *sc) HIDDEN;

/*
 * Hot: the kernel's answer r to a path call the core did not want says
 * that its path may have gone into a mount through a kernel symbolic link
 * (docs/core.md, "Kernel symbolic links into a mount"): it failed with
 * ENOENT or ENOTDIR and a symbolic link was met on the way (one openat2
 * asks), or a stat or an O_DIRECTORY open found a mount point's kernel
 * directory (a stat's answer is read, a directory is given one fstat).
 */
int core_kernel_suspect(const struct defuse_syscall *sc, long r) HIDDEN;
/* The part of that question that needs only the number and the answer,
   inline, so that the calls it never concerns (read, write...) pay one
   test more while mounts exist, not a function call. */
static inline int core_kernel_may_suspect(long nr, long r)
{
	if (r < 0)
		return r == -ENOENT || r == -ENOTDIR;
	return nr == SYS_newfstatat || nr == SYS_statx || nr == SYS_openat || nr == SYS_stat ||
	       nr == SYS_lstat || nr == SYS_open || nr == SYS_openat2;
}
/* Cold: such a call served again, r the kernel's answer to it: where its
   path leads physically, or r as it was. */
struct core_answered {
	struct defuse_syscall sc;
	long r;
};
long core_look_again(void *answered) HIDDEN;

/* Cold: the kernel said EBADF to a call the core did not want: if its
   descriptor is a placeholder received from another process, adopt it and
   serve the call; else EBADF stands. */
long core_adopt_and_handle(void *sc) HIDDEN;

/* Hot: does this msghdr (after recvmsg) carry control data at all? */
static inline int core_received_rights(const void *msg)
{
	/* struct msghdr: msg_controllen is the sixth word */
	return msg && ((const unsigned long *)msg)[5] != 0;
}
/* Cold: descriptors just arrived (args: nr, result, msghdr or mmsghdr):
   adopt the placeholders among them. */
long core_fds_received(void *args) HIDDEN;

/* Set once a Unix socket address in a mount went to the kernel as its
   backing path (sockets.c): the names the kernel gives back are then the
   core's to show as the program knows them. */
extern int core_sock_named HIDDEN;
/* Cold: recvmsg returned (args: the msghdr, its name buffer's size before
   the call): a sender's backing path in msg_name as the program's. */
long core_sock_msg_received(void *args) HIDDEN;

/* Cold: around a clone whose child shares our memory (vfork,
   posix_spawn): the cwd saved (a handle, never 0; it allocates nothing),
   then restored when the parent resumes (cwd.c). */
long core_cwd_save(void *unused) HIDDEN;
long core_cwd_restore(void *saved) HIDDEN;

/* Cold: before a clone that makes a new process (fork, vfork): every
   emulated description in the table may be held by the child too
   (handdown.c). */
long core_before_fork(void *unused) HIDDEN;
/* Entries in the descriptor table (fdtable.c): none, nothing to share. */
extern int core_nfds HIDDEN;
/* Clones that make a new process: under way (counted before the clone,
   until the parent resumes) and done (emulated.c: an open that a fork
   overtook shares its description). */
extern int core_forks_running HIDDEN, core_forks HIDDEN;

/* Cold: in a forked child, before the program runs again. */
long core_after_fork_child(void *unused) HIDDEN;

/*
 * The pager (mmap of emulated files, core/pager.c).  core_pager_nmaps is
 * the number of this process's mappings of emulated files: while it is 0,
 * munmap, mremap, msync and madvise go straight to the kernel.
 */
extern int core_pager_nmaps HIDDEN;
/* Cold: munmap, mremap, msync, madvise when core_pager_nmaps; and before
   capture forwards them, mmap with MAP_FIXED of something else and
   mprotect (0: go on, or -errno for the program). */
long core_pager_call(void *sc) HIDDEN;
/* Cold: around fork (clone without CLONE_VM): before, in the parent after,
   and in the child before the program runs again. */
long core_pager_before_fork(void *unused) HIDDEN;
long core_pager_after_fork_parent(void *unused) HIDDEN;
long core_pager_after_fork_child(void *unused) HIDDEN;
/* Cold: at exit_group, before core_fini: pages written through mappings
   go to the modules. */
long core_pager_exit(void *unused) HIDDEN;
/* Cold: the same without ending anything: a signal is about to end the
   process (capture/signals.c). */
long core_pager_flush(void *unused) HIDDEN;

/* Cold: at exit_group: ends every mount (the modules' destroy) when the
   process is ending through exit(3) with one thread (mounts.c). */
long core_fini(void *unused) HIDDEN;

/*
 * Cold: exec.  core_exec_resolve says what the kernel is to run for the
 * program's execve/execveat (call: the program's own, the kernel path it
 * leads to, or execveat of a mount file the core opened, fd, to close if
 * the exec fails); returns 0, or -errno for the program.  The hand-down
 * strings for the new image go into the environment capture builds.
 */
struct core_exec {
	struct defuse_syscall call;
	int fd;
	char path[PATH_MAX];	/* storage for what call names: */
	char script[PATH_MAX];	/* ...a "#!" script's interpreter, its */
	char interp[256];	/* argument and the script's name, and */
	char iarg[256];
	char **argv;		/* the argument vector (mmap'd) */
	unsigned long argv_size;
	int depth;		/* scripts run by scripts */
	int argfd;		/* the dynamic loader run as a program: the
				   copy of its program argument it opens by
				   /proc/self/fd (or -1), closed in the new
				   image ("DEFUSE_EXEC_FD=N" in handdown) */
	int listing;		/* ...with --list: only lists its objects */
	char handdown[32];
	/* An emulated program (run from a copy) whose RPATH or RUNPATH
	   names $ORIGIN: that list with $ORIGIN made the kernel path of the
	   program's directory, for LD_LIBRARY_PATH (before the program's
	   value for an RPATH, after it for a RUNPATH), or "". */
	int origin_runpath;
	char origin[4096];
};
long core_exec_resolve(const struct defuse_syscall *sc, struct core_exec *x) HIDDEN;
/* The program's own exec (x->call was sc) failed in the kernel: 0 and x
   set again when a kernel symbolic link led its path into a mount (run
   x->call then), else -errno (failed, mostly).  core_exec_undo after. */
long core_exec_again(const struct defuse_syscall *sc, struct core_exec *x, long failed) HIDDEN;
/* After an exec that failed (one that worked left nothing): closes and
   frees what core_exec_resolve left in x. */
void core_exec_undo(struct core_exec *x) HIDDEN;
/* "DEFUSE_CWD=..." written into buf (cap bytes), or NULL: the cwd of the
   exec'ing thread, when it is inside a mount. */
char *core_exec_cwd_env(char *buf, unsigned long cap) HIDDEN;
/* LD_LIBRARY_PATH's value (or NULL: none) with its directories in mounts
   made kernel paths, and x's origin list put in, for the new image's
   dynamic loader (it searches before DEFUSE runs):
   "LD_LIBRARY_PATH=...\0DEFUSE_LD_LIBRARY_PATH=<value>\0" in buf
   ("DEFUSE_NO_LD_LIBRARY_PATH=1" when the program had none), or NULL if
   nothing changes or it does not fit in cap bytes. */
char *core_exec_library_path(const char *value, const struct core_exec *x, char *buf,
			     unsigned long cap) HIDDEN;
/* After an exec that failed: the cwd's handle lent to it is DEFUSE's again. */
void core_exec_cwd_undo(void) HIDDEN;
/* "DEFUSE_PAGER=..." (the tree's page-cache registry) into buf, after the
   pages written through this image's mappings went to the modules; or
   NULL.  core_exec_pager_undo after an exec that failed. */
char *core_exec_pager_env(char *buf, unsigned long cap) HIDDEN;
void core_exec_pager_undo(void) HIDDEN;
/* "DEFUSE_FDS=..." written into buf (cap bytes), or NULL if nothing is
   handed down; core_exec_fds_undo after an exec that failed. */
char *core_exec_fds_env(char *buf, unsigned long cap) HIDDEN;
void core_exec_fds_undo(void) HIDDEN;

#endif
