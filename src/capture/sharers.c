/*
 * Threads that share a TLS block (kernel.h: tls_shared).
 *
 * A raw clone(CLONE_VM) without CLONE_SETTLS (and without CLONE_VFORK,
 * whose parent waits) starts a child that runs on its parent's thread
 * pointer: stress-ng's dup stressor makes such children with
 * CLONE_VM | CLONE_FILES to race dup2 against its own FIFO open.  Both
 * then reach DEFUSE's per-thread state at the same address.  Shared, it
 * breaks: in_defuse saved and restored by both was left set, which sent
 * every later call of the parent to the kernel untouched; both could run
 * on one cold stack; a signal deferred by the parent was flushed by the
 * child, to the child, and stayed blocked in the parent, whose FIFO open
 * then waited for ever (SIGALRM blocked in wait_for_partner).
 *
 * So such a child gets a TLS block of its own, but only for DEFUSE's code:
 * the program's code keeps the thread pointer it was given, as natively.
 * The blocks are those of parked threads ("donors", made with
 * pthread_create, so libc's part of the block is a real thread's: errno,
 * malloc's cache, stdio's lock owner).  Each sharer holds one donor block
 * (a slot) for its life: at each entry (dispatch.c, the clone hooks) it
 * switches %fs to the block, runs DEFUSE, and switches back.  The block's
 * owner (tls_owner) runs on its own block as always; telling the two apart
 * takes a gettid, paid only by threads whose block was ever shared.
 *
 * A slot is freed when its sharer exits through DEFUSE, or, when it died
 * otherwise (SIGKILL), once it no longer shares our memory (kcmp); a
 * donor is made when a sharing clone finds no free slot.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <linux/futex.h>
#include <asm/prctl.h>
#include "capture/capture.h"
#include "kernel/sys.h"

#define SLOTS 64

static struct slot {
	int tid;		/* the sharer using the block; 0 free */
	int ready;		/* the donor is parked: tp may be used */
	uintptr_t tp;		/* the donor's thread pointer */
	struct robust_list_head *robust;	/* libc's list of its robust mutexes */
	size_t robust_len;
} slots[SLOTS];
/* Where libc keeps a thread's ID in its thread block (its debugger
   interface, libthread_db, reads it there); -1: not known. */
static long libc_tid_at = -1;
static int nslots;		/* slots with a donor (made in order) */
static int pending;		/* sharing clones whose child has no slot yet */
static int parked;		/* donors wait on it for ever */

static inline uintptr_t tp_now(void)
{
	uintptr_t tp;

	/* glibc's TCB starts with its own address. */
	__asm__ volatile("mov %%fs:0, %0" : "=r"(tp));
	return tp;
}

static inline void set_fs(uintptr_t tp)
{
	sys2(SYS_arch_prctl, ARCH_SET_FS, tp);
}

/* The defuse_self of the block at tp. */
static struct defuse_thread *self_at(uintptr_t tp)
{
	return (struct defuse_thread *)(tp + ((uintptr_t)&defuse_self - tp_now()));
}

int defuse_tls_mine(void)
{
	return sys0(SYS_gettid) == defuse_self.tls_owner;
}

struct defuse_thread *defuse_program_self(void)
{
	uintptr_t prog = defuse_self.program_tp;

	return prog ? self_at(prog) : &defuse_self;
}

/* A block taken over from another sharer: nothing of its state is ours. */
static void fresh(struct slot *s)
{
	struct defuse_thread *d = self_at(s->tp);

	d->in_defuse = 0;
	d->sig_deferred = 0;
	d->sig_interruptible = 0;
	d->clone_counted = 0;
	d->cwd_saved = 0;
	d->vfork_child = 0;
	d->net_armed = 0;
	d->pid = sys0(SYS_getpid);
	d->tid = sys0(SYS_gettid);
	/*
	 * libc, run on the block, takes it for the sharer's own: a mutex it
	 * locks records the thread ID libc keeps in the block, and goes on
	 * the block's list of robust mutexes.  Both must be the sharer's, or
	 * a sharer killed inside a module holding a process-shared robust
	 * mutex (memfs's segment lock) leaves it held for good under the
	 * donor's ID, which the kernel never sees die.  So the block says the
	 * sharer's ID, and its list, emptied of what an earlier sharer left,
	 * is the one the kernel walks when this sharer dies.
	 */
	if (libc_tid_at >= 0)
		*(int *)(s->tp + libc_tid_at) = d->tid;
	defuse_cold_stack_handover(d);
	if (s->robust) {
		s->robust->list.next = &s->robust->list;
		s->robust->list_op_pending = NULL;
		sys2(SYS_set_robust_list, s->robust, s->robust_len);
	}
}

static struct slot *claim(int tid)
{
	int n = __atomic_load_n(&nslots, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n; i++)
		if (__atomic_load_n(&slots[i].tid, __ATOMIC_ACQUIRE) == tid)
			return &slots[i];
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			struct slot *s = &slots[i];
			int t = __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE);

			if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) ||
			    (t && (pass == 0 || !defuse_task_gone(t))) ||
			    !__atomic_compare_exchange_n(&s->tid, &t, tid, 0, __ATOMIC_ACQ_REL,
							 __ATOMIC_RELAXED))
				continue;
			if (__atomic_load_n(&pending, __ATOMIC_RELAXED) > 0)
				__atomic_sub_fetch(&pending, 1, __ATOMIC_RELAXED);
			fresh(s);
			return s;
		}
	}
	return NULL;
}

static void *donor_main(void *arg)
{
	struct slot *s = arg;
	unsigned long all = ~0UL;

	/* No signal of the process may land here: the block is lent. */
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	s->tp = tp_now();
	if (sys3(SYS_get_robust_list, 0, &s->robust, &s->robust_len) < 0)
		s->robust = NULL;
	__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
	sys3(SYS_futex, &s->ready, FUTEX_WAKE_PRIVATE, 1);
	/* From here on nothing touches the TLS: the own gate only. */
	for (;;)
		sys4(SYS_futex, &parked, FUTEX_WAIT_PRIVATE, 0, NULL);
	return NULL;
}

/* Cold (libc): one more free slot than sharing clones waiting for one. */
long defuse_sharers_prepare(void *unused)
{
	int want = __atomic_add_fetch(&pending, 1, __ATOMIC_RELAXED), idle = 0;
	pthread_attr_t attr;
	pthread_t t;

	(void)unused;
	if (libc_tid_at < 0) {
		/* {bits, count, offset} of struct pthread's tid (glibc's
		   nptl_db interface); checked against this thread's own. */
		const uint32_t *f = dlsym(RTLD_DEFAULT, "_thread_db_pthread_tid");

		if (f && f[0] == 32 && f[1] == 1 &&
		    *(int *)(tp_now() + f[2]) == sys0(SYS_gettid))
			libc_tid_at = f[2];
	}
	for (int i = 0; i < __atomic_load_n(&nslots, __ATOMIC_ACQUIRE); i++) {
		int tid = __atomic_load_n(&slots[i].tid, __ATOMIC_ACQUIRE);

		if (!tid || (defuse_task_gone(tid) && __atomic_compare_exchange_n(&slots[i].tid, &tid, 0, 0,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)))
			idle++;
	}
	if (idle >= want || pthread_attr_init(&attr))
		return 0;
	pthread_attr_setstacksize(&attr, 128 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (idle < want) {
		int i = __atomic_load_n(&nslots, __ATOMIC_ACQUIRE);

		/* Two sharers' clones may make donors at once: each takes the
		   next index for itself. */
		if (i >= SLOTS || !__atomic_compare_exchange_n(&nslots, &i, i + 1, 0,
							       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			break;
		if (pthread_create(&t, &attr, donor_main, &slots[i]))
			break;	/* the slot stays unready, never used */
		while (!__atomic_load_n(&slots[i].ready, __ATOMIC_ACQUIRE))
			sys4(SYS_futex, &slots[i].ready, FUTEX_WAIT_PRIVATE, 0, NULL);
		idle++;
	}
	pthread_attr_destroy(&attr);
	return 0;
}

/* A sharing clone failed: its child will want no slot. */
void defuse_sharers_unwanted(void)
{
	if (__atomic_load_n(&pending, __ATOMIC_RELAXED) > 0)
		__atomic_sub_fetch(&pending, 1, __ATOMIC_RELAXED);
}

/* A forked child: its only thread owns its block; the donors stayed behind. */
void defuse_sharers_after_fork(void)
{
	defuse_self.tls_shared = 0;
	defuse_self.tls_owner = 0;
	defuse_self.program_tp = 0;
	__builtin_memset(slots, 0, sizeof(slots));
	nslots = 0;
	pending = 0;
}

/*
 * Runs fn(sc) for a thread on a block it does not own, on a block of its
 * own.  Without one (64 sharers at once, or no thread could be made), the
 * call goes to the kernel as it is: not served by the mounts, but nothing
 * of another thread's state changed.
 */
__attribute__((noinline)) long defuse_sharer_call(long (*fn)(struct defuse_syscall *),
						  struct defuse_syscall *sc)
{
	uintptr_t prog = tp_now();
	int tid = sys0(SYS_gettid);
	struct slot *s = claim(tid);
	long r;

	if (!s) {
		if (fn == defuse_dispatch)
			return defuse_forward(sc);
		return sc->nr;	/* the clone hooks: nothing to do */
	}
	self_at(s->tp)->program_tp = prog;
	if (fn == defuse_dispatch && (sc->nr == SYS_exit || sc->nr == SYS_exit_group)) {
		/* The sharer ends: traced, then its block is free again.  Not
		   the exit work of a process or thread (the mounts, pages and
		   cold stack are its parent's or the block's). */
		set_fs(s->tp);
		defuse_exit_traced(sc);
		set_fs(prog);
		__atomic_store_n(&s->tid, 0, __ATOMIC_RELEASE);
		return defuse_forward(sc);
	}
	set_fs(s->tp);
	r = fn(sc);
	set_fs(prog);
	return r;
}

/* Signal handlers: the program's code runs on the program's block. */
__attribute__((noinline)) void defuse_sharer_program_tls(void (*fn)(int, void *, void *), int sig,
							 void *si, void *uc)
{
	uintptr_t prog = defuse_self.program_tp, mine = tp_now();

	set_fs(prog);
	fn(sig, si, uc);
	set_fs(mine);
}
