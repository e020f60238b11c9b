/*
 * mmap of files, case by case (tests/paging/run.py runs each natively and
 * on DEFUSE mounts, and compares):
 *
 *     paging CASE DIR
 *
 * Each case works in DIR, prints what it saw (the same natively and
 * through DEFUSE: no addresses, no timings) and a FAIL line for what is
 * wrong by itself.  Exit 0 unless the case could not run at all.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

static const char *dir;
static const char *self_path;
static int failed;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failed = 1;
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

static char *path_of(const char *name)
{
	static char p[8][4200];
	static int k;
	char *s = p[k++ % 8];

	snprintf(s, sizeof(p[0]), "%s/%s", dir, name);
	return s;
}

/* The byte at offset i of a pattern file: varies per page and per byte. */
static char pat(long i, int salt)
{
	return (char)('a' + (i / PAGE * 7 + i % 251 + salt) % 26);
}

static int make_file(const char *name, long size, int salt)
{
	char buf[PAGE];
	int fd = open(path_of(name), O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		fail("create %s: %s", name, strerror(errno));
		exit(1);
	}
	for (long off = 0; off < size; off += sizeof(buf)) {
		long n = size - off < (long)sizeof(buf) ? size - off : (long)sizeof(buf);

		for (long i = 0; i < n; i++)
			buf[i] = pat(off + i, salt);
		if (pwrite(fd, buf, n, off) != n) {
			fail("write %s: %s", name, strerror(errno));
			exit(1);
		}
	}
	return fd;
}

/* Reads the whole file by read(2) (a fresh descriptor) and compares it
   with want; returns the number of differing bytes. */
static long compare_by_read(const char *name, const char *want, long size)
{
	int fd = open(path_of(name), O_RDONLY);
	char *got = malloc(size + 1);
	long n = 0, r, bad = 0;
	struct stat st;

	if (fd < 0 || !got)
		return -1;
	fstat(fd, &st);
	if (st.st_size != size)
		fail("%s: size %ld, want %ld", name, (long)st.st_size, size);
	while (n < size && (r = read(fd, got + n, size - n)) > 0)
		n += r;
	if (n != size)
		fail("%s: read %ld bytes, want %ld", name, n, size);
	for (long i = 0; i < n; i++)
		bad += got[i] != want[i];
	free(got);
	close(fd);
	return bad;
}

static sigjmp_buf jb;
static volatile int got_sig;

static void on_fault(int sig)
{
	got_sig = sig;
	siglongjmp(jb, 1);
}

/* The signal touching p gives (0: none). */
static int touch(volatile char *p, int write)
{
	struct sigaction sa = { .sa_handler = on_fault }, old_bus, old_segv;
	int sig = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	got_sig = 0;
	if (!sigsetjmp(jb, 1)) {
		if (write)
			*p = 'W';
		else
			(void)*p;
	} else {
		sig = got_sig;
	}
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

static const char *signame(int sig)
{
	return sig == 0 ? "none" : sig == SIGBUS ? "SIGBUS" : sig == SIGSEGV ? "SIGSEGV" : "other";
}

/* ---- cases --------------------------------------------------------------- */

/* MAP_SHARED: reads, writes through the mapping seen by read(2), writes by
   write(2) seen in the mapping, munmap and a fresh read. */
static void case_shared_rw(void)
{
	long size = 10 * PAGE + 123;
	int fd = make_file("f", size, 0);
	char *want = malloc(size), got[64];
	char *m;

	for (long i = 0; i < size; i++)
		want[i] = pat(i, 0);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	CHECK(!memcmp(m, want, size), "mapping differs from the file");
	printf("mapped, first bytes %.8s, last %.4s\n", m, m + size - 4);
	/* the rest of the last page reads as zeros */
	CHECK(m[size] == 0 && m[11 * PAGE - 1] == 0, "tail of the last page not zero");
	m[5] = want[5] = 'X';
	m[3 * PAGE + 7] = want[3 * PAGE + 7] = 'Y';
	CHECK(pread(fd, got, 8, 0) == 8 && !memcmp(got, want, 8), "pread does not see the mapping's write");
	CHECK(pread(fd, got, 1, 3 * PAGE + 7) == 1 && got[0] == 'Y', "pread misses a write to page 3");
	CHECK(pwrite(fd, "ZZZZ", 4, 2 * PAGE - 2) == 4, "pwrite");
	memcpy(want + 2 * PAGE - 2, "ZZZZ", 4);
	CHECK(!memcmp(m + 2 * PAGE - 2, "ZZZZ", 4), "mapping does not see pwrite across a page end");
	CHECK(pwrite(fd, "Q", 1, 9 * PAGE) == 1, "pwrite to an untouched page");
	want[9 * PAGE] = 'Q';
	CHECK(m[9 * PAGE] == 'Q', "mapping does not see pwrite to a page it never touched");
	lseek(fd, 4 * PAGE, SEEK_SET);
	CHECK(write(fd, "abc", 3) == 3, "write");
	memcpy(want + 4 * PAGE, "abc", 3);
	CHECK(!memcmp(m + 4 * PAGE, "abc", 3), "mapping does not see write(2)");
	CHECK(compare_by_read("f", want, size) == 0, "read(2) of a fresh descriptor differs (mapped)");
	CHECK(msync(m, size, MS_SYNC) == 0, "msync: %s", strerror(errno));
	CHECK(munmap(m, size) == 0, "munmap");
	CHECK(compare_by_read("f", want, size) == 0, "read(2) differs after munmap");
	close(fd);
	CHECK(compare_by_read("f", want, size) == 0, "read(2) differs after close");
	printf("shared-rw done\n");
	free(want);
}

/* MAP_PRIVATE: reads the file; its writes stay private; the file's changes
   show in pages the mapping has not written (as Linux does). */
static void case_private(void)
{
	long size = 4 * PAGE;
	int fd = make_file("f", size, 1), ro;
	char *m, *w, got[8];

	ro = open(path_of("f"), O_RDONLY);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	if (m == MAP_FAILED) {
		fail("mmap private of O_RDONLY: %s", strerror(errno));
		return;
	}
	printf("private reads %c%c%c\n", m[0], m[PAGE], m[3 * PAGE + 5]);
	m[1] = 'P';
	m[PAGE + 1] = 'P';
	CHECK(pread(fd, got, 2, 0) == 2 && got[1] == pat(1, 1), "private write reached the file");
	CHECK(pwrite(fd, "N", 1, 2 * PAGE) == 1, "pwrite");
	CHECK(m[2 * PAGE] == 'N', "private mapping does not see a change to a page it never wrote");
	CHECK(pwrite(fd, "M", 1, 1) == 1, "pwrite");
	CHECK(m[1] == 'P', "private copy changed by the file");
	w = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(w != MAP_FAILED && w[1] == 'M' && w[PAGE + 1] == pat(PAGE + 1, 1),
	      "a shared mapping sees a private write");
	munmap(w, size);
	munmap(m, size);
	close(ro);
	close(fd);
	printf("private done\n");
}

/* A forked child writes through the parent's shared mapping (pages the
   parent never touched too); the parent reads with read(2) and the
   mapping; private pages are the child's own. */
static void case_fork(void)
{
	long size = 16 * PAGE;
	int fd = make_file("f", size, 2), status;
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	char got[4];
	pid_t pid;

	if (m == MAP_FAILED || p == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	m[0] = 'A';		/* touched before the fork */
	p[0] = 'p';		/* a private copy before the fork */
	for (int k = 0; k < 3; k++) {
		pid = fork();
		if (pid == 0) {
			int bad = 0;

			/* pages nobody touched yet must read right, not zeros */
			for (long i = PAGE; i < size; i += PAGE)
				bad += (i < 8 * PAGE || i > 10 * PAGE) && m[i + 9] != pat(i + 9, 2);
			bad += p[0] != 'p' || p[5 * PAGE] != pat(5 * PAGE, 2);
			m[(8 + k) * PAGE + 9] = (char)('0' + k);
			p[0] = 'c';
			_exit(bad ? 1 : 0);
		}
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d read wrong bytes", k);
		CHECK(pread(fd, got, 1, (8 + k) * PAGE + 9) == 1 && got[0] == '0' + k,
		      "read(2) misses child %d's write", k);
		CHECK(m[(8 + k) * PAGE + 9] == '0' + k, "mapping misses child %d's write", k);
	}
	CHECK(p[0] == 'p', "a child's private write showed in the parent");
	/* A child writing through the mapping while the parent reads. */
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 2000; i++)
			m[12 * PAGE + (i % PAGE)] = (char)('a' + i % 26);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(pread(fd, got, 1, 12 * PAGE + 1999 % PAGE) == 1 && got[0] == 'a' + 1999 % 26,
	      "read(2) misses the last of the child's writes");
	munmap(m, size);
	munmap(p, size);
	close(fd);
	printf("fork done\n");
}

/* Shrinking a mapped file: SIGBUS past the new end, zeros after growing. */
static void case_truncate(void)
{
	long size = 4 * PAGE;
	int fd = make_file("f", size, 3);
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	m[3 * PAGE] = 'T';
	printf("before: page 3 %s\n", signame(touch(m + 3 * PAGE, 0)));
	CHECK(ftruncate(fd, PAGE + 10) == 0, "ftruncate down");
	printf("after shrink: page 1 %s, page 2 %s, page 3 %s\n", signame(touch(m + PAGE, 0)),
	       signame(touch(m + 2 * PAGE, 0)), signame(touch(m + 3 * PAGE, 1)));
	CHECK(m[PAGE + 9] == pat(PAGE + 9, 3) && m[PAGE + 10] == 0 && m[2 * PAGE - 1] == 0,
	      "the page across the new end");
	CHECK(ftruncate(fd, size) == 0, "ftruncate up");
	printf("after growing: page 3 %s, reads %d\n", signame(touch(m + 3 * PAGE, 0)),
	       m[3 * PAGE]);
	m[3 * PAGE + 1] = 'G';
	CHECK(msync(m, size, MS_SYNC) == 0, "msync");
	{
		char want[4 * PAGE];

		for (long i = 0; i < size; i++)
			want[i] = i < PAGE + 10 ? pat(i, 3) : 0;
		want[3 * PAGE + 1] = 'G';
		CHECK(compare_by_read("f", want, size) == 0, "file after shrink, grow, write");
	}
	munmap(m, size);
	close(fd);
	printf("truncate done\n");
}

/* A mapping longer than the file: the tail page reads zeros, the pages
   past it give SIGBUS; offsets; bad arguments. */
static void case_eof(void)
{
	int fd = make_file("f", 3 * PAGE + 100, 4), wo, ro;
	char *m = mmap(NULL, 8 * PAGE, PROT_READ, MAP_SHARED, fd, 0);

	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	printf("page 3 %s (byte 100 is %d), page 4 %s, page 7 %s\n", signame(touch(m + 3 * PAGE, 0)),
	       m[3 * PAGE + 100], signame(touch(m + 4 * PAGE, 0)), signame(touch(m + 7 * PAGE, 0)));
	munmap(m, 8 * PAGE);
	/* an offset into the file */
	m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 2 * PAGE);
	CHECK(m != MAP_FAILED && m[5] == pat(2 * PAGE + 5, 4), "mapping at an offset");
	munmap(m, PAGE);
	/* entirely past the end */
	m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 10 * PAGE);
	printf("mapping past the end: %s, touch %s\n", m == MAP_FAILED ? strerror(errno) : "mapped",
	       m == MAP_FAILED ? "-" : signame(touch(m, 0)));
	if (m != MAP_FAILED)
		munmap(m, PAGE);
	errno = 0;
	printf("unaligned offset: %s\n", mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 100) ==
	       MAP_FAILED ? strerror(errno) : "mapped");
	printf("length 0: %s\n", mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ?
	       strerror(errno) : "mapped");
	printf("MAP_SHARED_VALIDATE|MAP_SYNC: %s\n",
	       mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0) == MAP_FAILED ?
	       strerror(errno) : "mapped");
	m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE, fd, 0);
	printf("MAP_SHARED_VALIDATE: %s\n", m == MAP_FAILED ? strerror(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, PAGE);
	wo = open(path_of("f"), O_WRONLY);
	ro = open(path_of("f"), O_RDONLY);
	printf("O_WRONLY: %s\n", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, wo, 0) == MAP_FAILED ?
	       strerror(errno) : "mapped");
	printf("O_RDONLY shared writable: %s\n",
	       mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED ?
	       strerror(errno) : "mapped");
	m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
	printf("O_RDONLY shared, mprotect writable: %s\n",
	       m == MAP_FAILED ? "not mapped" :
	       mprotect(m, PAGE, PROT_READ | PROT_WRITE) ? strerror(errno) : "allowed");
	if (m != MAP_FAILED)
		printf("write to it: %s\n", signame(touch(m, 1)));
	m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	CHECK(m != MAP_FAILED && touch(m, 1) == 0 && m[0] == 'W', "private writable of O_RDONLY");
	close(wo);
	close(ro);
	/* A directory cannot be mapped. */
	mkdir(path_of("d"), 0755);
	ro = open(path_of("d"), O_RDONLY | O_DIRECTORY);
	printf("directory: %s\n", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, ro, 0) == MAP_FAILED ?
	       strerror(errno) : "mapped");
	close(ro);
	close(fd);
	printf("eof done\n");
}

/* mremap: grow in place or moving, shrink, move to a fixed address. */
static void case_mremap(void)
{
	long size = 12 * PAGE;
	int fd = make_file("f", size, 5);
	char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), *n, *t;

	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	m[1] = 'a';
	n = mremap(m, 2 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
	if (n == MAP_FAILED) {
		fail("mremap grow: %s", strerror(errno));
		return;
	}
	CHECK(n[1] == 'a' && n[7 * PAGE + 3] == pat(7 * PAGE + 3, 5), "grown mapping reads");
	n[6 * PAGE] = 'b';
	n = mremap(n, 8 * PAGE, 4 * PAGE, 0);
	CHECK(n != MAP_FAILED, "mremap shrink: %s", strerror(errno));
	/* move to a fixed place */
	t = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	n = mremap(n, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	CHECK(n == t, "mremap fixed: %s", strerror(errno));
	CHECK(n[1] == 'a' && n[3 * PAGE + 2] == pat(3 * PAGE + 2, 5), "moved mapping reads");
	n[2 * PAGE] = 'c';
	CHECK(munmap(n, 4 * PAGE) == 0, "munmap");
	{
		char got[3];

		pread(fd, got, 1, 1);
		pread(fd, got + 1, 1, 6 * PAGE);
		pread(fd, got + 2, 1, 2 * PAGE);
		printf("after mremaps the file has %c%c%c\n", got[0], got[1], got[2]);
	}
	close(fd);
	printf("mremap done\n");
}

/* mprotect, madvise(MADV_DONTNEED), msync's flags, MAP_POPULATE, munmap of
   a middle part, MAP_FIXED over a mapping. */
static void case_calls(void)
{
	long size = 8 * PAGE;
	int fd = make_file("f", size, 6);
	char *m = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0), *p;

	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	printf("populated reads %c, write %s\n", m[2 * PAGE], signame(touch(m, 1)));
	CHECK(mprotect(m, size, PROT_READ | PROT_WRITE) == 0, "mprotect: %s", strerror(errno));
	m[0] = 'w';
	m[PAGE] = 'x';
	CHECK(madvise(m, 2 * PAGE, MADV_DONTNEED) == 0, "madvise");
	printf("after MADV_DONTNEED shared reads %c%c\n", m[0], m[PAGE]);
	printf("msync MS_ASYNC %d, MS_INVALIDATE %d, MS_SYNC|MS_ASYNC %s, unmapped %s\n",
	       msync(m, size, MS_ASYNC), msync(m, size, MS_INVALIDATE),
	       msync(m, size, MS_SYNC | MS_ASYNC) ? strerror(errno) : "ok",
	       msync(m + size, PAGE, MS_SYNC) ? strerror(errno) : "ok");
	/* private: DONTNEED gives the file's bytes back */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	p[3] = 'q';
	madvise(p, PAGE, MADV_DONTNEED);
	printf("private after MADV_DONTNEED reads %c\n", p[3]);
	/* a hole punched in the middle of a shared mapping */
	m[3 * PAGE] = 'm';
	m[5 * PAGE] = 'n';
	CHECK(munmap(m + 4 * PAGE, PAGE) == 0, "munmap of the middle");
	m[6 * PAGE] = 'o';
	printf("after a middle munmap: %c %s %c\n", m[3 * PAGE], signame(touch(m + 4 * PAGE, 0)),
	       m[6 * PAGE]);
	/* MAP_FIXED over a part of it */
	CHECK(mmap(m + 6 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      m + 6 * PAGE, "mmap fixed over");
	munmap(m, 4 * PAGE);
	munmap(m + 5 * PAGE, 3 * PAGE);
	munmap(p, size);
	{
		char got[8];

		pread(fd, got, 1, 0);
		pread(fd, got + 1, 1, PAGE);
		pread(fd, got + 2, 1, 3 * PAGE);
		pread(fd, got + 3, 1, 5 * PAGE);
		pread(fd, got + 4, 1, 6 * PAGE);
		printf("the file has %.5s\n", got);
	}
	close(fd);
	printf("calls done\n");
}

/* Pages written through a mapping reach the file when the process ends
   without munmap or msync: exit, _exit, exec, a default SIGTERM. */
static void case_exit(void)
{
	const char *how[] = { "exit", "_exit", "exec", "sigterm", "close" };

	for (int k = 0; k < 5; k++) {
		int fd = make_file("f", 4 * PAGE, 7), status;
		char got = 0;
		pid_t pid;

		close(fd);
		pid = fork();
		if (pid == 0) {
			int f = open(path_of("f"), O_RDWR);
			char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);

			if (m == MAP_FAILED)
				_exit(3);
			m[2 * PAGE + 1] = 'E';
			switch (k) {
			case 0:
				exit(0);
			case 1:
				_exit(0);
			case 2:
				execl("/bin/true", "true", (char *)NULL);
				_exit(4);
			case 3:
				signal(SIGTERM, SIG_DFL);
				kill(getpid(), SIGTERM);
				pause();
				_exit(5);
			case 4:
				close(f);
				/* no munmap: a process outside sees it after close */
				pause();
				_exit(6);
			}
		}
		if (k == 4) {
			/* wait for the close, then look from here */
			for (int i = 0; i < 200 && got != 'E'; i++) {
				int f = open(path_of("f"), O_RDONLY);

				usleep(10000);
				pread(f, &got, 1, 2 * PAGE + 1);
				close(f);
			}
			kill(pid, SIGKILL);
		}
		waitpid(pid, &status, 0);
		if (k != 4) {
			int f = open(path_of("f"), O_RDONLY);

			pread(f, &got, 1, 2 * PAGE + 1);
			close(f);
		}
		printf("%s: status %s, the file has %c\n", how[k],
		       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited", got);
	}
	printf("exit done\n");
}

/* Another process image of the tree maps the file while this one has it
   mapped: both see every byte at once (one cache).  It maps the
   descriptor it inherited through exec. */
static void case_exec(void)
{
	int fd = make_file("f", 4 * PAGE, 8), status;
	char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char num[16];
	pid_t pid;

	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	m[10] = 'P';
	snprintf(num, sizeof(num), "%d", fd);	/* not close-on-exec */
	pid = fork();
	if (pid == 0) {
		execl(self_path, self_path, "exec-child", dir, num, (char *)NULL);
		_exit(9);
	}
	/* the child writes page 1 through its own mapping, then waits */
	for (int i = 0; i < 500 && m[PAGE + 3] != 'C'; i++)
		usleep(10000);
	printf("the parent's mapping sees the exec'd child's write: %s\n",
	       m[PAGE + 3] == 'C' ? "yes" : "no");
	m[2 * PAGE] = 'Q';
	msync(m, 4 * PAGE, MS_SYNC);
	kill(pid, SIGUSR1);
	waitpid(pid, &status, 0);
	printf("child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "bad");
	munmap(m, 4 * PAGE);
	close(fd);
	printf("exec done\n");
}

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static int exec_child(int fd)
{
	int bad = 0;
	char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (m == MAP_FAILED)
		return 2;
	signal(SIGUSR1, on_usr1);
	bad |= m[10] != 'P';
	m[PAGE + 3] = 'C';
	while (!usr1)
		usleep(1000);
	bad |= m[2 * PAGE] != 'Q';
	return bad;
}

/* The buffer of a read or write of one mapped file is a mapping of
   another, or of itself, pages not yet filled: no deadlock, right bytes. */
static void case_buffers(void)
{
	long size = 64 * PAGE;
	int a = make_file("a", size, 9), b = make_file("b", size, 10);
	char *ma = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
	char *mb = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	char *want = malloc(size);

	if (ma == MAP_FAILED || mb == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	/* write(b, mapping of a) */
	CHECK(pwrite(b, ma, size / 2, 0) == size / 2, "pwrite from a mapping");
	/* read(a, into a mapping of b) */
	CHECK(pread(a, mb + size / 2, size / 2, size / 2) == size / 2, "pread into a mapping");
	/* within one file: copy its first half over its second half */
	CHECK(pwrite(a, ma, 8 * PAGE, 32 * PAGE) == 8 * PAGE, "pwrite of a file from itself");
	for (long i = 0; i < size; i++)
		want[i] = i < size / 2 ? pat(i, 9) : pat(i, 9);
	CHECK(!memcmp(mb, want, size), "b is a's bytes");
	for (long i = 0; i < size; i++)
		want[i] = i >= 32 * PAGE && i < 40 * PAGE ? pat(i - 32 * PAGE, 9) : pat(i, 9);
	CHECK(!memcmp(ma, want, size), "a after copying into itself");
	munmap(ma, size);
	munmap(mb, size);
	CHECK(compare_by_read("a", want, size) == 0, "a read back");
	close(a);
	close(b);
	free(want);
	printf("buffers done\n");
}

/* Faults in a signal handler, in threads, in a vfork child. */
static char *shared_map;

static void on_usr2(int sig)
{
	(void)sig;
	usr1 = shared_map[5 * PAGE + 1];
}

static void *reader(void *arg)
{
	long sum = 0;

	for (long i = 0; i < 32 * PAGE; i += PAGE)
		sum += shared_map[i];
	(void)arg;
	return (void *)sum;
}

static void case_contexts(void)
{
	long size = 32 * PAGE, want = 0;
	int fd = make_file("f", size, 11), status;
	pthread_t t[4];
	void *got[4];
	pid_t pid;

	shared_map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shared_map == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	signal(SIGUSR2, on_usr2);
	raise(SIGUSR2);
	printf("signal handler read %c\n", (char)usr1);
	for (long i = 0; i < size; i += PAGE)
		want += pat(i, 11);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], &got[i]);
	for (int i = 0; i < 4; i++)
		CHECK((long)got[i] == want, "thread %d read wrong bytes", i);
	pid = vfork();
	if (pid == 0) {
		/* untouched pages, read in a vfork child */
		_exit(shared_map[20 * PAGE + 3] == pat(20 * PAGE + 3, 11) &&
		      shared_map[30 * PAGE] == pat(30 * PAGE, 11) ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "vfork child read wrong bytes");
	munmap(shared_map, size);
	close(fd);
	printf("contexts done\n");
}

/* A descriptor received over a socket is mapped. */
static void case_scm(void)
{
	int sv[2], fd = make_file("f", 2 * PAGE, 12), status;
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (pid == 0) {
		char c, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec io = { &c, 1 };
		struct msghdr msg = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		int got;
		char *m;

		close(fd);
		if (recvmsg(sv[1], &msg, 0) != 1)
			_exit(2);
		memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(got));
		m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, got, 0);
		if (m == MAP_FAILED)
			_exit(3);
		if (m[PAGE + 2] != pat(PAGE + 2, 12))
			_exit(4);
		m[PAGE + 2] = 'S';
		_exit(0);
	}
	{
		char c = 'x', cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec io = { &c, 1 };
		struct msghdr msg = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		char got;

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
		sendmsg(sv[0], &msg, 0);
		waitpid(pid, &status, 0);
		pread(fd, &got, 1, PAGE + 2);
		printf("received and mapped: child %d, the file has %c\n",
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1, got);
	}
	close(fd);
	printf("scm done\n");
}

/* Every page of a larger file written through a mapping, msync, read. */
static void case_big(void)
{
	long size = 32L << 20;
	int fd = open(path_of("big"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *m, *buf;
	long bad = 0;

	CHECK(ftruncate(fd, size) == 0, "ftruncate");
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	for (long i = 0; i < size; i += PAGE)
		m[i] = (char)(i / PAGE), m[i + 100] = 1;
	CHECK(msync(m, size, MS_SYNC) == 0, "msync");
	munmap(m, size);
	close(fd);
	fd = open(path_of("big"), O_RDONLY);
	buf = malloc(1 << 20);
	for (long off = 0; off < size; off += 1 << 20) {
		CHECK(pread(fd, buf, 1 << 20, off) == 1 << 20, "pread");
		for (long i = 0; i < 1 << 20; i++)
			bad += buf[i] != ((i % PAGE) == 0 ? (char)((off + i) / PAGE) :
					  (i % PAGE) == 100 ? 1 : 0);
	}
	printf("big: %ld bytes differ\n", bad);
	free(buf);
	close(fd);
	printf("big done\n");
}

/* A child writes through the parent's shared mapping and is killed by
   SIGKILL, which nothing can catch: the bytes are in the file once the
   parent lets go of it (natively the kernel's page cache has them). */
static void case_killed(void)
{
	int fd = make_file("f", 8 * PAGE, 13), status;
	char *m = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), got = 0;
	int p[2];
	pid_t pid;

	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	m[0] = 'P';
	if (pipe(p))
		return;
	pid = fork();
	if (pid == 0) {
		m[5 * PAGE + 3] = 'K';
		write(p[1], "k", 1);
		pause();
		_exit(0);
	}
	read(p[0], &got, 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	printf("child: %s\n", WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
	printf("the parent's mapping has %c\n", m[5 * PAGE + 3]);
	munmap(m, 8 * PAGE);
	close(fd);
	/* A process of its own, so that nothing of this one's is used. */
	pid = fork();
	if (pid == 0) {
		int f = open(path_of("f"), O_RDONLY);
		char b = 0;

		pread(f, &b, 1, 5 * PAGE + 3);
		_exit(b);
	}
	waitpid(pid, &status, 0);
	printf("the file has %c\n", WIFEXITED(status) ? WEXITSTATUS(status) : '?');
	printf("killed done\n");
}

static const struct { const char *name; void (*fn)(void); } cases[] = {
	{ "shared-rw", case_shared_rw }, { "private", case_private }, { "fork", case_fork },
	{ "truncate", case_truncate }, { "eof", case_eof }, { "mremap", case_mremap },
	{ "calls", case_calls }, { "exit", case_exit }, { "exec", case_exec },
	{ "buffers", case_buffers }, { "contexts", case_contexts }, { "scm", case_scm },
	{ "big", case_big }, { "killed", case_killed },
};

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && !strcmp(argv[1], "exec-child"))) {
		fprintf(stderr, "usage: paging CASE DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	self_path = argv[0];
	dir = argv[2];
	if (!strcmp(argv[1], "exec-child"))
		return exec_child(atoi(argv[3]));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name)) {
			cases[i].fn();
			return 0;
		}
	fprintf(stderr, "paging: no case %s\n", argv[1]);
	return 2;
}
