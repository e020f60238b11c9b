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

#include "kernel/kernel.h"

/* From linux/prctl.h, which clashes with glibc's sys/prctl.h. */
#define PR_SET_SYSCALL_USER_DISPATCH	59
#define PR_SYS_DISPATCH_OFF		0
#define PR_SYS_DISPATCH_ON		1
#define SYSCALL_DISPATCH_FILTER_ALLOW	0
#define SYSCALL_DISPATCH_FILTER_BLOCK	1
#define SYS_USER_DISPATCH		2	/* si_code of SUD's SIGSYS */

/* The kernel's struct sigaction (glibc's has another layout). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/* Capture's process-wide state, written at start-up (init.c, net.c). */
struct capture_global {
	long selector_tpoff;		/* &defuse_self.sud_selector - %fs base */
	int net_mode;			/* DEFUSE_NET: NET_AUTO, NET_ON, NET_OFF */
	int net_wanted;			/* threads should have SUD armed; only
					   ever goes from 0 to 1 (see net.c) */
};
extern struct capture_global capture_g HIDDEN;

/* stubs.S */
void defuse_tramp_hook(void) HIDDEN;
/* Runs fn(arg) with the extended state saved, on stack_top if not 0. */
long defuse_call_xsaved(long (*fn)(void *), void *arg, uintptr_t stack_top) HIDDEN;
/* init.c: getenv without libc's code (start-up only, as getenv). */
const char *defuse_getenv(const char *name) HIDDEN;

/* cold_stack.c: this thread's stack for cold code (0: none to be had). */
uintptr_t defuse_cold_stack(void) HIDDEN;
void defuse_cold_stack_exit(void) HIDDEN;
void defuse_cold_stack_handover(struct defuse_thread *to) HIDDEN;
extern long defuse_xsave_size HIDDEN;
extern long defuse_xsave_compact HIDDEN;	/* XSAVEC (init.c) */

/* gate.S: entry points that are not plain calls. */
void defuse_gate_own_sigreturn(void) HIDDEN;
void defuse_gate_forward_sigreturn(void) HIDDEN;
__attribute__((noreturn)) void defuse_gate_forward_sigreturn_at(void *frame) HIDDEN;

/* dispatch.c: the one C entry point for every captured call. */
long defuse_dispatch(struct defuse_syscall *sc) HIDDEN;
/*
 * Runs ordinary C (the core, a module, the planner's output parser, malloc)
 * from a syscall site: the program's vector registers are saved around it,
 * it runs on DEFUSE's own stack, and the calls it makes through libc pass
 * straight to the kernel.
 */
long defuse_call_cold(long (*fn)(void *), void *arg) HIDDEN;

/* sharers.c: threads on another thread's TLS block (kernel.h: tls_shared). */
int defuse_tls_mine(void) HIDDEN;
/* The block the program's code runs on: ours, or the one we share. */
struct defuse_thread *defuse_program_self(void) HIDDEN;
long defuse_sharers_prepare(void *unused) HIDDEN;	/* cold */
void defuse_sharers_unwanted(void) HIDDEN;
void defuse_sharers_after_fork(void) HIDDEN;
void defuse_exit_traced(const struct defuse_syscall *sc) HIDDEN;	/* dispatch.c */
long defuse_sharer_call(long (*fn)(struct defuse_syscall *), struct defuse_syscall *sc) HIDDEN;
void defuse_sharer_program_tls(void (*fn)(int, void *, void *), int sig, void *si,
			       void *uc) HIDDEN;
/* A thread running on a TLS block it does not own? */
static inline int defuse_on_foreign_tls(void)
{
	return unlikely(defuse_self.tls_shared) && !defuse_tls_mine();
}
/* Hooks the trampolines call around a clone-family call and rt_sigreturn. */
long defuse_clone_before(struct defuse_syscall *sc) HIDDEN;
long defuse_clone_child(struct defuse_syscall *sc) HIDDEN;
long defuse_clone_parent(struct defuse_syscall *sc) HIDDEN;
long defuse_sigreturn_hook(struct defuse_syscall *sc) HIDDEN;


/* net.c: when the SUD net is armed. */
enum { NET_AUTO, NET_ON, NET_OFF };
void defuse_net_init(const char *mode) HIDDEN;
void defuse_net_want(const char *why) HIDDEN;
void defuse_net_catch_up(void) HIDDEN;
void defuse_net_watch(const struct defuse_syscall *sc, long ret) HIDDEN;
static inline void defuse_net_check(void)
{
	if (unlikely(capture_g.net_wanted != defuse_self.net_armed))
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
/* The process has mappings of emulated files: signals that would end it
   unhandled write their pages back first (core/pager.c). */
void defuse_sig_catch_fatal(void) HIDDEN;
/* Signals that arrive while DEFUSE runs wait until it returns: */
void defuse_sig_flush(void) HIDDEN;		/* ... delivers them */
void defuse_sig_thread_exit(void) HIDDEN;	/* the thread's record of them goes */
/* "DEFUSE_SIGSYS=..." carrying the program's SIGSYS state across exec, or NULL. */
const char *defuse_sig_exec_state(void) HIDDEN;

/* exec.c: a new program image is captured again. */
long defuse_exec(struct defuse_syscall *sc) HIDDEN;
void defuse_exec_init(char **envp) HIDDEN;


/* objects.c: finds and patches the syscall sites of loaded code. */
void defuse_objects_patch_loaded(void) HIDDEN;
/* Code seen that is not fully patched (refused sites, no plan, ...). */
int defuse_objects_unpatched(void) HIDDEN;
void defuse_objects_mapped(long addr, long len, long prot, long fd, long off) HIDDEN;
long defuse_objects_mapped_cold(void *args) HIDDEN;


#endif
