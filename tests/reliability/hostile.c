/*
 * Hostile programs (issue 15, items 1-3): things an ordinary program may do
 * that DEFUSE must survive.
 *
 *     hostile CASE DIR [COUNT]
 *
 * DIR is an empty scratch directory: natively a plain directory, under
 * DEFUSE a mount point (run.py runs both and compares).  COUNT, or else the
 * environment variable HOSTILE_COUNT, sets the case's iteration count (forks
 * or rounds), so that a slow build can run few and a soak run many; the
 * count is printed, so all runs of one test must get the same.
 *
 * Each case prints only what must be the same everywhere (no pids, no
 * paths, no timings, no descriptor numbers) and exits 0; an unexpected
 * result is printed as a "FAIL ..." line with exit 1.  A hang is a failure
 * too: every wait for another process or thread gives up after HANG_GUARD
 * seconds with a FAIL line, and run.py kills a run that outlives its own
 * timeout.  Nothing else depends on time.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <linux/aio_abi.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HANG_GUARD 60	/* seconds; far above any normal wait here */

static const char *dir;
static void (*on_fail)(void);	/* cleanup before a FAIL exit */

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";

	return n ? n : "?";
}

/*
 * Ends the process at once: _exit, not exit, because other threads may
 * still be inside DEFUSE (or hung there), and exit's handlers would run
 * under them.
 */
static void fail(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (e)
		printf(" (errno %s)", ename(e));
	printf("\n");
	fflush(stdout);
	if (on_fail)
		on_fail();
	_exit(1);
}

#define CHECK(x) do { if (!(x)) fail("%s:%d: %s", __FILE__, __LINE__, #x); } while (0)

/* A failure that is no system call's: no errno shown. */
#define FAILX(...) (errno = 0, fail(__VA_ARGS__))

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* DIR/name; per thread, since worker threads build paths at once. */
static char *at(const char *name)
{
	static __thread char buf[4][4096];
	static __thread int i;
	char *b = buf[i++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

static void put(const char *name, const char *data, size_t len)
{
	int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	CHECK(close(fd) == 0);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* A short sleep that grows, for polling loops: quick at first, cheap later. */
static void nap(long *ns)
{
	struct timespec t = { 0, *ns };

	nanosleep(&t, NULL);
	if (*ns < 1000000)
		*ns *= 2;
}

/*
 * Waits for pid for at most HANG_GUARD seconds; returns its exit code (or
 * 128 + signal), or -1 if it did not finish (then it is killed and
 * reaped, so that nothing is left behind).
 */
static int reap_bounded(pid_t pid)
{
	double end = now() + HANG_GUARD;
	long ns = 20000;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		CHECK(r == 0 || (r < 0 && errno == EINTR));
		if (now() > end)
			break;
		nap(&ns);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Waits until *c >= want, for at most HANG_GUARD seconds; 0 if it never is. */
static int until(const long *c, long want)
{
	double end = now() + HANG_GUARD;
	long ns = 20000;

	while (__atomic_load_n(c, __ATOMIC_ACQUIRE) < want) {
		if (now() > end)
			return 0;
		nap(&ns);
	}
	return 1;
}

static long count(int argc, char **argv, long def)
{
	const char *s = argc > 3 ? argv[3] : getenv("HOSTILE_COUNT");
	long n = s && *s ? atol(s) : def;

	return n > 0 ? n : def;
}

/* ---- 1. fork while other threads are inside DEFUSE --------------------- */

/*
 * One thread forks again and again while WORKERS threads keep calling into
 * DEFUSE.  A fork copies only the forking thread, so any lock another
 * thread held at that moment is held forever in the child unless DEFUSE
 * takes care; the child's own calls on the mount must still complete.
 * Before the fix about one child in 60 hung (mixed: one in 25), hence 500
 * forks (mixed: 200, where each fork is slower): a pass is no accident.
 */

#define WORKERS 16
#define SHARED_LEN 4096

enum kind { K_WRITE, K_READDIR, K_STAT, K_MKDIR, K_RENAME, K_DUP, K_READ, NKINDS };

static int stop;		/* workers: finish the round and return */
static long started;		/* workers that completed a first round */
static int shared_fd = -1;	/* one description all threads share */

static int all_x(const char *b, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++)
		if (b[i] != 'x')
			return 0;
	return 1;
}

/* One round of one kind of call; every round leaves the tree as it was. */
static void one_round(enum kind k, int id, long i)
{
	char name[32], name2[32], data[32], buf[128];
	struct stat st;
	int fd, len, seen;
	DIR *d;
	struct dirent *e;
	off_t off = (i * 64) % SHARED_LEN;

	switch (k) {
	case K_WRITE:
		snprintf(name, sizeof(name), "w%02d", id);
		len = snprintf(data, sizeof(data), "worker %02d\n", id);
		fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0);
		CHECK(write(fd, data, len) == len);
		CHECK(close(fd) == 0);
		break;
	case K_READDIR:
		d = opendir(dir);
		CHECK(d);
		seen = 0;
		while ((e = readdir(d)))
			seen += !strcmp(e->d_name, "shared");
		CHECK(seen == 1);
		CHECK(closedir(d) == 0);
		break;
	case K_STAT:
		CHECK(stat(at("shared"), &st) == 0);
		CHECK(S_ISREG(st.st_mode) && st.st_size == SHARED_LEN);
		break;
	case K_MKDIR:
		snprintf(name, sizeof(name), "m%02d", id);
		CHECK(mkdir(at(name), 0755) == 0);
		CHECK(rmdir(at(name)) == 0);
		break;
	case K_RENAME:
		snprintf(name, sizeof(name), "r%02d.a", id);
		snprintf(name2, sizeof(name2), "r%02d.b", id);
		CHECK(rename(at(name), at(name2)) == 0);
		CHECK(rename(at(name2), at(name)) == 0);
		break;
	case K_DUP:
		fd = dup(shared_fd);
		CHECK(fd >= 0);
		CHECK(close(fd) == 0);
		fd = fcntl(shared_fd, F_DUPFD_CLOEXEC, 3);
		CHECK(fd >= 0);
		CHECK(close(fd) == 0);
		break;
	case K_READ:
		/* The offset is shared and raced for: any amount, all 'x'. */
		CHECK(lseek(shared_fd, off, SEEK_SET) == off);
		len = read(shared_fd, buf, 64);
		CHECK(len >= 0 && all_x(buf, len));
		CHECK(pread(shared_fd, buf, 64, off) == 64 && all_x(buf, 64));
		break;
	default:
		break;
	}
}

struct worker { pthread_t t; int id; enum kind kind; };

static void *worker(void *arg)
{
	struct worker *w = arg;
	long i = 0;

	do {
		one_round(w->kind, w->id, i);
		if (i++ == 0)
			__atomic_add_fetch(&started, 1, __ATOMIC_RELEASE);
	} while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE));
	return NULL;
}

/*
 * What the child of fork number i does on the mount before it exits: write
 * a file, and in the mixed case one more kind of call, a different one each
 * time (all of them in every child would make each child slow to get
 * through the workers' contention, for no more coverage).
 */
static void child_io(int mixed, long i)
{
	/* A failed CHECK here prints FAIL and exits 1: the parent reports it. */
	one_round(K_WRITE, 99, 0);
	if (mixed) {
		enum kind k = (enum kind)(i % NKINDS);

		if (k == K_RENAME) {
			CHECK(rename(at("w99"), at("w99.b")) == 0);
			CHECK(rename(at("w99.b"), at("w99")) == 0);
		} else if (k == K_READDIR) {
			/* Not opendir: in the ASan build its malloc can hang
			   the child of a threaded parent, even natively (that
			   allocator's locks are not made safe across fork). */
			char buf[4096];
			int fd = open(dir, O_RDONLY | O_DIRECTORY), seen = 0;
			long n;

			CHECK(fd >= 0);
			while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
				for (long o = 0; o < n; o += ((struct dirent64 *)(buf + o))->d_reclen)
					seen += !strcmp(((struct dirent64 *)(buf + o))->d_name, "shared");
			CHECK(n == 0 && seen == 1);
			CHECK(close(fd) == 0);
		} else {
			one_round(k, 99, i);
		}
	}
	_exit(0);
}

static int case_fork(int mixed, long forks)
{
	struct worker w[WORKERS];
	char x[SHARED_LEN], name[32];
	struct timespec end;

	memset(x, 'x', sizeof(x));
	put("shared", x, sizeof(x));
	shared_fd = open(at("shared"), O_RDONLY);
	CHECK(shared_fd >= 0);
	for (int i = 0; i < WORKERS; i++) {
		w[i].id = i;
		w[i].kind = mixed ? (enum kind)(i % NKINDS) : K_WRITE;
		if (w[i].kind == K_RENAME) {
			snprintf(name, sizeof(name), "r%02d.a", i);
			put(name, "rename me\n", 10);
		}
		CHECK(pthread_create(&w[i].t, NULL, worker, &w[i]) == 0);
	}
	/* Fork only once every worker is busy inside DEFUSE. */
	if (!until(&started, WORKERS))
		FAILX("a worker never finished its first round");
	for (long i = 0; i < forks; i++) {
		pid_t pid = fork();
		int st;

		CHECK(pid >= 0);
		if (pid == 0)
			child_io(mixed, i);
		st = reap_bounded(pid);
		if (st < 0)
			FAILX("child hung (fork %ld of %ld)", i + 1, forks);
		if (st != 0)
			FAILX("child exited with status %d (fork %ld)", st, i + 1);
	}
	say("forks %ld ok\n", forks);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += HANG_GUARD;
	for (int i = 0; i < WORKERS; i++)
		if (pthread_timedjoin_np(w[i].t, NULL, &end) != 0)
			FAILX("worker %d hung", i);
	say("workers %d ok\n", WORKERS);
	CHECK(close(shared_fd) == 0);
	return 0;
}

/* ---- 2. a process sharing a description dies or stops in a write -------- */

/*
 * A survivor process and a series of writers share one description (one
 * inherited descriptor, one file offset) of a mount file and write 64-byte
 * records through it.  Each writer is killed while it writes (with stop:
 * first stopped for 50 ms, then killed).  Whatever state a writer dies or
 * stops in, the survivor must keep writing, and every one of its records
 * must be in the file, whole; the killed writers' records may be there,
 * partly or not at all.
 */

#define REC 64

struct board {			/* in shared memory: survivor, writers, parent */
	long survivor;		/* records the survivor has written */
	long writer;		/* records the current writer has written */
	int stop;		/* survivor: stop writing and exit */
};

static struct board *board;
static pid_t survivor_pid, writer_pid;

static void record(char *r, char who, long seq)
{
	int n = snprintf(r, REC, "<%c:%08ld:", who, seq);

	for (int i = n; i < REC - 1; i++)
		r[i] = 'a' + (seq + i) % 26;
	r[REC - 1] = '\n';
}

static void kill_all(void)
{
	if (writer_pid > 0)
		kill(writer_pid, SIGKILL);
	if (survivor_pid > 0)
		kill(survivor_pid, SIGKILL);
}

static void survivor(int fd)
{
	struct timespec pause = { 0, 100000 };
	char r[REC];

	/* Paced, so that the file stays small; it still writes throughout. */
	for (long seq = 0; !__atomic_load_n(&board->stop, __ATOMIC_ACQUIRE); seq++) {
		record(r, 'S', seq);
		CHECK(write(fd, r, REC) == REC);
		__atomic_store_n(&board->survivor, seq + 1, __ATOMIC_RELEASE);
		nanosleep(&pause, NULL);
	}
	_exit(0);
}

static void writer(int fd)
{
	char r[REC];

	for (long seq = 0;; seq++) {
		record(r, 'V', seq);
		CHECK(write(fd, r, REC) == REC);
		__atomic_store_n(&board->writer, seq + 1, __ATOMIC_RELEASE);
	}
}

/* Every survivor record 0..n-1 once and whole; prints what is wrong. */
static int check_survivor(long n)
{
	struct stat st;
	char *buf, want[REC];
	unsigned char *seen;
	long missing = 0, repeated = 0, damaged = 0;
	ssize_t got = 0, r;
	int fd = open(at("log"), O_RDONLY);

	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	buf = malloc(st.st_size + 1);
	seen = calloc(n + 1, 1);
	CHECK(buf && seen);
	while (got < st.st_size && (r = read(fd, buf + got, st.st_size - got)) > 0)
		got += r;
	CHECK(got == st.st_size);
	CHECK(close(fd) == 0);
	/* Records need not be at multiples of 64: a killed writer's may be cut. */
	for (ssize_t i = 0; i + 2 < got; i++) {
		long seq;

		if (buf[i] != '<' || buf[i + 1] != 'S' || buf[i + 2] != ':')
			continue;
		if (i + REC > got || sscanf(buf + i + 3, "%8ld", &seq) != 1 ||
		    seq < 0 || seq >= n) {
			damaged++;
			continue;
		}
		record(want, 'S', seq);
		if (memcmp(buf + i, want, REC))
			damaged++;
		else if (seen[seq]++)
			repeated++;
	}
	for (long s = 0; s < n; s++)
		missing += !seen[s];
	free(buf);
	free(seen);
	if (missing || repeated || damaged)
		say("FAIL survivor records: %ld of %ld missing, %ld repeated, %ld damaged\n",
		    missing, n, repeated, damaged);
	return !(missing || repeated || damaged);
}

static int case_sharer(int stop_first, long rounds)
{
	int fd, st;

	board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(board != MAP_FAILED);
	on_fail = kill_all;
	/* No O_APPEND: the shared offset is what the writers contend for. */
	fd = open(at("log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	survivor_pid = fork();
	CHECK(survivor_pid >= 0);
	if (survivor_pid == 0)
		survivor(fd);
	if (!until(&board->survivor, 1))
		FAILX("the survivor never wrote");
	for (long r = 0; r < rounds; r++) {
		long before;

		__atomic_store_n(&board->writer, 0, __ATOMIC_RELEASE);
		writer_pid = fork();
		CHECK(writer_pid >= 0);
		if (writer_pid == 0)
			writer(fd);
		/* Vary how far the writer gets before it is hit. */
		if (!until(&board->writer, 1 + r % 8))
			FAILX("writer blocked (round %ld): a lock left by an earlier writer?", r + 1);
		if (stop_first) {
			struct timespec t = { 0, 50000000 };

			CHECK(kill(writer_pid, SIGSTOP) == 0);
			nanosleep(&t, NULL);
		}
		CHECK(kill(writer_pid, SIGKILL) == 0);
		st = reap_bounded(writer_pid);
		writer_pid = 0;
		if (st != 128 + SIGKILL)
			FAILX("writer ended with status %d, not killed (round %ld)", st, r + 1);
		/* The survivor must get on: a few more records after the kill. */
		before = __atomic_load_n(&board->survivor, __ATOMIC_ACQUIRE);
		if (!until(&board->survivor, before + 3))
			FAILX("survivor blocked after the writer was killed (round %ld)", r + 1);
	}
	__atomic_store_n(&board->stop, 1, __ATOMIC_RELEASE);
	st = reap_bounded(survivor_pid);
	survivor_pid = 0;
	if (st != 0)
		FAILX("survivor %s", st < 0 ? "hung at the end" : "failed");
	CHECK(close(fd) == 0);
	say("rounds %ld: every writer killed%s\n", rounds, stop_first ? " while stopped" : "");
	if (check_survivor(board->survivor))
		say("survivor records all present and whole\n");
	else
		st = 1;
	CHECK(unlink(at("log")) == 0);
	return st;
}

/* ---- 3. the program's dup2 over numbers DEFUSE might use ---------------- */

/*
 * DEFUSE keeps descriptors of its own (a module's root directory, one per
 * emulated open file) at high numbers.  A program may dup2 onto any number
 * below its soft RLIMIT_NOFILE and close it again, and may lower that
 * limit; neither may disturb the mount.  Results are printed line by line
 * (a FAIL line for a wrong one) so a diff shows everything that broke.
 */

#define NM 4
#define XDATA "outside file: DEFUSE must never write here\n"

static char scratch[4096], xpath[4200];
static int status;

static void cleanup_scratch(void)
{
	if (xpath[0])
		unlink(xpath);
	if (scratch[0])
		rmdir(scratch);
}

static void result(const char *what, int good, const char *fmt, ...)
{
	va_list ap;

	if (good) {
		say("%s: ok\n", what);
		return;
	}
	status = 1;
	printf("FAIL %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	say("\n");
}

/* Reads all of fd from offset 0 into buf (NUL-terminated); -errno on error. */
static ssize_t slurp(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

static ssize_t slurp_path(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = slurp(fd, buf, size);
	close(fd);
	return n;
}

/* s with newlines and other unprintables escaped, for a one-line report. */
static const char *esc(const char *s)
{
	static char out[1024];
	size_t n = 0;

	for (; *s && n + 5 < sizeof(out); s++)
		if (*s >= 32 && *s < 127 && *s != '\\')
			out[n++] = *s;
		else
			n += snprintf(out + n, sizeof(out) - n, "\\x%02x", (unsigned char)*s);
	out[n] = 0;
	return out;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The mount's names, sorted and joined, or an error name. */
static void listing(char *out, size_t size)
{
	char names[64][256];
	int n = 0;
	size_t len = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	out[0] = 0;
	if (!d) {
		snprintf(out, size, "opendir: %s", ename(errno));
		return;
	}
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	for (int i = 0; i < n && len < size; i++)
		len += snprintf(out + len, size - len, "%s%s", i ? " " : "", names[i]);
}

static int x = -1, m[NM], ro = -1, dfd = -1;

/*
 * Everything the program does with the mount still works, and the outside
 * file is untouched.  Round r writes its own suffix to each mount file and
 * makes its own new file and directory, so rounds can follow each other.
 */
static void check_mount(int r)
{
	char what[128], want[256], buf[4096], name[32];
	struct stat st;
	ssize_t n;
	int fd;

	for (int i = 0; i < NM; i++) {
		n = snprintf(buf, sizeof(buf), "m%d-w%d;", i, r);
		snprintf(what, sizeof(what), "m%d: write through its descriptor", i);
		result(what, write(m[i], buf, n) == n, "%s", ename(errno));
		n = snprintf(want, sizeof(want), "m%d-initial;", i);
		for (int k = 1; k <= r; k++)
			n += snprintf(want + n, sizeof(want) - n, "m%d-w%d;", i, k);
		snprintf(what, sizeof(what), "m%d: read back through its descriptor", i);
		n = slurp(m[i], buf, sizeof(buf));
		result(what, n >= 0 && !strcmp(buf, want), "%s", n < 0 ? ename(-n) : esc(buf));
		snprintf(what, sizeof(what), "m%d: read back by path", i);
		snprintf(name, sizeof(name), "m%d", i);
		n = slurp_path(at(name), buf, sizeof(buf));
		result(what, n >= 0 && !strcmp(buf, want), "%s", n < 0 ? ename(-n) : esc(buf));
		if (i == 0) {
			n = slurp(ro, buf, sizeof(buf));
			result("m0: read through a second, read-only descriptor",
			       n >= 0 && !strcmp(buf, want), "%s", n < 0 ? ename(-n) : esc(buf));
		}
	}

	n = slurp(x, buf, sizeof(buf));
	result("outside file through its descriptor: unchanged", n >= 0 && !strcmp(buf, XDATA),
	       "%s", n < 0 ? ename(-n) : esc(buf));
	n = slurp_path(xpath, buf, sizeof(buf));
	result("outside file by path: unchanged", n >= 0 && !strcmp(buf, XDATA),
	       "%s", n < 0 ? ename(-n) : esc(buf));

	snprintf(name, sizeof(name), "new%d", r);
	fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	result("open and write a new mount file", fd >= 0 && write(fd, "new;", 4) == 4,
	       "%s", ename(errno));
	if (fd >= 0)
		close(fd);
	n = slurp_path(at(name), buf, sizeof(buf));
	result("read the new file", n >= 0 && !strcmp(buf, "new;"), "%s", n < 0 ? ename(-n) : esc(buf));
	result("fstatat through the program's directory descriptor",
	       fstatat(dfd, name, &st, 0) == 0 && st.st_size == 4, "%s", ename(errno));
	snprintf(name, sizeof(name), "sub%d", r);
	result("mkdir in the mount", mkdir(at(name), 0755) == 0, "%s", ename(errno));
	result("stat the new directory", stat(at(name), &st) == 0 && S_ISDIR(st.st_mode),
	       "%s", ename(errno));
	fd = openat(dfd, "m1", O_RDONLY);
	n = fd < 0 ? -errno : slurp(fd, buf, sizeof(buf));
	result("openat through the program's directory descriptor",
	       n >= 0 && !strncmp(buf, "m1-initial;", 11), "%s", n < 0 ? ename(-n) : esc(buf));
	if (fd >= 0)
		close(fd);
	n = snprintf(want, sizeof(want), "m0 m1 m2 m3");
	for (int k = 1; k <= r; k++)
		n += snprintf(want + n, sizeof(want) - n, " new%d", k);
	for (int k = 1; k <= r; k++)
		n += snprintf(want + n, sizeof(want) - n, " sub%d", k);
	listing(buf, sizeof(buf));
	result("listing", !strcmp(buf, want), "%s", buf);
}

/*
 * DEFUSE's reserved band under threads: each thread moves descriptors of a
 * file of its own into the band and gives them back, as modules do with
 * theirs (defuse_keep_fd, defuse_close_kept: looked up, so that natively
 * the same loop runs on plain descriptors), and checks each time that the
 * band number it got is its file.  A number given back before its close
 * once let another thread's descriptor land there, which that close then
 * closed (EBADF under a module's write: fork-threads under load).
 */
#define BAND_THREADS 8
#define BAND_ROUNDS 20000

static int (*band_keep)(int), (*band_give)(int);

static void *band_worker(void *arg)
{
	const char *path = arg;
	long bad = 0;

	for (int i = 0; i < BAND_ROUNDS; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), k;
		struct stat want, got;

		if (fd < 0 || fstat(fd, &want) != 0) {
			bad++;
			continue;
		}
		k = band_keep ? band_keep(fd) : fd;
		if (k < 0 || fstat(k, &got) != 0 || got.st_ino != want.st_ino)
			bad++;
		if (k >= 0 && (band_give ? band_give(k) : close(k)) != 0)
			bad++;
	}
	return (void *)bad;
}

static int case_band_threads(void)
{
	pthread_t t[BAND_THREADS];
	char paths[BAND_THREADS][64];
	long bad = 0;

	band_keep = (int (*)(int))dlsym(RTLD_DEFAULT, "defuse_keep_fd");
	band_give = (int (*)(int))dlsym(RTLD_DEFAULT, "defuse_close_kept");
	for (int i = 0; i < BAND_THREADS; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/proc/self/ns/%s",
			 (const char *[]){ "net", "mnt", "pid", "uts", "ipc", "user", "cgroup",
					   "time" }[i]);
		if (access(paths[i], R_OK) != 0)
			snprintf(paths[i], sizeof(paths[i]), "%s", "/dev/null");
	}
	for (int i = 0; i < BAND_THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, band_worker, paths[i]) == 0);
	for (int i = 0; i < BAND_THREADS; i++) {
		void *r;

		CHECK(pthread_join(t[i], &r) == 0);
		bad += (long)r;
	}
	say("band: %d threads x %d moves, %ld wrong\n", BAND_THREADS, BAND_ROUNDS, bad);
	return 0;
}

/*
 * dup2 of an outside file x onto every number the program may use near the
 * top of its range, and onto any open number it did not open itself.  With
 * keep, the copies stay open while the mount is used (a write that went to
 * DEFUSE's descriptor of a mount file would land in x), then are closed;
 * without, each is closed at once (DEFUSE's descriptor is gone).
 */
static int case_dup2_band(int keep)
{
	const char *tmp = getenv("TMPDIR");
	int targets[4096], nt = 0, kept[4096], nk = 0, refused[4096], nr = 0;
	int ebadf = 0, other = 0, other_errno = 0, read_x = 1, closed = 1, refused_closed = 1;
	char own[65536] = { 0 }, name[32], buf[4096];
	struct rlimit rl;
	ssize_t n;
	DIR *d;
	struct dirent *e;

	/* The outside file lives in a scratch directory of its own, not DIR. */
	snprintf(scratch, sizeof(scratch), "%s/defuse-hostile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(scratch));
	on_fail = cleanup_scratch;
	snprintf(xpath, sizeof(xpath), "%s/x", scratch);
	x = open(xpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(x >= 0);
	CHECK(write(x, XDATA, strlen(XDATA)) == (ssize_t)strlen(XDATA));

	for (int i = 0; i < NM; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		m[i] = open(at(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(m[i] >= 0);
		n = snprintf(buf, sizeof(buf), "m%d-initial;", i);
		CHECK(write(m[i], buf, n) == n);
	}
	ro = open(at("m0"), O_RDONLY);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(ro >= 0 && dfd >= 0);

	/* What this program holds; everything else it may take over. */
	own[0] = own[1] = own[2] = 1;
	own[x] = own[ro] = own[dfd] = 1;
	for (int i = 0; i < NM; i++)
		own[m[i]] = 1;

	/* The top 64 numbers below the soft limit the program is told of. */
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	for (long fd = rl.rlim_cur > 64 ? (long)rl.rlim_cur - 64 : 3;
	     fd < (long)rl.rlim_cur && fd < (long)sizeof(own); fd++)
		if (!own[fd]) {
			own[fd] = 2;
			targets[nt++] = fd;
		}
	/* And every other open number (natively none; under DEFUSE its own,
	   if the program can see them).  Gathered first: the listing's own
	   descriptor is not a target. */
	d = opendir("/proc/self/fd");
	CHECK(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			long fd = atol(e->d_name);

			if (fd >= 3 && fd != dirfd(d) && fd < (long)sizeof(own) && !own[fd] &&
			    nt < (int)(sizeof(targets) / sizeof(targets[0]))) {
				own[fd] = 2;
				targets[nt++] = fd;
			}
		}
	closedir(d);
	qsort(targets, nt, sizeof(targets[0]), cmp_int);

	/* Which numbers fail (EBADF: above a limit DEFUSE lowered) may differ
	   from natively; any other failure, or a wrong copy, may not. */
	for (int i = 0; i < nt; i++) {
		int t = targets[i];

		if (dup2(x, t) != t) {
			if (errno == EBADF) {
				ebadf++;
				refused[nr++] = t;
			} else {
				other++;
				other_errno = errno;
			}
			continue;
		}
		read_x &= slurp(t, buf, sizeof(buf)) == (ssize_t)strlen(XDATA) && !strcmp(buf, XDATA);
		if (keep)
			kept[nk++] = t;
		else
			closed &= close(t) == 0;
	}
	result("dup2 of an outside file onto the top 64 numbers and every unknown one",
	       !other, "%d failed otherwise than EBADF, e.g. %s", other, ename(other_errno));
	result(keep ? "each copy reads the outside file" :
		      "each copy reads the outside file and closes", read_x && closed,
	       "read right: %s, closed: %s", read_x ? "yes" : "no", closed ? "yes" : "no");
	/* A program that closes every descriptor it finds listed: the numbers
	   dup2 refused (DEFUSE's own, under DEFUSE; none natively) close
	   without an error, and DEFUSE keeps working (check_mount). */
	for (int i = 0; i < nr; i++)
		refused_closed &= close(refused[i]) == 0;
	result("closing every listed number dup2 refused succeeds", refused_closed,
	       "a close failed: %s", ename(errno));

	check_mount(1);
	if (keep) {
		for (int i = 0; i < nk; i++)
			closed &= close(kept[i]) == 0;
		result("closing the copies", closed, "not all closed");
		check_mount(2);
	}

	for (int i = 0; i < NM; i++)
		close(m[i]);
	close(ro);
	close(dfd);
	close(x);
	cleanup_scratch();
	return status;
}

/*
 * The program lowers its own soft limit to 64, then opens a mount file
 * again and again: every open must work until the limit, and fail with
 * EMFILE there, as natively.
 */
static int case_low_limit(void)
{
	struct rlimit rl;
	int fds[1024], n = 0, err = 0, reads = 1, fd;
	char buf[64];
	struct stat st;

	put("f", "low;", 4);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	CHECK(rl.rlim_cur >= 64);
	rl.rlim_cur = 64;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	for (int i = 0; i < 1024; i++) {
		fd = open(at("f"), O_RDWR);
		if (fd < 0) {
			err = errno;
			break;
		}
		fds[n++] = fd;
		reads &= slurp(fd, buf, sizeof(buf)) == 4 && !strcmp(buf, "low;");
	}
	say("opened >= 40: %s\n", n >= 40 ? "yes" : "no");
	say("every one read its file: %s\n", reads ? "yes" : "no");
	say("first error: %s\n", err ? ename(err) : "none");
	if (n >= 40 && err == EMFILE) {
		/* Room again once some are closed. */
		for (int i = 0; i < 4; i++)
			CHECK(close(fds[--n]) == 0);
		fd = open(at("f"), O_RDWR);
		result("open after closing some", fd >= 0 && slurp(fd, buf, sizeof(buf)) == 4,
		       "%s", ename(errno));
		if (fd >= 0)
			fds[n++] = fd;
	} else {
		status = 1;
	}
	while (n > 0)
		close(fds[--n]);
	result("mkdir after", mkdir(at("sub"), 0755) == 0, "%s", ename(errno));
	result("stat after", stat(at("sub"), &st) == 0 && S_ISDIR(st.st_mode), "%s", ename(errno));
	fd = open(at("f"), O_RDWR | O_APPEND);
	result("write after", fd >= 0 && write(fd, "more;", 5) == 5, "%s", ename(errno));
	if (fd >= 0)
		close(fd);
	fd = open(at("f"), O_RDONLY);
	result("read after", fd >= 0 && slurp(fd, buf, sizeof(buf)) == 9 &&
	       !strcmp(buf, "low;more;"), "%s", fd < 0 ? ename(errno) : esc(buf));
	if (fd >= 0)
		close(fd);
	return status;
}

/*
 * A system call that DEFUSE serves leaves the program's vector registers
 * and MXCSR as they were, as the kernel's `syscall` does: the core runs C
 * behind an extended-state save (capture/stubs.S).  A stat of a path in DIR
 * goes through it; the registers are loaded before the `syscall`
 * instruction and read back right after, in one asm block.
 */
#define VEC_PATTERN(i, j) ((unsigned char)(0x5a ^ (i) * 7 ^ (j) * 13))

static int vec_check(const unsigned char *in, const unsigned char *out, size_t n,
		     const char *what)
{
	if (!memcmp(in, out, n))
		return 0;
	printf("FAIL %s changed by a served system call\n", what);
	return 1;
}

__attribute__((target("avx2")))
static long stat_keeping_ymm(const char *path, struct stat *st, unsigned char in[16][32],
			     unsigned char out[16][32], unsigned *mxcsr_out)
{
	unsigned mxcsr_in = 0x1f80 | (3 << 13);	/* round toward zero */
	unsigned mxcsr_saved = 0;
	long r;

	__asm__ volatile(
		"vmovdqu 0(%[in]), %%ymm0\n\t"   "vmovdqu 32(%[in]), %%ymm1\n\t"
		"vmovdqu 64(%[in]), %%ymm2\n\t"  "vmovdqu 96(%[in]), %%ymm3\n\t"
		"vmovdqu 128(%[in]), %%ymm4\n\t" "vmovdqu 160(%[in]), %%ymm5\n\t"
		"vmovdqu 192(%[in]), %%ymm6\n\t" "vmovdqu 224(%[in]), %%ymm7\n\t"
		"vmovdqu 256(%[in]), %%ymm8\n\t" "vmovdqu 288(%[in]), %%ymm9\n\t"
		"vmovdqu 320(%[in]), %%ymm10\n\t" "vmovdqu 352(%[in]), %%ymm11\n\t"
		"vmovdqu 384(%[in]), %%ymm12\n\t" "vmovdqu 416(%[in]), %%ymm13\n\t"
		"vmovdqu 448(%[in]), %%ymm14\n\t" "vmovdqu 480(%[in]), %%ymm15\n\t"
		"stmxcsr %[mxsave]\n\t"
		"ldmxcsr %[mxin]\n\t"
		"syscall\n\t"
		"stmxcsr %[mxout]\n\t"
		"ldmxcsr %[mxsave]\n\t"
		"vmovdqu %%ymm0, 0(%[out])\n\t"   "vmovdqu %%ymm1, 32(%[out])\n\t"
		"vmovdqu %%ymm2, 64(%[out])\n\t"  "vmovdqu %%ymm3, 96(%[out])\n\t"
		"vmovdqu %%ymm4, 128(%[out])\n\t" "vmovdqu %%ymm5, 160(%[out])\n\t"
		"vmovdqu %%ymm6, 192(%[out])\n\t" "vmovdqu %%ymm7, 224(%[out])\n\t"
		"vmovdqu %%ymm8, 256(%[out])\n\t" "vmovdqu %%ymm9, 288(%[out])\n\t"
		"vmovdqu %%ymm10, 320(%[out])\n\t" "vmovdqu %%ymm11, 352(%[out])\n\t"
		"vmovdqu %%ymm12, 384(%[out])\n\t" "vmovdqu %%ymm13, 416(%[out])\n\t"
		"vmovdqu %%ymm14, 448(%[out])\n\t" "vmovdqu %%ymm15, 480(%[out])\n\t"
		"vzeroupper"
		: "=a"(r), [mxout] "=m"(*mxcsr_out), [mxsave] "+m"(mxcsr_saved)
		: "a"((long)SYS_stat), "D"(path), "S"(st), [in] "r"(in), [out] "r"(out),
		  [mxin] "m"(mxcsr_in)
		: "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
		  "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
		  "xmm14", "xmm15");
	return r;
}

/* zmm16-31: the AVX-512 state a program that never used it leaves in its
   initial state, which a compacting save skips. */
__attribute__((target("avx512f")))
static long stat_keeping_zmm_hi(const char *path, struct stat *st, unsigned char in[16][64],
				unsigned char out[16][64])
{
	long r;

	__asm__ volatile(
		"vmovdqu64 0(%[in]), %%zmm16\n\t"   "vmovdqu64 64(%[in]), %%zmm17\n\t"
		"vmovdqu64 128(%[in]), %%zmm18\n\t" "vmovdqu64 192(%[in]), %%zmm19\n\t"
		"vmovdqu64 256(%[in]), %%zmm20\n\t" "vmovdqu64 320(%[in]), %%zmm21\n\t"
		"vmovdqu64 384(%[in]), %%zmm22\n\t" "vmovdqu64 448(%[in]), %%zmm23\n\t"
		"vmovdqu64 512(%[in]), %%zmm24\n\t" "vmovdqu64 576(%[in]), %%zmm25\n\t"
		"vmovdqu64 640(%[in]), %%zmm26\n\t" "vmovdqu64 704(%[in]), %%zmm27\n\t"
		"vmovdqu64 768(%[in]), %%zmm28\n\t" "vmovdqu64 832(%[in]), %%zmm29\n\t"
		"vmovdqu64 896(%[in]), %%zmm30\n\t" "vmovdqu64 960(%[in]), %%zmm31\n\t"
		"syscall\n\t"
		"vmovdqu64 %%zmm16, 0(%[out])\n\t"   "vmovdqu64 %%zmm17, 64(%[out])\n\t"
		"vmovdqu64 %%zmm18, 128(%[out])\n\t" "vmovdqu64 %%zmm19, 192(%[out])\n\t"
		"vmovdqu64 %%zmm20, 256(%[out])\n\t" "vmovdqu64 %%zmm21, 320(%[out])\n\t"
		"vmovdqu64 %%zmm22, 384(%[out])\n\t" "vmovdqu64 %%zmm23, 448(%[out])\n\t"
		"vmovdqu64 %%zmm24, 512(%[out])\n\t" "vmovdqu64 %%zmm25, 576(%[out])\n\t"
		"vmovdqu64 %%zmm26, 640(%[out])\n\t" "vmovdqu64 %%zmm27, 704(%[out])\n\t"
		"vmovdqu64 %%zmm28, 768(%[out])\n\t" "vmovdqu64 %%zmm29, 832(%[out])\n\t"
		"vmovdqu64 %%zmm30, 896(%[out])\n\t" "vmovdqu64 %%zmm31, 960(%[out])\n\t"
		"vzeroupper"
		: "=a"(r)
		: "a"((long)SYS_stat), "D"(path), "S"(st), [in] "r"(in), [out] "r"(out)
		: "rcx", "r11", "memory", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
		  "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
		  "xmm30", "xmm31");
	return r;
}

static int case_vector_registers(void)
{
	static unsigned char y_in[16][32], y_out[16][32], z_in[16][64], z_out[16][64];
	struct stat st;
	unsigned mxcsr = 0;
	int bad = 0, fd;
	long r;

	fd = open(at("f"), O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < 32; j++)
			y_in[i][j] = VEC_PATTERN(i, j);
		for (int j = 0; j < 64; j++)
			z_in[i][j] = VEC_PATTERN(i + 16, j);
	}
	/* Served calls, again and again: a lost register shows on any. */
	for (int round = 0; round < 1000 && !bad; round++) {
		if (__builtin_cpu_supports("avx2")) {
			r = stat_keeping_ymm(at("f"), &st, y_in, y_out, &mxcsr);
			bad |= r != 0;
			bad |= vec_check(&y_in[0][0], &y_out[0][0], sizeof(y_in), "ymm0-15");
			if (mxcsr != (0x1f80 | (3 << 13)) && !bad++)
				printf("FAIL MXCSR changed by a served system call\n");
		}
		if (__builtin_cpu_supports("avx512f")) {
			r = stat_keeping_zmm_hi(at("f"), &st, z_in, z_out);
			bad |= r != 0;
			bad |= vec_check(&z_in[0][0], &z_out[0][0], sizeof(z_in), "zmm16-31");
		}
	}
	unlink(at("f"));
	printf("vector registers and MXCSR across served calls: %s\n", bad ? "changed" : "kept");
	return bad;
}

/*
 * The cwd's directory removed from under it (item 7): natively "." still
 * answers (an empty directory with no links), in this process and in the
 * programs it execs, whose kernel cwd is the same directory.
 */
static int case_cwd_removed(void)
{
	const char *backing = getenv("HOSTILE_BACKING");
	char cmd[PATH_MAX + 64];
	struct stat st;
	DIR *d;
	int n = 0;

	if (!backing || !*backing)
		return printf("FAIL HOSTILE_BACKING not set\n"), 1;
	if (mkdir(at("sub"), 0755) || chdir(at("sub")))
		return printf("FAIL mkdir/chdir: %s\n", ename(errno)), 1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", backing);
	result("rm -rf of the directory's contents", system(cmd) == 0, "%s", ename(errno));
	printf("stat .: %s", stat(".", &st) ? ename(errno) : "ok");
	if (!stat(".", &st))
		printf(" dir=%d nlink=%d", S_ISDIR(st.st_mode), (int)st.st_nlink);
	printf("\n");
	if ((d = opendir("."))) {
		while (readdir(d))
			n++;
		closedir(d);
		printf("opendir .: %d entries\n", n);
	} else {
		printf("opendir .: %s\n", ename(errno));
	}
	printf("open f in it: %s\n", open("f", O_CREAT | O_WRONLY, 0644) < 0 ? ename(errno) : "ok");
	fflush(stdout);
	/* Programs exec'd there have the same cwd. */
	system("stat -c 'exec stat .: %F %h' . 2>/dev/null || echo 'exec stat .: failed';"
	       "echo \"exec ls .: $(ls -a . 2>/dev/null | wc -l) entries, status $?\"");
	printf("chdir ..: %s\n", chdir("..") ? ename(errno) : "ok");
	if (chdir("/"))
		return 1;
	return 0;
}

/* What the shell command cmd prints (its first 200 bytes), as "TEXT" or
   a failure; fds not close-on-exec are its too. */
static void show_run(const char *label, const char *cmd)
{
	char out[256] = "";
	size_t n = 0;
	FILE *p = popen(cmd, "r");
	int st;

	if (p) {
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = 0;
		st = pclose(p);
	} else {
		st = -1;
	}
	for (char *q = out; *q; q++)
		if (*q == '\n')
			*q = '|';
	printf("%s: \"%s\" status %d\n", label, out, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* What reading fd from offset 0 gives, as show_run prints it. */
static void show_read(const char *label, int fd)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0) {
		printf("%s: %s\n", label, ename(errno));
		return;
	}
	buf[n] = 0;
	for (char *q = buf; *q; q++)
		if (*q == '\n')
			*q = '|';
	printf("%s: \"%s\"\n", label, buf);
}

/*
 * Files removed, renamed or replaced while open (item 6): a descriptor
 * still reads and writes the file it was opened on, in this process and
 * in the programs it execs, and /proc/self/fd/N (/dev/fd/N) opens that
 * very file again, a new open file description, never the one that took
 * its name and never DEFUSE's own record.
 */
static int case_open_after_unlink(void)
{
	char cmd[512], link[64];
	int g, h, k, r, a, b;

	put("g", "gdata\n", 6);
	put("h", "hdata\n", 6);
	put("k", "kdata\n", 6);
	if ((g = open(at("g"), O_RDONLY)) < 0 || (h = open(at("h"), O_RDWR)) < 0 ||
	    (k = open(at("k"), O_RDWR | O_APPEND)) < 0)
		return printf("FAIL open: %s\n", ename(errno)), 1;
	unlink(at("g"));
	rename(at("h"), at("h2"));
	put("h", "other\n", 6);	/* another file under h's old name */
	unlink(at("k"));

	/* In this process. */
	show_read("read of removed g", g);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", g);
	r = open(link, O_RDONLY);
	if (r < 0) {
		printf("open of /proc/self/fd/G: %s\n", ename(errno));
	} else {
		show_read("open of /proc/self/fd/G", r);
		close(r);
	}
	snprintf(link, sizeof(link), "/dev/fd/%d", h);
	r = open(link, O_RDWR);
	if (r < 0) {
		printf("open of /dev/fd/H: %s\n", ename(errno));
	} else {
		show_read("open of /dev/fd/H (renamed, name taken)", r);
		printf("pwrite through it: %s\n", pwrite(r, "HD", 2, 0) == 2 ? "ok" : ename(errno));
		close(r);
		show_read("h read through the first descriptor", h);
	}
	printf("O_CREAT|O_EXCL of the link: %s\n",
	       open(link, O_CREAT | O_EXCL | O_RDWR, 0644) < 0 ? ename(errno) : "opened");
	printf("O_NOFOLLOW of the link: %s\n",
	       open(link, O_NOFOLLOW | O_RDONLY) < 0 ? ename(errno) : "opened");
	/* A new open file description: a flock on it conflicts. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", h);
	a = flock(h, LOCK_EX | LOCK_NB);
	b = open(link, O_RDONLY);
	printf("flock, then flock of a reopening: %s, %s\n", a ? ename(errno) : "ok",
	       b < 0 ? ename(errno) : flock(b, LOCK_EX | LOCK_NB) ? ename(errno) : "ok");
	if (b >= 0)
		close(b);
	flock(h, LOCK_UN);
	fflush(stdout);

	/* In programs this one execs (sh, then cat), which inherit them. */
	snprintf(cmd, sizeof(cmd), "cat <&%d", g);
	show_run("exec'd cat <&G (offset 0)", cmd);
	snprintf(cmd, sizeof(cmd), "cat /proc/self/fd/%d", g);
	show_run("exec'd cat /proc/self/fd/G", cmd);
	snprintf(cmd, sizeof(cmd), "cat /dev/fd/%d", h);
	show_run("exec'd cat /dev/fd/H", cmd);
	snprintf(cmd, sizeof(cmd), "echo appended >&%d && cat /proc/self/fd/%d", k, k);
	show_run("exec'd append to removed K, then cat it", cmd);
	show_read("K read here after", k);
	show_read("the new h by its name", (r = open(at("h"), O_RDONLY)));
	close(r);
	close(g);
	close(h);
	close(k);
	unlink(at("h"));
	unlink(at("h2"));
	return status;
}

/*
 * The fcntl commands, advice and sync calls a file-system stress tool
 * tries on a regular file, which an emulated file used to refuse with
 * EOPNOTSUPP: each answers as the kernel's.
 */
static void bad_call(const char *what, long r);

/*
 * RLIMIT_FSIZE applies to emulated files as to the kernel's: a write is
 * cut at the limit, one past it and a new size past it give SIGXFSZ and
 * EFBIG (stress-ng's fsize stressor).
 */
static volatile sig_atomic_t xfsz;

static void on_xfsz(int sig)
{
	(void)sig;
	xfsz++;
}

static int case_fsize(void)
{
	struct rlimit rl = { 8192, RLIM_INFINITY };
	char buf[8192] = { 0 };
	int fd = open(at("f"), O_RDWR | O_CREAT | O_TRUNC, 0644), a;

	if (fd < 0)
		return printf("FAIL open: %s\n", ename(errno)), 1;
	signal(SIGXFSZ, on_xfsz);
	if (setrlimit(RLIMIT_FSIZE, &rl))
		return printf("FAIL setrlimit: %s\n", ename(errno)), 1;
	printf("write 4096 at 0: %zd\n", pwrite(fd, buf, 4096, 0));
	printf("write 8192 at 4096: %zd\n", pwrite(fd, buf, 8192, 4096));
	bad_call("write at the limit", pwrite(fd, buf, 1, 8192));
	printf("  signals %d\n", (int)xfsz);
	bad_call("ftruncate past the limit", ftruncate(fd, 16384));
	bad_call("ftruncate to the limit", ftruncate(fd, 8192));
	printf("  signals %d\n", (int)xfsz);
	bad_call("fallocate past the limit", fallocate(fd, 0, 0, 20000));
	printf("  signals %d\n", (int)xfsz);
	a = open(at("g"), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	printf("append 8192: %zd\n", write(a, buf, 8192));
	bad_call("append past it", write(a, buf, 1));
	printf("  signals %d\n", (int)xfsz);
	rl.rlim_cur = RLIM_INFINITY;
	setrlimit(RLIMIT_FSIZE, &rl);
	printf("write at 8192 once lifted: %zd\n", pwrite(fd, buf, 1, 8192));
	signal(SIGXFSZ, SIG_DFL);
	close(fd);
	close(a);
	unlink(at("f"));
	unlink(at("g"));
	return 0;
}

/*
 * inotify on a directory and a file in the mount: the events of changes
 * made through the mount arrive, with the names the program used.
 */
static int case_inotify(void)
{
	char buf[4096] __attribute__((aligned(8)));
	int in = inotify_init1(IN_NONBLOCK), wd, fd;
	ssize_t n;

	if (in < 0 || mkdir(at("d"), 0755))
		return printf("FAIL inotify_init1/mkdir: %s\n", ename(errno)), 1;
	wd = inotify_add_watch(in, at("d"), IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE);
	bad_call("watch the directory", wd);
	bad_call("watch a missing one", inotify_add_watch(in, at("nothere"), IN_CREATE));
	fd = open(at("d/x"), O_WRONLY | O_CREAT, 0644);
	bad_call("write", write(fd, "data", 4));
	close(fd);
	unlink(at("d/x"));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;

			printf("event %s%s%s%s name %s\n", e->mask & IN_CREATE ? "create " : "",
			       e->mask & IN_MODIFY ? "modify " : "", e->mask & IN_CLOSE_WRITE ?
			       "close-write " : "", e->mask & IN_DELETE ? "delete " : "",
			       e->len ? e->name : "-");
			p += sizeof(*e) + e->len;
		}
	close(in);
	rmdir(at("d"));
	return 0;
}

/*
 * errno after calls that succeed is what it was before, as with the kernel:
 * readdir tells the end of a directory from an error by errno, so a
 * module's libc calls must not leave theirs behind.
 */
static int case_errno_kept(void)
{
	struct stat st;
	char buf[16];
	int fd, n = 0, bad = 0;
	DIR *d;

	mkdir(at("e"), 0755);
	put("e/f", "x", 1);
#define KEPT(what, call)                                                  \
	do {                                                              \
		errno = 4242;                                             \
		if ((call) < 0 || errno != 4242)                          \
			bad++, printf("%s: errno %d after success\n", what, errno); \
	} while (0)
	KEPT("stat", stat(at("e/f"), &st));
	KEPT("open", fd = open(at("e/f"), O_RDWR));
	KEPT("read", read(fd, buf, sizeof(buf)));
	KEPT("pwrite", pwrite(fd, "y", 1, 0));
	KEPT("close", close(fd));
	d = opendir(at("e"));
	errno = 0;
	while (readdir(d))
		n++;
	printf("readdir: %d entries, errno at the end %d\n", n, errno);
	closedir(d);
	KEPT("unlink", unlink(at("e/f")));
	KEPT("rmdir", rmdir(at("e")));
#undef KEPT
	printf("errno kept across %s\n", bad ? "not every call" : "every call");
	return bad;
}

/*
 * Linux AIO (io_submit) on a mount file, mixed in one submission with a
 * kernel file (a memfd): writes, vectored writes, fdatasync, reads (one past
 * the end), an eventfd told of a completion, and the kernel's refusals.
 * Each completion is printed by its iocb (obj) and aio_data, in order of
 * index: the same natively and through DEFUSE.
 */
static long aio_submit(aio_context_t ctx, long n, struct iocb **v)
{
	return syscall(SYS_io_submit, ctx, n, v);
}

static void aio_collect(aio_context_t ctx, struct iocb *cbs, int n, const char *what)
{
	struct io_event ev[16];
	struct timespec t = { HANG_GUARD, 0 };
	long got = 0, r;

	while (got < n) {
		r = syscall(SYS_io_getevents, ctx, 1, 16 - got, ev + got, &t);
		CHECK(r > 0);
		got += r;
	}
	for (int i = 0; i < n; i++)
		for (int k = 0; k < got; k++)
			if (ev[k].obj == (uint64_t)(uintptr_t)&cbs[i])
				say("%s: iocb %d data %llu res %lld\n", what, i,
				    (unsigned long long)ev[k].data, (long long)ev[k].res);
}

static int case_aio(void)
{
	aio_context_t ctx = 0;
	struct iocb cbs[8], *list[8];
	char b1[32] = "", b2[4] = "", b3[4] = "", b4[8] = "", kb[16] = "";
	struct iovec wv[2] = { { "ab", 2 }, { "cd", 2 } }, rv[2] = { { b2, 2 }, { b3, 2 } };
	uint64_t count = 0;
	int fd, kfd, efd;
	long r;

	CHECK(syscall(SYS_io_setup, 8, &ctx) == 0);
	fd = open(at("aio"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	kfd = memfd_create("hostile-aio", 0);
	efd = eventfd(0, 0);
	CHECK(fd >= 0 && kfd >= 0 && efd >= 0);

	memset(cbs, 0, sizeof(cbs));
	for (int i = 0; i < 8; i++) {
		list[i] = &cbs[i];
		cbs[i].aio_data = 100 + i;
	}
	cbs[0].aio_fildes = fd, cbs[0].aio_lio_opcode = IOCB_CMD_PWRITE;
	cbs[0].aio_buf = (uintptr_t)"hello aio", cbs[0].aio_nbytes = 9;
	cbs[1].aio_fildes = kfd, cbs[1].aio_lio_opcode = IOCB_CMD_PWRITE;
	cbs[1].aio_buf = (uintptr_t)"kernel", cbs[1].aio_nbytes = 6;
	cbs[2].aio_fildes = fd, cbs[2].aio_lio_opcode = IOCB_CMD_PWRITEV;
	cbs[2].aio_buf = (uintptr_t)wv, cbs[2].aio_nbytes = 2, cbs[2].aio_offset = 100;
	cbs[3].aio_fildes = fd, cbs[3].aio_lio_opcode = IOCB_CMD_FDSYNC;
	say("submit 4 (writes, a kernel file among them, fdatasync): %ld\n", aio_submit(ctx, 4, list));
	aio_collect(ctx, cbs, 4, "writes");

	memset(cbs, 0, sizeof(cbs));
	for (int i = 0; i < 8; i++)
		cbs[i].aio_data = 200 + i;
	cbs[0].aio_fildes = fd, cbs[0].aio_lio_opcode = IOCB_CMD_PREAD;
	cbs[0].aio_buf = (uintptr_t)b1, cbs[0].aio_nbytes = sizeof(b1) - 1;
	cbs[0].aio_flags = IOCB_FLAG_RESFD, cbs[0].aio_resfd = efd;
	cbs[1].aio_fildes = fd, cbs[1].aio_lio_opcode = IOCB_CMD_PREADV;
	cbs[1].aio_buf = (uintptr_t)rv, cbs[1].aio_nbytes = 2, cbs[1].aio_offset = 100;
	cbs[2].aio_fildes = fd, cbs[2].aio_lio_opcode = IOCB_CMD_PREAD;
	cbs[2].aio_buf = (uintptr_t)b4, cbs[2].aio_nbytes = sizeof(b4), cbs[2].aio_offset = 5000;
	cbs[3].aio_fildes = kfd, cbs[3].aio_lio_opcode = IOCB_CMD_PREAD;
	cbs[3].aio_buf = (uintptr_t)kb, cbs[3].aio_nbytes = sizeof(kb) - 1;
	say("submit 4 (reads, one past the end): %ld\n", aio_submit(ctx, 4, list));
	aio_collect(ctx, cbs, 4, "reads");
	say("read: '%s' '%.2s%.2s' kernel '%s'\n", b1, b2, b3, kb);
	CHECK(read(efd, &count, sizeof(count)) == sizeof(count));
	say("eventfd told of %llu completion(s)\n", (unsigned long long)count);
	for (int i = 0; i < 4; i++)
		say("iocb %d left as it was: %s\n", i,
		    cbs[i].aio_data == (uint64_t)(200 + i) && cbs[i].aio_fildes ==
		    (uint32_t)(i == 3 ? kfd : fd) ? "yes" : "no");

	/* Refusals: a reserved field set, an unknown command, after one good. */
	memset(cbs, 0, sizeof(cbs));
	cbs[0].aio_fildes = fd, cbs[0].aio_lio_opcode = IOCB_CMD_PREAD;
	cbs[0].aio_buf = (uintptr_t)b4, cbs[0].aio_nbytes = 4;
	cbs[1] = cbs[0];
	cbs[1].aio_reserved2 = 1;
	cbs[2] = cbs[0];
	cbs[2].aio_lio_opcode = 42;
	r = aio_submit(ctx, 2, list);
	say("submit good, reserved2 set: %ld\n", r);
	aio_collect(ctx, cbs, 1, "good one");
	r = aio_submit(ctx, 1, list + 1);
	say("submit reserved2 set: %ld %s\n", r, ename(r < 0 ? errno : 0));
	r = aio_submit(ctx, 1, list + 2);
	say("submit unknown command: %ld %s\n", r, ename(r < 0 ? errno : 0));
	r = aio_submit(ctx, 1, (struct iocb **)&(void *){ (void *)8 });
	say("submit bad iocb pointer: %ld %s\n", r, ename(r < 0 ? errno : 0));

	CHECK(syscall(SYS_io_destroy, ctx) == 0);
	close(fd);
	close(kfd);
	close(efd);
	return 0;
}

static int case_fcntl_misc(void)
{
	struct f_owner_ex ex = { F_OWNER_PID, getpid() };
	unsigned int ids[2] = { 99, 99 };
	int fd = open(at("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return printf("FAIL open: %s\n", ename(errno)), 1;
	bad_call("F_SETOWN self", fcntl(fd, F_SETOWN, getpid()));
	printf("F_GETOWN is self: %d\n", fcntl(fd, F_GETOWN) == getpid());
	bad_call("F_SETOWN -pgrp", fcntl(fd, F_SETOWN, -getpgrp()));
	printf("F_GETOWN is -pgrp: %d\n", fcntl(fd, F_GETOWN) == -getpgrp());
	bad_call("F_SETOWN_EX", fcntl(fd, F_SETOWN_EX, &ex));
	ex.type = 99;
	bad_call("F_SETOWN_EX bad type", fcntl(fd, F_SETOWN_EX, &ex));
	memset(&ex, 0, sizeof(ex));
	bad_call("F_GETOWN_EX", fcntl(fd, F_GETOWN_EX, &ex));
	printf("  type %d, self %d\n", ex.type, ex.pid == getpid());
	bad_call("F_GETOWNER_UIDS", fcntl(fd, 17, ids));
	printf("  mine %d\n", ids[0] == getuid() && ids[1] == geteuid());
	bad_call("F_SETSIG 10", fcntl(fd, F_SETSIG, 10));
	printf("F_GETSIG: %d\n", fcntl(fd, F_GETSIG));
	bad_call("F_SETSIG 65", fcntl(fd, F_SETSIG, 65));
	printf("F_GETLEASE: %d\n", fcntl(fd, F_GETLEASE));
	bad_call("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	bad_call("F_GETPIPE_SZ", fcntl(fd, F_GETPIPE_SZ));
	bad_call("F_NOTIFY of a file", fcntl(fd, F_NOTIFY, DN_MODIFY));
	bad_call("readahead", readahead(fd, 0, 4096));
	bad_call("sync_file_range", sync_file_range(fd, 0, 4096, SYNC_FILE_RANGE_WRITE));
	bad_call("sync_file_range bad flags", sync_file_range(fd, 0, 4096, 0x100));
	bad_call("sync_file_range negative", sync_file_range(fd, -1, 4096, SYNC_FILE_RANGE_WRITE));
	printf("posix_fadvise: %s\n", ename(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)));
	close(fd);
	unlink(at("f"));
	return 0;
}

/*
 * Bad pointers (issue 14, item 5): every path or name DEFUSE reads gives
 * EFAULT, as the kernel does, never a crash; a fault of DEFUSE's own probe
 * never reaches the program's SIGSEGV handler, while the program's own
 * faults still do, and still kill it under the default action.
 */
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t faults;

static void on_segv(int sig)
{
	(void)sig;
	faults++;
	siglongjmp(fault_jmp, 1);
}

static void bad_call(const char *what, long r)
{
	printf("%s: %s\n", what, r < 0 ? ename(errno) : "ok");
}

static int case_bad_pointers(void)
{
	const char *bad = (const char *)0xdeadc0de;
	volatile int *unmapped = (volatile int *)0xdeadc0e0;	/* aligned */
	long pg = sysconf(_SC_PAGESIZE);
	char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *runs_out;	/* a string without its end: the page after cannot be
			   read (PROT_NONE: nothing else may be mapped there) */
	struct sigaction sa = { .sa_handler = on_segv }, old;
	struct stat st;
	int fd, status;
	pid_t pid;

	if (two == MAP_FAILED || mprotect(two + pg, pg, PROT_NONE))
		return printf("FAIL mmap: %s\n", ename(errno)), 1;
	memset(two, 'a', pg);
	runs_out = two + pg - 100;
	if (chdir(dir))
		return printf("FAIL chdir: %s\n", ename(errno)), 1;
	fd = open("f", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	mkdir("d", 0755);
	for (int i = 0; i < 2; i++) {
		const char *b = i ? runs_out : bad;

		printf("-- %s\n", i ? "a string running into an unmapped page" : "0xdeadc0de");
		bad_call("unlink", unlink(b));
		bad_call("stat", stat(b, &st));
		bad_call("lstat", lstat(b, &st));
		bad_call("open", open(b, O_RDONLY));
		bad_call("openat in the mount", openat(AT_FDCWD, b, O_RDONLY));
		bad_call("mkdir", mkdir(b, 0755));
		bad_call("rmdir", rmdir(b));
		bad_call("access", access(b, F_OK));
		bad_call("chdir", chdir(b));
		bad_call("truncate", truncate(b, 0));
		bad_call("rename from", rename(b, "g"));
		bad_call("rename to", rename("f", b));
		bad_call("link to", link("f", b));
		bad_call("symlink target", symlink(b, "l"));
		bad_call("symlink name", symlink("f", b));
		bad_call("setxattr name", setxattr("f", b, "v", 1, 0));
		bad_call("removexattr name", removexattr("f", b));
		bad_call("stat of the real file", stat("f", &st));
	}
	/* exec with a bad environment or argument vector: EFAULT, the
	   program goes on (also for a "#!" script in the mount). */
	{
		char *good_argv[] = { "true", NULL };
		char *bad_vec[] = { "X=1", (char *)bad, NULL };
		int sfd = open("s.sh", O_CREAT | O_WRONLY | O_TRUNC, 0755);

		if (sfd >= 0) {
			if (write(sfd, "#!/bin/sh\n", 10) != 10)
				printf("FAIL write s.sh\n");
			close(sfd);
		}
		bad_call("execve, bad envp pointer", execve("/bin/true", good_argv, (char **)bad));
		bad_call("execve, bad envp string", execve("/bin/true", good_argv, bad_vec));
		bad_call("execve of a script, bad argv", execve("./s.sh", (char **)bad, NULL));
		unlink("s.sh");
	}
	/* The program's own handler: none of the above reached it. */
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGSEGV, NULL, &old);
	printf("SIGSEGV action after: %s\n", old.sa_handler == on_segv ? "the program's" : "other");
	bad_call("unlink with a handler", unlink(bad));
	printf("handler calls after bad pointers: %d\n", (int)faults);
	if (!sigsetjmp(fault_jmp, 1))
		*(volatile int *)unmapped = 1;	/* the program's own fault */
	printf("handler calls after its own fault: %d\n", (int)faults);
	if (!sigsetjmp(fault_jmp, 1))
		kill(getpid(), SIGSEGV);
	printf("handler calls after kill: %d\n", (int)faults);
	/* The default action, and an ignored SIGSEGV, still kill at a fault. */
	for (int ign = 0; ign < 2; ign++) {
		pid = fork();
		if (pid == 0) {
			signal(SIGSEGV, ign ? SIG_IGN : SIG_DFL);
			unlink(bad);
			*(volatile int *)unmapped = 1;
			_exit(0);
		}
		waitpid(pid, &status, 0);
		printf("child with SIGSEGV %s: %s\n", ign ? "ignored" : "default",
		       WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV ? "killed by SIGSEGV"
									  : "not killed");
	}
	if (chdir("/"))
		return 1;
	return 0;
}

/*
 * The backing directory removed under a running tree (item 7): the images
 * exec'd after it still run, paths in the mount fail as paths in a
 * removed directory do, and everything else works.  HOSTILE_BACKING names
 * the directory to remove (natively DIR itself).
 */
static int case_backing_removed(void)
{
	static const char *const cmds[] = {
		"cat \"$DIR/f\"", "ls \"$DIR\"", "echo x > \"$DIR/new\"", "mkdir \"$DIR/d\"",
		"true", "ls / > /dev/null", "cd \"$DIR\"",
	};
	const char *backing = getenv("HOSTILE_BACKING");
	char cmd[PATH_MAX + 64];
	int fd, status = 0;

	if (!backing || !*backing) {
		printf("FAIL HOSTILE_BACKING not set\n");
		return 1;
	}
	fd = open(at("f"), O_CREAT | O_WRONLY, 0644);
	result("write before", fd >= 0 && write(fd, "data", 4) == 4, "%s", ename(errno));
	if (fd >= 0)
		close(fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", backing);
	result("rm -rf of the directory", system(cmd) == 0, "%s", ename(errno));
	/* The mount point as a shell variable: no path in the output. */
	setenv("DIR", dir, 1);
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int r;

		snprintf(cmd, sizeof(cmd), "%s 2>/dev/null", cmds[i]);
		r = system(cmd);
		printf("%s: exit %d\n", cmds[i], WIFEXITED(r) ? WEXITSTATUS(r) : -1);
	}
	/* Back as it was, empty, so that run.py's tree comparison sees it. */
	mkdir(backing, 0755);
	return status;
}

/*
 * A FIFO's open with no writer waits until a signal ends it: EINTR with a
 * handler that does not restart, here from a 1 ms interval timer, also
 * when the signal comes while DEFUSE prepares the open (it used to stay
 * blocked through the wait, which then never ended).
 */
static void on_alarm(int sig)
{
	(void)sig;
}

/* One open of FIFO path with no writer under a 1 ms interval timer (SIGALRM
   caught by on_alarm, no SA_RESTART): counted in *eintr when the timer
   ended it, in *other otherwise. */
static void timed_fifo_open(const char *path, long *eintr, long *other)
{
	struct itimerval tick = { { 0, 1000 }, { 0, 1000 } }, off = { { 0, 0 }, { 0, 0 } };
	int fd;

	CHECK(setitimer(ITIMER_REAL, &tick, NULL) == 0);
	fd = open(path, O_RDONLY);
	CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	if (fd < 0 && errno == EINTR)
		++*eintr;
	else
		++*other;
	if (fd >= 0)
		close(fd);
}

static int case_fifo_eintr(void)
{
	struct sigaction sa;
	long eintr = 0, other = 0;

	CHECK(mkfifo(at("p"), 0600) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART */
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	for (int i = 0; i < 200; i++)
		timed_fifo_open(at("p"), &eintr, &other);
	signal(SIGALRM, SIG_DFL);
	result("every open ended by the timer", eintr == 200 && !other, "%ld EINTR, %ld else",
	       eintr, other);
	CHECK(unlink(at("p")) == 0);
	return status;
}

/*
 * Two processes each hold one byte of a file's record locks and then ask
 * with F_SETLKW for the other's: the kernel says EDEADLK to whichever
 * asks second (which one depends on timing, so only the count is
 * printed), and the other gets its byte once that one lets go.  A module
 * that keeps its own locks must do the same (memfs: lock.c), or both
 * wait for ever.
 */
static int wrlock(int fd, off_t at, int cmd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

	return fcntl(fd, cmd, &fl) == 0 ? 0 : -errno;
}

static int case_lock_deadlock(void)
{
	long deadlocks = 0, other = 0;

	put("f", "01", 2);
	for (int round = 0; round < 20; round++) {
		int fd = open(at("f"), O_RDWR), go[2], ready[2], st, r;
		char c;
		pid_t child;

		CHECK(fd >= 0 && pipe(go) == 0 && pipe(ready) == 0);
		child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			/* byte 1, then (both holding theirs) byte 0 */
			int me = wrlock(fd, 1, F_SETLK);

			if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1 || me)
				_exit(3);
			r = wrlock(fd, 0, F_SETLKW);
			_exit(r == 0 ? 0 : r == -EDEADLK ? 1 : 2);	/* exit lets go */
		}
		CHECK(wrlock(fd, 0, F_SETLK) == 0 && read(ready[0], &c, 1) == 1);
		CHECK(write(go[1], "g", 1) == 1);
		r = wrlock(fd, 1, F_SETLKW);
		if (r == -EDEADLK) {
			deadlocks++;
			struct flock un = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

			CHECK(fcntl(fd, F_SETLK, &un) == 0);	/* lets the child on */
		} else if (r != 0) {
			other++;
		}
		CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st));
		if (WEXITSTATUS(st) == 1)
			deadlocks++;
		else if (WEXITSTATUS(st) != 0)
			other++;
		close(fd);
		close(go[0]), close(go[1]), close(ready[0]), close(ready[1]);
	}
	result("one EDEADLK in each of 20 rounds", deadlocks == 20 && !other,
	       "%ld EDEADLK, %ld else", deadlocks, other);

	/* A holder that exits lets go at once, before its parent reaps it
	   (memfs took a zombie for a live holder: the parent, asking first,
	   waited for ever). */
	{
		int fd = open(at("f"), O_RDWR), done[2], st, r;
		char c;
		pid_t child;

		CHECK(fd >= 0 && pipe(done) == 0);
		child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			close(done[0]);
			_exit(wrlock(fd, 0, F_SETLK) ? 3 : 0);	/* done[1] closes */
		}
		close(done[1]);
		CHECK(read(done[0], &c, 1) == 0);	/* the child has exited */
		r = wrlock(fd, 0, F_SETLKW);
		CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		result("a lock is free once its holder exited, before it is reaped", r == 0,
		       "%s", strerror(-r));
		close(fd);
		close(done[0]);
	}
	CHECK(unlink(at("f")) == 0);
	return status;
}

static volatile sig_atomic_t alarms;

static void count_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * A waiting lock call ends when a signal with a handler (no SA_RESTART)
 * comes, as the kernel's F_SETLKW does: EINTR.  Another process keeps
 * taking and dropping locks elsewhere in the file meanwhile, so a module
 * that waits in a loop is busy looking at locks when the signal comes
 * (memfs took it then for one that came before the call, and went on
 * waiting for ever).
 *
 * The first tick comes 2 ms after the timer is set; on a loaded machine
 * the process may lose the processor for longer just before its call, and
 * then the tick comes before the call, natively too, and the call would
 * wait for ever (a CI run hung so).  So the timer ticks again every 100 ms
 * and a round the first tick did not end is counted as late: a signal the
 * wait lost makes nearly every round late, the race a rare one.
 */
static int case_lock_eintr(void)
{
	struct sigaction sa;
	long eintr = 0, other = 0, late = 0;
	int fd, hold[2], st;
	pid_t holder, churner;
	char c;

	put("f", "0123456789", 10);
	fd = open(at("f"), O_RDWR);
	CHECK(fd >= 0 && pipe(hold) == 0);
	holder = fork();
	CHECK(holder >= 0);
	if (holder == 0) {
		/* byte 0 until the parent closes its end of the pipe */
		close(hold[1]);
		if (wrlock(fd, 0, F_SETLK))
			_exit(3);
		if (read(hold[0], &c, 1) < 0)
			_exit(4);
		_exit(0);
	}
	close(hold[0]);
	churner = fork();
	CHECK(churner >= 0);
	if (churner == 0) {
		struct flock un = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 5,
				    .l_len = 1 };

		for (;;) {	/* killed at the end */
			wrlock(fd, 5, F_SETLK);
			fcntl(fd, F_SETLK, &un);
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count_alarm;	/* no SA_RESTART */
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	{
		struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };

		/* the holder has byte 0 before the first round */
		for (int i = 0; i < 10000; i++) {
			CHECK(fcntl(fd, F_GETLK, &probe) == 0);
			if (probe.l_type != F_UNLCK)
				break;
			probe.l_type = F_WRLCK;
			usleep(1000);
		}
	}
	for (int i = 0; i < 50; i++) {
		struct itimerval tick = { { 0, 100000 }, { 0, 2000 } }, off = { { 0, 0 }, { 0, 0 } };
		int r;

		alarms = 0;
		CHECK(setitimer(ITIMER_REAL, &tick, NULL) == 0);
		r = wrlock(fd, 0, F_SETLKW);
		CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
		if (r == -EINTR)
			eintr++;
		else
			other++;
		if (alarms > 1)
			late++;
	}
	signal(SIGALRM, SIG_DFL);
	kill(churner, SIGKILL);
	close(hold[1]);
	CHECK(waitpid(churner, &st, 0) == churner);
	CHECK(waitpid(holder, &st, 0) == holder && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	result("each waiting lock ended by the timer's signal", eintr == 50 && !other && late <= 2,
	       "%ld EINTR, %ld else, %ld ended by a later tick", eintr, other, late);
	close(fd);
	CHECK(unlink(at("f")) == 0);
	return status;
}

/*
 * Two threads of one process meet at a FIFO: one opens it for reading and
 * waits for a writer, the other then opens it for writing.  A module that
 * held a lock of its own through the reader's wait (nfs did: the mount's
 * lock) kept the writer's open from ever getting there; natively each
 * open ends the other's wait.  A hang is what run.py's time limit catches.
 */
static void *fifo_reader(void *arg)
{
	char c = 0;
	int fd = open((const char *)arg, O_RDONLY);

	if (fd < 0 || read(fd, &c, 1) != 1)
		c = 0;
	if (fd >= 0)
		close(fd);
	return (void *)(long)c;
}

static int case_fifo_threads(void)
{
	static char path[4200];
	long got = 0;

	snprintf(path, sizeof(path), "%s", at("p"));
	CHECK(mkfifo(path, 0600) == 0);
	for (int i = 0; i < 50; i++) {
		pthread_t t;
		void *r;
		int fd;

		CHECK(pthread_create(&t, NULL, fifo_reader, path) == 0);
		/* the reader waits first, most rounds (either order must work) */
		usleep(i % 2 ? 2000 : 0);
		fd = open(path, O_WRONLY);
		CHECK(fd >= 0 && write(fd, "x", 1) == 1);
		close(fd);
		CHECK(pthread_join(t, &r) == 0);
		got += (long)r == 'x';
	}
	result("each reader's wait ended by the writer", got == 50, "%ld of 50", got);
	CHECK(unlink(path) == 0);
	return status;
}

/*
 * Children of a raw clone(CLONE_VM | CLONE_FILES) that keep the parent's
 * thread pointer (no CLONE_SETTLS: stress-ng's dup stressor): they run on
 * the parent's TLS, so DEFUSE's per-thread state must still be theirs
 * alone.  While a child makes calls on the mount, the parent's FIFO open
 * must still be ended by its 1 ms timer (the timer's signal, deferred by
 * the child's state and flushed to the child, stayed blocked in the parent
 * for ever) and the parent's own calls must still reach the mount (the
 * child's in_defuse sent them to the kernel).  Every other child is
 * killed where it happens to be, as stress-ng does, maybe inside DEFUSE.
 * A watchdog process opens the FIFO for writing if a round makes no
 * progress for HANG_GUARD seconds, so a lost signal is a FAIL, not a hang.
 */
static char cv_file[4200], cv_fifo[4200];
static volatile long cv_stop, cv_bad, cv_calls;
static char cv_stack[256 * 1024] __attribute__((aligned(64)));

static int cv_child(void *arg)
{
	struct stat st;
	int fd;

	(void)arg;
	while (!cv_stop) {
		if (stat(cv_file, &st) != 0 || st.st_size != 4)
			cv_bad++;
		fd = open(cv_file, O_RDONLY);
		if (fd < 0)
			cv_bad++;
		else
			close(fd);
		cv_calls++;
	}
	_exit(0);
}

static int case_clone_vm(long rounds)
{
	struct sigaction sa;
	long eintr = 0, other = 0, parent_bad = 0, *progress;
	pid_t dog;
	struct stat st;

	say("rounds: %ld\n", rounds);
	put("f", "data", 4);
	CHECK(mkfifo(at("p"), 0600) == 0);
	snprintf(cv_file, sizeof(cv_file), "%s", at("f"));
	snprintf(cv_fifo, sizeof(cv_fifo), "%s", at("p"));
	progress = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	CHECK(progress != MAP_FAILED);
	*progress = 0;
	dog = fork();
	CHECK(dog >= 0);
	if (dog == 0) {
		long seen = -1, still = 0;

		while (still < HANG_GUARD) {
			sleep(1);
			still = *progress == seen ? still + 1 : 0;
			seen = *progress;
		}
		open(cv_fifo, O_WRONLY | O_NONBLOCK);	/* ends a reader's wait */
		_exit(0);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART */
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	for (long i = 0; i < rounds; i++) {
		pid_t child;

		cv_stop = 0;
		cv_calls = 0;
		child = clone(cv_child, cv_stack + sizeof(cv_stack), CLONE_VM | CLONE_FILES | SIGCHLD,
			      NULL);
		CHECK(child > 0);
		CHECK(until((const long *)&cv_calls, 1));	/* it is making calls */
		timed_fifo_open(cv_fifo, &eintr, &other);
		for (int j = 0; j < 20; j++)
			if (stat(cv_file, &st) != 0 || st.st_size != 4)
				parent_bad++;
		if (i % 2)
			kill(child, SIGKILL);
		cv_stop = 1;
		CHECK(reap_bounded(child) >= 0);
		++*progress;
	}
	kill(dog, SIGKILL);
	waitpid(dog, NULL, 0);
	signal(SIGALRM, SIG_DFL);
	result("every FIFO open ended by the timer", eintr == rounds && !other,
	       "%ld EINTR, %ld else", eintr, other);
	result("the parent's calls reach the mount", !parent_bad, "%ld failed", parent_bad);
	result("the children's calls reach the mount", !cv_bad, "%ld failed", cv_bad);
	CHECK(unlink(at("p")) == 0);
	CHECK(unlink(at("f")) == 0);
	return status;
}

/*
 * Thousands of descriptors of mount files handed down through exec: more
 * than the kernel takes in one environment string when DEFUSE lists them
 * (128 KiB: about 5,000 emulated files), and so many that DEFUSE's own
 * descriptors lowered the limit in the exec'ing image.  The new image must
 * see every one as the file (its path, its bytes) and still have room to
 * open files, as natively.  The child half runs in the exec'd image.
 */
#define MANY_INHERITED 8000

static int case_many_inherited_child(int argc, char **argv)
{
	int more[64], n = 0;
	char buf[64];

	for (int i = 3; i < argc; i++)
		result("the descriptor reads the file", slurp(atoi(argv[i]), buf, sizeof(buf)) == 5 &&
		       !strcmp(buf, "many;"), "%s", ename(errno));
	while (n < 64 && (more[n] = open(at("f"), O_RDONLY)) >= 0)
		n++;
	result("64 more opens", n == 64, "%d, then %s", n, ename(errno));
	while (n > 0)
		close(more[--n]);
	return status;
}

/* Does /proc/self/fd/FD name the file at path real? */
static void link_names(int fd, const char *real)
{
	char link[64], path[4096];
	ssize_t len;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, sizeof(path) - 1);
	path[len > 0 ? len : 0] = 0;
	result("the descriptor's link names the file", len > 0 && !strcmp(path, real), "%s", path);
}

static int case_many_inherited(void)
{
	static int fds[MANY_INHERITED];
	char args[4][16], *argv[8], real[4096];
	struct rlimit rl;
	int n = 0, st;
	pid_t pid;

	put("f", "many;", 5);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = rl.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	/* A kernel-backed or passthrough emulated file costs DEFUSE a
	   descriptor of its own: room for both, and for the loader. */
	if (rl.rlim_cur < 2 * MANY_INHERITED + 1024) {
		say("SKIP: a descriptor limit of %lu is below %d\n", (unsigned long)rl.rlim_cur,
		    2 * MANY_INHERITED + 1024);
		return 0;
	}
	while (n < MANY_INHERITED && (fds[n] = open(at("f"), O_RDONLY)) >= 0)
		n++;
	result("opened them all", n == MANY_INHERITED, "%d, then %s", n, ename(errno));
	if (n < 3)
		return status;
	/* And the links name the file, where it is now: an inherited
	   kernel-backed descriptor is the backing file's to the new image
	   (docs/core.md), so this is asked here. */
	CHECK(realpath(at("f"), real) != NULL);
	link_names(fds[0], real);
	CHECK(rename(at("f"), at("g")) == 0);
	CHECK(realpath(at("g"), real) != NULL);
	link_names(fds[1], real);
	CHECK(rename(at("g"), at("f")) == 0);
	for (int i = 0; i < 3; i++)
		snprintf(args[i], sizeof(args[i]), "%d", fds[i == 0 ? 0 : i == 1 ? n / 2 : n - 1]);
	argv[0] = "hostile";
	argv[1] = "many-inherited-child";
	argv[2] = (char *)dir;
	argv[3] = args[0];
	argv[4] = args[1];
	argv[5] = args[2];
	argv[6] = NULL;
	CHECK((pid = fork()) >= 0);
	if (pid == 0) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	result("the exec'd image ran", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	while (n > 0)
		close(fds[--n]);
	return status;
}

int main(int argc, char **argv)
{
	const char *c;

	if (argc < 3) {
		fprintf(stderr, "usage: hostile CASE DIR [COUNT]\n");
		return 2;
	}
	c = argv[1];
	dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "fork-threads")) return case_fork(0, count(argc, argv, 500));
	if (!strcmp(c, "fork-mixed")) return case_fork(1, count(argc, argv, 200));
	if (!strcmp(c, "kill-sharer")) return case_sharer(0, count(argc, argv, 50));
	if (!strcmp(c, "stop-sharer")) return case_sharer(1, count(argc, argv, 50));
	if (!strcmp(c, "band-threads")) return case_band_threads();
	if (!strcmp(c, "dup2-band")) return case_dup2_band(0);
	if (!strcmp(c, "dup2-band-keep")) return case_dup2_band(1);
	if (!strcmp(c, "low-limit")) return case_low_limit();
	if (!strcmp(c, "many-inherited")) return case_many_inherited();
	if (!strcmp(c, "fifo-eintr")) return case_fifo_eintr();
	if (!strcmp(c, "fifo-threads")) return case_fifo_threads();
	if (!strcmp(c, "lock-deadlock")) return case_lock_deadlock();
	if (!strcmp(c, "lock-eintr")) return case_lock_eintr();
	if (!strcmp(c, "clone-vm")) return case_clone_vm(count(argc, argv, 100));
	if (!strcmp(c, "many-inherited-child")) return case_many_inherited_child(argc, argv);
	if (!strcmp(c, "backing-removed")) return case_backing_removed();
	if (!strcmp(c, "bad-pointers")) return case_bad_pointers();
	if (!strcmp(c, "cwd-removed")) return case_cwd_removed();
	if (!strcmp(c, "open-after-unlink")) return case_open_after_unlink();
	if (!strcmp(c, "fcntl-misc")) return case_fcntl_misc();
	if (!strcmp(c, "fsize")) return case_fsize();
	if (!strcmp(c, "errno-kept")) return case_errno_kept();
	if (!strcmp(c, "aio")) return case_aio();
	if (!strcmp(c, "inotify")) return case_inotify();
	if (!strcmp(c, "vector-registers")) return case_vector_registers();
	fprintf(stderr, "hostile: unknown case '%s'\n", c);
	return 2;
}
