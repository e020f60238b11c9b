/*
 * The program's side of a call the core serves: its memory, where results
 * go, and who it is, for a module's access checks.
 */
#include <pthread.h>
#include <string.h>
#include "kernel/sys.h"
#include "core/core.h"

/*
 * Results go to the program's memory.  A bad pointer must give EFAULT, so
 * in general through process_vm_writev (about 1 us).  A buffer on the
 * calling thread's own stack, between the program's stack pointer and the
 * stack's top, is mapped for sure: most stat buffers are, and get a plain
 * copy.
 */
static __thread uintptr_t stack_lo CORE_TLS, stack_hi CORE_TLS;

static int on_my_stack(const void *dst, size_t n)
{
	/* The core runs on a stack of DEFUSE's (capture/cold_stack.c): where
	   the program's stack pointer was is kept for it. */
	uintptr_t sp = defuse_self.prog_sp, d = (uintptr_t)dst;

	if (!stack_hi) {
		pthread_attr_t a;
		void *base;
		size_t size;

		stack_hi = 1;	/* unknown: never again */
		if (pthread_getattr_np(pthread_self(), &a) == 0) {
			if (pthread_attr_getstack(&a, &base, &size) == 0) {
				stack_lo = (uintptr_t)base;
				stack_hi = stack_lo + size;
			}
			pthread_attr_destroy(&a);
		}
	}
	/* sp must be on that stack too (not a signal stack elsewhere). */
	return sp >= stack_lo && sp < stack_hi && d >= sp && d + n <= stack_hi && d + n >= d;
}

long core_copy_out(void *dst, const void *src, size_t n)
{
	if (on_my_stack(dst, n)) {
		memcpy(dst, src, n);
		return 0;
	}
	return defuse_copy_out(dst, src, n);
}

/* The caller's supplementary groups (module.h's access fallback asks). */
static int caller_groups(void *arg, gid_t *out, int max)
{
	(void)arg;
	return (int)sys2(SYS_getgroups, max, out);
}

/* The caller's IDs: arg non-NULL for the effective ones. */
static void caller_ids(void *arg, uid_t *uid, gid_t *gid)
{
	*uid = sys0(arg ? SYS_geteuid : SYS_getuid);
	*gid = sys0(arg ? SYS_getegid : SYS_getgid);
}

const struct mod_caller *core_caller(int effective, struct mod_caller *who)
{
	who->ids = caller_ids;
	who->groups = caller_groups;
	who->arg = effective ? (void *)1 : NULL;
	return who;
}
