/*
 * io_uring on emulated files.
 *
 * The kernel does an SQE's I/O itself, on the placeholder (an O_PATH
 * descriptor: EBADF), and an SQE's path (IORING_OP_OPENAT, STATX...)
 * names the hidden directory under a mount point.  The SQEs are in memory
 * the program shares with the kernel, and the kernel takes them only inside
 * io_uring_enter (but for SQPOLL rings, below).  So at io_uring_enter with
 * SQEs to submit, before the kernel sees them, each SQE about to be taken
 * whose descriptor or path the core would serve as a system call (the
 * same route.c question) is served at once, by the same code as that call
 * (preadv2, pwritev2, fsync, openat, close...), and then rewritten in
 * place into IORING_OP_NOP with IORING_NOP_INJECT_RESULT (Linux 6.10):
 * a NOP whose completion carries any result, negative errno included.  Its
 * user_data, link, drain, async and skip-success flags and personality
 * stay, so the program gets one CQE with its user_data and the module's
 * answer, through the ring, in order with the others, and a failure
 * breaks its link chain as natively.  The SQE is not put back after the
 * call: the kernel copies what it needs at submission, and one it did not
 * take this time (a full CQ ring: EBUSY) must stay the NOP, or a later
 * io_uring_enter would do its I/O twice.
 *
 * Finding the SQEs: io_uring_setup is seen (route.c) and its parameters
 * kept by ring descriptor: the ring's flags, size, inode and the offsets
 * of the SQ ring's fields.  At the ring's first io_uring_enter the SQ ring
 * and the SQE array are mapped again from the ring descriptor, and kept
 * for the next walks; each walk first checks that the descriptor is still
 * that ring (its inode: one fstat).  Mapping and unmapping at every walk
 * cost 4 system calls and, with io-wq threads in the process, TLB
 * shootdowns: fio's 4 KiB reads, 16 in flight, on a file outside the
 * mounts fell from 700,000 to 40,000 IOPS.  A kept mapping holds its ring
 * (and the files registered in it) alive after the program closed it:
 * until the process's next io_uring_setup, which lets go of every ring
 * whose descriptor is gone, or its exit or exec.  With
 * IORING_SETUP_NO_MMAP they are the program's own memory, whose addresses
 * the parameters hold.  SQE128 rings have 128-byte SQEs; NO_SQARRAY rings
 * take SQEs in ring order, without the index array.
 *
 * SQPOLL rings, whose SQEs a kernel thread takes with no call to see, are
 * refused while there are mounts (core_h_uring_setup).
 *
 * What is left to the kernel (which answers EBADF for an emulated file, as
 * before, never with wrong data):
 *   - IORING_ENTER_REGISTERED_RING: the descriptor is an index into the
 *     thread's registered rings, which cannot be mapped;
 *   - IOSQE_FIXED_FILE: registered files are never emulated ones (the
 *     kernel refuses to register an O_PATH descriptor: EBADF), and
 *     direct descriptors (OPENAT/CLOSE with a file_index);
 *   - IOSQE_BUFFER_SELECT, and opcodes not listed in as_call (xattrs,
 *     splice, tee, READ_MULTISHOT...);
 *   - kernels before 6.10 (no NOP with an injected result).
 * Also: io_uring_enter with SQEs to submit is looked at whenever the
 * process has mounts (route.c): an SQE's absolute path may name a mount
 * while no mount file is open (before, only while one was, or the cwd was
 * in a mount, and such a path op reached the hidden mount point: libuv's
 * mkdir through a ring made its directory there).  An emulated SQE is done
 * when it is submitted, before the kernel's SQEs of the same submission: a
 * link chain mixing kernel and emulated SQEs runs the emulated ones first,
 * and a short read does not break a chain (the NOP succeeds).
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/syscalls.h"

/* Newer than some uapi headers. */
#define SETUP_NO_MMAP		(1U << 14)
#define SETUP_REGISTERED_FD_ONLY (1U << 15)
#define SETUP_NO_SQARRAY	(1U << 16)
#define NOP_INJECT_RESULT	(1U << 0)
#define OP_FTRUNCATE		55
#define OP_READV_FIXED		60
#define OP_WRITEV_FIXED		61

/* The flags an SQE keeps when it becomes the NOP. */
#define KEPT_FLAGS (IOSQE_IO_DRAIN | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | IOSQE_ASYNC | \
		    IOSQE_CQE_SKIP_SUCCESS)

/* A ring's SQ ring and SQEs as the core reads them: mapped from the ring
   descriptor, or the program's own memory (NO_MMAP). */
struct view {
	char *ring, *sqes;
	size_t ring_len, sqes_len;
	bool mapped;
};

/* What io_uring_setup said of a ring, by its descriptor. */
struct ring {
	int fd;
	unsigned flags, entries;	/* entries 0: a free slot (a ring has
					   at least one) */
	struct io_sqring_offsets sq;	/* sq.resv2: NO_MMAP's SQEs */
	uint64_t rings;		/* NO_MMAP: the program's SQ/CQ ring memory */
	uint64_t ino;		/* the ring's inode: fd is still this ring */
	struct view v;		/* kept from the first walk (have_view) */
	bool have_view;
};

#define NRINGS 64
/* Zeroed, in .bss: an initialised table here was a page of .data, which
   every exec maps and copies (issue 11). */
static struct ring rings[NRINGS];
static int next_slot;		/* a full table forgets the oldest */
/* One walk (and the table) at a time, so that two threads entering the
   same ring never serve one SQE twice; threads of a process wait for each
   other's module calls (as io_submit's do, aio.c).  The holder's process
   ID, 0 when free: a fork child finds its parent's ID there if another
   thread held it at the fork, and takes it: that thread is not in the
   child. */
static long busy;

static void lock(void)
{
	long me = defuse_pid(), held = 0;

	while (!__atomic_compare_exchange_n(&busy, &held, me, false, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		if (held != me &&
		    __atomic_compare_exchange_n(&busy, &held, me, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
		sys0(SYS_sched_yield);
		held = 0;
	}
}

static void unlock(void)
{
	__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}

/* The ring kept for descriptor fd, or NULL. */
static struct ring *ring_of(int fd)
{
	for (int i = 0; i < NRINGS; i++)
		if (rings[i].entries && rings[i].fd == fd)
			return &rings[i];
	return NULL;
}

/* IORING_NOP_INJECT_RESULT: 1 yes, -1 no, 0 not known yet.  Linux 6.10
   has it; before, a NOP ignores its flags and would complete with 0. */
static int inject_ok;

static bool can_inject(void)
{
	struct utsname u;
	long major = 0, minor = 0;
	const char *p = u.release;

	if (inject_ok)
		return inject_ok > 0;
	if (sys1(SYS_uname, &u) < 0) {
		inject_ok = -1;
		return false;
	}
	while (*p >= '0' && *p <= '9')
		major = major * 10 + (*p++ - '0');
	if (*p == '.')
		p++;
	while (*p >= '0' && *p <= '9')
		minor = minor * 10 + (*p++ - '0');
	inject_ok = major > 6 || (major == 6 && minor >= 10) ? 1 : -1;
	if (inject_ok < 0)
		defuse_log("io_uring: ", "this kernel has no NOP with an injected result (6.10): ",
			   "SQEs on emulated files go to the kernel (EBADF)");
	return inject_ok > 0;
}

static void view_close(struct view *v);

/* The inode of descriptor fd, or 0. */
static uint64_t ino_of(int fd)
{
	struct stat st;

	return sys2(SYS_fstat, fd, &st) == 0 ? st.st_ino : 0;
}

/* Slot r no longer stands for a ring: its view (which holds the ring
   alive) unmapped. */
static void ring_forget(struct ring *r)
{
	if (r->have_view)
		view_close(&r->v);
	*r = (struct ring){ 0 };
}

/* Is r's descriptor still its ring?  Each ring has an inode of its own
   (anon_inode_create_getfile); a closed ring's number may be another
   file's or another ring's by now. */
static bool ring_alive(const struct ring *r)
{
	return r->ino && ino_of(r->fd) == r->ino;
}

/* io_uring_setup(entries, params): the kernel's, then its ring kept. */
long core_h_uring_setup(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	struct io_uring_params p;
	long fd;
	struct ring *r;

	/* A kernel thread would take this ring's SQEs (SQPOLL), with no call
	   of the program's to see them in: their paths into a mount would
	   reach the hidden mount point, their emulated files EBADF.  While
	   there are mounts such a ring is refused as an unprivileged one once
	   was (EPERM); programs fall back to a plain ring or to threads
	   (libuv, liburing's users). */
	if (core_nmounts && defuse_probe_read(&p, (void *)sc->a[1], sizeof(p)) == 0 &&
	    (p.flags & IORING_SETUP_SQPOLL))
		return -EPERM;
	fd = defuse_forward(sc);
	if (fd < 0 || defuse_probe_read(&p, (void *)sc->a[1], sizeof(p)) < 0)
		return fd;
	/* An index into the registered rings is no descriptor to map. */
	if (p.flags & SETUP_REGISTERED_FD_ONLY)
		return fd;
	lock();
	/* Rings the program closed since: their views let go of them. */
	for (int i = 0; i < NRINGS; i++)
		if (rings[i].entries && rings[i].fd != fd && !ring_alive(&rings[i]))
			ring_forget(&rings[i]);
	r = ring_of((int)fd);	/* a closed ring's number */
	if (!r) {
		r = &rings[next_slot];
		next_slot = (next_slot + 1) % NRINGS;
	}
	ring_forget(r);
	*r = (struct ring){ .fd = (int)fd, .flags = p.flags, .entries = p.sq_entries,
			    .sq = p.sq_off, .rings = p.cq_off.resv2, .ino = ino_of((int)fd) };
	unlock();
	return fd;
}

static size_t page_up(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static long view_open(const struct ring *r, struct view *v)
{
	const struct io_sqring_offsets *o = &r->sq;
	unsigned fields[] = { o->head, o->tail, o->ring_mask, o->ring_entries, o->flags,
			      o->dropped };
	size_t end = 0;
	long a;

	for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i] + 4 > end)
			end = fields[i] + 4;
	if (!(r->flags & SETUP_NO_SQARRAY) && o->array + 4 * (size_t)r->entries > end)
		end = o->array + 4 * (size_t)r->entries;
	v->ring_len = page_up(end);
	v->sqes_len = page_up((size_t)r->entries << (r->flags & IORING_SETUP_SQE128 ? 7 : 6));
	if (r->flags & SETUP_NO_MMAP) {
		v->ring = (char *)(uintptr_t)r->rings;
		v->sqes = (char *)(uintptr_t)o->resv2;
		v->mapped = false;
		return 0;
	}
	v->mapped = true;
	a = sys6(SYS_mmap, 0, v->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		 IORING_OFF_SQ_RING);
	if (a < 0 && a > -4096)
		return a;
	v->ring = (char *)a;
	a = sys6(SYS_mmap, 0, v->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		 IORING_OFF_SQES);
	if (a < 0 && a > -4096) {
		sys2(SYS_munmap, v->ring, v->ring_len);
		return a;
	}
	v->sqes = (char *)a;
	return 0;
}

static void view_close(struct view *v)
{
	if (!v->mapped)
		return;
	sys2(SYS_munmap, v->ring, v->ring_len);
	sys2(SYS_munmap, v->sqes, v->sqes_len);
}

static bool u32_at(const char *base, unsigned off, unsigned *out)
{
	return defuse_probe_read(out, base + off, sizeof(*out)) == 0;
}

/*
 * The system call an SQE stands for, in sc; false if none the core would
 * serve (it then goes to the kernel as it is).  The fields are io_uring's
 * (include/uapi/linux/io_uring.h); iov is storage for one iovec.
 */
static bool as_call(const struct io_uring_sqe *s, struct defuse_syscall *sc, struct iovec *iov)
{
	long fd = s->fd, off = (long)s->off, addr = (long)s->addr;

	if (s->flags & (IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT))
		return false;
	*sc = (struct defuse_syscall){ 0 };
	switch (s->opcode) {
	case IORING_OP_READ:
	case IORING_OP_WRITE:
	case IORING_OP_READ_FIXED:	/* addr is in the registered buffer, */
	case IORING_OP_WRITE_FIXED:	/* which is the program's memory */
		iov->iov_base = (void *)addr;
		iov->iov_len = s->len;
		addr = (long)iov;
		sc->a[2] = 1;
		sc->nr = s->opcode == IORING_OP_READ || s->opcode == IORING_OP_READ_FIXED ?
				 SYS_preadv2 : SYS_pwritev2;
		break;
	case IORING_OP_READV:
	case OP_READV_FIXED:
		sc->nr = SYS_preadv2;
		sc->a[2] = s->len;
		break;
	case IORING_OP_WRITEV:
	case OP_WRITEV_FIXED:
		sc->nr = SYS_pwritev2;
		sc->a[2] = s->len;
		break;
	case IORING_OP_FSYNC:
		*sc = (struct defuse_syscall){ s->fsync_flags & IORING_FSYNC_DATASYNC ?
						       SYS_fdatasync : SYS_fsync, { fd } };
		return true;
	case IORING_OP_SYNC_FILE_RANGE:
		*sc = (struct defuse_syscall){ SYS_sync_file_range,
					       { fd, off, s->len, s->sync_range_flags } };
		return true;
	case IORING_OP_FALLOCATE:
		*sc = (struct defuse_syscall){ SYS_fallocate, { fd, s->len, off, addr } };
		return true;
	case IORING_OP_FADVISE:
		/* Linux 6.x: a 64-bit length in addr, else the old 32-bit len. */
		*sc = (struct defuse_syscall){ SYS_fadvise64, { fd, off, addr ? addr : (long)s->len,
								 s->fadvise_advice } };
		return true;
	case OP_FTRUNCATE:
		*sc = (struct defuse_syscall){ SYS_ftruncate, { fd, off } };
		return true;
	case IORING_OP_CLOSE:
		if (s->file_index)	/* a direct descriptor's */
			return false;
		*sc = (struct defuse_syscall){ SYS_close, { fd } };
		return true;
	case IORING_OP_OPENAT:
		if (s->file_index)
			return false;
		*sc = (struct defuse_syscall){ SYS_openat, { fd, addr, s->open_flags, s->len } };
		return true;
	case IORING_OP_OPENAT2:
		if (s->file_index)
			return false;
		*sc = (struct defuse_syscall){ SYS_openat2, { fd, addr, off, s->len } };
		return true;
	case IORING_OP_STATX:
		*sc = (struct defuse_syscall){ SYS_statx, { fd, addr, s->statx_flags, s->len, off } };
		return true;
	case IORING_OP_UNLINKAT:
		*sc = (struct defuse_syscall){ SYS_unlinkat, { fd, addr, s->unlink_flags } };
		return true;
	case IORING_OP_MKDIRAT:
		*sc = (struct defuse_syscall){ SYS_mkdirat, { fd, addr, s->len } };
		return true;
	case IORING_OP_RENAMEAT:
		*sc = (struct defuse_syscall){ SYS_renameat2, { fd, addr, s->len, off,
								 s->rename_flags } };
		return true;
	case IORING_OP_SYMLINKAT:
		*sc = (struct defuse_syscall){ SYS_symlinkat, { addr, fd, off } };
		return true;
	case IORING_OP_LINKAT:
		*sc = (struct defuse_syscall){ SYS_linkat, { fd, addr, s->len, off,
							     s->hardlink_flags } };
		return true;
	default:
		return false;
	}
	/* preadv2/pwritev2: off -1 is the file position, as io_uring's. */
	sc->a[0] = fd;
	sc->a[1] = addr;
	sc->a[3] = off;
	sc->a[4] = 0;
	sc->a[5] = (int)s->rw_flags;
	return true;
}

/* One SQE: served and made the NOP that completes with its result, or
   left alone. */
static void one(char *at, bool mapped)
{
	struct io_uring_sqe s, nop;
	struct defuse_syscall sc;
	struct iovec iov;
	long r;

	if (defuse_probe_read(&s, at, sizeof(s)) < 0 || !as_call(&s, &sc, &iov) ||
	    !core_routes(sc.nr) || !core_route(&sc))
		return;
	r = core_handle(&sc);
	nop = (struct io_uring_sqe){ 0 };
	nop.opcode = IORING_OP_NOP;
	nop.flags = s.flags & KEPT_FLAGS;
	nop.fd = -1;
	nop.len = (uint32_t)(int32_t)r;
	nop.rw_flags = NOP_INJECT_RESULT;
	nop.user_data = s.user_data;
	nop.personality = s.personality;
	if (mapped)
		__builtin_memcpy(at, &nop, sizeof(nop));
	else
		core_copy_out(at, &nop, sizeof(nop));
}

/* io_uring_enter(fd, to_submit, min_complete, flags, arg, argsz) with SQEs
   while there are mounts (route.c): its emulated SQEs served first. */
long core_h_uring_enter(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	struct ring *r = NULL;
	struct view v;
	unsigned head, tail, mask, entries, n;
	long ret;

	if (((unsigned)sc->a[3] & IORING_ENTER_REGISTERED_RING) || !can_inject())
		goto kernel;
	lock();
	r = sc->a[0] >= 0 ? ring_of((int)sc->a[0]) : NULL;
	if (r && !ring_alive(r)) {
		ring_forget(r);
		r = NULL;
	}
	if (!r || (r->flags & IORING_SETUP_SQPOLL))
		goto unlocked;
	/* The view is made at the ring's first walk and kept: a mapping and
	   unmapping per walk cost each io_uring_enter 4 system calls and, in
	   a process with io-wq threads, TLB shootdowns (fio, 4 KiB reads, 16
	   in flight, outside the mounts: 40,000 IOPS against 700,000). */
	if (!r->have_view) {
		if (view_open(r, &r->v) < 0)
			goto unlocked;
		r->have_view = true;
	}
	v = r->v;
	/* A number reused by a file that is no ring must not be walked:
	   the ring's size where the kernel keeps it. */
	if (!u32_at(v.ring, r->sq.head, &head) || !u32_at(v.ring, r->sq.tail, &tail) ||
	    !u32_at(v.ring, r->sq.ring_mask, &mask) ||
	    !u32_at(v.ring, r->sq.ring_entries, &entries) || entries != r->entries ||
	    mask != entries - 1)
		goto out;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);	/* the SQEs before the tail */
	n = tail - head;
	if (n > (unsigned)sc->a[1])	/* to_submit: a u32 */
		n = (unsigned)sc->a[1];
	if (n > entries)
		n = entries;
	for (unsigned k = 0; k < n; k++) {
		unsigned idx = (head + k) & mask;

		if (!(r->flags & SETUP_NO_SQARRAY) &&
		    !u32_at(v.ring, r->sq.array + 4 * idx, &idx))
			break;
		if (idx >= entries)	/* the kernel drops it */
			continue;
		one(v.sqes + ((size_t)idx << (r->flags & IORING_SETUP_SQE128 ? 7 : 6)), v.mapped);
	}
out:
unlocked:
	unlock();
kernel:
	/* It may wait for completions: signals are not deferred meanwhile. */
	defuse_sig_interruptible(1);
	ret = defuse_forward(sc);
	defuse_sig_interruptible(0);
	return ret;
}
