/*
 * Calls on descriptors: the table's upkeep for a mount's descriptors
 * (close, dup, dup2, dup3, fcntl's F_DUPFD, close_range) and the calls an
 * emulated file answers, which go straight to emulated.c and copy.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/syscalls.h"

/* A call that may close descriptors: DEFUSE's own band stays closed to
   the program (kernel/reserved_fd.c). */
static long fd_forward(const struct defuse_syscall *sc)
{
	return defuse_fd_nreserved ? defuse_fd_guard((struct defuse_syscall *)sc)
				   : defuse_forward(sc);
}

long core_h_fd_table(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	long r;

	switch (c->op) {
	case OP_CLOSE: {
		/* Out of the table before the kernel frees the number, which
		   another thread's open may take at once (fdtable.c).  An
		   emulated file's flush says what close returns (module.h). */
		long flushed;

		core_fd_num_lock(sc->a[0]);
		flushed = core_fd_forget(sc->a[0]);
		r = fd_forward(sc);
		core_fd_num_unlock(sc->a[0]);
		return r < 0 ? r : flushed < 0 ? flushed : r;
	}
	case OP_DUP:
		r = defuse_forward(sc);
		if (r >= 0)
			core_fd_copy(sc->a[0], r);
		return r;
	case OP_DUP2:
		core_fd_num_lock(sc->a[1]);
		r = fd_forward(sc);
		if (r >= 0)
			core_fd_copy(sc->a[0], sc->a[1]);
		core_fd_num_unlock(sc->a[1]);
		return r;
	case OP_CLOSE_RANGE:
		r = fd_forward(sc);
		if (r == 0 && !(sc->a[2] & CLOSE_RANGE_CLOEXEC))
			for (unsigned long fd = sc->a[0];
			     fd <= (unsigned long)sc->a[1] && fd < CORE_FD_MAX; fd++)
				core_fd_forget(fd);
		return r;
	default:
		return defuse_forward(sc);
	}
}

/* fcntl: an emulated file answers every command; a kernel-backed one's
   F_DUPFD copies its entry. */
long core_h_fcntl(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	struct core_fd *f;
	long r;

	/* The descriptor's own flag, and copies of it: the kernel's and the
	   table's alike for every kind, so an inherited placeholder stays
	   pending (emulated.c: adopted at its first real use). */
	switch (sc->a[1]) {
	case F_GETFD:
	case F_SETFD:
		return defuse_forward(sc);
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		r = defuse_forward(sc);
		if (r >= 0)
			core_fd_copy(sc->a[0], r);
		return r;
	}
	f = core_fd_acquire(sc->a[0]);
	if (f && f->open) {
		r = core_emulated_call(sc, f);
	} else {
		r = defuse_forward(sc);
	}
	core_fd_release(f);
	return r;
}

/* I/O on an emulated file: the one lookup of its descriptor. */
long core_h_fdio(struct core_call *c)
{
	struct core_fd *f = core_fd_acquire(c->sc->a[c->d->fd]);
	long r;

	if (f && f->standin)
		r = core_h_standin(c, f);
	else if (!f || !f->open)	/* closed meanwhile: the kernel says EBADF */
		r = defuse_forward(c->sc);
	else
		r = core_emulated_call(c->sc, f);
	core_fd_release(f);
	return r;
}

/* sendfile, copy_file_range, splice, tee with an emulated end. */
long core_h_copy(struct core_call *c)
{
	return core_copy_call(c->sc);
}
