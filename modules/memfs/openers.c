/*
 * Who holds an inode open, so that a file removed while open is freed when
 * its last holder is gone, even when that holder was killed.
 *
 * An inode's `opens` counts the open handles of every process.  A process
 * that ends without releasing them (killed, or an exec, whose new image
 * opens its files again) would keep a removed file's data forever, and a
 * stress tool that kills its workers fills the segment that way.  So each
 * handle has an opener record in the segment (the inode and the process
 * holding it), and an inode with no links and open handles is an orphan,
 * on a list.  When memory runs out, the orphans' openers whose process no
 * longer exists are dropped, which frees the orphans they alone held.
 * A process ID reused meanwhile keeps its dead predecessor's records (and
 * so the file) until it ends too.  Caller holds the segment's lock.
 */
#include "memfs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

uint64_t opener_add(struct memfs *m, uint64_t ino, pid_t pid)
{
	struct mnode *n = N(m, ino);
	uint64_t off = mem_alloc(m, sizeof(struct mopener));
	struct mopener *o;

	if (!off)
		return 0;
	o = P(m, off);
	o->ino = ino;
	o->pid = pid;
	o->next = n->openers;
	o->prev = 0;
	if (o->next)
		((struct mopener *)P(m, o->next))->prev = off;
	n->openers = off;
	n->opens++;
	orphan_check(m, ino);
	return off;
}

/* O(1): a file held open N times (N inherited descriptors) is closed N
   times, which a walk of the list made O(N^2). */
void opener_drop(struct memfs *m, uint64_t off)
{
	struct mopener *o = P(m, off);
	struct mnode *n = N(m, o->ino);

	if (o->prev)
		((struct mopener *)P(m, o->prev))->next = o->next;
	else
		n->openers = o->next;
	if (o->next)
		((struct mopener *)P(m, o->next))->prev = o->prev;
	n->opens--;
	mem_free(m, off, sizeof(struct mopener));
}

void orphan_check(struct memfs *m, uint64_t ino)
{
	struct mnode *n = N(m, ino);

	if (n->nlink == 0 && n->opens > 0 && !(n->flags & MN_ORPHAN)) {
		n->flags |= MN_ORPHAN;
		n->orphan_next = m->h->orphans;
		m->h->orphans = ino;
	}
}

void orphan_forget(struct memfs *m, uint64_t ino)
{
	uint64_t *link = &m->h->orphans;

	if (!(N(m, ino)->flags & MN_ORPHAN))
		return;
	while (*link && *link != ino)
		link = &N(m, *link)->orphan_next;
	if (*link)
		*link = N(m, ino)->orphan_next;
	N(m, ino)->flags &= ~MN_ORPHAN;
}

/*
 * Has process pid ended?  No such process, or one that has exited and
 * waits to be reaped (a zombie: /proc/PID/stat's state after the name, Z
 * or X).  The kernel drops a process's locks as it exits, before its
 * parent reaps it, and a parent may well wait for such a lock first (a
 * child that exits holding a record lock the parent then asks for with
 * F_SETLKW).  No allocation, no stdio: operations may run in a signal
 * handler.
 */
bool pid_missing(pid_t pid)
{
	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

bool pid_gone(pid_t pid)
{
	char path[32] = "/proc/", digits[12], buf[512], *state;
	int n = 0, len = 6, fd;
	ssize_t got;

	if (pid <= 0)
		return false;
	if (pid_missing(pid))
		return true;
	for (unsigned v = (unsigned)pid; v; v /= 10)
		digits[n++] = (char)('0' + v % 10);
	while (n)
		path[len++] = digits[--n];
	memcpy(path + len, "/stat", 6);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return false;
	buf[got] = 0;
	/* "PID (NAME) S ...": the name may hold anything, ")" too */
	state = strrchr(buf, ')');
	return state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X');
}

int orphans_reap(struct memfs *m)
{
	int freed = 0;

	for (uint64_t ino = m->h->orphans, next; ino; ino = next) {
		struct mnode *n = N(m, ino);

		next = n->orphan_next;
		for (uint64_t off = n->openers, after; off; off = after) {
			struct mopener *o = P(m, off);

			after = o->next;
			if (pid_gone(o->pid))
				opener_drop(m, off);
		}
		if (n->opens == 0) {
			node_put(m, ino);	/* frees it, off the list */
			freed++;
		}
	}
	return freed;
}
