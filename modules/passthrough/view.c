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
 * No malloc after view_new: the room a making needs is mapped (mmap) at the
 * first one.
 *
 * Costs: made only in a process's VIEW_START'th lookup, so that short-lived
 * processes make none: making one is open_tree, mount_setattr, opening and
 * reading /proc/self/mountinfo and a few calls more, and the copy's
 * teardown at close or exit waits for an RCU grace period (both measured
 * in docs/performance.md).  A process without CAP_SYS_ADMIN has a helper
 * make the copy (below), later still.
 */
#include "view.h"
#include "kept.h"

#include "common/mountinfo.h"

#include <defuse/module.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
#define VIEW_START_HELPER 512	/* the same, when a helper must make it */
#define VIEW_STACK 65536	/* the helper's stack: room for a SIGSYS frame too */
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
	bool helper;		/* made by a helper (no CAP_SYS_ADMIN here) */
	unsigned int lookups;	/* since the last making, drop or look */
	unsigned int start;	/* lookups before making one */
	uint64_t view_id, view_unique, root_id, root_unique;
	struct view_bufs *b;	/* mapped at the first making, or NULL */
};

/* What making a view needs room for: mapped then, so that a process that
   makes none (most) neither allocates nor touches it. */
struct view_bufs {
	char root_path[PATH_MAX];
	char line[PATH_MAX * 4 + 512];	/* one mountinfo line being read */
	char chunk[VIEW_READ];
	char stack[VIEW_STACK] __attribute__((aligned(16)));	/* the helper's */
};

/* "/proc/thread-self/fd/N" (passthrough.c). */
const char *pt_proc_fd_path(char *buf, int fd, const char *name);

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
	/* "1": from the first lookup on (tests: short processes use it too);
	   "helper": the same, made by the helper even with CAP_SYS_ADMIN. */
	v->helper = env && strcmp(env, "helper") == 0;
	v->start = env && (strcmp(env, "1") == 0 || v->helper) ? 1 : VIEW_START;
	return v;
}

void view_free(struct view *v)
{
	if (!v)
		return;
	if (atomic_load(&v->refs))
		pt_close_kept(v->fd);
	pt_close_kept(v->ep);
	pt_close_kept(v->mi);
	if (v->b)
		munmap(v->b, sizeof *v->b);
	free(v);
}

void view_put(struct view *v)
{
	int fd = v->fd;		/* fixed while we hold a reference */

	if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1)
		pt_close_kept(fd);
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

/* Whether one mountinfo line's mount point (its fifth field) lies below
   the root's path. */
static bool line_below(const struct view *v, char *line)
{
	char *f = line;
	size_t rl = strlen(v->b->root_path);

	for (int i = 0; i < 4 && f; i++) {
		f = strchr(f, ' ');
		if (f)
			f++;
	}
	if (!f)
		return true;	/* not understood: as if below */
	f[strcspn(f, " ")] = '\0';
	mountinfo_unescape(f);
	if (rl == 1)	/* the root is "/": every other mount is below */
		return strcmp(f, "/") != 0;
	return strncmp(f, v->b->root_path, rl) == 0 && f[rl] == '/';
}

/*
 * Without CAP_SYS_ADMIN, a helper makes the copy: a child created in a user
 * namespace and a mount namespace of its own (clone with CLONE_NEWUSER |
 * CLONE_NEWNS), where it has the capability over its namespace's copy of
 * every mount, and so may copy the one the root's path leads to there.  It
 * shares our descriptor table (CLONE_FILES), so the copy it opens is ours,
 * and our memory (CLONE_VM | CLONE_VFORK: we wait while it runs on a stack
 * of the view's own, so it needs no fork of our address space), and makes
 * raw system calls only: our thread pointer is its too.  (Where DEFUSE's
 * Syscall User Dispatch net is armed, they trap, and DEFUSE's handler
 * forwards them on the helper's stack: hence its size.)  Its exit sends no
 * signal (the program's wait(2) does not see it); we reap it with __WCLONE.
 * The copy is of whatever the path names when the helper looks: make()
 * checks that it is the root's directory.  Costs more than open_tree here
 * (about 1 ms, most of it copying the mount namespace), so it waits for
 * VIEW_START_HELPER lookups.
 */
struct helper_job {
	const char *path;
	int fd;			/* the copy, or -1 */
	int err;		/* why not */
};

static long raw_syscall5(long nr, long a, long b, long c, long d, long e)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

/* In the helper: nothing here may touch the thread's TLS or errno. */
__attribute__((used, no_stack_protector, no_sanitize("address", "undefined")))
static void helper_run(struct helper_job *j)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSYMFOLLOW };
	long fd = raw_syscall5(SYS_open_tree, AT_FDCWD, (long)j->path,
			       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC, 0, 0);

	if (fd < 0) {
		j->err = (int)-fd;
		return;
	}
	long r = raw_syscall5(SYS_mount_setattr, fd, (long)"", AT_EMPTY_PATH, (long)&attr,
			      sizeof attr);
	if (r < 0) {
		j->err = (int)-r;
		raw_syscall5(SYS_close, fd, 0, 0, 0, 0);
		return;
	}
	j->fd = (int)fd;
}

/* The copy made by the helper, or -1 with errno set. */
static int open_tree_by_helper(struct view *v)
{
	struct helper_job job = { .path = v->b->root_path, .fd = -1, .err = EAGAIN };
	register long r10 __asm__("r10") = 0;	/* child_tid */
	register long r8 __asm__("r8") = 0;	/* tls */
	register struct helper_job *r12 __asm__("r12") = &job;
	register void (*r13)(struct helper_job *) __asm__("r13") = helper_run;
	siginfo_t si;
	long pid;

	/* The child starts on its stack with our registers: r12 and r13
	   survive the system call; 16-byte aligned at the call. */
	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "movq %%r12, %%rdi\n\t"
			 "call *%%r13\n\t"
			 "movl %[exit], %%eax\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "=a"(pid)
			 : "a"((long)SYS_clone),
			   "D"((long)(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_NEWUSER |
				      CLONE_NEWNS)),
			   "S"(v->b->stack + sizeof v->b->stack), "d"(0L), "r"(r10), "r"(r8),
			   "r"(r12), "r"(r13), [exit] "i"(SYS_exit)
			 : "rcx", "r11", "memory");
	if (pid < 0) {
		errno = (int)-pid;
		return -1;
	}
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | __WCLONE) < 0 && errno == EINTR)
		;
	if (job.fd < 0) {
		errno = job.err;
		return -1;
	}
	return job.fd;
}

/* The root's path as this process names it now (into root_path): 0, or
   -1 when it has none (deleted, out of reach). */
static int root_path_now(struct view *v)
{
	char proc[64];
	ssize_t len;

	pt_proc_fd_path(proc, v->root, NULL);
	len = readlink(proc, v->b->root_path, sizeof v->b->root_path - 1);
	if (len <= 0 || (size_t)len >= sizeof v->b->root_path - 1 || v->b->root_path[0] != '/')
		return -1;
	v->b->root_path[len] = '\0';
	if (len > 10 && strcmp(v->b->root_path + len - 10, " (deleted)") == 0)
		return -1;
	return 0;
}

/*
 * Whether no mount lies below the root's path (root_path_now) (0), one does
 * or it cannot be told (1).  Reads mi from its start, line by line, in fixed
 * buffers.
 */
static int mounts_below(struct view *v)
{
	size_t used = 0;
	ssize_t n;

	if (lseek(v->mi, 0, SEEK_SET) != 0)
		return 1;
	while ((n = read(v->mi, v->b->chunk, sizeof v->b->chunk)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (v->b->chunk[i] != '\n') {
				if (used + 1 >= sizeof v->b->line)
					return 1;	/* a line too long to judge */
				v->b->line[used++] = v->b->chunk[i];
				continue;
			}
			v->b->line[used] = '\0';
			used = 0;
			if (line_below(v, v->b->line))
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
	struct stat rst, vst;
	int fd;

	/* A program that filters its own system calls (a sandbox) may answer
	   open_tree or clone with a signal or death rather than an error. */
	if (prctl(PR_GET_SECCOMP) != 0) {
		atomic_store_explicit(&v->never, true, memory_order_relaxed);
		return;
	}
	if (!v->b) {
		void *b = mmap(NULL, sizeof *v->b, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (b == MAP_FAILED)
			return;
		v->b = b;
	}
	if (root_path_now(v)) {
		v->wait_change = true;
		return;
	}
	if (v->helper) {
		fd = open_tree_by_helper(v);
	} else {
		fd = (int)syscall(SYS_open_tree, v->root, "",
				  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
		if (fd < 0 && errno == EPERM) {
			/* No CAP_SYS_ADMIN: the helper's turn, after more
			   lookups (unless a test asked for it at once). */
			v->helper = true;
			if (v->start != 1) {
				v->start = VIEW_START_HELPER;
				return;
			}
			fd = open_tree_by_helper(v);
		}
	}
	if (fd < 0) {
		/* EPERM (no user namespaces to be had either), ENOSYS before
		   Linux 5.2, EINVAL for an unbindable mount or before Linux
		   5.12 (no MOUNT_ATTR_NOSYMFOLLOW), ENOSPC (no user namespace
		   left): none of that changes later.  Out of descriptors or
		   memory, or the helper's turn still to come: later. */
		if (errno == EPERM || errno == ENOSYS || errno == EINVAL || errno == ENOSPC ||
		    errno == EUSERS)
			atomic_store_explicit(&v->never, true, memory_order_relaxed);
		return;
	}
	if (!v->helper &&
	    syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr)) {
		close(fd);
		atomic_store_explicit(&v->never, true, memory_order_relaxed);
		return;
	}
	/* Watch the table before looking at it, so no change between the
	   look and a use goes unseen. */
	if (v->mi < 0) {
		struct epoll_event ev = { .events = EPOLLPRI };

		v->mi = pt_keep(open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
		v->ep = pt_keep(epoll_create1(EPOLL_CLOEXEC));
		if (v->mi < 0 || v->ep < 0 || epoll_ctl(v->ep, EPOLL_CTL_ADD, v->mi, &ev)) {
			close(fd);
			atomic_store_explicit(&v->never, true, memory_order_relaxed);
			return;
		}
	}
	/* The helper copied what the path named: the root's directory? */
	if (fstat(v->root, &rst) || fstat(fd, &vst) || rst.st_dev != vst.st_dev ||
	    rst.st_ino != vst.st_ino || mounts_below(v) || fstatfs(v->root, &rs) || fstatfs(fd, &vs) ||
	    (rs.f_flags & VIEW_FLAGS) != (vs.f_flags & VIEW_FLAGS) ||
	    !(vs.f_flags & ST_NOSYMFOLLOW) ||
	    statx_id(fd, STATX_MNT_ID, &v->view_id) || statx_id(v->root, STATX_MNT_ID, &v->root_id) ||
	    statx_id(fd, STATX_MNT_ID_UNIQUE, &v->view_unique) ||
	    statx_id(v->root, STATX_MNT_ID_UNIQUE, &v->root_unique)) {
		close(fd);
		v->wait_change = true;
		return;
	}
	fd = pt_keep(fd);
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
		pt_close_kept(v->fd);
	pt_close_kept(v->ep);
	pt_close_kept(v->mi);
	v->fd = v->mi = v->ep = -1;
	atomic_store(&v->refs, 0);
	v->live = v->wait_change = false;
	v->lookups = 0;
	atomic_flag_clear(&v->busy);
}
