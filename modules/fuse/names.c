/*
 * The low level's name cache: the inode a path led to, kept for as long as
 * the file system's entry_timeout allows, so that a call looks up only the
 * names it has not met lately, as FUSE's kernel does with its dentries.
 * Each entry holds the lookup reference of its inode, forgotten when the
 * entry goes; a call or an open file that uses an entry's reference pins
 * it, and an entry taken out of the cache while pinned is forgotten at the
 * last unpin (as the kernel keeps the dentry an open file holds).
 *
 * What is kept: directories' names, by default; files' names too with
 * DEFUSE_FUSE_NAME_CACHE=all (ll.c says why not by default).  At most
 * MAXNAMES, the invalid ones let go at least every second.
 *
 * This process's changes.  A call that changes a name (create, mkdir,
 * mknod, symlink, link, unlink, rmdir, rename) takes its entry out when it
 * is done.  An entry is valid only below the entry of its directory that
 * the walk went through (seq), so a directory renamed away or replaced
 * takes every name below it along, with no walk of the cache.  A lookup
 * that raced with a change in another thread is not kept: an entry is put
 * only if no change was counted since the snapshot taken before its lookup.
 *
 * Other processes' changes.  The kernel's cache is one for every process
 * using the mount, and so is the file system's own state behind it.  Here
 * every process has an instance of the file system and a cache of its
 * own, and an instance may keep state of its own for as long as the
 * kernel (here: this cache) holds its inodes (fuse-overlayfs keeps each
 * directory's listing), which another process's instance cannot change.
 * So every process serving the file system counts each change also in one
 * counter they share (a file beside the lock carriers, named by the
 * mount's command line, as they are: lock.c), and a walk that finds it
 * moved by another process forgets every entry first: the instance then
 * meets each name afresh, as it did with no cache at all.  What changes
 * outside every instance (the backing store changed directly, processes
 * given another lock directory) is seen after
 * entry_timeout, as through the kernel.  With no shared counter (no lock
 * directory) names are kept only when asked for.
 */
#include "fc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS 1024
/* Few: each name may hold a descriptor of the file system's (an O_PATH
   one per inode, in passthrough_ll) in DEFUSE's reserved band, whose room
   the program's open files need too (the kernel's dentries cost no
   descriptors). */
#define MAXNAMES 1024
#define SWEEP_NS 1000000000ULL	/* entries no longer valid let go at least this often */

struct fc_name {
	struct fc_name *next;
	fuse_ino_t ino;
	uint64_t seq;		/* this entry's number (never 0) */
	uint64_t parent;	/* the number of its directory's entry; 0: the root */
	uint64_t expires;	/* CLOCK_MONOTONIC, ns */
	uint64_t foreign;	/* other processes' changes it is valid for */
	uint32_t hash;
	mode_t type;		/* its file type (an inode's never changes) */
	unsigned pins;		/* calls and open files using its reference */
	int out;		/* taken out of the cache while pinned */
	size_t len;
	char path[];
};

struct fc_names {
	pthread_mutex_t lock;
	struct fc_name *tab[NBUCKETS];
	size_t n;
	uint64_t seq;
	uint64_t next_sweep;
	int keep;		/* entries are kept (else only changes are counted) */
	int files;		/* ... of files too, not only of directories */
	uint64_t *shared;	/* every process's changes (mapped); NULL: none */
	uint64_t own;		/* this process's changes (since exec) */
	uint64_t foreign;	/* others' changes the entries are valid for */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint32_t fc_names_hash(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* path as the cache keys it, "/a/b" (no repeated or trailing slash), into
   key[PATH_MAX]: its length, or 0 if it does not fit. */
static size_t key_of(const char *path, char *key)
{
	size_t n = 0;

	for (const char *p = path; *p; p++) {
		if (*p == '/' && (p[1] == '/' || !p[1]))
			continue;
		if (n + 2 >= PATH_MAX)
			return 0;
		key[n++] = *p;
	}
	if (!n || key[0] != '/')
		return 0;
	key[n] = 0;
	return n;
}

/* The shared counter of dir/KEY.changes, mapped; NULL if it cannot be. */
static uint64_t *map_shared(const char *dir, uint64_t key)
{
	char name[64];
	struct stat st;
	void *p;
	int fd;

	snprintf(name, sizeof(name), "%016llx.changes", (unsigned long long)key);
	fd = fc_shared_file(dir, name);
	if (fd < 0)
		return NULL;
	/* two processes may both make it: ftruncate to one size is idempotent */
	if (fstat(fd, &st) || (st.st_size < (off_t)sizeof(uint64_t) &&
			       ftruncate(fd, sizeof(uint64_t)))) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* Other processes' changes so far.  A change is counted in the shared
   counter first and in own after, so the difference may be one too many
   for a moment (a needless forgetting), never one too few. */
static uint64_t foreign(struct fc_names *c)
{
	uint64_t own = __atomic_load_n(&c->own, __ATOMIC_ACQUIRE);

	return c->shared ? __atomic_load_n(c->shared, __ATOMIC_ACQUIRE) - own : 0;
}

struct fc_names *fc_names_new(const char *dir, uint64_t key, int want, int files)
{
	struct fc_names *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->shared = map_shared(dir, key);
	/* kept if other processes' changes can be seen, or if asked for
	   anyway (want 1); a process that keeps none (want 0) still counts
	   its changes for the others */
	c->keep = want && (c->shared || want == 1);
	c->files = files;
	c->foreign = foreign(c);
	return c;
}

/* In a vfork child the cache is the parent's memory, while the
   references it would take hold descriptors of the child's alone (a
   lookup's own, in passthrough_ll): it is neither read nor added to
   there, and what it holds is not forgotten there (module.h). */
static int vforked(void)
{
	return defuse_in_vfork_child && defuse_in_vfork_child();
}

int fc_names_keep(const struct fc_names *c)
{
	return c && c->keep && !vforked();
}

struct fc_name_snap fc_names_snap(struct fc_names *c)
{
	uint64_t own = __atomic_load_n(&c->own, __ATOMIC_ACQUIRE);

	return (struct fc_name_snap){ .foreign = foreign(c), .own = own };
}

/* d, just taken out of the table (lock held), goes to *out to be
   forgotten, or stays with whoever pinned it. */
static void drop(struct fc_name *d, struct fc_name **out)
{
	if (d->pins) {
		d->out = 1;
	} else {
		d->next = *out;
		*out = d;
	}
}

static int valid(const struct fc_names *c, const struct fc_name *d, uint64_t now)
{
	return d->expires > now && d->foreign == c->foreign;
}

/* Takes every entry that is not valid (with all: every entry) out of the
   table (lock held), into a list to forget outside the lock. */
static struct fc_name *take(struct fc_names *c, int all, uint64_t now)
{
	struct fc_name *out = NULL;

	for (size_t b = 0; b < NBUCKETS; b++) {
		struct fc_name **pp = &c->tab[b];

		while (*pp) {
			struct fc_name *d = *pp;

			if (all || !valid(c, d, now)) {
				*pp = d->next;
				c->n--;
				drop(d, &out);
			} else {
				pp = &d->next;
			}
		}
	}
	return out;
}

static void forget_list(struct fc_name *d, fc_forget_fn *forget, void *arg)
{
	while (d) {
		struct fc_name *next = d->next;

		forget(arg, d->ino);
		free(d);
		d = next;
	}
}

/* Takes path's entry out of the table (lock held) into *out. */
static void take_one(struct fc_names *c, const char *path, size_t len, uint32_t hash,
		     struct fc_name **out)
{
	for (struct fc_name **pp = &c->tab[hash % NBUCKETS]; *pp; pp = &(*pp)->next) {
		struct fc_name *d = *pp;

		if (d->hash == hash && d->len == len && !memcmp(d->path, path, len)) {
			*pp = d->next;
			c->n--;
			drop(d, out);
			return;
		}
	}
}

void fc_names_sync(struct fc_names *c, fc_forget_fn *forget, void *arg)
{
	uint64_t f = foreign(c);
	struct fc_name *gone = NULL;

	if (f == __atomic_load_n(&c->foreign, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&c->lock);
	if (f != c->foreign) {
		gone = take(c, 1, 0);
		__atomic_store_n(&c->foreign, f, __ATOMIC_RELAXED);	/* read unlocked above */
	}
	pthread_mutex_unlock(&c->lock);
	forget_list(gone, forget, arg);
}

int fc_names_get(struct fc_names *c, const char *path, size_t len, uint32_t hash,
		 uint64_t parent, fuse_ino_t *ino, mode_t *type, uint64_t *seq,
		 struct fc_name **pin)
{
	uint64_t now = now_ns();
	int found = 0;

	pthread_mutex_lock(&c->lock);
	for (struct fc_name *d = c->tab[hash % NBUCKETS]; d; d = d->next)
		if (d->hash == hash && d->len == len && !memcmp(d->path, path, len)) {
			if (d->parent == parent && valid(c, d, now)) {
				*ino = d->ino;
				*type = d->type;
				*seq = d->seq;
				if (pin) {
					d->pins++;
					*pin = d;
				}
				found = 1;
			}
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* fc_names_put with the allowance of own changes since snap: 0, or 1 for
   the change that made the name. */
static uint64_t put(struct fc_names *c, const char *path, size_t len, uint32_t hash,
		    fuse_ino_t ino, mode_t type, struct fc_name_snap snap, unsigned made,
		    uint64_t parent, double timeout, struct fc_name **pin, fc_forget_fn *forget,
		    void *arg)
{
	struct fc_name *d, *gone = NULL;
	uint64_t now, seq = 0;

	if ((!c->files && !S_ISDIR(type)) || vforked())
		return 0;
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return 0;
	now = now_ns();
	memcpy(d->path, path, len);
	d->path[len] = 0;
	d->len = len;
	d->hash = hash;
	d->ino = ino;
	d->type = type & S_IFMT;
	d->foreign = snap.foreign;
	d->parent = parent;
	/* (a file system may say "for ever": 1e9 s, fuse-overlayfs; more
	   would overflow) */
	d->expires = now + (uint64_t)((timeout < 1e9 ? timeout : 1e9) * 1e9);
	d->pins = pin != NULL;
	d->out = 0;
	pthread_mutex_lock(&c->lock);
	/* a change here or elsewhere since the lookup may have been to this
	   very name: then the lookup's answer is not kept */
	if (snap.own + made != c->own || snap.foreign != c->foreign) {
		pthread_mutex_unlock(&c->lock);
		free(d);
		return 0;
	}
	/* entries no longer valid hold references (to files others removed,
	   say) that should not wait for the cache to fill up */
	if (c->n >= MAXNAMES || now >= c->next_sweep) {
		gone = take(c, 0, now);
		c->next_sweep = now + SWEEP_NS;
		if (c->n >= MAXNAMES) {
			struct fc_name *rest = take(c, 1, now), *t = rest;

			while (t && t->next)
				t = t->next;
			if (t) {
				t->next = gone;
				gone = rest;
			}
		}
	}
	take_one(c, path, len, hash, &gone);
	d->seq = seq = ++c->seq;
	d->next = c->tab[hash % NBUCKETS];
	c->tab[hash % NBUCKETS] = d;
	c->n++;
	if (pin)
		*pin = d;
	pthread_mutex_unlock(&c->lock);
	forget_list(gone, forget, arg);
	return seq;
}

uint64_t fc_names_put(struct fc_names *c, const char *path, size_t len, uint32_t hash,
		      fuse_ino_t ino, mode_t type, struct fc_name_snap snap, uint64_t parent,
		      double timeout, struct fc_name **pin, fc_forget_fn *forget, void *arg)
{
	return put(c, path, len, hash, ino, type, snap, 0, parent, timeout, pin, forget, arg);
}

int fc_names_get_path(struct fc_names *c, const char *path, uint64_t parent, fuse_ino_t *ino,
		      mode_t *type, struct fc_name **pin)
{
	char key[PATH_MAX];
	size_t len = key_of(path, key);
	uint64_t seq;

	return len && fc_names_get(c, key, len, fc_names_hash(FC_NAMES_HASH0, key, len), parent,
				   ino, type, &seq, pin);
}

int fc_names_put_path(struct fc_names *c, const char *path, fuse_ino_t ino, mode_t type,
		      struct fc_name_snap snap, uint64_t parent, double timeout,
		      struct fc_name **pin, fc_forget_fn *forget, void *arg)
{
	char key[PATH_MAX];
	size_t len = key_of(path, key);

	return len && put(c, key, len, fc_names_hash(FC_NAMES_HASH0, key, len), ino, type, snap,
			  0, parent, timeout, pin, forget, arg) != 0;
}

/* Counts a change of path, made here, and takes its entry out. */
static void changed(struct fc_names *c, const char *path, char *key, size_t *len,
		    uint32_t *hash, fc_forget_fn *forget, void *arg)
{
	struct fc_name *gone = NULL;

	*len = key_of(path, key);
	*hash = fc_names_hash(FC_NAMES_HASH0, key, *len);
	pthread_mutex_lock(&c->lock);
	if (c->shared)		/* first: see foreign() */
		__atomic_fetch_add(c->shared, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&c->own, 1, __ATOMIC_ACQ_REL);
	if (*len && vforked()) {
		/* the parent forgets it, with its own descriptors */
		for (struct fc_name *d = c->tab[*hash % NBUCKETS]; d; d = d->next)
			if (d->hash == *hash && d->len == *len && !memcmp(d->path, key, *len))
				d->expires = 0;
	} else if (*len) {
		take_one(c, key, *len, *hash, &gone);
	}
	pthread_mutex_unlock(&c->lock);
	forget_list(gone, forget, arg);
}

void fc_names_changed(struct fc_names *c, const char *path, fc_forget_fn *forget, void *arg)
{
	char key[PATH_MAX];
	size_t len;
	uint32_t hash;

	changed(c, path, key, &len, &hash, forget, arg);
}

int fc_names_made(struct fc_names *c, const char *path, struct fc_name_snap snap,
		  fuse_ino_t ino, mode_t type, uint64_t parent, double timeout,
		  struct fc_name **pin, fc_forget_fn *forget, void *arg)
{
	char key[PATH_MAX];
	size_t len;
	uint32_t hash;

	changed(c, path, key, &len, &hash, forget, arg);
	/* kept only if no other change came between snap and this one */
	if (c->keep && len && parent != FC_NAMES_NONE && timeout > 0 &&
	    put(c, key, len, hash, ino, type, snap, 1, parent, timeout, pin, forget, arg))
		return 1;
	if (!pin)
		forget(arg, ino);
	return 0;
}

void fc_names_unpin(struct fc_names *c, struct fc_name *d, fc_forget_fn *forget, void *arg)
{
	int last;

	pthread_mutex_lock(&c->lock);
	last = !--d->pins && d->out && !vforked();
	pthread_mutex_unlock(&c->lock);
	if (last) {
		forget(arg, d->ino);
		free(d);
	}
}

void fc_names_clear(struct fc_names *c, fc_forget_fn *forget, void *arg)
{
	struct fc_name *gone;

	if (!c || vforked())
		return;
	pthread_mutex_lock(&c->lock);
	gone = take(c, 1, 0);
	pthread_mutex_unlock(&c->lock);
	forget_list(gone, forget, arg);
}

void fc_names_free(struct fc_names *c, fc_forget_fn *forget, void *arg)
{
	if (!c)
		return;
	fc_names_clear(c, forget, arg);
	if (c->shared)
		munmap(c->shared, sizeof(uint64_t));
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void fc_names_after_fork_child(struct fc_names *c)
{
	if (c)
		pthread_mutex_init(&c->lock, NULL);
}
