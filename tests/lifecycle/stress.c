/*
 * Lifecycle stress (issue 4):
 *
 *     stress stress DIR
 *
 * PROCS processes, each with THREADS threads, do OPS random operations
 * each on the files of DIR: open, close, dup, dup2 over a number other
 * threads are reading, positioned and offset writes and reads, O_APPEND
 * records, fork (the child writes through an inherited descriptor), exec
 * (a new image writes through an inherited descriptor), and reads racing
 * dup2 and close.  Each thread draws its operations from its own seeded
 * generator, so what it writes does not depend on the interleaving: every
 * 16-byte slot of the data files has one owning thread, which checks its
 * own reads as it goes; at the end the files are compared with a model
 * replayed from the same generators, and the append log must hold every
 * record whole, the right number per thread.  Bounded: a fixed number of
 * operations, no timing.  Prints a summary that must not depend on the
 * run; exits 0, or prints FAIL and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCS 3
#define THREADS 4
#define OPS 400
#define NFILES 3
#define SLOTS 8			/* per thread and file */
#define SLOT 16
#define OWNERS (PROCS * THREADS)
#define FILE_SIZE (OWNERS * SLOTS * SLOT)
#define NSHARED 4

static const char *dir;
static char self_exe[4096];

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %d)\n", errno);
	fflush(stdout);
	_exit(1);
}

#define CHECK(x) do { if (!(x)) fail("%s:%d: %s", __FILE__, __LINE__, #x); } while (0)

static void path_of(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
}

static void data_path(char *buf, size_t n, int f)
{
	char name[16];

	snprintf(name, sizeof(name), "data%d", f);
	path_of(buf, n, name);
}

static uint64_t next(uint64_t *s)
{
	/* xorshift64*: enough for choosing operations */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static off_t slot_off(int owner, int k)
{
	return (off_t)(owner * SLOTS + k) * SLOT;
}

static void slot_value(char v[SLOT], int owner, int op, int who)
{
	/* 15 characters and a newline: owner, op, who wrote it */
	snprintf(v, SLOT + 1, "o%02d op%04d w%c...", owner, op, who);
	v[SLOT - 1] = '\n';
}

/*
 * One thread's operations.  model != NULL: no I/O, only what the files
 * must hold afterwards, from the same choices.
 */
struct thread_ctx {
	int proc, thread, owner;
	int *shared;		/* the process's shared numbers */
	char (*model)[FILE_SIZE];
	int appended;
};

/* 0 when the child exited 0; otherwise says how it ended (a child has no
 * other way to tell why it failed than its status and its own FAIL line) */
static int reap(pid_t pid)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		printf("child %d exited %d\n", (int)pid, WEXITSTATUS(st));
	else
		printf("child %d killed by signal %d\n", (int)pid, WTERMSIG(st));
	return -1;
}

static void run_ops(struct thread_ctx *c)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL * (c->owner + 1);
	int fds[NFILES][2], logfd = -1;
	char mine[NFILES][SLOTS][SLOT];	/* what our slots hold now */
	char v[SLOT + 1], back[SLOT], p[4096];

	memset(mine, 0, sizeof(mine));
	for (int f = 0; f < NFILES; f++)
		fds[f][0] = fds[f][1] = -1;
	for (int op = 0; op < OPS; op++) {
		uint64_t r = next(&s);
		int f = r % NFILES, k = (r >> 8) % SLOTS, which = (r >> 16) & 1;
		int kind = (r >> 20) % 100;
		off_t off = slot_off(c->owner, k);
		int *fd = &fds[f][which];

		if (c->model) {
			if (kind < 70) {
				slot_value(v, c->owner, op, kind < 40 ? 'p' : kind < 55 ? 's' :
					   kind < 62 ? 'f' : 'x');
				memcpy(c->model[f] + off, v, SLOT);
			} else if (kind < 78) {
				c->appended++;
			}
			continue;
		}
		if (*fd < 0 && kind < 90) {
			data_path(p, sizeof(p), f);
			*fd = open(p, O_RDWR);
			CHECK(*fd >= 0);
		}
		if (kind < 40) {		/* positioned write */
			slot_value(v, c->owner, op, 'p');
			CHECK(pwrite(*fd, v, SLOT, off) == SLOT);
			memcpy(mine[f][k], v, SLOT);
		} else if (kind < 55) {		/* offset write: our own description */
			slot_value(v, c->owner, op, 's');
			CHECK(lseek(*fd, off, SEEK_SET) == off);
			CHECK(write(*fd, v, SLOT) == SLOT);
			CHECK(lseek(*fd, 0, SEEK_CUR) == off + SLOT);
			memcpy(mine[f][k], v, SLOT);
		} else if (kind < 62) {		/* fork: the child writes */
			pid_t pid;

			slot_value(v, c->owner, op, 'f');
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0) {
				ssize_t n = pwrite(*fd, v, SLOT, off);

				if (n != SLOT)
					fail("forked child: pwrite(%d, %ld) = %zd", *fd,
					     (long)off, n);
				_exit(0);
			}
			CHECK(reap(pid) == 0);
			memcpy(mine[f][k], v, SLOT);
		} else if (kind < 70) {		/* exec: a new image writes */
			char offs[32], fdn[16], *argv[] = { "stress", "-write", (char *)dir,
							   fdn, offs, v, NULL };
			pid_t pid;

			slot_value(v, c->owner, op, 'x');
			v[SLOT] = 0;
			snprintf(offs, sizeof(offs), "%ld", (long)off);
			snprintf(fdn, sizeof(fdn), "%d", *fd);
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0) {
				execv(self_exe, argv);
				_exit(127);
			}
			CHECK(reap(pid) == 0);
			memcpy(mine[f][k], v, SLOT);
		} else if (kind < 78) {		/* an O_APPEND record */
			if (logfd < 0) {
				path_of(p, sizeof(p), "log");
				logfd = open(p, O_WRONLY | O_APPEND);
				CHECK(logfd >= 0);
			}
			snprintf(v, sizeof(v), "L%02d.%04d.......", c->owner, op);
			v[SLOT - 1] = '\n';
			CHECK(write(logfd, v, SLOT) == SLOT);
			c->appended++;
		} else if (kind < 84) {		/* our slot reads back */
			CHECK(pread(*fd, back, SLOT, off) == SLOT);
			if (mine[f][k][0] && memcmp(back, mine[f][k], SLOT))
				fail("owner %d file %d slot %d: read %.15s, wrote %.15s",
				     c->owner, f, k, back, mine[f][k]);
		} else if (kind < 88) {		/* dup, then close the original */
			int d = dup(*fd);

			CHECK(d >= 0);
			close(*fd);
			*fd = d;
		} else if (kind < 90) {		/* close */
			close(*fd);
			*fd = -1;
		} else if (kind < 95) {		/* a read on a number others replace */
			char b;
			int n = c->shared[r % NSHARED];
			ssize_t got = pread(n, &b, 1, 0);

			CHECK(got == 1 || got == 0 || (got < 0 && errno == EBADF));
		} else {			/* dup2 a new open over a shared number */
			int n = c->shared[r % NSHARED], o;

			data_path(p, sizeof(p), f);
			o = open(p, O_RDONLY);
			CHECK(o >= 0);
			CHECK(dup2(o, n) == n);
			close(o);
		}
	}
	for (int f = 0; f < NFILES; f++)
		for (int i = 0; i < 2; i++)
			if (fds[f][i] >= 0)
				close(fds[f][i]);
	if (logfd >= 0)
		close(logfd);
}

static void *thread_main(void *arg)
{
	run_ops(arg);
	return NULL;
}

static void process_main(int proc)
{
	struct thread_ctx ctx[THREADS];
	pthread_t t[THREADS];
	int shared[NSHARED];
	char p[4096];

	for (int i = 0; i < NSHARED; i++) {
		data_path(p, sizeof(p), i % NFILES);
		shared[i] = open(p, O_RDONLY);
		CHECK(shared[i] >= 0);
	}
	for (int i = 0; i < THREADS; i++) {
		ctx[i] = (struct thread_ctx){ proc, i, proc * THREADS + i, shared, NULL, 0 };
		CHECK(pthread_create(&t[i], NULL, thread_main, &ctx[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

static int stress(void)
{
	static char model[NFILES][FILE_SIZE], got[FILE_SIZE + 1];
	int appended[OWNERS], count[OWNERS] = { 0 };
	char p[4096], *log;
	pid_t pids[PROCS];
	struct stat st;
	int fd;

	for (int f = 0; f < NFILES; f++) {
		data_path(p, sizeof(p), f);
		fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0 && ftruncate(fd, FILE_SIZE) == 0);
		close(fd);
	}
	path_of(p, sizeof(p), "log");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	close(fd);
	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0)
			process_main(i);
	}
	for (int i = 0; i < PROCS; i++)
		CHECK(reap(pids[i]) == 0);

	/* The model, replayed. */
	memset(model, 0, sizeof(model));
	for (int o = 0; o < OWNERS; o++) {
		struct thread_ctx c = { o / THREADS, o % THREADS, o, NULL, model, 0 };

		run_ops(&c);
		appended[o] = c.appended;
	}
	for (int f = 0; f < NFILES; f++) {
		data_path(p, sizeof(p), f);
		fd = open(p, O_RDONLY);
		CHECK(fd >= 0);
		CHECK(read(fd, got, sizeof(got)) == FILE_SIZE);
		close(fd);
		for (int off = 0; off < FILE_SIZE; off += SLOT)
			if (memcmp(got + off, model[f] + off, SLOT))
				fail("data%d at %d: %.15s, model %.15s", f, off, got + off,
				     model[f] + off);
	}
	path_of(p, sizeof(p), "log");
	CHECK(stat(p, &st) == 0);
	log = malloc(st.st_size + 1);
	fd = open(p, O_RDONLY);
	CHECK(log && fd >= 0 && read(fd, log, st.st_size + 1) == st.st_size);
	close(fd);
	CHECK(st.st_size % SLOT == 0);
	for (off_t off = 0; off < st.st_size; off += SLOT) {
		int o;

		if (log[off] != 'L' || sscanf(log + off + 1, "%2d", &o) != 1 || o < 0 ||
		    o >= OWNERS || memcmp(log + off + 8, ".......\n", 8))
			fail("torn log record at %ld", (long)off);
		count[o]++;
	}
	for (int o = 0; o < OWNERS; o++)
		if (count[o] != appended[o])
			fail("owner %d: %d records in the log, %d appended", o, count[o],
			     appended[o]);
	free(log);
	CHECK(unlink(p) == 0);	/* its order differs run to run */
	printf("%d processes x %d threads x %d operations: files match the model, "
	       "log complete\n", PROCS, THREADS, OPS);
	return 0;
}

/* A new image's write through an inherited descriptor. */
static int role_write(int fd, long off, const char *v)
{
	ssize_t n = pwrite(fd, v, SLOT, off);

	if (n != SLOT)
		fail("-write: pwrite(%d, %ld) = %zd", fd, off, n);
	return 0;
}

int main(int argc, char **argv)
{
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: stress stress DIR\n");
		return 2;
	}
	dir = argv[2];
	if (!strcmp(argv[1], "-write") && argc == 6)
		return role_write(atoi(argv[3]), atol(argv[4]), argv[5]);
	if (strcmp(argv[1], "stress")) {
		fprintf(stderr, "stress: unknown case '%s'\n", argv[1]);
		return 2;
	}
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	CHECK(n > 0);
	self_exe[n] = 0;
	return stress();
}
