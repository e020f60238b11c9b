/*
 * The state every layer shares: one struct per thread, one per process.
 */
#include <errno.h>
#include <linux/futex.h>
#include <linux/kcmp.h>
#include <time.h>
#include "common/exec_layout.h"
#include "kernel/kernel.h"

/* From linux/prctl.h (which clashes with glibc's sys/prctl.h). */
#define SYSCALL_DISPATCH_FILTER_BLOCK 1

__thread struct defuse_thread defuse_self
	__attribute__((tls_model("initial-exec"))) = {
	.sud_selector = SYSCALL_DISPATCH_FILTER_BLOCK,
};
struct defuse_global defuse_g;
struct defuse_gate_hooks defuse_gate_hooks;
void (*defuse_sig_flush_fn)(void);
__thread uintptr_t defuse_sud_clone_resume __attribute__((tls_model("initial-exec")));

void defuse_note_emulated(long nr)
{
	if (defuse_g.test_marker)
		sys1(DEFUSE_TEST_EMULATED_NR, nr);
}

int defuse_task_gone(int tid)
{
	long r = sys5(SYS_kcmp, sys0(SYS_gettid), tid, KCMP_VM, 0, 0);

	if (r == 0)
		return 0;
	if (r == -ESRCH || r == 1 || r == 2)
		return 1;	/* gone, or no memory of ours (a zombie has none) */
	return sys2(SYS_kill, tid, 0) == -ESRCH;	/* kcmp not allowed here */
}

/* On the exec path: a fork child's limits are set under reserved_fd.c's. */
EXEC_PATH void defuse_tid_lock(int *owner, int *waiting)
{
	int me = defuse_self.tid ? defuse_self.tid : sys0(SYS_gettid), held = 0;
	struct timespec tick = { 0, 1000000 };

	while (!__atomic_compare_exchange_n(owner, &held, me, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(waiting, 1, __ATOMIC_SEQ_CST);
		if (sys4(SYS_futex, owner, FUTEX_WAIT_PRIVATE, held, &tick) == -ETIMEDOUT &&
		    defuse_task_gone(held))
			__atomic_compare_exchange_n(owner, &held, 0, 0, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(waiting, 1, __ATOMIC_SEQ_CST);
		held = 0;
	}
}

EXEC_PATH void defuse_tid_unlock(int *owner, int *waiting)
{
	/* Either the waiter counted itself before this store, and is woken,
	   or its futex wait finds the lock changed. */
	__atomic_store_n(owner, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(waiting, __ATOMIC_SEQ_CST))
		sys3(SYS_futex, owner, FUTEX_WAKE_PRIVATE, 1);
}
