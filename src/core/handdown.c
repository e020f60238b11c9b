/*
 * What the core hands to the image an exec starts: the cwd inside a mount
 * (DEFUSE_CWD, cwd.c keeps it) and the emulated files that survive the exec
 * (DEFUSE_FDS).  Capture puts the strings into the new image's environment
 * (capture/exec.c); the new image reads them back (core_cwd_init,
 * core_emulated_adopt_inherited).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "core/core.h"

/*
 * The next entry of the descriptor table after descriptor *fd (start at
 * -1), or NULL once all *left entries the table held were seen.  Reads
 * without references: an entry closed meanwhile by another thread is stale
 * but mapped (fdtable.c).
 */
static struct core_fd *next_entry(long *fd, int *left)
{
	while (*left > 0 && ++*fd < CORE_FD_MAX) {
		struct core_fd *f = __atomic_load_n(&core_fds[*fd], __ATOMIC_RELAXED);

		if (f) {
			--*left;
			return f;
		}
	}
	return NULL;
}

/*
 * Lock descriptors and carriers that came through exec are left as they
 * came, not close-on-exec, while their description is pending or was
 * adopted from a pending one (emulated.c, CORE_KEPT_*), so that handing
 * them down again costs nothing.  Those whose description is not handed
 * down must then be closed by the exec: set_kept() makes them so (the
 * exec failing puts them back).  The description o stands for, and which
 * of its descriptors are kept so (CORE_KEPT_* bits).
 */
static int kept(struct core_open *o, struct core_open **live)
{
	struct core_open *l = core_open_live(o);

	*live = l;
	if (!l)		/* pending: both came as they are */
		return (o->lock_fd >= 0 ? CORE_KEPT_LOCK : 0) |
		       (o->carrier_fd >= 0 ? CORE_KEPT_CARRIER : 0);
	return ((l->exec_kept & CORE_KEPT_LOCK) && l->lock_fd >= 0 ? CORE_KEPT_LOCK : 0) |
	       ((l->exec_kept & CORE_KEPT_CARRIER) && l->carrier_fd >= 0 ? CORE_KEPT_CARRIER : 0);
}

/* The memfd holding a list too long for the environment, for an exec
   under way, to be closed if it fails; -1: none. */
static long list_fd = -1;
static void spill_drop(long lfd);

/* Kept descriptors made close-on-exec for an exec under way (set_kept). */
static int kept_closing;

/* Is inode ino listed in "FD:INO...,FD:INO..." (len bytes, not ended by
   a NUL when it is a list memfd's)? */
static int listed(const char *list, unsigned long len, uint64_t ino)
{
	const char *end = list + len;

	for (const char *p = list; (p = memchr(p, ':', end - p));) {
		uint64_t v = 0;

		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (*p - '0');
		if (v == ino)
			return 1;
		if (!(p = memchr(p, ',', end - p)))
			break;
	}
	return 0;
}

/*
 * Kept descriptors of descriptions this exec does not hand down (list: the
 * DEFUSE_FDS string; NULL: none is) become close-on-exec (on), or, after
 * a failed exec, not again (!on).
 */
static void set_kept(int on, const char *list, unsigned long len)
{
	int left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED), k;
	struct core_open *l;
	struct core_fd *f;
	long fd = -1;

	while ((f = next_entry(&fd, &left))) {
		if (!f->open || !(k = kept(f->open, &l)))
			continue;
		if (on && list && listed(list, len, l ? l->ino : f->open->ino))
			continue;
		if (!l)
			l = f->open;
		if (k & CORE_KEPT_LOCK)
			sys3(SYS_fcntl, l->lock_fd, F_SETFD, on ? FD_CLOEXEC : 0);
		if (k & CORE_KEPT_CARRIER)
			sys3(SYS_fcntl, l->carrier_fd, F_SETFD, on ? FD_CLOEXEC : 0);
		if (on)
			__atomic_store_n(&kept_closing, 1, __ATOMIC_RELAXED);
	}
}

/* The lock descriptors core_exec_fds_env lent to the exec are ours again. */
void core_exec_fds_undo(void)
{
	int left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED), k;
	struct core_open *l;
	struct core_fd *f;
	long fd = -1;

	if (!core_fds)
		return;
	while ((f = next_entry(&fd, &left))) {
		if (!f->open || !(l = core_open_live(f->open)))
			continue;
		k = kept(f->open, &l);
		if (l->lock_fd >= 0 && !(k & CORE_KEPT_LOCK))
			sys3(SYS_fcntl, l->lock_fd, F_SETFD, FD_CLOEXEC);
		if (l->carrier_fd >= 0 && !(k & CORE_KEPT_CARRIER))
			sys3(SYS_fcntl, l->carrier_fd, F_SETFD, FD_CLOEXEC);
	}
	if (__atomic_exchange_n(&kept_closing, 0, __ATOMIC_RELAXED))
		set_kept(0, NULL, 0);
	spill_drop(__atomic_exchange_n(&list_fd, -1, __ATOMIC_RELAXED));
}

/* Appends src to dst at *pos. */
static void put(char *dst, unsigned long *pos, const char *src)
{
	while (*src)
		dst[(*pos)++] = *src++;
}

/* buf[from, *pos) appended to the list's memfd *lfd (made at the first);
   the buffer is empty again after "DEFUSE_FDS=".  0, or -1. */
static int spill(long *lfd, char *buf, unsigned long from, unsigned long *pos)
{
	long r;

	if (*lfd < 0) {
		long mfd = sys2(SYS_memfd_create, "defuse-fds", MFD_CLOEXEC | MFD_ALLOW_SEALING);

		if (mfd < 0)
			return -1;
		/* In the band, so that the program's numbers are as free in
		   the new image as natively; not from a vfork child, whose
		   band bitmap is its parent's memory (and which has the
		   descriptor table to itself). */
		*lfd = mfd;
		if (!defuse_self.vfork_child && (*lfd = defuse_fd_reserve(mfd)) < 0) {
			sys1(SYS_close, mfd);
			return -1;
		}
	}
	for (unsigned long off = from; off < *pos; off += r)
		if ((r = sys3(SYS_write, *lfd, buf + off, *pos - off)) <= 0)
			return -1;
	*pos = from;
	return 0;
}

/* The list in memfd lfd ends with buf[from, *pos): sealed, handed to the
   exec, its contents mapped for set_kept (*map, *len); the environment
   entry "DEFUSE_FDS=@FD" in buf.  0, or -1. */
static int spill_end(long lfd, char *buf, unsigned long from, unsigned long *pos,
		     char **map, unsigned long *len)
{
	char num[24];
	struct stat st;
	void *m;

	if (spill(&lfd, buf, from, pos) < 0 ||
	    sys3(SYS_fcntl, lfd, F_ADD_SEALS, CORE_FDS_LIST_SEALS) < 0 ||
	    sys2(SYS_fstat, lfd, &st) < 0 ||
	    sys3(SYS_fcntl, lfd, F_SETFD, 0) < 0)
		return -1;
	m = (void *)sys6(SYS_mmap, 0, st.st_size, PROT_READ, MAP_SHARED, lfd, 0);
	if (sys_failed((long)m))
		return -1;
	*map = m;
	*len = st.st_size;
	put(buf, pos, "@");
	put(buf, pos, defuse_ltoa(lfd, num));
	buf[*pos] = 0;
	return 0;
}

/* A list's memfd is the exec's no more. */
static void spill_drop(long lfd)
{
	if (lfd < 0)
		return;
	if (defuse_self.vfork_child || defuse_fd_release(lfd) < 0)
		sys1(SYS_close, lfd);
}

/*
 * "DEFUSE_FDS=FD:INO[:LOCKFD][+CARRIER],...": the emulated files'
 * placeholders that survive this exec (not close-on-exec), their memfds'
 * inodes, the descriptors their locks are on and the carriers of their
 * owner IDs (owners.c), so that the new image adopts exactly
 * those (core_emulated_adopt_inherited) instead of looking at every
 * descriptor it has, and keeps the locks, as exec keeps them.  A list
 * longer than cap (about 5,000 files: the kernel takes 128 KiB per
 * environment string) goes in a sealed memfd handed down with the rest,
 * "DEFUSE_FDS=@FD"; "DEFUSE_FDS=scan" only when that cannot be made.  NULL
 * when no placeholder survives.  The new image checks every number
 * against its inode, so a stale entry does no harm.
 */
char *core_exec_fds_env(char *buf, unsigned long cap)
{
	int left, any = 0, closed_kept = 0;
	struct core_fd *f;
	unsigned long pos = 0, from, maplen = 0;
	char *map = NULL;
	long fd = -1, lfd = -1;

	if (!core_nmounts || !core_fds || cap < 128)
		return NULL;
	left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED);
	put(buf, &pos, "DEFUSE_FDS=");
	from = pos;
	while ((f = next_entry(&fd, &left))) {
		struct core_open *open = f->open;
		char num[24];
		long fdflags, lock = -1, carrier = -1;
		uint64_t ino;
		int k;

		if (!open)
			continue;
		k = kept(f->open, &open);
		fdflags = sys3(SYS_fcntl, fd, F_GETFD, 0);
		if (fdflags < 0 || (fdflags & FD_CLOEXEC)) {
			closed_kept |= k;
			continue;	/* gone at this exec, or already gone */
		}
		/* ",FD:INO:LOCKFD+CARRIER" and the final NUL must fit. */
		if (pos + 4 * sizeof(num) + 5 >= cap && spill(&lfd, buf, from, &pos) < 0)
			goto scan;
		if (!open) {
			/* Pending (emulated.c): handed down as it came, with
			   no system call and without adopting it. */
			ino = f->open->ino;
			lock = f->open->lock_fd;
			carrier = f->open->carrier_fd;
		} else {
			/* What the file is, for the new image to open this
			   very file again even if its name is gone
			   (core_ofd_reopen). */
			core_open_share(open);
			ino = open->ino;	/* its maker's (emulated.c) */
			if (!(open->cached & CORE_CACHED_KNOWN)) {
				struct stat st;

				/* A child forked while another thread opened may
				   have the entry of that open but the descriptor
				   table of a moment before (fork copies the table
				   first, then the memory): the module's descriptor
				   may then be another file's, whose identity must
				   not go into the shared record.  An entry whose
				   placeholder is here is whole. */
				if (sys2(SYS_fstat, fd, &st) < 0 || st.st_ino != ino)
					continue;
				core_ofd_identify(open);
			}
			/* The description outlives this image in the next
			   one: a module that keeps its locks must see it
			   held there. */
			if (core_owners_needed(open->mount))
				core_owner_carry(open);
			/* Its locks live on the module's descriptor, which
			   must then outlive the exec as they do (the new image
			   takes it over), and be the one the new image locks
			   on: a flock taken there belongs to this description,
			   held while it is open anywhere (`( flock -x 9; ... )
			   9>f`), not to a descriptor the new image would get
			   by reopening.  Each costs the new image a descriptor
			   of DEFUSE's band.  Kept ones are open at exec
			   already. */
			if (open->lock_fd >= 0 && ((k & CORE_KEPT_LOCK) ||
						   sys3(SYS_fcntl, open->lock_fd, F_SETFD, 0) == 0))
				lock = open->lock_fd;
			if (open->carrier_fd >= 0 &&
			    ((k & CORE_KEPT_CARRIER) ||
			     sys3(SYS_fcntl, open->carrier_fd, F_SETFD, 0) == 0))
				carrier = open->carrier_fd;
		}
		if (any++)
			buf[pos++] = ',';
		put(buf, &pos, defuse_ltoa(fd, num));
		buf[pos++] = ':';
		put(buf, &pos, defuse_ltoa((long)ino, num));
		if (lock >= 0) {
			buf[pos++] = ':';
			put(buf, &pos, defuse_ltoa(lock, num));
		}
		if (carrier >= 0) {
			buf[pos++] = '+';
			put(buf, &pos, defuse_ltoa(carrier, num));
		}
	}
	if (defuse_self.vfork_child) {
		/* Descriptions the vfork child opened itself (emulated.c). */
		long fds[64];
		uint64_t inos[64];
		int n = core_vfork_made_find(fds, inos, 64);

		for (int i = 0; i < n; i++) {
			char num[24];

			if (pos + 2 * sizeof(num) + 3 >= cap && spill(&lfd, buf, from, &pos) < 0)
				goto scan;
			if (any++)
				buf[pos++] = ',';
			put(buf, &pos, defuse_ltoa(fds[i], num));
			buf[pos++] = ':';
			put(buf, &pos, defuse_ltoa((long)inos[i], num));
		}
	}
	buf[pos] = 0;
	if (lfd >= 0 && spill_end(lfd, buf, from, &pos, &map, &maplen) < 0)
		goto scan;
	/* Kept descriptors of descriptions left behind must not outlive
	   the exec (rare: a placeholder the program made close-on-exec). */
	if (closed_kept)
		set_kept(1, map ? map : buf + from, map ? maplen : pos - from);
	if (map)
		sys2(SYS_munmap, map, maplen);
	/* A vfork child's failed exec leaves it to the child, whose
	   descriptors they are (the static is the parent's memory too). */
	if (!defuse_self.vfork_child)
		list_fd = lfd;
	return any ? buf : NULL;
scan:
	/* The list cannot be handed down: the new image looks for
	   placeholders itself and takes no lock descriptor or carrier, which
	   then must not come along. */
	spill_drop(lfd);
	buf[pos] = 0;
	core_exec_fds_undo();
	set_kept(1, NULL, 0);
	pos = 0;
	put(buf, &pos, "DEFUSE_FDS=scan");
	buf[pos] = 0;
	return buf;
}

/*
 * Before a fork or vfork: the child will hold every emulated description
 * in the table too, so none may be kept for another open at its last
 * close here (emulated.c), and where the module keeps its own locks, this
 * process takes the carrier of the description's owner ID first, so that
 * the child shares it (owners.c).
 */
long core_before_fork(void *unused)
{
	(void)unused;
	core_emulated_share_all(1);
	return 0;
}

char *core_exec_cwd_env(char *buf, unsigned long cap)
{
	return core_cwd_env(buf, cap) ? buf : NULL;
}

void core_exec_cwd_undo(void)
{
	core_cwd_env_undo();
}
