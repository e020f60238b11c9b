/*
 * `syscall` instructions in code written at run time (like a JIT): no
 * patching at load time can have seen them, so only the SUD net catches
 * them.  With DEFUSE_NET=off they escape, which the capture tests also
 * check (capture-jit-net-off).
 */
#include "prog.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* long stub(long nr, long a, long b, long c): raw system call. */
static const unsigned char stub_code[] = {
	0x48, 0x89, 0xf8,	/* mov %rdi,%rax */
	0x48, 0x89, 0xf7,	/* mov %rsi,%rdi */
	0x48, 0x89, 0xd6,	/* mov %rdx,%rsi */
	0x48, 0x89, 0xca,	/* mov %rcx,%rdx */
	0x0f, 0x05,		/* syscall */
	0xc3,			/* ret */
};

int main(void)
{
	long (*stub)(long, long, long, long);
	void *page;
	int fd;

	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(page != MAP_FAILED);
	memcpy(page, stub_code, sizeof stub_code);
	CHECK(mprotect(page, 4096, PROT_READ | PROT_EXEC) == 0);
	stub = (long (*)(long, long, long, long))page;

	for (int i = 0; i < 3; i++)
		CHECK(stub(SYS_getppid, 0, 0, 0) == getppid());
	fd = open("/dev/null", O_WRONLY);
	CHECK(fd >= 0);
	for (int i = 0; i < 3; i++)
		CHECK(stub(SYS_write, fd, (long)"jit", 3) == 3);
	CHECK(close(fd) == 0);
	CHECK(munmap(page, 4096) == 0);
	return 0;
}
