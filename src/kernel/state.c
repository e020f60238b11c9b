/*
 * The state every layer shares: one struct per thread, one per process.
 */
#include <errno.h>
#include <linux/kcmp.h>
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
