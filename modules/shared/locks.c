/*
 * The shared server's lock table: record (F_SETLK), open-file-description
 * (F_OFD_SETLK) and flock locks of every client process, kept here rather
 * than by the wrapped module.  A module's own lock keeping counts on
 * running in the caller's process (the fuse module takes kernel locks on
 * carrier files: in the server every lock would be the server's, and no two
 * clients would ever conflict), so the one place that sees all callers
 * keeps them.  Callers hold the server's lock (server.c); nothing here
 * blocks: a conflict is EAGAIN, and the in-process host retries (module.h,
 * setlk: it never asks to wait).
 *
 * A file is its inode number (the wrapped module's fgetattr), so two opens
 * of one file meet.  Owners: a record lock's owner is its process ID; an
 * OFD or flock lock's is its open file description, and it lives exactly as
 * long as the server's open file (fh id) it was taken through.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include "shared.h"

#define END_INF UINT64_MAX

enum { REC, OFD, FLK };

struct lk {
	uint64_t ino, owner, fhid;
	uint64_t start, end;	/* inclusive; END_INF: to the end, however it grows */
	int cls, type;
	pid_t pid;
};

static struct lk *locks;
static size_t nlocks, caplocks;

/* Is process pid gone (or a zombie, which holds nothing any more)? */
int sh_pid_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int gone = 0;

	if (pid <= 0)
		return 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		gone = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return gone;
}

static void drop(size_t i)
{
	locks[i] = locks[--nlocks];
}

static int add(const struct lk *l)
{
	if (nlocks == caplocks) {
		size_t n = caplocks ? caplocks * 2 : 64;
		struct lk *p = realloc(locks, n * sizeof(*p));

		if (!p)
			return -ENOLCK;
		locks = p;
		caplocks = n;
	}
	locks[nlocks++] = *l;
	return 0;
}

static int same_owner(const struct lk *a, int cls, uint64_t owner)
{
	return a->cls == cls && a->owner == owner;
}

/* Does lock i stand in the way of (cls, owner, type, start..end)?  A record
   lock whose process is gone is dropped on the way (a client killed while
   its connection was still shared with a forked child, or one whose exit
   the server has not seen yet). */
static int conflicts(size_t i, uint64_t ino, int cls, uint64_t owner, int type,
		     uint64_t start, uint64_t end)
{
	struct lk *l = &locks[i];

	if (l->ino != ino || same_owner(l, cls, owner))
		return 0;
	if ((cls == FLK) != (l->cls == FLK))
		return 0;	/* flock and POSIX locks do not meet (Linux) */
	if (l->end < start || l->start > end)
		return 0;
	if (l->type != F_WRLCK && type != F_WRLCK)
		return 0;
	return 1;
}

/* The conflicting lock that starts first (the one the kernel's F_GETLK
   reports: its lists are in order of start), or -1. */
static long find_conflict(uint64_t ino, int cls, uint64_t owner, int type, uint64_t start,
			  uint64_t end)
{
	long best = -1;

	for (size_t i = 0; i < nlocks;) {
		if (!conflicts(i, ino, cls, owner, type, start, end)) {
			i++;
			continue;
		}
		if (locks[i].cls == REC && sh_pid_gone(locks[i].pid)) {
			drop(i);
			if (best == (long)nlocks)
				best = (long)i;	/* it moved into the hole */
			continue;
		}
		if (best < 0 || locks[i].start < locks[best].start)
			best = (long)i;
		i++;
	}
	return best;
}

static void range(const struct flock *fl, uint64_t *start, uint64_t *end)
{
	*start = (uint64_t)fl->l_start;
	*end = fl->l_len ? (uint64_t)(fl->l_start + fl->l_len - 1) : END_INF;
}

int sh_getlk(uint64_t ino, uint64_t owner, struct flock *fl)
{
	int cls = fl->l_pid == -1 ? OFD : REC;
	uint64_t start, end;
	long i;

	range(fl, &start, &end);
	i = find_conflict(ino, cls, owner, fl->l_type, start, end);
	if (i < 0) {
		fl->l_type = F_UNLCK;
		return 0;
	}
	fl->l_type = (short)locks[i].type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)locks[i].start;
	fl->l_len = locks[i].end == END_INF ? 0 : (off_t)(locks[i].end - locks[i].start + 1);
	fl->l_pid = locks[i].cls == OFD ? -1 : locks[i].pid;
	return 0;
}

/* Takes (or with F_UNLCK drops) the range for its owner: the owner's locks
   on it are replaced, split at its ends (POSIX). */
int sh_setlk(uint64_t ino, uint64_t fhid, uint64_t owner, const struct flock *fl)
{
	int cls = fl->l_pid == -1 ? OFD : REC;
	uint64_t start, end;
	struct lk nl;

	range(fl, &start, &end);
	if (fl->l_type != F_UNLCK && find_conflict(ino, cls, owner, fl->l_type, start, end) >= 0)
		return -EAGAIN;
	/* Room for the split of one lock into two pieces, before anything
	   changes: a failure leaves the table as it was. */
	if (nlocks + 2 > caplocks) {
		size_t n = caplocks ? caplocks * 2 : 64;
		struct lk *p = realloc(locks, n * sizeof(*p));

		if (!p)
			return -ENOLCK;
		locks = p;
		caplocks = n;
	}
	for (size_t i = 0; i < nlocks;) {
		struct lk *l = &locks[i];

		if (l->ino != ino || !same_owner(l, cls, owner) || l->end < start ||
		    l->start > end) {
			i++;
			continue;
		}
		if (l->start < start) {
			nl = *l;
			nl.end = start - 1;
			add(&nl);
			l = &locks[i];
		}
		if (l->end > end) {
			nl = *l;
			nl.start = end + 1;
			add(&nl);
		}
		drop(i);	/* the pieces went to the end: i is looked at again */
	}
	if (fl->l_type == F_UNLCK)
		return 0;
	memset(&nl, 0, sizeof(nl));
	nl.ino = ino;
	nl.owner = owner;
	nl.fhid = fhid;
	nl.cls = cls;
	nl.type = fl->l_type;
	nl.start = start;
	nl.end = end;
	nl.pid = fl->l_pid;
	return add(&nl);
}

int sh_flock(uint64_t ino, uint64_t fhid, uint64_t owner, int op)
{
	int kind = op & ~LOCK_NB, type = kind == LOCK_EX ? F_WRLCK : F_RDLCK;
	struct lk nl;

	if (kind != LOCK_UN && kind != LOCK_SH && kind != LOCK_EX)
		return -EINVAL;
	if (kind != LOCK_UN && find_conflict(ino, FLK, owner, type, 0, END_INF) >= 0)
		return -EWOULDBLOCK;
	for (size_t i = 0; i < nlocks;) {
		if (locks[i].ino == ino && same_owner(&locks[i], FLK, owner))
			drop(i);
		else
			i++;
	}
	if (kind == LOCK_UN)
		return 0;
	memset(&nl, 0, sizeof(nl));
	nl.ino = ino;
	nl.owner = owner;
	nl.fhid = fhid;
	nl.cls = FLK;
	nl.type = type;
	nl.start = 0;
	nl.end = END_INF;
	return add(&nl);
}

/* The open file fhid is gone from every process: its OFD and flock locks
   go with it. */
void sh_locks_fh_gone(uint64_t fhid)
{
	for (size_t i = 0; i < nlocks;) {
		if (locks[i].cls != REC && locks[i].fhid == fhid)
			drop(i);
		else
			i++;
	}
}

/* Process pid has left (its connection closed): its record locks go,
   unless it lives on (it exec'd: POSIX keeps record locks across exec;
   they are dropped later, at a conflict, once it has gone). */
void sh_locks_pid_gone(pid_t pid)
{
	if (!sh_pid_gone(pid))
		return;
	for (size_t i = 0; i < nlocks;) {
		if (locks[i].cls == REC && locks[i].pid == pid)
			drop(i);
		else
			i++;
	}
}
