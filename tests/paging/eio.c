/*
 * SIGBUS from mapped files (issue 10, "fault handling is safe"): what the
 * program's handler is told, and that it can go on.
 *
 *     eio exec DIR  code in a file, mapped PROT_EXEC and called (run.py)
 *     eio eof DIR   a file mapped past its end, and shrunk under a mapping
 *                   by a forked process: run natively and through DEFUSE by
 *                   run.py, which compares the output (the kernel's
 *                   siginfo is the reference)
 *     eio bad DIR   DIR is a mount of the test module badpage.so:3,5
 *                   (badpage.c): its reads of pages 3 and 5 of DIR/bad fail
 *                   with EIO, which the pager must turn into SIGBUS, as the
 *                   kernel does for an I/O error reading a mapped file (run
 *                   through DEFUSE only by eio_run.py: no native way to get
 *                   an I/O error on demand without root)
 *
 * The kernel gives SIGBUS for both with si_code BUS_ADRERR and si_addr the
 * byte touched (arch/x86/mm/fault.c do_sigbus); a handler that siglongjmps
 * out must be able to use every other page afterwards.  Prints FAIL lines
 * for what is wrong; exit 0 unless it could not run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif

static const char *dir;
static int fails;

#define FAIL(...) (printf("FAIL: " __VA_ARGS__), printf("\n"), fails++)

/* What the last fault's handler saw; per thread, since a thread faults on
   its own and its handler runs in it. */
static __thread sigjmp_buf jb;
static __thread volatile int got_sig, got_code;
static __thread void *volatile got_addr;
static __thread volatile pid_t got_tid;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
	got_tid = (pid_t)syscall(SYS_gettid);
	siglongjmp(jb, 1);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

static const char *code_name(int sig, int code)
{
	if (sig == SIGBUS)
		return code == BUS_ADRERR ? "BUS_ADRERR" : code == BUS_MCEERR_AR ? "BUS_MCEERR_AR" :
		       code == SI_QUEUE ? "SI_QUEUE" : code == SI_TKILL ? "SI_TKILL" : "other";
	return sig ? "-" : "";
}

/*
 * Reads the byte at p: "none c" (the byte's value), or the signal, its
 * code, where si_addr points (the byte itself as the kernel gives it, its
 * page, or elsewhere) and whether the handler ran in this thread.
 */
static const char *touch(volatile char *p, char *line, size_t len)
{
	pid_t me = (pid_t)syscall(SYS_gettid);
	char c = 0;

	got_sig = 0;
	if (!sigsetjmp(jb, 1)) {
		c = *p;
		snprintf(line, len, "none %d", c);
	} else {
		uintptr_t a = (uintptr_t)got_addr, want = (uintptr_t)p;

		snprintf(line, len, "%s %s addr %s%s", got_sig == SIGBUS ? "SIGBUS" :
			 got_sig == SIGSEGV ? "SIGSEGV" : "other", code_name(got_sig, got_code),
			 a == want ? "exact" : (a & ~(uintptr_t)(PAGE - 1)) ==
			 (want & ~(uintptr_t)(PAGE - 1)) ? "page" : "elsewhere",
			 got_tid == me ? "" : " (handled in another thread)");
	}
	return line;
}

static char pattern(long i)
{
	return (char)('A' + i % 23);
}

/* A file mapped past its end; the same file shrunk by a forked process
   while mapped; a thread faulting past the end. */
struct thread_arg {
	volatile char *p;
	char line[128];
};

static void *thread_touch(void *v)
{
	struct thread_arg *t = v;

	touch(t->p, t->line, sizeof(t->line));
	return NULL;
}

static void case_eof(void)
{
	char path[4096], line[128], buf[3 * PAGE + 100];
	long size = sizeof(buf);
	int fd, status;
	char *m;
	pid_t pid;
	pthread_t th;
	struct thread_arg t;

	snprintf(path, sizeof(path), "%s/f", dir);
	for (long i = 0; i < size; i++)
		buf[i] = pattern(i);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, size) != size) {
		FAIL("create %s: %s", path, strerror(errno));
		return;
	}
	m = mmap(NULL, 8 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		FAIL("mmap: %s", strerror(errno));
		return;
	}
	printf("past EOF, page 5 byte 77: %s\n", touch(m + 5 * PAGE + 77, line, sizeof(line)));
	printf("then page 1 byte 9: %s\n", touch(m + PAGE + 9, line, sizeof(line)));
	printf("tail of page 3, byte 100: %s\n", touch(m + 3 * PAGE + 100, line, sizeof(line)));
	t.p = m + 6 * PAGE + 1;
	pthread_create(&th, NULL, thread_touch, &t);
	pthread_join(th, NULL);
	printf("a thread past EOF, page 6 byte 1: %s\n", t.line);

	/* Another process (a fork child, which shares the file's pages)
	   shrinks the file to one page and ten bytes. */
	printf("before the shrink, page 2 byte 33: %s\n", touch(m + 2 * PAGE + 33, line, sizeof(line)));
	pid = fork();
	if (pid == 0) {
		int f2 = open(path, O_RDWR);

		_exit(f2 >= 0 && ftruncate(f2, PAGE + 10) == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		FAIL("the child's ftruncate failed");
	printf("after the shrink, page 2 byte 33: %s\n", touch(m + 2 * PAGE + 33, line, sizeof(line)));
	printf("page 1 byte 9: %s, byte 10: %d\n", touch(m + PAGE + 9, line, sizeof(line)),
	       m[PAGE + 10]);
	printf("page 3 byte 4000: %s\n", touch(m + 3 * PAGE + 4000, line, sizeof(line)));
	munmap(m, 8 * PAGE);
	close(fd);
	unlink(path);
	printf("eof done\n");
}

static char badpage_byte(long i)	/* as badpage.c serves it */
{
	return (char)('a' + (i / PAGE + i * 7) % 26);
}

/* DIR/bad of badpage.so:3,5: 16 pages, reads of pages 3 and 5 fail. */
static void case_bad(void)
{
	char path[4096], line[128], b[16];
	int fd;
	char *m, *p;
	pthread_t th;
	struct thread_arg t;
	long bad = 0;

	snprintf(path, sizeof(path), "%s/bad", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		FAIL("open %s: %s", path, strerror(errno));
		return;
	}
	errno = 0;
	printf("pread of page 3: %s\n", pread(fd, b, 16, 3 * PAGE) < 0 ? strerror(errno) : "read");
	printf("pread of page 4: %s\n", pread(fd, b, 16, 4 * PAGE) == 16 ? "read" : strerror(errno));
	m = mmap(NULL, 16 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		FAIL("mmap: %s", strerror(errno));
		return;
	}
	printf("shared, page 0 byte 5: %s\n", touch(m + 5, line, sizeof(line)));
	printf("shared, page 3 byte 123: %s\n", touch(m + 3 * PAGE + 123, line, sizeof(line)));
	/* the handler jumped out: every good page is still usable */
	for (long i = 0; i < 16 * PAGE; i++)
		if (i / PAGE != 3 && i / PAGE != 5)
			bad += m[i] != badpage_byte(i);
	printf("good pages after the SIGBUS: %ld bytes wrong\n", bad);
	if (bad)
		FAIL("%ld bytes of good pages wrong after a SIGBUS", bad);
	printf("shared, page 3 again, byte 7: %s\n", touch(m + 3 * PAGE + 7, line, sizeof(line)));
	t.p = m + 5 * PAGE + 2049;
	pthread_create(&th, NULL, thread_touch, &t);
	pthread_join(th, NULL);
	printf("a thread, page 5 byte 2049: %s\n", t.line);
	munmap(m, 16 * PAGE);

	p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		FAIL("mmap private: %s", strerror(errno));
		return;
	}
	printf("private, page 5 byte 1: %s\n", touch(p + 5 * PAGE + 1, line, sizeof(line)));
	p[6 * PAGE] = 'W';
	printf("private, page 6 written, reads %c, byte 1 %s\n", p[6 * PAGE],
	       touch(p + 6 * PAGE + 1, line, sizeof(line)));
	if (p[6 * PAGE + 1] != badpage_byte(6 * PAGE + 1))
		FAIL("private page 6 wrong");
	munmap(p, 8 * PAGE);
	close(fd);
	printf("bad done\n");
}

/* PROT_EXEC: machine code in a file, mapped executable (shared and
   private) and called, as a loader or a JIT cache does.  The code returns
   42: mov eax, 42; ret (x86-64), mov w0, #42; ret (AArch64). */
static void case_exec(void)
{
#if defined(__x86_64__)
	static const unsigned char code[] = { 0xb8, 0x2a, 0, 0, 0, 0xc3 };
#elif defined(__aarch64__)
	static const unsigned char code[] = { 0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6 };
#else
	static const unsigned char code[] = { 0 };
#endif
	char path[4096];
	int fd, shared;

	snprintf(path, sizeof(path), "%s/code", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || pwrite(fd, code, sizeof(code), 2 * PAGE) != (ssize_t)sizeof(code)) {
		FAIL("create %s: %s", path, strerror(errno));
		return;
	}
	for (shared = 0; shared < 2; shared++) {
		char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_EXEC,
			       shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
		int (*fn)(void);

		if (m == MAP_FAILED) {
			FAIL("mmap PROT_EXEC %s: %s", shared ? "shared" : "private", strerror(errno));
			continue;
		}
#if defined(__x86_64__) || defined(__aarch64__)
		/* the instruction fetch is the first touch of page 2 */
		fn = (int (*)(void))(void *)(m + 2 * PAGE);
		__builtin___clear_cache(m + 2 * PAGE, m + 2 * PAGE + sizeof(code));
		printf("PROT_EXEC %s: the code returned %d\n", shared ? "shared" : "private", fn());
#else
		(void)fn;
		printf("PROT_EXEC %s: not this architecture\n", shared ? "shared" : "private");
#endif
		munmap(m, 3 * PAGE);
	}
	close(fd);
	unlink(path);
	printf("exec done\n");
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: eio eof|exec|bad DIR\n");
		return 2;
	}
	dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	install();
	if (!strcmp(argv[1], "eof"))
		case_eof();
	else if (!strcmp(argv[1], "exec"))
		case_exec();
	else if (!strcmp(argv[1], "bad"))
		case_bad();
	else
		return 2;
	return 0;
}
