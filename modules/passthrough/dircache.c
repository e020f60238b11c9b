/*
 * The passthrough module's cache of directory descriptors: see dircache.h
 * for what it is for.  How it stays exact:
 *
 * - Only directories are kept, each reached from its parent's descriptor
 *   by one component that is no symbolic link and no mount point
 *   (RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV): what a kept descriptor stands
 *   for is then fixed by the names along its path alone.  A parent is kept
 *   before its child.
 * - A kept directory renamed, removed, replaced by a rename over it or
 *   exchanged, by anyone, is an event on its parent's watch (IN_MOVED_FROM,
 *   IN_DELETE, IN_MOVED_TO with IN_ISDIR and its name; the root is watched
 *   too), queued before the changing call returns.  Every use of the cache
 *   first reads the queue to its end (one read(2) that finds it empty, in
 *   the common case) and drops each entry an event names, with everything
 *   below it.  A lookup through the cache is so ordered after every change
 *   that was complete when it began, as a lookup of the whole path would
 *   be.  An overflowed queue drops everything.
 * - Lookups through a kept descriptor skip the search-permission checks
 *   of the directories above it, made when it was opened.  A thread that
 *   may not bypass them (no CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH) also
 *   watches kept directories and the root for IN_ATTRIB, so a change of
 *   their permissions drops them; and entries made with other file-system
 *   IDs than the caller's are dropped.  (IN_ATTRIB is left out otherwise:
 *   a directory watched for it makes the kernel look at the watch on every
 *   open, read and write of each file in it.)
 *
 * Threads and signals: one flag, only ever tried, guards the cache; a
 * thread (or a signal handler) that finds it taken looks its path up
 * itself.  An entry's descriptor stays open while any caller uses it
 * (reference count), so dropping an entry never closes a descriptor under
 * another thread's call.  No allocation after dircache_new.
 *
 * Asked for with DEFUSE_PASSTHROUGH_DIRCACHE=1 in the environment, because
 * of its one large cost: a process whose inotify instance ever had a watch
 * waits at its exit, when the instance is torn down, for an SRCU grace
 * period of the kernel's notification marks: 12-27 ms measured here (a
 * plain exit is 1 ms), which the process's parent waits for too.  A build
 * of many short processes would pay that in each; a long-lived process
 * doing many lookups (a file server, a build daemon, git status on a big
 * tree) gains.  One instance shared by a whole process tree, torn down
 * once, would remove that cost.
 *
 * Costs and limits: one inotify instance per process that uses the cache
 * (made after its first few lookups, so short-lived processes make none)
 * and one watch per kept directory, DC_ENTRIES at most; a directory is
 * kept at its second lookup, so a walk that passes each directory once
 * pays nothing for the cache.  When inotify is not to be had (the per-user
 * limits of instances or watches), every lookup is the module's own again.
 * Not seen through a kept descriptor: a mount made later on a directory
 * below it, and a process that drops CAP_DAC_OVERRIDE with capset(2) while
 * keeping its IDs.
 */
#include "dircache.h"
#include "kept.h"

#include <defuse/module.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DC_ENTRIES 128		/* directories kept per mount and process */
#define DC_INDEX 256		/* hash index over them, a power of two */
#define DC_PATH 240		/* longer directory paths are not kept */
#define DC_SEEN 64		/* paths looked up once, not kept yet */
#define DC_START 32		/* lookups before a process makes its instance */

/* What every watch asks for, and what unprivileged ones add.  The first
   are events on the directory's entries or on itself, which cost nothing
   to the files inside; IN_ATTRIB makes the kernel look at the watch on
   every open, read and write of each file inside. */
#define DC_WATCH (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF | \
		  IN_DELETE_SELF | IN_ONLYDIR)
#define DC_WATCH_PERMS IN_ATTRIB

struct dc_entry {
	atomic_uint refs;	/* the cache's own while live, plus each user's */
	int fd;			/* O_PATH | O_DIRECTORY, set aside: open while refs */
	int wd;			/* its watch */
	int parent;		/* index of the parent's entry, -1 for the root */
	unsigned int children;	/* live entries whose parent this is */
	unsigned int hash;
	unsigned short len;
	bool live;
	bool used;		/* used since the eviction hand last passed */
	char path[DC_PATH];	/* relative to the root, NUL-terminated */
};

struct dircache {
	atomic_flag busy;
	int root;
	int ino;		/* the inotify instance; -1 not made yet, -2 none */
	int root_wd;
	bool forked;		/* a child that has not dropped the parent's yet */
	bool dirty;		/* the index needs rebuilding */
	bool privileged;	/* the IDs' lookups skip search permission */
	unsigned int lookups;
	unsigned int hand;
	uid_t uid;
	gid_t gid;
	unsigned int seen[DC_SEEN];
	unsigned short index[DC_INDEX];	/* entry index + 1, 0 empty */
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct dc_entry e[DC_ENTRIES];
};

/* "/proc/thread-self/fd/N" (passthrough.c). */
const char *pt_proc_fd_path(char *buf, int fd, const char *name);

static unsigned int hash_of(const char *s, size_t n)
{
	unsigned int h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h ? h : 1;
}

/* A path the cache takes: components only, no ".", "..", "//" or ending "/". */
static bool cacheable(const char *p, size_t len)
{
	size_t i = 0;

	if (!len || len >= DC_PATH)
		return false;
	while (i < len) {
		size_t start = i;

		while (i < len && p[i] != '/')
			i++;
		if (i == start || (i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return false;
		if (i < len && ++i == len)
			return false;	/* ends with '/' */
	}
	return true;
}

/* ---- The index ------------------------------------------------------ */

static void index_add(struct dircache *dc, int i)
{
	unsigned int j = dc->e[i].hash & (DC_INDEX - 1);

	while (dc->index[j])
		j = (j + 1) & (DC_INDEX - 1);
	dc->index[j] = (unsigned short)(i + 1);
}

static struct dc_entry *find(struct dircache *dc, const char *path, size_t len, unsigned int h)
{
	if (dc->dirty) {
		memset(dc->index, 0, sizeof(dc->index));
		for (int i = 0; i < DC_ENTRIES; i++)
			if (dc->e[i].live)
				index_add(dc, i);
		dc->dirty = false;
	}
	for (unsigned int j = h & (DC_INDEX - 1); dc->index[j]; j = (j + 1) & (DC_INDEX - 1)) {
		struct dc_entry *e = &dc->e[dc->index[j] - 1];

		if (e->hash == h && e->len == len && !memcmp(e->path, path, len))
			return e;
	}
	return NULL;
}

/* ---- Dropping entries ----------------------------------------------- */

void dircache_put(struct dc_entry *e)
{
	int fd = e->fd;		/* fixed while refs is not 0 */

	if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
		pt_close_kept(fd);
}

static void drop(struct dircache *dc, struct dc_entry *e)
{
	e->live = false;
	if (dc->ino >= 0)
		inotify_rm_watch(dc->ino, e->wd);
	dircache_put(e);
	dc->dirty = true;
}

/* Entry i and every entry below it. */
static void drop_tree(struct dircache *dc, int i)
{
	struct dc_entry *top = &dc->e[i];

	if (top->parent >= 0)
		dc->e[top->parent].children--;
	for (int j = 0; j < DC_ENTRIES; j++) {
		struct dc_entry *e = &dc->e[j];

		if (e->live && j != i && e->len > top->len && e->path[top->len] == '/' &&
		    !memcmp(e->path, top->path, top->len))
			drop(dc, e);
	}
	drop(dc, top);
}

static void drop_all(struct dircache *dc)
{
	for (int i = 0; i < DC_ENTRIES; i++) {
		if (dc->e[i].live)
			drop(dc, &dc->e[i]);
		dc->e[i].children = 0;
	}
}

/* ---- Events --------------------------------------------------------- */

static struct dc_entry *by_wd(struct dircache *dc, int wd)
{
	for (int i = 0; i < DC_ENTRIES; i++)
		if (dc->e[i].live && dc->e[i].wd == wd)
			return &dc->e[i];
	return NULL;
}

static void stop(struct dircache *dc)
{
	drop_all(dc);
	pt_close_kept(dc->ino);
	dc->ino = -2;
}

static void on_event(struct dircache *dc, const struct inotify_event *ev)
{
	struct dc_entry *e, *in;

	if (ev->mask & IN_Q_OVERFLOW) {
		drop_all(dc);
		return;
	}
	if (ev->len && ev->name[0]) {
		/* About an entry of a watched directory: only directories
		   are kept. */
		char path[DC_PATH];
		size_t plen = 0, nlen = strlen(ev->name);

		if (!(ev->mask & IN_ISDIR))
			return;
		if (ev->wd != dc->root_wd) {
			in = by_wd(dc, ev->wd);
			if (!in)
				return;
			memcpy(path, in->path, in->len);
			plen = in->len;
			path[plen++] = '/';
		}
		if (plen + nlen >= DC_PATH)
			return;
		memcpy(path + plen, ev->name, nlen);
		e = find(dc, path, plen + nlen, hash_of(path, plen + nlen));
		if (e)
			drop_tree(dc, (int)(e - dc->e));
		return;
	}
	/* About the watched directory itself. */
	if (ev->wd == dc->root_wd) {
		if (ev->mask & (IN_IGNORED | IN_UNMOUNT))
			stop(dc);	/* the root gone: no more events about it */
		else if (ev->mask & IN_ATTRIB)
			drop_all(dc);
		return;
	}
	e = by_wd(dc, ev->wd);
	if (e)
		drop_tree(dc, (int)(e - dc->e));
}

/*
 * Reads the event queue to its end.  A read that leaves room for one more
 * event of any size found the queue empty.  Under a storm of events, drop
 * everything instead of reading on.
 */
static void sync_events(struct dircache *dc)
{
	const size_t room = sizeof(struct inotify_event) + NAME_MAX + 1;

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(dc->ino, dc->events, sizeof(dc->events));

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				stop(dc);
			return;
		}
		for (ssize_t off = 0; off < n && dc->ino >= 0;) {
			const struct inotify_event *ev = (const void *)(dc->events + off);

			on_event(dc, ev);
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
		if (dc->ino < 0 || (size_t)n + room <= sizeof(dc->events))
			return;
	}
	drop_all(dc);
}

/* ---- Keeping entries ------------------------------------------------ */

static int add_watch(struct dircache *dc, int fd)
{
	char proc[sizeof "/proc/thread-self/fd/" + 12];

	return inotify_add_watch(dc->ino, pt_proc_fd_path(proc, fd, NULL),
				 DC_WATCH | (dc->privileged ? 0 : DC_WATCH_PERMS));
}

static void start(struct dircache *dc)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	dc->ino = -2;
	if (fd < 0)
		return;
	dc->ino = pt_keep(fd);
	if (dc->ino < 0) {
		dc->ino = -2;
		return;
	}
	dc->uid = (uid_t)-1;	/* check_ids watches the root */
	dc->gid = (gid_t)-1;
}

/* A free slot, evicting an unused leaf if there is none. */
static int free_slot(struct dircache *dc)
{
	for (int i = 0; i < DC_ENTRIES; i++)
		if (!dc->e[i].live && !atomic_load(&dc->e[i].refs))
			return i;
	for (int n = 0; n < 2 * DC_ENTRIES; n++) {
		int i = (int)(dc->hand++ % DC_ENTRIES);
		struct dc_entry *e = &dc->e[i];

		if (!e->live || e->children || atomic_load(&e->refs) != 1)
			continue;
		if (e->used) {
			e->used = false;
			continue;
		}
		drop_tree(dc, i);
		if (!atomic_load(&e->refs))
			return i;
	}
	return -1;
}

/* Keeps the directory path (and its parents first): its index, or -1. */
static int keep(struct dircache *dc, const char *path, size_t len, unsigned int h)
{
	const char *slash = memrchr(path, '/', len);
	int parent = -1, pfd = dc->root, i, fd, kept;
	struct dc_entry *e;

	if (slash) {
		size_t plen = (size_t)(slash - path);
		unsigned int ph = hash_of(path, plen);

		e = find(dc, path, plen, ph);
		parent = e ? (int)(e - dc->e) : keep(dc, path, plen, ph);
		if (parent < 0)
			return -1;
		pfd = dc->e[parent].fd;
		/* Not to be evicted while its child is made. */
		atomic_fetch_add(&dc->e[parent].refs, 1);
	}
	i = free_slot(dc);
	if (parent >= 0)
		dircache_put(&dc->e[parent]);	/* live: the cache's reference stays */
	if (i < 0 || (parent >= 0 && !dc->e[parent].live))
		return -1;

	e = &dc->e[i];
	memcpy(e->path, path, len);
	e->path[len] = '\0';
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	fd = (int)syscall(SYS_openat2, pfd, e->path + (slash ? slash - path + 1 : 0), &how,
			  sizeof(how));
	if (fd < 0)
		return -1;
	kept = pt_keep(fd);
	if (kept < 0)
		return -1;
	e->wd = add_watch(dc, kept);
	if (e->wd < 0) {
		pt_close_kept(kept);
		return -1;
	}
	e->fd = kept;
	e->parent = parent;
	e->children = 0;
	e->hash = h;
	e->len = (unsigned short)len;
	e->used = true;
	atomic_store(&e->refs, 1);
	e->live = true;
	if (parent >= 0)
		dc->e[parent].children++;
	if (!dc->dirty)
		index_add(dc, i);
	return i;
}

/* Whether a path missed before (then forgotten), remembering it if not. */
static bool missed_before(struct dircache *dc, unsigned int h)
{
	unsigned int *s = &dc->seen[h % DC_SEEN];

	if (*s == h) {
		*s = 0;
		return true;
	}
	*s = h;
	return false;
}

/* Whether the thread's lookups skip search permission: CAP_DAC_OVERRIDE
   or CAP_DAC_READ_SEARCH effective (which setfsuid away from 0 clears). */
static bool privileged(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[0].effective & ((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
}

/* Entries were made with other file-system IDs: drop them, and watch the
   root for what the new IDs need. */
static void check_ids(struct dircache *dc)
{
	uid_t uid;
	gid_t gid;

	defuse_fs_ids(&uid, &gid);
	if (uid == dc->uid && gid == dc->gid)
		return;
	drop_all(dc);
	dc->uid = uid;
	dc->gid = gid;
	dc->privileged = privileged();
	dc->root_wd = add_watch(dc, dc->root);
	if (dc->root_wd < 0)
		stop(dc);
}

/*
 * Closes every descriptor the cache holds, the instance too, and empties
 * it, without removing watches: in a forked child (the descriptors are its
 * own copies, the watches its parent's instance's, not to be touched) and
 * at the end (closing the instance takes its watches along).
 */
static void close_all(struct dircache *dc)
{
	for (int i = 0; i < DC_ENTRIES; i++) {
		struct dc_entry *e = &dc->e[i];

		if (e->live || atomic_load(&e->refs))
			pt_close_kept(e->fd);
		e->live = false;
		e->children = 0;
		atomic_store(&e->refs, 0);
	}
	if (dc->ino >= 0)
		pt_close_kept(dc->ino);
	dc->ino = -1;
	dc->lookups = 0;
	dc->dirty = true;
	dc->forked = false;
}

/* ---- The interface -------------------------------------------------- */

int dircache_get(struct dircache *dc, const char *rel, size_t len, struct dc_entry **held)
{
	struct dc_entry *e = NULL;
	int fd = -1;

	if (!dc || !cacheable(rel, len))
		return -1;
	if (atomic_flag_test_and_set_explicit(&dc->busy, memory_order_acquire))
		return -1;
	if (dc->forked)
		close_all(dc);
	if (dc->ino == -1 && ++dc->lookups >= DC_START)
		start(dc);
	if (dc->ino >= 0)
		check_ids(dc);
	if (dc->ino >= 0)
		sync_events(dc);
	if (dc->ino >= 0) {
		unsigned int h = hash_of(rel, len);
		int i;

		e = find(dc, rel, len, h);
		if (!e && missed_before(dc, h) && (i = keep(dc, rel, len, h)) >= 0)
			e = &dc->e[i];
		if (e) {
			atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
			e->used = true;
			fd = e->fd;
			*held = e;
		}
	}
	atomic_flag_clear_explicit(&dc->busy, memory_order_release);
	return fd;
}

void dircache_after_fork_child(struct dircache *dc)
{
	if (!dc)
		return;
	dc->forked = true;
	atomic_flag_clear(&dc->busy);	/* another thread may have held it */
}

struct dircache *dircache_new(int root)
{
	const char *env = getenv("DEFUSE_PASSTHROUGH_DIRCACHE");
	struct dircache *dc;

	/* Asked for only (see the top: the exit of a process that watched
	   waits for the kernel), and the IDs and the band are the in-process
	   host's. */
	if (!env || strcmp(env, "1") || !defuse_keep_fd || !defuse_close_kept || !defuse_fs_ids)
		return NULL;
	dc = calloc(1, sizeof(*dc));
	if (!dc)
		return NULL;
	atomic_flag_clear(&dc->busy);
	dc->root = root;
	dc->ino = -1;
	dc->uid = (uid_t)-1;
	dc->gid = (gid_t)-1;
	return dc;
}

void dircache_free(struct dircache *dc)
{
	if (!dc)
		return;
	close_all(dc);
	free(dc);
}
