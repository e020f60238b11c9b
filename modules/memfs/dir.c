/*
 * Directories and path walks.  A directory is an array of entries in the
 * order they were added; each entry's cookie (which gives its readdir
 * position: listings go newest first, as tmpfs's, ops.c) is fixed for
 * its life, so a listing resumed at a position after concurrent
 * changes neither repeats nor skips an entry that stayed (a renamed one is
 * a new entry and may be seen twice or not at all, as on tmpfs).
 *
 * Names are found through an index per directory: open addressing over
 * the names' 32-bit hashes, each slot the position of an entry in the
 * array plus one (0: empty).  A removed entry stays in the array as a
 * hole (ino DEAD) until holes outnumber the live entries, when the array
 * is compacted (cookies, and so the listing order, kept) and the index
 * made again; so a lookup, an addition and a removal cost the same in a
 * directory of a million entries as in one of ten.  Caller holds the lock.
 */
#include "memfs.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define DEAD 0			/* the ino of a removed entry (no inode is at 0) */
#define INDEX_MIN 16

static uint32_t hash_name(const char *s, size_t len)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (len--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct mdent *dir_entries(struct memfs *m, struct mnode *d)
{
	return P(m, d->data);
}

bool dir_entry_live(const struct mdent *e)
{
	return e->ino != DEAD;
}

/* Puts array position pos, of name hash h, into the first free slot. */
static void index_put(uint32_t *slot, uint64_t cap, uint32_t h, uint64_t pos)
{
	uint64_t j = h & (cap - 1);

	while (slot[j])
		j = (j + 1) & (cap - 1);
	slot[j] = (uint32_t)(pos + 1);
}

/* Puts the live entries of d's array into an index of cap slots. */
static void index_fill(struct memfs *m, struct mnode *d, uint64_t idx, uint64_t cap)
{
	uint32_t *slot = P(m, idx);
	struct mdent *e = dir_entries(m, d);

	memset(slot, 0, cap * sizeof(*slot));
	for (uint64_t i = 0; i < d->used; i++)
		if (e[i].ino != DEAD)
			index_put(slot, cap, e[i].hash, i);
}

/* An index with room for want entries at half load: its offset, or 0. */
static uint64_t index_new(struct memfs *m, uint64_t want, uint64_t *cap)
{
	*cap = INDEX_MIN;
	while (*cap < want * 2)
		*cap *= 2;
	return mem_alloc(m, *cap * sizeof(uint32_t));
}

static void index_replace(struct memfs *m, struct mnode *d, uint64_t idx, uint64_t cap)
{
	if (d->index)
		mem_free(m, d->index, d->index_cap * sizeof(uint32_t));
	d->index = idx;
	d->index_cap = cap;
	index_fill(m, d, idx, cap);
}

static ssize_t dir_index(struct memfs *m, struct mnode *d, const char *name, size_t len)
{
	struct mdent *e = dir_entries(m, d);
	uint32_t h = hash_name(name, len), *slot;

	if (!d->index)
		return -1;	/* never had an entry */
	slot = P(m, d->index);
	for (uint64_t j = h & (d->index_cap - 1); slot[j]; j = (j + 1) & (d->index_cap - 1)) {
		struct mdent *x = &e[slot[j] - 1];

		if (x->ino != DEAD && x->hash == h && x->len == len &&
		    memcmp(P(m, x->name), name, len) == 0)
			return (ssize_t)(slot[j] - 1);
	}
	return -1;
}

int dir_find(struct memfs *m, struct mnode *d, const char *name, size_t len, uint64_t *ino)
{
	ssize_t i = dir_index(m, d, name, len);

	if (i < 0)
		return -ENOENT;
	*ino = dir_entries(m, d)[i].ino;
	return 0;
}

/* Adds name -> ino at the end (the caller checked it is free), and counts
   a subdirectory's ".." in d's links.  Times are the caller's. */
int dir_add(struct memfs *m, uint64_t dir, const char *name, size_t len, uint64_t ino)
{
	struct mnode *d = N(m, dir), *n = N(m, ino);
	struct mdent *e;
	uint64_t nm;

	if (d->used == d->cap) {
		uint64_t cap = d->cap ? d->cap * 2 : 8;
		uint64_t arr = mem_alloc(m, cap * sizeof *e);

		if (!arr)
			return -ENOSPC;
		if (d->used)
			memcpy(P(m, arr), P(m, d->data), d->used * sizeof *e);
		mem_free(m, d->data, d->cap * sizeof *e);
		d->data = arr;
		d->cap = cap;
	}
	if ((d->used + 1) * 2 > d->index_cap) {
		uint64_t cap, idx = index_new(m, d->used + 1, &cap);

		if (!idx)
			return -ENOSPC;
		index_replace(m, d, idx, cap);
	}
	if (!(nm = mem_alloc(m, len + 1)))
		return -ENOSPC;
	memcpy(P(m, nm), name, len);
	e = dir_entries(m, d) + d->used;
	e->ino = ino;
	e->cookie = d->next_cookie++;
	e->name = nm;
	e->hash = hash_name(name, len);
	e->len = (uint16_t)len;
	e->type = dt_of(n->mode);
	index_put(P(m, d->index), d->index_cap, e->hash, d->used++);
	d->size++;
	n->parent = dir;	/* a file's: where to look for its name (fh_path) */
	if (S_ISDIR(n->mode))
		d->nlink++;
	return 0;
}

/* Removes the entry; the caller drops the inode's links.  Once holes
   outnumber entries, the array is compacted when the new index can be had
   (else later). */
void dir_del(struct memfs *m, struct mnode *d, const char *name, size_t len)
{
	ssize_t i = dir_index(m, d, name, len);
	struct mdent *e = dir_entries(m, d);
	uint64_t idx, cap, k = 0;

	if (i < 0)
		return;
	if (e[i].type == DT_DIR)
		d->nlink--;
	mem_free(m, e[i].name, e[i].len + 1);
	e[i].ino = DEAD;
	e[i].type = DT_UNKNOWN;
	d->size--;
	if (d->used < 32 || d->used - d->size <= d->size || !(idx = index_new(m, d->size, &cap)))
		return;
	for (uint64_t j = 0; j < d->used; j++)
		if (e[j].ino != DEAD)
			e[k++] = e[j];
	d->used = k;
	index_replace(m, d, idx, cap);
}

/* Points an existing entry at another inode (rename over a name). */
void dir_set(struct memfs *m, struct mnode *d, const char *name, size_t len, uint64_t ino)
{
	ssize_t i = dir_index(m, d, name, len);
	struct mdent *e = dir_entries(m, d);
	struct mnode *n = N(m, ino);
	uint64_t dir = (uint64_t)((char *)d - m->base);

	if (i < 0)
		return;
	if (e[i].type == DT_DIR)
		d->nlink--;
	e[i].ino = ino;
	e[i].type = dt_of(n->mode);
	n->parent = dir;
	if (S_ISDIR(n->mode))
		d->nlink++;
}

bool dir_empty(struct memfs *m, struct mnode *d)
{
	(void)m;
	return d->size == 0;
}

void dir_free(struct memfs *m, struct mnode *d)
{
	struct mdent *e = dir_entries(m, d);

	for (uint64_t i = 0; i < d->used; i++)
		if (e[i].ino != DEAD)
			mem_free(m, e[i].name, e[i].len + 1);
	mem_free(m, d->data, d->cap * sizeof *e);
	if (d->index)
		mem_free(m, d->index, d->index_cap * sizeof(uint32_t));
	d->data = d->cap = d->size = d->used = d->index = d->index_cap = 0;
}

/*
 * Walks path from dir.  The host hands over resolved paths, but a link in
 * the last component is followed here when asked (and any link met on the
 * way, for robustness): relative targets from the link's directory; an
 * absolute one, or ".." above the root, would leave the mount: EXDEV.
 */
static int walk_from(struct memfs *m, struct cred *c, uint64_t cur, const char *p,
		     bool follow, int *depth, uint64_t *out)
{
	while (*p) {
		struct mnode *d = N(m, cur);
		const char *s;
		size_t len;
		uint64_t next;
		bool last;
		int r;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		for (s = p; *s && *s != '/'; s++)
			;
		len = (size_t)(s - p);
		last = true;
		for (const char *t = s; *t; t++)
			if (*t != '/')
				last = false;
		if (!S_ISDIR(d->mode))
			return -ENOTDIR;
		if ((r = may(m, c, d, X_OK)) < 0)
			return r;
		if (len > MEMFS_NAME_MAX)
			return -ENAMETOOLONG;
		if (len == 1 && p[0] == '.') {
			next = cur;
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (cur == m->h->root)
				return -EXDEV;
			next = d->parent;
		} else if ((r = dir_find(m, d, p, len, &next)) < 0) {
			return r;
		}
		if (S_ISLNK(N(m, next)->mode) && (!last || follow || *s == '/')) {
			const char *target = P(m, N(m, next)->data);

			if (++*depth > MEMFS_SYMLOOP)
				return -ELOOP;
			if (target[0] == '/')
				return -EXDEV;
			if ((r = walk_from(m, c, cur, target, true, depth, &next)) < 0)
				return r;
		}
		if (*s == '/' && last && !S_ISDIR(N(m, next)->mode))
			return -ENOTDIR;
		cur = next;
		p = s;
	}
	*out = cur;
	return 0;
}

int walk(struct memfs *m, struct cred *c, const char *path, bool follow, uint64_t *ino)
{
	int depth = 0;

	return walk_from(m, c, m->h->root, path, follow, &depth, ino);
}

/* The directory holding path's last component, searchable by the caller,
   and that component (len 0 for the root itself). */
int walk_parent(struct memfs *m, struct cred *c, const char *path, uint64_t *dir,
		const char **name, size_t *len)
{
	char buf[4096];
	size_t n = strlen(path), k;
	int r;

	while (n > 1 && path[n - 1] == '/')
		n--;
	for (k = n; k > 0 && path[k - 1] != '/'; k--)
		;
	*name = path + k;
	*len = n - k;
	if (k >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, k);
	buf[k] = 0;
	if ((r = walk(m, c, buf, true, dir)) < 0)
		return r;
	if (!S_ISDIR(N(m, *dir)->mode))
		return -ENOTDIR;
	if (*len == 0)
		return 0;
	if (*len > MEMFS_NAME_MAX)
		return -ENAMETOOLONG;
	return may(m, c, N(m, *dir), X_OK);
}
