/*
 * Descriptors DEFUSE keeps open inside the program: the trace output, and
 * modules' own descriptors (module.h: defuse_keep_fd), which can be one per
 * emulated open file.  They must never be where the program can reach
 * them: a program may use any number below its limit, and a dup2 onto one
 * of ours would silently send a module's reads and writes to the program's
 * file (moving ours out of the way cannot be made safe: another thread may
 * be inside the module with the old number in a register).
 *
 * So they live in a band *above* the program's RLIMIT_NOFILE.  At the first
 * reservation the top of the kernel's hard limit (at most 65536, so the
 * kernel's descriptor table stays small) becomes the band, and the program
 * is told, truthfully, that its hard limit ends where the band begins:
 * getrlimit/setrlimit/prlimit64 on RLIMIT_NOFILE of the own process are
 * answered here (defuse_fd_limit_call), and the kernel's soft limit is kept
 * at the program's.  The kernel then refuses the program every band number
 * by itself (EBADF, EMFILE), exactly as for any number above a limit.
 *
 * The kernel places a descriptor only below the soft limit, so a
 * reservation lifts it for the one dup3 into the band and lowers it again,
 * under a lock.  A child forked while another thread held that lock starts
 * with the lock free and the program's limit back (defuse_fd_after_fork).
 * The band starts small (kernel-backed mounts need one or two numbers) and,
 * when full, doubles downwards, lowering the program's limits with it, down
 * to half of the range at most (emulated files need one number each).
 *
 * dup2 and dup3 of band numbers are answered as the kernel answers
 * numbers above the limit (EBADF); close of one succeeds without closing it
 * (a program closing everything /proc/self/fd lists must not fail), and a
 * close_range over the whole range leaves the band alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include "kernel/kernel.h"
#include "common/exec_layout.h"

#define BAND_TOP_MAX 65536	/* the band ends at min(hard limit, this) */
#define BAND_FIRST 64		/* its first size, if the range allows */

static long band_lo = -1, band_hi;	/* [lo, hi) */
static unsigned long used[BAND_TOP_MAX / 2 / (8 * sizeof(unsigned long))];
/* Numbers known free when not used: found closed once (fcntl), or closed
   by us since.  Nothing else opens a band number (the kernel places the
   program's descriptors below the soft limit), so those need no fcntl
   each time (one system call less per emulated open); a number we let go
   of without closing it (defuse_fd_unclaim) is not known. */
static unsigned long known[BAND_TOP_MAX / 2 / (8 * sizeof(unsigned long))];
static long cursor;			/* where to look for a free slot next */
static struct rlimit prog;		/* RLIMIT_NOFILE as the program sees it */
static unsigned long asked_cur;		/* its soft limit before the band lowered it */
static unsigned long kernel_hard;	/* and the kernel's hard limit */
/* The lock: its holder's thread ID, 0 when free.  A holder may be killed
   inside (a clone(CLONE_VM) child that stress-ng SIGKILLs): a waiter that
   finds it gone takes the lock over instead of waiting for ever. */
static int lock;
static int lock_waiting EXEC_DATA;		/* threads waiting for it */
int defuse_fd_nreserved;

#define BITS (8 * sizeof(unsigned long))

/* Bit i of the bitmap is number band_hi - 1 - i: the band grows down. */
static long index_of(long fd)
{
	return band_hi - 1 - fd;
}

static int bit(long fd)
{
	long i = index_of(fd);

	return band_lo >= 0 && fd >= band_lo && fd < band_hi &&
	       (used[i / BITS] >> (i % BITS)) & 1;
}

static void set_in(unsigned long *map, long fd, int on)
{
	long i = index_of(fd);

	if (on)
		map[i / BITS] |= 1UL << (i % BITS);
	else
		map[i / BITS] &= ~(1UL << (i % BITS));
}

static void set_bit(long fd, int on)
{
	set_in(used, fd, on);
}

static int known_free(long fd)
{
	long i = index_of(fd);

	return (known[i / BITS] >> (i % BITS)) & 1;
}

int defuse_fd_is_reserved(long fd)
{
	return bit(fd);
}

/* ---- the lock --------------------------------------------------------- */

static void take(void)
{
	defuse_tid_lock(&lock, &lock_waiting);
}

static void give(void)
{
	defuse_tid_unlock(&lock, &lock_waiting);
}

/* ---- limits --------------------------------------------------------- */

static long set_kernel_soft(unsigned long soft)
{
	struct rlimit rl = { soft, kernel_hard };

	return sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL);
}

/* The program's limits end at lo (under the lock). */
static void program_below(long lo)
{
	band_lo = lo;
	if (prog.rlim_max > (unsigned long)lo)
		prog.rlim_max = lo;
	if (prog.rlim_cur > (unsigned long)lo) {
		prog.rlim_cur = lo;
		set_kernel_soft(lo);
	}
}

static void band_init(void)
{
	struct rlimit rl = { 1024, 1024 };
	long top;

	sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl);
	prog = rl;
	asked_cur = rl.rlim_cur;
	kernel_hard = rl.rlim_max;
	top = rl.rlim_max > BAND_TOP_MAX ? BAND_TOP_MAX : (long)rl.rlim_max;
	band_hi = top;
	cursor = top - 1;
	program_below(top - (top >= 16 * BAND_FIRST ? BAND_FIRST : top / 16 + 1));
}

/*
 * The band is full: take the next numbers down, as many again, if the
 * program keeps at least half of the range.  Numbers the program still has
 * open there stay its own (free_slot skips them).
 */
static int band_grow(void)
{
	long lo = band_lo - (band_hi - band_lo);

	if (lo < band_hi / 2)
		lo = band_hi / 2;
	if (lo >= band_lo)
		return 0;
	cursor = band_lo - 1;
	program_below(lo);
	return 1;
}

/* A free number in the band, from the top down; -1 if none. */
static long free_slot(void)
{
	do {
		long n = band_hi - band_lo;

		for (long k = 0; k < n; k++) {
			long fd = cursor - k;

			if (fd < band_lo)
				fd += n;
			if (!bit(fd) && (known_free(fd) || sys2(SYS_fcntl, fd, F_GETFD) == -EBADF)) {
				set_in(known, fd, 1);
				cursor = fd - 1 < band_lo ? band_hi - 1 : fd - 1;
				return fd;
			}
		}
	} while (band_grow());
	return -1;
}

/*
 * A descriptor that came through exec from the band of the image before
 * (a lock descriptor, the cwd's handle): if it already sits at a free
 * number of this band, as it does when the limits are the same, it is
 * taken as it is, the band grown down to it as the old image's had grown
 * (under the lock).  0, or -1.
 */
static int claim(int fd)
{
	if (band_lo < 0)
		band_init();
	while (fd < band_lo && fd >= band_hi / 2 && band_grow())
		;
	if (fd < band_lo || fd >= band_hi || bit(fd))
		return -1;
	set_in(known, fd, 1);	/* ours now: known again once we close it */
	set_bit(fd, 1);
	defuse_fd_nreserved++;
	return 0;
}

int defuse_fd_claim(int fd)
{
	int r;

	take();
	r = claim(fd);
	give();
	return r < 0 ? -1 : fd;
}

void defuse_fd_unclaim(int fd)
{
	take();
	if (bit(fd)) {
		set_bit(fd, 0);
		set_in(known, fd, 0);	/* still open, no longer ours */
		defuse_fd_nreserved--;
	}
	give();
}

/* The same, close-on-exec again (one system call, not five); otherwise
   moved as defuse_fd_reserve moves one. */
int defuse_fd_adopt(int fd)
{
	take();
	if (claim(fd) == 0) {
		if (!sys_failed(sys3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC))) {
			give();
			return fd;
		}
		set_bit(fd, 0);
		defuse_fd_nreserved--;
	}
	give();
	return defuse_fd_reserve(fd);
}

/* A copy of fd in the band (fd stays open); its number, or -errno. */
int defuse_fd_reserve_copy(int fd)
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
	/* The kernel places descriptors below the soft limit only. */
	set_kernel_soft(band_hi);
	r = sys3(SYS_dup3, fd, to, O_CLOEXEC);
	set_kernel_soft(prog.rlim_cur);
	if (!sys_failed(r)) {
		set_bit(to, 1);
		defuse_fd_nreserved++;
	}
	give();
	return sys_failed(r) ? (int)r : (int)to;
}

/* Moves fd into the band; returns its new number, or -errno. */
int defuse_fd_reserve(int fd)
{
	int to = defuse_fd_reserve_copy(fd);

	if (to >= 0)
		sys1(SYS_close, fd);
	return to;
}

/*
 * Closes a reserved descriptor and gives its number back, in that order:
 * the moment its mark goes, another thread's reserve may put a descriptor
 * at the number (a number known free needs no check), which a close made
 * after would close instead (a module's file closed under another
 * thread's write: EBADF, tests/reliability fork-threads under load).
 */
int defuse_fd_release(int fd)
{
	long r;

	take();
	r = bit(fd);
	give();
	if (!r)
		return -EBADF;
	r = sys1(SYS_close, fd);
	take();
	set_bit(fd, 0);
	defuse_fd_nreserved--;
	give();
	return (int)r;
}

/*
 * In a forked child, before the program runs again: the only thread left
 * is the one that forked, so a lock another thread held is free, and if
 * that thread had lifted the soft limit for a moment, it comes down again.
 */
EXEC_PATH void defuse_fd_after_fork(void)
{
	__atomic_store_n(&lock_waiting, 0, __ATOMIC_RELAXED);
	if (__atomic_load_n(&lock, __ATOMIC_RELAXED)) {
		__atomic_store_n(&lock, 0, __ATOMIC_RELAXED);
		set_kernel_soft(prog.rlim_cur);
	}
}

/*
 * getrlimit, setrlimit and prlimit64 of RLIMIT_NOFILE of this process: the
 * program's limits, which end where the band begins.  Raising the hard
 * limit past that fails as an unprivileged raise does (EPERM).
 */
static long limit_call(const struct rlimit *unew, struct rlimit *uold)
{
	struct rlimit new, old;
	long r = 0;

	if (unew && defuse_copy_in(&new, unew, sizeof(new)))
		return -EFAULT;
	if (unew && new.rlim_cur > new.rlim_max)
		return -EINVAL;
	take();
	old = prog;
	if (unew && new.rlim_max > prog.rlim_max) {
		r = -EPERM;
	} else if (unew) {
		r = set_kernel_soft(new.rlim_cur);
		if (!sys_failed(r)) {
			prog = new;
			asked_cur = new.rlim_cur;
		}
	}
	give();
	if (!sys_failed(r) && uold && defuse_copy_out(uold, &old, sizeof(old)))
		return -EFAULT;
	return r;
}

/*
 * The band is this image's: the next one starts with none and makes its
 * own.  A soft limit the band lowered (down to half the range, after the
 * program had opened numbers above that) must not be what the next image
 * starts with: a program holding 12,000 descriptors under a limit of
 * 20,000 would then exec an image in which the loader cannot open libc
 * (EMFILE).  So an exec gets the soft limit the program had before the
 * band lowered it, as natively, and a failed one the lowered one again.
 * No lock: in a vfork child it would stay taken in the parent's memory;
 * a reservation racing with this only puts the lowered limit back.
 */
EXEC_PATH void defuse_fd_exec_limit(int before)
{
	if (__atomic_load_n(&band_lo, __ATOMIC_RELAXED) < 0 || asked_cur == prog.rlim_cur)
		return;
	if (before) {
		set_kernel_soft(asked_cur < kernel_hard ? asked_cur : kernel_hard);
	} else {
		take();
		set_kernel_soft(prog.rlim_cur);
		give();
	}
}

/*
 * RLIMIT_FSIZE, for the writes the core serves itself (emulated files: no
 * kernel write to apply it): read on first need, forgotten at every change
 * of it this process makes (defuse_fd_limit_call).  A change made from
 * another process (prlimit64 of our pid) is not seen.
 */
static unsigned long fsize_cur;
static int fsize_known;

unsigned long defuse_fsize_limit(void)
{
	struct rlimit rl;

	if (!__atomic_load_n(&fsize_known, __ATOMIC_ACQUIRE)) {
		if (sys4(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &rl) != 0)
			return RLIM_INFINITY;
		__atomic_store_n(&fsize_cur, rl.rlim_cur, __ATOMIC_RELAXED);
		__atomic_store_n(&fsize_known, 1, __ATOMIC_RELEASE);
	}
	return __atomic_load_n(&fsize_cur, __ATOMIC_RELAXED);
}

long defuse_fd_limit_call(struct defuse_syscall *sc)
{
	long pid = sc->a[0];

	if ((sc->nr == SYS_setrlimit && sc->a[0] == RLIMIT_FSIZE) ||
	    (sc->nr == SYS_prlimit64 && sc->a[1] == RLIMIT_FSIZE && sc->a[2])) {
		long r = defuse_forward(sc);

		__atomic_store_n(&fsize_known, 0, __ATOMIC_RELEASE);
		return r;
	}
	if (__atomic_load_n(&band_lo, __ATOMIC_RELAXED) < 0)
		return defuse_forward(sc);
	switch (sc->nr) {
	case SYS_getrlimit:
		if (sc->a[0] == RLIMIT_NOFILE)
			return limit_call(NULL, (void *)sc->a[1]);
		break;
	case SYS_setrlimit:
		if (sc->a[0] == RLIMIT_NOFILE)
			return limit_call((void *)sc->a[1], NULL);
		break;
	case SYS_prlimit64:
		if (sc->a[1] == RLIMIT_NOFILE && (pid == 0 || pid == defuse_self.pid))
			return limit_call((void *)sc->a[2], (void *)sc->a[3]);
		break;
	}
	return defuse_forward(sc);
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
		/* /proc/self/fd lists the band (nothing hides a descriptor
		   from it), and a program may close all it lists: that close
		   succeeds, and leaves ours open. */
		if (defuse_fd_is_reserved(sc->a[0])) {
			defuse_note_emulated(sc->nr);
			return 0;
		}
		break;
	case SYS_dup2:
	case SYS_dup3:
		/* A number in the band is above the program's limit: EBADF,
		   also while a reservation lifts the kernel's limit. */
		if (defuse_fd_is_reserved(sc->a[0]) ||
		    (band_lo >= 0 && sc->a[0] != sc->a[1] &&
		     (unsigned long)sc->a[1] >= prog.rlim_cur &&
		     (unsigned long)sc->a[1] < (unsigned long)band_hi)) {
			defuse_note_emulated(sc->nr);
			return -EBADF;
		}
		break;
	case SYS_close_range:
		return close_range_around(sc);
	}
	return defuse_forward(sc);
}
