/*
 * The registry of a process tree's page caches (docs/paging.md).
 *
 * A file must have one cache in the whole tree, or two processes mapping
 * it (sqlite's -shm file, a parent and its children) would not see each
 * other's bytes.  The registry is a small memfd mapped shared in every
 * process of the tree: made by the first process that needs it (at the
 * latest before its first fork or exec, so that what it starts shares it),
 * inherited by fork, and handed down through exec (DEFUSE_PAGER=FD:INO).
 *
 * Each entry names a file (the mount's point, hashed, and the file's
 * st_dev and st_ino as the module says) and its cache (a memfd's st_dev and
 * st_ino), and the processes holding that memfd open, by process ID and
 * descriptor number: another process opens /proc/PID/fd/FD to share the
 * very memfd.  A holder that died is noticed (kill(pid, 0), then the
 * memfd's identity) and dropped; an entry without holders is free.
 *
 * One lock orders every change, a thread-ID lock that a waiter takes back
 * from a dead owner: a process may be killed at any instruction.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include "kernel/sys.h"
#include "core/pager_int.h"

#define REG_MAGIC 0x50474452u	/* "RDGP" */
#define REG_VERSION 2

struct pg_registry {
	uint32_t magic, version;
	int32_t lock;
	uint32_t gen;
	int32_t live;		/* entries in use */
	char pad[44];
	struct pg_shared e[PG_ENTRIES];
};

static struct pg_registry *reg;
static int reg_fd = -1;
static int32_t reg_making;	/* this process's threads making it at once */

/* ---- locks ---------------------------------------------------------------- */

/* The lock word: the owner's thread ID, and this bit when someone may
   wait (only then does an unlock wake). */
#define WAITERS 0x40000000

int pg_lock_within(int32_t *l, long ns, int32_t avoid)
{
	int32_t me = sys0(SYS_gettid), v = 0;
	long waited = 0;

	if (__atomic_compare_exchange_n(l, &v, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 1;
	for (;;) {
		int32_t owner = v & ~WAITERS;
		struct timespec tick = { 0, 2000000 };

		if (!v) {
			/* Taken with the bit: others may still wait. */
			if (__atomic_compare_exchange_n(l, &v, me | WAITERS, 0, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				return 1;
			continue;
		}
		if ((avoid && owner == avoid) || (ns >= 0 && waited >= ns))
			return 0;
		if (!(v & WAITERS) && !__atomic_compare_exchange_n(l, &v, v | WAITERS, 0,
								   __ATOMIC_RELAXED,
								   __ATOMIC_RELAXED))
			continue;
		v |= WAITERS;
		if (ns >= 0 && ns - waited < tick.tv_nsec)
			tick.tv_nsec = ns - waited;
		waited += tick.tv_nsec;
		/* Wait a little; an owner that is gone gives it up. */
		if (sys4(SYS_futex, l, FUTEX_WAIT, v, &tick) == -ETIMEDOUT &&
		    sys2(SYS_kill, owner, 0) == -ESRCH)
			__atomic_compare_exchange_n(l, &v, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		v = __atomic_load_n(l, __ATOMIC_RELAXED);
	}
}

void pg_lock(int32_t *l)
{
	pg_lock_within(l, -1, 0);
}

void pg_unlock(int32_t *l)
{
	if (__atomic_exchange_n(l, 0, __ATOMIC_RELEASE) & WAITERS)
		sys3(SYS_futex, l, FUTEX_WAKE, 1);
}

/* ---- the registry itself -------------------------------------------------- */

static int map_registry(int fd)
{
	void *p = (void *)sys6(SYS_mmap, 0, sizeof(struct pg_registry), PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);

	if (sys_failed((long)p))
		return (int)(long)p;
	__atomic_store_n(&reg, (struct pg_registry *)p, __ATOMIC_RELEASE);
	return 0;
}

int pg_reg_ensure(void)
{
	long fd;
	int r;

	if (__atomic_load_n(&reg, __ATOMIC_ACQUIRE))
		return 0;
	/* A vfork child has a descriptor table of its own but our memory:
	   what it made would be half ours. */
	if (defuse_self.vfork_child)
		return -ENOMEM;
	pg_lock(&reg_making);
	if (reg) {
		pg_unlock(&reg_making);
		return 0;
	}
	fd = sys2(SYS_memfd_create, "defuse-pager", MFD_CLOEXEC);
	r = (int)fd;
	if (fd >= 0 && (r = (int)sys2(SYS_ftruncate, fd, sizeof(struct pg_registry))) == 0) {
		r = defuse_fd_reserve(fd);	/* closes fd */
		fd = -1;
		if (r >= 0) {
			reg_fd = r;
			r = map_registry(reg_fd);
			if (r == 0) {
				reg->version = REG_VERSION;
				__atomic_store_n(&reg->magic, REG_MAGIC, __ATOMIC_RELEASE);
			}
		}
	}
	if (fd >= 0)
		sys1(SYS_close, fd);
	pg_unlock(&reg_making);
	return r < 0 ? r : 0;
}

/* At start-up: the registry an exec handed down ("FD:INO"). */
void core_pager_init(const char *env)
{
	long fd = 0;
	unsigned long long ino = 0;
	struct stat st;
	const char *p = env;
	int kept;

	pg_env_init();
	if (!p)
		return;
	while (*p >= '0' && *p <= '9')
		fd = fd * 10 + (*p++ - '0');
	if (*p++ != ':')
		return;
	while (*p >= '0' && *p <= '9')
		ino = ino * 10 + (unsigned long long)(*p++ - '0');
	if (*p || sys2(SYS_fstat, fd, &st) != 0 || st.st_ino != ino ||
	    st.st_size != sizeof(struct pg_registry))
		return;
	kept = defuse_fd_adopt(fd);
	if (kept < 0)
		return;
	reg_fd = kept;
	if (map_registry(reg_fd) < 0 || reg->magic != REG_MAGIC || reg->version != REG_VERSION) {
		if (reg)
			sys2(SYS_munmap, reg, sizeof(struct pg_registry));
		reg = NULL;
		defuse_fd_release(reg_fd);
		reg_fd = -1;
	}
}

int pg_reg_live(void)
{
	struct pg_registry *r = __atomic_load_n(&reg, __ATOMIC_ACQUIRE);

	return r ? __atomic_load_n(&r->live, __ATOMIC_RELAXED) : 0;
}

uint32_t pg_reg_gen(void)
{
	struct pg_registry *r = __atomic_load_n(&reg, __ATOMIC_ACQUIRE);

	return r ? __atomic_load_n(&r->gen, __ATOMIC_ACQUIRE) : 0;
}

/* Appends s to buf at *pos, leaving room for the final NUL. */
static void put(char *buf, unsigned long cap, unsigned long *pos, const char *s)
{
	while (*s && *pos + 1 < cap)
		buf[(*pos)++] = *s++;
	buf[*pos] = 0;
}

int pg_reg_handdown(char *buf, unsigned long cap)
{
	struct stat st;
	char n[24];
	unsigned long pos = 0;

	if (!reg || reg_fd < 0 || cap < 64 || sys2(SYS_fstat, reg_fd, &st) != 0 ||
	    sys_failed(sys3(SYS_fcntl, reg_fd, F_SETFD, 0)))
		return 0;
	put(buf, cap, &pos, "DEFUSE_PAGER=");
	put(buf, cap, &pos, defuse_ltoa(reg_fd, n));
	put(buf, cap, &pos, ":");
	put(buf, cap, &pos, defuse_ltoa((long)st.st_ino, n));
	return 1;
}

void pg_reg_handdown_undo(void)
{
	if (reg_fd >= 0)
		sys3(SYS_fcntl, reg_fd, F_SETFD, FD_CLOEXEC);
}

/* ---- entries ---------------------------------------------------------------- */

static int holder_alive(const struct pg_shared *e, int i)
{
	long pid = e->holder[i].pid;

	return pid > 0 && sys2(SYS_kill, pid, 0) != -ESRCH;
}

/* Removes holder i; one that is gone after writing through a mapping
   leaves the cache orphaned (a clean one removes itself first). */
static void holder_remove(struct pg_shared *e, int i)
{
	if (e->holder[i].wrote && !holder_alive(e, i))
		__atomic_store_n(&e->orphaned, 1, __ATOMIC_RELAXED);
	e->holder[i] = e->holder[--e->nholders];
	e->holder[e->nholders].pid = 0;
	e->holder[e->nholders].wrote = 0;
}

static void holder_add(struct pg_shared *e, long pid, int fd)
{
	for (int i = 0; i < e->nholders; i++)
		if (e->holder[i].pid == pid) {
			e->holder[i].fd = fd;
			return;
		}
	if (e->nholders < PG_HOLDERS) {
		e->holder[e->nholders].pid = (int32_t)pid;
		e->holder[e->nholders].fd = fd;
		e->holder[e->nholders].wrote = 0;
		e->nholders++;
	}
	/* Full: the others can be found; when all of those are gone, a new
	   process gets a cache of its own (docs/paging.md, limits). */
}

/* Opens a live holder's memfd: a descriptor in DEFUSE's band, or -1. */
static int open_from_holder(struct pg_shared *e, long self)
{
	for (int i = 0; i < e->nholders;) {
		char path[64] = "/proc/";
		char n[24];
		struct stat st;
		long fd;

		if (e->holder[i].pid == self || !holder_alive(e, i)) {
			/* Ourselves: the caller looked in its own table first,
			   so that slot is stale (an exec'd image of ours). */
			holder_remove(e, i);
			continue;
		}
		strcat(path, defuse_ltoa(e->holder[i].pid, n));
		strcat(path, "/fd/");
		strcat(path, defuse_ltoa(e->holder[i].fd, n));
		fd = sys3(SYS_open, path, O_RDWR | O_CLOEXEC, 0);
		if (fd >= 0 && sys2(SYS_fstat, fd, &st) == 0 && st.st_dev == e->mdev &&
		    st.st_ino == e->mino) {
			int kept = defuse_fd_reserve(fd);

			if (kept >= 0)
				return kept;
			return -1;
		}
		if (fd >= 0)
			sys1(SYS_close, fd);
		/* Not the memfd any more (a reused ID, a closed number). */
		holder_remove(e, i);
	}
	return -1;
}

static struct pg_shared *find_locked(const uint64_t key[3], int *mfd, long self)
{
	for (int i = 0; i < PG_ENTRIES; i++) {
		struct pg_shared *e = &reg->e[i];

		if (e->key[0] != key[0] || e->key[1] != key[1] || e->key[2] != key[2])
			continue;
		*mfd = open_from_holder(e, self);
		if (*mfd >= 0) {
			holder_add(e, self, *mfd);
			return e;
		}
		if (!e->nholders) {	/* every holder is gone: free */
			memset(e->key, 0, sizeof(e->key));
			reg->live--;
		}
		return NULL;
	}
	return NULL;
}

struct pg_shared *pg_reg_find(const uint64_t key[3], int *mfd)
{
	struct pg_shared *e;
	long self = defuse_pid();

	if (!reg)
		return NULL;
	pg_lock(&reg->lock);
	e = find_locked(key, mfd, self);
	pg_unlock(&reg->lock);
	return e;
}

struct pg_shared *pg_reg_get(const uint64_t key[3], int *mfd, int *made, int *err)
{
	struct pg_shared *e = NULL;
	long self = defuse_pid(), fd;
	struct stat st;
	int r;

	*made = 0;
	if ((r = pg_reg_ensure()) < 0) {
		*err = r;
		return NULL;
	}
	pg_lock(&reg->lock);
	e = find_locked(key, mfd, self);
	if (e)
		goto out;
	for (int i = 0; i < PG_ENTRIES && !e; i++)
		if (!reg->e[i].key[0] && !reg->e[i].key[1] && !reg->e[i].key[2])
			e = &reg->e[i];
	if (!e) {
		*err = -ENOMEM;
		goto out;
	}
	fd = sys2(SYS_memfd_create, "defuse-cache", MFD_CLOEXEC);
	if (fd < 0 || sys2(SYS_fstat, fd, &st) != 0 || (r = defuse_fd_reserve(fd)) < 0) {
		if (fd >= 0)
			sys1(SYS_close, fd);
		*err = fd < 0 ? (int)fd : -EMFILE;
		e = NULL;
		goto out;
	}
	if (!e->key[0] && !e->key[1] && !e->key[2])
		reg->live++;
	memset(e, 0, sizeof(*e));
	e->mdev = st.st_dev;
	e->mino = st.st_ino;
	memcpy(e->key, key, sizeof(e->key));
	holder_add(e, self, r);
	*mfd = r;
	*made = 1;
	__atomic_add_fetch(&reg->gen, 1, __ATOMIC_RELEASE);
out:
	pg_unlock(&reg->lock);
	return e;
}

void pg_reg_hold(struct pg_shared *sh, int fd)
{
	if (!reg)
		return;
	pg_lock(&reg->lock);
	holder_add(sh, defuse_pid(), fd);
	pg_unlock(&reg->lock);
}

void pg_reg_wrote(struct pg_shared *sh)
{
	long self = defuse_pid();

	if (!reg)
		return;
	pg_lock(&reg->lock);
	for (int i = 0; i < sh->nholders; i++)
		if (sh->holder[i].pid == self)
			sh->holder[i].wrote = 1;
	pg_unlock(&reg->lock);
}

void pg_reg_check_orphans(struct pg_shared *sh)
{
	int any = 0;

	if (!reg)
		return;
	/* Cheap first: only holders that wrote are worth a look. */
	for (int i = 0; i < __atomic_load_n(&sh->nholders, __ATOMIC_RELAXED) && !any; i++)
		any = sh->holder[i].wrote && sh->holder[i].pid != defuse_self.pid;
	if (!any)
		return;
	pg_lock(&reg->lock);
	for (int i = 0; i < sh->nholders;)
		if (sh->holder[i].wrote && !holder_alive(sh, i))
			holder_remove(sh, i);
		else
			i++;
	pg_unlock(&reg->lock);
}

void pg_reg_drop(struct pg_shared *sh)
{
	long self = defuse_pid();

	if (!reg)
		return;
	pg_lock(&reg->lock);
	for (int i = 0; i < sh->nholders;)
		if (sh->holder[i].pid == self) {
			/* Clean: what it wrote went back before it let go. */
			sh->holder[i].wrote = 0;
			holder_remove(sh, i);
		} else if (!holder_alive(sh, i)) {
			holder_remove(sh, i);
		} else {
			i++;
		}
	if (!sh->nholders && (sh->key[0] || sh->key[1] || sh->key[2])) {
		memset(sh->key, 0, sizeof(sh->key));
		reg->live--;
	}
	pg_unlock(&reg->lock);
}
