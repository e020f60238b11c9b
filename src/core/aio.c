/*
 * Linux AIO (io_submit) on emulated files.
 *
 * The kernel would do the I/O itself, on the placeholder (EBADF).  Here an
 * iocb naming an emulated file is served at once, by the same code as
 * preadv2, pwritev2, fsync and fdatasync on it; its completion must still
 * come through the context's ring, in order with the others, with the
 * program's aio_data, its iocb's address and the count, and signal its
 * eventfd (IOCB_FLAG_RESFD).  So the iocb itself is then submitted to the
 * kernel, for the moment of the call, as an operation that completes at
 * once with that same count:
 *
 *   read of n bytes   PREAD(V) of the n bytes, first written to a scratch
 *                     memfd, from it into the program's buffers (which
 *                     so end up holding what the module read, again)
 *   write of n bytes  PWRITE(V) of n bytes of the program's buffers to
 *                     /dev/null
 *   fsync, fdatasync  FSYNC of the scratch memfd (nothing to write)
 *
 * and its fields are put back right after (the kernel copies an iocb when
 * it is submitted).  Both complete inside io_submit, memfd and /dev/null
 * being synchronous.  Runs of iocbs on kernel files go to the kernel as
 * they are, so io_submit returns how many were taken, as natively.
 *
 * Differences left: an emulated iocb's I/O error (or a count the kernel
 * refuses) is io_submit's answer for it rather than a completion with a
 * negative res; its I/O is done before the kernel may refuse the iocb for
 * reasons of its own (a full ring: EAGAIN), so a program that submits it
 * again writes the same bytes at the same place twice; IOCB_CMD_POLL on an
 * emulated file gives EINVAL, as on a regular kernel file.  io_uring:
 * uring.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include "core/core.h"
#include "core/syscalls.h"

/* The scratch files, this process's (a fork child makes its own). */
static long scratch_pid;
static int memfd = -1, devnull = -1;
static int busy;			/* one submission at a time uses them */

static void lock(void)
{
	while (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
		sys0(SYS_sched_yield);
}

static void unlock(void)
{
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}

/* Under the lock: the scratch files of this process, made at first use. */
static int scratch_ready(void)
{
	long fd;

	if (scratch_pid != defuse_self.pid) {
		/* Inherited from the parent: its, not ours to share. */
		if (memfd >= 0)
			defuse_fd_release(memfd);
		if (devnull >= 0)
			defuse_fd_release(devnull);
		memfd = devnull = -1;
		scratch_pid = defuse_self.pid;
	}
	if (memfd < 0) {
		fd = sys2(SYS_memfd_create, "defuse-aio", MFD_CLOEXEC);
		if (fd < 0 || (memfd = defuse_fd_reserve((int)fd)) < 0) {
			if (fd >= 0)
				sys1(SYS_close, fd);
			memfd = -1;
			return -ENOMEM;
		}
	}
	if (devnull < 0) {
		fd = sys3(SYS_open, "/dev/null", O_WRONLY | O_CLOEXEC, 0);
		if (fd < 0 || (devnull = defuse_fd_reserve((int)fd)) < 0) {
			if (fd >= 0)
				sys1(SYS_close, fd);
			devnull = -1;
			return -ENOMEM;
		}
	}
	return 0;
}

/* The first n bytes of the iovecs v[0..cnt) as iovecs in out: their count. */
static int first_bytes(const struct iovec *v, int cnt, size_t n, struct iovec *out)
{
	int k = 0;

	for (int i = 0; i < cnt && n; i++) {
		size_t l = v[i].iov_len < n ? v[i].iov_len : n;

		if (!l)
			continue;
		out[k].iov_base = v[i].iov_base;
		out[k++].iov_len = l;
		n -= l;
	}
	return k;
}

/*
 * One iocb on an emulated file (cb, read from *up): served, then submitted
 * as an operation that completes with its result.  1 when submitted, or
 * -errno.
 */
static long one(aio_context_t ctx, struct iocb *up, struct iocb cb)
{
	static struct iovec v[UIO_MAXIOV], firsts[UIO_MAXIOV];	/* under the lock */
	const struct iocb saved = cb;
	struct defuse_syscall sc = { .a = { cb.aio_fildes } };
	struct iocb *list[1] = { up };
	int cnt = 1, vec = 0;
	long r, n;

	/* The kernel's checks before it looks at the file. */
	if (cb.aio_reserved2 || (ssize_t)cb.aio_nbytes < 0)
		return -EINVAL;
	switch (cb.aio_lio_opcode) {
	case IOCB_CMD_PREADV:
		vec = 1;
		/* fall through */
	case IOCB_CMD_PREAD:
		sc.nr = SYS_preadv2;
		break;
	case IOCB_CMD_PWRITEV:
		vec = 1;
		/* fall through */
	case IOCB_CMD_PWRITE:
		sc.nr = SYS_pwritev2;
		break;
	case IOCB_CMD_FSYNC:
		sc.nr = SYS_fsync;
		break;
	case IOCB_CMD_FDSYNC:
		sc.nr = SYS_fdatasync;
		break;
	default:
		return -EINVAL;	/* POLL and the rest: as on a regular file */
	}

	lock();
	r = scratch_ready();
	if (r < 0)
		goto out;
	if (sc.nr == SYS_preadv2 || sc.nr == SYS_pwritev2) {
		if (vec) {
			if (cb.aio_nbytes > UIO_MAXIOV) {
				r = -EINVAL;
				goto out;
			}
			cnt = (int)cb.aio_nbytes;
			if (defuse_probe_read(v, (const void *)(uintptr_t)cb.aio_buf,
					      (unsigned long)cnt * sizeof(*v)) < 0) {
				r = -EFAULT;
				goto out;
			}
		} else {
			v[0].iov_base = (void *)(uintptr_t)cb.aio_buf;
			v[0].iov_len = cb.aio_nbytes;
		}
		sc.a[1] = (long)v;
		sc.a[2] = cnt;
		sc.a[3] = cb.aio_offset;
		sc.a[4] = 0;
		sc.a[5] = (long)(int)cb.aio_rw_flags;
	}
	n = core_dispatch(&sc);
	if (n < 0) {
		r = n;
		goto out;
	}

	/* The same count, through the ring. */
	cb.aio_reserved2 = 0;
	cb.aio_rw_flags = 0;
	cb.aio_offset = 0;
	if (sc.nr == SYS_fsync || sc.nr == SYS_fdatasync) {
		cb.aio_lio_opcode = IOCB_CMD_FSYNC;
		cb.aio_fildes = (uint32_t)memfd;
	} else {
		int k = first_bytes(v, cnt, (size_t)n, firsts);

		if (sc.nr == SYS_preadv2) {
			r = sys4(SYS_pwritev, memfd, firsts, k, 0);
			if (r != n) {
				r = r < 0 ? r : -EIO;
				goto out;
			}
			cb.aio_lio_opcode = IOCB_CMD_PREADV;
			cb.aio_fildes = (uint32_t)memfd;
		} else {
			cb.aio_lio_opcode = IOCB_CMD_PWRITEV;
			cb.aio_fildes = (uint32_t)devnull;
		}
		if (k == 0) {	/* nothing read or written: a count of 0 */
			firsts[0] = (struct iovec){ v[0].iov_base, 0 };
			k = 1;
		}
		cb.aio_buf = (uint64_t)(uintptr_t)firsts;
		cb.aio_nbytes = (uint64_t)k;
	}
	r = core_copy_out(up, &cb, sizeof(cb));
	if (r < 0)
		goto out;
	r = sys3(SYS_io_submit, ctx, 1, list);
	core_copy_out(up, &saved, sizeof(saved));
	if (n > (1L << 20))
		sys2(SYS_ftruncate, memfd, 0);	/* give big reads' pages back */
out:
	unlock();
	return r;
}

/* Whether iocbpp[j] is readable and names an emulated file: then *p and
   *cb are it. */
static bool emulated_iocb(struct iocb **list, long j, struct iocb **p, struct iocb *cb)
{
	return defuse_probe_read(p, &list[j], sizeof(*p)) == 0 &&
	       defuse_probe_read(cb, *p, sizeof(*cb)) == 0 &&
	       core_fd_emulated((int)cb->aio_fildes);
}

/* io_submit(ctx, nr, iocbpp) with an emulated file in it (route.c). */
long core_h_aio(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	aio_context_t ctx = (aio_context_t)sc->a[0];
	long nr = sc->a[1], done = 0, r;
	struct iocb **list = (struct iocb **)sc->a[2];

	if (nr <= 0)
		return defuse_forward(sc);
	for (long i = 0; i < nr;) {
		struct iocb *p = NULL, cb;
		long j = i;

		/* A run of iocbs on kernel files (or unreadable ones, whose
		   EFAULT the kernel gives) goes as it is. */
		while (j < nr && !emulated_iocb(list, j, &p, &cb))
			j++;
		if (j > i) {
			r = sys3(SYS_io_submit, ctx, j - i, list + i);
			if (r < 0)
				return done ? done : r;
			done += r;
			if (r < j - i)
				return done;
			i = j;
			continue;
		}
		r = one(ctx, p, cb);
		if (r < 0)
			return done ? done : r;
		done++;
		i++;
	}
	return done;
}
