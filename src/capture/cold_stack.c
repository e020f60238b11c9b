/*
 * The stack ordinary C runs on when a syscall site calls it (call_cold in
 * dispatch.c): one per thread, DEFUSE's own, not the program's.
 *
 * The core and the modules need tens of KiB of stack (paths of PATH_MAX, the
 * extended register state), and a program's stack may not have that much
 * left: posix_spawn runs its child, chdir and open file actions included,
 * on a 36 KiB stack of its own.  So every thread gets a stack of COLD_STACK
 * bytes (reserved, not committed: only touched pages cost memory) with a
 * guard page under it, at its first cold call.  A vfork child borrows its
 * suspended parent thread's, as it borrows the rest of its memory.
 *
 * A thread that exits leaves its stack to the next thread (a small
 * lock-free cache); one that shares its TLS with another (a raw clone
 * without CLONE_SETTLS) is not the owner and leaves it alone.
 */
#include <stddef.h>
#include <sys/mman.h>
#include "capture/capture.h"
#include "common/exec_layout.h"
#include "kernel/sys.h"

#define COLD_STACK (512 * 1024)
#define CACHE 32

static uintptr_t cache[CACHE] EXEC_DATA;

uintptr_t defuse_cold_stack(void)
{
	struct defuse_thread *self = &defuse_self;
	uintptr_t base = 0;
	long p;

	if (self->cold_stack)
		return self->cold_stack;
	for (int i = 0; i < CACHE && !base; i++)
		base = __atomic_exchange_n(&cache[i], 0, __ATOMIC_ACQUIRE);
	if (!base) {
		p = sys6(SYS_mmap, 0, COLD_STACK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (sys_failed(p))
			return 0;	/* the program's stack it is, then */
		sys3(SYS_mprotect, p, 4096, PROT_NONE);
		base = p;
	}
	self->cold_stack = base + COLD_STACK;
	self->cold_stack_tid = sys0(SYS_gettid);
	return self->cold_stack;
}

/* The thread is about to exit (SYS_exit): its stack goes to the cache. */
void defuse_cold_stack_exit(void)
{
	struct defuse_thread *self = &defuse_self;
	uintptr_t base = self->cold_stack - COLD_STACK;

	if (!self->cold_stack || self->vfork_child || self->in_defuse ||
	    self->cold_stack_tid != sys0(SYS_gettid))
		return;
	self->cold_stack = 0;
	for (int i = 0; i < CACHE; i++) {
		uintptr_t none = 0;

		if (__atomic_compare_exchange_n(&cache[i], &none, base, 0, __ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return;
	}
	sys2(SYS_munmap, base, COLD_STACK);
}

/* The address sanitizer's runtime, when the process has one (this file
   is never instrumented itself: src/meson.build). */
extern void __asan_unpoison_memory_region(void const volatile *addr, size_t size)
	__attribute__((weak));

/*
 * The stack of a lent TLS block goes to its next sharer (sharers.c).  The
 * last one may have been killed on it, in the middle of frames whose
 * redzones the address sanitizer had poisoned and never saw unpoisoned:
 * the next would be reported for writing its own fresh locals there.
 */
void defuse_cold_stack_handover(struct defuse_thread *to)
{
	if (to->cold_stack && __asan_unpoison_memory_region)
		__asan_unpoison_memory_region((void *)(to->cold_stack - COLD_STACK + 4096),
					      COLD_STACK - 4096);
}
