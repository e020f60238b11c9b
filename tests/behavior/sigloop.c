/*
 * sigloop: signals delivered while a thread loops in system calls.
 *
 *   sigloop thread|child restart|norestart
 *
 * Everything printed on stdout is deterministic, so the output of a native
 * run can be compared byte for byte with a run under capture.  Counts that
 * depend on timing (how many calls happened to be interrupted) go to stderr.
 *
 * Phase A makes one interruption happen at a known point: a helper thread
 * waits until the main thread is asleep inside a blocking call (it reads
 * /proc/self/task/TID/syscall, which names the call only while the thread is
 * off the CPU inside it), then sends SIGUSR1.  The kernel's answer is then
 * fixed: without SA_RESTART a blocked pipe read or write fails with EINTR;
 * with SA_RESTART it is restarted and completes when the helper unblocks it;
 * clock_nanosleep fails with EINTR either way.  Each call is made three ways:
 * through glibc (a patched site under capture), through a `syscall`
 * instruction in this program (patched too if capture patches the program),
 * and through a `syscall` instruction in a page of code made at run time,
 * which only capture's SUD net can catch.
 *
 * Phase B is a storm: a producer process writes a known byte sequence into a
 * pipe while a sender (a thread, or a child process) sends SIGUSR1 to the
 * main thread a fixed number of times, each time waiting for the handler to
 * run before sending the next, so every signal is delivered and counted.  The
 * main thread reads the pipe, writes to /dev/null and sleeps, rotating
 * through the three ways of making the calls.  Checked: every byte arrives
 * in order, every handler run is counted, and no call fails except with EINTR
 * where the kernel allows it (never for a pipe read under SA_RESTART, never
 * for a write to /dev/null).
 *
 * The handler itself makes system calls, both ways, and keeps errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "rawsys.h"

#define STORM_SIGNALS 10000
#define STORM_BYTES   (4u << 20)

static int restart;
static int devnull;
static pid_t main_tid;
static int failures;

/* Shared with a sender child, hence in a MAP_SHARED page. */
struct shared {
	atomic_uint handled;
	atomic_uint handler_errors;
};
static struct shared *sh;

/*
 * The two raw ways (tests/common/rawsys.h): rawsys4() is a `syscall`
 * instruction in this program, jit4 one in a page made at run time.
 */
static rawsys_fn4 jit4;

static void make_jit(void)
{
	jit4 = rawsys_jit4();
	if (!jit4)
		abort();
}

/* How a system call is made. */
enum via { VIA_GLIBC, VIA_INLINE, VIA_JIT };
static const char *via_name[] = { "glibc", "inline", "jit" };

/* Raw system calls, returning -1 and setting errno like glibc does. */
static long rawvia(enum via via, long nr, long a, long b, long c, long d)
{
	long r = via == VIA_JIT ? jit4(nr, a, b, c, d) : rawsys4(nr, a, b, c, d);
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static void fail(const char *what)
{
	printf("FAIL: %s\n", what);
	fflush(stdout);
	failures++;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void on_usr1(int sig)
{
	int saved = errno;
	char c = 'h';

	(void)sig;
	if (write(devnull, &c, 1) != 1)
		atomic_fetch_add(&sh->handler_errors, 1);
	if (rawvia(VIA_INLINE, SYS_write, devnull, (long)&c, 1, 0) != 1)
		atomic_fetch_add(&sh->handler_errors, 1);
	if (rawvia(VIA_JIT, SYS_write, devnull, (long)&c, 1, 0) != 1)
		atomic_fetch_add(&sh->handler_errors, 1);
	if (rawvia(VIA_JIT, SYS_getppid, 0, 0, 0, 0) != getppid())
		atomic_fetch_add(&sh->handler_errors, 1);
	errno = saved;
	atomic_fetch_add(&sh->handled, 1);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = restart ? SA_RESTART : 0;
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction");
}

static void pause_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The system call thread `tid` is blocked in, or -1 while it runs. */
static long blocked_in(pid_t tid)
{
	char path[64], buf[256];
	int fd;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (buf[0] < '0' || buf[0] > '9')
		return -1;	/* "running" */
	return strtol(buf, NULL, 10);
}

/*
 * Waits are bounded so that a lost signal or a call that never blocks shows
 * up as a failure instead of a hang; the bound is far above any real delay.
 */
#define PATIENCE_NS (30LL * 1000000000)

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void wait_blocked(pid_t tid, long nr1, long nr2)
{
	long long deadline = now_ns() + PATIENCE_NS;
	long nr;

	for (;;) {
		nr = blocked_in(tid);
		if (nr == nr1 || nr == nr2)
			return;
		if (now_ns() > deadline)
			break;
		pause_us(200);
	}
	printf("FAIL: the main thread never slept in system call %ld "
	       "(last seen: %ld)\n", nr1, nr);
	failures++;
}

/* Wait for the handler count to pass `before`; 0 if it never does. */
static int wait_handled(unsigned before, int spin)
{
	long long deadline = now_ns() + PATIENCE_NS;

	while (atomic_load(&sh->handled) == before) {
		if (now_ns() > deadline)
			return 0;
		if (spin)
			sched_yield();
		else
			pause_us(100);
	}
	return 1;
}

/* ---------- phase A ---------- */

enum op { OP_READ, OP_WRITE, OP_SLEEP };

struct phase_a {
	enum op op;
	int fds[2];
	int done;		/* set by main once the call returned */
	pthread_mutex_t lock;
};

static void *phase_a_helper(void *arg)
{
	struct phase_a *pa = arg;
	long nr = pa->op == OP_READ ? SYS_read :
		  pa->op == OP_WRITE ? SYS_write : SYS_clock_nanosleep;
	long alt = pa->op == OP_SLEEP ? SYS_nanosleep : nr;
	unsigned before = atomic_load(&sh->handled);

	wait_blocked(main_tid, nr, alt);
	if (syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1))
		die("tgkill");
	if (!wait_handled(before, 0)) {
		printf("FAIL: SIGUSR1 sent in phase A was never handled\n");
		failures++;
	}
	if (pa->op == OP_SLEEP)
		return NULL;	/* nanosleep is never restarted */
	if (!restart)
		return NULL;
	/* With SA_RESTART the call goes back to sleep: unblock it. */
	wait_blocked(main_tid, nr, alt);
	if (pa->op == OP_READ) {
		if (write(pa->fds[1], "R", 1) != 1)
			die("write");
	} else {
		char buf[65536];
		if (read(pa->fds[0], buf, sizeof buf) <= 0)
			die("read");
	}
	return NULL;
}

static void phase_a(enum op op, enum via via)
{
	static const char *names[] = { "read", "write", "clock_nanosleep" };
	struct phase_a pa = { .op = op };
	pthread_t th;
	long r;
	int err;
	char c = 'W';

	if (pipe(pa.fds))
		die("pipe");
	if (op == OP_WRITE) {
		/* Fill the pipe so the next write blocks. */
		char buf[4096];
		int fl = fcntl(pa.fds[1], F_GETFL);
		memset(buf, 'f', sizeof buf);
		fcntl(pa.fds[1], F_SETFL, fl | O_NONBLOCK);
		while (write(pa.fds[1], buf, sizeof buf) > 0)
			;
		while (write(pa.fds[1], buf, 1) > 0)
			;
		fcntl(pa.fds[1], F_SETFL, fl);
	}
	if (pthread_create(&th, NULL, phase_a_helper, &pa))
		die("pthread_create");

	errno = 0;
	if (op == OP_READ) {
		if (via != VIA_GLIBC)
			r = rawvia(via, SYS_read, pa.fds[0], (long)&c, 1, 0);
		else
			r = read(pa.fds[0], &c, 1);
	} else if (op == OP_WRITE) {
		if (via != VIA_GLIBC)
			r = rawvia(via, SYS_write, pa.fds[1], (long)&c, 1, 0);
		else
			r = write(pa.fds[1], &c, 1);
	} else {
		struct timespec ts = { 30, 0 }, rem = { 0, 0 };
		if (via != VIA_GLIBC)
			r = rawvia(via, SYS_clock_nanosleep, CLOCK_MONOTONIC, 0,
				   (long)&ts, (long)&rem);
		else {
			/* glibc returns the error number instead of -1. */
			int e = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem);
			r = e ? -1 : 0;
			errno = e;
		}
		if (r == -1 && errno == EINTR &&
		    !(rem.tv_sec > 0 && rem.tv_sec <= 30))
			fail("clock_nanosleep: remaining time not reported");
	}
	err = errno;
	pthread_join(th, NULL);

	printf("phase A %-6s %-15s -> ", via_name[via], names[op]);
	if (r < 0)
		printf("-1 %s\n", err == EINTR ? "EINTR" : strerror(err));
	else if (op == OP_READ)
		printf("%ld byte '%c'\n", r, c);
	else
		printf("%ld\n", r);
	close(pa.fds[0]);
	close(pa.fds[1]);
}

/* ---------- phase B ---------- */

static unsigned char pattern(uint64_t i)
{
	return (unsigned char)((i * 7 + (i >> 9)) & 0xff);
}

static void producer(int wfd)
{
	static unsigned char buf[8192];
	uint64_t off = 0;
	unsigned chunk = 1;

	while (off < STORM_BYTES) {
		size_t n = chunk, done = 0;
		if (n > STORM_BYTES - off)
			n = STORM_BYTES - off;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		while (done < n) {
			ssize_t w = write(wfd, buf + done, n - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("producer write");
			}
			done += (size_t)w;
		}
		off += n;
		chunk = (chunk * 37 + 11) % 8192 + 1;
		if ((off & 0xffff) < 8192)
			pause_us(50);
	}
	_exit(0);
}

/* Send the storm; `target_pid`/`tid` name the main thread. */
static void send_storm(int use_kill, pid_t target_pid, pid_t tid)
{
	for (unsigned i = 0; i < STORM_SIGNALS; i++) {
		unsigned before = atomic_load(&sh->handled);
		int r = use_kill ? kill(target_pid, SIGUSR1)
				 : (int)syscall(SYS_tgkill, target_pid, tid,
						SIGUSR1);
		if (r)
			die("send signal");
		if (!wait_handled(before, 1))
			fprintf(stderr, "sigloop: signal %u never handled\n", i);
		if (i % 7 == 0)
			pause_us(i % 13 * 10);
	}
}

static void *storm_thread(void *arg)
{
	atomic_int *done = arg;
	send_storm(0, getpid(), main_tid);
	atomic_store(done, 1);
	return NULL;
}

static void phase_b(int use_child)
{
	int p[2];
	pid_t prod, sender = -1;
	pthread_t th;
	atomic_int thread_done = 0;
	int storm_done = 0, eof = 0, iter = 0;
	uint64_t got = 0, bad_bytes = 0;
	unsigned long read_eintr = 0, sleep_eintr = 0, errors = 0;
	static unsigned char buf[4096];
	unsigned start = atomic_load(&sh->handled);

	if (pipe(p))
		die("pipe");
	prod = fork();
	if (prod < 0)
		die("fork");
	if (prod == 0) {
		signal(SIGUSR1, SIG_IGN);
		close(p[0]);
		producer(p[1]);
	}
	close(p[1]);

	if (use_child) {
		pid_t parent = getpid();
		sender = fork();
		if (sender < 0)
			die("fork");
		if (sender == 0) {
			signal(SIGUSR1, SIG_IGN);
			send_storm(1, parent, 0);
			_exit(0);
		}
	} else if (pthread_create(&th, NULL, storm_thread, &thread_done)) {
		die("pthread_create");
	}

	while (!eof || !storm_done) {
		enum via via = (enum via)(iter++ % 3);
		ssize_t n;
		struct timespec ts = { 0, 1000 };

		if (!eof) {
			errno = 0;
			n = via != VIA_GLIBC
				? rawvia(via, SYS_read, p[0], (long)buf,
					 sizeof buf, 0)
				: read(p[0], buf, sizeof buf);
			if (n < 0) {
				if (errno == EINTR)
					read_eintr++;
				else
					errors++;
			} else if (n == 0) {
				eof = 1;
			} else {
				for (ssize_t i = 0; i < n; i++)
					if (buf[i] != pattern(got + (uint64_t)i))
						bad_bytes++;
				got += (uint64_t)n;
				ssize_t w = via != VIA_GLIBC
					? rawvia(via, SYS_write, devnull,
						 (long)buf, n, 0)
					: write(devnull, buf, (size_t)n);
				if (w != n)
					errors++;
			}
		}
		errno = 0;
		if ((via != VIA_GLIBC
			     ? rawvia(via, SYS_nanosleep, (long)&ts, 0, 0, 0)
			     : nanosleep(&ts, NULL))) {
			if (errno == EINTR)
				sleep_eintr++;
			else
				errors++;
		}
		if (rawvia(VIA_JIT, SYS_getppid, 0, 0, 0, 0) != getppid())
			errors++;

		if (use_child) {
			if (!storm_done) {
				int st;
				pid_t w = waitpid(sender, &st, WNOHANG);
				if (w == sender)
					storm_done = 1;
				else if (w < 0 && errno != EINTR)
					die("waitpid");
			}
		} else {
			storm_done = atomic_load(&thread_done);
		}
	}
	if (!use_child)
		pthread_join(th, NULL);
	close(p[0]);
	{
		int st;
		while (waitpid(prod, &st, 0) < 0)
			if (errno != EINTR)
				die("waitpid producer");
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail("producer failed");
	}

	printf("phase B %s storm: bytes=%llu%s handlers=%u handler_errors=%u "
	       "errors=%lu\n",
	       use_child ? "child" : "thread", (unsigned long long)got,
	       bad_bytes ? " CORRUPT" : " intact",
	       atomic_load(&sh->handled) - start,
	       atomic_load(&sh->handler_errors), errors);
	if (restart)
		printf("phase B read EINTR under SA_RESTART: %lu\n", read_eintr);
	fprintf(stderr, "sigloop: read_eintr=%lu sleep_eintr=%lu\n",
		read_eintr, sleep_eintr);
	if (got != STORM_BYTES || bad_bytes)
		fail("storm data");
	if (atomic_load(&sh->handled) - start != STORM_SIGNALS)
		fail("storm handler count");
	if (errors || atomic_load(&sh->handler_errors))
		fail("unexpected errors");
	if (restart && read_eintr)
		fail("EINTR from a pipe read under SA_RESTART");
}

int main(int argc, char **argv)
{
	int use_child;

	if (argc != 3 ||
	    (strcmp(argv[1], "thread") && strcmp(argv[1], "child")) ||
	    (strcmp(argv[2], "restart") && strcmp(argv[2], "norestart"))) {
		fprintf(stderr, "usage: sigloop thread|child restart|norestart\n");
		return 2;
	}
	use_child = !strcmp(argv[1], "child");
	restart = !strcmp(argv[2], "restart");
	setvbuf(stdout, NULL, _IOLBF, 0);

	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0)
		die("/dev/null");
	main_tid = (pid_t)syscall(SYS_gettid);
	make_jit();
	install();

	printf("sigloop %s %s\n", argv[1], argv[2]);
	for (enum via via = VIA_GLIBC; via <= VIA_JIT; via++) {
		phase_a(OP_READ, via);
		phase_a(OP_WRITE, via);
		phase_a(OP_SLEEP, via);
	}
	phase_b(use_child);
	printf("handler runs in total: %u\n", atomic_load(&sh->handled));
	printf("%s\n", failures ? "FAILED" : "OK");
	return failures ? 1 : 0;
}
