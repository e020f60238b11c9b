/*
 * Coherence between the processes of this machine.
 *
 * Through the kernel client every process of a machine shares one cache:
 * what one process changes, the next system call of any other sees.  Here
 * each process has a cache of its own (module.h), so they share instead a
 * table of change counters, one page-aligned file mapped by every process
 * that mounts the same server (in lockdir=, like the lock files):
 *
 *   g         counts every change made through the module on this machine
 *   s[i]      counts the changes of the files whose (fsid, fileid) hash
 *             to slot i
 *
 * After each change it made, a process bumps g and the slot of each file
 * (or directory) it changed.  A cached inode remembers the slot's value
 * its attributes are current for, a cached name the value of its
 * directory's slot: a different value now means someone changed the file
 * (or the directory's names) since, and the cache asks the server again.
 * A process's own changes keep its cache current (it applied them itself),
 * which it can tell when its bump is the only one since it looked (the slot
 * went from v to v + 1).  What an answer brings about a file not known
 * before the call (a LOOKUP's result) is current for the slot's value only
 * if nothing at all changed on the machine during the call (g still as it
 * was when the call went out); otherwise it is used once and asked again
 * next time.
 *
 * Collisions of slots only cost extra questions.  Changes made by other
 * machines are seen as the kernel client sees them: when attributes
 * expire (cache.c) and at open (close-to-open, file.c).
 */
#include "nfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GEN_BYTES (sizeof(struct gen_table))

uint64_t nfs_server_key(const struct nfsmod *m)
{
	uint64_t h = 14695981039346656037ULL;

	for (const char *p = m->o.server; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

void gen_open(struct nfsmod *m)
{
	char path[PATH_MAX + 32];
	struct stat st;
	void *p = MAP_FAILED;
	int fd;

	snprintf(path, sizeof(path), "%s/%016llx.gen", m->o.lockdir,
		 (unsigned long long)nfs_server_key(m));
	lockdir_make(m);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd >= 0) {
		/* the creator's umask is not everyone's */
		if (fstat(fd, &st) == 0 && st.st_uid == geteuid())
			fchmod(fd, 0666);
		if (fstat(fd, &st) == 0 && (size_t)st.st_size < GEN_BYTES &&
		    ftruncate(fd, (off_t)GEN_BYTES) < 0)
			st.st_size = -1;
		if (st.st_size >= 0)
			p = mmap(NULL, GEN_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	}
	if (p == MAP_FAILED) {
		/* no shared table: this process alone stays coherent */
		p = mmap(NULL, GEN_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
	}
	m->gen = p;
}

void gen_close(struct nfsmod *m)
{
	if (m->gen)
		munmap(m->gen, GEN_BYTES);
	m->gen = NULL;
}

static uint32_t *slot(struct nfsmod *m, uint64_t fsid, uint64_t fileid)
{
	static uint32_t none;
	uint64_t h = (fileid ^ (fsid * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;

	return m->gen ? &m->gen->s[(h >> 32) % GEN_SLOTS] : &none;
}

uint32_t gen_of(struct nfsmod *m, const struct inode *ino)
{
	return __atomic_load_n(slot(m, ino->fsid, ino->fileid), __ATOMIC_ACQUIRE);
}

uint32_t gen_of_id(struct nfsmod *m, uint64_t fsid, uint64_t fileid)
{
	return __atomic_load_n(slot(m, fsid, fileid), __ATOMIC_ACQUIRE);
}

uint32_t gen_global(struct nfsmod *m)
{
	return m->gen ? __atomic_load_n(&m->gen->g, __ATOMIC_ACQUIRE) : 0;
}

/*
 * Counts a change of this process's.  If it is the only one since the
 * last calls went out, answers of those calls still count as current
 * (cache.c, answer_gen): the change is this process's own, applied to its
 * cache by the caller.
 */
static void bump_global(struct nfsmod *m)
{
	uint32_t g = __atomic_add_fetch(&m->gen->g, 1, __ATOMIC_ACQ_REL);

	if (g == nfs_g_send + 1)
		nfs_g_send = g;
}

/*
 * This process changed ino (its slot read g0 before the call): tells the
 * others, and keeps its own cache of ino current if no one else changed
 * it meanwhile.  For a directory, also the run of its own changes, which
 * keeps the names it cached valid (cache.c, cache_name).
 */
void gen_mine(struct nfsmod *m, struct inode *ino, uint32_t g0)
{
	uint32_t v;

	if (!m->gen)
		return;
	bump_global(m);
	v = __atomic_add_fetch(slot(m, ino->fsid, ino->fileid), 1, __ATOMIC_ACQ_REL);
	if (v != g0 + 1) {
		/* someone else too: nothing of ino can be trusted */
		ino->own = false;
		ino->sgen = v - 1;
		return;
	}
	if (ino->sgen == g0)
		ino->sgen = v;
	if (ino->own && ino->own_to == g0) {
		ino->own_to = v;
	} else {
		ino->own = true;
		ino->own_from = g0;
		ino->own_to = v;
	}
}

/* A change to a file this process does not have in its cache. */
void gen_bump_id(struct nfsmod *m, uint64_t fsid, uint64_t fileid)
{
	if (!m->gen)
		return;
	bump_global(m);
	__atomic_add_fetch(slot(m, fsid, fileid), 1, __ATOMIC_ACQ_REL);
}
