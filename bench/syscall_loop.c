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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "rawsys.h"

/* rawsys4() and the run-time stub come from tests/common/rawsys.h. */
static rawsys_fn4 make_jit(void)
{
	rawsys_fn4 jit = rawsys_jit4();

	if (!jit) {
		perror("rawsys_jit4");
		exit(2);
	}
	return jit;
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
	rawsys_fn4 jit = NULL;
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
		RUN(rawsys4(SYS_getppid, 0, 0, 0, 0), ppid);
	else if (!strcmp(mode, "raw-write"))
		RUN(rawsys4(SYS_write, fd, (long)&c, 1, 0), 1);
	else if (!strcmp(mode, "jit-getppid"))
		RUN(jit(SYS_getppid, 0, 0, 0, 0), ppid);
	else if (!strcmp(mode, "jit-write"))
		RUN(jit(SYS_write, fd, (long)&c, 1, 0), 1);
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
