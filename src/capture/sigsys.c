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
#include "common/sys.h"
#include "trace/trace.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

int defuse_sud_arm(void)
{
	long r = sys5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
		      defuse_gate_begin, defuse_gate_end - defuse_gate_begin,
		      &defuse_self.sud_selector);
	if (sys_failed(r)) {
		char b[24];
		defuse_log("cannot arm Syscall User Dispatch: error ",
			   defuse_ltoa(-r, b), " (unpatched code escapes capture)");
		return -1;
	}
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
static long trapped_clone(struct defuse_syscall *sc)
{
	struct clone_args ca;
	long r;
	uint64_t t0 = defuse_self.tracing ? trace_now() : 0;
	struct defuse_syscall call = *sc;

	if (defuse_self.tracing)
		trace_count(sc->nr);

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
				   (unsigned long)sc->a[1]))
			return -EFAULT;
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
	r = defuse_forward(&call);
	if (r == 0) {
		defuse_clone_child(sc);
		return 0;
	}
	if (defuse_self.tracing)
		trace_record(sc, r, trace_now() - t0, 1);
	return r;

unsupported:
	/*
	 * A thread made by a raw clone instruction would start on a new stack
	 * inside this handler.  Not supported yet: refuse loudly rather than
	 * crash in the child.
	 */
	defuse_log("raw clone with CLONE_VM and a new stack outside libc is not "
		   "supported; returning ENOSYS", NULL, NULL);
	return -ENOSYS;
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
	case SYS_vfork:
		g[REG_RAX] = trapped_clone(&sc);
		return;
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
