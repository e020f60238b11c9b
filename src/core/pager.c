/*
 * User-space paging: mmap of emulated files (docs/paging.md has the design
 * and its reasons).
 *
 * This file keeps this process's side: the caches it holds (a memfd each,
 * shared with the rest of the tree through pager_registry.c), its mappings
 * of them, and every call that reads, writes, resizes, maps, unmaps, moves
 * or syncs a cached file.  pager_fault.c fills pages and finds written
 * ones.
 *
 * The rules that keep every view of a file the same:
 *   - a page present in the cache is the file's truth for the whole tree;
 *     a page missing from it is the module's (nothing newer exists);
 *   - read copies present pages from the cache and missing ones from the
 *     module;
 *   - write goes to the module and into the cache, under the cache's lock
 *     (write-through): the module is never behind but for pages written
 *     through shared mappings;
 *   - those are found by the written-page scan and go to the module at
 *     msync, munmap, close, fsync, exec and exit, under the same lock;
 *   - truncation changes the module and the cache under the lock, so
 *     mappings get SIGBUS past the new end as the kernel gives it.
 *
 * Locks: the process-private mutex (caches and mappings of this process:
 * held briefly, never across a system call that waits for the fault
 * thread: munmap, mremap, mmap, a module call); a cache's lock, in shared
 * memory, around write-through, truncation and write-back (never taken by
 * the fault thread).  A mapping holds its description (struct core_open),
 * as a kernel mapping holds its file, and its cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/falloc.h>
#include "common/util.h"
#include "kernel/sys.h"
#include "core/pager_int.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* The flags mmap knows (MAP_SHARED_VALIDATE refuses others). */
#define KNOWN_FLAGS (MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE |	\
		     MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB |	\
		     MAP_GROWSDOWN | MAP_LOCKED | MAP_FIXED_NOREPLACE | MAP_SYNC)

/* The fill window: virtual space only. */
#define WIN_MIN (64UL << 30)

int core_pager_nmaps;

static int32_t mutex;
static struct pg_cache caches[PG_CACHES];
static struct pg_map *maps;
static int nmaps, maps_cap;

#define ROUND_UP(x) (((x) + PG_PAGE - 1) & ~(PG_PAGE - 1))

void pg_mutex_lock(void)
{
	pg_lock(&mutex);
}

void pg_mutex_unlock(void)
{
	pg_unlock(&mutex);
}

/* ---- mappings (under the mutex) ------------------------------------------ */

/* The first mapping whose end is past addr. */
static int first_after(uintptr_t addr)
{
	int lo = 0, hi = nmaps;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (maps[mid].end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct pg_map *pg_map_at(uintptr_t addr)
{
	int i = first_after(addr);

	return i < nmaps && maps[i].start <= addr ? &maps[i] : NULL;
}

static int overlaps_locked(uintptr_t a, uintptr_t e)
{
	int i = first_after(a);

	return i < nmaps && maps[i].start < e;
}

static int insert_map(const struct pg_map *m)
{
	int i;

	if (nmaps == maps_cap) {
		int cap = maps_cap ? maps_cap * 2 : 128;
		struct pg_map *n = (struct pg_map *)sys6(SYS_mmap, 0, cap * sizeof(*n),
							 PROT_READ | PROT_WRITE,
							 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (sys_failed((long)n))
			return -ENOMEM;
		if (maps) {
			memcpy(n, maps, nmaps * sizeof(*n));
			sys2(SYS_munmap, maps, maps_cap * sizeof(*maps));
		}
		maps = n;
		maps_cap = cap;
	}
	i = first_after(m->start);
	memmove(&maps[i + 1], &maps[i], (nmaps - i) * sizeof(*maps));
	maps[i] = *m;
	nmaps++;
	__atomic_store_n(&core_pager_nmaps, nmaps, __ATOMIC_RELEASE);
	return 0;
}

/* What [a, e) took away: references to drop once the mutex is let go. */
struct dropped {
	int n;
	struct { struct pg_cache *c; struct core_open *o; } v[64];
};

/*
 * Forgets [a, e) of every mapping (the kernel unmapped or moved it).  A
 * mapping cut in two keeps a record for each part (one more reference
 * each).  Returns 0, or -EAGAIN when more than d holds was taken away
 * (call again after dropping those).
 */
static int forget_locked(uintptr_t a, uintptr_t e, struct dropped *d)
{
	for (int i = first_after(a); i < nmaps && maps[i].start < e;) {
		struct pg_map *m = &maps[i], tail;

		if (m->start < a && m->end > e) {
			/* A hole in the middle: two mappings. */
			tail = *m;
			tail.off += e - m->start;
			tail.start = e;
			m->end = a;
			pg_cache_get(tail.c);
			core_open_get(tail.open);
			if (insert_map(&tail) < 0) {
				/* No room for a record: the tail is forgotten
				   (its pages are not tracked, never wrong). */
				d->v[d->n].c = tail.c;
				d->v[d->n++].o = tail.open;
			}
			return 0;
		}
		if (m->start < a) {
			m->end = a;
			i++;
			continue;
		}
		if (m->end > e) {
			m->off += e - m->start;
			m->start = e;
			break;
		}
		if (d->n == (int)(sizeof(d->v) / sizeof(d->v[0])))
			return -EAGAIN;
		d->v[d->n].c = m->c;
		d->v[d->n++].o = m->open;
		memmove(&maps[i], &maps[i + 1], (nmaps - i - 1) * sizeof(*maps));
		nmaps--;
	}
	__atomic_store_n(&core_pager_nmaps, nmaps, __ATOMIC_RELEASE);
	return 0;
}

static void drop_refs(struct dropped *d)
{
	for (int i = 0; i < d->n; i++) {
		core_open_put(d->v[i].o);
		pg_cache_put(d->v[i].c);
	}
	d->n = 0;
}

static void forget(uintptr_t a, uintptr_t e)
{
	struct dropped d = { 0 };
	int r;

	do {
		pg_mutex_lock();
		r = forget_locked(a, e, &d);
		pg_mutex_unlock();
		/* the description's release, if ours is the last reference,
		   before munmap returns */
		if (d.n)
			pg_fault_quiesce();
		drop_refs(&d);
	} while (r == -EAGAIN);
}

/* ---- caches ------------------------------------------------------------------ */

void pg_cache_get(struct pg_cache *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
}

void pg_cache_put(struct pg_cache *c)
{
	struct pg_cache gone;

	pg_mutex_lock();
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0) {
		pg_mutex_unlock();
		return;
	}
	gone = *c;
	memset(c, 0, sizeof(*c));
	pg_mutex_unlock();
	/* Every page written through a mapping went back at its munmap;
	   write-through left nothing behind. */
	if (gone.win)
		sys2(SYS_munmap, gone.win, gone.win_len);
	pg_reg_drop(gone.sh);
	defuse_fd_release(gone.mfd);
}

static struct pg_cache *find_locked(const uint64_t key[3])
{
	for (int i = 0; i < PG_CACHES; i++)
		if (caches[i].refs > 0 && !memcmp(caches[i].key, key, sizeof(caches[i].key)))
			return &caches[i];
	return NULL;
}

static uint64_t hash(const char *s)
{
	return d_fnv1a_str(D_FNV1A_INIT, s) | 1;
}

#define REF(f) CORE_REF((f)->open->mount)

/* The file's identity: the mount, and st_dev and st_ino as the module
   says (a module without inode numbers: the path, hashed). */
static long file_key(struct core_fd *f, uint64_t key[3], struct stat *st)
{
	long r = mod_fgetattr(REF(f), f->open->fh, f->path, st);

	if (r < 0)
		return r;
	key[0] = hash(core_mounts[f->mount].point);
	key[1] = st->st_dev;
	key[2] = st->st_ino;
	if (!st->st_ino) {
		key[1] = hash(f->open->ofd->path);
		key[2] = 1ULL << 63;
	}
	return 0;
}

/* The cache's size made the module's, under its lock: a process outside
   the tree, or a path-based truncate, may have changed the file. */
static void size_from_module(struct pg_cache *c, struct core_fd *f)
{
	struct stat st;

	pg_lock(&c->sh->lock);
	if (mod_fgetattr(REF(f), f->open->fh, f->path, &st) == 0 &&
	    pg_size(c->mfd) != st.st_size)
		sys2(SYS_ftruncate, c->mfd, st.st_size);
	pg_unlock(&c->sh->lock);
}

/*
 * The cache of f's file, with a reference: this process's, or the tree's
 * (then this process opens its memfd), or a new one when make is set.
 * NULL with *err when none.
 */
static struct pg_cache *attach(struct core_fd *f, const uint64_t key[3], off_t size, int make,
			       int *err)
{
	struct pg_cache *c;
	struct pg_shared *sh;
	int mfd = -1, made;
	unsigned long win_len;
	char *win;

	*err = -ENOENT;
	pg_mutex_lock();
	c = find_locked(key);
	if (c)
		pg_cache_get(c);
	pg_mutex_unlock();
	if (c)
		return c;
	if (pg_fault_start() == PG_OFF) {
		*err = -ENODEV;
		return NULL;
	}
	sh = make ? pg_reg_get(key, &mfd, &made, err) : pg_reg_find(key, &mfd);
	if (!sh)
		return NULL;
	win_len = (unsigned long)size * 4 > WIN_MIN ? ((unsigned long)size * 4 + (1UL << 30)) &
						      ~((1UL << 30) - 1) : WIN_MIN;
	win = (char *)sys6(SYS_mmap, 0, win_len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_NORESERVE, mfd, 0);
	if (sys_failed((long)win) || pg_register_window((uintptr_t)win, win_len) < 0) {
		*err = sys_failed((long)win) ? (int)(long)win : -ENOMEM;
		if (!sys_failed((long)win))
			sys2(SYS_munmap, win, win_len);
		pg_reg_drop(sh);
		defuse_fd_release(mfd);
		return NULL;
	}
	pg_mutex_lock();
	c = find_locked(key);	/* another thread of ours, meanwhile */
	if (c) {
		pg_cache_get(c);
	} else {
		for (int i = 0; i < PG_CACHES && !c; i++)
			if (!caches[i].refs)
				c = &caches[i];
		if (c) {
			c->refs = 1;
			c->mount = f->mount;
			memcpy(c->key, key, sizeof(c->key));
			c->sh = sh;
			c->mfd = mfd;
			c->win = win;
			c->win_len = win_len;
			mfd = -1;
		}
	}
	pg_mutex_unlock();
	if (mfd >= 0) {
		/* Not needed after all: ours is the other one's. */
		sys2(SYS_munmap, win, win_len);
		defuse_fd_release(mfd);
		if (c)
			pg_reg_hold(c->sh, c->mfd);
		else
			pg_reg_drop(sh);
	}
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	if (mfd < 0 && c->sh == sh)
		size_from_module(c, f);
	return c;
}

/* The description now goes through c too (one reference for it). */
static struct pg_cache *install(struct core_open *o, struct pg_cache *c)
{
	struct pg_cache *none = NULL;

	if (__atomic_compare_exchange_n(&o->pager, &none, c, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return c;
	pg_cache_put(c);
	return none;
}

struct pg_cache *pager_of(struct core_fd *f)
{
	struct core_open *o = f->open;
	struct pg_cache *c = __atomic_load_n(&o->pager, __ATOMIC_ACQUIRE);
	uint32_t g;
	uint64_t key[3];
	struct stat st;
	int err;

	if (c)
		return c;
	g = pg_reg_gen();
	if (g == __atomic_load_n(&o->pager_gen, __ATOMIC_RELAXED))
		return NULL;
	/* A cache appeared somewhere in the tree since o last looked (none
	   left: nothing to look for). */
	__atomic_store_n(&o->pager_gen, g, __ATOMIC_RELAXED);
	if (!pg_reg_live() || (o->ofd->flags & O_PATH) || defuse_self.vfork_child || file_key(f, key, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return NULL;
	c = attach(f, key, st.st_size, 0, &err);
	return c ? install(o, c) : NULL;
}

void pager_forget(struct core_open *o)
{
	struct pg_cache *c = __atomic_exchange_n(&o->pager, NULL, __ATOMIC_ACQ_REL);

	/* o may serve another open later (emulated.c keeps records). */
	__atomic_store_n(&o->pager_gen, 0, __ATOMIC_RELAXED);

	if (c)
		pg_cache_put(c);
}

/* ---- write-back ------------------------------------------------------------- */

/* The present pages of [from, to) of c's file (clipped to its size) go to
   the module through open's handle.  Under c's lock. */
static long write_back(struct pg_cache *c, struct core_open *open, int64_t from, int64_t to)
{
	const struct defuse_mount_ref *ref = CORE_REF(c->mount);
	int64_t size = pg_size(c->mfd);
	long err = 0;

	if (size < 0)
		return size;
	if (to > size)
		to = size;
	while (from < to) {
		int64_t d = pg_data(c->mfd, from, to), h;

		if (d >= to)
			break;
		h = pg_hole(c->mfd, d, to);
		if (h > to)
			h = to;
		/* Straight from the window: the pages are there, so reading
		   them takes no fault of ours, only the kernel's (a page
		   filled straight into a shared mapping is not mapped in the
		   window: one call maps the extent, instead of a fault per
		   16 pages). */
		sys3(SYS_madvise, c->win + d, h - d, MADV_POPULATE_READ);
		for (int64_t x = d; x < h;) {
			long r = mod_write(ref, open->fh, c->win + x, h - x, x);

			if (r <= 0) {
				if (!err)
					err = r < 0 ? r : -EIO;
				break;
			}
			x += r;
		}
		from = h;
	}
	return err;
}

/*
 * Pages of c written through this process's shared mappings within
 * [lo, hi) go to the module (eager mode: every present page of them).
 * Under c's lock.
 */
static long flush_locked(struct pg_cache *c, uintptr_t lo, uintptr_t hi)
{
	uintptr_t at = lo;
	long err = 0;
	int orphans = 0;

	/* A process of the tree died with pages written through its mapping
	   (SIGKILL): they are in the cache, nowhere known as written.  The
	   first write-back that can sends every page the cache has. */
	pg_reg_check_orphans(c->sh);
	orphans = __atomic_load_n(&c->sh->orphaned, __ATOMIC_RELAXED);
	for (;;) {
		struct pg_map m;
		struct pg_map *p = NULL;
		uintptr_t s, e;

		pg_mutex_lock();
		for (int i = first_after(at); i < nmaps && maps[i].start < hi; i++)
			if (maps[i].c == c && maps[i].shared && maps[i].maywrite) {
				p = &maps[i];
				break;
			}
		if (p) {
			m = *p;
			core_open_get(m.open);
		}
		pg_mutex_unlock();
		if (!p)
			break;
		s = m.start > lo ? m.start : lo;
		e = m.end < hi ? m.end : hi;
		if (orphans) {
			long r = write_back(c, m.open, 0, INT64_MAX);

			if (r == 0) {
				__atomic_store_n(&c->sh->orphaned, 0, __ATOMIC_RELAXED);
				orphans = 0;
			}
			err = err ? err : r;
		}
		if (pg_mode != PG_UFFD) {
			long r = write_back(c, m.open, m.off + (s - m.start), m.off + (e - m.start));

			err = err ? err : r;
		}
		while (pg_mode == PG_UFFD && s < e) {
			uintptr_t v[32][2], next;
			long n = pg_written(s, e, v, 32, &next);

			if (n < 0) {
				/* Cannot tell: all of it. */
				long r = write_back(c, m.open, m.off + (s - m.start),
						    m.off + (e - m.start));

				err = err ? err : r;
				break;
			}
			for (long i = 0; i < n; i++) {
				long r = write_back(c, m.open, m.off + (v[i][0] - m.start),
						    m.off + (v[i][1] - m.start));

				err = err ? err : r;
			}
			if (next <= s)
				break;
			s = next;
		}
		core_open_put(m.open);
		at = m.end;
	}
	return err;
}

/* The caches with mappings in [lo, hi), each with a reference (at most
   max; *more set when there were others). */
static int caches_in(uintptr_t lo, uintptr_t hi, struct pg_cache **v, int max, int *more)
{
	int n = 0;

	*more = 0;
	pg_mutex_lock();
	for (int i = first_after(lo); i < nmaps && maps[i].start < hi; i++) {
		int seen = 0;

		for (int k = 0; k < n; k++)
			seen |= v[k] == maps[i].c;
		if (seen)
			continue;
		if (n == max) {
			*more = 1;
			break;
		}
		v[n++] = maps[i].c;
		pg_cache_get(maps[i].c);
	}
	pg_mutex_unlock();
	return n;
}

/* Written pages of every cache mapped within [lo, hi) go to the module. */
static long flush_range(uintptr_t lo, uintptr_t hi)
{
	struct pg_cache *v[16];
	long err = 0;
	int more, n;

	do {
		n = caches_in(lo, hi, v, 16, &more);
		for (int i = 0; i < n; i++) {
			long r;

			pg_lock(&v[i]->sh->lock);
			r = flush_locked(v[i], lo, hi);
			pg_unlock(&v[i]->sh->lock);
			err = err ? err : r;
			pg_cache_put(v[i]);
		}
	} while (more && n);
	return err;
}

long pager_sync(struct pg_cache *c)
{
	long r;

	pg_lock(&c->sh->lock);
	r = flush_locked(c, 0, ~(uintptr_t)0);
	pg_unlock(&c->sh->lock);
	return r;
}

/* ---- read, write, truncate through a cache ------------------------------ */

long pager_size(struct pg_cache *c, off_t *size)
{
	int64_t s = pg_size(c->mfd);

	if (s < 0)
		return s;
	*size = s;
	return 0;
}

long pager_read(struct pg_cache *c, struct core_fd *f, void *buf, size_t n, off_t off)
{
	int64_t size = pg_size(c->mfd), end;
	size_t done = 0;

	if (size < 0)
		return size;
	if (off >= size || !n)
		return 0;
	if ((uint64_t)n > (uint64_t)(size - off))
		n = size - off;
	end = ROUND_UP(off + (int64_t)n);
	while (done < n) {
		int64_t x = off + done, page = x & ~(int64_t)(PG_PAGE - 1);
		int64_t h = pg_hole(c->mfd, page, end), stop;
		long r;

		if (h > x) {
			/* Present: the cache's bytes. */
			stop = h < off + (int64_t)n ? h : off + (int64_t)n;
			r = sys4(SYS_pread64, c->mfd, (char *)buf + done, stop - x, x);
		} else {
			/* Missing: the module's, which nothing has changed. */
			int64_t d = pg_data(c->mfd, h, end);

			/* Filled meanwhile (the fault thread reads ahead):
			   present now, so look again. */
			if (d <= x)
				continue;
			stop = d < off + (int64_t)n ? d : off + (int64_t)n;
			pager_prefault((char *)buf + done, stop - x, 1);
			r = mod_read(REF(f), f->open->fh, (char *)buf + done, stop - x, x);
		}
		if (r < 0)
			return done ? (long)done : r;
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

long pager_write(struct pg_cache *c, struct core_fd *f, const void *buf, size_t n, off_t *off,
		 int append)
{
	int64_t size, x, end, p0, pl, wx, wend;
	long r;

	pager_prefault(buf, n, 0);
	pg_lock(&c->sh->lock);
	size = pg_size(c->mfd);
	if (size < 0) {
		r = size;
		goto out;
	}
	if (append)
		*off = size;
	x = *off;
	/* The module first: what it takes, the cache takes. */
	r = mod_write(REF(f), f->open->fh, buf, n, x);
	if (r <= 0)
		goto out;
	end = x + r;
	if (end > size && sys2(SYS_ftruncate, c->mfd, end) < 0)
		goto out;	/* the module has it; the cache's page stays missing */
	/* Pages written in part must hold the rest of their bytes first: a
	   missing one is filled (from the module, which has the new bytes
	   too); then the new bytes go in. */
	p0 = x & ~(int64_t)(PG_PAGE - 1);
	pl = (end - 1) & ~(int64_t)(PG_PAGE - 1);
	if (x != p0 && pg_hole(c->mfd, p0, p0 + PG_PAGE) == p0)
		pg_fill(c, f->open, p0, p0 + PG_PAGE, -1);
	if ((end & (PG_PAGE - 1)) && pl != p0 && pg_hole(c->mfd, pl, pl + PG_PAGE) == pl)
		pg_fill(c, f->open, pl, pl + PG_PAGE, -1);
	/* A part page still missing (it could not be read) stays missing:
	   the module has its bytes.  Whole pages go in whatever they were. */
	wx = x;
	wend = end;
	if (x != p0 && pg_hole(c->mfd, p0, p0 + PG_PAGE) == p0)
		wx = p0 + PG_PAGE;
	if ((end & (PG_PAGE - 1)) && pg_hole(c->mfd, pl, pl + PG_PAGE) == pl)
		wend = pl > wx ? pl : wx;
	for (int64_t at = wx; at < wend;) {
		long w = sys4(SYS_pwrite64, c->mfd, (const char *)buf + (at - x), wend - at, at);

		if (w <= 0) {
			/* The cache cannot hold them: let the module's bytes
			   show instead (a missing page is the module's). */
			sys4(SYS_fallocate, c->mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			     at & ~(int64_t)(PG_PAGE - 1), ROUND_UP(wend) - (at & ~(int64_t)(PG_PAGE - 1)));
			break;
		}
		at += w;
	}
out:
	pg_unlock(&c->sh->lock);
	return r;
}

long pager_truncate(struct pg_cache *c, struct core_fd *f, off_t size)
{
	long r;

	pg_lock(&c->sh->lock);
	r = mod_ftruncate(REF(f), f->open->fh, f->path, size);
	if (r == 0)
		sys2(SYS_ftruncate, c->mfd, size);
	pg_unlock(&c->sh->lock);
	return r;
}

long pager_fallocate(struct pg_cache *c, struct core_fd *f, int mode, off_t off, off_t len)
{
	int64_t size;
	struct stat st;
	long r;

	pg_lock(&c->sh->lock);
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		/* The bytes move: what mappings wrote must be there first. */
		flush_locked(c, 0, ~(uintptr_t)0);
	r = mod_fallocate(REF(f), f->open->fh, mode, off, len);
	if (r < 0)
		goto out;
	size = pg_size(c->mfd);
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
		/* Everything from off on is the module's again. */
		if (mod_fgetattr(REF(f), f->open->fh, f->path, &st) == 0) {
			sys4(SYS_fallocate, c->mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			     off & ~(int64_t)(PG_PAGE - 1), size + PG_PAGE);
			sys2(SYS_ftruncate, c->mfd, st.st_size);
		}
	} else if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		sys4(SYS_fallocate, c->mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
		if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > size)
			sys2(SYS_ftruncate, c->mfd, off + len);
	} else if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > size) {
		sys2(SYS_ftruncate, c->mfd, off + len);
	}
out:
	pg_unlock(&c->sh->lock);
	return r;
}

/* ---- the program's buffers ------------------------------------------------ */

void pager_prefault(const void *buf, size_t n, int writing)
{
	uintptr_t a = (uintptr_t)buf & ~(PG_PAGE - 1), e = ROUND_UP((uintptr_t)buf + n);
	int hit;

	if (!__atomic_load_n(&core_pager_nmaps, __ATOMIC_RELAXED) || !n || e < a)
		return;
	pg_mutex_lock();
	hit = overlaps_locked(a, e);
	pg_mutex_unlock();
	if (!hit)
		return;
	/* The fault thread fills what is missing now, while this thread
	   holds no lock of the module's.  A page that cannot be had stays
	   as it is: the module's access then fails as it would have. */
	if (!writing || sys3(SYS_madvise, a, e - a, MADV_POPULATE_WRITE) < 0)
		sys3(SYS_madvise, a, e - a, MADV_POPULATE_READ);
}

/* ---- mmap ------------------------------------------------------------------ */

/* Before a mapping replaces [a, e): the written pages there go back, and
   the records go. */
static void replaced(uintptr_t a, uintptr_t e)
{
	int hit;

	pg_mutex_lock();
	hit = overlaps_locked(a, e);
	pg_mutex_unlock();
	if (!hit)
		return;
	flush_range(a, e);
	forget(a, e);
}

long pager_mmap(const struct defuse_syscall *sc, struct core_fd *f)
{
	uintptr_t addr = sc->a[0], p;
	unsigned long len = sc->a[1], len_r;
	long prot = sc->a[2], flags = sc->a[3], type = flags & MAP_TYPE;
	int64_t off = sc->a[5];
	int acc = f->open->ofd->flags & O_ACCMODE, shared, maywrite, readonly, err, fixed;
	struct pg_map m;
	struct pg_cache *c;
	uint64_t key[3];
	struct stat st;
	long mapfd, rofd = -1, r, kfd;

	if (flags & MAP_ANONYMOUS)
		return defuse_forward(sc);	/* the descriptor is not looked at */
	if (off & (PG_PAGE - 1))
		return -EINVAL;
	if (!len)
		return -EINVAL;
	len_r = ROUND_UP(len);
	if (!len_r)
		return -ENOMEM;
	if (off < 0 || off + (int64_t)len_r < off)
		return -EOVERFLOW;
	if (type == MAP_SHARED_VALIDATE) {
		if ((flags & ~KNOWN_FLAGS) || (flags & MAP_SYNC))
			return -EOPNOTSUPP;
		type = MAP_SHARED;
	}
	if (type != MAP_SHARED && type != MAP_PRIVATE)
		return -EINVAL;
	shared = type == MAP_SHARED;
	if (acc == O_WRONLY || (shared && (prot & PROT_WRITE) && acc != O_RDWR))
		return -EACCES;
	/* A module whose file is a kernel file gives it: the kernel maps it
	   (module.h: map_fd), every mapping coherent, nothing of ours. */
	if ((kfd = mod_map_fd(REF(f), f->open->fh)) >= 0)
		return sys6(SYS_mmap, addr, len, prot, flags, kfd, off);
	if (defuse_self.vfork_child) {
		/* A vfork child has our memory but not our descriptors. */
		if (defuse_g.debug)
			defuse_log("mmap of an emulated file in a vfork child", NULL, NULL);
		return -ENODEV;
	}
	if ((r = file_key(f, key, &st)) < 0)
		return r;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	c = attach(f, key, st.st_size, 1, &err);
	if (!c)
		return err;
	/* The description now reads and writes through the cache too. */
	if (!__atomic_load_n(&f->open->pager, __ATOMIC_ACQUIRE)) {
		pg_cache_get(c);
		install(f->open, c);
	}
	maywrite = shared && acc == O_RDWR;
	/*
	 * A shared mapping of a description open read-only is mapped
	 * private: userfaultfd registers no shared mapping that may not be
	 * written.  Never written, it sees every change to the file as the
	 * shared one would; mprotect may not make it writable (EACCES, as
	 * for a kernel file: core_pager_protect).
	 */
	readonly = shared && !maywrite;
	mapfd = c->mfd;
	if (readonly && pg_mode != PG_UFFD) {
		/* Without userfaultfd a read-only descriptor of the memfd
		   does it all. */
		char link[48] = "/proc/self/fd/", n[24];

		strcat(link, defuse_ltoa(c->mfd, n));
		rofd = sys3(SYS_open, link, O_RDONLY | O_CLOEXEC, 0);
		if (rofd < 0) {
			pg_cache_put(c);
			return rofd;
		}
		mapfd = rofd;
	}
	fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0;
	if (flags & MAP_FIXED)
		replaced(addr & ~(PG_PAGE - 1), (addr & ~(PG_PAGE - 1)) + len_r);
	/* Registered before anyone can touch it: a page touched unregistered
	   would be a page of zeros in the cache. */
	p = sys6(SYS_mmap, addr, len, fixed ? PROT_NONE : prot,
		 (flags & ~(MAP_TYPE | MAP_POPULATE | MAP_LOCKED)) |
		 (shared && !(readonly && rofd < 0) ? MAP_SHARED : MAP_PRIVATE), mapfd, off);
	if (rofd >= 0)
		sys1(SYS_close, rofd);
	if (sys_failed(p)) {
		pg_cache_put(c);
		return p;
	}
	r = pg_mode == PG_UFFD ? pg_register(p, len_r, maywrite) : 0;
	if (r == 0 && pg_mode == PG_EAGER) {
		pg_lock(&c->sh->lock);
		pg_fill_eager(c, f->open, off, p, p + len_r, fixed ? PROT_NONE : prot);
		pg_unlock(&c->sh->lock);
	}
	if (r == 0 && fixed && prot != PROT_NONE)
		r = sys3(SYS_mprotect, p, len_r, prot);
	m = (struct pg_map){ p, p + len_r, off, c, f->open, shared, maywrite, readonly, 0, 0 };
	if (r == 0) {
		core_open_get(f->open);
		pg_mutex_lock();
		r = insert_map(&m);
		pg_mutex_unlock();
		if (r < 0)
			core_open_put(f->open);
	}
	if (r < 0) {
		sys2(SYS_munmap, p, len_r);
		pg_cache_put(c);
		return r;
	}
	/* Should this process die unannounced, the tree knows. */
	if (maywrite)
		pg_reg_wrote(c->sh);
	if (flags & MAP_POPULATE)
		sys3(SYS_madvise, p, len_r, MADV_POPULATE_READ);
	if (flags & MAP_LOCKED)
		sys2(SYS_mlock, p, len_r);
	return p;
}

/* ---- munmap, mremap, msync, madvise, mmap over a mapping ----------------- */

static long do_munmap(const struct defuse_syscall *sc)
{
	uintptr_t a = sc->a[0], e = ROUND_UP(a + sc->a[1]);
	long r;

	if ((a & (PG_PAGE - 1)) || !sc->a[1] || e < a)
		return defuse_forward(sc);	/* the kernel's EINVAL */
	flush_range(a, e);
	r = defuse_forward(sc);
	if (r == 0)
		forget(a, e);
	return r;
}

static long do_mremap(const struct defuse_syscall *sc)
{
	uintptr_t old = sc->a[0], new_addr = sc->a[4];
	unsigned long old_len = ROUND_UP((unsigned long)sc->a[1]);
	unsigned long new_len = ROUND_UP((unsigned long)sc->a[2]);
	long flags = sc->a[3], r;
	struct pg_map *p, m;
	int have;

	if (old & (PG_PAGE - 1))
		return defuse_forward(sc);
	if (flags & MREMAP_FIXED)
		replaced(new_addr, new_addr + new_len);
	pg_mutex_lock();
	p = pg_map_at(old);
	have = p != NULL;
	if (have) {
		m = *p;
		pg_cache_get(m.c);
		core_open_get(m.open);
	}
	pg_mutex_unlock();
	if (!have)
		return defuse_forward(sc);
	if (new_len < old_len)
		flush_range(old + new_len, old + old_len);
	r = defuse_forward(sc);
	if (sys_failed(r)) {
		core_open_put(m.open);
		pg_cache_put(m.c);
		return r;
	}
	/* The moved part gets a record of its own (the references taken
	   above); the old place is forgotten, unless DONTUNMAP kept it. */
	m.off += old - m.start;
	m.start = r;
	m.end = r + new_len;
	if (!(flags & MREMAP_DONTUNMAP))
		forget(old, old + (old_len ? old_len : PG_PAGE));
	pg_mutex_lock();
	if (insert_map(&m) < 0) {
		pg_mutex_unlock();
		core_open_put(m.open);
		pg_cache_put(m.c);
		return r;
	}
	pg_mutex_unlock();
	if (new_len > old_len) {
		if (m.maywrite)
			pg_protect(r + old_len, r + new_len);
		if (pg_mode == PG_EAGER) {
			pg_lock(&m.c->sh->lock);
			pg_fill_eager(m.c, m.open, m.off + old_len, r + old_len, r + new_len,
				      PROT_READ | (m.readonly ? 0 : PROT_WRITE));
			pg_unlock(&m.c->sh->lock);
		}
	}
	return r;
}

static long do_msync(const struct defuse_syscall *sc)
{
	uintptr_t a = sc->a[0], e = ROUND_UP(a + sc->a[1]);
	long r = defuse_forward(sc);	/* its checks (EINVAL, ENOMEM) first */
	struct pg_cache *v[16];
	int more, n;

	if (r < 0)
		return r;
	r = flush_range(a, e);
	if (r == 0 && (sc->a[2] & MS_SYNC)) {
		n = caches_in(a, e, v, 16, &more);
		for (int i = 0; i < n; i++) {
			struct pg_map *p;
			struct core_open *o = NULL;

			pg_mutex_lock();
			for (int k = first_after(a); k < nmaps && maps[k].start < e && !o; k++)
				if (maps[k].c == v[i]) {
					p = &maps[k];
					o = p->open;
					core_open_get(o);
				}
			pg_mutex_unlock();
			if (o) {
				long s = mod_fsync(CORE_REF(v[i]->mount), o->fh, 0);

				r = r ? r : s;
				core_open_put(o);
			}
			pg_cache_put(v[i]);
		}
	}
	return r < 0 ? r : 0;
}

static long do_madvise(const struct defuse_syscall *sc)
{
	uintptr_t a = sc->a[0], e = ROUND_UP(a + sc->a[1]);

	if (sc->a[2] != MADV_REMOVE)
		return defuse_forward(sc);
	/* Frees the file's bytes there: the module's, then the cache's. */
	for (uintptr_t at = a; at < e;) {
		struct pg_map m, *p = NULL;
		uintptr_t s, x;
		long r;

		pg_mutex_lock();
		for (int i = first_after(at); i < nmaps && maps[i].start < e && !p; i++)
			p = &maps[i];
		if (p) {
			m = *p;
			pg_cache_get(m.c);
			core_open_get(m.open);
		}
		pg_mutex_unlock();
		if (!p)
			break;
		s = m.start > at ? m.start : at;
		x = m.end < e ? m.end : e;
		if (!m.shared || !m.maywrite) {
			r = -EACCES;
		} else {
			pg_lock(&m.c->sh->lock);
			r = mod_fallocate(CORE_REF(m.c->mount), m.open->fh,
					  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  m.off + (s - m.start), x - s);
			pg_unlock(&m.c->sh->lock);
		}
		core_open_put(m.open);
		pg_cache_put(m.c);
		if (r < 0)
			return r;
		at = x;
	}
	return defuse_forward(sc);
}

/* mprotect: a shared mapping of a description open read-only never
   becomes writable. */
static long do_mprotect(const struct defuse_syscall *sc)
{
	uintptr_t a = sc->a[0], e = ROUND_UP(a + sc->a[1]);
	int ro = 0;

	if (!(sc->a[2] & PROT_WRITE))
		return 0;
	pg_mutex_lock();
	for (int i = first_after(a); i < nmaps && maps[i].start < e; i++)
		ro |= maps[i].readonly;
	pg_mutex_unlock();
	return ro ? -EACCES : 0;
}

long core_pager_call(void *arg)
{
	const struct defuse_syscall *sc = arg;

	switch (sc->nr) {
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		return do_mprotect(sc);
	case SYS_munmap:
		return do_munmap(sc);
	case SYS_mremap:
		return do_mremap(sc);
	case SYS_msync:
		return do_msync(sc);
	case SYS_madvise:
		return do_madvise(sc);
	case SYS_mmap:
		/* Another mapping with MAP_FIXED over ours: capture maps it
		   (0: go on). */
		if (sc->a[3] & MAP_FIXED)
			replaced(sc->a[0] & ~(PG_PAGE - 1), ROUND_UP(sc->a[0] + sc->a[1]));
		return 0;
	}
	return defuse_forward(sc);
}

/* ---- fork, exec, exit -------------------------------------------------------- */

static unsigned long fork_mask;
static int fork_held;

long core_pager_before_fork(void *unused)
{
	unsigned long all = ~0UL, old;

	(void)unused;
	/* What the child starts must share this tree's caches. */
	pg_reg_ensure();
	if (pg_mode == PG_UNKNOWN)
		return 0;
	/* The child gets our records whole. */
	pg_mutex_lock();
	fork_held = 1;
	fork_mask = 0;
	if (!nmaps)
		return 0;
	/*
	 * The child's mappings are not registered until its hook runs: no
	 * handler of the program's may run there before (a page it touched
	 * would be a page of zeros).  Signals the kernel forces stay open.
	 */
	all &= ~(1UL << (SIGSYS - 1) | 1UL << (SIGSEGV - 1) | 1UL << (SIGBUS - 1) |
		 1UL << (SIGILL - 1) | 1UL << (SIGFPE - 1) | 1UL << (SIGTRAP - 1));
	sys4(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, 8);
	fork_mask = old;
	fork_held = 2;
	return 0;
}

long core_pager_after_fork_parent(void *unused)
{
	unsigned long mask = fork_mask;
	int held = fork_held;

	(void)unused;
	if (!held)
		return 0;
	fork_held = 0;
	pg_mutex_unlock();
	if (held == 2)
		sys4(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8);
	return 0;
}

long core_pager_after_fork_child(void *unused)
{
	unsigned long mask = fork_mask;
	int held = fork_held, ok = 1, any = 0;

	(void)unused;
	if (!held)
		return 0;
	fork_held = 0;
	mutex = 0;	/* the parent's thread held it */
	for (int i = 0; i < PG_CACHES; i++)
		if (caches[i].refs > 0) {
			pg_reg_hold(caches[i].sh, caches[i].mfd);
			any = 1;
		}
	for (int i = 0; i < nmaps; i++)
		if (maps[i].maywrite)
			pg_reg_wrote(maps[i].c->sh);
	if (pg_mode == PG_UFFD && !any && !nmaps)
		pg_fault_forget();
	if (any && pg_mode == PG_UFFD) {
		ok = pg_fault_after_fork() == 0;
		for (int i = 0; ok && i < PG_CACHES; i++)
			if (caches[i].refs > 0)
				ok = pg_register_window((uintptr_t)caches[i].win,
							caches[i].win_len) == 0;
		for (int i = 0; ok && i < nmaps; i++)
			ok = pg_register(maps[i].start, maps[i].end - maps[i].start,
					 maps[i].shared && maps[i].maywrite) == 0;
	}
	if (!ok) {
		/* No userfaultfd here: every page of every mapping now. */
		pg_mode = PG_EAGER;
		for (int i = 0; i < nmaps; i++) {
			struct pg_cache *c = maps[i].c;

			pg_lock(&c->sh->lock);
			pg_fill_eager(c, maps[i].open, maps[i].off, maps[i].start, maps[i].end,
				      PROT_READ | (maps[i].readonly ? 0 : PROT_WRITE));
			pg_unlock(&c->sh->lock);
		}
	}
	/* Signals come back once the fault thread is there (pager_fault.c). */
	if (held == 2 && !(ok && pg_fault_mask_later(mask)))
		sys4(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8);
	return 0;
}

/* Everything this process wrote through its mappings goes to the module. */
static void flush_all(void)
{
	if (!__atomic_load_n(&core_pager_nmaps, __ATOMIC_RELAXED) || defuse_self.vfork_child)
		return;
	flush_range(0, ~(uintptr_t)0);
}

long core_pager_flush(void *unused)
{
	(void)unused;
	flush_all();
	return 0;
}

long core_pager_exit(void *unused)
{
	(void)unused;
	flush_all();
	pg_fault_stop();
	/* Gone cleanly: no holder of the tree's left to suspect of unsent
	   pages (pg_reg_check_orphans). */
	if (!defuse_self.vfork_child)
		for (int i = 0; i < PG_CACHES; i++)
			if (caches[i].refs > 0)
				pg_reg_drop(caches[i].sh);
	return 0;
}

char *core_exec_pager_env(char *buf, unsigned long cap)
{
	flush_all();
	return pg_reg_handdown(buf, cap) ? buf : NULL;
}

void core_exec_pager_undo(void)
{
	pg_reg_handdown_undo();
}
