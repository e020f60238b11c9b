/*
 * The net: Syscall User Dispatch.
 *
 * Every thread arms SUD with the gate section (gate.S) as the allowed range
 * and its own selector byte set to BLOCK, so any `syscall` instruction
 * outside the gates, patched or not, traps with SIGSYS before the kernel
 * runs it.  The handler runs the call through defuse_dispatch() and writes
 * the result into the interrupted context, so to the program the trap looks
 * exactly like the system call.
 *
 * The handler is installed with SA_NODEFER and an empty mask: a call that
 * blocks (read on a pipe) must stay interruptible by the program's signals,
 * and a trap inside one of the program's handlers that interrupted us must
 * not find SIGSYS blocked, which would make the kernel kill the process.
 */
#include <errno.h>
#include <signal.h>
#include <ucontext.h>
#include <linux/sched.h>

#ifndef CLONE_ARGS_SIZE_VER0
#define CLONE_ARGS_SIZE_VER0 64
#endif
#include "capture/capture.h"
#include "kernel/sys.h"
#include "trace/trace.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

int defuse_sud_arm(void)
{
	long r = sys5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		      defuse_gate_begin, defuse_gate_end - defuse_gate_begin,
		      /* the byte the trampolines flip: on the program's
			 block, also for a sharer (sharers.c) */
		      &defuse_program_self()->sud_selector);
	if (sys_failed(r)) {
		char b[24];
		defuse_log("cannot arm Syscall User Dispatch: error ",
			   defuse_ltoa(-r, b), " (unpatched code escapes capture)");
		return -1;
	}
	return 0;
}


/*
 * The stack a thread-making clone (CLONE_VM) gives its child: its top, or 0
 * when there is none or it cannot be read.
 */
static uintptr_t child_stack_top(const struct defuse_syscall *sc)
{
	struct clone_args ca;

	if (sc->nr == SYS_clone)
		return sc->a[1];
	if ((unsigned long)sc->a[1] < CLONE_ARGS_SIZE_VER0)
		return 0;
	__builtin_memset(&ca, 0, sizeof(ca));
	if (defuse_copy_in(&ca, (void *)sc->a[0], CLONE_ARGS_SIZE_VER0))
		return 0;
	return ca.stack ? ca.stack + ca.stack_size : 0;
}

/*
 * A thread-making clone caught by the net: the child cannot start inside
 * this handler, so the clone runs after the handler returns, from
 * defuse_gate_forward_clone (gate.S).  The child's resume address goes just
 * below its stack top, which it does not use yet.  Returns 0, or -errno
 * for the program when there is no stack to start the child on.
 */
static long clone_after_handler(const struct defuse_syscall *sc, greg_t *g)
{
	uintptr_t top = child_stack_top(sc), resume = g[REG_RIP];

	if (!top)
		return -ENOSYS;
	if (defuse_copy_out((void *)(top - sizeof(resume)), &resume, sizeof(resume)))
		return -EFAULT;
	defuse_sud_clone_resume = resume;
	g[REG_RIP] = (greg_t)defuse_gate_forward_clone;
	return 0;
}

/*
 * A clone-family call caught by the net (a raw `syscall` in the program).
 * Children that get their own copy of memory come back here and simply
 * return through the signal frame.  A vfork child would share this very
 * stack with its suspended parent and wreck the parent's signal frame, so
 * vfork is run as a fork that still suspends the parent (CLONE_VFORK
 * without CLONE_VM).  A conforming program cannot tell: POSIX leaves what
 * a vfork child writes to memory undefined.
 */
#define TRAPPED_THREAD 1L	/* not a result: run it after the handler */

static long trapped_clone(struct defuse_syscall *sc)
{
	struct clone_args ca;
	long r;
	uint64_t t0 = defuse_self.tracing ? trace_now() : 0;
	struct defuse_syscall call = *sc;

	switch (sc->nr) {
	case SYS_vfork:
		call.nr = SYS_clone;
		call.a[0] = CLONE_VFORK | SIGCHLD;
		call.a[1] = 0;
		break;
	case SYS_clone:
		if ((sc->a[0] & CLONE_VM) && sc->a[1] == 0 && (sc->a[0] & CLONE_VFORK))
			call.a[0] &= ~CLONE_VM;
		else if (sc->a[0] & CLONE_VM)
			goto unsupported;
		break;
	case SYS_clone3:
		/* Too small: the kernel rejects it.  Larger than we know:
		   only the flags (the first field) can be looked at. */
		if ((unsigned long)sc->a[1] < CLONE_ARGS_SIZE_VER0)
			break;
		__builtin_memset(&ca, 0, sizeof(ca));
		if (defuse_copy_in(&ca, (void *)sc->a[0],
				   (unsigned long)sc->a[1] > sizeof(ca) ? sizeof(ca.flags) :
				   (unsigned long)sc->a[1])) {
			r = -EFAULT;
			goto done;
		}
		if ((unsigned long)sc->a[1] > sizeof(ca)) {
			if (ca.flags & CLONE_VM)
				goto unsupported;
			break;
		}
		if ((ca.flags & CLONE_VM) && !ca.stack && (ca.flags & CLONE_VFORK))
			ca.flags &= ~CLONE_VM;
		else if (ca.flags & CLONE_VM)
			goto unsupported;
		call.a[0] = (long)&ca;
		break;
	default:
		break;
	}
	if (defuse_self.tracing)
		trace_count(sc->nr);
	r = defuse_forward(&call);
	if (r == 0) {
		defuse_clone_child(sc);
		return 0;
	}
	if (defuse_self.tracing)
		trace_record(sc, r, trace_now() - t0, 1);
	return r;

done:
	if (defuse_self.tracing) {
		trace_count(sc->nr);
		trace_record(sc, r, trace_now() - t0, 1);
	}
	return r;

unsupported:
	/* Counted by defuse_clone_before, when it runs. */
	return TRAPPED_THREAD;
}

static void sigsys_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	struct defuse_syscall sc;

	if (si->si_code != SYS_USER_DISPATCH) {
		defuse_sig_chain_app(sig, si, uc);
		return;
	}
	sc.nr = g[REG_RAX];
	sc.a[0] = g[REG_RDI];
	sc.a[1] = g[REG_RSI];
	sc.a[2] = g[REG_RDX];
	sc.a[3] = g[REG_R10];
	sc.a[4] = g[REG_R8];
	sc.a[5] = g[REG_R9];

	switch (sc.nr) {
	case SYS_rt_sigreturn:
		defuse_sigreturn_hook(&sc);
		defuse_gate_forward_sigreturn_at((void *)g[REG_RSP]);
	case SYS_clone:
	case SYS_clone3:
	case SYS_fork:
	case SYS_vfork: {
		long r = trapped_clone(&sc);

		if (r == TRAPPED_THREAD) {
			/* %rax keeps the number for the clone that follows. */
			r = clone_after_handler(&sc, g);
			if (r == 0)
				return;
			defuse_log("a caught clone that makes a thread has no stack "
				   "to start it on", NULL, NULL);
		}
		g[REG_RAX] = r;
		return;
	}
	default:
		g[REG_RAX] = defuse_dispatch(&sc);
	}
}

int defuse_sigsys_install(void)
{
	struct ksigaction act = {
		.handler = (void *)sigsys_handler,
		.flags = SA_SIGINFO | SA_NODEFER | SA_RESTORER,
		.restorer = (void *)defuse_gate_own_sigreturn,
		.mask = 0,
	};
	long r = sys4(SYS_rt_sigaction, SIGSYS, &act, NULL, sizeof(act.mask));

	if (sys_failed(r)) {
		defuse_log("cannot install the SIGSYS handler", NULL, NULL);
		return -1;
	}
	return 0;
}
