/*
 * Record, OFD and flock locks, kept in the segment so every process that
 * mounts it sees and honours them.  Record and OFD locks share one space,
 * as in Linux (an OFD lock conflicts with another process's record lock);
 * flock locks are another.  A lock whose owner no longer exists is dropped
 * when it is found in the way: the host cannot release the locks of a
 * killed process.  A record lock's owner is its process; an OFD or flock
 * lock's is an open file description, which the host says is gone or not
 * (defuse_lock_owner_alive: it lives while any process holds it, and the
 * one that took the lock may have exited long ago); where the host cannot
 * say, the process recorded as its holder stands for it.  Caller holds
 * the lock.
 */
#include "memfs.h"

#include <defuse/module.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static bool same_owner(const struct mlock *l, uint64_t owner, uint32_t kind)
{
	return l->owner == owner && l->kind == kind;
}

/* Has l's owner gone?  thorough: a holder that exited but is not reaped
   yet (pid_gone reads /proc for it) counts too; else only one that no
   longer exists (one kill(2), for every conflict a try meets). */
static bool gone(const struct mlock *l, bool thorough)
{
	int alive = l->kind != MLK_POSIX && defuse_lock_owner_alive
		    ? defuse_lock_owner_alive(l->owner) : -1;

	if (alive >= 0)
		return !alive;
	return thorough ? pid_gone(l->holder) : pid_missing(l->holder);
}

/*
 * Waiting for a lock (F_SETLKW, flock without LOCK_NB): the waiter sleeps
 * on lock_seq, a futex word of the segment (shared, so FUTEX_WAIT without
 * _PRIVATE: every process maps it at its own address), which every change
 * that may end a wait bumps (an unlock, a read lock, a dead holder's lock
 * freed), waking the sleepers if lock_waiters says there are any, as the
 * kernel wakes its lock waiters.  A sleep also ends after LK_POLL_NS: a
 * lock whose holder died is freed only when a waiter finds it in the way
 * (the host cannot release a killed process's locks; a holder that exited
 * but is not reaped yet is looked for in /proc, at the first wait and after
 * each such timeout only).  A process killed while asleep leaves
 * lock_waiters one too high: later changes make a futex wake for nobody,
 * nothing worse.
 */
#define LK_POLL_NS (50 * 1000 * 1000)

static void locks_changed(struct memfs *m)
{
	__atomic_add_fetch(&m->h->lock_seq, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&m->h->lock_waiters, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &m->h->lock_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void unlink_lock(struct memfs *m, uint64_t *link)
{
	uint64_t off = *link;

	*link = ((struct mlock *)P(m, off))->next;
	mem_free(m, off, sizeof(struct mlock));
}

/* The first lock of another owner in the same space that conflicts with
   [start, end] of type; locks of dead holders met on the way are freed
   (thorough: gone). */
static struct mlock *conflict(struct memfs *m, struct mnode *n, uint64_t owner, uint32_t kind,
			      int type, int64_t start, int64_t end, bool thorough)
{
	bool flock_space = kind == MLK_FLOCK;
	uint64_t *link = &n->locks;

	while (*link) {
		struct mlock *l = P(m, *link);

		if ((l->kind == MLK_FLOCK) == flock_space && !same_owner(l, owner, kind) &&
		    l->start <= end && start <= l->end &&
		    (type == F_WRLCK || l->type == F_WRLCK)) {
			if (!gone(l, thorough))
				return l;
			unlink_lock(m, link);
			locks_changed(m);
			continue;
		}
		link = &l->next;
	}
	return NULL;
}

static void range_of(const struct flock *fl, int64_t *start, int64_t *end)
{
	*start = fl->l_start;
	*end = fl->l_len == 0 || fl->l_start > INT64_MAX - fl->l_len ? INT64_MAX
								  : fl->l_start + fl->l_len - 1;
}

int lk_get(struct memfs *m, struct mnode *n, uint64_t owner, struct flock *fl)
{
	uint32_t kind = fl->l_pid == -1 ? MLK_OFD : MLK_POSIX;
	int64_t start, end;
	struct mlock *l;

	range_of(fl, &start, &end);
	l = conflict(m, n, owner, kind, fl->l_type, start, end, false);
	if (!l) {
		fl->l_type = F_UNLCK;
		return 0;
	}
	fl->l_type = (short)l->type;
	fl->l_whence = SEEK_SET;
	fl->l_start = l->start;
	fl->l_len = l->end == INT64_MAX ? 0 : l->end - l->start + 1;
	fl->l_pid = l->pid;
	return 0;
}

/* Takes [start, end] for owner, replacing, splitting and merging what the
   owner held there, as POSIX says. */
static int set_range(struct memfs *m, struct mnode *n, uint64_t owner, uint32_t kind,
		     int type, int64_t start, int64_t end, pid_t pid, pid_t holder)
{
	uint64_t spare[2], *link;
	int used = 0;

	if (type != F_UNLCK && conflict(m, n, owner, kind, type, start, end, false))
		return -EAGAIN;
	/* Both objects a change may need, first, so it happens whole or not. */
	spare[0] = mem_alloc(m, sizeof(struct mlock));
	spare[1] = mem_alloc(m, sizeof(struct mlock));
	if (!spare[0] || !spare[1]) {
		mem_free(m, spare[0], sizeof(struct mlock));
		mem_free(m, spare[1], sizeof(struct mlock));
		return -ENOLCK;
	}
	for (link = &n->locks; *link;) {
		struct mlock *l = P(m, *link);

		if (!same_owner(l, owner, kind) || l->end < start || l->start > end) {
			/* Adjacent locks of the same type merge into the new one. */
			if (same_owner(l, owner, kind) && l->type == type &&
			    ((end != INT64_MAX && l->start == end + 1) ||
			     (start > 0 && l->end == start - 1))) {
				if (l->start < start)
					start = l->start;
				if (l->end > end)
					end = l->end;
				unlink_lock(m, link);
				continue;
			}
			link = &l->next;
			continue;
		}
		if (l->type == type && type != F_UNLCK) {
			/* The same type overlapping: absorb it. */
			if (l->start < start)
				start = l->start;
			if (l->end > end)
				end = l->end;
			unlink_lock(m, link);
			continue;
		}
		if (l->start < start && l->end > end) {
			struct mlock *r = P(m, spare[used]);

			*r = *l;
			r->start = end + 1;
			r->next = l->next;
			l->next = spare[used++];
			l->end = start - 1;
			link = &r->next;
			continue;
		}
		if (l->start < start) {
			l->end = start - 1;
		} else if (l->end > end) {
			l->start = end + 1;
		} else {
			unlink_lock(m, link);
			continue;
		}
		link = &l->next;
	}
	if (type != F_UNLCK) {
		struct mlock *l = P(m, spare[used]);

		l->owner = owner;
		l->kind = kind;
		l->type = type;
		l->start = start;
		l->end = end;
		l->pid = pid;
		l->holder = holder;
		/* Kept in order of start, so getlk reports the lowest
		   conflicting range first. */
		for (link = &n->locks; *link && ((struct mlock *)P(m, *link))->start <= start;)
			link = &((struct mlock *)P(m, *link))->next;
		l->next = *link;
		*link = spare[used++];
	}
	while (used < 2)
		mem_free(m, spare[used++], sizeof(struct mlock));
	/* Only an unlock or a read lock (which may replace a write lock) can
	   end another's wait: a write lock only takes more. */
	if (type != F_WRLCK)
		locks_changed(m);
	return 0;
}

/* The holder to record for a lock of a description (flock, OFD) taken by
   this process: the one already recorded for that description's lock if
   it still lives.  A forked child converting the lock of a description it
   shares with its parent must not make the lock die with it. */
static pid_t desc_holder(struct memfs *m, struct mnode *n, uint64_t owner, uint32_t kind)
{
	for (uint64_t o = n->locks; o; o = ((struct mlock *)P(m, o))->next) {
		struct mlock *l = P(m, o);

		if (same_owner(l, owner, kind) && l->holder != getpid() && !pid_gone(l->holder))
			return l->holder;
	}
	return getpid();
}

int lk_set(struct memfs *m, struct mnode *n, uint64_t owner, const struct flock *fl)
{
	bool ofd = fl->l_pid == -1;
	int64_t start, end;

	range_of(fl, &start, &end);
	return set_range(m, n, owner, ofd ? MLK_OFD : MLK_POSIX, fl->l_type, start, end,
			 fl->l_pid, ofd ? desc_holder(m, n, owner, MLK_OFD) : fl->l_pid);
}

int lk_flock(struct memfs *m, struct mnode *n, uint64_t owner, int op)
{
	int type;

	switch (op & ~LOCK_NB) {
	case LOCK_SH: type = F_RDLCK; break;
	case LOCK_EX: type = F_WRLCK; break;
	case LOCK_UN: type = F_UNLCK; break;
	default: return -EINVAL;
	}
	return set_range(m, n, owner, MLK_FLOCK, type, 0, INT64_MAX, -1,
			 desc_holder(m, n, owner, MLK_FLOCK));
}

void lk_free_all(struct memfs *m, struct mnode *n)
{
	if (!n->locks)
		return;
	while (n->locks)
		unlink_lock(m, &n->locks);
	locks_changed(m);
}

/* The kernel's posix_locks_deadlock: would owner's wait for blocker close
   a cycle of record lock owners each asleep for the next one's lock?  At
   most 10 steps, as there.  Entries of processes that died go. */
static bool would_deadlock(struct memfs *m, uint64_t owner, uint64_t blocker)
{
	for (int step = 0; step < 10 && blocker; step++) {
		uint64_t next = 0;

		if (blocker == owner)
			return true;
		for (int i = 0; i < MEMFS_WAITS; i++) {
			struct mwait *w = &m->h->waits[i];

			if (!w->tid || w->owner != blocker)
				continue;
			if (pid_gone(w->pid)) {
				w->tid = 0;
				continue;
			}
			next = w->blocker;
			break;
		}
		blocker = next;
	}
	return false;
}

int lk_wait_prepare(struct memfs *m, struct mnode *n, uint64_t owner, const struct flock *fl,
		    bool thorough, uint32_t *seen, struct mwait **entry)
{
	if (fl && fl->l_pid != -1) {
		/* a record lock: its wait is checked for deadlock and entered
		   for the next waiter's check (none if the table is full) */
		int64_t start, end;
		struct mlock *l;
		uint64_t blocker;
		struct mwait *slot = NULL;

		/* thorough: a holder that exited, not reaped yet, lets go */
		range_of(fl, &start, &end);
		l = conflict(m, n, owner, MLK_POSIX, fl->l_type, start, end, thorough);
		if (!l)
			return 1;
		blocker = l->kind == MLK_POSIX ? l->owner : 0;
		if (would_deadlock(m, owner, blocker))
			return -EDEADLK;
		for (int i = 0; i < MEMFS_WAITS && !slot; i++)
			if (!m->h->waits[i].tid)
				slot = &m->h->waits[i];
		for (int i = 0; i < MEMFS_WAITS && !slot; i++)
			if (pid_gone(m->h->waits[i].pid))
				slot = &m->h->waits[i];
		if (slot) {
			slot->owner = owner;
			slot->blocker = blocker;
			slot->pid = getpid();
			slot->tid = (int32_t)syscall(SYS_gettid);
			*entry = slot;
		}
	}
	__atomic_add_fetch(&m->h->lock_waiters, 1, __ATOMIC_ACQ_REL);
	*seen = __atomic_load_n(&m->h->lock_seq, __ATOMIC_ACQUIRE);
	return 0;
}

void lk_wait_done(struct mwait **entry)
{
	if (*entry)
		(*entry)->tid = 0;
	*entry = NULL;
}

int lk_wait(struct memfs *m, uint32_t seen)
{
	struct timespec t = { 0, LK_POLL_NS };
	int r, e;

	/* a signal that came while this thread looked at the locks ends
	   the wait as one that comes while it sleeps */
	if (defuse_waiting && defuse_waiting(1)) {
		r = -1;
		e = EINTR;
	} else {
		r = (int)syscall(SYS_futex, &m->h->lock_seq, FUTEX_WAIT, seen, &t, NULL, 0);
		e = errno;
	}
	if (defuse_waiting && defuse_waiting(0)) {
		r = -1;		/* a handler ran: the wait is over, as the kernel's */
		e = EINTR;
	}
	__atomic_sub_fetch(&m->h->lock_waiters, 1, __ATOMIC_ACQ_REL);
	if (r < 0 && e == EINTR)
		return -EINTR;
	return r < 0 && e == ETIMEDOUT;
}
