/*
 * Copies between descriptors when one end is an emulated file: sendfile,
 * copy_file_range, splice and tee.  The kernel cannot move data it does not
 * have, so the core reads from one end and writes to the other itself,
 * after the checks the kernel makes, in its order, so that errors come out
 * as they would on a local file system.
 *
 * The other end may be any kernel descriptor: a file outside the mounts, a
 * kernel-backed file of a mount, a pipe or a socket.  tee copies between
 * two pipes, which an emulated file never is: EINVAL.  vmsplice takes a
 * pipe, so an emulated file never reaches it here (the kernel's EBADF).
 *
 * A pipe end is the kernel's, and the kernel's rules for it hold here too
 * (fs/splice.c): a splice into a pipe waits for room, then moves at most
 * what the pipe's free buffers hold, never more, and nothing waits again;
 * one out of a pipe waits for data, then moves what the pipe holds.
 * SPLICE_F_NONBLOCK or the pipe's O_NONBLOCK turn each wait into EAGAIN.
 * Only what reached the other end moves an offset.  Writing more than a
 * pipe holds in one go, with the program itself as the only reader, used to
 * block forever.  While the core waits on a pipe or a socket for the
 * program, its signals are not deferred (defuse_sig_interruptible): a
 * handler runs, and the wait ends with EINTR or restarts (SA_RESTART), as
 * the kernel's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include "kernel/sys.h"
#include "kernel/kernel.h"
#include "core/core.h"

#define BOUNCE (128 * 1024)
#define MAX_RW_COUNT (0x7ffff000L)	/* the kernel's cap on one transfer */
#define PAGE 4096L
/* At most this much into a pipe per call: a pipe's default size is 64 KiB,
   an unprivileged one at most 1 MiB (pipe-max-size).  A bigger pipe gets a
   short count, which a splice may always return. */
#define TO_PIPE_MAX (1024 * 1024L)

#ifndef SPLICE_F_NONBLOCK
#define SPLICE_F_NONBLOCK 2
#endif
#define SPLICE_F_ALL 15		/* MOVE, NONBLOCK, MORE, GIFT */
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 8
#endif

/* One end of a copy. */
struct end {
	long fd;
	struct core_fd *f;	/* an emulated file (referenced), or NULL */
	int flags;		/* F_GETFL's */
	struct stat st;
	int have_st;
	int may_wait;		/* a kernel end that may block (a socket) */
};

/* Looks up an end: -EBADF for no descriptor or an O_PATH one, as fdget. */
static long end_open(struct end *e, long fd)
{
	e->fd = fd;
	e->have_st = 0;
	e->f = core_fd_acquire(fd);
	if (e->f && !e->f->open) {		/* kernel-backed: the kernel's */
		core_fd_release(e->f);
		e->f = NULL;
	}
	e->flags = e->f ? e->f->open->ofd->flags : (int)sys3(SYS_fcntl, fd, F_GETFL, 0);
	if (e->flags < 0 || (e->flags & O_PATH))
		return -EBADF;
	return 0;
}

static void end_close(struct end *e)
{
	core_fd_release(e->f);
	e->f = NULL;
}

static const struct stat *end_stat(struct end *e, long *err)
{
	if (!e->have_st) {
		long r;

		if (!e->f)
			r = sys2(SYS_fstat, e->fd, &e->st);
		else
			r = mod_fgetattr(CORE_REF(e->f->open->mount), e->f->open->fh, e->f->path,
					 &e->st);
		if (r < 0) {
			*err = r;
			return NULL;
		}
		e->have_st = 1;
	}
	return &e->st;
}

/* A pipe or FIFO (the kernel's get_pipe_info).  An emulated file is none. */
static int is_pipe(struct end *e)
{
	long err;
	const struct stat *st;

	if (e->f)
		return 0;
	st = end_stat(e, &err);
	return st && S_ISFIFO(st->st_mode);
}

static int readable(const struct end *e)
{
	return (e->flags & O_ACCMODE) == O_RDONLY || (e->flags & O_ACCMODE) == O_RDWR;
}

static int writable(const struct end *e)
{
	return (e->flags & O_ACCMODE) == O_WRONLY || (e->flags & O_ACCMODE) == O_RDWR;
}

static int64_t *offset_of(struct end *e)
{
	return &e->f->open->ofd->offset;
}

/*
 * One system call on a kernel end that may wait for the program (a pipe, a
 * socket): signals are not deferred while it waits.
 */
static long waiting(long nr, long a, long b, long c, long d)
{
	long r;

	defuse_sig_interruptible(1);
	r = sys4(nr, a, b, c, d);
	defuse_sig_interruptible(0);
	return r;
}

static long end_io(struct end *e, int writing, void *buf, size_t n, const off_t *off)
{
	if (e->f)
		return core_emulated_rw(e->f, writing, buf, n, off);
	if (off)
		return sys4(writing ? SYS_pwrite64 : SYS_pread64, e->fd, buf, n, *off);
	if (e->may_wait)
		return waiting(writing ? SYS_write : SYS_read, e->fd, (long)buf, n, 0);
	return sys3(writing ? SYS_write : SYS_read, e->fd, buf, n);
}

/* Gives n bytes back to an input read at its own offset. */
static void give_back(struct end *e, long n)
{
	if (e->f)
		__atomic_fetch_sub(offset_of(e), n, __ATOMIC_ACQ_REL);
	else
		sys3(SYS_lseek, e->fd, -n, SEEK_CUR);
}

/*
 * Between two files, or from a file to a socket: up to len bytes, as the
 * kernel's splice through its internal pipe, until len or a short transfer.
 * An offset pointer given means that end's own offset is left alone;
 * without one the end's offset moves.  Bytes read but not written are given
 * back to an input that moved its offset, so a short write loses nothing.
 */
static long pump(struct end *in, off_t *pos_in, struct end *out, off_t *pos_out, size_t len)
{
	char *buf = (char *)sys6(SYS_mmap, 0, BOUNCE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long total = 0, r = 0;

	if (sys_failed((long)buf))
		return (long)buf;
	while ((size_t)total < len) {
		size_t chunk = len - total < BOUNCE ? len - total : BOUNCE;
		long got = end_io(in, 0, buf, chunk, pos_in), put = 0;

		if (got <= 0) {
			r = got;
			break;
		}
		while (put < got) {
			off_t at = pos_out ? *pos_out + put : 0;

			r = end_io(out, 1, buf + put, got - put, pos_out ? &at : NULL);
			if (r <= 0)
				break;
			put += r;
		}
		if (pos_in)
			*pos_in += put;
		else if (put < got)
			give_back(in, got - put);
		if (pos_out)
			*pos_out += put;
		total += put;
		if (put < got || (size_t)got < chunk)
			break;
	}
	sys2(SYS_munmap, buf, BOUNCE);
	return total ? total : r;
}

/* The kernel's answer to a pipe with no reader: SIGPIPE to the thread. */
static long broken_pipe(void)
{
	sys3(SYS_tgkill, sys0(SYS_getpid), sys0(SYS_gettid), SIGPIPE);
	return -EPIPE;
}

/* Room in a pipe (POLLOUT), or no reader (POLLERR); timeout 0 or -1. */
static long pipe_room(struct end *out, int timeout)
{
	struct pollfd p = { (int)out->fd, POLLOUT, 0 };
	long r = timeout ? waiting(SYS_poll, (long)&p, 1, timeout, 0)
			 : sys3(SYS_poll, &p, 1, 0);

	if (r < 0)
		return r;
	if (p.revents & POLLERR)
		return broken_pipe();
	return (p.revents & POLLOUT) != 0;
}

/*
 * How much of a file at pos may fit in the pipe now: the kernel counts a
 * pipe's room in buffers of a page each, and fills them from the page cache
 * page by page, so a start in the middle of a page takes a buffer for the
 * rest of that page.  The buffers in use are at least the bytes in the pipe
 * over a page (FIONREAD), so this is never less than what fits, and not
 * much more.  A full pipe: anything up to its size may fit once there is
 * room.
 */
static size_t pipe_fits(struct end *out, int64_t pos, int room)
{
	long size = sys2(SYS_fcntl, out->fd, F_GETPIPE_SZ), lead = pos & (PAGE - 1);
	int queued = 0;
	long slots;

	if (size <= 0 || sys3(SYS_ioctl, out->fd, FIONREAD, &queued) < 0)
		return TO_PIPE_MAX;
	slots = size / PAGE - (queued + PAGE - 1) / PAGE;
	if (!room || slots <= 0)
		return size - lead;
	return slots * PAGE - lead;
}

/*
 * From an emulated file into a pipe, as the kernel's splice_file_to_pipe:
 * EPIPE (and SIGPIPE) without a reader; with the pipe full, EAGAIN when not
 * waiting, else wait for room; then move at most what the pipe's free
 * buffers take.  The bytes go in by vmsplice from pages of our own, laid out
 * at the file offset's place in its page, so that the pipe's buffers split
 * where the kernel's page cache pages would and exactly as much fits as the
 * kernel's splice would move.  vmsplice hands the pipe the pages
 * themselves, so they are unmapped here and never written again.  The
 * offset moves by what the pipe took only; the rest was read and is read
 * again by the next call.  A full pipe may be waited for in vmsplice itself,
 * after the read (the kernel reads after the wait): a change to the file
 * meanwhile may be missed, as if the read had come first.
 */
static long to_pipe(struct end *in, off_t *posp, struct end *out, size_t len, int nonblock)
{
	int64_t pos = posp ? *posp : __atomic_load_n(offset_of(in), __ATOMIC_ACQUIRE);
	long room = pipe_room(out, 0), got = 0, r = 0, lead = pos & (PAGE - 1);
	size_t want, map_len;
	struct iovec iov;
	char *map;

	if (room < 0)
		return room;
	if (!room && nonblock)
		return -EAGAIN;
	want = pipe_fits(out, pos, room);
	if (want > len)
		want = len;
	if (want > (size_t)TO_PIPE_MAX)
		want = TO_PIPE_MAX;
	map_len = (lead + want + PAGE - 1) & ~(PAGE - 1);
	map = (char *)sys6(SYS_mmap, 0, map_len ? map_len : PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)map))
		return (long)map;
	while ((size_t)got < want) {
		off_t at = pos + got;

		r = core_emulated_rw(in->f, 0, map + lead + got, want - got, &at);
		if (r <= 0)
			break;
		got += r;
	}
	if (got > 0) {
		iov.iov_base = map + lead;
		iov.iov_len = got;
		r = nonblock ? sys4(SYS_vmsplice, out->fd, &iov, 1, SPLICE_F_NONBLOCK)
			     : waiting(SYS_vmsplice, out->fd, (long)&iov, 1, 0);
	} else if (r == 0 && !room) {
		/* The end of the file, at a full pipe: the kernel waits for
		   room before it finds nothing to read. */
		while ((r = pipe_room(out, -1)) == 0)
			;
		r = r < 0 ? r : 0;
	} else if (r == -EISDIR) {
		r = -EINVAL;	/* a directory has no splice_read */
	}
	sys2(SYS_munmap, map, map_len ? map_len : PAGE);
	if (r > 0) {
		if (posp)
			*posp = pos + r;
		else	/* as the kernel, which stores f_pos without its lock */
			__atomic_store_n(offset_of(in), pos + r, __ATOMIC_RELEASE);
	}
	return r;
}

/*
 * From a pipe into an emulated file, as the kernel's splice from a pipe: 0
 * when the pipe is empty and has no writer; otherwise, when empty, EAGAIN
 * when not waiting, else wait for data; then move what the pipe holds, up
 * to len, and stop when it is empty (later chunks ask not to wait).  The
 * kernel takes from the pipe only what the file accepted, and a read
 * cannot give bytes back: with a write the module refused part of (ENOSPC,
 * EFBIG, EIO) the rest was lost, and a program splicing the rest next
 * waited for ever on its own empty pipe (fsstress on a full memfs).  So
 * each chunk is copied first (tee into a pipe of our own, in DEFUSE's
 * band: no number of the program's is taken, even for a moment), written
 * to the module, and only the bytes written are then read out of the
 * program's pipe.  (Another process reading the same pipe meanwhile may
 * take bytes between the two; the kernel holds the pipe's lock instead.)
 */
static long from_pipe(struct end *in, struct end *out, off_t *posp, size_t len, int nonblock)
{
	char *buf;
	long total = 0, r = 0;
	int peek[2];

	if ((r = sys2(SYS_pipe2, peek, O_CLOEXEC)) < 0)
		return r;
	for (int i = 0; i < 2; i++) {
		int kept = defuse_fd_reserve(peek[i]);

		if (kept < 0)
			sys1(SYS_close, peek[i]);
		peek[i] = kept;
	}
	buf = (char *)sys6(SYS_mmap, 0, BOUNCE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (peek[0] < 0 || peek[1] < 0 || sys_failed((long)buf)) {
		r = peek[0] < 0 ? peek[0] : peek[1] < 0 ? peek[1] : (long)buf;
		goto out;
	}
	while ((size_t)total < len) {
		size_t chunk = len - total < BOUNCE ? len - total : BOUNCE;
		long got, put = 0, taken = 0;

		/* our pipe is empty: it takes up to its 16 buffers (64 KiB) */
		if (!total && !nonblock)
			got = waiting(SYS_tee, in->fd, peek[1], chunk, 0);
		else
			got = sys4(SYS_tee, in->fd, peek[1], chunk, SPLICE_F_NONBLOCK);
		if (got > 0 && (r = sys3(SYS_read, peek[0], buf, got)) != got)
			got = r < 0 ? r : -EIO;	/* our own pipe: cannot be */
		if (got <= 0) {
			r = got;
			break;
		}
		while (put < got) {
			off_t at = posp ? *posp + total + put : 0;

			r = core_emulated_rw(out->f, 1, buf + put, got - put, posp ? &at : NULL);
			if (r <= 0)
				break;
			put += r;
		}
		/* What the file took leaves the program's pipe: there unless
		   another reader took it meanwhile, so never waited for. */
		while (taken < put) {
			struct iovec iov = { buf, (size_t)(put - taken) };

			r = sys6(SYS_preadv2, in->fd, &iov, 1, -1, 0, RWF_NOWAIT);
			if (r == -EOPNOTSUPP)	/* a kernel without it for pipes */
				r = sys3(SYS_read, in->fd, buf, put - taken);
			if (r <= 0)
				break;
			taken += r;
		}
		total += taken;
		if (put < got || taken < put)
			break;
	}
out:
	if (!sys_failed((long)buf))
		sys2(SYS_munmap, buf, BOUNCE);
	for (int i = 0; i < 2; i++)
		if (peek[i] >= 0)
			defuse_fd_release(peek[i]);
	if (posp)
		*posp += total;
	return total ? total : r;
}

/* An offset argument: NULL, or read from the program (-EFAULT). */
static long offset_in(long uptr, off_t *pos, off_t **posp)
{
	*posp = NULL;
	if (!uptr)
		return 0;
	if (defuse_copy_in(pos, (void *)uptr, sizeof(*pos)))
		return -EFAULT;
	*posp = pos;
	return 0;
}

static long offset_out(long uptr, const off_t *posp)
{
	return uptr && posp && core_copy_out((void *)uptr, posp, sizeof(*posp)) ? -EFAULT : 0;
}

/* sendfile(out_fd, in_fd, offset, count), checked in the kernel's order. */
static long do_sendfile(const struct defuse_syscall *sc, struct end *in, struct end *out)
{
	size_t count = sc->a[3] > MAX_RW_COUNT ? MAX_RW_COUNT : sc->a[3];
	const struct stat *st;
	off_t pos, *posp;
	long r;

	if ((r = offset_in(sc->a[2], &pos, &posp)) < 0)
		return r;
	if ((r = end_open(in, sc->a[1])) < 0 || !readable(in))
		return -EBADF;
	if (posp && !in->f && is_pipe(in))
		return -ESPIPE;
	if (posp && pos < 0)
		return -EINVAL;
	if ((r = end_open(out, sc->a[0])) < 0 || !writable(out))
		return -EBADF;
	if (!in->f && !out->f)
		return defuse_forward(sc);	/* closed meanwhile: the kernel's */
	if (in->f && is_pipe(out)) {
		/* To a pipe: a splice, waiting unless the pipe is O_NONBLOCK. */
		r = to_pipe(in, posp, out, count, (out->flags & O_NONBLOCK) != 0);
	} else {
		if (out->flags & O_APPEND)
			return -EINVAL;
		if (!(st = end_stat(in, &r)))
			return r;
		if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
			return -EINVAL;		/* a directory cannot be spliced from */
		out->may_wait = !out->f;	/* a socket, a terminal */
		r = pump(in, posp, out, NULL, count);
	}
	if (r >= 0 && offset_out(sc->a[2], posp))
		return -EFAULT;
	return r;
}

/* copy_file_range(fd_in, off_in, fd_out, off_out, len, flags). */
static long do_copy_file_range(const struct defuse_syscall *sc, struct end *in,
			       struct end *out)
{
	size_t len = sc->a[4];
	const struct stat *si, *so;
	off_t pin, pout, *pinp, *poutp, at_in, at_out;
	long r;

	if (end_open(in, sc->a[0]) < 0 || end_open(out, sc->a[2]) < 0)
		return -EBADF;
	if (!in->f && !out->f)
		return defuse_forward(sc);
	if ((r = offset_in(sc->a[1], &pin, &pinp)) < 0 ||
	    (r = offset_in(sc->a[3], &pout, &poutp)) < 0)
		return r;
	if (sc->a[5])
		return -EINVAL;
	if (!(si = end_stat(in, &r)) || !(so = end_stat(out, &r)))
		return r;
	if (S_ISDIR(si->st_mode) || S_ISDIR(so->st_mode))
		return -EISDIR;
	if (!S_ISREG(si->st_mode) || !S_ISREG(so->st_mode))
		return -EINVAL;
	if (!readable(in) || !writable(out) || (out->flags & O_APPEND))
		return -EBADF;
	/* Across file systems the kernel refuses, even for 0 bytes; an
	   emulated file counts as its backing file's (the module's st_dev),
	   as a kernel-backed one is. */
	if (si->st_dev != so->st_dev)
		return -EXDEV;
	/* Where each end starts: its own offset unless one is given. */
	at_in = pinp ? pin : in->f ? __atomic_load_n(offset_of(in), __ATOMIC_ACQUIRE)
				   : sys3(SYS_lseek, in->fd, 0, SEEK_CUR);
	at_out = poutp ? pout : out->f ? __atomic_load_n(offset_of(out), __ATOMIC_ACQUIRE)
				       : sys3(SYS_lseek, out->fd, 0, SEEK_CUR);
	if ((uint64_t)at_in + len < (uint64_t)at_in || (uint64_t)at_out + len < (uint64_t)at_out)
		return -EOVERFLOW;
	if (si->st_dev == so->st_dev && si->st_ino == so->st_ino &&
	    at_out + (off_t)len > at_in && at_out < at_in + (off_t)len)
		return -EINVAL;		/* overlapping ranges of one file */
	if (at_in >= si->st_size)
		len = 0;
	else if ((off_t)len > si->st_size - at_in)
		len = si->st_size - at_in;
	if (len > MAX_RW_COUNT)
		len = MAX_RW_COUNT;
	r = len ? pump(in, pinp, out, poutp, len) : 0;
	if (r >= 0 && (offset_out(sc->a[1], pinp) || offset_out(sc->a[3], poutp)))
		return -EFAULT;
	return r;
}

/*
 * splice(fd_in, off_in, fd_out, off_out, len, flags): one end a pipe, in
 * the kernel's order of checks (the system call, __do_splice, do_splice).
 */
static long do_splice(const struct defuse_syscall *sc, struct end *in, struct end *out)
{
	size_t len = sc->a[4] > MAX_RW_COUNT ? MAX_RW_COUNT : sc->a[4];
	int flags = (int)sc->a[5], ipipe, opipe, nonblock;
	off_t pin, pout, *pinp, *poutp;
	long r;

	if (!sc->a[4])
		return 0;
	if ((unsigned)flags & ~(unsigned)SPLICE_F_ALL)
		return -EINVAL;
	if (end_open(in, sc->a[0]) < 0 || end_open(out, sc->a[2]) < 0)
		return -EBADF;
	if (!in->f && !out->f)
		return defuse_forward(sc);
	ipipe = is_pipe(in);
	opipe = is_pipe(out);
	if ((ipipe && sc->a[1]) || (opipe && sc->a[3]))
		return -ESPIPE;
	if ((r = offset_in(sc->a[3], &pout, &poutp)) < 0 ||
	    (r = offset_in(sc->a[1], &pin, &pinp)) < 0)
		return r;
	if (!readable(in) || !writable(out))
		return -EBADF;
	if (ipipe && out->f) {
		if (out->flags & O_APPEND)
			return -EINVAL;
		if (poutp && pout < 0)
			return -EINVAL;
		nonblock = (flags & SPLICE_F_NONBLOCK) || (in->flags & O_NONBLOCK);
		r = from_pipe(in, out, poutp, len, nonblock);
	} else if (opipe && in->f) {
		nonblock = (flags & SPLICE_F_NONBLOCK) || (out->flags & O_NONBLOCK);
		r = to_pipe(in, pinp, out, len, nonblock);
	} else {
		return -EINVAL;		/* no pipe, or no emulated end */
	}
	if (r >= 0 && (offset_out(sc->a[1], pinp) || offset_out(sc->a[3], poutp)))
		return -EFAULT;
	return r;
}

/* tee(fd_in, fd_out, len, flags): two pipes, and an emulated file is none. */
static long do_tee(const struct defuse_syscall *sc, struct end *in, struct end *out)
{
	if (!sc->a[2])
		return 0;
	if ((unsigned long)sc->a[3] & ~(unsigned long)SPLICE_F_ALL)
		return -EINVAL;
	if (end_open(in, sc->a[0]) < 0 || end_open(out, sc->a[1]) < 0)
		return -EBADF;
	if (!in->f && !out->f)
		return defuse_forward(sc);
	if (!readable(in) || !writable(out))
		return -EBADF;
	return -EINVAL;
}

long core_copy_call(const struct defuse_syscall *sc)
{
	struct end in = { .f = NULL }, out = { .f = NULL };
	long r;

	switch (sc->nr) {
	case SYS_sendfile:
		r = do_sendfile(sc, &in, &out);
		break;
	case SYS_copy_file_range:
		r = do_copy_file_range(sc, &in, &out);
		break;
	case SYS_splice:
		r = do_splice(sc, &in, &out);
		break;
	case SYS_tee:
		r = do_tee(sc, &in, &out);
		break;
	default:
		return -ENOSYS;
	}
	end_close(&in);
	end_close(&out);
	return r;
}
