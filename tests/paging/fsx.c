/*
 * A random mix of mapped and unmapped I/O on one file, each result checked
 * against a model of the file kept in memory (after fsx, the file system
 * exerciser):
 *
 *     fsx fsx DIR [OPS [SEED]]
 *
 * Operations: read and write (pread/pwrite, read/write at the offset, a
 * second descriptor), reads and writes through a fresh mapping (shared or
 * private; msync or not before munmap), through a long-lived shared
 * mapping of the largest size (within the current size only: past it is
 * SIGBUS), truncation up and down, msync, fsync, closing and opening
 * again, and a forked child writing through the long-lived mapping.
 * Every read is compared with the model; every 1000 operations the whole
 * file too, by read(2) and by a mapping.  The first difference ends the
 * run with a FAIL line and the log of the last operations.
 *
 * Prints the same thing wherever it runs (tests/paging/run.py compares).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096L
#define MAXLEN (256 * 1024L)
#define MAXOP (64 * 1024L)
#define LOGN 32

static char *model, *buf, *lm;
static long size;
static int fd, fd2;
static uint64_t rng;
static char path[4200];
static char log_[LOGN][96];
static long nops, diffs;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static long pick(long n)
{
	return n > 0 ? (long)(next() % (uint64_t)n) : 0;
}

static void note(const char *fmt, long a, long b)
{
	snprintf(log_[nops % LOGN], sizeof(log_[0]), "%ld: ", nops);
	snprintf(log_[nops % LOGN] + strlen(log_[nops % LOGN]),
		 sizeof(log_[0]) - strlen(log_[nops % LOGN]), fmt, a, b);
}

static void die(const char *what, long off, long len)
{
	printf("FAIL op %ld: %s at %ld (+%ld), file size %ld\n", nops, what, off, len, size);
	for (long i = nops - LOGN + 1; i <= nops; i++)
		if (i >= 0)
			printf("  %s\n", log_[i % LOGN]);
	exit(1);
}

static void compare(const char *how, const char *got, long off, long len)
{
	for (long i = 0; i < len; i++)
		if (got[i] != model[off + i]) {
			printf("FAIL %s: byte %ld is 0x%02x, want 0x%02x\n", how, off + i,
			       (unsigned char)got[i], (unsigned char)model[off + i]);
			diffs++;
			die(how, off, len);
		}
}

static void fill(char *p, long len)
{
	for (long i = 0; i < len; i++)
		p[i] = (char)(next() % 255 + 1);
}

static void set_size(long n)
{
	if (n > size)
		memset(model + size, 0, n - size);
	size = n;
}

static void op_read(void)
{
	long off = pick(size + 1), len = pick(MAXOP) + 1, r, want;
	int which = pick(3);

	note("read %ld +%ld", off, len);
	want = off + len > size ? size - off : len;
	if (which == 0) {
		r = pread(fd, buf, len, off);
	} else if (which == 1) {
		lseek(fd, off, SEEK_SET);
		r = read(fd, buf, len);
	} else {
		r = pread(fd2, buf, len, off);
	}
	if (r != want) {
		if (r < 0)
			printf("FAIL read (%s): %s\n", which == 2 ? "second descriptor" : "first",
			       strerror(errno));
		die("short read", off, r);
	}
	compare("read", buf, off, want);
}

static void op_write(void)
{
	long off = pick(MAXLEN - 1), len = pick(MAXOP) + 1;

	if (off + len > MAXLEN)
		len = MAXLEN - off;
	note("write %ld +%ld", off, len);
	fill(buf, len);
	if (pick(2)) {
		if (pwrite(pick(4) ? fd : fd2, buf, len, off) != len)
			die("pwrite", off, len);
	} else {
		lseek(fd, off, SEEK_SET);
		if (write(fd, buf, len) != len)
			die("write", off, len);
	}
	if (off > size)
		set_size(off);
	memcpy(model + off, buf, len);
	if (off + len > size)
		size = off + len;
}

static void op_mapread(void)
{
	long off, len, pg;
	int shared = pick(2);
	char *m;

	if (!size)
		return;
	off = pick(size);
	len = pick(size - off) + 1;
	pg = off & ~(PAGE - 1);
	note("mapread %ld +%ld", off, len);
	m = mmap(NULL, len + off - pg, PROT_READ, shared ? MAP_SHARED : MAP_PRIVATE, fd, pg);
	if (m == MAP_FAILED)
		die("mmap for reading", off, len);
	compare("mapread", m + off - pg, off, len);
	munmap(m, len + off - pg);
}

static void op_mapwrite(void)
{
	long off = pick(MAXLEN - 1), len = pick(MAXOP) + 1, pg;
	char *m;

	if (off + len > MAXLEN)
		len = MAXLEN - off;
	pg = off & ~(PAGE - 1);
	note("mapwrite %ld +%ld", off, len);
	if (off + len > size) {
		/* as fsx: grow the file first, a mapping cannot */
		if (ftruncate(fd, off + len))
			die("ftruncate for mapwrite", off, len);
		set_size(off + len);
	}
	m = mmap(NULL, len + off - pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, pg);
	if (m == MAP_FAILED)
		die("mmap for writing", off, len);
	fill(m + off - pg, len);
	memcpy(model + off, m + off - pg, len);
	if (pick(2) && msync(m, len + off - pg, MS_SYNC))
		die("msync", off, len);
	munmap(m, len + off - pg);
}

static void op_lm(void)
{
	long off, len;

	if (!size)
		return;
	off = pick(size);
	len = pick(size - off < 8192 ? size - off : 8192) + 1;
	if (pick(2)) {
		note("lmread %ld +%ld", off, len);
		compare("lmread", lm + off, off, len);
	} else {
		note("lmwrite %ld +%ld", off, len);
		fill(lm + off, len);
		memcpy(model + off, lm + off, len);
	}
}

static void op_truncate(void)
{
	long n = pick(MAXLEN + 1);

	if (pick(3) == 0)
		n = size ? pick(size) : 0;	/* more often down */
	note("truncate %ld (from %ld)", n, size);
	if (ftruncate(fd, n))
		die("ftruncate", n, 0);
	if (n < size)
		size = n;
	else
		set_size(n);
}

static void op_sync(void)
{
	int k = pick(3);

	note("sync %ld %ld", k, 0);
	if (k == 0 && msync(lm, MAXLEN, MS_SYNC))
		die("msync", 0, MAXLEN);
	if (k == 1 && msync(lm, MAXLEN, MS_ASYNC))
		die("msync async", 0, MAXLEN);
	if (k == 2 && fsync(fd))
		die("fsync", 0, 0);
}

static void op_reopen(void)
{
	note("reopen %ld %ld", 0, 0);
	close(fd2);
	fd2 = open(path, O_RDWR);
	if (fd2 < 0)
		die("open again", 0, 0);
}

static void op_child(void)
{
	long off, len;
	int status;
	pid_t pid;

	if (!size)
		return;
	off = pick(size);
	len = pick(size - off < 4096 ? size - off : 4096) + 1;
	note("child lmwrite %ld +%ld", off, len);
	fill(buf, len);
	pid = fork();
	if (pid == 0) {
		memcpy(lm + off, buf, len);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die("child", off, len);
	memcpy(model + off, buf, len);
}

static void check_all(void)
{
	struct stat st;
	long n = 0, r;
	char *m;

	if (fstat(fd, &st) || st.st_size != size) {
		printf("FAIL op %ld: fstat size %ld, want %ld\n", nops, (long)st.st_size, size);
		die("size", 0, 0);
	}
	while (n < size && (r = pread(fd2, buf + 0, size - n > MAXOP ? MAXOP : size - n, n)) > 0) {
		compare("full read", buf, n, r);
		n += r;
	}
	if (n != size)
		die("full read short", n, size);
	if (size) {
		m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd2, 0);
		if (m == MAP_FAILED)
			die("mmap whole", 0, size);
		compare("full mapping", m, 0, size);
		munmap(m, size);
	}
}

int main(int argc, char **argv)
{
	long ops = argc > 3 ? atol(argv[3]) : 100000;

	if (argc < 3 || strcmp(argv[1], "fsx")) {
		fprintf(stderr, "usage: fsx fsx DIR [OPS [SEED]]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	rng = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
	rng = rng * 0x9e3779b97f4a7c15ULL + 1;
	snprintf(path, sizeof(path), "%s/fsx.file", argv[2]);
	model = calloc(MAXLEN, 1);
	buf = malloc(MAXOP);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	fd2 = open(path, O_RDWR);
	if (fd < 0 || fd2 < 0 || !model || !buf) {
		printf("FAIL setup: %s\n", strerror(errno));
		return 1;
	}
	lm = mmap(NULL, MAXLEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (lm == MAP_FAILED) {
		printf("FAIL mmap: %s\n", strerror(errno));
		return 1;
	}
	for (nops = 0; nops < ops; nops++) {
		long k = pick(100);

		if (k < 18)
			op_read();
		else if (k < 36)
			op_write();
		else if (k < 50)
			op_mapread();
		else if (k < 64)
			op_mapwrite();
		else if (k < 84)
			op_lm();
		else if (k < 92)
			op_truncate();
		else if (k < 96)
			op_sync();
		else if (k < 99)
			op_reopen();
		else if (pick(20) == 0)
			op_child();
		if (nops % 1000 == 999)
			check_all();
	}
	check_all();
	munmap(lm, MAXLEN);
	close(fd);
	close(fd2);
	/* Everything reached the file: read it from scratch. */
	fd = open(path, O_RDONLY);
	for (long n = 0, r; n < size; n += r) {
		r = pread(fd, buf, size - n > MAXOP ? MAXOP : size - n, n);
		if (r <= 0)
			die("final read", n, size);
		compare("final read", buf, n, r);
	}
	close(fd);
	printf("fsx: %ld operations, final size %ld, %ld differences\n", ops, size, diffs);
	return 0;
}
