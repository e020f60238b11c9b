/*
 * The owners of locks a module keeps itself (module.h: getlk, setlk,
 * flock), and how a module knows that one is gone.
 *
 * An OFD or flock lock belongs to an open file description, which lives as
 * long as any process holds it: across dup, fork, exec and SCM_RIGHTS.  A
 * module with no kernel file behind its files (memfs) keeps its locks in
 * memory its processes share, so it must find out by itself when an owner
 * is gone, because a process can end (exit, exec, kill) without closing
 * anything.  Watching the process that took the lock is not enough: in
 * `( flock -x 9; sleep 1 ) 9>f` the exec'd flock takes the lock and exits,
 * and the subshell still holds the description, so the lock must stay.
 *
 * So each description that a module keeps locks for gets an owner ID (62
 * random bits, in its shared record), and every process that holds the
 * description holds a *carrier*: a descriptor of a file that all DEFUSE
 * processes share (OWNERS_FILE.S, S the ID's shard), with an OFD read
 * lock on the byte at offset ID.  The kernel keeps an inode's locks in one
 * list that every new lock walks, so a process holding N descriptions (a
 * fork or exec hands them all down) paid O(N^2) in one file: 2,000 of them
 * made an exec 21 ms, 29% of it in posix_lock_inode.  OWNER_SHARDS files
 * divide that (every close of a carrier walks its file's list too: a
 * process handing down 4,000 at 16 files spent 20% of its exit there).
 * The kernel keeps that lock until the carrier's open file
 * description is gone from every process, exit and kill included; a fork
 * child shares its parent's carrier, an exec hands it down (handdown.c),
 * and a process that adopts a received description takes its own.  The
 * owner is alive while any lock is on its byte (F_OFD_GETLK).
 *
 * A process must hold a carrier before the description can outlive it in
 * another process: so a carrier is taken at the first lock, before a fork
 * or vfork (every description of such a module in the table gets one, once;
 * core_before_fork), before an exec hands the description down,
 * and when a description is adopted.
 *
 * Without the owners file (no /dev/shm, no permission), liveness is
 * unknown (-1): modules then fall back on what they did before (memfs: the
 * process that took the lock), and a process's last close drops the
 * description's locks.  Anyone who can open the file can lock bytes in it
 * and so keep another's stale lock looking alive: a denial of the cleanup
 * after a killed holder, never a lock granted twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include "kernel/sys.h"
#include "core/core.h"

/* (".defuse-owners.S", 16 of them, was an earlier layout: a process
   sharded otherwise must not look for an owner in another file.) */
#define OWNERS_FILE "/dev/shm/.defuse-owners64"
#define OWNER_SHARDS 64		/* files OWNERS_FILE.00 to .3f */
#define OWNER_DESCRIPTION (1ULL << 63)
#define OWNER_ID_MASK ((1ULL << 62) - 1)

/* This process's descriptors for checking, one per shard (its own open
   files, so that its test sees every carrier, this process's too), or -1
   (not opened yet) / -2 (none can be had: liveness unknown). */
static int check_fd[OWNER_SHARDS] = { [0 ... OWNER_SHARDS - 1] = -1 };

static unsigned int shard_of(uint64_t id)
{
	return (unsigned int)(id % OWNER_SHARDS);
}

/* A new open file description of shard's owners file, set aside in
   DEFUSE's band; -errno if none. */
static long open_owners(unsigned int shard)
{
	char path[sizeof(OWNERS_FILE) + 3] = OWNERS_FILE ".";
	long fd, kept;
	struct stat st;

	path[sizeof(OWNERS_FILE)] = "0123456789abcdef"[shard / 16 % 16];
	path[sizeof(OWNERS_FILE) + 1] = "0123456789abcdef"[shard % 16];
	path[sizeof(OWNERS_FILE) + 2] = '\0';
	fd = sys3(SYS_open, path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return fd;
	/* Whoever made it lets everyone read it, whatever their umask. */
	if (sys2(SYS_fstat, fd, &st) == 0 && (st.st_mode & 0444) != 0444 &&
	    st.st_uid == (uid_t)sys0(SYS_geteuid))
		sys2(SYS_fchmod, fd, 0644);
	kept = defuse_fd_reserve(fd);
	if (kept < 0)
		sys1(SYS_close, fd);
	return kept;
}

/* Does this mount's module keep locks itself? */
int core_owners_needed(int mount)
{
	const struct defuse_mount_ref *ref = CORE_REF(mount);

	return !mod_has_lock_fd(ref) && (mod_has_setlk(ref) || mod_has_flock(ref));
}

/* The description's owner ID, made on first need by whichever sharer
   comes first. */
static uint64_t owner_id(struct core_ofd *ofd)
{
	uint64_t id = __atomic_load_n(&ofd->owner_id, __ATOMIC_ACQUIRE), mine = 0;

	while (!id) {
		if (sys3(SYS_getrandom, &mine, sizeof(mine), GRND_NONBLOCK) != sizeof(mine))
			mine = (uint64_t)sys0(SYS_getpid) << 32 ^ (uint64_t)(uintptr_t)ofd;
		mine &= OWNER_ID_MASK;
		if (!mine)
			continue;
		if (__atomic_compare_exchange_n(&ofd->owner_id, &id, mine, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			id = mine;
	}
	return id;
}

int core_owner_carry(struct core_open *o)
{
	struct flock l = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_len = 1 };
	int none = -1;
	long fd;

	uint64_t id;

	if (__atomic_load_n(&o->carrier_fd, __ATOMIC_ACQUIRE) >= 0)
		return 0;
	id = owner_id(o->ofd);
	l.l_start = (off_t)id;
	if ((fd = open_owners(shard_of(id))) < 0)
		return (int)fd;
	if (sys3(SYS_fcntl, fd, F_OFD_SETLK, &l) < 0 ||
	    !__atomic_compare_exchange_n(&o->carrier_fd, &none, (int)fd, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		defuse_fd_release(fd);	/* another thread was first, or no lock */
	return 0;
}

uint64_t core_owner_of(struct core_open *o)
{
	core_owner_carry(o);
	return OWNER_DESCRIPTION | owner_id(o->ofd);
}

void core_owner_drop(struct core_open *o)
{
	int fd = __atomic_exchange_n(&o->carrier_fd, -1, __ATOMIC_ACQ_REL);

	if (fd >= 0)
		defuse_fd_release(fd);
}

/*
 * The host service of module.h: is the owner of a lock still there?  A
 * description's owner while any carrier of it is; a process's while the
 * process is.  1, 0, or -1 when it cannot be known.
 */
__attribute__((visibility("default"))) int defuse_lock_owner_alive(uint64_t owner)
{
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
	unsigned int shard = shard_of(owner & OWNER_ID_MASK);
	int fd = __atomic_load_n(&check_fd[shard], __ATOMIC_ACQUIRE);

	if (!(owner & OWNER_DESCRIPTION)) {
		long r = sys2(SYS_kill, (pid_t)owner, 0);

		return r == -ESRCH ? 0 : 1;
	}
	if (fd == -1) {
		long mine = open_owners(shard);
		int none = -1;

		if (mine < 0)
			mine = -2;
		if (__atomic_compare_exchange_n(&check_fd[shard], &none, (int)mine, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			fd = (int)mine;
		else if (mine >= 0)
			defuse_fd_release(mine), fd = none;
		else
			fd = none;
	}
	if (fd < 0)
		return -1;
	l.l_start = (off_t)(owner & OWNER_ID_MASK);
	if (sys3(SYS_fcntl, fd, F_OFD_GETLK, &l) < 0)
		return -1;
	return l.l_type != F_UNLCK;
}
