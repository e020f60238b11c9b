/*
 * Emulated files: the module serves every read and write.
 *
 * The program still gets a kernel descriptor, the placeholder, so the
 * kernel keeps numbering, dup, close-on-exec and inheritance.  It is an
 * O_PATH descriptor of a small memfd whose first page, mapped shared, holds
 * the open file description's state (struct core_ofd: offset, status
 * flags, a lock).  dup shares the placeholder and so the page; fork shares
 * the page too, so parent and child move one offset, as POSIX says.  An
 * O_PATH descriptor fails loudly (EBADF) if a call ever reached the kernel
 * with it, instead of reading something else.
 *
 * Offsets move by compare-and-swap in the shared page, so concurrent reads
 * and writes of threads and processes each get their own range, O_APPEND
 * writes land at the end of the file, and no sharer that is stopped or
 * killed in the middle of a call can hold up the others (a lock there would
 * be held in user space, where the kernel's f_pos lock never is).
 *
 * A placeholder describes itself: exec hands the new image the numbers of
 * the placeholders that survive it (DEFUSE_FDS, exec.c); the new image
 * checks each is still that memfd, maps the record and opens the file
 * again through the module, by the module's handle kept there, so a file
 * renamed or removed meanwhile is still found (core_ofd_reopen).
 * Placeholders of one description (dups) share one adoption, as they
 * shared one description before.
 *
 * Threads: every call holds a reference to its descriptor's entry, and so
 * to the description (fdtable.c), for as long as it runs.  Signals: a
 * handler never runs while this code does (signals.c defers it), so the
 * append lock and the pools are never re-entered from the same thread.
 *
 * Locks (record, OFD, flock) are the kernel's when a module has a kernel
 * file behind each open file and gives it to the core (defuse_ops.lock_fd):
 * the program's locks are taken on it (docs/core.md, "Locks").  Otherwise
 * the module's own lock operations keep them (getlk, setlk, flock), or
 * there are none (ENOLCK), as module.h says.
 *
 * Every call into the module goes through the module adapter
 * (module/call.h), which keeps module.h's fallbacks.
 *
 * Received placeholders (SCM_RIGHTS, pidfd_getfd) are adopted on first use
 * (core_emulated_adopt_fd).
 *
 * mmap, and read, write and truncation of a file that is mapped somewhere
 * in the process tree, are the pager's (pager.c, docs/paging.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <signal.h>
#include <linux/falloc.h>
#include <sys/socket.h>
#include "kernel/sys.h"
#include "common/exec_layout.h"
#include "core/core.h"
#include "core/pager.h"
#include "core/resolve.h"
#include "core/syscalls.h"

#define STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

/*
 * The kernel marks every open on a 64-bit system O_LARGEFILE and F_GETFL
 * shows it; glibc defines O_LARGEFILE as 0 there, so name the kernel's bit.
 */
#define KERNEL_O_LARGEFILE 0100000

/*
 * preadv2/pwritev2 flags served here (uapi/linux/fs.h; RWF_NOAPPEND is newer
 * than some headers).  HIPRI and NOWAIT are hints a module call satisfies
 * as it is; any other flag gets the kernel's EOPNOTSUPP.
 */
#define RWF_NOAPPEND_ 0x20
#define RWF_SERVED (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND_)

/* ---- the shared record, without a lock -------------------------------- */

/*
 * A description is shared between processes, and any of them may be
 * stopped or killed at any instruction.  The kernel holds its f_pos lock
 * only inside a system call, where neither can happen; a lock of ours would
 * be held in user space, across module calls, and a sharer stopped or killed
 * while holding it would stall or hang every other one.  So the offset and
 * the status flags move by compare-and-swap, and the one step that needs
 * mutual exclusion (an append by a module without an append operation)
 * takes a lock that knows its owner and is taken back from a dead one.
 */

static int64_t offset_now(const struct core_ofd *o)
{
	return __atomic_load_n(&o->offset, __ATOMIC_ACQUIRE);
}

/* Moves the offset from *at to to, unless it moved meanwhile (then *at is
   where it is now). */
static int offset_move(struct core_ofd *o, int64_t *at, int64_t to)
{
	return __atomic_compare_exchange_n(&o->offset, at, to, 0, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* The offset after an append ending at end: appends are ordered by where
   they landed, so the last one in that order sets it. */
static void offset_at_least(struct core_ofd *o, int64_t end)
{
	int64_t at = offset_now(o);

	while (at < end && !offset_move(o, &at, end))
		;
}

/*
 * The append lock: the owner's thread ID, 0 when free.  A waiter that finds
 * the owner gone (killed inside its append) takes the lock over.  A stopped
 * owner still holds it: only appends of modules without the append
 * operation wait for it (module.h).
 */
static void append_lock(struct core_ofd *o)
{
	int32_t me = sys0(SYS_gettid), owner = 0;
	struct timespec tick = { 0, 1000000 };

	while (!__atomic_compare_exchange_n(&o->lock, &owner, me, 0, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		if (sys_failed(sys4(SYS_futex, &o->lock, FUTEX_WAIT, owner, &tick)) &&
		    sys2(SYS_kill, owner, 0) == -ESRCH)
			__atomic_compare_exchange_n(&o->lock, &owner, 0, 0, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		owner = 0;
	}
}

static void append_unlock(struct core_ofd *o)
{
	__atomic_store_n(&o->lock, 0, __ATOMIC_RELEASE);
	sys3(SYS_futex, &o->lock, FUTEX_WAKE, 1);
}

/* ---- records and placeholders ------------------------------------------ */

/* This process's side of a description (no reference yet), in open. */
static struct core_open *init_open(struct core_open *open, int mount, uint64_t fh,
				   struct core_ofd *ofd)
{
	open->mount = mount;
	open->fh = fh;
	open->ofd = ofd;
	open->lock_fd = -1;
	open->lock_fd_inherited = 0;
	open->exec_kept = 0;
	open->cached = 0;
	open->ino = 0;
	open->carrier_fd = -1;
	open->rec_fd = -1;
	if (!(ofd->flags & O_PATH))
		open->lock_fd = core_handle_kfd(mount, fh);
	return open;
}

static struct core_open *new_open(int mount, uint64_t fh, struct core_ofd *ofd)
{
	struct core_open *open = core_pool_alloc(CORE_POOL_OPEN, sizeof(*open));

	return open ? init_open(open, mount, fh, ofd) : NULL;
}

/* A new description's record, in the memfd of inode ino. */
static void record_init(struct core_ofd *ofd, int mount, const char *path, int flags,
			uint64_t ino)
{
	memset(ofd, 0, sizeof(*ofd));
	ofd->magic = CORE_OFD_MAGIC;
	ofd->ino = ino;
	/* What F_GETFL shows: the open's flags but those that only acted
	   at open; an O_PATH descriptor keeps only how it was looked up. */
	if (flags & O_PATH)
		ofd->flags = flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW);
	else
		ofd->flags = (flags & (O_ACCMODE | STATUS_FLAGS | O_SYNC | O_DSYNC | O_TMPFILE |
				       O_NOFOLLOW)) | KERNEL_O_LARGEFILE;
	ofd->mount = mount;
	size_t n = strnlen(path, sizeof(ofd->path) - 1);	/* cut as snprintf would */

	memcpy(ofd->path, path, n);
	ofd->path[n] = '\0';
}

/*
 * A new O_PATH descriptor of the memfd fd is (a new open file description
 * of it) at the lowest free number, with close-on-exec as asked.
 * open_tree(2) without OPEN_TREE_CLONE is open(O_PATH) of its dirfd: a
 * third of the cost of opening /proc/self/fd/N, which stays the way where
 * the kernel lacks it.
 */
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
static int no_open_tree;

static long placeholder_of(long fd, int cloexec)
{
	char link[64];
	long ph;

	if (!__atomic_load_n(&no_open_tree, __ATOMIC_RELAXED)) {
		ph = sys3(SYS_open_tree, fd, "", AT_EMPTY_PATH | (cloexec ? OPEN_TREE_CLOEXEC : 0));
		if (ph != -ENOSYS && ph != -EPERM && ph != -EINVAL)
			return ph;
		__atomic_store_n(&no_open_tree, 1, __ATOMIC_RELAXED);
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
	return sys3(SYS_open, link, O_PATH | (cloexec ? O_CLOEXEC : 0), 0);
}

/* ---- records kept for the next open -------------------------------- */

/*
 * A description that never left this process (no fork, exec, send or
 * adoption since it was made: its record's `shared` is 0) is gone from
 * everywhere at its last close here, so its memfd and mapped record can
 * serve the next open, whose placeholder is then one open_tree of a copy
 * of the old placeholder kept in DEFUSE's band: two system calls for an
 * open and its close, where a new record costs memfd_create, ftruncate,
 * mmap, the placeholder and the munmap at close.  A record that may be
 * held elsewhere (core_ofd_share) is never kept.
 *
 * The copy is held while the description is open, so that its close needs
 * no system call of DEFUSE's: for at most COPIES_MAX descriptions at once
 * (the band is shared with modules' descriptors, and every number it takes
 * lowers the program's limit); past that, a copy is taken at the last
 * close, before the kernel closes the program's descriptor (core_fd_forget),
 * if a kept place is free.  At most KEPT_MAX records wait for an open.  A
 * forked child drops the parent's kept records (the parent goes on using
 * them), a vfork child keeps none.
 */
#define KEPT_MAX 32
#define COPIES_MAX 64
static uint64_t kept_head;
static int kept_n;
static int copies;	/* band copies of placeholders, held or kept */

static void drop_copy(int copy)
{
	defuse_fd_release(copy);
	__atomic_sub_fetch(&copies, 1, __ATOMIC_RELAXED);
}

/* A copy of placeholder ph for open o, within the budget. */
static void take_copy(struct core_open *o, long ph)
{
	int copy, none = -1;

	if (__atomic_add_fetch(&copies, 1, __ATOMIC_RELAXED) > COPIES_MAX ||
	    (copy = defuse_fd_reserve_copy(ph)) < 0) {
		__atomic_sub_fetch(&copies, 1, __ATOMIC_RELAXED);
		return;
	}
	if (!__atomic_compare_exchange_n(&o->rec_fd, &none, copy, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		drop_copy(copy);
}

void core_emulated_keep_record(long fd, struct core_fd *f)
{
	struct core_open *o = f->open;

	if (o->rec_fd < 0 && !defuse_self.vfork_child &&
	    !__atomic_load_n(&o->ofd->shared, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&o->refs, __ATOMIC_RELAXED) == 1 &&
	    __atomic_load_n(&kept_n, __ATOMIC_RELAXED) < KEPT_MAX)
		take_copy(o, fd);
}

int core_emulated_recycle(struct core_open *o)
{
	int copy = __atomic_exchange_n(&o->rec_fd, -1, __ATOMIC_ACQ_REL);

	if (copy < 0)
		return 0;
	if (!defuse_self.vfork_child && !__atomic_load_n(&o->ofd->shared, __ATOMIC_RELAXED)) {
		if (__atomic_add_fetch(&kept_n, 1, __ATOMIC_RELAXED) <= KEPT_MAX) {
			o->rec_fd = copy;
			core_stack_push(&kept_head, o);
			return 1;
		}
		__atomic_sub_fetch(&kept_n, 1, __ATOMIC_RELAXED);
	}
	drop_copy(copy);
	return 0;
}

static struct core_open *kept_take(void)
{
	struct core_open *o;

	if (defuse_self.vfork_child || !(o = core_stack_pop(&kept_head)))
		return NULL;
	__atomic_sub_fetch(&kept_n, 1, __ATOMIC_RELAXED);
	return o;
}

void core_emulated_after_fork(void)
{
	struct core_open *o;

	while ((o = kept_take())) {
		drop_copy(o->rec_fd);
		sys2(SYS_munmap, o->ofd, 4096);
		core_pool_free(CORE_POOL_OPEN, o, sizeof(*o));
	}
}

/* ---- sharing ----------------------------------------------------------- */

/*
 * Marks o's record as held elsewhere (core_ofd_share), and notes in o
 * what the record says for an exec (its inode, whether it is identified).
 * A forked child has no page table entries for the records (fork leaves
 * shared mappings to fault in again), so an exec'ing child that read each
 * record would pay a page fault per description, about a microsecond:
 * with this, done again at every fork, it reads none once the first exec
 * filled them in.
 */
void core_open_share(struct core_open *o)
{
	unsigned char c = __atomic_load_n(&o->cached, __ATOMIC_RELAXED);

	if (c == (CORE_CACHED_SHARED | CORE_CACHED_KNOWN) && o->ino)
		return;
	if (!(c & CORE_CACHED_SHARED))
		core_ofd_share(o->ofd);
	if (!o->ino)
		__atomic_store_n(&o->ino, __atomic_load_n(&o->ofd->ino, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	if (__atomic_load_n(&o->ofd->known, __ATOMIC_ACQUIRE))
		c |= CORE_CACHED_KNOWN;
	__atomic_or_fetch(&o->cached, c | CORE_CACHED_SHARED, __ATOMIC_RELAXED);
}

void core_emulated_share_all(int carry)
{
	int left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED);

	for (long fd = 0; core_fds && left > 0 && fd < CORE_FD_MAX; fd++) {
		struct core_fd *f = core_fd_take(fd);

		if (!f)
			continue;
		left--;
		/* A pending one's record was shared by the image that handed
		   it down, and its carrier came along. */
		if (f->open && !f->open->pending) {
			core_open_share(f->open);
			if (carry && f->open->carrier_fd < 0 && core_owners_needed(f->open->mount))
				core_owner_carry(f->open);
		}
		core_fd_release(f);
	}
}

static void each_right(const struct msghdr *m, void (*fn)(int fd));

static void share_one(int fd)
{
	struct core_fd *f = core_fd_take(fd);

	if (f && f->open && !f->open->pending)
		core_open_share(f->open);
	core_fd_release(f);
}

void core_emulated_sending(const struct msghdr *m)
{
	char buf[1024];
	struct msghdr k;

	/* The control data, read as the kernel will; too much of it, or
	   unreadable (the kernel then fails the call): all of them. */
	if (!m || m->msg_controllen > sizeof(buf) ||
	    defuse_copy_in(buf, m->msg_control, m->msg_controllen)) {
		core_emulated_share_all(0);
		return;
	}
	k = (struct msghdr){ .msg_control = buf, .msg_controllen = m->msg_controllen };
	each_right(&k, share_one);
}

/* ---- open ------------------------------------------------------------- */

/* The placeholder of a new description on kept record o (whose copy the
   new description holds on to), or -errno (the record is then gone). */
static long open_kept(struct core_open *o, int cloexec)
{
	long ph = placeholder_of(o->rec_fd, cloexec);

	if (ph < 0) {
		drop_copy(o->rec_fd);
		sys2(SYS_munmap, o->ofd, 4096);
		core_pool_free(CORE_POOL_OPEN, o, sizeof(*o));
	}
	return ph;
}

int core_forks_running EXEC_DATA, core_forks EXEC_DATA;

/*
 * A new description's record for an open of path: its memfd (returned, or
 * -errno), mapped at *ofd, the memfd's inode in *ino.  The inode goes into
 * the record now, by its maker (one fstat per new record; kept ones keep
 * it): a new image checks each inherited number against it.  Learnt later,
 * by an exec'ing fork child from its descriptor, it could be another
 * memfd's: fork copies the descriptor table a moment before the memory, so
 * a child forked while another thread opened or closed may pair an entry
 * with another description's placeholder, and that went into the shared
 * record for good (tests/lifecycle stress failed about 1 run in 12: every
 * later exec of the description lost it).
 */
static long record_new(int mount, const char *path, int flags, struct core_ofd **ofd,
		       uint64_t *ino)
{
	long mfd = sys2(SYS_memfd_create, "defuse-ofd", MFD_CLOEXEC), r;
	struct stat st;
	void *m;

	if (mfd < 0)
		return mfd;
	if ((r = sys2(SYS_ftruncate, mfd, 4096)) < 0 || (r = sys2(SYS_fstat, mfd, &st)) < 0)
		goto fail;
	m = (void *)sys6(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (sys_failed((long)m)) {
		r = (long)m;
		goto fail;
	}
	record_init(m, mount, path, flags, st.st_ino);
	*ofd = m;
	*ino = st.st_ino;
	return mfd;
fail:
	sys1(SYS_close, mfd);
	return r;
}

/*
 * The placeholder, with the program's close-on-exec flag, takes the
 * memfd's number: the lowest free one when the program opened, as the
 * kernel would have given (the module's own descriptor is kept out of the
 * way, module.h: defuse_keep_fd).  0, or -errno (mfd is still open).
 */
static long placeholder_at(long mfd, int flags)
{
	long ph = placeholder_of(mfd, 1);

	if (ph < 0)
		return ph;
	if (sys_failed(sys3(SYS_dup3, ph, mfd, flags & O_CLOEXEC))) {
		sys1(SYS_close, ph);
		return -EMFILE;
	}
	sys1(SYS_close, ph);
	return 0;
}

/*
 * A vfork child (posix_spawn's file actions) opens in its parent's memory,
 * which must stay as the parent's: the description gets its record and
 * placeholder in the child's own descriptor table only, and the module's
 * handle goes back at once (the record names the file by path, checked by
 * inode); no table entry, nothing kept.  The child's exec hands it down
 * with the rest (core_exec_fds_env finds the child's records among its
 * descriptors, wherever dup2 moved them: core_vfork_made_find), and the
 * new image opens the file again from the record, as for any inherited
 * description.  The child itself cannot read or write it (a read gives
 * EBADF): it only sets descriptors up before its exec.  The records it
 * made, by memfd inode, are kept in the thread-local state the child
 * borrows from its suspended parent thread, tagged with the child's pid so
 * that the parent and later children never take them for theirs.
 */
#define VFORK_MADE_MAX 16
static __thread uint64_t vfork_made[VFORK_MADE_MAX] CORE_TLS;
static __thread int vfork_made_n CORE_TLS;
static __thread long vfork_made_pid CORE_TLS;

static int vfork_made_here(void)
{
	return vfork_made_pid == defuse_self.pid ? vfork_made_n : 0;
}

static int vfork_made_has(uint64_t ino)
{
	int n = vfork_made_here();

	for (int i = 0; i < n; i++)
		if (vfork_made[i] == ino)
			return 1;
	return 0;
}

int core_vfork_made_find(long *fds, uint64_t *inos, int max)
{
	char buf[2048];
	long dir, n;
	int found = 0;

	if (!defuse_self.vfork_child || !vfork_made_here())
		return 0;
	dir = sys3(SYS_open, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dir < 0)
		return 0;
	while (found < max && (n = sys3(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n && found < max;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);
			struct stat st;
			long fd, fl;

			off += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			fd = strtol(e->d_name, NULL, 10);
			if (fd == dir || (fl = sys3(SYS_fcntl, fd, F_GETFD, 0)) < 0 ||
			    (fl & FD_CLOEXEC) || sys2(SYS_fstat, fd, &st) < 0 ||
			    !vfork_made_has(st.st_ino) || !core_is_placeholder(fd))
				continue;
			fds[found] = fd;
			inos[found++] = st.st_ino;
		}
	}
	sys1(SYS_close, dir);
	return found;
}

static long vfork_open(int mount, const char *path, int flags, uint64_t fh)
{
	struct core_ofd *ofd;
	struct stat fst;
	uint64_t ino;
	long mfd, r;

	if (vfork_made_here() == VFORK_MADE_MAX) {
		mod_release(CORE_REF(mount), fh);
		return -EMFILE;
	}
	if ((mfd = record_new(mount, path, flags, &ofd, &ino)) < 0) {
		mod_release(CORE_REF(mount), fh);
		return mfd;
	}
	ofd->shared = 1;	/* it leaves this process at once */
	/* Known by its path and inode, not by the module's handle: a handle
	   is good only while a description holds it open (module.h), and
	   this one lives in the parent's memory, so it goes back now. */
	if (mod_fgetattr(CORE_REF(mount), fh, path, &fst) == 0) {
		ofd->dev = fst.st_dev;
		ofd->file_ino = fst.st_ino;
		ofd->known = CORE_OFD_STAT;
	}
	mod_release(CORE_REF(mount), fh);
	sys2(SYS_munmap, ofd, 4096);
	if ((r = placeholder_at(mfd, flags)) < 0) {
		sys1(SYS_close, mfd);
		return r;
	}
	if (vfork_made_pid != defuse_self.pid) {
		vfork_made_pid = defuse_self.pid;
		vfork_made_n = 0;
	}
	vfork_made[vfork_made_n++] = ino;
	return mfd;
}

long core_emulated_open(int mount, const char *path, int flags, uint64_t fh)
{
	int forks = __atomic_load_n(&core_forks, __ATOMIC_SEQ_CST);
	struct core_open *open = kept_take();
	struct core_ofd *ofd = MAP_FAILED;
	long mfd = -1, ph = -ENOMEM;
	uint64_t ino;

	if (defuse_self.vfork_child)
		return vfork_open(mount, path, flags, fh);
	if (open && (ph = open_kept(open, flags & O_CLOEXEC)) >= 0) {
		int copy = open->rec_fd;

		ino = open->ino;
		record_init(open->ofd, mount, path, flags, ino);
		init_open(open, mount, fh, open->ofd);
		open->rec_fd = copy;
		open->ino = ino;
		goto made;
	}
	open = NULL;
	if ((mfd = record_new(mount, path, flags, &ofd, &ino)) < 0) {
		ph = mfd;
		goto fail;
	}
	if ((ph = placeholder_at(mfd, flags)) < 0)
		goto fail;
	ph = mfd;
	if (!(open = new_open(mount, fh, ofd))) {
		ph = -ENOMEM;
		goto fail;
	}
	open->ino = ino;
	take_copy(open, ph);
made:
	core_fd_remember(ph, mount, path, open);
	/* A fork that came while the placeholder existed but the table did
	   not have it yet gave the child the description unseen: one under
	   way now, or one done since the open began. */
	if (__atomic_load_n(&core_forks_running, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&core_forks, __ATOMIC_SEQ_CST) != forks)
		core_open_share(open);
	if (!core_fd_get(ph)) {
		core_open_get(open);	/* out of memory: release it all */
		core_open_put(open);
		sys1(SYS_close, ph);
		return -ENOMEM;
	}
	return ph;
fail:
	mod_release(CORE_REF(mount), fh);
	if (ofd != MAP_FAILED)
		sys2(SYS_munmap, ofd, 4096);
	if (mfd >= 0)
		sys1(SYS_close, mfd);
	return ph < 0 ? ph : -ENOMEM;
}

/*
 * Makes sure the record says what its file is: the module's handle, or its
 * st_dev and st_ino when the module has no handles.  Asked once per
 * description, at the first need (an exec hands it down, an open of
 * /proc/self/fd/N), by whichever sharer needs it first; sharers that race
 * write the same bytes, and `known` is stored last.  A failure leaves it
 * unknown: a reopen then goes by the path as before.
 */
void core_ofd_identify(const struct core_open *o)
{
	struct core_ofd *ofd = o->ofd;
	unsigned char h[DEFUSE_HANDLE_MAX];
	struct stat st;
	ssize_t n;

	if (__atomic_load_n(&ofd->known, __ATOMIC_ACQUIRE))
		return;
	n = mod_file_handle(CORE_REF(o->mount), o->fh, h, sizeof(h));
	if (n > 0) {
		memcpy(ofd->handle, h, n);
		ofd->handle_len = n;
		__atomic_store_n(&ofd->known, CORE_OFD_HANDLE, __ATOMIC_RELEASE);
	} else if (n == -ENOSYS && mod_fgetattr(CORE_REF(o->mount), o->fh, ofd->path, &st) == 0) {
		ofd->dev = st.st_dev;
		ofd->file_ino = st.st_ino;
		__atomic_store_n(&ofd->known, CORE_OFD_STAT, __ATOMIC_RELEASE);
	}
}

/*
 * Opens the file of record ofd again, with flags, into *o: by the module's
 * handle when the record has one (kfd, a descriptor of the file or -1, is
 * lent to the module), else by the path, checked to be the same file when
 * the record knows which that is.  0, or -errno: -ESTALE when the file is
 * gone or its name is another file's now, never another file.
 */
int core_ofd_reopen(const struct core_ofd *ofd, int kfd, int flags, struct defuse_open *o)
{
	const struct defuse_mount_ref *ref = CORE_REF(ofd->mount);
	uint32_t known = __atomic_load_n(&ofd->known, __ATOMIC_ACQUIRE);
	struct stat st;
	int r;

	if (known == CORE_OFD_HANDLE)
		return mod_open_handle(ref, ofd->handle, ofd->handle_len, kfd, flags, o);
	r = mod_open(ref, ofd->path, flags & ~(O_CREAT | O_EXCL), 0, o);
	if (r < 0 || known != CORE_OFD_STAT)
		return r;
	r = o->kernel_fd >= 0 ? (int)sys2(SYS_fstat, o->kernel_fd, &st)
			      : mod_fgetattr(ref, o->fh, ofd->path, &st);
	if (r == 0 && st.st_dev == ofd->dev && st.st_ino == ofd->file_ino)
		return 0;
	if (o->kernel_fd >= 0)
		sys1(SYS_close, o->kernel_fd);
	else
		mod_release(ref, o->fh);
	o->kernel_fd = -1;
	return -ESTALE;
}

/* Is fd an emulated file's placeholder (a memfd named "defuse-ofd")? */
int core_is_placeholder(long fd)
{
	char target[64];

	return core_fd_kpath(fd, target, sizeof(target)) > 0 &&
	       !strncmp(target, "/memfd:defuse-ofd", 17);
}

/*
 * The emulated file a "/proc/self/fd/N"-style path names: its descriptor,
 * adopted first when it is a placeholder the table does not know (one
 * received, or whose adoption failed) or one inherited and not used yet.
 * -ESTALE for a placeholder that cannot be adopted (its file cannot be
 * found again: the program must never reach DEFUSE's record instead), -1
 * for no emulated file.
 */
long core_fd_link_emulated(const char *p, const char **rest)
{
	long n = core_nmounts ? core_fd_link(p, rest) : -1;
	struct core_fd *f;

	if (n < 0)
		return n;
	if ((f = core_fd_emulated(n))) {
		if (f->mount >= 0)
			return n;
		/* Pending: the caller looks at the table next. */
		f = core_fd_acquire(n);
		core_fd_release(f);
		if (f)
			return n;
	}
	if (core_fd_get(n) || defuse_fd_is_reserved(n) || !core_is_placeholder(n))
		return -1;
	return core_emulated_adopt_fd(n) ? n : -ESTALE;
}

/*
 * Placeholder fd's description in this process, not in the table yet: its
 * record mapped, its file open again through the module.  lock_fd: a
 * descriptor of the file the description's locks are on, lent to the
 * module for the reopening, or -1.  fddir: /proc/self/fd, or -1.  NULL when
 * fd is no placeholder of a mount here or its file cannot be found again.
 */
static struct core_open *adopt_open(int fd, long lock_fd, long fddir)
{
	char link[64];
	struct core_ofd *ofd;
	struct core_open *open;
	struct defuse_open o = { 0, -1 };
	long rw, r;

	/* fddir: /proc/self/fd, opened once for a batch (three lookups less
	   each), or -1.  The record is read at once: populated. */
	if (fddir >= 0) {
		rw = sys4(SYS_openat, fddir, defuse_ltoa(fd, link), O_RDWR | O_CLOEXEC, 0);
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		rw = sys3(SYS_open, link, O_RDWR | O_CLOEXEC, 0);
	}
	if (rw < 0)
		return NULL;
	ofd = (void *)sys6(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			   rw, 0);
	sys1(SYS_close, rw);
	if (sys_failed((long)ofd))
		return NULL;
	if (ofd->magic != CORE_OFD_MAGIC || ofd->mount < 0 || ofd->mount >= core_nmounts ||
	    core_mounts[ofd->mount].dead)
		goto drop;
	core_ofd_share(ofd);	/* held by another process or image too */
	r = core_ofd_reopen(ofd, lock_fd, ofd->flags & (O_ACCMODE | O_PATH | O_NOATIME | O_DIRECT),
			    &o);
	if (r < 0)
		goto drop;
	if (o.kernel_fd >= 0) {		/* the module changed its mind */
		sys1(SYS_close, o.kernel_fd);
		goto drop;
	}
	open = new_open(ofd->mount, o.fh, ofd);
	if (open) {
		core_open_share(open);
		return open;
	}
	mod_release(CORE_REF(ofd->mount), o.fh);
drop:
	sys2(SYS_munmap, ofd, 4096);
	return NULL;
}

/* An adoption never published: gone, but for what it took over. */
static void adopt_undo(struct core_open *open)
{
	mod_release(CORE_REF(open->mount), open->fh);
	sys2(SYS_munmap, open->ofd, 4096);
	core_pool_free(CORE_POOL_OPEN, open, sizeof(*open));
}

/*
 * One placeholder received (or inherited, adopted at once): adopted and in
 * the table.  carrier: the old image's carrier of the description's owner
 * ID (owners.c), or -1.
 */
static void adopt(int fd, long lock_fd, long carrier, long fddir)
{
	struct core_open *open = adopt_open(fd, lock_fd, fddir);
	long kept;

	if (!open)
		return;
	core_fd_remember(fd, open->mount, open->ofd->path, open);
	/* The description counts as held here (owners.c): by the old image's
	   carrier, which came through the exec, or by one of this process's
	   own when it came another way and has an owner ID already. */
	if (carrier >= 0 && sys2(SYS_fcntl, carrier, F_GETFD) >= 0 &&
	    (kept = defuse_fd_adopt(carrier)) >= 0)
		open->carrier_fd = kept;
	else if (__atomic_load_n(&open->ofd->owner_id, __ATOMIC_ACQUIRE) &&
		 core_owners_needed(open->mount))
		core_owner_carry(open);
}

static void adopt_all(void)
{
	char buf[4096];
	long dir = sys3(SYS_open, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	long n;

	if (dir < 0)
		return;
	while ((n = sys3(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);
			long fd;

			off += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			fd = strtol(e->d_name, NULL, 10);
			if (fd != dir && !defuse_fd_is_reserved(fd) && core_is_placeholder(fd))
				adopt(fd, -1, -1, -1);
		}
	}
	sys1(SYS_close, dir);
}

/*
 * The descriptor the old image kept placeholder fd's locks on came through
 * the exec: it becomes this image's lock descriptor for the file (in
 * DEFUSE's band, close-on-exec again), so flock and OFD locks held before
 * the exec are still held, as exec promises.  Several placeholders of one
 * description name the same descriptor; the first takes it.
 */
static void take_inherited_locks(long fd, long lock_fd)
{
	struct core_fd *e = core_fd_acquire(fd);
	int kept;

	if (e && e->open && lock_fd != e->open->lock_fd && !defuse_fd_is_reserved(lock_fd) &&
	    sys2(SYS_fcntl, lock_fd, F_GETFD) >= 0 && (kept = defuse_fd_adopt(lock_fd)) >= 0) {
		e->open->lock_fd = kept;
		e->open->lock_fd_inherited = 1;
	}
	core_fd_release(e);
}

/* ---- lazy adoption of inherited descriptors ---------------------------- */

/*
 * A new image used to adopt every inherited placeholder at start-up: about
 * eleven system calls each (20 us), paid by every exec of a shell holding
 * redirections, whether the program ever touched them or not.  Now start-up
 * only records what the old image said (DEFUSE_FDS), with no system call
 * per descriptor: each listed number gets a *pending* entry (mount -1)
 * whose description (struct core_open, pending) holds the memfd's inode
 * and the lock descriptor and owner carrier that came along.  Those two
 * sit in DEFUSE's band already (the old image kept them there) and are
 * only marked taken in it (defuse_fd_claim), left as they came: not
 * close-on-exec (CORE_KEPT_*, handdown.c sees to the next exec).
 *
 * The first call that needs the file (core_fd_acquire: read, fstat,
 * fcntl, mmap, fchdir, a dirfd, /proc/self/fd/N...) adopts it then:
 * checks that the number is still that memfd, maps the record, opens the
 * file again through the module.  Dups share the pending description
 * (start-up pairs them by inode, dup copies the entry), so they share one
 * adoption.  Threads (and a fork in the middle) are why there is no lock:
 * racers each adopt, one publishes with a compare-and-swap, the others
 * undo theirs.  Calls that only need the number (close, dup, dup2, exec,
 * fork, sending it) leave it pending; a close of the last one releases
 * what came along.  A pending placeholder the program never uses costs
 * nothing but its entry.
 */
static int pending_n;	/* pending descriptions alive, a hint */

struct core_fd *core_emulated_adopt_pending(long fd, struct core_fd *f)
{
	struct core_open *po = f->open, *o, *none = NULL;
	struct stat st;

	/* A vfork child's adoption would land in its parent's memory with
	   descriptors of its own: the kernel answers for it (EBADF). */
	if (defuse_self.vfork_child) {
		core_fd_release(f);
		return NULL;
	}
	/* Still that placeholder? (each number once, also a dup's) */
	if (sys2(SYS_fstat, fd, &st) != 0 || st.st_ino != po->ino)
		return core_fd_settle(fd, f, NULL);
	o = __atomic_load_n(&po->adopted, __ATOMIC_ACQUIRE);
	if (!o) {
		o = adopt_open(fd, po->lock_fd, -1);
		if (o) {
			/* What came along is the adoption's, once published. */
			if (po->lock_fd >= 0) {
				o->lock_fd = po->lock_fd;
				o->lock_fd_inherited = 1;
				o->exec_kept |= CORE_KEPT_LOCK;
			}
			if (po->carrier_fd >= 0) {
				o->carrier_fd = po->carrier_fd;
				o->exec_kept |= CORE_KEPT_CARRIER;
			}
			core_open_get(o);	/* po's */
		}
		if (__atomic_compare_exchange_n(&po->adopted, &none, o ? o : CORE_ADOPT_FAILED, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			if (o && o->carrier_fd < 0 &&
			    __atomic_load_n(&o->ofd->owner_id, __ATOMIC_ACQUIRE) &&
			    core_owners_needed(o->mount))
				core_owner_carry(o);
		} else {
			if (o)
				adopt_undo(o);	/* another thread was first */
			o = none;
		}
	}
	return core_fd_settle(fd, f, o == CORE_ADOPT_FAILED ? NULL : o);
}

void core_emulated_pending_gone(struct core_open *po)
{
	struct core_open *o = __atomic_load_n(&po->adopted, __ATOMIC_ACQUIRE);

	if (o && o != CORE_ADOPT_FAILED) {
		core_open_put(o);	/* the descriptors that came are its own */
	} else {
		if (po->lock_fd >= 0)
			defuse_fd_release(po->lock_fd);
		if (po->carrier_fd >= 0)
			defuse_fd_release(po->carrier_fd);
	}
	__atomic_sub_fetch(&pending_n, 1, __ATOMIC_RELAXED);
	core_pool_free(CORE_POOL_OPEN, po, sizeof(*po));
}

/*
 * Before this process's first record lock: a later adoption would open
 * the file again and the module's close of a descriptor of it drop the
 * process's record locks on it (docs/core.md, lock-reopen), so every
 * pending description is adopted now, while there are none.
 */
static void adopt_all_pending(void)
{
	int left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED);

	for (long fd = 0; left > 0 && fd < CORE_FD_MAX &&
	     __atomic_load_n(&pending_n, __ATOMIC_RELAXED); fd++) {
		struct core_fd *f = __atomic_load_n(&core_fds[fd], __ATOMIC_RELAXED);

		if (!f)
			continue;
		left--;
		if (f->mount < 0)
			core_fd_release(core_fd_acquire(fd));
	}
}

/* A pending description for the listed numbers, with what came along
   taken into this image's band as it is; NULL if that cannot be. */
static struct core_open *pending_new(uint64_t ino, long lock_fd, long carrier)
{
	struct core_open *po;

	if ((lock_fd >= 0 && defuse_fd_claim(lock_fd) < 0))
		return NULL;
	if (carrier >= 0 && defuse_fd_claim(carrier) < 0) {
		if (lock_fd >= 0)
			defuse_fd_unclaim(lock_fd);
		return NULL;
	}
	if (!(po = core_pool_alloc(CORE_POOL_OPEN, sizeof(*po)))) {
		if (lock_fd >= 0)
			defuse_fd_unclaim(lock_fd);
		if (carrier >= 0)
			defuse_fd_unclaim(carrier);
		return NULL;
	}
	po->pending = 1;
	po->mount = -1;
	po->ino = ino;
	po->lock_fd = lock_fd;
	po->carrier_fd = carrier;
	po->rec_fd = -1;
	__atomic_add_fetch(&pending_n, 1, __ATOMIC_RELAXED);
	return po;
}

/*
 * The exec'ing image listed its placeholders that survive the exec (exec.c),
 * so only those are looked at: a new image does not pay for descriptors that
 * are not DEFUSE's.  Each gets a pending entry (above); one whose lock
 * descriptor or carrier is not where this image's band can take it as it
 * is (the limits changed) is adopted at once, as before.
 */
/*
 * A list too long for the environment came in a sealed memfd
 * ("@FD", handdown.c): its contents, NUL-ended, in memory of malloc's, the
 * memfd closed; NULL if FD is not such a memfd (then it is not ours and
 * stays open).
 */
static char *list_from_memfd(const char *num)
{
	long fd = strtol(num, NULL, 10), r;
	struct stat st;
	char *list;

	if (fd < 0 || sys2(SYS_fcntl, fd, F_GET_SEALS) != CORE_FDS_LIST_SEALS ||
	    sys2(SYS_fstat, fd, &st) != 0 || !(list = malloc(st.st_size + 1)))
		return NULL;
	for (off_t off = 0; off < st.st_size; off += r)
		if ((r = sys4(SYS_pread64, fd, list + off, st.st_size - off, off)) <= 0) {
			st.st_size = off;
			break;
		}
	list[st.st_size] = 0;
	sys1(SYS_close, fd);
	return list;
}

void core_emulated_adopt_inherited(const char *list)
{
	char *own = NULL;

	if (!list)
		return;
	if (!strcmp(list, "scan")) {
		adopt_all();
		return;
	}
	if (*list == '@' && !(list = own = list_from_memfd(list + 1)))
		return;
	/* Which description (memfd inode) went to which descriptor first: a
	   hash table, open addressing, sized for the list. */
	size_t cap = 16;

	for (const char *p = list; *p; p++)
		cap += *p == ',' ? 2 : 0;
	struct seen { unsigned long long ino; long fd; } *seen = calloc(cap, sizeof(*seen));

	while (*list) {
		char *end;
		long fd = strtol(list, &end, 10), lock_fd = -1, carrier = -1;
		unsigned long long ino;
		struct core_open *po;
		size_t h;

		if (end == list || *end != ':')
			break;		/* not ours: written only by exec.c */
		ino = strtoull(end + 1, &end, 10);
		if (*end == ':')
			lock_fd = strtol(end + 1, &end, 10);
		if (*end == '+')
			carrier = strtol(end + 1, &end, 10);
		list = *end == ',' ? end + 1 : end;
		if (fd < 0 || fd >= CORE_FD_MAX || defuse_fd_is_reserved(fd) || !ino)
			continue;
		for (h = seen ? ino % cap : 0; seen && seen[h].ino && seen[h].ino != ino;
		     h = (h + 1) % cap)
			;
		if (seen && seen[h].ino == ino) {
			core_fd_copy(seen[h].fd, fd);	/* a dup of one seen */
			continue;
		}
		if (lock_fd >= 0 && (lock_fd >= CORE_FD_MAX || defuse_fd_is_reserved(lock_fd)))
			lock_fd = -1;
		if (carrier >= 0 && (carrier >= CORE_FD_MAX || defuse_fd_is_reserved(carrier)))
			carrier = -1;
		if ((po = pending_new(ino, lock_fd, carrier))) {
			core_fd_remember(fd, -1, "", po);
		} else {
			struct stat st;

			if (sys2(SYS_fstat, fd, &st) != 0 || st.st_ino != ino)
				continue;
			adopt(fd, lock_fd, carrier, -1);
			if (lock_fd >= 0)
				take_inherited_locks(fd, lock_fd);
		}
		if (seen && core_fd_get(fd))
			seen[h] = (struct seen){ ino, fd };
	}
	free(seen);
	free(own);
}

/*
 * A descriptor the table does not know, that the kernel refused (EBADF): a
 * placeholder that arrived by SCM_RIGHTS or pidfd_getfd is adopted as an
 * inherited one is; the record, and so the offset, is the sender's.
 */
int core_emulated_adopt_fd(long fd)
{
	if (fd < 0 || fd >= CORE_FD_MAX || core_fd_get(fd) || defuse_fd_is_reserved(fd) ||
	    defuse_self.vfork_child || !core_is_placeholder(fd))
		return 0;
	adopt(fd, -1, -1, -1);
	return core_fd_emulated(fd) != NULL;
}

/* fn for each descriptor m's SCM_RIGHTS messages carry (m's control
   data in DEFUSE's reach). */
static void each_right(const struct msghdr *m, void (*fn)(int fd))
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; CMSG_LEN((i + 1) * sizeof(int)) <= c->cmsg_len; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			fn(fd);
		}
	}
}

static void adopt_one(int fd)
{
	core_emulated_adopt_fd(fd);
}

static void adopt_rights(const struct msghdr *m)
{
	each_right(m, adopt_one);
}

void core_emulated_adopt_received(long nr, long result, long msg)
{
	if (nr == SYS_pidfd_getfd) {
		core_emulated_adopt_fd(result);
	} else if (nr == SYS_recvmsg) {
		adopt_rights((const struct msghdr *)msg);
	} else if (nr == SYS_recvmmsg) {
		const struct mmsghdr *v = (const struct mmsghdr *)msg;

		for (long i = 0; i < result; i++)
			if (v[i].msg_hdr.msg_controllen)
				adopt_rights(&v[i].msg_hdr);
	}
}

long core_fds_received(void *args)
{
	const long *a = args;

	core_emulated_adopt_received(a[0], a[1], a[2]);
	return 0;
}

long core_adopt_and_handle(void *arg)
{
	const struct defuse_syscall *sc = arg;
	const struct core_sysdesc *d = core_sysdesc_of(sc->nr);
	long fd = d->fd >= 0 ? sc->a[d->fd] : d->dfd >= 0 ? sc->a[d->dfd] : -1;

	if (fd < 0 || !core_emulated_adopt_fd(fd))
		return -EBADF;
	return core_handle(arg);
}

/* ---- data ------------------------------------------------------------- */

#define REF(f) CORE_REF((f)->open->mount)

static long file_size(struct core_fd *f, off_t *size)
{
	struct stat st;
	long r = mod_fgetattr(REF(f), f->open->fh, f->path, &st);

	if (r < 0)
		return r;
	*size = st.st_size;
	return 0;
}

static int can_read(const struct core_fd *f)
{
	int acc = f->open->ofd->flags & O_ACCMODE;

	return !(f->open->ofd->flags & O_PATH) && (acc == O_RDONLY || acc == O_RDWR);
}

static int can_write(const struct core_fd *f)
{
	int acc = f->open->ofd->flags & O_ACCMODE;

	return !(f->open->ofd->flags & O_PATH) && (acc == O_WRONLY || acc == O_RDWR);
}

/* The description's offset moves by the count read: a read that raced
   another move of it is repeated where the offset now is, as if the kernel
   had run the two one after the other (reading changes nothing). */
static long read_at_offset(struct core_fd *f, struct pg_cache *c, void *buf, size_t n)
{
	struct core_ofd *o = f->open->ofd;
	int64_t at = offset_now(o);
	long r;

	do
		r = c ? pager_read(c, f, buf, n, at) : mod_read(REF(f), f->open->fh, buf, n, at);
	while (r > 0 && !offset_move(o, &at, at + r));
	return r;
}

/* A write claims its range first, so that concurrent writers of one
   description each get their own; a short write gives back what it did not
   use, unless the offset moved on meanwhile. */
static long write_at_offset(struct core_fd *f, struct pg_cache *c, const void *buf, size_t n)
{
	struct core_ofd *o = f->open->ofd;
	int64_t at = offset_now(o), end;
	off_t pos;
	long r;

	do
		if (__builtin_add_overflow(at, (int64_t)n, &end))
			return -EFBIG;
	while (!offset_move(o, &at, end));
	pos = at;
	r = c ? pager_write(c, f, buf, n, &pos, 0) : mod_write(REF(f), f->open->fh, buf, n, at);
	if (r < (long)n)
		offset_move(o, &end, at + (r > 0 ? r : 0));
	return r;
}

static void append_take(void *o)
{
	append_lock(o);
}

static void append_give(void *o)
{
	append_unlock(o);
}

/* O_APPEND: at the end of the file, atomically with every other write when
   the module can do it (defuse_ops.append); else the description's append
   lock orders them (module.h's fallback, kept by the adapter). */
static long append(struct core_fd *f, struct pg_cache *c, const void *buf, size_t n, int move)
{
	struct core_ofd *o = f->open->ofd;
	off_t end;
	long r;

	if (c) {
		/* At the end the cache has, under its lock (pager.c). */
		r = pager_write(c, f, buf, n, &end, 1);
		if (r > 0 && move)
			offset_at_least(o, end + r);
		return r;
	}
	r = mod_append(REF(f), f->open->fh, f->path, buf, n, &end, append_take, append_give, o);
	if (r > 0 && move)
		offset_at_least(o, end);
	return r;
}

/*
 * RLIMIT_FSIZE, which the kernel applies to every write and new size of a
 * regular file and which no kernel call applies to an emulated one: a
 * write starting at pos is cut at the limit, and one at or past it, or a
 * new size past it, gives SIGXFSZ to the thread and EFBIG.  Costs one load
 * when there is no limit.
 */
static long fsize_check(int64_t pos, size_t *n)
{
	unsigned long lim = defuse_fsize_limit();

	if (lim == RLIM_INFINITY)
		return 0;
	if ((uint64_t)pos >= lim) {
		sys3(SYS_tgkill, sys0(SYS_getpid), sys0(SYS_gettid), SIGXFSZ);
		return -EFBIG;
	}
	if (n && *n > lim - (uint64_t)pos)
		*n = lim - (uint64_t)pos;
	return 0;
}

/* ...for a write of n bytes through f (at *off, or where it will land). */
static long fsize_write(struct core_fd *f, const off_t *off, int appending, size_t *n)
{
	struct stat st;
	int64_t pos;

	if (defuse_fsize_limit() == RLIM_INFINITY)
		return 0;
	if (appending && mod_fgetattr(REF(f), f->open->fh, f->path, &st) == 0)
		pos = st.st_size;
	else
		pos = off && !appending ? *off : offset_now(f->open->ofd);
	return *n ? fsize_check(pos, n) : 0;
}

/*
 * One transfer at `off` (or, when off is NULL, at the description's offset,
 * which then moves).  O_APPEND writes go to the end of the file, even
 * positioned ones, as on Linux; rwf (pwritev2's flags) can ask for that
 * append, or waive it, for one call.
 */
static long transfer(struct core_fd *f, int writing, void *buf, size_t n, const off_t *off,
		     int rwf)
{
	const struct core_ofd *o = f->open->ofd;
	struct pg_cache *c;
	int appending;
	off_t pos;
	long r;

	if (writing ? !can_write(f) : !can_read(f))
		return -EBADF;
	if (off && *off < 0)
		return -EINVAL;
	/* A file with a page cache (it is mapped somewhere in the tree) is
	   read and written through it, so that mappings see the same bytes;
	   else the module may hold its locks while it touches buf, which
	   must not fault on a mapped page then (pager.h). */
	c = pager_of(f);
	if (!c)
		pager_prefault(buf, n, !writing);
	appending = (o->flags & O_APPEND) ? !(rwf & RWF_NOAPPEND_) : (rwf & RWF_APPEND);
	if (writing && (r = fsize_write(f, off, appending, &n)) < 0)
		return r;
	if (writing && appending)
		return append(f, c, buf, n, !off);	/* a positioned one leaves the offset */
	if (off && c) {
		pos = *off;
		return writing ? pager_write(c, f, buf, n, &pos, 0) : pager_read(c, f, buf, n, pos);
	}
	if (off)
		return writing ? mod_write(REF(f), f->open->fh, buf, n, *off)
			       : mod_read(REF(f), f->open->fh, buf, n, *off);
	return writing ? write_at_offset(f, c, buf, n) : read_at_offset(f, c, buf, n);
}

long core_emulated_rw(struct core_fd *f, int writing, void *buf, size_t n, const off_t *off)
{
	return transfer(f, writing, buf, n, off, 0);
}

/* readv and friends: one transfer per iovec, stopping at a short one. */
static long transfer_v(struct core_fd *f, int writing, const struct iovec *uiov, long cnt,
		       const off_t *off, int rwf)
{
	struct iovec iov[64];
	long total = 0, done = 0;
	off_t pos = off ? *off : 0;

	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	while (done < cnt) {
		long k = cnt - done < 64 ? cnt - done : 64;

		if (defuse_copy_in(iov, uiov + done, k * sizeof(*iov)))
			return total ? total : -EFAULT;
		for (long i = 0; i < k; i++) {
			long r;

			if (!iov[i].iov_len)
				continue;
			r = transfer(f, writing, iov[i].iov_base, iov[i].iov_len, off ? &pos : NULL,
				     rwf);
			if (r < 0)
				return total ? total : r;
			total += r;
			pos += r;
			if ((size_t)r < iov[i].iov_len)
				return total;
		}
		done += k;
	}
	return total;
}

static long do_lseek(struct core_fd *f, off_t off, int whence)
{
	struct core_ofd *o = f->open->ofd;
	int64_t at = offset_now(o);
	off_t size, to;
	long r;

	switch (whence) {
	case SEEK_SET:
		to = off;
		break;
	case SEEK_CUR:
		/* Relative to where it is when it moves. */
		do
			if (__builtin_add_overflow(at, off, &to) || to < 0)
				return -EINVAL;
		while (!offset_move(o, &at, to));
		return to;
	case SEEK_END:
		if ((r = file_size(f, &size)) < 0)
			return r;
		to = size + off;
		break;
	case SEEK_DATA:
	case SEEK_HOLE:
		to = mod_seek_data(REF(f), f->open->fh, f->path, off, whence);
		if (to < 0)
			return to;
		break;
	default:
		return -EINVAL;
	}
	if (to < 0)
		return -EINVAL;
	__atomic_store_n(&o->offset, to, __ATOMIC_RELEASE);
	return to;
}

/* ---- directories -------------------------------------------------------- */

struct dents {
	char *buf;
	size_t cap, len;
	int64_t next;		/* position after the last entry taken */
	int full;		/* an entry did not fit */
};

static int fill_dirent(void *ctx, const char *name, uint64_t ino, unsigned char type,
		       int64_t next)
{
	struct dents *d = ctx;
	size_t namelen = strlen(name);
	size_t reclen = (offsetof(struct dirent64, d_name) + namelen + 1 + 7) & ~7UL;
	struct dirent64 *e;

	if (d->len + reclen > d->cap) {
		d->full = 1;
		return 1;
	}
	e = (struct dirent64 *)(d->buf + d->len);
	memset(e, 0, reclen);
	e->d_ino = ino;
	e->d_off = next;
	e->d_reclen = reclen;
	e->d_type = type;
	memcpy(e->d_name, name, namelen);
	d->len += reclen;
	d->next = next;
	return 0;
}

static long do_getdents(struct core_fd *f, void *ubuf, size_t count)
{
	struct core_ofd *o = f->open->ofd;
	char buf[8192];		/* no malloc: a signal handler may be here */
	struct dents d = { .buf = buf, .cap = count > sizeof(buf) ? sizeof(buf) : count };
	long r;

	/* Listing changes nothing: repeated if the offset moved meanwhile. */
	for (int64_t at = offset_now(o);; d.len = 0, d.full = 0) {
		d.next = at;
		r = mod_readdir(REF(f), f->open->fh, at, fill_dirent, &d);
		if (r == 0 && d.len == 0 && (d.full || d.next != at))
			return -EINVAL;	/* not even one entry fits, as the kernel says */
		if (r < 0 || offset_move(o, &at, d.next))
			break;
	}
	if (r == 0 && d.len && core_copy_out(ubuf, d.buf, d.len))
		return -EFAULT;
	return r < 0 ? r : (long)d.len;
}

/* ---- the calls ------------------------------------------------------------ */

/* preadv2/pwritev2: offset -1 is the description's; flags as the kernel's. */
static long transfer_v2(struct core_fd *f, const struct defuse_syscall *sc)
{
	int writing = sc->nr == SYS_pwritev2, rwf = (int)sc->a[5];
	off_t off = sc->a[3];
	long r;

	if ((unsigned long)sc->a[5] & ~(unsigned long)RWF_SERVED)
		return -EOPNOTSUPP;
	r = transfer_v(f, writing, (void *)sc->a[1], sc->a[2], off == -1 ? NULL : &off, rwf);
	if (r > 0 && writing && (rwf & (RWF_DSYNC | RWF_SYNC))) {
		long s = mod_fsync(REF(f), f->open->fh, !(rwf & RWF_SYNC));

		if (s < 0)
			return s;
	}
	return r;
}

static long do_fstat(struct core_fd *f, void *ust)
{
	struct stat st;
	struct pg_cache *c = pager_of(f);
	off_t size;
	long r = mod_fgetattr(REF(f), f->open->fh, f->path, &st);

	/* A cached file is as long as its cache: what a mapping can reach. */
	if (r == 0 && c && pager_size(c, &size) == 0)
		st.st_size = size;
	return r < 0 ? r : core_copy_out(ust, &st, sizeof(st));
}

/* ---- locks -------------------------------------------------------------- */

/*
 * Set once this process took a record (POSIX) lock on an emulated file;
 * from then on every close of an emulated descriptor drops the process's
 * record locks on its file, as closing any descriptor of a file does.
 */
static int core_posix_locked;

/* A blocking wait for a lock: a signal may interrupt it (EINTR, or a
   restart under SA_RESTART), as the kernel's own wait. */
static long lock_wait(long nr, long fd, long cmd, void *arg)
{
	long r;

	defuse_sig_interruptible(1);
	r = sys3(nr, fd, cmd, arg);
	defuse_sig_interruptible(0);
	return r;
}

/*
 * Locks kept by the module (no lock_fd: module.h's getlk, setlk, flock).
 * Set once this process took a record lock that way: every close of an
 * emulated descriptor then tells the module to drop the process's record
 * locks on that file.
 */
static int mod_posix_locked;

/* The owners module.h speaks of: a record lock's is the process; an OFD or
   flock lock's the open file description (owners.c). */
static uint64_t process_owner(void)
{
	return (uint64_t)defuse_pid();
}

/*
 * A waiting lock call (F_SETLKW, flock without LOCK_NB) on the locks of a
 * module that does not wait itself (no DEFUSE_CAP_LOCK_WAIT): asked
 * without waiting, and again while there is a conflict, so that a signal
 * for the program ends the wait (EINTR) without a handler ever running
 * inside the module (module.h).  The first pauses are short: most locks
 * are held for microseconds.
 */
static long lock_retry(long (*try)(void *), void *arg)
{
	long r, ns = 20000;

	while ((r = try(arg)) == -EAGAIN || r == -EWOULDBLOCK) {
		struct timespec t = { 0, ns };

		if (defuse_self.sig_deferred)
			return -EINTR;
		sys2(SYS_nanosleep, &t, NULL);
		if (defuse_self.sig_deferred)
			return -EINTR;
		if (ns < 32000000)
			ns *= 2;
	}
	return r;
}

/*
 * The program's struct flock made absolute, as the kernel does before it
 * looks at any lock (flock_to_posix_lock): l_whence SEEK_SET, l_start the
 * first byte, l_len 0 for "to the end".
 */
static long lock_range(struct core_fd *f, struct flock *fl)
{
	int64_t base, start, len = fl->l_len;
	off_t size;
	long r;

	if (fl->l_type != F_RDLCK && fl->l_type != F_WRLCK && fl->l_type != F_UNLCK)
		return -EINVAL;
	switch (fl->l_whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = __atomic_load_n(&f->open->ofd->offset, __ATOMIC_RELAXED);
		break;
	case SEEK_END:
		if ((r = file_size(f, &size)) < 0)
			return r;
		base = size;
		break;
	default:
		return -EINVAL;
	}
	if (__builtin_add_overflow(base, (int64_t)fl->l_start, &start))
		return -EOVERFLOW;
	if (start < 0)
		return -EINVAL;
	if (len > 0) {
		int64_t end;

		if (__builtin_add_overflow(start, len - 1, &end))
			return -EOVERFLOW;
	} else if (len < 0) {
		if (start + len < 0)
			return -EINVAL;
		start += len;
		len = -len;
	}
	fl->l_whence = SEEK_SET;
	fl->l_start = start;
	fl->l_len = len;
	return 0;
}

struct setlk_call {
	const struct defuse_mount_ref *ref;
	uint64_t fh, owner;
	const struct flock *fl;
	int op;
};

static long try_setlk(void *arg)
{
	struct setlk_call *c = arg;

	return mod_setlk(c->ref, c->fh, c->owner, c->fl, 0);
}

static long try_flock(void *arg)
{
	struct setlk_call *c = arg;

	return mod_flock(c->ref, c->fh, c->owner, c->op | LOCK_NB);
}

/* fcntl's lock commands on the module's own locks (module.h, getlk...). */
static long module_lock(const struct defuse_syscall *sc, struct core_fd *f, struct flock *fl)
{
	int cmd = sc->a[1], ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
	int getlk = cmd == F_GETLK || cmd == F_OFD_GETLK;
	struct flock req = *fl;
	struct setlk_call c = { REF(f), f->open->fh, 0, &req, 0 };
	long r;

	if (ofd && fl->l_pid != 0)
		return -EINVAL;
	if ((r = lock_range(f, &req)) < 0)
		return r;
	if (!getlk && ((req.l_type == F_RDLCK && !can_read(f)) ||
		       (req.l_type == F_WRLCK && !can_write(f))))
		return -EBADF;
	c.owner = ofd ? core_owner_of(f->open) : process_owner();
	req.l_pid = ofd ? -1 : (pid_t)defuse_pid();
	if (getlk) {
		r = mod_getlk(c.ref, c.fh, c.owner, &req);
		if (r < 0)
			return r;
		if (req.l_type == F_UNLCK)
			fl->l_type = F_UNLCK;	/* nothing in the way: only the type says so */
		else
			*fl = req;
		return core_copy_out((void *)sc->a[2], fl, sizeof(*fl));
	}
	if (!mod_has_setlk(c.ref))
		return -ENOLCK;
	if (!ofd && __atomic_load_n(&pending_n, __ATOMIC_RELAXED))
		adopt_all_pending();
	__atomic_store_n(&f->open->ofd->locked, 1, __ATOMIC_RELAXED);
	if (cmd != F_SETLKW && cmd != F_OFD_SETLKW)
		r = try_setlk(&c);
	else if (mod_waits_for_locks(c.ref))
		r = mod_setlk(c.ref, c.fh, c.owner, &req, 1);
	else
		r = lock_retry(try_setlk, &c);
	if (r == 0 && !ofd && req.l_type != F_UNLCK)
		__atomic_store_n(&mod_posix_locked, 1, __ATOMIC_RELAXED);
	return r;
}

static long do_lock(const struct defuse_syscall *sc, struct core_fd *f)
{
	int cmd = sc->a[1], lfd = f->open->lock_fd;
	int getlk = cmd == F_GETLK || cmd == F_OFD_GETLK;
	int wait = cmd == F_SETLKW || cmd == F_OFD_SETLKW;
	struct flock fl;
	long r;

	if (f->open->ofd->flags & O_PATH)
		return -EBADF;
	if (defuse_copy_in(&fl, (void *)sc->a[2], sizeof(fl)))
		return -EFAULT;
	if (lfd < 0)
		return module_lock(sc, f, &fl);
	if (fl.l_whence == SEEK_CUR) {
		/* The lock's descriptor has its own offset: make it absolute. */
		int64_t at = __atomic_load_n(&f->open->ofd->offset, __ATOMIC_RELAXED);

		if (__builtin_add_overflow(fl.l_start, at, &fl.l_start))
			return -EOVERFLOW;
		fl.l_whence = SEEK_SET;
	}
	if (!getlk)
		__atomic_store_n(&f->open->ofd->locked, 1, __ATOMIC_RELAXED);
	if ((cmd == F_SETLK || cmd == F_SETLKW) && __atomic_load_n(&pending_n, __ATOMIC_RELAXED))
		adopt_all_pending();
	r = wait ? lock_wait(SYS_fcntl, lfd, cmd, &fl) : sys3(SYS_fcntl, lfd, cmd, &fl);
	if (r == 0 && getlk)
		return core_copy_out((void *)sc->a[2], &fl, sizeof(fl));
	if (r == 0 && (cmd == F_SETLK || cmd == F_SETLKW) && fl.l_type != F_UNLCK)
		__atomic_store_n(&core_posix_locked, 1, __ATOMIC_RELAXED);
	return r;
}

static long do_flock(struct core_fd *f, int op)
{
	int lfd = f->open->lock_fd, kind = op & ~LOCK_NB;
	struct setlk_call c = { REF(f), f->open->fh, 0, NULL, op & ~LOCK_NB };

	/* Linux ignores LOCK_MAND (removed in 5.15) before anything else. */
	if (op & LOCK_MAND)
		return 0;
	if (f->open->ofd->flags & O_PATH)
		return -EBADF;
	if (lfd >= 0) {
		__atomic_store_n(&f->open->ofd->locked, 1, __ATOMIC_RELAXED);
		if (!(op & LOCK_NB) && kind != LOCK_UN)
			return lock_wait(SYS_flock, lfd, op, NULL);
		return sys2(SYS_flock, lfd, op);
	}
	if (kind != LOCK_SH && kind != LOCK_EX && kind != LOCK_UN)
		return -EINVAL;
	if (!mod_has_flock(c.ref))
		return -ENOLCK;
	__atomic_store_n(&f->open->ofd->locked, 1, __ATOMIC_RELAXED);
	c.owner = core_owner_of(f->open);
	if (!(op & LOCK_NB) && kind != LOCK_UN)
		return mod_waits_for_locks(c.ref) ? mod_flock(c.ref, c.fh, c.owner, kind)
						  : lock_retry(try_flock, &c);
	return try_flock(&c);
}

/*
 * Closing a descriptor of a file: the module's flush, then the process's
 * record locks on the file go, as closing any descriptor of a file drops
 * them (kernel-kept on lock_fd, or the module's).
 */
int core_emulated_closing(const struct core_open *o)
{
	struct flock all = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
	int r;

	if (!o)
		return 0;
	if (o->pending && !(o = core_open_live((struct core_open *)o))) {
		/* Never used here: no flush to make, no record locks of the
		   module's own (adopt_all_pending came first). */
		return 0;
	}
	/* Not for O_PATH descriptors (FUSE never opens those) nor directories
	   opened O_DIRECTORY (FUSE has no flush for directories). */
	r = (o->ofd->flags & O_PATH) || (o->ofd->flags & O_TMPFILE) == O_DIRECTORY
	    ? 0 : mod_flush(CORE_REF(o->mount), o->fh);
	/* Pages this process wrote through mappings of the file go to the
	   module at every close, as NFS promises (docs/paging.md). */
	if (o->pager) {
		long w = pager_sync(o->pager);

		r = r < 0 ? r : (int)w;
	}
	if (o->lock_fd >= 0 && __atomic_load_n(&core_posix_locked, __ATOMIC_RELAXED))
		sys3(SYS_fcntl, o->lock_fd, F_SETLK, &all);
	else if (o->lock_fd < 0 && __atomic_load_n(&mod_posix_locked, __ATOMIC_RELAXED)) {
		all.l_pid = (pid_t)defuse_pid();
		mod_setlk(CORE_REF(o->mount), o->fh, process_owner(), &all, 0);
	}
	return r;
}

/*
 * This process's last descriptor of a description is gone: it lets go of
 * its carrier, and when no other process holds the description any more
 * (owners.c), the OFD and flock locks the module keeps for it go, before
 * release (module.h; kernel locks on lock_fd go with the descriptor).
 * When that cannot be known, this process's last close drops them.
 */
void core_emulated_last_close(struct core_open *o)
{
	const struct defuse_mount_ref *ref = CORE_REF(o->mount);
	struct flock all = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_pid = -1 };
	uint64_t id = __atomic_load_n(&o->ofd->owner_id, __ATOMIC_RELAXED);
	uint64_t owner = 1ULL << 63 | id;

	core_owner_drop(o);
	pager_forget(o);
	if (o->lock_fd >= 0 || !__atomic_load_n(&o->ofd->locked, __ATOMIC_RELAXED) || !id ||
	    defuse_lock_owner_alive(owner) > 0)
		return;
	if (mod_has_setlk(ref))
		mod_setlk(ref, o->fh, owner, &all, 0);
	if (mod_has_flock(ref))
		mod_flock(ref, o->fh, owner, LOCK_UN);
}

/*
 * F_SETOWN and F_SETSIG and their getters: the description's SIGIO owner
 * and signal, kept in the record as the kernel keeps them in the open
 * file (nothing of a regular file raises SIGIO, so they only need to read
 * back as set).  Checked as the kernel checks them.
 */
#ifndef F_GETOWNER_UIDS
#define F_GETOWNER_UIDS 17	/* asm-generic/fcntl.h */
#endif

static void set_by(struct core_ofd *o)
{
	o->owner_uid = (uint32_t)sys0(SYS_getuid);
	o->owner_euid = (uint32_t)sys0(SYS_geteuid);
}

static long do_owner(const struct defuse_syscall *sc, struct core_ofd *o)
{
	struct f_owner_ex ex;

	switch (sc->a[1]) {
	case F_SETOWN:
		if ((int)sc->a[2] == INT_MIN)
			return -EINVAL;
		if ((int)sc->a[2] && sys2(SYS_kill, (int)sc->a[2], 0) == -ESRCH)
			return -ESRCH;
		o->owner_type = (int)sc->a[2] < 0 ? F_OWNER_PGRP : F_OWNER_PID;
		o->owner_pid = (int)sc->a[2] < 0 ? -(int)sc->a[2] : (int)sc->a[2];
		set_by(o);
		return 0;
	case F_GETOWN:
		return o->owner_type == F_OWNER_PGRP ? -o->owner_pid : o->owner_pid;
	case F_SETOWN_EX:
		if (defuse_copy_in(&ex, (void *)sc->a[2], sizeof(ex)))
			return -EFAULT;
		if (ex.type != F_OWNER_TID && ex.type != F_OWNER_PID && ex.type != F_OWNER_PGRP)
			return -EINVAL;
		if (ex.pid && sys2(SYS_kill, ex.pid * (ex.type == F_OWNER_PGRP ? -1 : 1), 0) == -ESRCH)
			return -ESRCH;
		o->owner_type = ex.type;
		o->owner_pid = ex.pid;
		set_by(o);
		return 0;
	case F_GETOWNER_UIDS: {
		uint32_t ids[2] = { o->owner_uid, o->owner_euid };

		return core_copy_out((void *)sc->a[2], ids, sizeof(ids));
	}
	case F_GETOWN_EX:
		ex.type = o->owner_pid ? o->owner_type : F_OWNER_PID;
		ex.pid = o->owner_pid;
		return core_copy_out((void *)sc->a[2], &ex, sizeof(ex));
	case F_SETSIG:
		if ((unsigned long)sc->a[2] > 64)
			return -EINVAL;
		o->sig = (int)sc->a[2];
		return 0;
	default:	/* F_GETSIG */
		return o->sig;
	}
}

static long do_fcntl(const struct defuse_syscall *sc, struct core_fd *f)
{
	struct core_ofd *o = f->open->ofd;
	long r;

	switch (sc->a[1]) {
	case F_GETFL:
		return o->flags;
	case F_SETFL:
		if (o->flags & O_PATH)
			return -EBADF;	/* as the kernel for O_PATH descriptors */
		for (int32_t was = __atomic_load_n(&o->flags, __ATOMIC_RELAXED);;)
			if (__atomic_compare_exchange_n(&o->flags, &was,
							(was & ~STATUS_FLAGS) |
								(sc->a[2] & STATUS_FLAGS),
							0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				return 0;
	/* F_GETFD, F_SETFD, F_DUPFD*: the kernel's, before any adoption
	   (fdops.c). */
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return do_lock(sc, f);
	case F_SETOWN:
	case F_GETOWN:
	case F_SETOWN_EX:
	case F_GETOWN_EX:
	case F_SETSIG:
	case F_GETSIG:
	case F_GETOWNER_UIDS:
		return do_owner(sc, o);
	case F_GETLEASE:
		return F_UNLCK;
	case F_SETLEASE:
		/* A lease is broken by another's open, which only the kernel
		   sees: taken on the module's kernel file where there is one. */
		if (f->open->lock_fd >= 0)
			return sys3(SYS_fcntl, f->open->lock_fd, F_SETLEASE, sc->a[2]);
		return sc->a[2] == F_UNLCK ? 0 : -EINVAL;
	case F_GET_SEALS:
	case F_ADD_SEALS:
		return -EINVAL;		/* not a memfd */
	case F_GETPIPE_SZ:
	case F_SETPIPE_SZ:
		return -EBADF;		/* not a pipe */
	case F_NOTIFY: {
		/* The module's changes raise no kernel event: directory
		   notification is off here, as the kernel says when it is
		   off (EINVAL); only directories have it (ENOTDIR). */
		struct stat st;

		if ((r = mod_fgetattr(REF(f), f->open->fh, f->path, &st)) < 0)
			return r;
		return S_ISDIR(st.st_mode) ? -EINVAL : -ENOTDIR;
	}
	}
	if (defuse_g.debug)
		defuse_log("fcntl command not supported on emulated files", NULL, NULL);
	return -EOPNOTSUPP;
}

/* The calls on an emulated file (f held by the caller: fdops.c, copy.c). */
long core_emulated_call(const struct defuse_syscall *sc, struct core_fd *f)
{
	const struct defuse_mount_ref *ref = REF(f);
	uint64_t fh = f->open->fh;
	struct pg_cache *c;
	off_t off;
	long r;

	/* An O_PATH descriptor only names the file: the kernel answers
	   EBADF to everything but these. */
	if ((f->open->ofd->flags & O_PATH) && sc->nr != SYS_fstat && sc->nr != SYS_fstatfs &&
	    sc->nr != SYS_fcntl)
		return -EBADF;

	switch (sc->nr) {
	case SYS_read:
		return transfer(f, 0, (void *)sc->a[1], sc->a[2], NULL, 0);
	case SYS_write:
		return transfer(f, 1, (void *)sc->a[1], sc->a[2], NULL, 0);
	case SYS_pread64:
		off = sc->a[3];
		return transfer(f, 0, (void *)sc->a[1], sc->a[2], &off, 0);
	case SYS_pwrite64:
		off = sc->a[3];
		return transfer(f, 1, (void *)sc->a[1], sc->a[2], &off, 0);
	case SYS_readv:
	case SYS_writev:
		return transfer_v(f, sc->nr == SYS_writev, (void *)sc->a[1], sc->a[2], NULL, 0);
	case SYS_preadv:
	case SYS_pwritev:
		off = sc->a[3];
		return transfer_v(f, sc->nr == SYS_pwritev, (void *)sc->a[1], sc->a[2], &off, 0);
	case SYS_preadv2:
	case SYS_pwritev2:
		return transfer_v2(f, sc);
	case SYS_lseek:
		return do_lseek(f, sc->a[1], sc->a[2]);
	case SYS_fstat:
		return do_fstat(f, (void *)sc->a[1]);
	case SYS_getdents64:
		return do_getdents(f, (void *)sc->a[1], sc->a[2]);
	case SYS_ftruncate:
		if (sc->a[1] < 0)
			return -EINVAL;
		if (!can_write(f))
			return -EINVAL;
		if ((r = fsize_check(sc->a[1] ? sc->a[1] - 1 : 0, NULL)) < 0 && sc->a[1])
			return r;
		/* A cached file: the cache too, so that mappings get SIGBUS
		   past a new end. */
		if ((c = pager_of(f)))
			return pager_truncate(c, f, sc->a[1]);
		return mod_ftruncate(ref, fh, f->path, sc->a[1]);
	case SYS_fsync:
	case SYS_fdatasync:
	case SYS_syncfs:
		/* Pages this process wrote through its mappings first (the
		   API has no whole-file-system sync: for syncfs this file's
		   data is what the program can be sure of). */
		if ((c = pager_of(f)) && (r = pager_sync(c)) < 0)
			return r;
		return mod_fsync(ref, fh, sc->nr == SYS_fdatasync);
	case SYS_fallocate:
		if (!can_write(f))
			return -EBADF;
		/* A size past the limit (FALLOC_FL_KEEP_SIZE makes none). */
		if (!(sc->a[1] & FALLOC_FL_KEEP_SIZE) && sc->a[2] >= 0 && sc->a[3] > 0 &&
		    (r = fsize_check(sc->a[2] + sc->a[3] - 1, NULL)) < 0)
			return r;
		if ((c = pager_of(f)))
			return pager_fallocate(c, f, sc->a[1], sc->a[2], sc->a[3]);
		return mod_fallocate(ref, fh, sc->a[1], sc->a[2], sc->a[3]);
	case SYS_fchmod:
		return mod_fchmod(ref, fh, f->path, sc->a[1] & 07777);
	case SYS_fchown:
		return mod_fchown(ref, fh, f->path, sc->a[1], sc->a[2]);
	case SYS_fstatfs: {
		struct statfs sf;
		long r = mod_statfs(ref, f->path, &sf);

		return r < 0 ? r : core_copy_out((void *)sc->a[1], &sf, sizeof(sf));
	}
	case SYS_fadvise64:
		return 0;	/* advice */
	case SYS_readahead:
		return can_read(f) ? 0 : -EBADF;	/* advice too */
	case SYS_sync_file_range:
		/* Checked as the kernel does; the written pages of this
		   process's mappings go to the module, which is what starting
		   writeback means here. */
		if (sc->a[3] & ~(SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				 SYNC_FILE_RANGE_WAIT_AFTER) ||
		    sc->a[1] < 0 || sc->a[2] < 0 || sc->a[1] > LLONG_MAX - sc->a[2])
			return -EINVAL;
		if ((sc->a[3] & SYNC_FILE_RANGE_WRITE) && (c = pager_of(f)))
			return pager_sync(c);
		return 0;
	case SYS_fcntl:
		return do_fcntl(sc, f);
	case SYS_flock:
		return do_flock(f, sc->a[1]);
	case SYS_mmap:
		return pager_mmap(sc, f);
	case SYS_ioctl:
		return core_emulated_ioctl(sc, f);
	}
	if (defuse_g.debug) {
		char n[24];

		defuse_log("not supported on an emulated file: system call ",
			   defuse_ltoa(sc->nr, n), NULL);
	}
	return -EOPNOTSUPP;
}
