/*
 * A thread made by a `clone` instruction in code written at run time, as
 * language runtimes and the sanitizers' own threads do: only the SUD net
 * catches it, and the child must start on its own stack with the program's
 * registers, not inside DEFUSE's signal handler.  The child (run-time code
 * too) stores getpid() in a word and exits; the parent waits for the
 * kernel to clear the child's tid (CLONE_CHILD_CLEARTID) and checks the
 * word, three times.
 */
#include "prog.h"
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* long jit_clone(flags, stack_top, ptid, ctid, tls, int *word) */
static const unsigned char jit_clone_code[] = {
	0x49, 0x89, 0xca,		/* mov %rcx,%r10 */
	0xb8, 0x38, 0x00, 0x00, 0x00,	/* mov $SYS_clone,%eax */
	0x0f, 0x05,			/* syscall */
	0x48, 0x85, 0xc0,		/* test %rax,%rax */
	0x74, 0x01,			/* je child */
	0xc3,				/* ret: the tid, or -errno */
	/* child: */
	0xb8, 0x27, 0x00, 0x00, 0x00,	/* mov $SYS_getpid,%eax */
	0x0f, 0x05,			/* syscall */
	0x41, 0x89, 0x01,		/* mov %eax,(%r9) */
	0xb8, 0x3c, 0x00, 0x00, 0x00,	/* mov $SYS_exit,%eax */
	0x31, 0xff,			/* xor %edi,%edi */
	0x0f, 0x05,			/* syscall */
	0x0f, 0x0b,			/* ud2 */
};

typedef long (*jit_clone_fn)(long, void *, int *, int *, long, int *);

#define STACK_SIZE (64 * 1024)

int main(void)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	jit_clone_fn jit_clone;

	CHECK(page != MAP_FAILED);
	memcpy(page, jit_clone_code, sizeof jit_clone_code);
	CHECK(mprotect(page, 4096, PROT_READ | PROT_EXEC) == 0);
	jit_clone = (jit_clone_fn)page;

	for (int i = 0; i < 3; i++) {
		char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		volatile int word = 0, ctid = 1;
		long tid;

		CHECK(stack != MAP_FAILED);
		tid = jit_clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
				CLONE_SYSVSEM | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID,
				stack + STACK_SIZE, NULL, (int *)&ctid, 0, (int *)&word);
		if (tid < 0)
			errno = (int)-tid;
		CHECK(tid > 0);
		/* The kernel zeroes ctid and wakes us when the thread is gone. */
		for (int v; (v = ctid) != 0;)
			syscall(SYS_futex, &ctid, FUTEX_WAIT, v, NULL, NULL, 0);
		CHECK(word == getpid());
		CHECK(munmap(stack, STACK_SIZE) == 0);
	}
	CHECK(munmap(page, 4096) == 0);
	return 0;
}
