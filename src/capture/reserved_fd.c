/*
 * Descriptors DEFUSE keeps open inside the program: the trace output, and
 * modules' own descriptors (module.h: defuse_keep_fd), which can be one per
 * emulated open file.  They live in a reserved band at the top of the
 * descriptor range, so they never take a number the program would get, are
 * close-on-exec, and are invisible to the program's close, dup2, dup3 and
 * close_range: closing one gives EBADF as for a descriptor that was never
 * open, and dup2 onto one first moves ours out of the way, so the program
 * gets exactly the number it asked for.
 *
 * The band is a bitmap of BAND descriptors below the soft RLIMIT_NOFILE
 * (capped at 65536), fixed at the first reservation.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include "capture/capture.h"
#include "common/sys.h"

#define BAND 4096

static long band_lo = -1, band_hi;	/* [lo, hi) */
static unsigned long used[BAND / (8 * sizeof(unsigned long))];
static long cursor;			/* where to look for a free slot next */
static int lock;			/* reservations: rare, a spin lock is fine */
int defuse_fd_nreserved;

#define BITS (8 * sizeof(unsigned long))

static int bit(long fd)
{
	long i = fd - band_lo;

	return band_lo >= 0 && i >= 0 && i < band_hi - band_lo &&
	       (used[i / BITS] >> (i % BITS)) & 1;
}

static void set_bit(long fd, int on)
{
	long i = fd - band_lo;

	if (on)
		used[i / BITS] |= 1UL << (i % BITS);
	else
		used[i / BITS] &= ~(1UL << (i % BITS));
}

int defuse_fd_is_reserved(long fd)
{
	return bit(fd);
}

static void band_init(void)
{
	struct rlimit rl;
	long top = 1024;

	if (!sys_failed(sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl)))
		top = rl.rlim_cur > 65536 ? 65536 : (long)rl.rlim_cur;
	band_hi = top;
	band_lo = top > 2 * BAND ? top - BAND : top / 2;
	cursor = band_hi - 1;
}

/* A free number in the band, from the top down; -1 if none. */
static long free_slot(void)
{
	long n = band_hi - band_lo;

	for (long k = 0; k < n; k++) {
		long fd = cursor - k;

		if (fd < band_lo)
			fd += n;
		if (!bit(fd) && sys2(SYS_fcntl, fd, F_GETFD) == -EBADF) {
			cursor = fd - 1 < band_lo ? band_hi - 1 : fd - 1;
			return fd;
		}
	}
	return -1;
}

static void take(void)
{
	while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void give(void)
{
	__atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
}

/* Moves fd into the band; returns its new number, or -errno. */
int defuse_fd_reserve(int fd)
{
	long to, r;

	take();
	if (band_lo < 0)
		band_init();
	to = free_slot();
	if (to < 0) {
		give();
		return -EMFILE;
	}
	r = sys3(SYS_dup3, fd, to, O_CLOEXEC);
	if (sys_failed(r)) {
		give();
		return r;
	}
	sys1(SYS_close, fd);
	set_bit(to, 1);
	defuse_fd_nreserved++;
	give();
	return to;
}

/* Closes a reserved descriptor and gives its number back. */
int defuse_fd_release(int fd)
{
	take();
	if (!bit(fd)) {
		give();
		return -EBADF;
	}
	set_bit(fd, 0);
	defuse_fd_nreserved--;
	give();
	return sys1(SYS_close, fd);
}

/* The program wants number `fd` for itself: move ours elsewhere. */
static void evict(long fd)
{
	long to;

	take();
	to = free_slot();
	if (to >= 0 && !sys_failed(sys3(SYS_dup3, fd, to, O_CLOEXEC))) {
		set_bit(to, 1);
		set_bit(fd, 0);
		sys1(SYS_close, fd);
	}
	give();
	/* A module that kept `fd` must hear of the move: not yet possible
	   (module.h); reported when DEFUSE_DEBUG is set. */
	if (to >= 0 && defuse_g.debug)
		defuse_log("moved a reserved descriptor out of the program's way", NULL, NULL);
}

/*
 * close_range over [lo, hi] with DEFUSE's descriptors cut out.  The first
 * piece is the program's call passed on; further pieces are DEFUSE's own.
 */
static long close_range_around(struct defuse_syscall *sc)
{
	unsigned long lo = sc->a[0], hi = sc->a[1];
	long r = 0;
	int first = 1;

	if (lo > hi)
		return defuse_forward(sc);
	while (lo <= hi) {
		unsigned long end = lo;

		if (bit(lo)) {
			if (lo == hi)
				break;
			lo++;
			continue;
		}
		/* The run of non-reserved numbers from lo. */
		if ((long)lo < band_lo && hi >= (unsigned long)band_lo)
			end = band_lo - 1;
		else
			end = hi;
		for (unsigned long fd = lo > (unsigned long)band_lo ? lo : (unsigned long)band_lo;
		     fd <= end && (long)fd < band_hi; fd++)
			if (bit(fd)) {
				end = fd - 1;
				break;
			}
		if (first)
			r = defuse_gate_forward(SYS_close_range, lo, end, sc->a[2], 0, 0, 0);
		else
			r = sys3(SYS_close_range, lo, end, sc->a[2]);
		first = 0;
		if (sys_failed(r) || end >= hi)
			break;
		lo = end + 1;
	}
	return r;
}

long defuse_fd_guard(struct defuse_syscall *sc)
{
	switch (sc->nr) {
	case SYS_close:
		if (defuse_fd_is_reserved(sc->a[0])) {
			defuse_note_emulated(sc->nr);
			return -EBADF;
		}
		break;
	case SYS_dup2:
	case SYS_dup3:
		if (defuse_fd_is_reserved(sc->a[0])) {
			defuse_note_emulated(sc->nr);
			return -EBADF;
		}
		if (defuse_fd_is_reserved(sc->a[1]))
			evict(sc->a[1]);
		break;
	case SYS_close_range:
		return close_range_around(sc);
	}
	return defuse_forward(sc);
}
