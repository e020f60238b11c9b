/*
 * Internal interface of the capture engine (see docs/capture.md).
 *
 * A captured system call reaches defuse_dispatch() as a struct
 * defuse_syscall, from one of two places:
 *   - a trampoline, when the program executes a patched syscall site
 *     (trampoline.c generates them, stubs.S bridges them to C);
 *   - the SIGSYS handler, when Syscall User Dispatch traps a `syscall`
 *     instruction nobody patched (sigsys.c).
 * Everything reachable from there is "hot" code: no libc, no vector
 * registers, async-signal-safe (src/meson.build builds it so).
 */
#ifndef DEFUSE_CAPTURE_H
#define DEFUSE_CAPTURE_H

#include <stdint.h>
#include <stddef.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* From linux/prctl.h, which clashes with glibc's sys/prctl.h. */
#define PR_SET_SYSCALL_USER_DISPATCH	59
#define PR_SYS_DISPATCH_OFF		0
#define PR_SYS_DISPATCH_ON		1
#define SYSCALL_DISPATCH_FILTER_ALLOW	0
#define SYSCALL_DISPATCH_FILTER_BLOCK	1
#define SYS_USER_DISPATCH		2	/* si_code of SUD's SIGSYS */
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The kernel's struct sigaction (glibc's has another layout). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/* The registers of one system call, in the kernel's order. */
struct defuse_syscall {
	long nr;
	long a[6];
};

/*
 * Per-thread state.  Reached through %fs (initial-exec TLS of the preloaded
 * library), also from generated trampolines, which need the byte offset of
 * sud_selector from the thread pointer (defuse_selector_tpoff).
 *
 * A new thread starts from the TLS image: selector BLOCK, everything else 0.
 */
struct defuse_thread {
	char sud_selector;	/* SUD's per-thread switch; BLOCK but while a
				   trampoline executes clone inline */
	char in_defuse;		/* DEFUSE's own code is running: calls it makes
				   through libc go to the kernel untouched */
	char tracing;		/* this thread's calls are traced */
	char sigsys_blocked;	/* the program believes SIGSYS is blocked */
	char sigsys_pending;	/* a non-SUD SIGSYS arrived while "blocked" */
	char net_armed;		/* SUD is armed in this thread */
	char sig_interruptible;	/* DEFUSE waits in the kernel for the program
				   (a lock): signals are not deferred */
	unsigned long sig_deferred; /* signals that arrived while DEFUSE ran,
				   delivered when it returns (signals.c) */
	char ids_known;		/* defuse_fs_ids_are_real's answer: 0 not
				   known (a set*id call forgets it), 1 yes,
				   2 no */
	char vfork_child;	/* a vfork child: memory shared with the
				   suspended parent (core/fdtable.c) */
	long sigsys_info[16];	/* its siginfo, re-sent on unblock */
	long pid;		/* getpid(), cached per thread: a vfork child
				   shares the parent's memory but not the
				   other threads' TLS */
	long clone_nr;		/* the clone-family call in flight */
	uintptr_t cold_stack;	/* top of the stack cold code runs on
				   (cold_stack.c), or 0 */
	long cold_stack_tid;	/* the thread it was made for */
	uintptr_t prog_sp;	/* the program's stack pointer (about) when
				   cold code was entered */
	long cwd_saved;		/* the core's cwd, kept from a child that
				   shares our memory (core_cwd_save) */
	uint64_t clone_t0;	/* its start time, for the trace */
};

extern __thread struct defuse_thread defuse_self
	__attribute__((tls_model("initial-exec"))) HIDDEN;

/* Process-wide state, written once at start-up. */
struct defuse_global {
	int trace;			/* a trace table or output is attached */
	int follow;			/* trace children and threads (-f) */
	long selector_tpoff;		/* &defuse_self.sud_selector - %fs base */
	char preload_path[512];		/* this library, for LD_PRELOAD at exec */
	int debug;			/* DEFUSE_DEBUG set */
	int net_mode;			/* DEFUSE_NET: NET_AUTO, NET_ON, NET_OFF */
	int net_wanted;			/* threads should have SUD armed; only
					   ever goes from 0 to 1 (see net.c) */
	int test_marker;		/* DEFUSE_TEST_MARKER=1 (tests/capture) */
};
extern struct defuse_global defuse_g HIDDEN;

/* stubs.S */
void defuse_tramp_hook(void) HIDDEN;
/* Runs fn(arg) with the extended state saved, on stack_top if not 0. */
long defuse_call_xsaved(long (*fn)(void *), void *arg, uintptr_t stack_top) HIDDEN;
/* cold_stack.c: this thread's stack for cold code (0: none to be had). */
uintptr_t defuse_cold_stack(void) HIDDEN;
void defuse_cold_stack_exit(void) HIDDEN;
extern long defuse_xsave_size HIDDEN;

/* gate.S: entry points that are not plain calls. */
void defuse_gate_own_sigreturn(void) HIDDEN;
void defuse_gate_forward_sigreturn(void) HIDDEN;
__attribute__((noreturn)) void defuse_gate_forward_sigreturn_at(void *frame) HIDDEN;
/* gate.S: a caught thread-making clone, run after the SIGSYS handler
   returned (sigsys.c); the parent resumes at defuse_sud_clone_resume. */
void defuse_gate_forward_clone(void) HIDDEN;
extern __thread uintptr_t defuse_sud_clone_resume
	__attribute__((tls_model("initial-exec"))) HIDDEN;

/* dispatch.c: the one C entry point for every captured call. */
long defuse_dispatch(struct defuse_syscall *sc) HIDDEN;
long defuse_forward(const struct defuse_syscall *sc) HIDDEN;
/* Hooks the trampolines call around a clone-family call and rt_sigreturn. */
long defuse_clone_before(struct defuse_syscall *sc) HIDDEN;
long defuse_clone_child(struct defuse_syscall *sc) HIDDEN;
long defuse_clone_parent(struct defuse_syscall *sc) HIDDEN;
long defuse_sigreturn_hook(struct defuse_syscall *sc) HIDDEN;
void defuse_dispatch_init(void) HIDDEN;

/*
 * A call DEFUSE answered itself, without the kernel: under
 * DEFUSE_TEST_MARKER=1, tell the outside observer with an invalid call
 * 0xdee(nr) from the own gate, so strace can count what it cannot see.
 */
void defuse_note_emulated(long nr) HIDDEN;
#define DEFUSE_TEST_MARKER_NR	0xdef	/* end of start-up, with the gates */
#define DEFUSE_TEST_EMULATED_NR	0xdee	/* a call answered without the kernel */

/* net.c: when the SUD net is armed. */
enum { NET_AUTO, NET_ON, NET_OFF };
void defuse_net_init(const char *mode) HIDDEN;
void defuse_net_want(const char *why) HIDDEN;
void defuse_net_catch_up(void) HIDDEN;
void defuse_net_watch(const struct defuse_syscall *sc, long ret) HIDDEN;
static inline void defuse_net_check(void)
{
	if (unlikely(defuse_g.net_wanted != defuse_self.net_armed))
		defuse_net_catch_up();
}

/* sigsys.c: the net. */
int defuse_sud_arm(void) HIDDEN;
int defuse_sigsys_install(void) HIDDEN;

/* signals.c: keeps SIGSYS deliverable whatever the program does. */
long defuse_sig_action(struct defuse_syscall *sc) HIDDEN;
long defuse_sig_procmask(struct defuse_syscall *sc) HIDDEN;
long defuse_sig_masked_wait(struct defuse_syscall *sc) HIDDEN;
long defuse_sig_pending(struct defuse_syscall *sc) HIDDEN;
void defuse_sig_chain_app(int sig, void *si, void *uc) HIDDEN;
void defuse_sig_init(const char *exec_state) HIDDEN;
/* Signals that arrive while DEFUSE runs wait until it returns: */
void defuse_sig_flush(void) HIDDEN;		/* ... delivers them */
void defuse_sig_interruptible(int on) HIDDEN;	/* ... but not around a kernel wait */
/* "DEFUSE_SIGSYS=..." carrying the program's SIGSYS state across exec, or NULL. */
const char *defuse_sig_exec_state(void) HIDDEN;

/* exec.c: a new program image is captured again. */
long defuse_exec(struct defuse_syscall *sc) HIDDEN;
void defuse_exec_init(char **envp) HIDDEN;

/* reserved_fd.c: descriptors DEFUSE keeps open inside the program. */
int defuse_fd_reserve(int fd) HIDDEN;
int defuse_fd_release(int fd) HIDDEN;
int defuse_fd_is_reserved(long fd) HIDDEN;
long defuse_fd_guard(struct defuse_syscall *sc) HIDDEN;
long defuse_fd_limit_call(struct defuse_syscall *sc) HIDDEN;
void defuse_fd_after_fork(void) HIDDEN;
extern int defuse_fd_nreserved HIDDEN;

/* objects.c: finds and patches the syscall sites of loaded code. */
void defuse_objects_patch_loaded(void) HIDDEN;
/* Code seen that is not fully patched (refused sites, no plan, ...). */
int defuse_objects_unpatched(void) HIDDEN;
void defuse_objects_mapped(long addr, long len, long prot, long fd, long off) HIDDEN;
long defuse_objects_mapped_cold(void *args) HIDDEN;

/* usermem.c: the program's memory, checked by the kernel (EFAULT, no crash). */
long defuse_read_user(void *dst, const void *src, unsigned long n) HIDDEN;
long defuse_write_user(void *dst, const void *src, unsigned long n) HIDDEN;
int defuse_copy_in(void *dst, const void *src, unsigned long n) HIDDEN;
int defuse_copy_out(void *dst, const void *src, unsigned long n) HIDDEN;
void defuse_usermem_refresh_pid(void) HIDDEN;

/* log.c: diagnostics to stderr through the own gate; never allocates.
   Prints "defuse: " and the non-NULL strings, then a newline. */
void defuse_log(const char *a, const char *b, const char *c) HIDDEN;
char *defuse_ltoa(long v, char buf[24]) HIDDEN;
char *defuse_xtoa(unsigned long v, char buf[24]) HIDDEN;

#endif
