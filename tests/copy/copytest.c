/*
 * Copies between descriptors where one end is a pipe, a socket or a file
 * outside the mounts, and the other a file in DIR (an emulated file when
 * DIR is an emulated mount): splice, sendfile and copy_file_range, with
 * pipes empty, part full, full, non-blocking, without reader or writer,
 * lengths past the pipe's size with a thread at the other end, offsets
 * given or not.  Every result is printed (return value or errno name,
 * offsets, counts and checksums of the bytes that arrived), and
 * tests/copy/run.py compares the output of a native run with runs through
 * DEFUSE.
 *
 *     copytest CASE DIR OUTSIDE     (CASE: to-pipe, from-pipe, large,
 *                                    sendfile, copy-file-range, signals)
 *
 * OUTSIDE is a directory outside any mount, on the same file system as
 * DIR's backing directory (copy_file_range needs one file system).
 *
 * The pipe calls used to block forever through DEFUSE (issue 14, item 6),
 * so each case ends itself with SIGALRM after 60 s: a hang fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIPE_SIZE 65536
#define FSIZE 300000		/* the source file in DIR: not a page multiple */
#define BIG 1000003		/* for transfers many times a pipe's size */

static const char *dir, *outside;
static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

/* Byte i of every test file: no run of equal pages, so misplaced data shows. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 11);
}

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

#define FNV0 1469598103934665603ull

static const char *at(const char *base, const char *name)
{
	static char buf[2][4096];
	static int k;

	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", base, name);
	return buf[k];
}

static void die(const char *what)
{
	printf("FAIL %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* A file of n pattern bytes, opened with flags (O_CREAT added). */
static int make(const char *path, size_t n, int flags)
{
	unsigned char buf[8192];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	if (fd < 0)
		die(path);
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(done + i);
		if (write(fd, buf, k) != (ssize_t)k)
			die("write");
		done += k;
	}
	close(fd);
	fd = open(path, flags);
	if (fd < 0)
		die(path);
	return fd;
}

/* "what = N" or "what = -1 ENAME" */
static long show(const char *what, long r)
{
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
	return r;
}

static void offsets(const char *what, int fd, const off_t *given)
{
	if (given)
		printf("  %s: offset %lld, given offset now %lld\n", what,
		       (long long)lseek(fd, 0, SEEK_CUR), (long long)*given);
	else
		printf("  %s: offset %lld\n", what, (long long)lseek(fd, 0, SEEK_CUR));
}

/* A pipe of PIPE_SIZE bytes; pflags for pipe2. */
static void mkpipe(int p[2], int pflags)
{
	if (pipe2(p, pflags | O_CLOEXEC))
		die("pipe2");
	if (fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE) != PIPE_SIZE)
		die("F_SETPIPE_SZ");
}

/* Writes n filler bytes into a pipe by write(2): the pipe's own buffers. */
static void fill(int wfd, size_t n)
{
	static char junk[PIPE_SIZE];

	memset(junk, '-', sizeof(junk));
	if (write(wfd, junk, n) != (ssize_t)n)
		die("fill");
}

/* What the pipe holds: count and checksum of everything queued. */
static void drain(const char *what, int rfd)
{
	static unsigned char buf[PIPE_SIZE * 2];
	int n = 0;

	if (ioctl(rfd, FIONREAD, &n) || (n && read(rfd, buf, n) != n))
		die("drain");
	printf("  %s: pipe held %d bytes, fnv %016llx\n", what, n,
	       (unsigned long long)fnv(buf, n, FNV0));
}

/* The checksum of a whole file, by path (independent of any offset). */
static void sum_file(const char *what, const char *path)
{
	static unsigned char buf[65536];
	uint64_t h = FNV0;
	long total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die(path);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv(buf, n, h);
		total += n;
	}
	close(fd);
	printf("  %s: %ld bytes, fnv %016llx\n", what, total, (unsigned long long)h);
}

/* ---- threads at the other end of a pipe ------------------------------ */

struct peer {
	int fd;
	long delay_ms;		/* before acting */
	long n;			/* bytes to read once (reader), or write */
	long total;		/* reader to EOF: bytes seen */
	uint64_t h;
	pthread_t t;
};

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Reads n bytes in one read(2), after the delay. */
static void *read_once(void *arg)
{
	struct peer *p = arg;
	static char buf[PIPE_SIZE];

	nap(p->delay_ms);
	p->total = read(p->fd, buf, p->n);
	return NULL;
}

/* Reads to the end of the file, summing. */
static void *read_all(void *arg)
{
	struct peer *p = arg;
	static unsigned char buf[100000];
	ssize_t n;

	p->h = FNV0;
	while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
		p->h = fnv(buf, n, p->h);
		p->total += n;
	}
	return NULL;
}

/* Writes n pattern bytes in writes of 7777, then closes. */
static void *write_all(void *arg)
{
	struct peer *p = arg;
	unsigned char buf[7777];

	nap(p->delay_ms);
	for (long done = 0; done < p->n;) {
		long k = p->n - done < (long)sizeof(buf) ? p->n - done : (long)sizeof(buf);

		for (long i = 0; i < k; i++)
			buf[i] = pattern(done + i);
		if (write(p->fd, buf, k) != k)
			break;
		done += k;
	}
	close(p->fd);
	return NULL;
}

static void start(struct peer *p, void *(*fn)(void *))
{
	if (pthread_create(&p->t, NULL, fn, p))
		die("pthread_create");
}

static void join(struct peer *p)
{
	pthread_join(p->t, NULL);
}

/* ---- cases ------------------------------------------------------------ */

/* From a file in DIR into a pipe. */
static void to_pipe(void)
{
	int f = make(at(dir, "src"), FSIZE, O_RDONLY), p[2];
	off_t off;
	struct peer r = { 0 };

	puts("# empty pipe, length past its size: one pipe's worth, no wait");
	mkpipe(p, 0);
	show("splice(src, NULL, pipe, NULL, 1 MiB, 0)", splice(f, NULL, p[1], NULL, 1 << 20, 0));
	offsets("src", f, NULL);
	drain("after", p[0]);

	puts("# offset given, inside a page: the pipe's buffers follow the pages");
	off = 100;
	show("splice(src, &100, pipe, NULL, 1 MiB, 0)", splice(f, &off, p[1], NULL, 1 << 20, 0));
	offsets("src", f, &off);
	drain("after", p[0]);

	puts("# 14 of 16 buffers in use: two pages' worth");
	fill(p[1], 14 * 4096);
	show("splice(src, NULL, pipe, NULL, 100000, 0)", splice(f, NULL, p[1], NULL, 100000, 0));
	offsets("src", f, NULL);
	drain("after", p[0]);
	fill(p[1], 14 * 4096);
	off = 5000;
	show("splice(src, &5000, pipe, NULL, 100000, 0)", splice(f, &off, p[1], NULL, 100000, 0));
	offsets("src", f, &off);
	drain("after", p[0]);
	fill(p[1], 14 * 4096 + 10);
	show("splice(src, NULL, pipe, NULL, 3, 0) [15 buffers in use]",
	     splice(f, NULL, p[1], NULL, 3, 0));
	offsets("src", f, NULL);
	drain("after", p[0]);

	puts("# every buffer in use, 100 bytes short of the pipe's size");
	fill(p[1], PIPE_SIZE - 100);
	show("splice(src, NULL, pipe, NULL, 50, NONBLOCK)",
	     splice(f, NULL, p[1], NULL, 50, SPLICE_F_NONBLOCK));
	offsets("src", f, NULL);
	off = FSIZE;
	show("splice(src, &EOF, pipe, NULL, 50, NONBLOCK)",
	     splice(f, &off, p[1], NULL, 50, SPLICE_F_NONBLOCK));
	puts("# ... blocking: waits until a reader takes two pages, then moves two pages");
	r.fd = p[0];
	r.delay_ms = 200;
	r.n = 8192;
	start(&r, read_once);
	show("splice(src, NULL, pipe, NULL, 100000, 0)", splice(f, NULL, p[1], NULL, 100000, 0));
	join(&r);
	printf("  reader took %ld\n", r.total);
	offsets("src", f, NULL);
	drain("after", p[0]);
	puts("# ... at the end of the file: waits for room, then 0");
	fill(p[1], PIPE_SIZE);
	r.total = 0;
	start(&r, read_once);
	off = FSIZE;
	show("splice(src, &EOF, pipe, NULL, 100, 0)", splice(f, &off, p[1], NULL, 100, 0));
	join(&r);
	printf("  reader took %ld\n", r.total);
	drain("after", p[0]);
	show("splice(src, &EOF, pipe, NULL, 100, 0) [room]", splice(f, &off, p[1], NULL, 100, 0));
	offsets("src", f, &off);
	close(p[0]);
	close(p[1]);

	puts("# an O_NONBLOCK pipe, full");
	mkpipe(p, O_NONBLOCK);
	fill(p[1], PIPE_SIZE);
	show("splice(src, NULL, nbpipe, NULL, 10, 0)", splice(f, NULL, p[1], NULL, 10, 0));
	drain("after", p[0]);
	show("splice(src, NULL, nbpipe, NULL, 10, 0) [empty]", splice(f, NULL, p[1], NULL, 10, 0));
	offsets("src", f, NULL);
	drain("after", p[0]);
	close(p[0]);
	close(p[1]);

	puts("# no reader: EPIPE and SIGPIPE, full or not");
	mkpipe(p, 0);
	close(p[0]);
	sigpipes = 0;
	show("splice(src, NULL, pipe, NULL, 10, 0)", splice(f, NULL, p[1], NULL, 10, 0));
	show("splice(src, NULL, pipe, NULL, 10, NONBLOCK)",
	     splice(f, NULL, p[1], NULL, 10, SPLICE_F_NONBLOCK));
	printf("  SIGPIPE %d times\n", (int)sigpipes);
	offsets("src", f, NULL);
	close(p[1]);

	puts("# arguments");
	mkpipe(p, 0);
	show("splice(src, NULL, pipe, NULL, 0, 0)", splice(f, NULL, p[1], NULL, 0, 0));
	off = 0;
	show("splice(src, NULL, pipe, &0, 10, 0)", splice(f, NULL, p[1], &off, 10, 0));
	show("splice(src, NULL, pipe, NULL, 10, 0x100)", splice(f, NULL, p[1], NULL, 10, 0x100));
	off = -1;
	show("splice(src, &-1, pipe, NULL, 10, 0)", splice(f, &off, p[1], NULL, 10, 0));
	show("splice(src, NULL, pipe[0], NULL, 10, 0)", splice(f, NULL, p[0], NULL, 10, 0));
	show("tee(pipe[0], src, 10, 0)", tee(p[0], f, 10, 0));
	show("tee(pipe[0], pipe[1], 0, 0)", tee(p[0], p[1], 0, 0));
	drain("after", p[0]);
	close(p[0]);
	close(p[1]);
	close(f);
}

/* From a pipe into a file in DIR. */
static void from_pipe(void)
{
	int g = make(at(dir, "dst"), 0, O_WRONLY), p[2];
	off_t off;
	struct peer w = { 0 };

	puts("# what the pipe holds, not waiting for more");
	mkpipe(p, 0);
	fill(p[1], 1000);
	show("splice(pipe, NULL, dst, NULL, 1 MiB, 0)", splice(p[0], NULL, g, NULL, 1 << 20, 0));
	offsets("dst", g, NULL);
	fill(p[1], 500);
	off = 5000;
	show("splice(pipe, NULL, dst, &5000, 1 MiB, 0)", splice(p[0], NULL, g, &off, 1 << 20, 0));
	offsets("dst", g, &off);
	fill(p[1], PIPE_SIZE);
	show("splice(pipe, NULL, dst, NULL, 3000, 0) [full pipe]",
	     splice(p[0], NULL, g, NULL, 3000, 0));
	offsets("dst", g, NULL);
	drain("after", p[0]);

	puts("# empty pipe");
	show("splice(pipe, NULL, dst, NULL, 100, NONBLOCK)",
	     splice(p[0], NULL, g, NULL, 100, SPLICE_F_NONBLOCK));
	w.fd = p[1];
	w.delay_ms = 200;
	w.n = 3000;
	start(&w, write_all);
	show("splice(pipe, NULL, dst, NULL, 1 MiB, 0) [a writer comes]",
	     splice(p[0], NULL, g, NULL, 1 << 20, 0));
	join(&w);
	drain("after", p[0]);
	show("splice(pipe, NULL, dst, NULL, 100, 0) [no writer]",
	     splice(p[0], NULL, g, NULL, 100, 0));
	show("splice(pipe, NULL, dst, NULL, 100, NONBLOCK) [no writer]",
	     splice(p[0], NULL, g, NULL, 100, SPLICE_F_NONBLOCK));
	offsets("dst", g, NULL);
	close(p[0]);

	puts("# an O_NONBLOCK pipe");
	mkpipe(p, O_NONBLOCK);
	show("splice(nbpipe, NULL, dst, NULL, 100, 0) [empty]", splice(p[0], NULL, g, NULL, 100, 0));
	fill(p[1], 70);
	show("splice(nbpipe, NULL, dst, NULL, 100, 0)", splice(p[0], NULL, g, NULL, 100, 0));
	offsets("dst", g, NULL);

	puts("# arguments");
	off = 0;
	show("splice(pipe, &0, dst, NULL, 10, 0)", splice(p[0], &off, g, NULL, 10, 0));
	off = -5;
	fill(p[1], 10);
	show("splice(pipe, NULL, dst, &-5, 10, 0)", splice(p[0], NULL, g, &off, 10, 0));
	show("splice(pipe[1], NULL, dst, NULL, 10, 0)", splice(p[1], NULL, g, NULL, 10, 0));
	close(g);
	g = open(at(dir, "dst"), O_WRONLY | O_APPEND);
	show("splice(pipe, NULL, dst O_APPEND, NULL, 10, 0)", splice(p[0], NULL, g, NULL, 10, 0));
	close(g);
	g = open(at(dir, "dst"), O_RDONLY);
	show("splice(pipe, NULL, dst O_RDONLY, NULL, 10, 0)", splice(p[0], NULL, g, NULL, 10, 0));
	drain("after", p[0]);
	close(g);
	close(p[0]);
	close(p[1]);
	sum_file("dst", at(dir, "dst"));

	/* The kernel takes from the pipe only what the file took; the rest
	   stays for the next call, which fails (it used to be read and lost,
	   and a program splicing it next waited for ever on its own pipe). */
	puts("# a file that takes only part: RLIMIT_FSIZE");
	{
		struct rlimit old, lim;

		if (getrlimit(RLIMIT_FSIZE, &old))
			die("getrlimit");
		signal(SIGXFSZ, SIG_IGN);
		g = make(at(dir, "part"), 0, O_WRONLY);
		mkpipe(p, 0);
		fill(p[1], 3000);
		lim = old;
		lim.rlim_cur = 1000;
		if (setrlimit(RLIMIT_FSIZE, &lim))
			die("setrlimit");
		show("splice(pipe, NULL, part, NULL, 3000, 0) [1000 fit]",
		     splice(p[0], NULL, g, NULL, 3000, 0));
		show("splice(pipe, NULL, part, NULL, 3000, NONBLOCK) [none fit]",
		     splice(p[0], NULL, g, NULL, 3000, SPLICE_F_NONBLOCK));
		show("splice(pipe, NULL, part, NULL, 3000, 0) [none fit]",
		     splice(p[0], NULL, g, NULL, 3000, 0));
		if (setrlimit(RLIMIT_FSIZE, &old))
			die("setrlimit");
		signal(SIGXFSZ, SIG_DFL);
		offsets("part", g, NULL);
		drain("after", p[0]);
		close(g);
		close(p[0]);
		close(p[1]);
		sum_file("part", at(dir, "part"));
	}
}

/* Many pipes' worth, with a thread at the other end. */
static void large(void)
{
	int f = make(at(dir, "big"), BIG, O_RDONLY), g, p[2], rounds = 0;
	struct peer r = { 0 }, w = { 0 };
	long total = 0, n;
	off_t off;

	puts("# file to pipe, a reader to the end");
	mkpipe(p, 0);
	r.fd = p[0];
	start(&r, read_all);
	while ((n = splice(f, NULL, p[1], NULL, 1 << 20, 0)) > 0)
		total += n, rounds++;
	show("last splice", n);
	close(p[1]);
	join(&r);
	printf("  spliced %ld, reader got %ld, fnv %016llx\n", total, r.total,
	       (unsigned long long)r.h);
	offsets("big", f, NULL);
	close(p[0]);

	puts("# the same by sendfile, offset given");
	mkpipe(p, 0);
	memset(&r, 0, sizeof(r));
	r.fd = p[0];
	start(&r, read_all);
	off = 0;
	total = 0;
	while ((n = sendfile(p[1], f, &off, 1 << 20)) > 0)
		total += n;
	show("last sendfile", n);
	close(p[1]);
	join(&r);
	printf("  sent %ld, reader got %ld, fnv %016llx\n", total, r.total,
	       (unsigned long long)r.h);
	offsets("big", f, &off);
	close(p[0]);

	puts("# pipe to file, a writer of many small writes");
	g = make(at(dir, "big-copy"), 0, O_WRONLY);
	mkpipe(p, 0);
	w.fd = p[1];
	w.n = BIG;
	start(&w, write_all);
	total = 0;
	while ((n = splice(p[0], NULL, g, NULL, 1 << 20, 0)) > 0)
		total += n;
	show("last splice", n);
	join(&w);
	printf("  spliced %ld\n", total);
	offsets("big-copy", g, NULL);
	close(p[0]);
	close(g);
	close(f);
	sum_file("big", at(dir, "big"));
	sum_file("big-copy", at(dir, "big-copy"));
}

static void sendfile_case(void)
{
	int f = make(at(dir, "src"), FSIZE, O_RDONLY), p[2], s[2], k, e;
	off_t off;
	struct peer r = { 0 };
	char buf[2000];
	ssize_t got;

	puts("# into a pipe");
	mkpipe(p, 0);
	show("sendfile(pipe, src, NULL, 1 MiB)", sendfile(p[1], f, NULL, 1 << 20));
	offsets("src", f, NULL);
	drain("after", p[0]);
	fill(p[1], 14 * 4096);
	off = 100;
	show("sendfile(pipe, src, &100, 1 MiB) [14 buffers in use]",
	     sendfile(p[1], f, &off, 1 << 20));
	offsets("src", f, &off);
	drain("after", p[0]);
	fill(p[1], PIPE_SIZE - 100);
	r.fd = p[0];
	r.delay_ms = 200;
	r.n = 8192;
	start(&r, read_once);
	show("sendfile(pipe, src, NULL, 100000) [full, a reader comes]",
	     sendfile(p[1], f, NULL, 100000));
	join(&r);
	offsets("src", f, NULL);
	drain("after", p[0]);
	show("sendfile(pipe, src, NULL, 0)", sendfile(p[1], f, NULL, 0));
	close(p[0]);
	close(p[1]);
	mkpipe(p, O_NONBLOCK);
	fill(p[1], PIPE_SIZE);
	show("sendfile(nbpipe, src, NULL, 10) [full]", sendfile(p[1], f, NULL, 10));
	close(p[0]);
	sigpipes = 0;
	show("sendfile(pipe, src, NULL, 10) [no reader]", sendfile(p[1], f, NULL, 10));
	printf("  SIGPIPE %d times\n", (int)sigpipes);
	close(p[1]);

	puts("# files and a socket");
	k = make(at(outside, "out"), 0, O_RDWR);
	show("sendfile(outside, src, NULL, 100000)", sendfile(k, f, NULL, 100000));
	offsets("src", f, NULL);
	offsets("outside", k, NULL);
	off = FSIZE - 10;
	show("sendfile(outside, src, &EOF-10, 100)", sendfile(k, f, &off, 100));
	offsets("outside", k, &off);
	e = make(at(dir, "dst"), 0, O_WRONLY);
	off = 1000;
	show("sendfile(dst, outside, &1000, 50000)", sendfile(e, k, &off, 50000));
	offsets("dst", e, &off);
	lseek(k, 7, SEEK_SET);
	show("sendfile(dst, outside, NULL, 1 MiB)", sendfile(e, k, NULL, 1 << 20));
	offsets("dst", e, NULL);
	offsets("outside", k, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, s))
		die("socketpair");
	show("sendfile(socket, src, NULL, 1500)", sendfile(s[0], f, NULL, 1500));
	got = read(s[1], buf, sizeof(buf));
	printf("  socket got %zd, fnv %016llx\n", got,
	       (unsigned long long)fnv((unsigned char *)buf, got > 0 ? got : 0, FNV0));
	off = 0;
	show("sendfile(src, outside, NULL, 10) [read-only]", sendfile(f, k, NULL, 10));
	show("sendfile(outside, src, &-1, 10)", (off = -1, sendfile(k, f, &off, 10)));
	close(s[0]);
	close(s[1]);
	close(e);
	close(k);
	close(f);
	sum_file("dst", at(dir, "dst"));
	sum_file("outside", at(outside, "out"));
}

static volatile sig_atomic_t usr1s;

static void on_usr1(int sig)
{
	(void)sig;
	usr1s++;
}

struct kicker {
	pthread_t target, t;
	long delay_ms;
	int fd;			/* then read 8192 bytes from it, if >= 0 */
	long got;
};

static void *kick(void *arg)
{
	struct kicker *k = arg;
	static char buf[8192];

	nap(k->delay_ms);
	pthread_kill(k->target, SIGUSR1);
	if (k->fd >= 0) {
		nap(k->delay_ms);
		k->got = read(k->fd, buf, sizeof(buf));
	}
	return NULL;
}

/* A signal while waiting on a pipe: EINTR, or a restart with SA_RESTART. */
static void signals(void)
{
	int f = make(at(dir, "src"), FSIZE, O_RDWR), p[2];
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct kicker k = { .target = pthread_self(), .delay_ms = 200, .fd = -1 };

	sigaction(SIGUSR1, &sa, NULL);
	mkpipe(p, 0);
	fill(p[1], PIPE_SIZE);
	puts("# full pipe, a handler without SA_RESTART");
	pthread_create(&k.t, NULL, kick, &k);
	show("splice(src, NULL, pipe, NULL, 100, 0)", splice(f, NULL, p[1], NULL, 100, 0));
	pthread_join(k.t, NULL);
	printf("  handler ran %d times\n", (int)usr1s);
	offsets("src", f, NULL);
	show("sendfile(pipe, src, NULL, 100)",
	     (pthread_create(&k.t, NULL, kick, &k), sendfile(p[1], f, NULL, 100)));
	pthread_join(k.t, NULL);
	printf("  handler ran %d times\n", (int)usr1s);

	puts("# ... with SA_RESTART: the wait goes on until room");
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	k.fd = p[0];
	pthread_create(&k.t, NULL, kick, &k);
	show("splice(src, NULL, pipe, NULL, 100000, 0)", splice(f, NULL, p[1], NULL, 100000, 0));
	pthread_join(k.t, NULL);
	printf("  handler ran %d times, reader took %ld\n", (int)usr1s, k.got);
	offsets("src", f, NULL);
	drain("after", p[0]);

	puts("# empty pipe into a file");
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, NULL);
	k.fd = -1;
	pthread_create(&k.t, NULL, kick, &k);
	show("splice(pipe, NULL, src, NULL, 100, 0)", splice(p[0], NULL, f, NULL, 100, 0));
	pthread_join(k.t, NULL);
	printf("  handler ran %d times\n", (int)usr1s);
	offsets("src", f, NULL);
	close(p[0]);
	close(p[1]);
	close(f);
	sum_file("src", at(dir, "src"));
}

static void copy_file_range_case(void)
{
	int f = make(at(dir, "src"), FSIZE, O_RDWR), k, e, a;
	off_t oi, oo;

	k = make(at(outside, "out"), 0, O_RDWR);
	show("copy_file_range(src, NULL, outside, NULL, 100000)",
	     copy_file_range(f, NULL, k, NULL, 100000, 0));
	offsets("src", f, NULL);
	offsets("outside", k, NULL);
	oi = 1000;
	oo = 50;
	show("copy_file_range(src, &1000, outside, &50, 5000)",
	     copy_file_range(f, &oi, k, &oo, 5000, 0));
	offsets("src", f, &oi);
	offsets("outside", k, &oo);
	oi = FSIZE - 10;
	show("copy_file_range(src, &EOF-10, outside, NULL, 1000)",
	     copy_file_range(f, &oi, k, NULL, 1000, 0));
	show("copy_file_range(src, &EOF, outside, NULL, 1000)",
	     copy_file_range(f, &oi, k, NULL, 1000, 0));
	offsets("outside", k, &oi);

	e = make(at(dir, "dst"), 0, O_RDWR);
	lseek(k, 3, SEEK_SET);
	show("copy_file_range(outside, NULL, dst, NULL, 1 MiB)",
	     copy_file_range(k, NULL, e, NULL, 1 << 20, 0));
	offsets("outside", k, NULL);
	offsets("dst", e, NULL);
	oi = 10;
	oo = 200000;
	show("copy_file_range(outside, &10, dst, &200000, 20000)",
	     copy_file_range(k, &oi, e, &oo, 20000, 0));
	offsets("dst", e, &oo);
	oi = 0;
	oo = 100;
	show("copy_file_range(src, &0, src, &100, 1000) [overlap]",
	     copy_file_range(f, &oi, f, &oo, 1000, 0));
	oo = 50000;
	show("copy_file_range(src, &0, src, &50000, 1000)",
	     copy_file_range(f, &oi, f, &oo, 1000, 0));
	show("copy_file_range(src, NULL, dst, NULL, 10, 1)",
	     copy_file_range(f, NULL, e, NULL, 10, 1));
	a = open(at(dir, "dst"), O_WRONLY | O_APPEND);
	show("copy_file_range(src, NULL, dst O_APPEND, NULL, 10)",
	     copy_file_range(f, NULL, a, NULL, 10, 0));
	show("copy_file_range(outside, NULL, dst O_APPEND, NULL, 10)",
	     copy_file_range(k, NULL, a, NULL, 10, 0));
	close(a);
	a = open(at(dir, "dst"), O_RDONLY);
	show("copy_file_range(src, NULL, dst O_RDONLY, NULL, 10)",
	     copy_file_range(f, NULL, a, NULL, 10, 0));
	close(a);
	a = open(dir, O_RDONLY | O_DIRECTORY);
	show("copy_file_range(DIR, NULL, outside, NULL, 10)",
	     copy_file_range(a, NULL, k, NULL, 10, 0));
	close(a);
	a = memfd_create("copytest", 0);
	show("copy_file_range(src, NULL, memfd, NULL, 10) [another file system]",
	     copy_file_range(f, NULL, a, NULL, 10, 0));
	show("copy_file_range(memfd, NULL, dst, NULL, 0)", copy_file_range(a, NULL, e, NULL, 0, 0));
	show("sendfile(memfd, src, NULL, 10)", sendfile(a, f, NULL, 10));
	offsets("src", f, NULL);
	close(a);
	close(e);
	close(k);
	close(f);
	sum_file("src", at(dir, "src"));
	sum_file("dst", at(dir, "dst"));
	sum_file("outside", at(outside, "out"));
}

int main(int argc, char **argv)
{
	static const struct { const char *name; void (*fn)(void); } cases[] = {
		{ "to-pipe", to_pipe },
		{ "from-pipe", from_pipe },
		{ "large", large },
		{ "sendfile", sendfile_case },
		{ "copy-file-range", copy_file_range_case },
		{ "signals", signals },
	};
	struct sigaction sa = { .sa_handler = on_sigpipe };

	if (argc != 4) {
		fprintf(stderr, "usage: copytest CASE DIR OUTSIDE\n");
		return 2;
	}
	dir = argv[2];
	outside = argv[3];
	sigaction(SIGPIPE, &sa, NULL);
	alarm(60);	/* a hang (the bug these cases are for) fails */
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!strcmp(argv[1], cases[i].name)) {
			cases[i].fn();
			return 0;
		}
	}
	fprintf(stderr, "copytest: unknown case %s\n", argv[1]);
	return 2;
}
