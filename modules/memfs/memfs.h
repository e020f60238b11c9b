/*
 * memfs: a whole file system in one shared-memory segment, coherent between
 * every process that mounts the same name (docs/memfs.md).
 *
 * Every process maps the segment at its own address, so the segment holds
 * offsets from its start, never pointers; off 0 means "none".  One robust,
 * process-shared mutex in the header guards everything in the segment: a
 * process killed while holding it hands it to the next taker (EOWNERDEAD)
 * instead of hanging everyone.  Module code holds it for the whole of each
 * operation, so every operation is atomic for every process.
 */
#ifndef MEMFS_H
#define MEMFS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define MEMFS_MAGIC 0x3130534d464d454dULL	/* "MEMFMS01" */
#define MEMFS_VERSION 5
#define MEMFS_PAGE 4096u
#define MEMFS_WAITS 64		/* record lock waiters checked for deadlock */
#define MEMFS_NCLASS 40		/* power-of-two classes 2^0 .. 2^39 */
#define MEMFS_MIN_CLASS 5	/* smallest object: 32 bytes */
#define MEMFS_NAME_MAX 255
#define MEMFS_SYMLOOP 40

/* A timestamp as the segment keeps it (struct timespec's layout may differ
   between a 32- and 64-bit process; this one does not). */
struct mts {
	int64_t sec;
	int64_t nsec;
};

/* The segment's first bytes. */
struct seg_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t reserved_mb;	/* MiB of the segment known to have space in
				   /dev/shm (alloc.c, reserve; 0 in older
				   segments, whose bytes up to brk have it) */
	uint64_t size;		/* bytes mapped, fixed at creation */
	pthread_mutex_t lock;	/* robust, process-shared: guards all below */
	uint64_t brk;		/* first never-allocated byte */
	uint64_t free[MEMFS_NCLASS];	/* free lists by class (2^class bytes) */
	uint64_t used;		/* bytes handed out, for statfs */
	uint64_t root;		/* the root directory's inode */
	uint64_t inodes;	/* inodes alive */
	uint32_t lock_seq;	/* bumped at every lock change that may end
				   a wait: the futex word lock waiters
				   sleep on (lock.c, lk_wait) */
	uint32_t lock_waiters;	/* processes asleep on it: a change wakes
				   them only if any (the low half of a 64-bit
				   lock_seq before, so older segments fit) */
	uint64_t orphans;	/* first inode with no link left but open
				   handles (openers.c) */
	struct mwait {
		uint64_t owner;	/* a record lock's owner asleep for... */
		uint64_t blocker; /* ...the owner of the record lock in its way */
		int32_t tid;	/* the sleeping thread (0: a free entry) */
		int32_t pid;	/* and its process, to drop it if it died */
	} waits[MEMFS_WAITS];	/* for EDEADLK (lock.c, lk_wait_prepare) */
};

/* An inode; its offset is its inode number. */
struct mnode {
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint32_t opens;		/* open handles, all processes together */
	uint32_t flags;		/* MN_* */
	uint64_t rdev;
	uint64_t size;		/* bytes; a directory: its entries (live ones) */
	uint64_t pages;		/* data pages allocated (st_blocks) */
	struct mts atime, mtime, ctime, btime;
	uint64_t data;		/* file: page table; dir: entry array; link: target */
	uint64_t cap;		/* entries the page table or entry array holds */
	uint64_t next_cookie;	/* dir: readdir position of the next entry added */
	uint64_t parent;	/* dir: its parent's inode (for ".."); other
				   inodes: the directory of their latest
				   link, where fh_path looks for a name */
	uint64_t xattr;		/* first struct mxattr */
	uint64_t locks;		/* first struct mlock */
	uint64_t openers;	/* first struct mopener */
	uint64_t orphan_next;	/* next on the orphan list (MN_ORPHAN) */
	uint64_t used;		/* dir: entries in the array, removed ones too */
	uint64_t index;		/* dir: its name index, uint32_t slots (dir.c) */
	uint64_t index_cap;	/* dir: slots in the index, a power of two */
};

#define MN_LINKABLE 0x1	/* an O_TMPFILE file (not O_EXCL): flink may name it */
#define MN_ORPHAN 0x2	/* on the orphan list (openers.c) */

/* One open handle of an inode, and the process holding it (openers.c). */
struct mopener {
	uint64_t next;
	uint64_t prev;		/* 0 for the first (then n->openers is it) */
	uint64_t ino;
	int32_t pid;
	uint32_t pad;
};

/* A directory entry.  cookie orders the array and is readdir's position: it
   never changes while the entry lives, so a listing in progress neither
   skips nor repeats entries that stay put. */
struct mdent {
	uint64_t ino;
	uint64_t cookie;
	uint64_t name;		/* offset of the name, NUL-terminated */
	uint32_t hash;
	uint16_t len;
	uint8_t type;		/* DT_* */
	uint8_t pad;
};

/* An extended attribute: name then value in one object. */
struct mxattr {
	uint64_t next;
	uint32_t nlen;		/* without the NUL */
	uint32_t vlen;
	char data[];
};

/* A lock.  Record and OFD locks share one space (as in Linux), flock locks
   another. */
struct mlock {
	uint64_t next;
	uint64_t owner;
	int64_t start;
	int64_t end;		/* inclusive; INT64_MAX: to the end, however far */
	int32_t type;		/* F_RDLCK, F_WRLCK */
	int32_t pid;		/* l_pid to report; -1 for OFD locks */
	int32_t holder;		/* a process whose death ends the lock */
	uint32_t kind;		/* MLK_* */
};

enum { MLK_POSIX = 1, MLK_OFD = 2, MLK_FLOCK = 3 };

/* One mount in one process. */
struct memfs {
	struct seg_hdr *h;
	char *base;
	uint64_t size;
	char shm_path[300];
};

/* The caller's identity, as the kernel's permission checks use it. */
struct cred {
	uid_t uid;
	gid_t gid;
	int ngroups;		/* -1: not read yet */
	gid_t groups[64];
};

/* ---- segment.c ---- */
int seg_open(struct memfs *m, const char *name, uint64_t size, char *why, size_t why_len);
void seg_close(struct memfs *m);
void seg_lock(struct memfs *m);
void seg_unlock(struct memfs *m);

static inline void *P(struct memfs *m, uint64_t off)
{
	return off ? m->base + off : NULL;
}
#define N(m, off) ((struct mnode *)P(m, off))

/* ---- alloc.c ---- */
uint64_t mem_alloc(struct memfs *m, uint64_t size);	/* zeroed; 0: ENOSPC */

/* openers.c: who holds an inode open. */
uint64_t opener_add(struct memfs *m, uint64_t ino, pid_t pid);	/* 0: ENOSPC */
void opener_drop(struct memfs *m, uint64_t off);
void orphan_check(struct memfs *m, uint64_t ino);
void orphan_forget(struct memfs *m, uint64_t ino);
int orphans_reap(struct memfs *m);	/* how many were freed */
bool pid_missing(pid_t pid);	/* no such process (one kill(2)) */
bool pid_gone(pid_t pid);	/* missing, or exited and not reaped yet */
void mem_free(struct memfs *m, uint64_t off, uint64_t size);
uint64_t mem_class_size(uint64_t size);

/* ---- inode.c ---- */
void now(struct mts *t);
void cred_get(struct cred *c);
bool cred_in_group(struct cred *c, gid_t gid);
int may(struct memfs *m, struct cred *c, struct mnode *n, int mask);	/* R_OK.. */
bool is_owner(struct cred *c, struct mnode *n);
uint64_t node_new(struct memfs *m, struct cred *c, struct mnode *dir, mode_t mode);
void node_put(struct memfs *m, uint64_t ino);	/* frees if unlinked and closed */
void node_stat(struct memfs *m, uint64_t ino, struct stat *st);
void touch_atime(struct memfs *m, struct mnode *n);
unsigned char dt_of(mode_t mode);

/* ---- dir.c ---- */
int dir_find(struct memfs *m, struct mnode *d, const char *name, size_t len, uint64_t *ino);
int dir_add(struct memfs *m, uint64_t dir, const char *name, size_t len, uint64_t ino);
void dir_del(struct memfs *m, struct mnode *d, const char *name, size_t len);
void dir_set(struct memfs *m, struct mnode *d, const char *name, size_t len, uint64_t ino);
bool dir_empty(struct memfs *m, struct mnode *d);
void dir_free(struct memfs *m, struct mnode *d);
struct mdent *dir_entries(struct memfs *m, struct mnode *d);
/* Whether an entry of the array (d->used of them) is one, not a hole. */
bool dir_entry_live(const struct mdent *e);
/* Path walks; follow: follow a link in the last component. */
int walk(struct memfs *m, struct cred *c, const char *path, bool follow, uint64_t *ino);
int walk_parent(struct memfs *m, struct cred *c, const char *path, uint64_t *dir,
		const char **name, size_t *len);

/* ---- data.c ---- */
ssize_t data_read(struct memfs *m, struct mnode *n, char *buf, size_t size, uint64_t off);
ssize_t data_write(struct memfs *m, struct mnode *n, const char *buf, size_t size, uint64_t off);
int data_truncate(struct memfs *m, struct mnode *n, uint64_t size);
int data_allocate(struct memfs *m, struct mnode *n, uint64_t off, uint64_t len);
void data_punch(struct memfs *m, struct mnode *n, uint64_t off, uint64_t len);
int64_t data_seek(struct memfs *m, struct mnode *n, uint64_t off, int whence);
uint64_t data_max(struct memfs *m);

/* ---- xattr.c ---- */
ssize_t xa_get(struct memfs *m, struct mnode *n, const char *name, void *value, size_t size);
int xa_set(struct memfs *m, struct mnode *n, const char *name, const void *value,
	   size_t size, int xflags);
ssize_t xa_list(struct memfs *m, struct mnode *n, char *list, size_t size);
int xa_remove(struct memfs *m, struct mnode *n, const char *name);
void xa_free_all(struct memfs *m, struct mnode *n);

/* ---- lock.c ---- */
struct flock;
int lk_get(struct memfs *m, struct mnode *n, uint64_t owner, struct flock *fl);
int lk_set(struct memfs *m, struct mnode *n, uint64_t owner, const struct flock *fl);
int lk_flock(struct memfs *m, struct mnode *n, uint64_t owner, int op);
void lk_free_all(struct memfs *m, struct mnode *n);
/* A lock was in the way (lk_set or lk_flock said -EAGAIN): under the
   segment's lock, lk_wait_prepare (fl NULL for flock; thorough: at the
   first wait and after a timeout) says -EDEADLK, 1 (the lock's holder had
   ended: try again at once) or 0 and *seen; then, the lock let go,
   lk_wait(seen): 0 when locks changed, 1 when a while passed, -EINTR when
   a signal ended the wait; under the lock again, lk_wait_done(entry)
   before the next try or the return: *entry is the waiters' table entry
   lk_wait_prepare made (NULL: none). */
int lk_wait_prepare(struct memfs *m, struct mnode *n, uint64_t owner, const struct flock *fl,
		    bool thorough, uint32_t *seen, struct mwait **entry);
int lk_wait(struct memfs *m, uint32_t seen);
void lk_wait_done(struct mwait **entry);

#endif
