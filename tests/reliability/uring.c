/*
 * io_uring on a mount file (src/core/uring.c), by raw system calls, so
 * that the ring's layout is the test's own choice:
 *
 *   uring CASE DIR     CASE: uring (plain ring), uring-sqe128 (128-byte
 *                      SQEs), uring-nosqarray (no index array, 6.6),
 *                      uring-nommap (rings in the program's memory, 6.5),
 *                      uring-sqpoll (a kernel thread takes the SQEs; a
 *                      plain ring where that is refused, as liburing's
 *                      users and libuv fall back)
 *
 * Writes, vectored writes, fsync, reads back (plain, vectored, fixed
 * buffer, past the end), reads and writes at the file position (offset
 * -1), errors (a read of a write-only descriptor: EBADF; a negative
 * offset: EINVAL), a failed SQE cancelling its link, many SQEs in one
 * submission on a mount file and a kernel file (a memfd) mixed, and
 * openat, statx and close through the ring.  Every completion is printed
 * by user_data, in user_data order: the same natively and through DEFUSE
 * (tests/reliability/run.py compares).  A ring layout the kernel refuses
 * prints the same refusal in every run.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define SETUP_NO_MMAP		(1U << 14)
#define SETUP_NO_SQARRAY	(1U << 16)

static const char *dir;

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";

	return n ? n : "?";
}

static void fail(const char *what, int line)
{
	printf("FAIL uring.c:%d: %s (errno %s)\n", line, what, ename(errno));
	fflush(stdout);
	_exit(1);
}

#define CHECK(x) do { if (!(x)) fail(#x, __LINE__); } while (0)

static char *at(const char *name)
{
	static char buf[4][4096];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

/* The ring: what liburing's io_uring_queue_init would keep. */
static struct {
	int fd;
	unsigned flags, entries, *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	char *sqes;
	struct io_uring_cqe *cqes;
	unsigned queued;	/* SQEs written since the last submit */
} ring;

static int ring_init(unsigned flags)
{
	struct io_uring_params p;
	size_t sq_len, cq_len, sqe_len;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	ring.flags = flags;
	sqe_len = (size_t)16 << (flags & IORING_SETUP_SQE128 ? 7 : 6);
	if (flags & SETUP_NO_MMAP) {
		/* The program's memory: the rings in one block, the SQEs in
		   another (both huge-page aligned is not needed at this size). */
		sq = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ring.sqes = mmap(NULL, sqe_len < 4096 ? 4096 : sqe_len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(sq != MAP_FAILED && ring.sqes != MAP_FAILED);
		p.cq_off.resv2 = (uintptr_t)sq;
		p.sq_off.resv2 = (uintptr_t)ring.sqes;
	}
	ring.fd = (int)syscall(SYS_io_uring_setup, 16, &p);
	if (ring.fd < 0)
		return -errno;
	ring.entries = p.sq_entries;
	if (!(flags & SETUP_NO_MMAP)) {
		sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
		cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
		if (p.features & IORING_FEAT_SINGLE_MMAP)
			sq_len = cq_len = sq_len > cq_len ? sq_len : cq_len;
		sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring.fd,
			  IORING_OFF_SQ_RING);
		CHECK(sq != MAP_FAILED);
		cq = p.features & IORING_FEAT_SINGLE_MMAP ? sq :
			mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			     ring.fd, IORING_OFF_CQ_RING);
		CHECK(cq != MAP_FAILED);
		ring.sqes = mmap(NULL, p.sq_entries * (sqe_len / 16), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, ring.fd, IORING_OFF_SQES);
		CHECK(ring.sqes != MAP_FAILED);
	} else {
		cq = sq;
	}
	ring.sq_head = (unsigned *)(sq + p.sq_off.head);
	ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
	ring.sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	ring.sq_array = flags & SETUP_NO_SQARRAY ? NULL : (unsigned *)(sq + p.sq_off.array);
	ring.cq_head = (unsigned *)(cq + p.cq_off.head);
	ring.cq_tail = (unsigned *)(cq + p.cq_off.tail);
	ring.cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* The next SQE, zeroed, with its user_data. */
static struct io_uring_sqe *sqe(uint64_t data)
{
	unsigned tail = *ring.sq_tail + ring.queued, idx = tail & *ring.sq_mask;
	struct io_uring_sqe *s = (struct io_uring_sqe *)(ring.sqes +
		((size_t)idx << (ring.flags & IORING_SETUP_SQE128 ? 7 : 6)));

	CHECK(ring.queued < ring.entries);
	memset(s, 0, ring.flags & IORING_SETUP_SQE128 ? 128 : 64);
	s->user_data = data;
	if (ring.sq_array)
		ring.sq_array[idx] = idx;
	ring.queued++;
	return s;
}

static struct io_uring_sqe *rw(uint64_t data, int op, int fd, void *buf, unsigned len, long off)
{
	struct io_uring_sqe *s = sqe(data);

	s->opcode = op;
	s->fd = fd;
	s->addr = (uintptr_t)buf;
	s->len = len;
	s->off = (uint64_t)off;
	return s;
}

/* Submits what was queued and waits for n completions; prints them in
   user_data order. */
static void submit_wait(const char *what, unsigned n)
{
	struct io_uring_cqe got[32];
	unsigned head, k = 0;
	long r;

	__atomic_store_n(ring.sq_tail, *ring.sq_tail + ring.queued, __ATOMIC_RELEASE);
	/* (an SQPOLL ring's thread may be asleep: woken) */
	r = syscall(SYS_io_uring_enter, ring.fd, ring.queued, n, IORING_ENTER_GETEVENTS |
		    (ring.flags & IORING_SETUP_SQPOLL ? IORING_ENTER_SQ_WAKEUP : 0), NULL, 0);
	printf("%s: submitted %ld of %u\n", what, r, ring.queued);
	ring.queued = 0;
	CHECK(r >= 0);
	while (k < n) {
		head = *ring.cq_head;
		if (head == __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE)) {
			CHECK(syscall(SYS_io_uring_enter, ring.fd, 0, 1, IORING_ENTER_GETEVENTS,
				      NULL, 0) >= 0);
			continue;
		}
		got[k++] = ring.cqes[head & *ring.cq_mask];
		__atomic_store_n(ring.cq_head, head + 1, __ATOMIC_RELEASE);
	}
	for (uint64_t want = 0; want < 1000; want++)
		for (unsigned i = 0; i < n; i++)
			if (got[i].user_data == want)
				printf("  %llu: %d%s%s\n", (unsigned long long)want, got[i].res,
				       got[i].res < 0 ? " " : "", got[i].res < 0 ? ename(-got[i].res) : "");
}

static int run(unsigned flags)
{
	char b1[32] = "", b2[4] = "", b3[4] = "", b4[8] = "", kb[16] = "", pos1[6] = "",
	     pos2[6] = "", many[64] = "";
	static char fixed[4096] __attribute__((aligned(4096)));
	struct iovec wv[2] = { { "ab", 2 }, { "cd", 2 } }, rv[2] = { { b2, 2 }, { b3, 2 } },
		     reg = { fixed, sizeof(fixed) };
	struct statx stx;
	int fd, kfd, wfd, r;

	r = ring_init(flags);
	if (r < 0) {
		printf("io_uring_setup: %s\n", ename(-r));
		return 0;
	}
	fd = open(at("u"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	kfd = memfd_create("uring-test", 0);
	CHECK(fd >= 0 && kfd >= 0);
	CHECK(syscall(SYS_io_uring_register, ring.fd, IORING_REGISTER_BUFFERS, &reg, 1) == 0);

	rw(1, IORING_OP_WRITE, fd, "hello uring", 11, 0);
	rw(2, IORING_OP_WRITE, kfd, "kernel", 6, 0);
	rw(3, IORING_OP_WRITEV, fd, wv, 2, 100);
	submit_wait("writes", 3);
	rw(4, IORING_OP_FSYNC, fd, NULL, 0, 0);
	rw(5, IORING_OP_FSYNC, fd, NULL, 0, 0)->fsync_flags = IORING_FSYNC_DATASYNC;
	submit_wait("fsync, fdatasync", 2);

	rw(10, IORING_OP_READ, fd, b1, sizeof(b1) - 1, 0);
	rw(11, IORING_OP_READV, fd, rv, 2, 100);
	rw(12, IORING_OP_READ, fd, b4, sizeof(b4), 5000);
	rw(13, IORING_OP_READ, kfd, kb, sizeof(kb) - 1, 0);
	rw(14, IORING_OP_READ_FIXED, fd, fixed + 8, 5, 6);
	submit_wait("reads, one past the end, one into a fixed buffer", 5);
	printf("read: '%s' '%.2s%.2s' kernel '%s' fixed '%s'\n", b1, b2, b3, kb, fixed + 8);

	/* The file position: offset -1 reads and moves it. */
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	rw(20, IORING_OP_READ, fd, pos1, 5, -1);
	submit_wait("read at the position", 1);
	rw(21, IORING_OP_READ, fd, pos2, 5, -1);
	submit_wait("read at the position again", 1);
	printf("position reads: '%s' '%s', position now %ld\n", pos1, pos2,
	       (long)lseek(fd, 0, SEEK_CUR));
	rw(22, IORING_OP_WRITE, fd, "XY", 2, -1);
	submit_wait("write at the position", 1);
	printf("position after the write: %ld\n", (long)lseek(fd, 0, SEEK_CUR));

	/* Errors: the same errno as natively. */
	wfd = open(at("u"), O_WRONLY);
	CHECK(wfd >= 0);
	rw(30, IORING_OP_READ, wfd, b4, 4, 0);
	rw(31, IORING_OP_READ, fd, b4, 4, -2);
	submit_wait("read of a write-only descriptor, a negative offset", 2);
	/* A failure cancels what is linked to it. */
	rw(32, IORING_OP_READ, wfd, b4, 4, 0)->flags = IOSQE_IO_LINK;
	rw(33, IORING_OP_READ, fd, b4, 4, 0);
	submit_wait("a failed read linked to another", 2);

	/* Many in one submission, mount file and kernel file mixed. */
	for (int i = 0; i < 14; i++) {
		static const char letters[] = "abcdefghijklmn";

		rw(40 + i, IORING_OP_WRITE, i % 2 ? kfd : fd, (void *)&letters[i], 1, 200 + i);
	}
	submit_wait("14 writes, alternately mount and kernel file", 14);
	rw(60, IORING_OP_READ, fd, many, 14, 200);
	rw(61, IORING_OP_READ, kfd, many + 20, 14, 200);
	submit_wait("their reads", 2);
	for (int i = 0; i < 34; i++)
		if (!many[i])
			many[i] = '.';
	printf("mount file: '%.14s' kernel file: '%.14s'\n", many, many + 20);

	/* Paths through the ring: openat, a write on what it opened, statx,
	   close. */
	{
		struct io_uring_sqe *s = rw(70, IORING_OP_OPENAT, AT_FDCWD, at("p"), 0644, 0);
		unsigned head;
		int pfd;

		s->open_flags = O_RDWR | O_CREAT | O_TRUNC;
		__atomic_store_n(ring.sq_tail, *ring.sq_tail + ring.queued, __ATOMIC_RELEASE);
		CHECK(syscall(SYS_io_uring_enter, ring.fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) == 1);
		ring.queued = 0;
		head = *ring.cq_head;
		CHECK(head != __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE));
		pfd = ring.cqes[head & *ring.cq_mask].res;
		__atomic_store_n(ring.cq_head, head + 1, __ATOMIC_RELEASE);
		printf("openat through the ring: %s\n", pfd >= 0 ? "a descriptor" : ename(-pfd));
		CHECK(pfd >= 0);
		rw(71, IORING_OP_WRITE, pfd, "path", 4, 0);
		submit_wait("write to it", 1);
		s = rw(72, IORING_OP_STATX, AT_FDCWD, at("p"), STATX_SIZE, 0);
		s->off = (uintptr_t)&stx;
		submit_wait("statx", 1);
		printf("statx size %llu\n", (unsigned long long)stx.stx_size);
		rw(73, IORING_OP_CLOSE, pfd, NULL, 0, 0);
		submit_wait("close", 1);
		printf("fcntl after the ring's close: %s\n",
		       fcntl(pfd, F_GETFD) < 0 ? ename(errno) : "open");
	}

	close(wfd);
	close(kfd);
	close(fd);
	close(ring.fd);
	return 0;
}

/*
 * Paths through a ring whose SQEs a kernel thread takes (SQPOLL), as libuv
 * makes for its file calls: the thread resolves them in the kernel, where a
 * mount is its hidden mount point, so DEFUSE refuses such a ring while it
 * has mounts, and the program's fallback (a plain ring) is served.  What
 * is printed is the same whichever ring it got.
 */
static int sqpoll(void)
{
	struct stat st;
	int r = ring_init(IORING_SETUP_SQPOLL);

	if (r < 0 && (r = ring_init(0)) < 0) {
		printf("io_uring_setup: %s\n", ename(-r));
		return 0;
	}
	{
		struct io_uring_sqe *s = sqe(0);

		s->opcode = IORING_OP_MKDIRAT;
		s->fd = AT_FDCWD;
		s->addr = (uintptr_t)at("sq-dir");
		s->len = 0755;
	}
	submit_wait("mkdirat", 1);
	{
		struct io_uring_sqe *s = sqe(1);

		s->opcode = IORING_OP_OPENAT;
		s->fd = AT_FDCWD;
		s->addr = (uintptr_t)at("sq-dir/f");
		s->open_flags = O_CREAT | O_WRONLY;
		s->len = 0644;
	}
	submit_wait("openat", 1);
	printf("stat sq-dir: %s\n", stat(at("sq-dir"), &st) ? ename(errno) :
	       S_ISDIR(st.st_mode) ? "directory" : "not a directory");
	printf("stat sq-dir/f: %s\n", stat(at("sq-dir/f"), &st) ? ename(errno) :
	       S_ISREG(st.st_mode) ? "regular file" : "not a regular file");
	return 0;
}

int main(int argc, char **argv)
{
	const char *c;

	if (argc < 3) {
		fprintf(stderr, "usage: uring CASE DIR\n");
		return 2;
	}
	c = argv[1];
	dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "uring"))
		return run(0);
	if (!strcmp(c, "uring-sqe128"))
		return run(IORING_SETUP_SQE128);
	if (!strcmp(c, "uring-nosqarray"))
		return run(SETUP_NO_SQARRAY);
	if (!strcmp(c, "uring-nommap"))
		return run(SETUP_NO_MMAP);
	if (!strcmp(c, "uring-sqpoll"))
		return sqpoll();
	fprintf(stderr, "uring: unknown case '%s'\n", c);
	return 2;
}
