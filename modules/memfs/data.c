/*
 * Regular files' data: a flat table of page offsets, one per 4 KiB of the
 * file, grown by doubling; a 0 entry is a hole, read as zeros and not
 * counted in st_blocks.  Caller holds the lock.
 */
#include "memfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PG MEMFS_PAGE

static uint64_t *table(struct memfs *m, struct mnode *n)
{
	return P(m, n->data);
}

/* The largest file size: what the segment could hold, in whole pages. */
uint64_t data_max(struct memfs *m)
{
	return m->size & ~(uint64_t)(PG - 1);
}

/* Room in the table for page index idx. */
static int grow(struct memfs *m, struct mnode *n, uint64_t idx)
{
	uint64_t cap = n->cap ? n->cap : 4, t;

	if (idx < n->cap)
		return 0;
	while (cap <= idx)
		cap *= 2;
	if (!(t = mem_alloc(m, cap * 8)))
		return -ENOSPC;
	if (n->cap)
		memcpy(P(m, t), P(m, n->data), n->cap * 8);
	mem_free(m, n->data, n->cap * 8);
	n->data = t;
	n->cap = cap;
	return 0;
}

/* The page of index idx, allocated if it was a hole; 0: no space. */
static uint64_t page_at(struct memfs *m, struct mnode *n, uint64_t idx)
{
	uint64_t pg;

	if (grow(m, n, idx) < 0)
		return 0;
	if ((pg = table(m, n)[idx]))
		return pg;
	if (!(pg = mem_alloc(m, PG)))
		return 0;
	table(m, n)[idx] = pg;
	n->pages++;
	return pg;
}

ssize_t data_read(struct memfs *m, struct mnode *n, char *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	if (off >= n->size)
		return 0;
	if (size > n->size - off)
		size = (size_t)(n->size - off);
	while (done < size) {
		uint64_t idx = (off + done) / PG, in = (off + done) % PG;
		size_t k = PG - in < size - done ? PG - in : size - done;
		uint64_t pg = idx < n->cap ? table(m, n)[idx] : 0;

		if (pg)
			memcpy(buf + done, (char *)P(m, pg) + in, k);
		else
			memset(buf + done, 0, k);
		done += k;
	}
	return (ssize_t)done;
}

ssize_t data_write(struct memfs *m, struct mnode *n, const char *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	if (size == 0)
		return 0;
	/* Any offset up to MAX_LFS_FILESIZE, as tmpfs: a write far out
	   costs its pages and the page table up to it, ENOSPC when the
	   segment cannot hold that. */
	if (off >= (uint64_t)INT64_MAX)
		return -EFBIG;
	if (size > (uint64_t)INT64_MAX - off)
		size = (size_t)((uint64_t)INT64_MAX - off);
	while (done < size) {
		uint64_t idx = (off + done) / PG, in = (off + done) % PG;
		size_t k = PG - in < size - done ? PG - in : size - done;
		uint64_t pg = page_at(m, n, idx);

		if (!pg)
			break;
		memcpy((char *)P(m, pg) + in, buf + done, k);
		done += k;
	}
	if (done == 0)
		return -ENOSPC;
	if (off + done > n->size)
		n->size = off + done;
	return (ssize_t)done;
}

/* Frees the whole pages in [from, to) (page indexes). */
static void free_pages(struct memfs *m, struct mnode *n, uint64_t from, uint64_t to)
{
	uint64_t *t = table(m, n);

	for (uint64_t i = from; i < to && i < n->cap; i++)
		if (t[i]) {
			mem_free(m, t[i], PG);
			t[i] = 0;
			n->pages--;
		}
}

/* Zeros [off, off+len) inside one page, if it is there. */
static void zero_in_page(struct memfs *m, struct mnode *n, uint64_t off, uint64_t len)
{
	uint64_t idx = off / PG;
	uint64_t pg = idx < n->cap ? table(m, n)[idx] : 0;

	if (pg && len)
		memset((char *)P(m, pg) + off % PG, 0, len);
}

int data_truncate(struct memfs *m, struct mnode *n, uint64_t size)
{
	/* Any sparse size up to MAX_LFS_FILESIZE, as tmpfs: the page table
	   grows only with pages written. */
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (size <= n->size) {
		/* The tail of the last page must read as zeros if the file
		   grows again.  Pages past the end go, those fallocate
		   (FALLOC_FL_KEEP_SIZE) put past the old end too, as tmpfs
		   drops them (else a file freed at size 0 left them behind). */
		if (size % PG)
			zero_in_page(m, n, size, PG - size % PG);
		free_pages(m, n, (size + PG - 1) / PG, n->cap);
	}
	n->size = size;
	if (size == 0 && n->cap) {
		mem_free(m, n->data, n->cap * 8);
		n->data = n->cap = 0;
	}
	return 0;
}

int data_allocate(struct memfs *m, struct mnode *n, uint64_t off, uint64_t len)
{
	if (off + len < off || off + len > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (off + len > data_max(m))
		return -ENOSPC;	/* more than the segment holds, as a full tmpfs */
	for (uint64_t i = off / PG; i < (off + len + PG - 1) / PG; i++)
		if (!page_at(m, n, i))
			return -ENOSPC;
	return 0;
}

void data_punch(struct memfs *m, struct mnode *n, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, first = (off + PG - 1) / PG, last = end / PG;

	if (end < off || end > n->cap * PG)
		end = n->cap * PG;
	if (off >= end)
		return;
	last = end / PG;
	if (first > last) {	/* inside one page */
		zero_in_page(m, n, off, end - off);
		return;
	}
	zero_in_page(m, n, off, first * PG - off);
	free_pages(m, n, first, last);
	if (end % PG)
		zero_in_page(m, n, last * PG, end % PG);
}

/* SEEK_DATA, SEEK_HOLE at page granularity (allocated pages are data). */
int64_t data_seek(struct memfs *m, struct mnode *n, uint64_t off, int whence)
{
	uint64_t i;

	if (off >= n->size)
		return -ENXIO;
	for (i = off / PG; i * PG < n->size; i++) {
		bool data = i < n->cap && table(m, n)[i];

		if (i >= n->cap) {	/* a hole to the end: no page past the table */
			uint64_t at = i * PG > off ? i * PG : off;

			return whence == SEEK_DATA ? -ENXIO : (int64_t)at;
		}

		if (data == (whence == SEEK_DATA)) {
			uint64_t at = i * PG > off ? i * PG : off;

			return (int64_t)(at < n->size ? at : n->size);
		}
	}
	return whence == SEEK_DATA ? -ENXIO : (int64_t)n->size;
}
