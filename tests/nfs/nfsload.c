/*
 * nfsload: threads and inherited descriptors on an NFS mount (tests/nfs).
 *
 *   nfsload threads DIR NTHREADS ROUNDS
 *       NTHREADS threads at once, each in a directory of its own under DIR
 *       and all on a shared one: create, write, stat, read back, rename,
 *       list, mkdir/rmdir, unlink, with every answer checked against what
 *       the thread wrote (sizes, bytes, names, errors).  Exit 0, or 1 with
 *       the first difference.  Meanwhile the main thread forks children
 *       that write, read back and remove a file of their own.
 *
 *   nfsload bench DIR NFILES OPS THREADS...
 *       NFILES small files in DIR (made first); then for each count in
 *       THREADS, that many threads share OPS rounds of open + fstat + read
 *       + close of the files (each open asks the server: close-to-open,
 *       and each read is a READ: nothing is served from a cache).  Prints
 *       one line per count: "threads N ops_per_s X cpu_us_per_op Y" (Y:
 *       this process's user + system time per round).
 *
 *   nfsload execfds DIR N SAME EXECS
 *       Opens N files of DIR (SAME 1: one file N times; 0: N files), then
 *       EXECS times forks and execs itself; the new image fstats every
 *       inherited descriptor (the first touch of each makes the host open
 *       it again through the module) and reports the time that took, then
 *       reads one byte through each and checks it.  Prints
 *       "reopen_us_per_fd X" (the median).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long number(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 0) {
		fprintf(stderr, "nfsload: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int fail(const char *what, const char *path, int err)
{
	fprintf(stderr, "nfsload: %s %s: %s\n", what, path, err ? strerror(err) : "wrong answer");
	return 1;
}

/* The bytes file (t, r) holds: its size and pattern depend on both. */
static size_t content(int t, int r, char *buf, size_t cap)
{
	size_t n = (size_t)(1 + (t * 977 + r * 131) % 9000);

	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (t * 7 + r * 3 + (int)i) % 26);
	return n;
}

static int write_file(const char *path, const char *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return fail("create", path, errno);
	if (write(fd, buf, n) != (ssize_t)n)
		return fail("write", path, errno), close(fd), 1;
	if (close(fd) < 0)
		return fail("close", path, errno);
	return 0;
}

static int check_file(const char *path, const char *want, size_t n)
{
	char got[10000];
	struct stat st;
	ssize_t k;
	int fd;

	if (stat(path, &st) < 0)
		return fail("stat", path, errno);
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size != n)
		return fail("stat (size)", path, 0);
	if ((fd = open(path, O_RDONLY)) < 0)
		return fail("open", path, errno);
	k = read(fd, got, sizeof(got));
	close(fd);
	if (k < 0)
		return fail("read", path, errno);
	if ((size_t)k != n || memcmp(got, want, n))
		return fail("read (bytes)", path, 0);
	return 0;
}

struct worker {
	pthread_t th;
	const char *dir;
	int t, rounds, nshared;
	int err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char mine[4096], a[4200], b[4200], buf[10000];
	int t = w->t;

	snprintf(mine, sizeof(mine), "%s/t%d", w->dir, t);
	if (mkdir(mine, 0755) < 0 && (w->err = fail("mkdir", mine, errno)))
		return NULL;
	for (int r = 0; r < w->rounds; r++) {
		size_t n = content(t, r, buf, sizeof(buf));
		struct stat st;
		DIR *d;
		struct dirent *e;
		int count = 0;

		snprintf(a, sizeof(a), "%s/f%d", mine, r);
		snprintf(b, sizeof(b), "%s/g%d", mine, r);
		if ((w->err = write_file(a, buf, n)) || (w->err = check_file(a, buf, n)))
			return NULL;
		if (rename(a, b) < 0 && (w->err = fail("rename", a, errno)))
			return NULL;
		if (stat(a, &st) == 0 || errno != ENOENT) {
			w->err = fail("stat of a renamed name", a, 0);
			return NULL;
		}
		if ((w->err = check_file(b, buf, n)))
			return NULL;
		/* the directory holds g0..g(r) and nothing else */
		if (!(d = opendir(mine)) && (w->err = fail("opendir", mine, errno)))
			return NULL;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				count += e->d_name[0] == 'g';
		closedir(d);
		if (count != r + 1) {
			w->err = fail("readdir (count)", mine, 0);
			return NULL;
		}
		snprintf(a, sizeof(a), "%s/d%d", mine, r);
		if ((mkdir(a, 0700) < 0 || stat(a, &st) < 0 || !S_ISDIR(st.st_mode) ||
		     rmdir(a) < 0) && (w->err = fail("mkdir/stat/rmdir", a, errno)))
			return NULL;
		if (chmod(b, 0600 + (r & 1) * 040) < 0 || stat(b, &st) < 0 ||
		    (st.st_mode & 0777) != (mode_t)(0600 + (r & 1) * 040)) {
			w->err = fail("chmod/stat", b, errno);
			return NULL;
		}
		/* the shared files, written once by main */
		for (int s = 0; s < w->nshared; s++) {
			snprintf(a, sizeof(a), "%s/shared/s%d", w->dir, (s + t + r) % w->nshared);
			n = content(1000 + (s + t + r) % w->nshared, 0, buf, sizeof(buf));
			if ((w->err = check_file(a, buf, n)))
				return NULL;
		}
	}
	for (int r = 0; r < w->rounds; r++) {
		snprintf(b, sizeof(b), "%s/g%d", mine, r);
		if (unlink(b) < 0 && (w->err = fail("unlink", b, errno)))
			return NULL;
	}
	if (rmdir(mine) < 0)
		w->err = fail("rmdir", mine, errno);
	return NULL;
}

static int threads_main(const char *dir, int nthreads, int rounds)
{
	struct worker w[64];
	char path[4200], buf[10000];
	int err = 0, nshared = 8;

	if (nthreads < 1 || nthreads > 64)
		return fail("threads", "(1 to 64)", EINVAL);
	snprintf(path, sizeof(path), "%s/shared", dir);
	if (mkdir(path, 0755) < 0)
		return fail("mkdir", path, errno);
	for (int s = 0; s < nshared; s++) {
		size_t n = content(1000 + s, 0, buf, sizeof(buf));

		snprintf(path, sizeof(path), "%s/shared/s%d", dir, s);
		if (write_file(path, buf, n))
			return 1;
	}
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ .dir = dir, .t = i, .rounds = rounds, .nshared = nshared };
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]))
			return fail("pthread_create", "", errno);
	}
	/* forks while the threads' calls are out: each child connects anew
	   (the parent's connections are not its to use, one of them maybe in
	   the middle of a call) and works on its own file */
	for (int k = 0; k < 5 && !err; k++) {
		size_t n = content(500 + k, 0, buf, sizeof(buf));
		int st;
		pid_t pid;

		snprintf(path, sizeof(path), "%s/fork%d", dir, k);
		pid = fork();
		if (pid == 0)
			_exit(write_file(path, buf, n) || check_file(path, buf, n) ||
			      unlink(path) < 0);
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			err |= fail("forked child's work", path, pid < 0 ? errno : 0);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		err |= w[i].err;
	}
	for (int s = 0; s < nshared; s++) {
		snprintf(path, sizeof(path), "%s/shared/s%d", dir, s);
		if (unlink(path) < 0)
			err |= fail("unlink", path, errno);
	}
	snprintf(path, sizeof(path), "%s/shared", dir);
	if (rmdir(path) < 0)
		err |= fail("rmdir", path, errno);
	if (!err)
		printf("threads %d rounds %d: every answer as written\n", nthreads, rounds);
	return err;
}

/* ---- bench ---------------------------------------------------------------- */

struct bworker {
	pthread_t th;
	const char *dir;
	int first, step, nfiles;
	long ops;
	int err;
};

static void *bench_main(void *arg)
{
	struct bworker *w = arg;
	char path[4200], buf[4096];

	for (long i = 0; i < w->ops; i++) {
		int k = (int)((w->first + i * w->step) % w->nfiles);
		struct stat st;
		int fd;

		snprintf(path, sizeof(path), "%s/b%d", w->dir, k);
		if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) < 0 ||
		    read(fd, buf, sizeof(buf)) != 100 || buf[0] != (char)('A' + k % 26)) {
			w->err = fail("open/fstat/read", path, errno);
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		close(fd);
	}
	return NULL;
}

/* This process's CPU time (user + system), us. */
static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
	       ru.ru_stime.tv_usec;
}

static int bench(const char *dir, int nfiles, long ops, int argc, char **argv)
{
	char path[4200], buf[100];

	for (int k = 0; k < nfiles; k++) {
		memset(buf, 'A' + k % 26, sizeof(buf));
		snprintf(path, sizeof(path), "%s/b%d", dir, k);
		if (write_file(path, buf, sizeof(buf)))
			return 1;
	}
	for (int a = 0; a < argc; a++) {
		int n = (int)number(argv[a]);
		struct bworker w[64];
		double t0, t1, c0, c1;
		int err = 0;

		if (n < 1 || n > 64)
			return fail("threads", argv[a], EINVAL);
		t0 = now_us();
		c0 = cpu_us();
		for (int i = 0; i < n; i++) {
			w[i] = (struct bworker){ .dir = dir, .first = i, .step = n, .nfiles = nfiles,
						 .ops = ops / n };
			if (pthread_create(&w[i].th, NULL, bench_main, &w[i]))
				return fail("pthread_create", "", errno);
		}
		for (int i = 0; i < n; i++) {
			pthread_join(w[i].th, NULL);
			err |= w[i].err;
		}
		t1 = now_us();
		c1 = cpu_us();
		if (err)
			return 1;
		printf("threads %d ops_per_s %.0f cpu_us_per_op %.2f\n", n,
		       (double)(ops / n * n) / ((t1 - t0) / 1e6), (c1 - c0) / (double)(ops / n * n));
		fflush(stdout);
	}
	for (int k = 0; k < nfiles; k++) {
		snprintf(path, sizeof(path), "%s/b%d", dir, k);
		unlink(path);
	}
	return 0;
}

/* ---- execfds ---------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The new image: an fstat of every descriptor listed, timed (the first
   touch of each opens it again: no data is read, which would be a READ
   each), then one byte read through each, checked. */
static int exec_child(int argc, char **argv)
{
	double t0 = now_us(), t1;

	for (int i = 2; i < argc; i++) {
		struct stat st;

		if (fstat((int)number(argv[i]), &st) < 0 || st.st_size != 1)
			return fail("fstat of inherited descriptor", argv[i], errno);
	}
	t1 = now_us();
	for (int i = 2; i < argc; i++) {
		char c = 0;

		if (pread((int)number(argv[i]), &c, 1, 0) != 1 || c != 'x')
			return fail("pread of inherited descriptor", argv[i], errno);
	}
	printf("%.3f\n", (t1 - t0) / (argc - 2));
	return 0;
}

static int execfds(const char *dir, int n, int same, int execs)
{
	char path[4200], **args = calloc((size_t)n + 3, sizeof(char *));
	double *per = calloc((size_t)execs, sizeof(double));

	if (!args || !per || n < 1 || execs < 1)
		return fail("execfds", "arguments", EINVAL);
	args[0] = "nfsload";
	args[1] = "child";
	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/x%d", dir, same ? 0 : i);
		if ((!same || i == 0) && write_file(path, "x", 1))
			return 1;
		if ((fd = open(path, O_RDONLY)) < 0)
			return fail("open", path, errno);
		if (asprintf(&args[i + 2], "%d", fd) < 0)
			return 1;
	}
	for (int e = 0; e < execs; e++) {
		int pipefd[2], st;
		char out[64] = "";
		pid_t pid;
		ssize_t k;

		if (pipe(pipefd) < 0)
			return fail("pipe", "", errno);
		pid = fork();
		if (pid == 0) {
			dup2(pipefd[1], 1);
			close(pipefd[0]);
			execv("/proc/self/exe", args);
			_exit(127);
		}
		close(pipefd[1]);
		k = read(pipefd[0], out, sizeof(out) - 1);
		close(pipefd[0]);
		waitpid(pid, &st, 0);
		if (k <= 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			return fail("child", "", 0);
		per[e] = strtod(out, NULL);
	}
	qsort(per, (size_t)execs, sizeof(double), cmp_double);
	printf("reopen_us_per_fd %.2f (min %.2f max %.2f, %d execs, %d %s)\n", per[execs / 2],
	       per[0], per[execs - 1], execs, n, same ? "descriptors of one file" : "files");
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/x%d", dir, same ? 0 : i);
		if (!same || i == 0)
			unlink(path);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "child"))
		return exec_child(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "threads"))
		return threads_main(argv[2], (int)number(argv[3]), (int)number(argv[4]));
	if (argc >= 6 && !strcmp(argv[1], "bench"))
		return bench(argv[2], (int)number(argv[3]), number(argv[4]), argc - 5, argv + 5);
	if (argc == 6 && !strcmp(argv[1], "execfds"))
		return execfds(argv[2], (int)number(argv[3]), (int)number(argv[4]),
			       (int)number(argv[5]));
	fprintf(stderr, "usage: nfsload threads DIR NTHREADS ROUNDS | bench DIR NFILES OPS "
		"THREADS... | execfds DIR N SAME EXECS\n");
	return 2;
}
