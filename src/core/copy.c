/*
 * Copies between descriptors when one end is an emulated file: sendfile,
 * copy_file_range and splice.  The kernel cannot move data it does not
 * have, so the core reads from one end and writes to the other through a
 * buffer of its own, after the checks the kernel makes, in its order, so
 * that errors come out as they would on a local file system.
 *
 * The other end may be any kernel descriptor: a file outside the mounts, a
 * kernel-backed file of a mount, a pipe or a socket.  tee copies between
 * two pipes, which an emulated file never is: EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "kernel/sys.h"
#include "core/core.h"

#define BOUNCE (128 * 1024)
#define MAX_RW_COUNT (0x7ffff000L)	/* the kernel's cap on one transfer */

/* One end of a copy. */
struct end {
	long fd;
	struct core_fd *f;	/* an emulated file (referenced), or NULL */
	int flags;		/* F_GETFL's */
	struct stat st;
	int have_st;
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

static int readable(const struct end *e)
{
	return (e->flags & O_ACCMODE) == O_RDONLY || (e->flags & O_ACCMODE) == O_RDWR;
}

static int writable(const struct end *e)
{
	return (e->flags & O_ACCMODE) == O_WRONLY || (e->flags & O_ACCMODE) == O_RDWR;
}

static long end_io(struct end *e, int writing, void *buf, size_t n, const off_t *off)
{
	if (e->f)
		return core_emulated_rw(e->f, writing, buf, n, off);
	if (off)
		return sys4(writing ? SYS_pwrite64 : SYS_pread64, e->fd, buf, n, *off);
	return sys3(writing ? SYS_write : SYS_read, e->fd, buf, n);
}

/* Gives n bytes back to an input read at its own offset. */
static void end_io_rewind(struct end *e, long n)
{
	if (e->f) {
		struct defuse_syscall sc = { .nr = SYS_lseek, .a = { e->fd, -n, SEEK_CUR } };

		core_emulated_call(&sc, e->f);
	} else {
		sys3(SYS_lseek, e->fd, -n, SEEK_CUR);
	}
}

/*
 * Moves up to len bytes.  An offset pointer given means that end's own
 * offset is left alone; without one the end's offset moves.  Bytes read
 * but not written are given back to an input that moved its offset, so a
 * short write loses nothing.
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
			end_io_rewind(in, got - put);
		if (pos_out)
			*pos_out += put;
		total += put;
		if (put < got || (size_t)got < chunk)
			break;
	}
	sys2(SYS_munmap, buf, BOUNCE);
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

	if ((r = end_open(in, sc->a[1])) < 0 || !readable(in))
		return -EBADF;
	if ((r = offset_in(sc->a[2], &pos, &posp)) < 0)
		return r;
	if (posp && pos < 0)
		return -EINVAL;
	if ((r = end_open(out, sc->a[0])) < 0 || !writable(out))
		return -EBADF;
	if (!(st = end_stat(in, &r)))
		return r;
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return -EINVAL;		/* a directory cannot be spliced from */
	if (out->flags & O_APPEND)
		return -EINVAL;
	r = pump(in, posp, out, NULL, count);
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
	/* Where each end starts: its own offset unless one is given. */
	at_in = pinp ? pin : (in->f ? in->f->open->ofd->offset : sys3(SYS_lseek, in->fd, 0, SEEK_CUR));
	at_out = poutp ? pout : (out->f ? out->f->open->ofd->offset
					: sys3(SYS_lseek, out->fd, 0, SEEK_CUR));
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

/* splice(fd_in, off_in, fd_out, off_out, len, flags): one end a pipe. */
static long do_splice(const struct defuse_syscall *sc, struct end *in, struct end *out)
{
	off_t pin, pout, *pinp, *poutp;
	const struct stat *si, *so;
	long r;

	if (end_open(in, sc->a[0]) < 0 || end_open(out, sc->a[2]) < 0 ||
	    !readable(in) || !writable(out))
		return -EBADF;
	if (!(si = end_stat(in, &r)) || !(so = end_stat(out, &r)))
		return r;
	if (!S_ISFIFO(si->st_mode) && !S_ISFIFO(so->st_mode))
		return -EINVAL;
	if ((S_ISFIFO(si->st_mode) && sc->a[1]) || (S_ISFIFO(so->st_mode) && sc->a[3]))
		return -ESPIPE;
	if ((r = offset_in(sc->a[1], &pin, &pinp)) < 0 ||
	    (r = offset_in(sc->a[3], &pout, &poutp)) < 0)
		return r;
	if ((pinp && pin < 0) || (poutp && pout < 0))
		return -EINVAL;
	if (out->flags & O_APPEND)
		return -EINVAL;
	r = pump(in, pinp, out, poutp, sc->a[4] > MAX_RW_COUNT ? MAX_RW_COUNT : sc->a[4]);
	if (r >= 0 && (offset_out(sc->a[1], pinp) || offset_out(sc->a[3], poutp)))
		return -EFAULT;
	return r;
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
	default:	/* tee: two pipes, and an emulated file is none */
		return -EINVAL;
	}
	end_close(&in);
	end_close(&out);
	return r;
}
