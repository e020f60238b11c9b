/*
 * open, creat, openat and openat2 of a path that may lead into a mount:
 * the module opens the file and hands back either a kernel descriptor
 * (kernel-backed: the program gets it, the table remembers its mount and
 * path) or a handle it serves itself (emulated.c makes the placeholder).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/openat2.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/perm.h"
#include "core/resolve.h"
#include "core/syscalls.h"

/* The open file behind a program's "/proc/self/fd/N" (also
   /proc/thread-self/fd/N and /dev/fd/N) when N is an emulated file, held;
   else NULL. */
static struct core_fd *magic_link_of(const char *path)
{
	const char *after;
	long n = path[0] == '/' ? core_fd_link_emulated(path, &after) : -1;
	struct core_fd *e;

	if (n < 0 || *after)
		return NULL;
	if ((e = core_fd_acquire(n)) && e->open)
		return e;
	core_fd_release(e);
	return NULL;
}

/*
 * An open through the magic link of an emulated file opens that very file
 * again, a new open file description, as the kernel's does: even when it
 * was renamed or removed, or another file has its name now.  Without
 * O_PATH, O_NOFOLLOW refuses the link (ELOOP), and O_CREAT | O_EXCL finds
 * it there (EEXIST).
 */
static long open_magic(struct core_fd *e, int flags)
{
	struct core_open *open = e->open;
	struct defuse_open o = { 0, -1 };
	int kfd;
	long r;

	if ((flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if ((flags & O_NOFOLLOW) && !(flags & O_PATH))
		return -ELOOP;
	core_ofd_identify(open);
	kfd = open->lock_fd >= 0 ? open->lock_fd : core_handle_kfd(e->mount, open->fh);
	r = core_ofd_reopen(open->ofd, kfd, flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), &o);
	if (r < 0)
		return r;
	if (o.kernel_fd < 0)
		return core_emulated_open(e->mount, e->path, flags & ~(O_CREAT | O_EXCL), o.fh);
	mod_release(CORE_REF(e->mount), o.fh);
	core_fd_remember(o.kernel_fd, e->mount, e->path, NULL);
	return o.kernel_fd;
}

/*
 * One walk and open.  ksc: the call to give the kernel with a resolved
 * path (openat2's without the scoping the core applied); res: the scoping,
 * as core_resolve's flags.
 */
static long open_once(const struct core_call *c, const struct defuse_syscall *ksc,
		      int flags, mode_t mode, unsigned res)
{
	struct defuse_open o = { 0, -1 };
	struct core_fd *e;
	struct core_loc l;
	uint64_t ino;
	long r;

	if (!(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL)))
		res |= CORE_RES_FOLLOW;
	/* A directory's path is kept for *at calls and fchdir: it must be
	   the one the kernel would find, without ".." or symbolic links,
	   which only the core's own resolution gives. */
	if (flags & (O_DIRECTORY | O_PATH))
		res |= CORE_RES_STRICT;
	if (!(res & CORE_RES_SCOPED) && (flags & O_TMPFILE) != O_TMPFILE && c->path &&
	    (e = magic_link_of(c->path))) {
		r = open_magic(e, flags);
		core_fd_release(e);
		return r;
	}
	if ((r = core_resolve(c->dfd, c->path, res, &l)) < 0)
		return r;
	if (!core_in_mount(&l)) {
		int a;

		r = l.where == CORE_KERNEL ? core_kernel_at(ksc, c->d, l.path) : core_kernel_own(c);
		/* Through a kernel symbolic link into a mount (docs/core.md)?
		   A directory open that landed on a mount point's kernel
		   directory gives its descriptor back first. */
		if ((a = core_look_after(c, ksc, r, res, &l)) == 0)
			return r;
		if (r >= 0)
			sys1(SYS_close, r);
		if (a < 0)
			return a;
		if (!core_in_mount(&l))
			return core_kernel_at(ksc, c->d, l.path);
	}
	/* A slash after the name asks for a directory, which O_CREAT cannot
	   make: the kernel says EISDIR (a file there is ENOTDIR, from the
	   walk).  A module that resolves paths itself sees the slash. */
	if ((flags & O_CREAT) && l.strict && core_slash_last(c->path))
		return -EISDIR;
	if ((r = core_perm_open(&l, flags)) < 0)
		return r;
	/* The caller's umask on a new file's mode (module.h: the host's). */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		mode = mod_umasked(mode & 07777, defuse_g.umask);
	r = mod_open(CORE_REF(l.mount), l.path, flags, mode, &o);
	if (r == -EXDEV && !l.strict) {
		/* A module that resolves paths itself saw the path leave its
		   root: the core walks it. */
		if ((r = core_resolve(c->dfd, c->path, res | CORE_RES_STRICT, &l)) < 0)
			return r;
		if (!core_in_mount(&l))
			return core_kernel_at(ksc, c->d, l.path);
		r = mod_open(CORE_REF(l.mount), l.path, flags, mode, &o);
	}
	/* A FIFO of a module with no kernel files: its kernel stand-in. */
	if (r == -ENXIO && !(flags & O_PATH) && core_special_mount(l.mount) &&
	    (r = core_special_open(&l, flags, &ino)) >= 0) {
		core_fd_remember_standin(r, l.mount, l.path, ino);
		return r;
	}
	if (r < 0)
		return r;
	if (o.kernel_fd < 0)
		return core_emulated_open(l.mount, l.path, flags, o.fh);
	mod_release(CORE_REF(l.mount), o.fh);
	/* A module with no kernel directories may give a FIFO's stand-in of
	   its own (nfs): its attributes are the node's too. */
	core_fd_remember_standin(o.kernel_fd, l.mount, l.path,
				 core_special_mount(l.mount) ? core_special_fifo(&l) : 0);
	return o.kernel_fd;
}

/* The walk again if the directory it started from moved meanwhile. */
static long open_path(const struct core_call *c, const struct defuse_syscall *ksc,
		      int flags, mode_t mode, unsigned res)
{
	long r = open_once(c, ksc, flags, mode, res);

	if (r != -ENOENT && r != -ENOTDIR)
		return r;
	switch (core_walk_again(c->dfd, c->path)) {
	case CORE_AGAIN:
		return open_once(c, ksc, flags, mode, res);
	case CORE_AGAIN_FRESH:
		return open_once(c, ksc, flags, mode, res | CORE_RES_FRESH);
	case CORE_AGAIN_CWD_GONE: {
		/* The removed cwd itself ("ls ."): the kernel still has it,
		   if it has a kernel handle; a module's handle cannot be
		   opened again. */
		char p[64];

		if (core_cwd_gone_path(core_cwd_snap(), p) < 0)
			return r;
		return core_kernel_at(ksc, c->d, p);
	}
	case -ENOMEM:
		return -ENOMEM;
	}
	return r;
}

/* open, openat: (path, flags, mode); creat: (path, mode). */
long core_h_open(struct core_call *c)
{
	if (c->op == OP_CREAT)
		return open_path(c, c->sc, O_CREAT | O_WRONLY | O_TRUNC, c->arg[0], 0);
	return open_path(c, c->sc, c->arg[0], c->arg[1], 0);
}

/* open(2)'s flags as the kernel knows them (glibc's O_LARGEFILE is 0). */
#define KERNEL_O_LARGEFILE 0100000
#define VALID_OPEN_FLAGS							\
	(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND |	\
	 O_NONBLOCK | O_SYNC | O_DSYNC | O_ASYNC | O_DIRECT |		\
	 KERNEL_O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME |	\
	 O_CLOEXEC | O_PATH | O_TMPFILE)
#define VALID_RESOLVE_FLAGS						\
	(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |	\
	 RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED)

/*
 * openat2: struct open_how checked as the kernel does, in its order, before
 * any lookup; then the RESOLVE_* flags applied by the core's own walk.
 * RESOLVE_CACHED means nothing in-process: the kernel may fail it with
 * EAGAIN, and does at once for calls that would create or truncate.
 */
long core_h_openat2(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	struct open_how how, kh;
	struct defuse_syscall k = *sc;
	size_t size = sc->a[3];
	uint64_t fl;

	if (size < sizeof(how))
		return -EINVAL;
	if (size > 4096)
		return -E2BIG;
	if (defuse_copy_in(&how, (void *)sc->a[2], sizeof(how)))
		return -EFAULT;
	for (size_t off = sizeof(how); off < size; off += sizeof(uint64_t)) {
		/* A newer, larger struct: what we do not know must be zero. */
		uint64_t extra = 0;
		size_t n = size - off < sizeof(extra) ? size - off : sizeof(extra);

		if (defuse_copy_in(&extra, (const char *)sc->a[2] + off, n))
			return -EFAULT;
		if (extra)
			return -E2BIG;
	}
	fl = how.flags;
	if (fl & ~(uint64_t)VALID_OPEN_FLAGS)
		return -EINVAL;
	if (how.resolve & ~(uint64_t)VALID_RESOLVE_FLAGS)
		return -EINVAL;
	if ((how.resolve & RESOLVE_BENEATH) && (how.resolve & RESOLVE_IN_ROOT))
		return -EINVAL;
	if ((fl & O_CREAT) || (fl & O_TMPFILE) == O_TMPFILE) {
		if (how.mode & ~(uint64_t)07777)
			return -EINVAL;
	} else if (how.mode) {
		return -EINVAL;
	}
	if ((fl & (O_DIRECTORY | O_CREAT)) == (O_DIRECTORY | O_CREAT))
		return -EINVAL;
	if (fl & (O_TMPFILE & ~O_DIRECTORY)) {
		if ((fl & (O_TMPFILE | O_CREAT)) != O_TMPFILE || (fl & O_ACCMODE) == O_RDONLY)
			return -EINVAL;
	} else if ((fl & O_PATH) && (fl & ~(uint64_t)(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))) {
		return -EINVAL;
	}
	if ((how.resolve & RESOLVE_CACHED) && (fl & (O_TRUNC | O_CREAT | (O_TMPFILE & ~O_DIRECTORY))))
		return -EAGAIN;
	kh = how;
	kh.resolve &= ~(uint64_t)(RESOLVE_BENEATH | RESOLVE_IN_ROOT);
	k.a[2] = (long)&kh;
	k.a[3] = sizeof(kh);
	return open_path(c, &k, (int)fl, how.mode, core_res_from_openat2(how.resolve));
}
