/*
 * What the core hands to the image an exec starts: the cwd inside a mount
 * (DEFUSE_CWD, cwd.c keeps it) and the emulated files that survive the exec
 * (DEFUSE_FDS).  Capture puts the strings into the new image's environment
 * (capture/exec.c); the new image reads them back (core_cwd_init,
 * core_emulated_adopt_inherited).
 */
#include <fcntl.h>
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

/* The lock descriptors core_exec_fds_env lent to the exec are ours again. */
void core_exec_fds_undo(void)
{
	int left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED);
	struct core_fd *f;
	long fd = -1;

	if (!core_fds)
		return;
	while ((f = next_entry(&fd, &left))) {
		if (f->open && f->open->lock_fd >= 0)
			sys3(SYS_fcntl, f->open->lock_fd, F_SETFD, FD_CLOEXEC);
		if (f->open && f->open->carrier_fd >= 0)
			sys3(SYS_fcntl, f->open->carrier_fd, F_SETFD, FD_CLOEXEC);
	}
}

/* Appends src to dst at *pos. */
static void put(char *dst, unsigned long *pos, const char *src)
{
	while (*src)
		dst[(*pos)++] = *src++;
}

/*
 * "DEFUSE_FDS=FD:INO[:LOCKFD][+CARRIER],...": the emulated files'
 * placeholders that survive this exec (not close-on-exec), their memfds'
 * inodes, the descriptors their locks are on and the carriers of their
 * owner IDs (owners.c), so that the new image adopts exactly
 * those (core_emulated_adopt_inherited) instead of looking at every
 * descriptor it has, and keeps the locks, as exec keeps them.
 * "DEFUSE_FDS=scan" when the list does not fit.  NULL when no placeholder
 * survives.  The new image checks every number against its inode, so a
 * stale entry does no harm.
 */
char *core_exec_fds_env(char *buf, unsigned long cap)
{
	int left, any = 0;
	struct core_fd *f;
	unsigned long pos = 0;
	long fd = -1;

	if (!core_nmounts || !core_fds || cap < 64)
		return NULL;
	left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED);
	put(buf, &pos, "DEFUSE_FDS=");
	while ((f = next_entry(&fd, &left))) {
		struct core_open *open = f->open;
		char num[24];
		long fdflags;

		if (!open)
			continue;
		fdflags = sys3(SYS_fcntl, fd, F_GETFD, 0);
		if (fdflags < 0 || (fdflags & FD_CLOEXEC))
			continue;	/* gone at this exec, or already gone */
		/* What the file is, for the new image to open this very
		   file again even if its name is gone (core_ofd_reopen). */
		core_ofd_identify(open);
		core_ofd_share(open->ofd);
		if (!open->ofd->ino) {
			struct stat st;

			if (sys2(SYS_fstat, fd, &st) < 0)
				continue;
			open->ofd->ino = st.st_ino;	/* the same for every dup */
		}
		/* The description outlives this image in the next one: a
		   module that keeps its locks must see it held there. */
		if (core_owners_needed(open->mount))
			core_owner_carry(open);
		/* ",FD:INO:LOCKFD+CARRIER" and the final NUL must fit. */
		if (pos + 4 * sizeof(num) + 5 >= cap) {
			core_exec_fds_undo();	/* the new image will not take them */
			pos = 0;
			put(buf, &pos, "DEFUSE_FDS=scan");
			break;
		}
		if (any++)
			buf[pos++] = ',';
		put(buf, &pos, defuse_ltoa(fd, num));
		buf[pos++] = ':';
		put(buf, &pos, defuse_ltoa((long)open->ofd->ino, num));
		/* Its locks live on the module's descriptor, which must then
		   outlive the exec as they do (the new image takes it over),
		   and be the one the new image locks on: a flock taken there
		   belongs to this description, held while it is open anywhere
		   (`( flock -x 9; ... ) 9>f`), not to a descriptor the new
		   image would get by reopening.  Each costs the new image a
		   descriptor of DEFUSE's band. */
		if (open->lock_fd >= 0 && sys3(SYS_fcntl, open->lock_fd, F_SETFD, 0) == 0) {
			buf[pos++] = ':';
			put(buf, &pos, defuse_ltoa(open->lock_fd, num));
		}
		if (open->carrier_fd >= 0 && sys3(SYS_fcntl, open->carrier_fd, F_SETFD, 0) == 0) {
			buf[pos++] = '+';
			put(buf, &pos, defuse_ltoa(open->carrier_fd, num));
		}
	}
	buf[pos] = 0;
	return any ? buf : NULL;
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
