/*
 * The bottom layer: kernel services that capture, trace and the core all
 * stand on (docs/architecture.md).  Nothing here knows about mounts,
 * patching or tracing:
 *
 *   - the gates (gate.S, sys.h): DEFUSE's own system calls, and the
 *     program's calls passed on (defuse_forward);
 *   - the program's memory, read and written with the kernel checking the
 *     addresses (usermem.c: EFAULT, never a crash);
 *   - the reserved descriptor band above the program's RLIMIT_NOFILE
 *     (reserved_fd.c);
 *   - diagnostics that never allocate (log.c);
 *   - the per-thread and process-wide state every layer reads, and the flag
 *     that lets a signal interrupt a wait DEFUSE makes for the program
 *     (state.c).
 *
 * Everything here is "hot" code: no libc, no vector registers,
 * async-signal-safe (src/meson.build builds it so).  A layer above may use
 * any of it; nothing here may use a layer above (tests/layers checks).
 */
#ifndef DEFUSE_KERNEL_H
#define DEFUSE_KERNEL_H

#include <stdint.h>
#include <stddef.h>
#include "kernel/sys.h"

#define HIDDEN __attribute__((visibility("hidden")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The registers of one system call, in the kernel's order. */
struct defuse_syscall {
	long nr;
	long a[6];
};

/* The program's call, passed on to the kernel unchanged. */
static inline long defuse_forward(const struct defuse_syscall *sc)
{
	return defuse_gate_forward(sc->nr, sc->a[0], sc->a[1], sc->a[2], sc->a[3], sc->a[4],
				   sc->a[5]);
}

/*
 * Per-thread state.  Reached through %fs (initial-exec TLS of the preloaded
 * library), also from generated trampolines, which need the byte offset of
 * sud_selector from the thread pointer (capture_g.selector_tpoff).  Each
 * field says which layer writes it; any layer may read it.
 *
 * A new thread starts from the TLS image: selector BLOCK, everything else 0.
 */
struct defuse_thread {
	char sud_selector;	/* capture: SUD's per-thread switch; BLOCK but
				   while a trampoline executes clone inline */
	char in_defuse;		/* capture: DEFUSE's own code is running: calls
				   it makes through libc go to the kernel
				   untouched */
	char tls_shared;	/* capture: this block may be another thread's
				   too (a clone with CLONE_VM, no CLONE_SETTLS):
				   only tls_owner uses this state, the others a
				   block of their own (capture/sharers.c) */
	char tracing;		/* capture: this thread's calls are traced */
	char sigsys_blocked;	/* capture: the program believes SIGSYS is
				   blocked */
	char sigsys_pending;	/* capture: a non-SUD SIGSYS arrived while
				   "blocked" */
	char net_armed;		/* capture: SUD is armed in this thread */
	char sig_interruptible;	/* any: DEFUSE waits in the kernel for the
				   program (a lock): signals are not deferred
				   (defuse_sig_interruptible) */
	char sig_taken;		/* capture: a handler of the program's ran
				   during such a wait */
	unsigned long sig_deferred; /* capture: signals that arrived while DEFUSE
				   ran, delivered when it returns */
	char ids_known;		/* core (creds.c): defuse_fs_ids_are_real's
				   answer: 0 not known (capture forgets it at
				   every set*id call), 1 yes, 2 no; and
				   then fsuid and fsgid hold the thread's
				   file-system IDs */
	char vfork_child;	/* capture: a vfork child: memory shared with
				   the suspended parent (core/fdtable.c) */
	long sigsys_info[16];	/* capture: its siginfo, re-sent on unblock */
	int tid;		/* kernel: gettid(), cached as pid (0: not known) */
	long pid;		/* kernel: getpid(), cached per thread: a vfork
				   child shares the parent's memory but not the
				   other threads' TLS (usermem.c) */
	long clone_nr;		/* capture: the clone-family call in flight */
	char clone_in_defuse;	/* capture: in_defuse and sig_deferred at */
	unsigned long clone_sig_deferred; /* its start, for the parent after a
				   vfork child (which shares this TLS) */
	uintptr_t cold_stack;	/* capture: top of the stack cold code runs on
				   (cold_stack.c), or 0 */
	long cold_stack_tid;	/* capture: the thread it was made for */
	uintptr_t prog_sp;	/* capture: the program's stack pointer (about)
				   when cold code was entered */
	long cwd_saved;		/* capture: the core's cwd, kept from a child
				   that shares our memory (core_cwd_save) */
	char clone_counted;	/* capture: core_forks_running counts the
				   clone in flight */
	uint64_t clone_t0;	/* capture: its start time, for the trace */
	unsigned int fsuid, fsgid; /* core (creds.c): see ids_known */
	int tls_owner;		/* capture: see tls_shared */
	char clone_shares_tls;	/* capture: the clone in flight makes a sharer */
	uintptr_t program_tp;	/* capture: on a block lent to a sharer, the
				   thread pointer its program code runs with */
};

extern __thread struct defuse_thread defuse_self
	__attribute__((tls_model("initial-exec"))) HIDDEN;

/* Process-wide settings, written once at start-up (capture/init.c). */
struct defuse_global {
	char preload_path[512];		/* this library, for LD_PRELOAD at exec
					   and for finding modules beside it */
	int debug;			/* DEFUSE_DEBUG set */
	int test_marker;		/* DEFUSE_TEST_MARKER=1 (tests/capture) */
	unsigned int umask;		/* capture: the process's umask, read at
					   start-up and kept at every umask(2)
					   the program makes; the core applies
					   it to modes it hands a module
					   (module.h) */
};
extern struct defuse_global defuse_g HIDDEN;

/*
 * A call DEFUSE answered itself, without the kernel: under
 * DEFUSE_TEST_MARKER=1, tell the outside observer with an invalid call
 * 0xdee(nr) from the own gate, so strace can count what it cannot see.
 */
void defuse_note_emulated(long nr) HIDDEN;
#define DEFUSE_TEST_MARKER_NR	0xdef	/* end of start-up, with the gates */
#define DEFUSE_TEST_EMULATED_NR	0xdee	/* a call answered without the kernel */

/*
 * Signals that arrive while DEFUSE runs wait until it returns to the
 * program (capture/signals.c), but not while DEFUSE waits in the kernel on
 * the program's behalf (a blocking lock): around such a wait, on = 1.
 */
extern void (*defuse_sig_flush_fn)(void) HIDDEN;	/* capture's: delivers the deferred */

static inline int defuse_sig_interruptible(int on)
{
	int taken;

	if (!on) {
		/* 1 if a handler of the program's ran during the wait */
		defuse_self.sig_interruptible = 0;
		taken = defuse_self.sig_taken;
		defuse_self.sig_taken = 0;
		return taken;
	}
	defuse_self.sig_taken = 0;
	defuse_self.sig_interruptible = 1;
	/* A signal deferred earlier in this call stays blocked until DEFUSE
	   returns, and so would through the wait, which then nothing could
	   end (a FIFO's open waiting for a writer that an interval timer
	   should interrupt): it is delivered now, as if it had come just
	   before the call.  1 says so. */
	if (unlikely(defuse_self.sig_deferred) && defuse_sig_flush_fn) {
		defuse_sig_flush_fn();
		return 1;
	}
	return 0;
}

/*
 * The gate that runs a clone-family call the SUD net caught (gate.S) calls
 * capture's hooks around it through these pointers, which capture sets at
 * start-up; the parent resumes at defuse_sud_clone_resume.
 */
struct defuse_gate_hooks {
	void *clone_before, *clone_child, *clone_parent;	/* hook functions */
	void *call_hook;	/* how a trampoline calls them (stubs.S) */
};
extern struct defuse_gate_hooks defuse_gate_hooks HIDDEN;
void defuse_gate_forward_clone(void) HIDDEN;
extern __thread uintptr_t defuse_sud_clone_resume
	__attribute__((tls_model("initial-exec"))) HIDDEN;

/* reserved_fd.c: descriptors DEFUSE keeps open inside the program. */
int defuse_fd_reserve(int fd) HIDDEN;
int defuse_fd_reserve_copy(int fd) HIDDEN;	/* fd stays open */
unsigned long defuse_fsize_limit(void) HIDDEN;	/* RLIMIT_FSIZE's soft limit */
int defuse_fd_adopt(int fd) HIDDEN;	/* one inherited through exec */
/* One inherited through exec, taken as it is (still not close-on-exec),
   with no system call if it sits in the band; -1 if it does not. */
int defuse_fd_claim(int fd) HIDDEN;
void defuse_fd_unclaim(int fd) HIDDEN;	/* its number back, left open */
int defuse_fd_release(int fd) HIDDEN;
int defuse_fd_is_reserved(long fd) HIDDEN;
long defuse_fd_guard(struct defuse_syscall *sc) HIDDEN;
long defuse_fd_limit_call(struct defuse_syscall *sc) HIDDEN;
void defuse_fd_after_fork(void) HIDDEN;
void defuse_fd_exec_limit(int before) HIDDEN;	/* around an exec: the program's soft limit */
extern int defuse_fd_nreserved HIDDEN;

/* usermem.c: the program's memory, checked by the kernel (EFAULT, no crash). */
long defuse_read_user(void *dst, const void *src, unsigned long n) HIDDEN;
/* probe.S: the length of a string of the program's if it ends within max
   bytes, max if not, -EFAULT if it cannot be read (no system call: a
   fault there is caught by capture's SIGSEGV/SIGBUS handler, which resumes
   at defuse_probe_fault when the faulting instruction lies between
   defuse_probe_begin and defuse_probe_end). */
long defuse_probe_strnlen(const char *s, unsigned long max) HIDDEN;
/* The same way: n bytes of the program's at src into dst; 0 or -EFAULT. */
long defuse_probe_read(void *dst, const void *src, unsigned long n) HIDDEN;
extern const char defuse_probe_begin[], defuse_probe_end[], defuse_probe_fault[] HIDDEN;
long defuse_write_user(void *dst, const void *src, unsigned long n) HIDDEN;
int defuse_copy_in(void *dst, const void *src, unsigned long n) HIDDEN;
int defuse_copy_out(void *dst, const void *src, unsigned long n) HIDDEN;
void defuse_usermem_refresh_pid(void) HIDDEN;
/* Has task tid left our memory (exited, a zombie, exec'd)?  A lock in
   process memory whose holder has left is free (state.c). */
int defuse_task_gone(int tid) HIDDEN;
/*
 * A lock in process memory whose word (*owner) is its holder's thread ID, 0
 * when free, and *waiting the threads asleep on it: a holder killed inside
 * (a clone(CLONE_VM) child that stress-ng SIGKILLs) is noticed by a waiter
 * (defuse_task_gone, once per millisecond of waiting), which takes the lock
 * over instead of waiting for ever.  No system call unless contended.
 */
void defuse_tid_lock(int *owner, int *waiting) HIDDEN;
void defuse_tid_unlock(int *owner, int *waiting) HIDDEN;

/* This process's ID without a system call: the per-thread copy, which a
   thread DEFUSE never saw start lacks (0). */
static inline long defuse_pid(void)
{
	return likely(defuse_self.pid) ? defuse_self.pid : sys0(SYS_getpid);
}

/* log.c: diagnostics to stderr through the own gate; never allocates.
   Prints "defuse: " and the non-NULL strings, then a newline. */
void defuse_log(const char *a, const char *b, const char *c) HIDDEN;
char *defuse_ltoa(long v, char buf[24]) HIDDEN;
char *defuse_xtoa(unsigned long v, char buf[24]) HIDDEN;

#endif
