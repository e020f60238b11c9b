/*
 * The core's descriptor table: which of the program's descriptors belong to
 * a mount (and for emulated files, to which open file description).  Kept
 * right across close, dup*, fcntl(F_DUPFD*) and close_range (fdops.c); a
 * forked child has its own copy, as it has its own kernel table.
 *
 * Threads.  Any number of threads open, close, dup, read and write at once,
 * so the table takes no lock:
 *   - a slot changes by one atomic exchange (install, remove);
 *   - an entry is reference-counted: the slot holds one reference, every
 *     call using it another (core_fd_acquire / core_fd_release), so a close
 *     racing a read frees the entry only when the read is done: the read
 *     completes, or, if it came after the close, misses the slot and goes
 *     to the kernel, which says EBADF, as for a kernel file;
 *   - entries and descriptions come from type-stable pools (never unmapped,
 *     recycled through lock-free free lists): the hot routing code peeks at
 *     slots without a reference (core_fd_get), and a stale peek reads a
 *     valid, at worst recycled, object, never unmapped memory.
 * No malloc either: a signal handler may open or close in the middle of the
 * program's own malloc (signals.c defers signals that arrive while DEFUSE
 * itself runs, so DEFUSE's own state is never re-entered).
 *
 * A vfork child shares this memory with its suspended parent but has a
 * table of its own in the kernel: its changes must not touch ours, so they
 * are skipped (the child execs or exits soon; defuse_self.vfork_child).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/resolve.h"

/* ---- pools ------------------------------------------------------------ */

/*
 * Size classes, one set per type (entries, descriptions): objects never
 * leave their type and class, so a stale pointer always points at an
 * object of its type.  The free list head is a pointer with a 16-bit tag
 * in its top bits (user addresses fit in 47), against ABA.
 *
 * A free object keeps its reference count, the first word of both types,
 * at 0: the link is the second word.  So a stale core_fd_acquire, which
 * takes a reference only while the count is not 0, never takes one on a
 * free object, and never changes its link.
 */
#define NCLASS 4
static const size_t class_size[NCLASS] = {
	64, 256, 1024, sizeof(struct core_fd) + CORE_PATH_ROOM,
};

struct free_obj {
	int refs;		/* 0 while free */
	struct free_obj *next;
};
_Static_assert(offsetof(struct core_fd, refs) == offsetof(struct free_obj, refs) &&
	       offsetof(struct core_open, refs) == offsetof(struct free_obj, refs),
	       "a free object's count is where the live one's is");

static uint64_t free_head[CORE_POOL_KINDS][NCLASS];

#define TAG_SHIFT 48
#define PTR_MASK ((1ULL << TAG_SHIFT) - 1)

void core_stack_push(uint64_t *head, void *p)
{
	struct free_obj *o = p;
	uint64_t h = __atomic_load_n(head, __ATOMIC_RELAXED), n;

	__atomic_store_n(&o->refs, 0, __ATOMIC_RELAXED);
	do {
		o->next = (struct free_obj *)(h & PTR_MASK);
		n = (uint64_t)(uintptr_t)o | ((h >> TAG_SHIFT) + 1) << TAG_SHIFT;
	} while (!__atomic_compare_exchange_n(head, &h, n, 1, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

void *core_stack_pop(uint64_t *head)
{
	uint64_t h = __atomic_load_n(head, __ATOMIC_ACQUIRE), n;
	struct free_obj *o;

	do {
		o = (struct free_obj *)(h & PTR_MASK);
		if (!o)
			return NULL;
		/* o may be popped and reused meanwhile: its memory stays mapped,
		   and the tag makes the exchange fail. */
		n = (uint64_t)(uintptr_t)__atomic_load_n(&o->next, __ATOMIC_RELAXED) |
		    ((h >> TAG_SHIFT) + 1) << TAG_SHIFT;
	} while (!__atomic_compare_exchange_n(head, &h, n, 1, __ATOMIC_ACQUIRE,
					      __ATOMIC_ACQUIRE));
	return o;
}

static int class_of(size_t n)
{
	for (int c = 0; c < NCLASS; c++)
		if (n <= class_size[c])
			return c;
	return -1;
}

/* A zeroed object of kind k and at least n bytes, or NULL. */
void *core_pool_alloc(enum core_pool_kind k, size_t n)
{
	int c = class_of(n);
	size_t sz, chunk;
	char *p;
	void *o;

	if (c < 0)
		return NULL;
	while (!(o = core_stack_pop(&free_head[k][c]))) {
		/* A new chunk, carved into the free list; rare. */
		sz = (class_size[c] + 15) & ~15UL;
		chunk = sz * 32 < 65536 ? 65536 : (sz * 32 + 4095) & ~4095UL;
		p = (char *)sys6(SYS_mmap, 0, chunk, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sys_failed((long)p))
			return NULL;
		for (size_t off = 0; off + sz <= chunk; off += sz)
			core_stack_push(&free_head[k][c], p + off);
	}
	/* The count last: a stale reader finds 0 until the owner sets it. */
	memset((char *)o + sizeof(int), 0, class_size[c] - sizeof(int));
	return o;
}

void core_pool_free(enum core_pool_kind k, void *p, size_t n)
{
	if (p)
		core_stack_push(&free_head[k][class_of(n)], p);
}

/* ---- entries ------------------------------------------------------------ */

static int shared_with_parent(void)
{
	return defuse_self.vfork_child;
}

static size_t entry_size(const struct core_fd *f)
{
	return sizeof(*f) + strlen(f->path) + 1;
}

void core_open_get(struct core_open *o)
{
	__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
}

/* Drops one reference; the last one releases the module's handle. */
void core_open_put(struct core_open *o)
{
	if (!o || __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (o->pending) {
		core_emulated_pending_gone(o);
		return;
	}
	core_emulated_last_close(o);
	/* lock_fd is the module's: it goes with the handle, but for one
	   handed down by exec (emulated.c, core_emulated_adopt_inherited). */
	if (o->lock_fd_inherited)
		defuse_fd_release(o->lock_fd);
	mod_release(CORE_REF(o->mount), o->fh);
	/* Its record may serve the next open (emulated.c). */
	if (core_emulated_recycle(o))
		return;
	sys2(SYS_munmap, o->ofd, 4096);
	core_pool_free(CORE_POOL_OPEN, o, sizeof(*o));
}

void core_fd_release(struct core_fd *f)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	core_open_put(f->open);
	core_pool_free(CORE_POOL_FD, f, entry_size(f));
}

struct core_fd *core_fd_take(long fd)
{
	struct core_fd *f;
	int r;

	if (fd < 0 || fd >= CORE_FD_MAX || !core_fds)
		return NULL;
	for (;;) {
		f = __atomic_load_n(&core_fds[fd], __ATOMIC_ACQUIRE);
		if (!f)
			return NULL;
		r = __atomic_load_n(&f->refs, __ATOMIC_RELAXED);
		/* 0: being freed (already out of its slot); else take one only
		   while it is alive, then make sure it is still this slot's. */
		while (r > 0 && !__atomic_compare_exchange_n(&f->refs, &r, r + 1, 1,
							     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			;
		if (r <= 0)
			continue;
		if (__atomic_load_n(&core_fds[fd], __ATOMIC_ACQUIRE) == f)
			return f;
		core_fd_release(f);
	}
}

/* A descriptor inherited through exec is adopted at its first use, here
   (emulated.c): every caller then sees a description that is there. */
struct core_fd *core_fd_acquire(long fd)
{
	struct core_fd *f = core_fd_take(fd);

	if (f && __builtin_expect(f->mount < 0, 0))
		return core_emulated_adopt_pending(fd, f);
	return f;
}

struct core_fd *core_fd_settle(long fd, struct core_fd *p, struct core_open *o)
{
	struct core_fd *f = NULL, *want = p;
	size_t n;

	if (o) {
		n = strnlen(o->ofd->path, sizeof(o->ofd->path) - 1) + 1;
		f = core_pool_alloc(CORE_POOL_FD, sizeof(*f) + n);
	}
	if (f) {
		core_open_get(o);
		f->refs = 2;	/* the slot's and the caller's */
		f->mount = o->mount;
		f->open = o;
		f->standin = 0;
		memcpy(f->path, o->ofd->path, n - 1);
		f->path[n - 1] = 0;
	}
	/* A slot that changed meanwhile (closed, replaced, settled by
	   another thread) is left as it is: the caller's call completes on
	   the description it came for, as a read racing a close does. */
	if (__atomic_compare_exchange_n(&core_fds[fd], &want, f, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED)) {
		if (!f)
			__atomic_sub_fetch(&core_nfds, 1, __ATOMIC_RELAXED);
		core_fd_release(p);	/* the slot's */
	} else if (f) {
		f->refs = 1;
	}
	core_fd_release(p);
	return f;
}

/*
 * One more than the highest slot ever filled: never lower, and raised
 * before the slot is filled, which is what a forked child can rely on
 * where it cannot on core_nfds (core_after_fork_child).
 */
static long fd_high;

/* Puts f (holding one reference for the slot) in slot fd.  Returns what
   the module's flush said of the emulated file that was there. */
static int install(long fd, struct core_fd *f)
{
	struct core_fd *old;
	long high = __atomic_load_n(&fd_high, __ATOMIC_RELAXED);
	int r = 0;

	while (f && fd >= high &&
	       !__atomic_compare_exchange_n(&fd_high, &high, fd + 1, 1, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED))
		;
	old = __atomic_exchange_n(&core_fds[fd], f, __ATOMIC_SEQ_CST);

	if (old && old->open)
		r = core_emulated_closing(old->open);
	if (f && !old)
		__atomic_add_fetch(&core_nfds, 1, __ATOMIC_RELAXED);
	else if (!f && old)
		__atomic_sub_fetch(&core_nfds, 1, __ATOMIC_RELAXED);
	core_fd_release(old);
	return r;
}

long core_fd_forget(long fd)
{
	struct core_fd *f;

	if (fd < 0 || fd >= CORE_FD_MAX || shared_with_parent() ||
	    !(f = __atomic_load_n(&core_fds[fd], __ATOMIC_RELAXED)))
		return 0;
	/* The kernel has not closed fd yet: the last descriptor of a record
	   that never left this process may be kept for the next open (held:
	   a racing close of the same number may free the entry). */
	if (f->open && (f = core_fd_take(fd))) {
		if (f->open && !f->open->pending)
			core_emulated_keep_record(fd, f);
		core_fd_release(f);
	}
	return install(fd, NULL);
}

/*
 * Two threads that dup2 onto one number, or close it while another dup2s
 * onto it, each make the kernel's change and then the table's: without
 * more, the table could end with the change the kernel made first, and
 * reads through the number went to the other file (tests/lifecycle,
 * dup2-race).  So such a call holds its number's lock (one of NUM_LOCKS,
 * by the number's low bits) from before the kernel's call until the table
 * is changed.  The lock word is the holder's thread ID: a child of
 * clone(CLONE_VM | CLONE_FILES) shares the table and these locks, and may
 * be killed holding one (stress-ng kills its dup stressor's children
 * where they are; tests/reliability, clone-vm hung without this), so a
 * waiter that finds the holder gone takes the lock over
 * (defuse_tid_lock, as reserved_fd.c's lock does).  No system call unless two threads meet on one
 * lock; a signal handler never runs inside DEFUSE, so no thread waits for
 * itself; a forked child starts with every lock free
 * (core_after_fork_child: the threads that held them are not in it), and
 * a vfork child, which changes no table, takes none.
 */
#define NUM_LOCKS 64
static struct num_lock {
	int owner;	/* defuse_tid_lock's words */
	int waiting;
} num_locks[NUM_LOCKS];

void core_fd_num_lock(long fd)
{
	struct num_lock *l = &num_locks[(unsigned long)fd % NUM_LOCKS];

	if (!shared_with_parent())
		defuse_tid_lock(&l->owner, &l->waiting);
}

void core_fd_num_unlock(long fd)
{
	struct num_lock *l = &num_locks[(unsigned long)fd % NUM_LOCKS];

	if (!shared_with_parent())
		defuse_tid_unlock(&l->owner, &l->waiting);
}

static void remember(long fd, int mount, const char *path, struct core_open *open,
		     uint64_t standin)
{
	size_t n = strlen(path) + 1;
	struct core_fd *f;

	if (fd < 0 || fd >= CORE_FD_MAX || shared_with_parent())
		return;
	if (n > CORE_PATH_ROOM)
		n = CORE_PATH_ROOM;
	f = core_pool_alloc(CORE_POOL_FD, sizeof(*f) + n);
	if (!f) {
		/* Out of memory: the descriptor is left to the kernel. */
		core_fd_forget(fd);
		return;
	}
	if (open)
		core_open_get(open);
	f->refs = 1;
	f->mount = mount;
	f->open = open;
	f->standin = standin;
	memcpy(f->path, path, n - 1);
	f->path[n - 1] = 0;
	install(fd, f);
}

void core_fd_remember(long fd, int mount, const char *path, struct core_open *open)
{
	remember(fd, mount, path, open, 0);
}

void core_fd_remember_standin(long fd, int mount, const char *path, uint64_t ino)
{
	remember(fd, mount, path, NULL, ino);
}

void core_fd_copy(long from, long to)
{
	struct core_fd *f;

	if (from == to || shared_with_parent())
		return;
	f = core_fd_take(from);	/* a pending one's copy shares its adoption */
	if (f)
		remember(to, f->mount, f->path, f->open, f->standin);
	else
		core_fd_forget(to);
	core_fd_release(f);
}

/* ---- fork ------------------------------------------------------------- */

/*
 * The child has the parent's table, entries and descriptions (its kernel
 * table is a copy too, and the records are shared pages).  References
 * other threads of the parent held are lost with them (those entries are
 * never freed here: a small leak, no harm).  Modules get their hook.
 *
 * The count of entries is counted again.  Fork does not copy memory at one
 * instant: other threads of the parent go on writing while it copies, and
 * each page comes as it was when fork got to it.  core_nfds could come
 * from after the table's page, lowered by closes the child's table does
 * not show, and every walk that stops after core_nfds entries then missed
 * the last ones (an exec'ing child left an emulated descriptor out of
 * DEFUSE_FDS, and the new image lost its file: tests/lifecycle stress, 1
 * run in about 350).  fd_high is safe to walk to: a thread raises it before
 * it fills a slot, and a thread whose raise came too late for the child
 * (it waited for the fork to end on the page fork had taken) filled its
 * slot after the fork too, in the parent's copy only.
 */
static void count_entries(void)
{
	long high = __atomic_load_n(&fd_high, __ATOMIC_RELAXED);
	int n = 0;

	for (long fd = 0; fd < high && fd < CORE_FD_MAX; fd++)
		n += core_fds[fd] != NULL;
	__atomic_store_n(&core_nfds, n, __ATOMIC_RELAXED);
}

long core_after_fork_child(void *unused)
{
	(void)unused;
	memset(num_locks, 0, sizeof(num_locks));
	if (core_fds)
		count_entries();
	core_cwd_after_fork();
	core_emulated_after_fork();
	for (int i = 0; i < core_nmounts; i++)
		if (!core_mounts[i].dead)
			mod_after_fork_child(CORE_REF(i));
	return 0;
}
