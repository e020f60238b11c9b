/*
 * Raw system calls for the test and benchmark programs, made the two ways
 * that do not go through libc:
 *
 *   rawsys4()      a `syscall` instruction in the calling program's own code.
 *                  Not a libc site, but still there when the object is
 *                  loaded, so DEFUSE can find and patch it at load time (or,
 *                  where it has no safe patch, the SUD net traps it).
 *
 *   rawsys_jit4()  a `syscall` instruction in a page of code made at run
 *                  time, like a JIT's.  No load-time patching can have seen
 *                  it: only the SUD net can catch it (with DEFUSE_NET=off it
 *                  escapes).
 *
 * Both return what the kernel returns: the result, or -errno (no errno is
 * set).  x86-64 Linux only.
 *
 * Everything here is `static inline`, and rawsys4() is always_inline: the
 * point is that the `syscall` instruction lands in the text of the object
 * that includes this header (a program, or a library such as libsyscaller),
 * inside the function that calls it, not in some shared helper.
 */
#ifndef DEFUSE_TEST_RAWSYS_H
#define DEFUSE_TEST_RAWSYS_H

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#if !defined(__x86_64__)
#error "rawsys.h: x86-64 only"
#endif

/*
 * System call `nr` with up to four arguments (unused ones: pass 0), made by
 * a `syscall` instruction inlined into the caller.  The fourth argument goes
 * in %r10, as the kernel's convention has it (not %rcx as for a C call).
 */
__attribute__((always_inline))
static inline long rawsys4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

/* A raw system call as made by the run-time stub: same arguments, result. */
typedef long (*rawsys_fn4)(long nr, long a, long b, long c, long d);

/* The size of the page rawsys_jit4() maps: munmap(stub, RAWSYS_JIT_SIZE). */
#define RAWSYS_JIT_SIZE 4096

/*
 * Machine code of the stub: the C arguments (nr, a, b, c, d in %rdi, %rsi,
 * %rdx, %rcx, %r8) moved to the system call registers, then the call.
 */
static const unsigned char rawsys_jit4_code[] = {
	0x48, 0x89, 0xf8,	/* mov %rdi,%rax */
	0x48, 0x89, 0xf7,	/* mov %rsi,%rdi */
	0x48, 0x89, 0xd6,	/* mov %rdx,%rsi */
	0x48, 0x89, 0xca,	/* mov %rcx,%rdx */
	0x4d, 0x89, 0xc2,	/* mov %r8,%r10 */
	0x0f, 0x05,		/* syscall */
	0xc3,			/* ret */
};

/*
 * Copies the stub into a fresh anonymous page (RAWSYS_JIT_SIZE bytes), makes
 * the page read+execute (no longer writable) and returns the stub to call.
 * Each call makes a new page; the caller may munmap it when done.  Returns
 * NULL with errno set if mmap or mprotect fails (no page is left behind).
 */
static inline rawsys_fn4 rawsys_jit4(void)
{
	void *p = mmap(NULL, RAWSYS_JIT_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, rawsys_jit4_code, sizeof rawsys_jit4_code);
	if (mprotect(p, RAWSYS_JIT_SIZE, PROT_READ | PROT_EXEC)) {
		int saved = errno;

		munmap(p, RAWSYS_JIT_SIZE);
		errno = saved;
		return NULL;
	}
	return (rawsys_fn4)p;
}

#endif
