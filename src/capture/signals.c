/*
 * SIGSYS belongs to DEFUSE.
 *
 * The kernel delivers SUD's SIGSYS by force: if the thread has SIGSYS
 * blocked, or its disposition is not our handler, the process dies.  So the
 * program may never really block SIGSYS nor replace the handler.  What the
 * program asks for is kept here instead (its SIGSYS action, and per thread
 * whether it believes SIGSYS is blocked), shown back to it when it asks, and
 * honoured when a SIGSYS that is not SUD's arrives (kill, seccomp).
 */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ucontext.h>
#include "capture/capture.h"
#include "kernel/sys.h"
#include "core/entry.h"
#include "common/exec_layout.h"

#define SIGSYS_BIT (1UL << (SIGSYS - 1))
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

/*
 * The program's handlers run behind a wrapper, so that none runs while
 * DEFUSE itself does (in_defuse: the core, a module).  A handler may do I/O
 * on a mount; were it to run in the middle of the core, it could wait for
 * a lock its own thread holds (an open file description's futex, a module's
 * mutex) or find a structure half-changed.  So a signal that arrives then is
 * deferred: its siginfo is kept, the signal stays blocked in the thread when
 * the wrapper returns (the interrupted context's mask), and when DEFUSE
 * returns to the program (dispatch.c: call_cold) it is queued again with the
 * same siginfo and unblocked, so the handler runs as if the signal had come
 * just after the call.  The one exception is a wait in the kernel on the
 * program's behalf (a blocking lock: sig_interruptible), where the handler
 * runs at once and the wait ends with EINTR or restarts (SA_RESTART), as the
 * kernel's own wait would.
 */
#define NSIGS 65
static struct ksigaction app_act[NSIGS];	/* the program's, while wrapped */
/*
 * The siginfo of each deferred signal, per thread: mapped at the thread's
 * first deferral, not kept in static TLS, where its 8 KiB would be zeroed
 * (and its pages faulted in) at every start and in every new thread for
 * an event most threads never see.  Given back when the thread exits
 * (defuse_sig_thread_exit).
 */
#define DEFERRED_BYTES (NSIGS * 16 * sizeof(long))
static __thread long (*deferred_info)[16] __attribute__((tls_model("initial-exec")));
static __thread long deferred_tid __attribute__((tls_model("initial-exec")));

/* Keeps si for signal sig; without memory, the flush sends it bare. */
static void defer_info(int sig, const void *si)
{
	if (!deferred_info) {
		long p = sys6(SYS_mmap, 0, DEFERRED_BYTES, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (sys_failed(p))
			return;
		deferred_info = (long (*)[16])p;
		deferred_tid = sys0(SYS_gettid);
	}
	__builtin_memcpy(deferred_info[sig], si, sizeof(deferred_info[sig]));
}

void defuse_sig_thread_exit(void)
{
	struct defuse_thread *self = &defuse_self;

	/* Not a vfork child's or a TLS-sharing clone's: the owner's. */
	if (!deferred_info || self->vfork_child || deferred_tid != sys0(SYS_gettid))
		return;
	sys2(SYS_munmap, deferred_info, DEFERRED_BYTES);
	deferred_info = NULL;
}

static int is_handler(const void *h)
{
	return h != SIG_DFL && h != SIG_IGN;
}

/* Faults: DEFUSE's own handler stays installed for them (fault_handler). */
static int is_fault_sig(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS;
}

static void call_app(int sig, void *si, void *uc)
{
	struct ksigaction act = app_act[sig];

	if (act.flags & SA_RESETHAND) {
		/* Not left to the kernel: a deferred signal must still find
		   the handler when it comes again.  A fault's handler stays
		   DEFUSE's, now acting for the default. */
		struct ksigaction dfl = { SIG_DFL, 0, NULL, 0 };

		if (!is_fault_sig(sig))
			sys4(SYS_rt_sigaction, sig, &dfl, NULL, 8);
		app_act[sig].handler = SIG_DFL;
	}
	if (!is_handler(act.handler))
		return;		/* changed meanwhile by another thread */
	if (act.flags & SA_SIGINFO)
		((void (*)(int, void *, void *))act.handler)(sig, si, uc);
	else
		((void (*)(int))act.handler)(sig);
}

/*
 * A fault of the interrupted code itself cannot wait: the instruction would
 * fault again with the signal blocked, and the kernel would kill the
 * process.  Its handler runs at once, as without DEFUSE.
 */
static int synchronous(int sig, const void *si)
{
	int code = ((const siginfo_t *)si)->si_code;

	return code > 0 && code != SI_KERNEL &&
	       (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
		sig == SIGTRAP);
}

/* The program's handler, on the thread pointer its code runs with (not
   the block lent to a sharer inside DEFUSE: sharers.c). */
static void call_app_here(int sig, void *si, void *uc)
{
	if (unlikely(defuse_self.program_tp))
		defuse_sharer_program_tls(call_app, sig, si, uc);
	else
		call_app(sig, si, uc);
}

static void wrapper(int sig, void *si, void *uc)
{
	struct defuse_thread *self = &defuse_self;
	char was, intr;

	/* A sharer in its program code, on its parent's block: DEFUSE's
	   state there is the parent's; the sharer is outside DEFUSE. */
	if (defuse_on_foreign_tls()) {
		call_app(sig, si, uc);
		return;
	}
	if (self->in_defuse && !self->sig_interruptible && !synchronous(sig, si)) {
		defer_info(sig, si);
		self->sig_deferred |= 1UL << (sig - 1);
		((ucontext_t *)uc)->uc_sigmask.__val[0] |= 1UL << (sig - 1);
		return;
	}
	was = self->in_defuse;
	intr = self->sig_interruptible;
	self->in_defuse = 0;
	self->sig_interruptible = 0;
	if (intr)
		self->sig_taken = 1;	/* defuse_sig_interruptible(0) tells */
	call_app_here(sig, si, uc);
	self->in_defuse = was;
	self->sig_interruptible = intr;
}

/*
 * Pages written through mappings of emulated files live in the process
 * until the pager writes them back (core/pager.c): a signal that ends the
 * process unhandled would lose them.  So once the process has such a
 * mapping, every signal whose default action ends the process and that
 * the program leaves at SIG_DFL gets this handler: the pages go back,
 * the default action is put back and the signal sent again with its
 * siginfo, so the process ends of it as it would have (status, core
 * dump).  sigaction shows the program SIG_DFL.  Not SIGKILL: nothing runs
 * then (docs/paging.md says what is lost).
 */
static int catching_fatal;

static int ends_process(int sig)
{
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
	case SIGURG: case SIGWINCH: case SIGKILL: case SIGSYS: case SIGSEGV: case SIGBUS:
		return 0;
	}
	return sig > 0 && sig < NSIGS;
}

static void write_back_before_dying(void)
{
	if (unlikely(core_nmounts) && !defuse_self.in_defuse && !defuse_self.vfork_child)
		defuse_call_cold(core_pager_flush, NULL);
}

static void fatal_handler(int sig, void *si, void *uc)
{
	struct defuse_thread *self = &defuse_self;
	struct ksigaction dfl = { SIG_DFL, 0, NULL, 0 };

	if (defuse_on_foreign_tls()) {
		/* A sharer outside DEFUSE: its handler, or the default action
		   without the write-back (the pages are its parent's, which
		   lives on). */
		if (is_handler(app_act[sig].handler)) {
			call_app(sig, si, uc);
			return;
		}
		if (app_act[sig].handler == SIG_IGN)
			return;
		sys4(SYS_rt_sigaction, sig, &dfl, NULL, 8);
		if (!synchronous(sig, si))
			sys4(SYS_rt_tgsigqueueinfo, sys0(SYS_getpid), sys0(SYS_gettid), sig, si);
		return;
	}
	if (self->in_defuse && !self->sig_interruptible && !synchronous(sig, si)) {
		/* Later, when DEFUSE returns to the program (as wrapper). */
		defer_info(sig, si);
		self->sig_deferred |= 1UL << (sig - 1);
		((ucontext_t *)uc)->uc_sigmask.__val[0] |= 1UL << (sig - 1);
		return;
	}
	if (is_handler(app_act[sig].handler)) {
		wrapper(sig, si, uc);	/* the program's, set meanwhile */
		return;
	}
	if (app_act[sig].handler == SIG_IGN)
		return;
	write_back_before_dying();
	sys4(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	/* Blocked until this handler returns, then it ends the process. */
	if (!synchronous(sig, si))
		sys4(SYS_rt_tgsigqueueinfo, sys0(SYS_getpid), sys0(SYS_gettid), sig, si);
}

static struct ksigaction fatal_action(void)
{
	struct ksigaction k = { (void *)fatal_handler, SA_SIGINFO | SA_RESTORER,
				(void *)defuse_gate_own_sigreturn, 0 };

	return k;
}

void defuse_sig_catch_fatal(void)
{
	if (__atomic_exchange_n(&catching_fatal, 1, __ATOMIC_RELAXED))
		return;
	for (int sig = 1; sig < NSIGS; sig++) {
		struct ksigaction old, k = fatal_action();

		if (!ends_process(sig) ||
		    sys_failed(sys4(SYS_rt_sigaction, sig, NULL, &old, 8)) ||
		    old.handler != SIG_DFL)
			continue;
		app_act[sig] = old;
		sys4(SYS_rt_sigaction, sig, &k, NULL, 8);
	}
}

/*
 * SIGSEGV and SIGBUS always reach this handler first, whatever the
 * program's action, so that a load of DEFUSE's probe (kernel/probe.S) that
 * faults on a bad pointer of the program's resumes at its EFAULT exit
 * instead of killing the program: the kernel would have said EFAULT.  Any
 * other fault is the program's: its handler runs as through the wrapper;
 * with the default action (or SIGSEGV ignored, which the kernel does not
 * honour for a fault) the action becomes the default and the instruction
 * faults again, so the process dies of it as it would have, core dump and
 * all; a SIGSEGV sent by kill is sent again.  Costs: /proc/PID/status
 * shows the two as caught, and an ignored SIGSEGV or SIGBUS is not kept
 * across exec.
 */
static void fault_handler(int sig, void *si, void *uc)
{
	ucontext_t *u = uc;
	uintptr_t ip = u->uc_mcontext.gregs[REG_RIP];
	struct ksigaction dfl = { SIG_DFL, 0, NULL, 0 };

	if (ip >= (uintptr_t)defuse_probe_begin && ip < (uintptr_t)defuse_probe_end) {
		u->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)defuse_probe_fault;
		return;
	}
	if (is_handler(app_act[sig].handler)) {
		wrapper(sig, si, uc);
		return;
	}
	if (!synchronous(sig, si) && app_act[sig].handler == SIG_IGN)
		return;
	if (catching_fatal)
		write_back_before_dying();
	sys4(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	if (!synchronous(sig, si))
		sys3(SYS_tgkill, sys0(SYS_getpid), sys0(SYS_gettid), sig);
}

/* The kernel's action for a fault: the program's flags, mask and restorer
   (ours when it set none), DEFUSE's handler. */
static struct ksigaction fault_action(const struct ksigaction *app)
{
	struct ksigaction k = *app;

	k.handler = (void *)fault_handler;
	k.flags = (app->flags | SA_SIGINFO) & ~SA_RESETHAND;
	k.mask &= ~SIGSYS_BIT;
	if (!(k.flags & SA_RESTORER)) {
		k.flags |= SA_RESTORER;
		k.restorer = (void *)defuse_gate_own_sigreturn;
	}
	return k;
}

/* At start-up: the fault handler in; the action found (the default,
   ignored through exec, or a handler a sanitizer runtime set before
   DEFUSE started) kept as the program's. */
static void fault_init(int sig)
{
	struct ksigaction dfl = { SIG_DFL, 0, NULL, 0 }, old, k = fault_action(&dfl);

	/* One call sets ours and tells what was there; a handler found (rare)
	   takes a second one, with its flags and mask. */
	if (sys_failed(sys4(SYS_rt_sigaction, sig, &k, &old, 8)))
		return;
	/* The default, all zeros, is what app_act holds already: not
	   written, its .bss page is not faulted in at every start. */
	if (old.handler || old.flags || old.restorer || old.mask)
		app_act[sig] = old;
	if (is_handler(old.handler)) {
		k = fault_action(&old);
		sys4(SYS_rt_sigaction, sig, &k, NULL, 8);
	}
}

void defuse_sig_flush(void)
{
	unsigned long set = defuse_self.sig_deferred;
	long pid = sys0(SYS_getpid), tid = sys0(SYS_gettid);

	defuse_self.sig_deferred = 0;
	for (int sig = 1; sig < NSIGS; sig++) {
		if (!(set & (1UL << (sig - 1))))
			continue;
		if (deferred_info)
			sys4(SYS_rt_tgsigqueueinfo, pid, tid, sig, deferred_info[sig]);
		else
			sys3(SYS_tgkill, pid, tid, sig);
	}
	sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, 8);
}

/*
 * The program's SIGSYS action.  Not locked: two threads setting it at the
 * same moment could mix their fields, where the kernel would serialise
 * them.  No known program does that with SIGSYS.
 */
static struct ksigaction app_sigsys EXEC_DATA;

/*
 * Across exec the kernel keeps an ignored disposition and the signal mask,
 * but it only ever saw DEFUSE's handler and an unblocked SIGSYS.  The
 * program's view travels in DEFUSE_SIGSYS (exec.c puts it in the new
 * environment) and is restored here.
 */
EXEC_PATH const char *defuse_sig_exec_state(void)
{
	int ign = app_sigsys.handler == SIG_IGN, blocked = defuse_self.sigsys_blocked;

	if (ign && blocked)
		return "DEFUSE_SIGSYS=ignored,blocked";
	if (ign)
		return "DEFUSE_SIGSYS=ignored";
	if (blocked)
		return "DEFUSE_SIGSYS=blocked";
	return NULL;
}

static int has_word(const char *s, const char *w)
{
	for (; s && *s; s++) {
		const char *a = s, *b = w;

		while (*b && *a == *b)
			a++, b++;
		if (!*b && (*a == ',' || !*a))
			return 1;
		while (*s && *s != ',')
			s++;
		if (!*s)
			break;
	}
	return 0;
}

void defuse_sig_init(const char *exec_state)
{
	struct ksigaction old;
	unsigned long mask = 0;

	if (has_word(exec_state, "ignored"))
		app_sigsys.handler = SIG_IGN;
	if (has_word(exec_state, "blocked"))
		defuse_self.sigsys_blocked = 1;

	fault_init(SIGSEGV);
	fault_init(SIGBUS);
	/* An ignored SIGSYS survives exec: remember it as the program's. */
	if (!sys_failed(sys4(SYS_rt_sigaction, SIGSYS, NULL, &old, 8)) &&
	    old.handler == SIG_IGN)
		app_sigsys.handler = SIG_IGN;
	/* So does a blocked one: unblock it for real, keep it blocked for show. */
	if (!sys_failed(sys4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, 8)) &&
	    (mask & SIGSYS_BIT)) {
		defuse_self.sigsys_blocked = 1;
		mask = SIGSYS_BIT;
		sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &mask, NULL, 8);
	}
}

/* Any other signal: the program's handler goes behind the wrapper. */
static long other_action(struct defuse_syscall *sc, int sig, const struct ksigaction *act)
{
	void *uold = (void *)sc->a[2];
	struct ksigaction k, old, prev = app_act[sig];
	long r;

	if (act) {
		k = *act;
		k.mask &= ~SIGSYS_BIT;
		if (is_fault_sig(sig)) {
			k = fault_action(act);
			app_act[sig] = *act;
		} else if (act->handler == SIG_DFL && catching_fatal && ends_process(sig)) {
			k = fatal_action();
			app_act[sig] = *act;
		} else if (is_handler(act->handler)) {
			k.handler = (void *)wrapper;
			k.flags = (act->flags | SA_SIGINFO) & ~SA_RESETHAND;
			app_act[sig] = *act;
		}
		sc->a[1] = (long)&k;
	}
	sc->a[2] = uold ? (long)&old : 0;
	r = defuse_forward(sc);
	if (sys_failed(r)) {
		app_act[sig] = prev;
		return r;
	}
	if (!uold)
		return r;
	if (old.handler == (void *)wrapper || old.handler == (void *)fault_handler ||
	    old.handler == (void *)fatal_handler)
		old = prev;
	return defuse_copy_out(uold, &old, sizeof(old)) ? -EFAULT : r;
}

long defuse_sig_action(struct defuse_syscall *sc)
{
	int sig = sc->a[0];
	const void *uact = (const void *)sc->a[1];
	void *uold = (void *)sc->a[2];
	struct ksigaction act, old;

	if ((unsigned long)sc->a[3] != 8 || sig <= 0 || sig >= NSIGS ||
	    sig == SIGKILL || sig == SIGSTOP)
		return defuse_forward(sc);
	if (uact && defuse_copy_in(&act, uact, sizeof(act)))
		return -EFAULT;
	if (sig != SIGSYS)
		return other_action(sc, sig, uact ? &act : NULL);
	defuse_note_emulated(sc->nr);
	old = app_sigsys;
	if (uold && defuse_copy_out(uold, &old, sizeof(old)))
		return -EFAULT;
	if (!uact)
		return 0;	/* a query: the program's view */
	app_sigsys = act;
	app_sigsys.mask &= ~SIGSYS_BIT;
	if (act.handler == SIG_IGN)
		defuse_self.sigsys_pending = 0;
	return 0;
}

/*
 * A SIGSYS held back while the program had it blocked is sent again, with
 * its original siginfo, once the program unblocks it.
 */
static void redeliver_if_unblocked(void)
{
	if (!defuse_self.sigsys_pending || defuse_self.sigsys_blocked)
		return;
	defuse_self.sigsys_pending = 0;
	sys4(SYS_rt_tgsigqueueinfo, sys0(SYS_getpid), sys0(SYS_gettid), SIGSYS,
	     defuse_self.sigsys_info);
}

long defuse_sig_procmask(struct defuse_syscall *sc)
{
	int how = sc->a[0];
	const void *uset = (const void *)sc->a[1];
	unsigned long *uold = (unsigned long *)sc->a[2];
	unsigned long set, old;
	char was_blocked = defuse_self.sigsys_blocked;
	long r;

	if ((unsigned long)sc->a[3] != 8)
		return defuse_forward(sc);
	if (uset) {
		if (defuse_copy_in(&set, uset, sizeof(set)))
			return -EFAULT;
		if (set & SIGSYS_BIT) {
			if (how == SIG_BLOCK || how == SIG_SETMASK)
				defuse_self.sigsys_blocked = how != SIG_UNBLOCK;
			else if (how == SIG_UNBLOCK)
				defuse_self.sigsys_blocked = 0;
			set &= ~SIGSYS_BIT;
			sc->a[1] = (long)&set;
		} else if (how == SIG_SETMASK) {
			defuse_self.sigsys_blocked = 0;
		}
	}
	if (uold)
		sc->a[2] = (long)&old;
	r = defuse_forward(sc);
	if (sys_failed(r)) {
		defuse_self.sigsys_blocked = was_blocked;
		return r;
	}
	redeliver_if_unblocked();
	if (!uold)
		return r;
	if (was_blocked)
		old |= SIGSYS_BIT;
	return defuse_copy_out(uold, &old, sizeof(old)) ? -EFAULT : r;
}

long defuse_sig_pending(struct defuse_syscall *sc)
{
	unsigned long set;
	long r;

	if ((unsigned long)sc->a[1] != 8 || !sc->a[0])
		return defuse_forward(sc);
	r = defuse_forward(sc);
	if (sys_failed(r) || !defuse_self.sigsys_pending)
		return r;
	if (defuse_copy_in(&set, (void *)sc->a[0], 8))
		return -EFAULT;
	set |= SIGSYS_BIT;
	return defuse_copy_out((void *)sc->a[0], &set, 8) ? -EFAULT : r;
}

/*
 * While the call waits, the program's view of SIGSYS follows the temporary
 * mask (a handler run meanwhile sees it), and a held-back SIGSYS is let
 * through if the temporary mask unblocks it.
 */
static long wait_with_mask(struct defuse_syscall *sc, int idx, unsigned long *set)
{
	char was = defuse_self.sigsys_blocked;
	long r;

	defuse_self.sigsys_blocked = (*set & SIGSYS_BIT) != 0;
	*set &= ~SIGSYS_BIT;
	sc->a[idx] = (long)set;
	redeliver_if_unblocked();
	r = defuse_forward(sc);
	defuse_self.sigsys_blocked = was;
	return r;
}

/*
 * Calls that install a temporary signal mask while they wait.  Which
 * argument holds the mask, and how it is passed, differs per call.
 */
long defuse_sig_masked_wait(struct defuse_syscall *sc)
{
	unsigned long set;
	int idx;
	struct { const void *p; unsigned long size; } ps;

	switch (sc->nr) {
	case SYS_rt_sigsuspend:
		idx = 0;
		break;
	case SYS_ppoll:
		idx = 3;
		break;
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
		idx = 4;
		break;
	case SYS_pselect6:
		/* The sixth argument points at {const sigset_t *ss; size_t len}. */
		if (!sc->a[5])
			return defuse_forward(sc);
		if (defuse_copy_in(&ps, (void *)sc->a[5], sizeof(ps)))
			return -EFAULT;
		if (!ps.p || ps.size != 8)
			return defuse_forward(sc);
		if (defuse_copy_in(&set, ps.p, 8))
			return -EFAULT;
		{
			char was = defuse_self.sigsys_blocked;
			long r;

			defuse_self.sigsys_blocked = (set & SIGSYS_BIT) != 0;
			set &= ~SIGSYS_BIT;
			ps.p = &set;
			sc->a[5] = (long)&ps;
			redeliver_if_unblocked();
			r = defuse_forward(sc);
			defuse_self.sigsys_blocked = was;
			return r;
		}
	default:
		return defuse_forward(sc);
	}
	if (!sc->a[idx])
		return defuse_forward(sc);
	if (defuse_copy_in(&set, (void *)sc->a[idx], 8))
		return -EFAULT;
	return wait_with_mask(sc, idx, &set);
}

/*
 * A SIGSYS that is not SUD's: do what the program's own disposition says,
 * with the mask its sigaction asked for.
 */
void defuse_sig_chain_app(int sig, void *si, void *uc)
{
	struct ksigaction act = app_sigsys;
	unsigned long mask, saved;
	char was_blocked = defuse_self.sigsys_blocked;

	if (act.handler == SIG_IGN)
		return;
	if (defuse_self.sigsys_blocked) {
		/* Blocked, as far as the program knows: keep it pending. */
		__builtin_memcpy(defuse_self.sigsys_info, si, sizeof(defuse_self.sigsys_info));
		defuse_self.sigsys_pending = 1;
		return;
	}
	if (act.handler == SIG_DFL) {
		/* Die of SIGSYS as the program would: default action, re-raise;
		   the signal is delivered when this handler returns. */
		struct ksigaction dfl = { SIG_DFL, 0, NULL, 0 };
		sys4(SYS_rt_sigaction, SIGSYS, &dfl, NULL, 8);
		sys3(SYS_tgkill, sys0(SYS_getpid), sys0(SYS_gettid), SIGSYS);
		return;
	}
	if (act.flags & SA_RESETHAND)
		app_sigsys.handler = SIG_DFL;
	mask = act.mask & ~SIGSYS_BIT;
	sys4(SYS_rt_sigprocmask, SIG_BLOCK, &mask, &saved, 8);
	if (!(act.flags & SA_NODEFER))
		defuse_self.sigsys_blocked = 1;
	if (act.flags & SA_SIGINFO)
		((void (*)(int, void *, void *))act.handler)(sig, si, uc);
	else
		((void (*)(int))act.handler)(sig);
	defuse_self.sigsys_blocked = was_blocked;
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, &saved, NULL, 8);
}
