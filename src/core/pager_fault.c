/*
 * userfaultfd for the pager (docs/paging.md): the fault thread, filling a
 * cache's pages from the module, and the written-page scan.
 *
 * A mapping of a cache is registered for missing faults (the page is not
 * in the memfd yet) and minor ones (it is, but not mapped here).  Either
 * way the fault thread fills the pages of a window around the fault that
 * are missing: it reads them from the module into a buffer of its own and
 * puts them into the memfd with UFFDIO_COPY through the cache's fill
 * window (a second mapping of the memfd, registered for missing faults
 * only and never touched).  UFFDIO_COPY fails with EEXIST for a page that
 * is already there, so a fill never overwrites a page someone filled or
 * wrote meanwhile, in any process.  Then UFFDIO_CONTINUE maps the pages at
 * the faulting address, which wakes the faulting thread.
 *
 * Shared mappings of a description open for writing are registered for
 * write-protection too, asynchronous (UFFD_FEATURE_WP_ASYNC): pages come
 * in write-protected, the first write to one is resolved by the kernel
 * alone (no round trip), and PAGEMAP_SCAN reports the written pages and
 * protects them again in one step: write-back sends exactly those.
 *
 * The fault thread runs no code of the program's and is never captured:
 * it marks itself as DEFUSE (in_defuse), switches Syscall User Dispatch
 * off for itself and blocks every signal it can.  It takes the pager's
 * mutex only to look a mapping up, and no other lock of DEFUSE's: a
 * program thread may fault while it holds any of them.  The module's own
 * locks it may need (to read a page); a program thread never faults
 * while it holds one, because DEFUSE makes the pages of a buffer it hands
 * a module present first (pager_prefault).
 *
 * Without userfaultfd (an unprivileged process: vm.unprivileged_userfaultfd
 * is 0 and /dev/userfaultfd is root's), or with DEFUSE_PAGING=eager, the
 * pager fills a mapping's pages at mmap and writes back every present page
 * of a shared writable mapping: slow for large files, never wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include "kernel/sys.h"
#include "core/pager_int.h"

/* Newer than the headers we build with (Linux 6.1's). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
struct pg_uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define PG_UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct pg_uffdio_poison)

/* PAGEMAP_SCAN (Linux 6.7). */
struct pg_page_region {
	uint64_t start, end, categories;
};
struct pg_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PG_PAGEMAP_SCAN _IOWR('f', 16, struct pg_pm_scan_arg)
#define PG_PAGE_IS_WRITTEN (1 << 1)
#define PG_PM_SCAN_WP_MATCHING (1 << 0)
#define PG_PM_SCAN_CHECK_WPASYNC (1 << 1)

/* What the pager needs of userfaultfd. */
#define NEEDED (UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM |		\
		UFFD_FEATURE_EVENT_REMAP |					\
		UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED |	\
		UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_THREAD_ID)

/*
 * Pages filled at a fault: a fault out of the blue fills its own page only
 * (a page filled is a page allocated and copied, about 1 us: 16 pages of
 * the kernel's fault-around made a random 4 KiB read through a mapping of
 * 1 GiB on memfs cost 19 us instead of 9).  A fault just past the last
 * window of a mapping is sequential: its window starts there and doubles,
 * up to MAX_WINDOW, and the next window is filled ahead while the program
 * reads this one (one round trip per window instead of one per page).
 */
#define WINDOW PG_PAGE
#define MAX_WINDOW (512 * PG_PAGE)
/* The fault thread's buffer for what it reads from the module. */
#define BIG_BUF MAX_WINDOW
/*
 * A window is read and copied in pieces of this much, so that what the
 * module's read put into the buffer is still in the CPU's cache when
 * UFFDIO_COPY reads it (a 128 MiB mmap scan: 64-67 ms instead of 67-71
 * with the whole 2 MiB window at once; 64 KiB pieces did no better).
 */
#define FILL_CHUNK (256 * 1024L)

int pg_mode;
static int forced_mode;		/* DEFUSE_PAGING, read at start-up */
static int uffd = -1, pagemap = -1, stopfd = -1;
static int has_poison;
static pthread_t thread;
static int thread_up;
static int32_t starting;	/* threads deciding the mode at once */
static __thread char *fill_buf CORE_TLS;

/*
 * A child of glibc's fork() cannot make a thread in DEFUSE's fork hook:
 * glibc holds its malloc locks until fork() is about to return, and
 * pthread_create allocates.  So there the thread comes in an atfork child
 * handler, which glibc runs once its locks are free, before fork()
 * returns to the program; the child's mappings are registered already,
 * and its signals stay blocked until then (a handler touching a page
 * would wait for a thread not there yet).  A fork made otherwise (a raw
 * system call) makes the thread in the hook.
 */
static __thread char glibc_forking CORE_TLS;
static int defer_thread, thread_wanted, mask_pending, atfork_set;
static unsigned long pending_mask;

/*
 * The fault thread holds the mapping it serves (its cache and its
 * description) from fault_of to fault_done, and the faulting thread runs
 * on before that: the pages are mapped first.  It may then unmap and
 * close, and the description's last reference went in the fault thread a
 * moment later, the module's release with it: a FUSE file system still
 * had the file open at the unlink that followed (hidden, and the rmdir
 * after failed with ENOTEMPTY).  serving is odd while the fault thread
 * holds a mapping; pg_fault_quiesce waits for a hold that began before a
 * mapping was forgotten, as the kernel's munmap waits for the faults in
 * the range.  quiescing: threads waiting so (the fault thread wakes them
 * only then: no system call per fault).
 */
static uint32_t serving, quiescing;

static int ensure_thread(void);

/* The fault thread is the one with the big buffer. */
static int in_fault_thread(void)
{
	return fill_buf != NULL;
}
static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

void pg_env_init(void)
{
	const char *m = getenv("DEFUSE_PAGING");

	if (m && !strcmp(m, "eager"))
		forced_mode = PG_EAGER;
	else if (m && !strcmp(m, "off"))
		forced_mode = PG_OFF;
}

/* ---- the memfd ---------------------------------------------------------- */

int64_t pg_size(int fd)
{
	struct stat st;
	long r = sys2(SYS_fstat, fd, &st);

	return r < 0 ? r : st.st_size;
}

int64_t pg_hole(int fd, int64_t off, int64_t end)
{
	int64_t h = sys3(SYS_lseek, fd, off, SEEK_HOLE);

	if (h < 0 || h >= end)
		return end;	/* past the end: nothing there to fill */
	/* Holes are whole pages; an offset inside one is the size, whose
	   page holds data. */
	if (h & (PG_PAGE - 1))
		h = (h + PG_PAGE - 1) & ~(PG_PAGE - 1);
	return h < end ? h : end;
}

int64_t pg_data(int fd, int64_t off, int64_t end)
{
	int64_t d = sys3(SYS_lseek, fd, off, SEEK_DATA);

	if (d < 0 || d >= end)
		return end;
	return d & ~(int64_t)(PG_PAGE - 1);
}

/* ---- userfaultfd ---------------------------------------------------------- */

static long make_uffd(void)
{
	struct uffdio_api api = { UFFD_API, NEEDED | UFFD_FEATURE_POISON, 0 };
	long fd = sys1(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		/* Unprivileged: /dev/userfaultfd, if the administrator opened it. */
		long dev = sys3(SYS_open, "/dev/userfaultfd", O_RDWR | O_CLOEXEC, 0);

		if (dev < 0)
			return fd;
		fd = sys3(SYS_ioctl, dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		sys1(SYS_close, dev);
		if (fd < 0)
			return fd;
	}
	if (sys3(SYS_ioctl, fd, UFFDIO_API, &api) < 0) {
		/* An older kernel: ask again without poison. */
		sys1(SYS_close, fd);
		fd = sys1(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		api = (struct uffdio_api){ UFFD_API, NEEDED, 0 };
		if (fd < 0 || sys3(SYS_ioctl, fd, UFFDIO_API, &api) < 0 ||
		    (api.features & NEEDED) != NEEDED) {
			if (fd >= 0)
				sys1(SYS_close, fd);
			return -ENOSYS;
		}
	}
	has_poison = (api.features & UFFD_FEATURE_POISON) != 0;
	return defuse_fd_reserve(fd);
}

int pg_register(uintptr_t start, unsigned long len, int track)
{
	struct uffdio_register r = {
		{ start, len },
		UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR |
			(track ? UFFDIO_REGISTER_MODE_WP : 0),
		0 };
	long e;

	if (pg_mode != PG_UFFD)
		return 0;
	if (defer_thread)
		thread_wanted = 1;
	else if ((e = ensure_thread()) < 0)
		return (int)e;
	e = sys3(SYS_ioctl, uffd, UFFDIO_REGISTER, &r);
	if (e < 0)
		return (int)e;
	if (track)
		pg_protect(start, start + len);
	return 0;
}

int pg_register_window(uintptr_t start, unsigned long len)
{
	struct uffdio_register r = { { start, len }, UFFDIO_REGISTER_MODE_MISSING, 0 };

	if (pg_mode != PG_UFFD)
		return 0;
	return (int)sys3(SYS_ioctl, uffd, UFFDIO_REGISTER, &r);
}

/* Every page of [start, end) write-protected, present or not (markers:
   UFFD_FEATURE_WP_UNPOPULATED), so that only a write makes one "written". */
void pg_protect(uintptr_t start, uintptr_t end)
{
	struct uffdio_writeprotect w = { { start, end - start }, UFFDIO_WRITEPROTECT_MODE_WP };

	if (pg_mode == PG_UFFD && end > start)
		while (sys3(SYS_ioctl, uffd, UFFDIO_WRITEPROTECT, &w) == -EAGAIN)
			;
}

long pg_written(uintptr_t start, uintptr_t end, uintptr_t (*v)[2], int max, uintptr_t *next)
{
	struct pg_page_region r[64];
	struct pg_pm_scan_arg a = {
		.size = sizeof(a), .flags = PG_PM_SCAN_WP_MATCHING | PG_PM_SCAN_CHECK_WPASYNC,
		.start = start, .end = end, .vec = (uintptr_t)r,
		.vec_len = max < 64 ? max : 64, .category_mask = PG_PAGE_IS_WRITTEN,
		.return_mask = PG_PAGE_IS_WRITTEN,
	};
	long n = sys3(SYS_ioctl, pagemap, PG_PAGEMAP_SCAN, &a);

	*next = end;
	if (n < 0)
		return n;
	*next = a.walk_end ? a.walk_end : end;
	for (long i = 0; i < n; i++) {
		v[i][0] = r[i].start;
		v[i][1] = r[i].end;
	}
	return n;
}

/* Wakes the threads waiting on a fault in [start, start+len). */
static void wake(uintptr_t start, unsigned long len)
{
	struct uffdio_range r = { start, len };

	sys3(SYS_ioctl, uffd, UFFDIO_WAKE, &r);
}

/* Maps the cache's pages at [s, e): a page mapped already is passed
   over; the first that is not in the cache (past its end, or not filled)
   ends it.  Returns where it ended. */
static uintptr_t map_range(uintptr_t s, uintptr_t e, int wp)
{
	while (s < e) {
		struct uffdio_continue c = { { s, e - s }, wp ? UFFDIO_CONTINUE_MODE_WP : 0, 0 };
		long r = sys3(SYS_ioctl, uffd, UFFDIO_CONTINUE, &c);

		if (r == 0)
			return e;
		if (c.mapped > 0)
			s += c.mapped;
		else if (c.mapped == -EEXIST)
			s += PG_PAGE;
		else if (c.mapped != -EAGAIN || in_fault_thread())
			break;	/* the fault thread never waits for itself */
	}
	return s;
}

/*
 * n bytes of buf into the cache at off (page-aligned), page by page where
 * they are missing: a page already there is kept.  Through the fill window
 * (at == NULL), or straight into a shared mapping of the cache at at
 * (which adds the pages to the memfd as the window would, and maps them
 * there: no second page table entry in the window, no UFFDIO_CONTINUE;
 * write-protected when wp); a page that was there already is mapped at at
 * with UFFDIO_CONTINUE then.
 */
static long copy_in(struct pg_cache *c, int64_t off, const char *buf, long n, char *at, int wp)
{
	while (n > 0) {
		struct uffdio_copy cp = {
			at ? (uintptr_t)at : (uintptr_t)c->win + off, (uintptr_t)buf, n,
			at ? (wp ? UFFDIO_COPY_MODE_WP : 0) : UFFDIO_COPY_MODE_DONTWAKE, 0 };
		long r;

		if ((uint64_t)off + n > c->win_len)
			return -EFBIG;
		r = sys3(SYS_ioctl, uffd, UFFDIO_COPY, &cp);
		if (r == 0)
			return 0;
		if (cp.copy > 0) {
			off += cp.copy;
			buf += cp.copy;
			n -= cp.copy;
			at = at ? at + cp.copy : NULL;
			continue;
		}
		if (cp.copy == -EAGAIN) {
			/*
			 * The address space is changing (a remap whose event the
			 * fault thread has to read first): other threads wait;
			 * the fault thread itself gives up, the fault comes again.
			 */
			if (in_fault_thread())
				return -EAGAIN;
			continue;
		}
		if (cp.copy != -EEXIST)
			return cp.copy < 0 ? cp.copy : r;	/* past the end */
		if (at) {
			map_range((uintptr_t)at, (uintptr_t)at + PG_PAGE, wp);
			at += PG_PAGE;
		}
		off += PG_PAGE;
		buf += PG_PAGE;
		n -= PG_PAGE;
	}
	return 0;
}

/* Eager mode (the caller holds the cache's lock): pwrite where still a hole,
   never past the cache's size (a write there would move it). */
static long write_in(struct pg_cache *c, int64_t off, const char *buf, long n)
{
	int64_t size = pg_size(c->mfd);

	if (size < 0)
		return size;
	if (off + n > size)
		n = size > off ? size - off : 0;
	while (n > 0) {
		int64_t h = pg_hole(c->mfd, off, off + n), d;
		long r;

		if (h >= off + n)
			return 0;
		d = pg_data(c->mfd, h, off + n);
		r = sys4(SYS_pwrite64, c->mfd, buf + (h - off), d - h, h);
		if (r < 0)
			return r;
		n -= d - off;
		buf += d - off;
		off = d;
	}
	return 0;
}

/* Up to n bytes of the file at off, from the module: the count (short at
   its end of file), or -errno. */
static long read_module(struct pg_cache *c, struct core_open *open, char *buf, long n,
			int64_t off)
{
	const struct defuse_mount_ref *ref = CORE_REF(c->mount);
	long done = 0;

	while (done < n) {
		long r = mod_read(ref, open->fh, buf + done, n - done, off + done);

		if (r < 0)
			return done ? done : r;
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

long pg_fill(struct pg_cache *c, struct core_open *open, int64_t from, int64_t to, int64_t must)
{
	char small[16384], *buf = fill_buf ? fill_buf : small;
	long cap = fill_buf ? BIG_BUF : (long)sizeof(small), err = 0;
	/* Below slow, pieces of one page: a piece the module failed is read
	   again page by page, so that one bad page costs only itself (the
	   eager mode has no fault to come back with for the others). */
	int64_t size = pg_size(c->mfd), end, slow = 0;

	if (size < 0)
		return size;
	end = (size + PG_PAGE - 1) & ~(int64_t)(PG_PAGE - 1);
	if (to > end)
		to = end;
	while (from < to) {
		int64_t h = pg_hole(c->mfd, from, to), d;

		if (h >= to)
			break;
		d = pg_data(c->mfd, h, to);
		for (int64_t x = h; x < d;) {
			long len = x < slow ? (long)PG_PAGE : d - x < cap ? d - x : cap;
			long r = read_module(c, open, buf, len, x);

			if (r < 0 && len > (long)PG_PAGE) {
				slow = x + len;
				continue;
			}
			if (r < 0) {
				if (must >= x && must < x + len)
					err = r;
				x += len;
				continue;
			}
			memset(buf + r, 0, len - r);	/* past the module's end */
			r = pg_mode == PG_UFFD ? copy_in(c, x, buf, len, NULL, 0) :
						 write_in(c, x, buf, len);
			if (r < 0 && must >= x && must < x + len && r != -EFAULT)
				err = r;
			x += len;
		}
		from = d;
	}
	return err;
}

void pg_fill_eager(struct pg_cache *c, struct core_open *open, int64_t off, uintptr_t start,
		   uintptr_t end, int prot)
{
	int64_t from = off, to = off + (int64_t)(end - start), size;
	long empty = -1;

	pg_fill(c, open, from, to, -1);
	if ((size = pg_size(c->mfd)) < 0)
		return;
	size = (size + PG_PAGE - 1) & ~(int64_t)(PG_PAGE - 1);
	if (to > size)
		to = size;	/* past the end it is SIGBUS already */
	while (from < to) {
		int64_t h = pg_hole(c->mfd, from, to), d;

		if (h >= to)
			break;
		d = pg_data(c->mfd, h, to);
		if (empty < 0 &&
		    (empty = sys2(SYS_memfd_create, "defuse-unreadable", MFD_CLOEXEC)) < 0)
			return;
		sys6(SYS_mmap, start + (h - off), d - h, prot, MAP_FIXED | MAP_PRIVATE, empty, 0);
		from = d;
	}
	if (empty >= 0)
		sys1(SYS_close, empty);
}

/* A page the module could not give: the program gets SIGBUS there, as for
   an I/O error on a mapped kernel file. */
static void cannot_fill(uintptr_t page, unsigned long tid)
{
	struct pg_uffdio_poison p = { { page, PG_PAGE }, 0, 0 };
	siginfo_t si;

	if (has_poison && sys3(SYS_ioctl, uffd, PG_UFFDIO_POISON, &p) == 0)
		return;
	/* No poison: SIGBUS to the faulting thread of ours, then it retries. */
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = BUS_ADRERR;
	si.si_addr = (void *)page;
	sys4(SYS_rt_tgsigqueueinfo, sys0(SYS_getpid), tid, SIGBUS, &si);
	wake(page, PG_PAGE);
}

/* One piece of fill_window: at most FILL_CHUNK bytes. */
static long fill_chunk(struct pg_cache *c, struct core_open *open, int64_t from, int64_t to,
		       char *at, int wp)
{
	long len = to - from, r = read_module(c, open, fill_buf, len, from);

	if (r < 0)
		return r;
	if (r < len)
		memset(fill_buf + r, 0, ((r + PG_PAGE - 1) & ~(PG_PAGE - 1)) - r);
	/* Past the module's end nothing is filled (past the cache's, the
	   kernel would refuse it): those pages fault again if inside. */
	if (r < len)
		len = r ? (r + PG_PAGE - 1) & ~(PG_PAGE - 1) : PG_PAGE;
	if (!r)
		memset(fill_buf, 0, PG_PAGE);
	r = copy_in(c, from, fill_buf, len, at, wp);
	return r == -EFAULT ? 0 : r < 0 ? r : len;
}

/*
 * Fills [from, to) of c's file (clipped by the module's end) straight: one
 * read from the module, one UFFDIO_COPY, which passes over pages there
 * already, per FILL_CHUNK.  The fault thread's way: its windows are mostly
 * empty.  at: NULL, or where from is mapped shared (copy_in).  Returns how
 * much of the window from its start is there now (mapped at at, if given),
 * or -errno.
 */
static long fill_window(struct pg_cache *c, struct core_open *open, int64_t from, int64_t to,
			char *at, int wp)
{
	long done = 0;

	while (from + done < to) {
		int64_t x = from + done, y = to - x > FILL_CHUNK ? x + FILL_CHUNK : to;
		long r = fill_chunk(c, open, x, y, at ? at + done : NULL, wp);

		if (r < 0)
			return done ? done : r;
		done += r;
		if (r < y - x)
			break;
	}
	return done;
}

/* What the fault thread knows of one mapping while it serves a fault. */
struct fault {
	struct pg_cache *c;
	struct core_open *open;
	uintptr_t start;
	int64_t off, end;	/* the mapping's file range */
	int wp;
};

/* The mapping at addr, held (c and open), or 0 if none. */
static int fault_of(uintptr_t addr, struct fault *f, int64_t *foff, long *win, int64_t *w0)
{
	struct pg_map *mp;

	pg_mutex_lock();
	mp = pg_map_at(addr);
	if (!mp) {
		pg_mutex_unlock();
		return 0;
	}
	f->c = mp->c;
	f->open = mp->open;
	pg_cache_get(f->c);
	core_open_get(f->open);
	__atomic_add_fetch(&serving, 1, __ATOMIC_SEQ_CST);	/* odd: held */
	f->start = mp->start;
	f->off = mp->off;
	f->end = mp->off + (int64_t)(mp->end - mp->start);
	f->wp = mp->shared && mp->maywrite;
	*foff = mp->off + (int64_t)(addr - mp->start);
	if (mp->ra_win && *foff >= mp->ra_end && *foff < mp->ra_end + mp->ra_win) {
		/* Sequential: on from here, twice as much. */
		*w0 = *foff;
		*win = mp->ra_win * 2 > (long)MAX_WINDOW ? (long)MAX_WINDOW : mp->ra_win * 2;
	} else {
		*w0 = *foff & ~(int64_t)(WINDOW - 1);
		*win = WINDOW;
	}
	if (*w0 < f->off)
		*w0 = f->off;
	mp->ra_end = *w0 + *win < f->end ? *w0 + *win : f->end;
	mp->ra_win = *win;
	pg_mutex_unlock();
	return 1;
}

static void fault_done(struct fault *f)
{
	core_open_put(f->open);
	pg_cache_put(f->c);
	__atomic_add_fetch(&serving, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&quiescing, __ATOMIC_SEQ_CST))
		sys3(SYS_futex, &serving, FUTEX_WAKE_PRIVATE, INT32_MAX);
}

void pg_fault_quiesce(void)
{
	uint32_t s = __atomic_load_n(&serving, __ATOMIC_SEQ_CST);

	if (!(s & 1) || in_fault_thread())
		return;
	__atomic_add_fetch(&quiescing, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&serving, __ATOMIC_SEQ_CST) == s)
		sys4(SYS_futex, &serving, FUTEX_WAIT_PRIVATE, s, NULL);
	__atomic_sub_fetch(&quiescing, 1, __ATOMIC_SEQ_CST);
}

/* The next window of a sequential reader, filled and mapped before it
   gets there (writable for a writer); the mapping's read-ahead moves on
   past it. */
static void read_ahead(uintptr_t addr, int64_t from, long win, int writer)
{
	struct fault f;
	int64_t foff, w0;
	long w;
	struct pg_map *mp;

	if (!fault_of(addr, &f, &foff, &w, &w0))
		return;
	/* Only when nothing else holds the cache (as on_fault says). */
	if (from < f.end && pg_lock_within(&f.c->sh->lock, 0, 0)) {
		int64_t to = from + win < f.end ? from + win : f.end;

		char *at = (char *)f.start + (from - f.off);

		/* A shared mapping gets its pages straight (copy_in). */
		if (fill_window(f.c, f.open, from, to, f.wp ? at : NULL, !writer) >= 0 && !f.wp)
			map_range((uintptr_t)at, f.start + (uintptr_t)(to - f.off), 0);
		pg_unlock(&f.c->sh->lock);
		pg_mutex_lock();
		mp = pg_map_at(addr);
		if (mp && mp->start == f.start) {
			mp->ra_end = to;
			mp->ra_win = win;
		}
		pg_mutex_unlock();
	}
	fault_done(&f);
}

/* Serves one fault; returns 1 when read-ahead is worth doing after it
   (*next: an address of the mapping, *from and *win the next window). */
static int on_fault(const struct uffd_msg *m, uintptr_t *next, int64_t *from, long *win,
		    int *writer)
{
	uintptr_t addr = m->arg.pagefault.address & ~(PG_PAGE - 1), s, e, done, mapped = 0;
	struct fault f;

	*writer = 0;
	int64_t foff, w0, w1;
	long r = 0, w;
	int seq;

	if (!fault_of(addr, &f, &foff, &w, &w0)) {
		/* Gone meanwhile (or never ours): the retry says what it is. */
		wake(addr, PG_PAGE);
		return 0;
	}
	w1 = w0 + w < f.end ? w0 + w : f.end;
	seq = w > (long)WINDOW;
	s = f.start + (uintptr_t)(w0 - f.off);
	e = f.start + (uintptr_t)(w1 - f.off);
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR) {
		/* There: map it and what follows it there, up to a hole
		   (where UFFDIO_CONTINUE stops). */
		done = map_range(addr, e, f.wp);
		seq = 0;
	} else {
		/*
		 * Under the cache's lock: a truncation and a growth between the
		 * module's read and the copy would put back bytes the file no
		 * longer has.  Not when the faulting thread holds it (it waits
		 * for this fill, and nothing can truncate meanwhile), and not
		 * for long (its holder may wait for a fault behind this one).
		 */
		int locked = pg_lock_within(&f.c->sh->lock, 2000000,
					    (int32_t)m->arg.pagefault.feat.ptid);

		/*
		 * A write: its page comes writable (it is written, and needs
		 * no second fault to say so); a sequential writer's whole
		 * window too (a page written back that it did not write is
		 * only work, never wrong).  A shared mapping gets its pages
		 * straight (copy_in), the others through the fill window.
		 */
		*writer = (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) && f.wp;
		r = fill_window(f.c, f.open, w0, w1, f.wp ? (char *)s : NULL, !*writer);
		if (r < 0 && r != -EAGAIN)
			/* The window failed: its page alone, through the fill
			   window, may not. */
			r = pg_fill(f.c, f.open, foff, foff + PG_PAGE, foff);
		else if (r >= 0 && f.wp)
			mapped = s + (uintptr_t)r;
		if (locked)
			pg_unlock(&f.c->sh->lock);
		if (r < 0)
			done = s;
		else if (mapped)
			done = mapped;
		else if (*writer && seq)
			done = map_range(s, e, 0);
		else {
			if (*writer)
				map_range(addr, addr + PG_PAGE, 0);
			done = map_range(s, e, f.wp);
		}
		r = r < 0 ? r : 0;
	}
	if (r < 0 && r != -EAGAIN)
		cannot_fill(addr, m->arg.pagefault.feat.ptid);
	else if (r < 0 || done <= addr)
		/* Mapped by someone else, or past the end now: its thread
		   retries and sees. */
		wake(addr, PG_PAGE);
	*next = addr;
	*from = w1;
	*win = w * 2 > (long)MAX_WINDOW ? (long)MAX_WINDOW : w * 2;
	fault_done(&f);
	return seq && r == 0 && done >= e && w1 < f.end;
}

static void *fault_thread(void *arg)
{
	struct uffd_msg m[16];

	(void)arg;
	core_own_thread();
	fill_buf = (char *)sys6(SYS_mmap, 0, BIG_BUF, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)fill_buf))
		fill_buf = NULL;
	for (;;) {
		struct pollfd p[2] = { { uffd, POLLIN, 0 }, { stopfd, POLLIN, 0 } };
		long n = sys3(SYS_read, uffd, m, sizeof(m));
		uintptr_t ra_addr = 0;
		int64_t ra_from = 0;
		long ra_win = 0;
		int ra_writer = 0;

		if (n == -EAGAIN || n == -EINTR) {
			sys5(SYS_ppoll, p, 2, NULL, NULL, 8);
			if (p[1].revents)
				break;
			continue;
		}
		if (n < 0)
			break;
		for (long i = 0; i < n / (long)sizeof(m[0]); i++) {
			switch (m[i].event) {
			case UFFD_EVENT_PAGEFAULT:
				if (!on_fault(&m[i], &ra_addr, &ra_from, &ra_win, &ra_writer))
					ra_addr = 0;
				break;
			default:
				/* UFFD_EVENT_REMAP: only read, so that the mremap
				   goes on; the mremap itself (pager.c) moves the
				   mapping's record. */
				break;
			}
		}
		/* A sequential reader: its next window now, unless more
		   faults wait. */
		if (ra_addr && n < (long)sizeof(m))
			read_ahead(ra_addr, ra_from, ra_win, ra_writer);
	}
	if (fill_buf)
		sys2(SYS_munmap, fill_buf, BIG_BUF);
	return NULL;
}

static int start_thread(void)
{
	/* Every signal blocked but the synchronous ones and SIGSYS (the
	   kernel forces those, and kills a thread that blocks them). */
	unsigned long all = ~0UL, old;
	int r;

	all &= ~(1UL << (SIGSYS - 1) | 1UL << (SIGSEGV - 1) | 1UL << (SIGBUS - 1) |
		 1UL << (SIGILL - 1) | 1UL << (SIGFPE - 1) | 1UL << (SIGTRAP - 1));
	if (stopfd < 0) {
		long fd = sys2(SYS_eventfd2, 0, EFD_CLOEXEC);

		if (fd < 0 || (stopfd = defuse_fd_reserve(fd)) < 0)
			return fd < 0 ? (int)fd : stopfd;
	}
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
	r = pthread_create(&thread, NULL, fault_thread, NULL);
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
	if (r)
		return -r;
	__atomic_store_n(&thread_up, 1, __ATOMIC_RELEASE);
	return 0;
}

/* userfaultfd and the pagemap; the fault thread comes with the first
   registered mapping (ensure_thread). */
static int start_uffd(void)
{
	long fd = make_uffd(), pm;

	if (fd < 0)
		return (int)fd;
	pm = sys3(SYS_open, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (pm < 0 || (pagemap = defuse_fd_reserve(pm)) < 0) {
		defuse_fd_release(fd);
		return pm < 0 ? (int)pm : -EMFILE;
	}
	uffd = (int)fd;
	return 0;
}

static int ensure_thread(void)
{
	int r = 0;

	if (__atomic_load_n(&thread_up, __ATOMIC_ACQUIRE))
		return 0;
	pg_lock(&starting);
	if (!thread_up)
		r = start_thread();
	pg_unlock(&starting);
	return r;
}

int pg_fault_start(void)
{
	int mode = __atomic_load_n(&pg_mode, __ATOMIC_ACQUIRE);

	if (mode != PG_UNKNOWN)
		return mode;
	pg_lock(&starting);
	if (pg_mode == PG_UNKNOWN) {
		if (forced_mode)
			mode = forced_mode;
		else
			mode = start_uffd() == 0 ? PG_UFFD : PG_EAGER;
		if (mode == PG_UFFD && !atfork_set) {
			atfork_set = 1;
			pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
		}
		if (mode == PG_EAGER && defuse_g.debug)
			defuse_log("paging without userfaultfd: pages are filled at mmap",
				   NULL, NULL);
		__atomic_store_n(&pg_mode, mode, __ATOMIC_RELEASE);
	}
	pg_unlock(&starting);
	return pg_mode;
}

static void atfork_prepare(void)
{
	glibc_forking = 1;
}

static void atfork_parent(void)
{
	glibc_forking = 0;
}

static void atfork_child(void)
{
	char was = defuse_self.in_defuse;

	glibc_forking = 0;
	/* DEFUSE's own work: its system calls go straight to the kernel. */
	defuse_self.in_defuse = 1;
	if (defer_thread) {
		defer_thread = 0;
		if (thread_wanted && ensure_thread() < 0)
			defuse_log("cannot start the pager's thread in a forked child: "
				   "its mappings of emulated files will hang", NULL, NULL);
	}
	if (mask_pending) {
		mask_pending = 0;
		sys4(SYS_rt_sigprocmask, SIG_SETMASK, &pending_mask, NULL, 8);
	}
	defuse_self.in_defuse = was;
}

void pg_fault_forget(void)
{
	if (pg_mode != PG_UFFD)
		return;
	defuse_fd_release(uffd);
	defuse_fd_release(pagemap);
	if (stopfd >= 0)
		defuse_fd_release(stopfd);
	uffd = pagemap = stopfd = -1;
	thread_up = 0;
	thread_wanted = 0;
	starting = 0;
	serving = quiescing = 0;	/* the parent's fault thread is not here */
	pg_mode = PG_UNKNOWN;
}

int pg_fault_after_fork(void)
{
	if (pg_mode != PG_UFFD)
		return 0;
	/* The parent's userfaultfd and pagemap are of its memory, not ours;
	   its thread is not here. */
	defuse_fd_release(uffd);
	defuse_fd_release(pagemap);
	if (stopfd >= 0)
		defuse_fd_release(stopfd);
	uffd = pagemap = stopfd = -1;
	thread_up = 0;
	thread_wanted = 0;
	starting = 0;
	serving = quiescing = 0;
	defer_thread = glibc_forking;
	return start_uffd();
}

int pg_fault_mask_later(unsigned long mask)
{
	if (!defer_thread)
		return 0;
	pending_mask = mask;
	mask_pending = 1;
	return 1;
}

void pg_fault_stop(void)
{
	uint64_t one = 1;

	if (!thread_up || defuse_self.vfork_child)
		return;
	thread_up = 0;
	sys3(SYS_write, stopfd, &one, sizeof(one));
	pthread_join(thread, NULL);
}
