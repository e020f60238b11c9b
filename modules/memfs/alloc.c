/*
 * Space inside the segment: power-of-two size classes, each with a free
 * list threaded through its free objects, fed from a bump pointer.  Objects
 * are aligned to their size (up to a page), so data pages are page-aligned.
 * Freed space is reused by its class, never returned to the system (the
 * segment's pages stay resident once touched).  When the bump pointer
 * reaches the end, a free object of a larger class is split for a smaller
 * one (its halves go to the classes below), so that freed data pages serve
 * inodes and names; freed small objects are not joined again.  Caller
 * holds the lock.
 */
#include "memfs.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define RESERVE_CHUNK (4ULL << 20)

/*
 * The segment's file is sparse, and tmpfs answers the first touch of a page
 * it has no room for (/dev/shm full) with SIGBUS: the program would die
 * where a full file system says ENOSPC.  So before the bump pointer passes
 * the part of the segment known to have its pages, the next chunk (4 MiB)
 * is populated with MADV_POPULATE_WRITE, which says EFAULT or ENOMEM
 * instead; the allocation then fails as a full memfs's does.  Everything
 * below the bump pointer was touched when it was handed out.  0, or -1.
 */
static int reserve(struct memfs *m, uint64_t end)
{
	static int unsupported;	/* a kernel before 5.14: as before, no check */
	struct seg_hdr *h = m->h;
	uint64_t have = (uint64_t)h->reserved_mb << 20, floor = h->brk & ~(RESERVE_CHUNK - 1), to;

	if (end <= have || __atomic_load_n(&unsupported, __ATOMIC_RELAXED))
		return 0;
	if (have < floor)
		have = floor;
	to = (end + RESERVE_CHUNK - 1) & ~(RESERVE_CHUNK - 1);
	if (to > h->size)
		to = h->size;
	if (to > have && madvise(m->base + have, to - have, MADV_POPULATE_WRITE) < 0) {
		if (errno == EINVAL) {
			__atomic_store_n(&unsupported, 1, __ATOMIC_RELAXED);
			return 0;
		}
		return -1;
	}
	h->reserved_mb = (uint32_t)(to >> 20);
	return 0;
}

static unsigned class_of(uint64_t size)
{
	unsigned c = MEMFS_MIN_CLASS;

	while (c < MEMFS_NCLASS - 1 && (1ULL << c) < size)
		c++;
	return c;
}

uint64_t mem_class_size(uint64_t size)
{
	return 1ULL << class_of(size);
}

/* An object of class c cut from the smallest larger free one, whose other
   halves go down the classes between; 0 if there is none. */
static uint64_t split_larger(struct memfs *m, unsigned c)
{
	struct seg_hdr *h = m->h;
	unsigned k = c + 1;
	uint64_t off;

	while (k < MEMFS_NCLASS && !h->free[k])
		k++;
	if (k >= MEMFS_NCLASS)
		return 0;
	off = h->free[k];
	h->free[k] = *(uint64_t *)P(m, off);
	while (k-- > c) {
		uint64_t half = off + (1ULL << k);

		*(uint64_t *)P(m, half) = h->free[k];
		h->free[k] = half;
	}
	return off;
}

uint64_t mem_alloc(struct memfs *m, uint64_t size)
{
	struct seg_hdr *h = m->h;
	unsigned c = class_of(size);
	uint64_t sz = 1ULL << c, align = sz < MEMFS_PAGE ? sz : MEMFS_PAGE, off;

	if (size > m->size)
		return 0;
	if ((off = h->free[c])) {
		h->free[c] = *(uint64_t *)P(m, off);
	} else {
		off = (h->brk + align - 1) & ~(align - 1);
		if (off + sz > h->size || off + sz < off || reserve(m, off + sz) < 0) {
			if ((off = split_larger(m, c)))
				goto got;
			/* Full: removed files whose holders are all gone
			   (killed) are freed first (openers.c), then again. */
			if (h->orphans && orphans_reap(m))
				return mem_alloc(m, size);
			return 0;
		}
		h->brk = off + sz;
	}
got:
	memset(P(m, off), 0, sz);
	h->used += sz;
	return off;
}

void mem_free(struct memfs *m, uint64_t off, uint64_t size)
{
	unsigned c = class_of(size);

	if (!off)
		return;
	*(uint64_t *)P(m, off) = m->h->free[c];
	m->h->free[c] = off;
	m->h->used -= 1ULL << c;
}
