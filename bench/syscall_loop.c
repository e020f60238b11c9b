/*
 * syscall_loop: time N trivial system calls from inside the program.
 *
 *   syscall_loop MODE N
 *
 * MODE is one of
 *   getppid       glibc's getppid()           (a patched site under capture)
 *   write         glibc's write(/dev/null, 1) (a patched site under capture)
 *   raw-getppid   a `syscall` instruction in this program's own code
 *   raw-write       (not a libc site: capture's SUD net has to trap it)
 *   jit-getppid   a `syscall` instruction in a page made at run time,
 *   jit-write       which no load-time patching can have seen
 *
 * Prints "ns_per_call=X" for the timed loop (clock_gettime is in the vDSO, so
 * the clock itself makes no system call).  A short untimed warm-up comes
 * first.  Exits non-zero if any call fails.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef long (*sys3_fn)(long nr, long a, long b, long c);

static long raw3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/*
 * mov %rdi,%rax; mov %rsi,%rdi; mov %rdx,%rsi; mov %rcx,%rdx; syscall; ret
 */
static const unsigned char jit_code[] = {
	0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89, 0xd6, 0x48, 0x89, 0xca,
	0x0f, 0x05, 0xc3,
};

static sys3_fn make_jit(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	memcpy(p, jit_code, sizeof jit_code);
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC)) {
		perror("mprotect");
		exit(2);
	}
	return (sys3_fn)p;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *mode;
	long n, bad = 0;
	int fd;
	char c = 'x';
	sys3_fn jit = NULL;
	pid_t ppid = getppid();
	double t0, t1;

	if (argc != 3) {
		fprintf(stderr, "usage: syscall_loop MODE N\n");
		return 2;
	}
	mode = argv[1];
	n = atol(argv[2]);
	fd = open("/dev/null", O_WRONLY);
	if (fd < 0) {
		perror("/dev/null");
		return 2;
	}
	if (!strncmp(mode, "jit-", 4))
		jit = make_jit();

#define LOOP(count, expr, expect)					\
	for (long i = 0; i < (count); i++)				\
		if ((expr) != (expect))					\
			bad++;

#define RUN(expr, expect)						\
	do {								\
		LOOP(n / 100 + 1, expr, expect);			\
		t0 = now_ns();						\
		LOOP(n, expr, expect);					\
		t1 = now_ns();						\
	} while (0)

	if (!strcmp(mode, "getppid"))
		RUN(getppid(), ppid);
	else if (!strcmp(mode, "write"))
		RUN(write(fd, &c, 1), 1);
	else if (!strcmp(mode, "raw-getppid"))
		RUN(raw3(SYS_getppid, 0, 0, 0), ppid);
	else if (!strcmp(mode, "raw-write"))
		RUN(raw3(SYS_write, fd, (long)&c, 1), 1);
	else if (!strcmp(mode, "jit-getppid"))
		RUN(jit(SYS_getppid, 0, 0, 0), ppid);
	else if (!strcmp(mode, "jit-write"))
		RUN(jit(SYS_write, fd, (long)&c, 1), 1);
	else {
		fprintf(stderr, "syscall_loop: unknown mode %s\n", mode);
		return 2;
	}
	if (bad) {
		fprintf(stderr, "syscall_loop: %ld calls gave a wrong result\n",
			bad);
		return 1;
	}
	printf("ns_per_call=%.2f\n", (t1 - t0) / (double)n);
	return 0;
}
