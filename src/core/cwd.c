/*
 * The current directory, when it is inside a mount.
 *
 * The kernel cannot see into a mount, so while the cwd is inside one the
 * kernel's own cwd is only the mount point and the core keeps the truth:
 * the mount, the path there, and a kernel handle of the directory that
 * says where it went after a rename (resolve.c asks).
 *
 * Threads.  Any thread may chdir while others resolve relative paths, so
 * that state is one immutable object (struct core_cwd) behind one pointer,
 * replaced by one atomic exchange.  A call the core serves takes a
 * reference at its first look (core_cwd_snap) and resolves against that
 * object until it ends: one cwd or the other, never a mix of both (eight
 * separate variables made 6 to 29,000 of 200,000 opens racing a chdir fail
 * with ENOENT: tests/lifecycle, cwd-race).  An object goes, handle and
 * all, when its last holder lets go.  Readers take no lock.  Changes
 * (chdir, fchdir, a rename noticed) take a lock among themselves, so that
 * the kernel's cwd, the published object and DEFUSE_CWD change together
 * and in one order.
 *
 * Memory.  Objects come from a pool of their own: mmap'd chunks, never
 * unmapped or used for anything else, recycled through a lock-free list.
 * So a reader may look at an object another thread is freeing: it takes a
 * reference only while the count is not zero, then checks that the
 * pointer still names that object.  No malloc: a signal handler may chdir
 * or open in the middle of the program's own malloc.
 *
 * vfork.  A child that shares our memory but not our kernel state (vfork,
 * posix_spawn) must not change the parent's cwd: it keeps a cwd of its own
 * in the thread-local variables below (its TLS is the vforking thread's,
 * which waits meanwhile), set up by core_cwd_save before the clone and
 * dropped by core_cwd_restore after it.  It never opens or uses a handle:
 * the parent's descriptor numbers are not its own.
 *
 * fork.  The child has a copy of everything, handles included (its
 * descriptor table is a copy too).  References that other threads held
 * are lost with them, and those objects stay: a small leak, as in
 * fdtable.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include "core/core.h"
#include "core/resolve.h"

struct core_cwd *core_cwd_now;

/*
 * "DEFUSE_CWD=/mount/point/dir" while the cwd is inside a mount, else "":
 * exec passes it to the new image (whose kernel cwd is only the mount
 * point), which takes it up in core_cwd_init.  Written under the lock.
 */

/* A child sharing our memory: its own cwd (core_cwd_own set). */
__thread char core_cwd_own CORE_TLS;
static __thread struct core_cwd *own_cwd CORE_TLS;

/* The cwd of the call being served, once it looked (snapped set). */
static __thread struct core_cwd *snap CORE_TLS;
static __thread char snapped CORE_TLS;

/* Per mount: can the cwd have a handle?  0 not known yet, 1 yes, -1 no
   (the module gives neither kernel descriptors nor lock_fd). */
static signed char can_handle[CORE_MOUNTS_MAX];

/* ---- objects ------------------------------------------------------------ */

/*
 * The free list: a pointer with a 16-bit tag in its top bits against ABA,
 * as fdtable.c's pools.  The link is the owner field, so that a free
 * object keeps a count of 0 and no reader can take it.  Objects are a
 * page each (the path): a chunk of two costs a process whose cwd is in a
 * mount two page faults at start-up, where sixteen cost sixteen; a chdir
 * needs a new one only while the old is still held.
 */
#define CHUNK 2
#define TAG_SHIFT 48
#define PTR_MASK ((1ULL << TAG_SHIFT) - 1)
static uint64_t free_head;

_Static_assert(sizeof(struct core_cwd) % 4 == 0, "core_cwd_save tags the low bits");

static void obj_push(struct core_cwd *c)
{
	uint64_t h = __atomic_load_n(&free_head, __ATOMIC_RELAXED), n;

	do {
		__atomic_store_n(&c->owner, (struct core_cwd *)(h & PTR_MASK), __ATOMIC_RELAXED);
		n = (uint64_t)(uintptr_t)c | ((h >> TAG_SHIFT) + 1) << TAG_SHIFT;
	} while (!__atomic_compare_exchange_n(&free_head, &h, n, 1, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

static struct core_cwd *obj_pop(void)
{
	uint64_t h = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE), n;
	struct core_cwd *c;

	do {
		c = (struct core_cwd *)(h & PTR_MASK);
		if (!c)
			return NULL;
		/* c may be popped and used meanwhile: the tag fails the exchange. */
		n = (uint64_t)(uintptr_t)__atomic_load_n(&c->owner, __ATOMIC_RELAXED) |
		    ((h >> TAG_SHIFT) + 1) << TAG_SHIFT;
	} while (!__atomic_compare_exchange_n(&free_head, &h, n, 1, __ATOMIC_ACQUIRE,
					      __ATOMIC_ACQUIRE));
	return c;
}

/* A new object (one reference, the caller's) of no mount, or NULL. */
static struct core_cwd *obj_new(void)
{
	struct core_cwd *c;

	while (!(c = obj_pop())) {
		long p = sys6(SYS_mmap, 0, CHUNK * sizeof(*c), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (sys_failed(p))
			return NULL;
		for (int i = 0; i < CHUNK; i++)
			obj_push((struct core_cwd *)p + i);
	}
	c->owner = NULL;
	c->mount = -1;
	c->pending = 0;
	c->kfd = -1;
	c->fh_mount = -1;
	c->fh_only = 0;
	c->fh = 0;
	c->path[0] = 0;
	/* Last: a reader that takes it from now on finds it whole. */
	__atomic_store_n(&c->refs, 1, __ATOMIC_RELEASE);
	return c;
}

static void fill(struct core_cwd *c, int mount, const char *path)
{
	size_t n = strnlen(path, PATH_MAX - 1);

	c->mount = mount;
	memcpy(c->path, path, n);
	c->path[n] = 0;
}

static void hold(struct core_cwd *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

/* The handle behind c (c's own, not a successor's). */
static void handle_close(const struct core_cwd *c)
{
	if (c->kfd < 0 && !c->fh_only)
		return;
	if (c->fh_mount < 0) {
		defuse_close_kept(c->kfd);
		return;
	}
	/* the module's descriptor goes with it */
	mod_release(CORE_REF(c->fh_mount), c->fh);
}

static void put(struct core_cwd *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (c->owner)
		put(c->owner);
	else
		handle_close(c);
	obj_push(c);
}

/* The object *slot names, with a reference, or NULL. */
static struct core_cwd *get(struct core_cwd **slot)
{
	struct core_cwd *c;
	int r;

	for (;;) {
		c = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (!c)
			return NULL;
		r = __atomic_load_n(&c->refs, __ATOMIC_RELAXED);
		/* 0: being freed, so no longer in the slot; else take one only
		   while it lives, then make sure the slot still names it. */
		while (r > 0 && !__atomic_compare_exchange_n(&c->refs, &r, r + 1, 1,
							     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			;
		if (r <= 0)
			continue;
		if (__atomic_load_n(slot, __ATOMIC_ACQUIRE) == c)
			return c;
		put(c);
	}
}

/* ---- the handle --------------------------------------------------------- */

/* Opens c's handle through the module, if the mount can give one: a
   kernel descriptor, or a module's handle that fh_path can place (a
   module with no kernel files, such as memfs). */
static void handle_open(struct core_cwd *c)
{
	struct defuse_open o = { 0, -1 };
	char now[PATH_MAX];
	int kfd;

	if (__atomic_load_n(&can_handle[c->mount], __ATOMIC_RELAXED) < 0 ||
	    core_mounts[c->mount].dead ||
	    mod_open(CORE_REF(c->mount), c->path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &o) < 0)
		return;
	if (o.kernel_fd < 0 && (kfd = core_handle_kfd(c->mount, o.fh)) >= 0) {
		/* Emulated: the module's descriptor lives as long as fh. */
		c->fh = o.fh;
		c->fh_mount = c->mount;
		__atomic_store_n(&can_handle[c->mount], 1, __ATOMIC_RELAXED);
		__atomic_store_n(&c->kfd, kfd, __ATOMIC_RELEASE);
		return;
	}
	if (o.kernel_fd < 0 && mod_fh_path(CORE_REF(c->mount), o.fh, now, sizeof(now)) == 0) {
		c->fh = o.fh;
		c->fh_mount = c->mount;
		__atomic_store_n(&can_handle[c->mount], 1, __ATOMIC_RELAXED);
		__atomic_store_n(&c->fh_only, 1, __ATOMIC_RELEASE);
		return;
	}
	mod_release(CORE_REF(c->mount), o.fh);
	__atomic_store_n(&can_handle[c->mount], o.kernel_fd >= 0 ? 1 : -1, __ATOMIC_RELAXED);
	if (o.kernel_fd < 0)
		return;
	if ((kfd = defuse_keep_fd(o.kernel_fd)) < 0) {
		sys1(SYS_close, o.kernel_fd);	/* no room in the band: none */
		return;
	}
	__atomic_store_n(&c->kfd, kfd, __ATOMIC_RELEASE);
}

int core_cwd_kfd(const struct core_cwd *c)
{
	const struct core_cwd *o = c->owner ? c->owner : c;

	return core_cwd_own ? -1 : __atomic_load_n(&o->kfd, __ATOMIC_ACQUIRE);
}

int core_cwd_gone_path(const struct core_cwd *c, char out[64])
{
	int kfd = core_cwd_kfd(c);

	if (kfd < 0)
		return -1;
	snprintf(out, 64, "/proc/self/fd/%d/.", kfd);
	return 0;
}

/* The object holding c's handle when that is a module's handle with no
   kernel descriptor, or NULL. */
static const struct core_cwd *fh_holder(const struct core_cwd *c)
{
	const struct core_cwd *o = c->owner ? c->owner : c;

	return !core_cwd_own && __atomic_load_n(&o->fh_only, __ATOMIC_ACQUIRE) ? o : NULL;
}

int core_cwd_path_now(const struct core_cwd *c, char out[PATH_MAX])
{
	const struct core_cwd *o;
	int kfd = core_cwd_kfd(c), r;

	if (kfd >= 0)
		return core_kfd_path_now(c->mount, kfd, out);
	if (!(o = fh_holder(c)))
		return -1;
	r = mod_fh_path(CORE_REF(o->fh_mount), o->fh, out, PATH_MAX);
	return r == -ENOENT ? -ENOENT : r < 0 ? -1 : 0;
}

int core_cwd_fgetattr(const struct core_cwd *c, struct stat *st)
{
	const struct core_cwd *o = fh_holder(c);

	return o ? mod_fgetattr(CORE_REF(o->fh_mount), o->fh, c->path, st) : -ENOENT;
}

/*
 * A cwd taken up at start-up gets its handle at the first routed call (the
 * modules may not serve yet at start-up); one thread opens it, the others
 * go without meanwhile.
 */
static void handle_pending(void)
{
	struct core_cwd *c = __atomic_load_n(&core_cwd_now, __ATOMIC_RELAXED);
	char one = 1;

	/* A peek first (the memory stays a cwd's whatever happens to it). */
	if (core_cwd_own || !c || !__atomic_load_n(&c->pending, __ATOMIC_RELAXED))
		return;
	c = get(&core_cwd_now);
	if (c && __atomic_compare_exchange_n(&c->pending, &one, 0, 0, __ATOMIC_ACQ_REL,
					     __ATOMIC_RELAXED))
		handle_open(c);
	put(c);
}

/* ---- changes ------------------------------------------------------------ */

/*
 * The lock that orders changes: the owner's thread ID, 0 when free.  Held
 * only for a few system calls; a waiter that finds the owner gone (a vfork
 * child killed inside a chdir) takes it over, and a forked child finds it
 * free (core_cwd_after_fork).
 */
static int lock_word;

static void lock(void)
{
	int me = sys0(SYS_gettid), owner = 0;
	struct timespec tick = { 0, 1000000 };

	while (!__atomic_compare_exchange_n(&lock_word, &owner, me, 0, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		if (sys_failed(sys4(SYS_futex, &lock_word, FUTEX_WAIT_PRIVATE, owner, &tick)) &&
		    defuse_task_gone(owner))	/* also a killed, unreaped sharer */
			__atomic_compare_exchange_n(&lock_word, &owner, 0, 0, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		owner = 0;
	}
}

static void unlock(void)
{
	__atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE);
	sys3(SYS_futex, &lock_word, FUTEX_WAKE_PRIVATE, 1);
}

/* Under the lock: this thread's cwd, which only a change can let go. */
static struct core_cwd *now_locked(void)
{
	return core_cwd_own ? own_cwd : __atomic_load_n(&core_cwd_now, __ATOMIC_RELAXED);
}

/* Under the lock: c (its reference given) becomes this thread's cwd; the
   one it replaces is returned, reference and all. */
static struct core_cwd *swap_locked(struct core_cwd *c)
{
	struct core_cwd *old;

	if (core_cwd_own) {
		old = own_cwd;
		own_cwd = c;
	} else {
		old = __atomic_exchange_n(&core_cwd_now, c, __ATOMIC_ACQ_REL);
	}
	return old;
}

/* The mount absolute path abs is in, or -1. */
static int mount_of(const char *abs)
{
	for (int i = 0; i < core_nmounts; i++) {
		const struct core_mount *m = &core_mounts[i];

		if (core_path_below(abs, m->point, m->len))
			return i;
	}
	return -1;
}

/* Which mount (if any) absolute path abs is in: c takes it up. */
static int place(struct core_cwd *c, const char *abs)
{
	int i = mount_of(abs);

	if (i < 0)
		return 0;
	fill(c, i, abs[core_mounts[i].len] ? abs + core_mounts[i].len : "/");
	c->pending = !core_cwd_own;
	return 1;
}

long core_cwd_change(int mount, const char *path,
		     long (*kstep)(const struct core_cwd *now, void *arg), void *arg)
{
	struct core_cwd *c = obj_new(), *old = NULL;
	char kcwd[PATH_MAX];
	long r;

	if (!c)
		return -ENOMEM;	/* before anything changed */
	if (mount >= 0) {
		fill(c, mount, path);
		if (!core_cwd_own)
			handle_open(c);
	}
	lock();
	r = kstep(now_locked(), arg);
	if (r == 0) {
		/* mount -1: the kernel's cwd is the truth, unless a symbolic
		   link led it to a mount point. */
		if (mount < 0 && (sys_failed(sys2(SYS_getcwd, kcwd, sizeof(kcwd))) ||
				  !place(c, kcwd))) {
			put(c);	/* nothing behind it yet */
			c = NULL;
		}
		old = swap_locked(c);
	}
	unlock();
	put(r == 0 ? old : c);
	return r;
}

/* ---- the cwd of a call -------------------------------------------------- */

const struct core_cwd *core_cwd_snap(void)
{
	if (!snapped) {
		snap = core_cwd_own ? own_cwd : get(&core_cwd_now);
		if (core_cwd_own)
			hold(snap);
		snapped = 1;
	}
	return snap;
}

long core_cwd_call(long (*fn)(void *), void *arg)
{
	/* A signal handler's call may come inside a lock wait of another. */
	struct core_cwd *outer = snap;
	char outer_snapped = snapped;
	long r;

	snap = NULL;
	snapped = 0;
	handle_pending();
	r = fn(arg);
	if (snapped)
		put(snap);
	snap = outer;
	snapped = outer_snapped;
	return r;
}

int core_cwd_moved(const char *path)
{
	struct core_cwd *was = snap, *c = obj_new(), *old = NULL;

	if (!c)
		return -ENOMEM;
	fill(c, was->mount, path);
	c->owner = was->owner ? was->owner : was;	/* the same directory */
	hold(c->owner);
	lock();
	if (now_locked() == was) {	/* else a chdir came first: it wins */
		hold(c);
		old = swap_locked(c);
	}
	unlock();
	put(old);
	snap = c;
	put(was);
	return 0;
}

/* ---- start-up, vfork, fork ---------------------------------------------- */

/* The handle an exec handed down (DEFUSE_CWD=FD:...) becomes c's. */
static void take_handle(struct core_cwd *c, long fd)
{
	struct stat st;
	int kfd;

	if (sys2(SYS_fstat, fd, &st) < 0 || !S_ISDIR(st.st_mode) || (kfd = defuse_fd_adopt(fd)) < 0) {
		sys1(SYS_close, fd);
		return;
	}
	c->kfd = kfd;
	c->fh_mount = -1;
	c->pending = 0;
}

int core_cwd_init(const char *inherited)
{
	struct core_cwd *c, *old;
	char cwd[PATH_MAX], *end;
	long fd = -1;

	if (inherited && *inherited >= '0' && *inherited <= '9') {
		fd = strtol(inherited, &end, 10);
		inherited = *end == ':' ? end + 1 : NULL;
	}
	if (inherited && *inherited == '/' && strlen(inherited) < sizeof(cwd))
		strcpy(cwd, inherited);
	else if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = 0;
	/* Most programs start outside the mounts: no object, no pool (whose
	   first chunk would cost a page fault per object). */
	if (mount_of(cwd) < 0 || !(c = obj_new())) {
		if (fd >= 0)
			sys1(SYS_close, fd);
		return mount_of(cwd) < 0 ? 0 : -ENOMEM;
	}
	place(c, cwd);
	if (fd >= 0)
		take_handle(c, fd);
	lock();
	old = swap_locked(c);
	unlock();
	put(old);
	return 0;
}

/*
 * The handle says what to put back: this thread's cwd before the clone
 * (its reference kept), tagged 1 so that it is never 0, and 2 when the
 * thread was itself such a child (then that cwd was its own).  The child
 * starts from the same cwd with a reference of its own, so whatever it
 * does, it never lets go the last reference of one of ours.
 */
long core_cwd_save(void *unused)
{
	int nested = core_cwd_own;
	struct core_cwd *mine = nested ? own_cwd : get(&core_cwd_now);

	(void)unused;
	hold(mine);
	own_cwd = mine;
	core_cwd_own = 1;
	return (long)mine | 1 | (nested ? 2 : 0);
}

/*
 * The handle an exec of this thread was lent (core_cwd_env), and the cwd
 * it belongs to, held so that no chdir can close it before the exec is
 * done; given back by core_cwd_env_undo when the exec failed.  A vfork
 * child's cwd is held by the child already (core_cwd_save).
 */
static __thread int lent_kfd CORE_TLS = -1;
static __thread struct core_cwd *lent_obj CORE_TLS;

/*
 * "DEFUSE_CWD=[FD:]PATH" for the image an exec of this thread starts, into
 * buf; 0 when the kernel's cwd is the truth.  Made from a reference to
 * this thread's cwd (a vfork child's own), so a chdir of another thread at
 * the same time hands down the old cwd or the new one, never a mix.  FD is
 * its handle, left open across the exec: the new image then has the very
 * directory, as a kernel cwd would be, even once it was renamed or
 * removed.  (A vfork child's table is a copy of its parent's, so the
 * parent's handle number is the child's too.)
 */
int core_cwd_env(char *buf, size_t cap)
{
	struct core_cwd *c = core_cwd_own ? own_cwd : get(&core_cwd_now);
	const struct core_cwd *o;
	const char *point, *path;
	char now[PATH_MAX];
	int n, kfd;

	lent_kfd = -1;
	lent_obj = NULL;
	if (!c)
		return 0;
	if (core_cwd_own)
		hold(c);
	o = c->owner ? c->owner : c;
	kfd = __atomic_load_n(&o->kfd, __ATOMIC_ACQUIRE);
	point = core_mounts[c->mount].point;
	/* A module's handle with no kernel descriptor cannot be handed
	   down: the new image gets the path where it is now. */
	path = kfd < 0 && core_cwd_path_now(c, now) == 0 ? now : c->path;
	if (!strcmp(path, "/"))
		path = "";
	if (kfd >= 0 && sys3(SYS_fcntl, kfd, F_SETFD, 0) == 0) {
		lent_kfd = kfd;
		n = snprintf(buf, cap, "DEFUSE_CWD=%d:%s%s", kfd, point, path);
	} else {
		n = snprintf(buf, cap, "DEFUSE_CWD=%s%s", point, path);
	}
	if (lent_kfd >= 0 && !core_cwd_own)
		lent_obj = c;	/* its reference, until the exec is done */
	else
		put(c);
	return n > 0 && (size_t)n < cap;
}

void core_cwd_env_undo(void)
{
	if (lent_kfd >= 0)
		sys3(SYS_fcntl, lent_kfd, F_SETFD, FD_CLOEXEC);
	lent_kfd = -1;
	put(lent_obj);
	lent_obj = NULL;
}

long core_cwd_restore(void *saved)
{
	long h = (long)saved;
	struct core_cwd *mine = (struct core_cwd *)(h & ~3L), *child;

	lock();
	child = own_cwd;
	core_cwd_own = (h & 2) != 0;
	own_cwd = core_cwd_own ? mine : NULL;
	unlock();
	put(child);
	if (!(h & 2))
		put(mine);
	return 0;
}

void core_cwd_after_fork(void)
{
	struct core_cwd *old;

	lock_word = 0;	/* a thread that held it is not in this process */
	if (!core_cwd_own)
		return;
	/* Forked by a vfork child: its cwd is this process's. */
	old = core_cwd_now;
	core_cwd_now = own_cwd;
	own_cwd = NULL;
	core_cwd_own = 0;
	put(old);
}
