/*
 * The passthrough module's confined view of its root: see view.h for what
 * it is for.  How it stays exact:
 *
 * - The view is a detached copy of the root's mount alone (no
 *   AT_RECURSIVE), made with MOUNT_ATTR_NOSYMFOLLOW.  The kernel follows
 *   no symbolic link on it, in the middle of a path or at its end: ELOOP,
 *   which the caller takes as "look it up the long way", as it would any
 *   link.  Paths given to it never hold "." or "..": a ".." at the view's
 *   root would stay there, where through the mount it leaves.  So every
 *   name a path passes is looked up in the same directories as the long
 *   way would, with the same permission checks (the caller's own IDs), and
 *   the object found is the same inode.
 * - A mount below the root is not in the copy.  So the view is made only
 *   when /proc/self/mountinfo shows none below the root, and the mount
 *   flags the kernel checks (read-only, noexec, ...) are the root mount's
 *   (statfs); /proc/self/mountinfo, opened before that look, is watched
 *   with epoll, and every use first asks whether the mount table changed
 *   since (one epoll_wait that finds nothing, in the common case).  On a
 *   change the view is dropped; it is made again after more lookups.  A
 *   lookup through the view is so ordered after every mount change that
 *   was complete when it began, as a lookup of the whole path would be.
 * - statx's mount ID is the view's; view_fix_statx puts the root's back.
 *   Nothing opened through the view is kept or handed out: descriptors
 *   the module opens still come from the root, so the program's files,
 *   /proc/self/fd and mount IDs name the mount the program sees.
 *
 * Threads and signals: one flag, only ever tried, guards the checks and
 * the making; a thread (or a signal handler) that finds it taken takes the
 * long way.  The view's descriptor stays open while any caller uses it
 * (reference count), so a drop never closes it under another thread's call.
 * No allocation after view_new.
 *
 * Costs: made only in a process's VIEW_START'th lookup, so that short-lived
 * processes make none: making one is open_tree, mount_setattr, opening and
 * reading /proc/self/mountinfo and a few calls more, and the copy's
 * teardown at close or exit waits for an RCU grace period (both measured
 * in docs/performance.md).  A process without CAP_SYS_ADMIN cannot make
 * one (EPERM) and takes the long way, as before.
 */
#include "view.h"

#include <defuse/module.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428	/* Linux 5.2 */
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442	/* Linux 5.12 */
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000	/* Linux 5.10 */
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U		/* Linux 6.8 */
#endif
#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000
#endif

#define VIEW_START 64		/* lookups in a process before it makes one */
#define VIEW_RECHECK 1024	/* lookups between looks at a table with mounts
				   below the root, for a change */
#define VIEW_READ 4096		/* /proc/self/mountinfo read at a time */

struct view {
	atomic_flag busy;
	atomic_uint refs;	/* the view's own while live, plus each user's */
	int root;		/* the module's, not ours to close */
	int fd;			/* the copy: open while refs */
	int mi;			/* /proc/self/mountinfo, or -1 */
	int ep;			/* epoll on mi, or -1 */
	bool live;
	atomic_bool never;	/* no view in this process (EPERM, old kernel) */
	bool wait_change;	/* mounts below the root: wait for a change */
	unsigned int lookups;	/* since the last making, drop or look */
	unsigned int start;	/* lookups before making one */
	uint64_t view_id, view_unique, root_id, root_unique;
	char root_path[PATH_MAX];
	char line[PATH_MAX * 4 + 512];	/* one mountinfo line being read */
	char chunk[VIEW_READ];
};

/* "/proc/thread-self/fd/N" (passthrough.c). */
const char *pt_proc_fd_path(char *buf, int fd, const char *name);

static void close_kept(int fd)
{
	if (fd < 0)
		return;
	if (!defuse_close_kept || defuse_close_kept(fd) < 0)
		close(fd);
}

static int keep(int fd)
{
	if (fd >= 0 && defuse_keep_fd) {
		int kept = defuse_keep_fd(fd);

		if (kept < 0) {
			close(fd);
			return -1;
		}
		fd = kept;
	}
	return fd;
}

struct view *view_new(int root)
{
	const char *env = getenv("DEFUSE_PASSTHROUGH_VIEW");
	struct view *v;

	if (env && strcmp(env, "0") == 0)
		return NULL;
	v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	atomic_flag_clear(&v->busy);
	atomic_init(&v->refs, 0);
	atomic_init(&v->never, false);
	v->root = root;
	v->fd = v->mi = v->ep = -1;
	/* "1": from the first lookup on (tests: short processes use it too) */
	v->start = env && strcmp(env, "1") == 0 ? 1 : VIEW_START;
	return v;
}

void view_free(struct view *v)
{
	if (!v)
		return;
	if (atomic_load(&v->refs))
		close_kept(v->fd);
	close_kept(v->ep);
	close_kept(v->mi);
	free(v);
}

void view_put(struct view *v)
{
	int fd = v->fd;		/* fixed while we hold a reference */

	if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
		close_kept(fd);
}

static void drop(struct view *v)
{
	if (v->live) {
		v->live = false;
		view_put(v);
	}
	v->lookups = 0;
}

bool view_takes(const char *rel)
{
	for (const char *c = rel; *c;) {
		size_t n = strcspn(c, "/");

		if (n && c[0] == '.' && (n == 1 || (n == 2 && c[1] == '.')))
			return false;
		c += n;
		while (*c == '/')
			c++;
	}
	return *rel != '\0';
}

/* mountinfo's octal escapes (\040 for a space, ...) undone in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Whether one mountinfo line's mount point (its fifth field) lies below
   the root's path. */
static bool line_below(const struct view *v, char *line)
{
	char *f = line;
	size_t rl = strlen(v->root_path);

	for (int i = 0; i < 4 && f; i++) {
		f = strchr(f, ' ');
		if (f)
			f++;
	}
	if (!f)
		return true;	/* not understood: as if below */
	f[strcspn(f, " ")] = '\0';
	unescape(f);
	if (rl == 1)	/* the root is "/": every other mount is below */
		return strcmp(f, "/") != 0;
	return strncmp(f, v->root_path, rl) == 0 && f[rl] == '/';
}

/*
 * Whether no mount lies below the root (0), one does or it cannot be told
 * (1).  Reads mi from its start, line by line, in fixed buffers.
 */
static int mounts_below(struct view *v)
{
	char proc[64];
	size_t used = 0;
	ssize_t n, len;

	/* The root's path as this process names it now. */
	pt_proc_fd_path(proc, v->root, NULL);
	len = readlink(proc, v->root_path, sizeof v->root_path - 1);
	if (len <= 0 || (size_t)len >= sizeof v->root_path - 1 || v->root_path[0] != '/')
		return 1;
	v->root_path[len] = '\0';
	if (len > 10 && strcmp(v->root_path + len - 10, " (deleted)") == 0)
		return 1;

	if (lseek(v->mi, 0, SEEK_SET) != 0)
		return 1;
	while ((n = read(v->mi, v->chunk, sizeof v->chunk)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (v->chunk[i] != '\n') {
				if (used + 1 >= sizeof v->line)
					return 1;	/* a line too long to judge */
				v->line[used++] = v->chunk[i];
				continue;
			}
			v->line[used] = '\0';
			used = 0;
			if (line_below(v, v->line))
				return 1;
		}
	}
	return n < 0 || used ? 1 : 0;
}

static int statx_id(int fd, unsigned int mask, uint64_t *id)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, mask, &stx))
		return -1;
	*id = (stx.stx_mask & mask) ? stx.stx_mnt_id : UINT64_MAX;
	return 0;
}

/* The mount flags a lookup or a change depends on, as statfs names them. */
#define VIEW_FLAGS (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | \
		    ST_NODIRATIME | ST_RELATIME)

/* Makes the view, under busy, with no reference left on the last one. */
static void make(struct view *v)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSYMFOLLOW };
	struct statfs rs, vs;
	int fd;

	fd = (int)syscall(SYS_open_tree, v->root, "",
			  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (fd < 0) {
		/* EPERM without CAP_SYS_ADMIN, ENOSYS before Linux 5.2, EINVAL
		   for an unbindable mount: none of that changes later.  Out of
		   descriptors or memory: try again later. */
		if (errno == EPERM || errno == ENOSYS || errno == EINVAL)
			atomic_store_explicit(&v->never, true, memory_order_relaxed);
		return;
	}
	/* EINVAL before Linux 5.12 (no MOUNT_ATTR_NOSYMFOLLOW). */
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr)) {
		close(fd);
		atomic_store_explicit(&v->never, true, memory_order_relaxed);
		return;
	}
	/* Watch the table before looking at it, so no change between the
	   look and a use goes unseen. */
	if (v->mi < 0) {
		struct epoll_event ev = { .events = EPOLLPRI };

		v->mi = keep(open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
		v->ep = keep(epoll_create1(EPOLL_CLOEXEC));
		if (v->mi < 0 || v->ep < 0 || epoll_ctl(v->ep, EPOLL_CTL_ADD, v->mi, &ev)) {
			close(fd);
			atomic_store_explicit(&v->never, true, memory_order_relaxed);
			return;
		}
	}
	if (mounts_below(v) || fstatfs(v->root, &rs) || fstatfs(fd, &vs) ||
	    (rs.f_flags & VIEW_FLAGS) != (vs.f_flags & VIEW_FLAGS) ||
	    !(vs.f_flags & ST_NOSYMFOLLOW) ||
	    statx_id(fd, STATX_MNT_ID, &v->view_id) || statx_id(v->root, STATX_MNT_ID, &v->root_id) ||
	    statx_id(fd, STATX_MNT_ID_UNIQUE, &v->view_unique) ||
	    statx_id(v->root, STATX_MNT_ID_UNIQUE, &v->root_unique)) {
		close(fd);
		v->wait_change = true;
		return;
	}
	fd = keep(fd);
	if (fd < 0)
		return;
	v->fd = fd;
	v->live = true;
	atomic_store_explicit(&v->refs, 1, memory_order_release);
}

/* Whether the mount table changed since the last look (or the look
   failed: as good as a change). */
static bool table_changed(struct view *v)
{
	struct epoll_event ev;

	return epoll_wait(v->ep, &ev, 1, 0) != 0;
}

int view_get(struct view *v)
{
	int fd = -1;

	if (!v || atomic_load_explicit(&v->never, memory_order_relaxed))
		return -1;
	/* A vfork child's descriptors are its own, its memory the parent's. */
	if (defuse_in_vfork_child && defuse_in_vfork_child())
		return -1;
	if (atomic_flag_test_and_set_explicit(&v->busy, memory_order_acquire))
		return -1;
	if (v->live) {
		if (table_changed(v))
			drop(v);
	} else if (v->wait_change) {
		/* No view while mounts lie below the root: only now and then
		   a look whether that changed (the long way needs none). */
		if (++v->lookups >= VIEW_RECHECK) {
			v->lookups = 0;
			v->wait_change = !table_changed(v);
		}
	} else if (++v->lookups >= v->start &&
		   atomic_load_explicit(&v->refs, memory_order_acquire) == 0) {
		v->lookups = 0;
		make(v);
	}
	if (v->live) {
		atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
		fd = v->fd;
	}
	atomic_flag_clear_explicit(&v->busy, memory_order_release);
	return fd;
}

bool view_fix_statx(struct view *v, struct statx *stx)
{
	if (stx->stx_mask & STATX_MNT_ID_UNIQUE) {
		if (stx->stx_mnt_id != v->view_unique)
			return false;
		stx->stx_mnt_id = v->root_unique;
	} else if (stx->stx_mask & STATX_MNT_ID) {
		if (stx->stx_mnt_id != v->view_id)
			return false;
		stx->stx_mnt_id = v->root_id;
	}
	return true;
}

void view_after_fork_child(struct view *v)
{
	if (!v)
		return;
	/* The child's copies of the parent's descriptors: closing them
	   leaves the parent's open.  Another thread of the parent may have
	   held busy or a reference at the fork; the child has no such thread. */
	if (atomic_load(&v->refs))
		close_kept(v->fd);
	close_kept(v->ep);
	close_kept(v->mi);
	v->fd = v->mi = v->ep = -1;
	atomic_store(&v->refs, 0);
	v->live = v->wait_change = false;
	v->lookups = 0;
	atomic_flag_clear(&v->busy);
}
