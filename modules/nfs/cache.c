/*
 * What this process knows about the server's files, so that most calls
 * need no round trip (35-60 us each here, against 1 us for a local stat).
 *
 * Inodes: a file's handle and attributes, by (fsid, fileid), so every name
 * of a file (hard links) and every open file share one copy, updated by
 * every answer that carries attributes (most do: NFSv3's post-operation
 * attributes).  Attributes are trusted for a while, as the kernel client
 * trusts them (nfs(5), "DATA AND METADATA COHERENCE"): a timeout between
 * acregmin and acregmax for files (acdirmin, acdirmax for directories),
 * which starts at the minimum, doubles each time the server's answer shows
 * the file unchanged and falls back to the minimum when it changed.  With
 * all four 0 (noac) nothing is trusted.
 *
 * Names: a path below the mount's root -> the inode it named when last
 * looked up.  A name is trusted as long as its inode's attributes are: an
 * expired one is looked up again (walk.c), which also notices a name that
 * another client removed or pointed elsewhere.  Only names that exist are
 * kept (no negative entries: a file another client created is seen at
 * once).  This process's own changes update the names at once (meta.c).
 *
 * Everything is per process (module.h: each process has its own instance);
 * the kernel client shares one cache among the processes of a machine, so
 * what one process wrote another sees no later than the kernel client
 * would see a change made on another machine, and at once after a close and
 * an open (close-to-open, file.c).
 */
#include "nfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 16384
#define MAX_ENTRIES 200000	/* then the whole cache starts over */

int cache_init(struct cache *c)
{
	c->nbuckets = BUCKETS;
	c->inodes = calloc(BUCKETS, sizeof(*c->inodes));
	c->names = calloc(BUCKETS, sizeof(*c->names));
	c->ninodes = c->nnames = 0;
	if (!c->inodes || !c->names) {
		free(c->inodes);
		free(c->names);
		return -ENOMEM;
	}
	return 0;
}

void cache_clear(struct cache *c)
{
	for (uint32_t i = 0; i < c->nbuckets; i++) {
		for (struct inode *n = c->inodes[i], *next; n; n = next) {
			next = n->next;
			free(n->link);
			free(n);
		}
		for (struct dentry *d = c->names[i], *next; d; d = next) {
			next = d->next;
			free(d);
		}
		c->inodes[i] = NULL;
		c->names[i] = NULL;
	}
	c->ninodes = c->nnames = 0;
}

/* Forgets every name (inodes stay: callers may hold them). */
void cache_forget_names(struct cache *c)
{
	for (uint32_t i = 0; i < c->nbuckets; i++) {
		for (struct dentry *d = c->names[i], *next; d; d = next) {
			next = d->next;
			free(d);
		}
		c->names[i] = NULL;
	}
	c->nnames = 0;
}

/* At the start of an operation, when no inode is held: a cache grown past
   its bound starts over. */
void cache_trim(struct cache *c)
{
	if (c->ninodes >= MAX_ENTRIES || c->nnames >= MAX_ENTRIES)
		cache_clear(c);
}

void cache_free(struct cache *c)
{
	if (!c->inodes)
		return;
	cache_clear(c);
	free(c->inodes);
	free(c->names);
	c->inodes = NULL;
	c->names = NULL;
}

static uint32_t ino_hash(uint64_t fsid, uint64_t fileid)
{
	uint64_t h = (fileid ^ (fsid * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;

	return (uint32_t)(h >> 40);
}

static uint32_t path_hash(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

struct inode *cache_inode(struct nfsmod *m, uint64_t fsid, uint64_t fileid)
{
	struct cache *c = &m->cache;

	for (struct inode *n = c->inodes[ino_hash(fsid, fileid) & (c->nbuckets - 1)]; n;
	     n = n->next)
		if (n->fileid == fileid && n->fsid == fsid)
			return n;
	return NULL;
}

static bool is_dir(const fattr3 *a)
{
	return a->type == NF3DIR;
}

static bool same(const fattr3 *a, const fattr3 *b)
{
	return a->mtime.seconds == b->mtime.seconds && a->mtime.nseconds == b->mtime.nseconds &&
	       a->ctime.seconds == b->ctime.seconds && a->ctime.nseconds == b->ctime.nseconds &&
	       a->size == b->size;
}

/* The timeout after an answer, and the new expiry. */
static void retime(struct nfsmod *m, struct inode *n, const fattr3 *a, bool changed)
{
	int64_t lo = is_dir(a) ? m->acdirmin : m->acregmin;
	int64_t hi = is_dir(a) ? m->acdirmax : m->acregmax;

	if (changed || n->timeo < lo)
		n->timeo = lo;
	else if (n->timeo * 2 <= hi)
		n->timeo *= 2;
	else
		n->timeo = hi;
	n->expires = now_ns() + n->timeo;
}

/* The slot value an answer's attributes are current for (gen.c): the
   slot's now if nothing changed on the machine since the call went out,
   else one that is not current. */
static uint32_t answer_gen(struct nfsmod *m, const fattr3 *a)
{
	uint32_t now = gen_of_id(m, a->fsid, a->fileid);

	return gen_global(m) == nfs_g_send ? now : now - 1;
}

struct inode *cache_attr(struct nfsmod *m, const struct fh *fh, const fattr3 *a, bool mine)
{
	struct cache *c = &m->cache;
	struct inode *n = cache_inode(m, a->fsid, a->fileid);
	uint32_t b;

	if (n) {
		bool changed = mine || !same(&n->attr, a);

		if (fh && (fh->len != n->fh.len || memcmp(fh->data, n->fh.data, fh->len))) {
			/* the file id went to another file (tmpfs reuses numbers) */
			n->fh = *fh;
			free(n->link);
			n->link = NULL;
			changed = true;
		}
		n->attr = *a;
		n->sgen = answer_gen(m, a);
		retime(m, n, a, changed);
		return n;
	}
	if (!fh)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->fsid = a->fsid;
	n->fileid = a->fileid;
	n->fh = *fh;
	n->attr = *a;
	n->sgen = answer_gen(m, a);
	retime(m, n, a, true);
	b = ino_hash(a->fsid, a->fileid) & (c->nbuckets - 1);
	n->next = c->inodes[b];
	c->inodes[b] = n;
	c->ninodes++;
	return n;
}

void cache_attr_nofh(struct nfsmod *m, const fattr3 *a)
{
	struct inode *n = cache_inode(m, a->fsid, a->fileid);

	if (n) {
		bool changed = !same(&n->attr, a);

		n->attr = *a;
		n->sgen = answer_gen(m, a);
		retime(m, n, a, changed);
	}
}

/* Trusted: not expired, not changed by this machine's processes since,
   and not a file the server said has no name left (its names are asked
   for again: the server's side removed it). */
bool cache_fresh(struct nfsmod *m, const struct inode *ino)
{
	return now_ns() < ino->expires && gen_of(m, ino) == ino->sgen && ino->attr.nlink != 0;
}

void cache_expire(struct inode *ino)
{
	ino->expires = 0;
}

static struct dentry **name_slot(struct nfsmod *m, const char *path, size_t len,
				 uint32_t *hash)
{
	struct cache *c = &m->cache;
	uint32_t h = path_hash(path, len);
	struct dentry **p = &c->names[h & (c->nbuckets - 1)];

	*hash = h;
	for (; *p; p = &(*p)->next)
		if ((*p)->hash == h && (*p)->len == len && !memcmp((*p)->path, path, len))
			break;
	return p;
}

/* The name is of dir, and dir's slot says nothing changed its names since
   (or only this process did: its run of own changes covers the stamp). */
static bool name_current(struct nfsmod *m, const struct dentry *d, const struct inode *dir)
{
	uint32_t now;

	if (d->pfileid != dir->fileid || d->pfsid != dir->fsid)
		return false;
	now = gen_of(m, dir);
	return now == d->pgen || (dir->own && dir->own_to == now &&
				  (uint32_t)(d->pgen - dir->own_from) <=
					  (uint32_t)(dir->own_to - dir->own_from));
}

/*
 * A name is trusted while its directory's slot (gen.c) still reads what it
 * read when the name was learnt, or only this process changed the
 * directory since (its run of own changes covers the name's stamp).
 */
struct inode *cache_name(struct nfsmod *m, const char *path, size_t len,
			 const struct inode *dir)
{
	uint32_t h;
	struct dentry *d = *name_slot(m, path, len, &h);

	if (!d || d->neg)
		return NULL;
	if (dir && !name_current(m, d, dir))
		return NULL;
	return cache_inode(m, d->fsid, d->fileid);
}

/*
 * Negative entries, as the kernel client's (lookupcache=all): a name
 * looked up and not found is not asked again while its directory is
 * unchanged: by this machine's processes (its slot), and by anyone as far
 * as its attributes say (fresh, and the same mtime).  A file another
 * machine creates is seen when the directory's attributes expire
 * (acdirmin) or its mtime is seen to change; open asks anyway (the last
 * component is looked up fresh), so close-to-open holds.
 */
bool cache_name_negative(struct nfsmod *m, const char *path, size_t len,
			 const struct inode *dir)
{
	uint32_t h;
	struct dentry *d = *name_slot(m, path, len, &h);

	return d && d->neg && name_current(m, d, dir) && cache_fresh(m, dir) &&
	       d->pmtime.seconds == dir->attr.mtime.seconds &&
	       d->pmtime.nseconds == dir->attr.mtime.nseconds;
}

void cache_name_neg(struct nfsmod *m, const char *path, size_t len, const struct inode *dir,
		    uint32_t pgen)
{
	uint32_t h;
	struct dentry **p, *d;

	if (m->o.noneg || m->acdirmax == 0)
		return;
	p = name_slot(m, path, len, &h);
	if (!(d = *p)) {
		if (!(d = malloc(sizeof(*d) + len + 1)))
			return;
		d->hash = h;
		d->len = (uint32_t)len;
		memcpy(d->path, path, len);
		d->path[len] = 0;
		d->next = NULL;
		*p = d;
		m->cache.nnames++;
	}
	d->neg = true;
	d->fsid = d->fileid = 0;
	d->pfsid = dir->fsid;
	d->pfileid = dir->fileid;
	d->pgen = pgen;
	d->pmtime = dir->attr.mtime;
}

struct inode *cache_name_raw(struct nfsmod *m, const char *path, size_t len)
{
	uint32_t h;
	struct dentry *d = *name_slot(m, path, len, &h);

	return d && !d->neg ? cache_inode(m, d->fsid, d->fileid) : NULL;
}

uint32_t name_stamp_mine(struct nfsmod *m, const struct inode *dir, uint32_t g0)
{
	uint32_t now = gen_of(m, dir);

	return dir->own && dir->own_to == now ? now : g0 - 1;
}

void cache_name_set(struct nfsmod *m, const char *path, size_t len, const struct inode *ino,
		    const struct inode *dir, uint32_t pgen)
{
	uint32_t h;
	struct dentry **p, *d;

	if (!ino)
		return;
	p = name_slot(m, path, len, &h);
	if ((d = *p)) {
		d->neg = false;
		d->fsid = ino->fsid;
		d->fileid = ino->fileid;
		d->pfsid = dir ? dir->fsid : 0;
		d->pfileid = dir ? dir->fileid : 0;
		d->pgen = pgen;
		return;
	}
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return;
	d->hash = h;
	d->len = (uint32_t)len;
	d->neg = false;
	d->fsid = ino->fsid;
	d->fileid = ino->fileid;
	d->pfsid = dir ? dir->fsid : 0;
	d->pfileid = dir ? dir->fileid : 0;
	d->pgen = pgen;
	memcpy(d->path, path, len);
	d->path[len] = 0;
	d->next = NULL;
	*p = d;
	m->cache.nnames++;
}

void cache_name_drop(struct nfsmod *m, const char *path, size_t len)
{
	uint32_t h;
	struct dentry **p = name_slot(m, path, len, &h), *d = *p;

	if (d) {
		*p = d->next;
		free(d);
		m->cache.nnames--;
	}
}

void cache_names_below(struct nfsmod *m, const char *path, size_t len)
{
	struct cache *c = &m->cache;

	cache_name_drop(m, path, len);
	for (uint32_t i = 0; i < c->nbuckets; i++) {
		for (struct dentry **p = &c->names[i]; *p;) {
			struct dentry *d = *p;

			if (d->len > len && d->path[len] == '/' && !memcmp(d->path, path, len) &&
			    len > 1) {
				*p = d->next;
				free(d);
				c->nnames--;
			} else {
				p = &d->next;
			}
		}
	}
}
