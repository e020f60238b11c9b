/*
 * The core: mounts, path resolution, descriptors of files under a mount.
 *
 * route.c (hot, runs at every path or descriptor call while mounts exist)
 * decides cheaply whether a call can concern a mount at all; only then does
 * the handler syscalls.c's table names (cold: ordinary C, behind an
 * extended-state save) resolve the path (resolve.c) and call the module.
 * Without mounts none of this runs.
 */
#ifndef DEFUSE_CORE_H
#define DEFUSE_CORE_H

#include <limits.h>
#include <defuse/module.h>
#include "core/entry.h"
#include "module/call.h"

/* Thread-local state of the core's (its offset fixed at load: no
   __tls_get_addr call, no allocation in a new thread). */
#define CORE_TLS __attribute__((tls_model("initial-exec")))

#define CORE_MOUNTS_MAX 16

/* fchmodat2 (Linux 6.6) is newer than the system call headers we build with. */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2_ 452
#else
#define SYS_fchmodat2_ SYS_fchmodat2
#endif

/* So are the *xattrat calls (Linux 6.13). */
#define SYS_setxattrat_ 463
#define SYS_getxattrat_ 464
#define SYS_listxattrat_ 465
#define SYS_removexattrat_ 466

struct core_mount {
	char point[PATH_MAX];	/* canonical absolute path, no trailing '/' */
	size_t len;
	const char *base;	/* last component of point */
	size_t baselen;
	struct defuse_mount_ref ref;	/* the started module: every call
					   goes through module/call.h */
	int resolves;		/* DEFUSE_MODULE_RESOLVES */
	uint64_t key;		/* its "MODULE:ARGS" hashed: names its FIFOs
				   and sockets' kernel stand-ins (special.c) */
	int no_kdirs;		/* its directories have no kernel descriptor */
	int dead;		/* 0, or -errno: its module could not start
				   again in this image (its backing directory
				   was removed, say): every path in it gets
				   that error, and nothing calls the module */
};

/*
 * The kernel's directory under each mount point, as its stat found it at
 * start-up (mounts.c; 0 and 0 for a mount served as removed): a path the
 * kernel resolved through a kernel symbolic link into a mount lands there,
 * which route.c tells from a stat's answer without a system call.
 */
struct core_kid {
	unsigned long dev, ino;
	unsigned major, minor;	/* dev's, as statx gives them */
};
extern struct core_kid core_mount_kids[CORE_MOUNTS_MAX] HIDDEN;

/* The module of mount m, for the adapter's mod_* calls. */
#define CORE_REF(m) (&core_mounts[m].ref)

extern struct core_mount core_mounts[CORE_MOUNTS_MAX] HIDDEN;

/* special.c: FIFOs and Unix sockets of mounts with no kernel directories,
   through kernel stand-ins.  Whether mount m is one; for a path of it:
   bind's stand-in (the node made; out: the kernel path, its length
   returned), undone if the kernel's bind fails; connect's and open's of
   a FIFO (its kernel descriptor, -ENXIO for anything else) for the place
   l a walk found (resolve.h: its lookup is not asked again); unlink. */
struct core_loc;
void core_special_init(const char *dir) HIDDEN;	/* DEFUSE_SPECIAL_DIR */
/* The calling thread is DEFUSE's or a module's own from now on (mounts.c). */
void core_own_thread(void) HIDDEN;
int core_special_mount(int m) HIDDEN;
long core_special_bind(int m, const char *path, char *out, size_t cap) HIDDEN;
void core_special_bind_failed(int m, const char *path) HIDDEN;
long core_special_connect(const struct core_loc *l, char *out, size_t cap) HIDDEN;
long core_special_open(const struct core_loc *l, int flags, uint64_t *ino) HIDDEN;
/* The inode number of the FIFO l names, or 0. */
uint64_t core_special_fifo(const struct core_loc *l) HIDDEN;
long core_special_unlink(int m, const char *path) HIDDEN;
long core_special_rename(int m, const char *from, const char *to, unsigned flags) HIDDEN;
/* The kernel path of name in the stand-ins' directory, made if missing,
   into out: its length, or -ENAMETOOLONG. */
int core_special_path(const char *name, char *out, size_t cap) HIDDEN;

/* libdir.c: the kernel directory that stands in for directory dir of
   mount m (one with no kernel directories) for the dynamic loader: copies
   of its shared objects, kept current.  Its path into out (cap bytes):
   its length, or a negative errno (none: the entry stays as it was). */
long core_lib_standin(int m, const char *dir, char *out, size_t cap) HIDDEN;

/* exec_resolve.c: the whole of an open file of a mount (o: read from its
   kernel descriptor if it has one, else through the module) written into
   kernel descriptor dst from offset 0, for a copy the kernel can map or
   run.  The bytes copied, or -errno (-EIO for a short write). */
long core_copy_whole(const struct defuse_mount_ref *ref, const struct defuse_open *o, int dst) HIDDEN;

/*
 * A descriptor the program got from a mount (kernel-backed file or
 * directory): which mount, and its path there, for *at calls, fchdir and
 * getcwd.  Indexed by descriptor number; NULL for everything else.
 * Reference-counted, from a type-stable pool (fdtable.c explains).
 */
struct core_fd {
	int refs;		/* the slot's, and each call using it */
	int mount;		/* -1: an inherited placeholder not adopted
				   yet (open is pending, path empty): only
				   core_fd_acquire's callers may look inside */
	struct core_open *open;	/* emulated file: its description; NULL for
				   a kernel-backed descriptor */
	uint64_t standin;	/* a FIFO's kernel stand-in (special.c): its
				   node's inode number; 0 for any other */
	char path[];		/* mount-relative, starts with '/' */
};

/*
 * The shared part of an emulated open file description: the first page of
 * the placeholder's memfd, mapped shared, so that dup and fork share offset
 * and status flags as POSIX says, across processes.
 */
#define CORE_OFD_MAGIC 0x444f4644u	/* "DFOD" */
struct core_ofd {
	uint32_t magic;
	int32_t lock;		/* appends of a module without an append
				   operation: the owner's thread ID, or 0 */
	int64_t offset;		/* moved by compare-and-swap (emulated.c) */
	int32_t flags;		/* O_ACCMODE and the status flags (idem) */
	int32_t mount;
	int32_t locked;		/* a lock call was made on it, by any process:
				   its lock descriptor must outlive an exec */
	uint64_t ino;		/* the memfd's inode, written by its maker: a
				   new image checks that an inherited number
				   still is this placeholder */
	/* What the file is, so that a new image or an open of
	   /proc/self/fd/N gets this very file even when its name is gone or
	   names another one now: asked for once, at the first need
	   (core_ofd_identify).  known: 0 not yet, CORE_OFD_HANDLE the
	   module's handle, CORE_OFD_STAT only dev and file_ino. */
	uint32_t known;
	uint32_t handle_len;
	uint64_t owner_id;	/* owners.c: the description as a lock owner
				   for a module that keeps locks, or 0 */
	int32_t owner_type;	/* F_SETOWN(_EX): who would get SIGIO (no
				   event of a regular file sends one, but
				   the program reads back what it set) */
	int32_t owner_pid;
	uint32_t owner_uid, owner_euid;	/* ...who set it (F_GETOWNER_UIDS) */
	int32_t sig;		/* F_SETSIG */
	uint32_t shared;	/* it may be held outside this process: it
				   was forked, handed down, sent or adopted
				   (emulated.c keeps unshared records) */
	uint64_t dev, file_ino;
	unsigned char handle[DEFUSE_HANDLE_MAX];
	char path[3072];	/* mount-relative, for a new image to reopen */
};

#define CORE_OFD_HANDLE 1
#define CORE_OFD_STAT 2

/* Per process: one emulated open file description. */
struct core_open {
	int refs;		/* this process's entries referring to it */
	int mount;
	uint64_t fh;		/* the module's handle (valid in this process) */
	struct core_ofd *ofd;	/* the shared record */
	int lock_fd;		/* the module's kernel descriptor that carries
				   the program's locks (defuse_ops.lock_fd), or
				   -1; the module's, not closed by the core... */
	int lock_fd_inherited;	/* ...unless it came through exec with the
				   locks on it (DEFUSE_FDS): then the core's */
	unsigned char exec_kept;	/* CORE_KEPT_*: lock_fd, carrier_fd came
				   through exec and were left as they came,
				   not close-on-exec (emulated.c) */
	unsigned char pending;	/* inherited through exec and not used yet
				   (emulated.c, lazy adoption): no ofd nor
				   fh; ino, lock_fd, carrier_fd as handed
				   down, adopted once made */
	uint64_t ino;		/* the placeholder's memfd inode: pending, as
				   handed down; else a copy of the record's,
				   once known (0 before) */
	unsigned char cached;	/* CORE_CACHED_*: what the record is known to
				   say already, so that an exec'ing fork child
				   need not touch (and fault in) the record */
	struct core_open *adopted;	/* pending: its adoption (held), once
				   made, or CORE_ADOPT_FAILED */
	int carrier_fd;		/* owners.c: this process's carrier of the
				   description's owner ID, or -1 */
	int rec_fd;		/* emulated.c: a copy of the placeholder in
				   DEFUSE's band, taken at the last close to
				   make the next placeholder from, or -1 */
	struct pg_cache *pager;	/* pager.c: the file's page cache, once it
				   has one (held), or NULL... */
	uint32_t pager_gen;	/* ...as of this registry generation */
};

#define CORE_KEPT_LOCK 1
#define CORE_KEPT_CARRIER 2
#define CORE_ADOPT_FAILED ((struct core_open *)1)
#define CORE_CACHED_SHARED 1	/* its `shared` is set */
#define CORE_CACHED_KNOWN 2	/* core_ofd_identify was done */

#define CORE_FD_MAX 65536
extern struct core_fd **core_fds HIDDEN;
extern int core_nfds HIDDEN;		/* entries in use */

/*
 * The entry of descriptor fd, or NULL (any number, even a bad one), without
 * a reference: a peek, for routing.  The entry may be closed and recycled
 * by another thread meanwhile (its memory stays valid); a call that uses
 * it takes a reference with core_fd_acquire.
 */
static inline struct core_fd *core_fd_get(long fd)
{
	return fd >= 0 && fd < CORE_FD_MAX ? core_fds[fd] : NULL;
}

/* The entry of fd if it is an emulated file's placeholder, else NULL. */
static inline struct core_fd *core_fd_emulated(long fd)
{
	struct core_fd *f = core_fd_get(fd);

	return f && f->open ? f : NULL;
}

/* The module's kernel descriptor behind handle fh of mount m (lock_fd),
   or -1. */
static inline int core_handle_kfd(int m, uint64_t fh)
{
	int fd = mod_lock_fd(CORE_REF(m), fh);

	return fd >= 0 ? fd : -1;
}

/*
 * cwd.c: the current directory, when it is inside a mount (the kernel's
 * own cwd is then the mount point, for programs DEFUSE does not capture).
 * Never changed once published: a chdir publishes another.  Others read
 * mount and path; the rest is cwd.c's.
 */
struct core_cwd {
	int refs;		/* the publication's, and each holder's */
	short mount;
	char pending;		/* its handle is opened at the next routed call */
	struct core_cwd *owner;	/* the object whose handle this one uses (a
				   rename noticed), held; NULL: its own */
	int kfd;		/* the handle (core_cwd_kfd), or -1 */
	int fh_mount;		/* emulated: the module's handle fh, whose
				   kernel descriptor kfd is, if it has one
				   (else fh_path says where it is); -1: kfd
				   is a descriptor of ours */
	char fh_only;		/* fh is the handle, with no kfd (published
				   by a release store, as kfd is) */
	uint64_t fh;
	char path[PATH_MAX];	/* mount-relative, starts with '/' */
};
/* NULL: the kernel's cwd is the truth. */
extern struct core_cwd *core_cwd_now HIDDEN;
/* A child that shares our memory (vfork) has a cwd of its own. */
extern __thread char core_cwd_own __attribute__((tls_model("initial-exec"))) HIDDEN;

/* Hot (route.c): may a relative path, or the cwd itself, be in a mount? */
static inline int core_cwd_inside(void)
{
	return __atomic_load_n(&core_cwd_now, __ATOMIC_RELAXED) || core_cwd_own;
}

/* Serves fn(arg) as one call: every look at the cwd inside sees the same. */
long core_cwd_call(long (*fn)(void *), void *arg) HIDDEN;
/* The cwd of the call being served (held until it ends), or NULL. */
const struct core_cwd *core_cwd_snap(void) HIDDEN;
/* Its handle: a kernel descriptor of its backing directory, or -1. */
int core_cwd_kfd(const struct core_cwd *c) HIDDEN;
/* Where its directory is now (mount-relative, in out), asked of its
   handle: 0, -ENOENT when it was removed, or -1 when it has no handle. */
int core_cwd_path_now(const struct core_cwd *c, char out[PATH_MAX]) HIDDEN;
/* A path by which the kernel still reaches it when it was removed (its
   kernel handle's "/proc/self/fd/N/."): 0, or -1 when it has none. */
int core_cwd_gone_path(const struct core_cwd *c, char out[64]) HIDDEN;
/* fgetattr of its handle when that is a module's handle with no kernel
   descriptor (a removed cwd's stat "."), or -ENOENT. */
struct stat;
int core_cwd_fgetattr(const struct core_cwd *c, struct stat *st) HIDDEN;
/* The call's cwd was renamed to path (same mount): the call goes on with
   the new path, which becomes the cwd unless a chdir came first.  0, or
   -ENOMEM. */
int core_cwd_moved(const char *path) HIDDEN;
/*
 * chdir and fchdir: under a lock that orders every change, kstep sets the
 * kernel's cwd (now: the cwd it replaces) and returns 0, or fails and
 * nothing changes; then path in mount is the cwd, or for mount -1 the
 * kernel's cwd (a symbolic link may have led to a mount point).  Returns
 * kstep's result, or -ENOMEM before anything changed.
 */
long core_cwd_change(int mount, const char *path,
		     long (*kstep)(const struct core_cwd *now, void *arg), void *arg) HIDDEN;
/* At start-up: the cwd DEFUSE_CWD names, or the kernel's.  0 or -ENOMEM. */
int core_cwd_init(const char *inherited) HIDDEN;
/* "DEFUSE_CWD=[FD:]..." of this thread's cwd into buf, its handle FD left
   open for the exec; 0 if not in a mount.  core_cwd_env_undo after an exec
   that failed. */
int core_cwd_env(char *buf, size_t cap) HIDDEN;
void core_cwd_env_undo(void) HIDDEN;
/* In a forked child, before the program runs again. */
void core_cwd_after_fork(void) HIDDEN;
/* "DEFUSE_CWD=..." for exec, or "". */

/* route.c: may this call concern a mount? (core_route, core_routes:
   entry.h).  And: the descriptor a "/proc/self/fd/N", "/dev/fd/N"... path
   names, and where the rest of the path starts; -1 if none. */
long core_fd_link(const char *p, const char **rest) HIDDEN;
/* route.c: could a kernel symbolic link on the way of a path that stayed
   in the kernel have led it into a mount?  One openat2 (RESOLVE_NO_SYMLINKS)
   says; hot, so that capture's dispatch can ask at the call site. */
int core_maybe_via_link(long dfd, const char *upath) HIDDEN;
/* emulated.c: such a path's emulated file, adopted if need be; -ESTALE: a
   placeholder that cannot be; -1: none. */
long core_fd_link_emulated(const char *p, const char **rest) HIDDEN;
/* emulated.c: is fd a placeholder (the table may not know it yet)? */
int core_is_placeholder(long fd) HIDDEN;
/* A vfork child's own descriptions (emulated.c, vfork_open): up to max of
   its descriptors that survive exec and hold one, and their records'
   inodes; 0 in any other process. */
int core_vfork_made_find(long *fds, uint64_t *inos, int max) HIDDEN;

/* fdtable.c: the descriptor table (thread-safe, no lock, no malloc). */
void core_fd_remember(long fd, int mount, const char *path, struct core_open *open);
/* The same for a FIFO's stand-in descriptor, of node ino (special.c;
   0: a kernel-backed descriptor as any other). */
void core_fd_remember_standin(long fd, int mount, const char *path, uint64_t ino);
/* Is f a FIFO's stand-in whose node still has f's path?  Its attributes
   then in *st (special.c). */
struct stat;
int core_special_node(const struct core_fd *f, struct stat *st) HIDDEN;
/* Drops fd from the table: 0, or what the module's flush answered for a
   descriptor of an emulated file (close returns it). */
long core_fd_forget(long fd);
void core_fd_copy(long from, long to);
/* Held around a call that changes number fd and the table's change after
   it (close, dup2's target): calls on one number change the table in the
   order the kernel did them (fdtable.c). */
void core_fd_num_lock(long fd) HIDDEN;
void core_fd_num_unlock(long fd) HIDDEN;
/* The entry of fd with a reference held, or NULL; give it back with
   core_fd_release. */
struct core_fd *core_fd_acquire(long fd) HIDDEN;
/* The same without adopting a pending entry (fdtable.c, handdown.c). */
struct core_fd *core_fd_take(long fd) HIDDEN;
/* Pending entry p of slot fd, held: replaced by an entry of its adoption o
   (returned held), or taken out of the table (o NULL: the kernel answers
   for the descriptor); the caller's reference to p is dropped. */
struct core_fd *core_fd_settle(long fd, struct core_fd *p, struct core_open *o) HIDDEN;
void core_fd_release(struct core_fd *f) HIDDEN;
void core_open_get(struct core_open *o) HIDDEN;
void core_open_put(struct core_open *o) HIDDEN;
/* Type-stable memory, async-signal-safe: objects of up to PATH_MAX and a
   bit, never unmapped, never used for another kind; free with the kind
   and size they were allocated with.  The first int of an object is its
   reference count, which the caller sets and which stays 0 while free. */
enum core_pool_kind { CORE_POOL_FD, CORE_POOL_OPEN, CORE_POOL_KINDS };
void *core_pool_alloc(enum core_pool_kind k, size_t n) HIDDEN;
void core_pool_free(enum core_pool_kind k, void *p, size_t n) HIDDEN;

/* emulated.c: emulated files (module-served I/O behind a placeholder). */
long core_emulated_open(int mount, const char *path, int flags, uint64_t fh);
/* A call on emulated file f, held by the caller (core_fd_acquire). */
long core_emulated_call(const struct defuse_syscall *sc, struct core_fd *f);
/* creds.c: does the calling thread have capability cap (effective)? */
int core_capable(int cap) HIDDEN;
/* ioctl.c: an ioctl on emulated file f (held), as the kernel answers
   the requests it answers for every file system. */
long core_emulated_ioctl(const struct defuse_syscall *sc, struct core_fd *f) HIDDEN;
/* At start-up: adopt the placeholders an exec handed down (DEFUSE_FDS,
   written by handdown.c: "FD:INO,..."; "@FD": the list in a memfd sealed
   with CORE_FDS_LIST_SEALS; "scan": look at every descriptor). */
void core_emulated_adopt_inherited(const char *list);
#define CORE_FDS_LIST_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/* Pending entry f of slot fd (held): adopted now, or already by a dup;
   the settled entry, held, or NULL (core_fd_settle). */
struct core_fd *core_emulated_adopt_pending(long fd, struct core_fd *f) HIDDEN;
/* The last entry of pending description po is gone. */
void core_emulated_pending_gone(struct core_open *po) HIDDEN;
/* The description o stands for: its adoption when o is a pending one
   adopted meanwhile, NULL when still pending (or its adoption failed). */
static inline struct core_open *core_open_live(struct core_open *o)
{
	struct core_open *a;

	if (!o->pending)
		return o;
	a = __atomic_load_n(&o->adopted, __ATOMIC_ACQUIRE);
	return a == CORE_ADOPT_FAILED ? NULL : a;
}
/* One read or write of an emulated file, at *off or at (and moving) the
   description's offset; f held by the caller (core_fd_acquire). */
long core_emulated_rw(struct core_fd *f, int writing, void *buf, size_t n,
		      const off_t *off) HIDDEN;
/* Records kept for the next open (emulated.c): at core_fd_forget of fd
   (before the kernel closes it), a copy of its placeholder when this is
   the last descriptor of a record that never left this process; at the
   last put, whether o was kept (1: the caller leaves it be); in a forked
   child, the parent's kept records go; core_ofd_share marks a record as
   possibly held elsewhere (never kept again). */
void core_emulated_keep_record(long fd, struct core_fd *f) HIDDEN;
/* sendmsg's message m is about to pass descriptors (NULL: sendmmsg, any):
   the emulated ones among them are shared from now on. */
struct msghdr;
void core_emulated_sending(const struct msghdr *m) HIDDEN;
/* Every emulated description in the table is shared from now on; carry:
   and this process takes the carriers of their owner IDs (owners.c). */
void core_emulated_share_all(int carry) HIDDEN;
void core_open_share(struct core_open *o) HIDDEN;
int core_emulated_recycle(struct core_open *o) HIDDEN;
void core_emulated_after_fork(void) HIDDEN;
static inline void core_ofd_share(struct core_ofd *ofd)
{
	if (!__atomic_load_n(&ofd->shared, __ATOMIC_RELAXED))
		__atomic_store_n(&ofd->shared, 1, __ATOMIC_RELAXED);
}
/* Lock-free stacks of type-stable objects (fdtable.c's pools): the first
   int of an object is its count, set to 0 while it is on a stack. */
void core_stack_push(uint64_t *head, void *p) HIDDEN;
void *core_stack_pop(uint64_t *head) HIDDEN;
/* What description o's file is (the module's handle, or its st_dev and
   st_ino), written into its record once, for core_ofd_reopen. */
void core_ofd_identify(const struct core_open *o) HIDDEN;
/* Opens the file of record ofd again with flags (kfd: a kernel descriptor
   of it to lend the module, or -1): this very file or -ESTALE, never one
   that took its name. */
int core_ofd_reopen(const struct core_ofd *ofd, int kfd, int flags, struct defuse_open *o)
	HIDDEN;
/* owners.c: owners of the locks a module keeps itself.  Does mount's
   module keep them?  core_owner_of: the owner of o's OFD and flock locks,
   this process holding a carrier of it; core_owner_carry: that carrier
   only (0 or -errno); core_owner_drop: this process lets go of it. */
int core_owners_needed(int mount) HIDDEN;
uint64_t core_owner_of(struct core_open *o) HIDDEN;
int core_owner_carry(struct core_open *o) HIDDEN;
void core_owner_drop(struct core_open *o) HIDDEN;
/* copy.c: sendfile, copy_file_range, splice and tee with an emulated end. */
long core_copy_call(const struct defuse_syscall *sc) HIDDEN;
/* An fd unknown to the table that may be a placeholder received by
   SCM_RIGHTS or pidfd_getfd: adopt it.  1 if it now is an emulated fd. */
int core_emulated_adopt_fd(long fd) HIDDEN;
/* Descriptors just received (recvmsg/recvmmsg: result and msghdr;
   pidfd_getfd: the new descriptor): adopt the placeholders among them. */
void core_emulated_adopt_received(long nr, long result, long msg) HIDDEN;
/* A descriptor of description o is being closed: the module's flush, and
   the process's record locks go.  Returns flush's answer. */
int core_emulated_closing(const struct core_open *o) HIDDEN;
/* The last descriptor of description o in this process is gone: its OFD
   and flock locks kept by the module go (fdtable.c, before release). */
void core_emulated_last_close(struct core_open *o) HIDDEN;

/* fdtable.c: core_after_fork_child (entry.h) runs each module's
   after_fork_child hook. */

/* exec_resolve.c: exec of a program DEFUSE cannot be in is refused while
   mounts exist, unless DEFUSE_ALLOW_UNCAPTURED is set (read at start-up). */
extern int core_allow_uncaptured HIDDEN;

/* syscalls.c and the handlers it names (syscalls.h): core_handle;
   exec_resolve.c: core_exec_resolve.  program.c: */
/* Writes a result into the program's memory; -EFAULT for a bad pointer. */
long core_copy_out(void *dst, const void *src, size_t n) HIDDEN;

#endif
