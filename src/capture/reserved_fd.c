/*
 * Descriptors DEFUSE keeps open inside the program (the trace output, later
 * modules' descriptors).  They sit at the top of the descriptor range, are
 * close-on-exec, and are invisible to the program's close/dup2/dup3/
 * close_range: closing one gives EBADF as for a descriptor that was never
 * open, and dup2 onto one first moves ours out of the way, so the program
 * gets exactly the number it asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include "capture/capture.h"
#include "common/sys.h"

#define RESERVED_MAX 64

static int reserved[RESERVED_MAX];
int defuse_fd_nreserved;

int defuse_fd_is_reserved(long fd)
{
	for (int i = 0; i < defuse_fd_nreserved; i++)
		if (reserved[i] == fd)
			return 1;
	return 0;
}

/* The highest free descriptor number below the soft limit, or -1. */
static int free_top_fd(void)
{
	struct rlimit rl;
	long top;

	if (sys_failed(sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl)))
		return -1;
	top = rl.rlim_cur > 65536 ? 65536 : (long)rl.rlim_cur;
	for (long fd = top - 1; fd > top - 256 && fd > 2; fd--)
		if (!defuse_fd_is_reserved(fd) &&
		    sys2(SYS_fcntl, fd, F_GETFD) == -EBADF)
			return fd;
	return -1;
}

/* Moves fd to a free number at the top; returns the new number or -errno. */
static int move_high(int fd)
{
	int to = free_top_fd();
	long r;

	if (to < 0)
		return fd;	/* keep it where it is rather than fail */
	r = sys3(SYS_dup3, fd, to, O_CLOEXEC);
	if (sys_failed(r))
		return r;
	sys1(SYS_close, fd);
	return to;
}

int defuse_fd_reserve(int fd)
{
	if (defuse_fd_nreserved == RESERVED_MAX)
		return -EMFILE;
	fd = move_high(fd);
	if (fd < 0)
		return fd;
	reserved[defuse_fd_nreserved++] = fd;
	return fd;
}

/* The program wants number `fd` for itself: move ours elsewhere. */
static void evict(long fd)
{
	for (int i = 0; i < defuse_fd_nreserved; i++)
		if (reserved[i] == fd) {
			int to = move_high(fd);

			if (to >= 0)
				reserved[i] = to;
		}
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
		unsigned long end = hi;

		for (int i = 0; i < defuse_fd_nreserved; i++) {
			unsigned long fd = reserved[i];

			if (fd >= lo && fd <= end)
				end = fd - 1 < end ? fd - 1 : end;
		}
		if (defuse_fd_is_reserved(lo)) {
			lo++;
			continue;
		}
		if (first)
			r = defuse_gate_forward(SYS_close_range, lo, end, sc->a[2], 0, 0, 0);
		else
			r = sys3(SYS_close_range, lo, end, sc->a[2]);
		first = 0;
		if (sys_failed(r) || end == hi)
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
