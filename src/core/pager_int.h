/*
 * The pager's insides, shared by its three files (docs/paging.md):
 *
 *   pager.c           caches and mappings of this process: mmap, munmap,
 *                     mremap, msync, madvise; read, write and truncate
 *                     through a cache; write-back; fork, exec and exit
 *   pager_registry.c  the registry a process tree shares: which file has
 *                     which cache, who holds it; the cross-process locks
 *   pager_fault.c     userfaultfd: registration, the fault thread, filling
 *                     a cache's pages from the module, dirty-page scans
 *
 * Everything here runs in cold code (behind defuse_call_cold) or in the
 * fault thread, never at a syscall site.
 */
#ifndef DEFUSE_CORE_PAGER_INT_H
#define DEFUSE_CORE_PAGER_INT_H

#include <stdint.h>
#include <sys/types.h>
#include "core/core.h"
#include "core/pager.h"

#define PG_PAGE 4096UL
#define PG_HOLDERS 48		/* processes that can be found holding one cache */
#define PG_ENTRIES 256		/* caches a process tree can have at once */
#define PG_CACHES 256		/* caches one process can hold at once */

/* ---- the registry (pager_registry.c) ------------------------------------ */

/*
 * One cache in the registry: shared memory, seen by every process of the
 * tree.  A file is known by the mount it is in and its st_dev and st_ino
 * as the module reports them; the cache by its memfd's inode.  Holders are
 * the processes that have the memfd open, so that another process of the
 * tree can open it too (/proc/PID/fd/FD).
 */
struct pg_shared {
	uint64_t key[3];	/* mount, st_dev, st_ino; all 0: a free entry */
	uint64_t mdev, mino;	/* the memfd's st_dev and st_ino */
	int32_t lock;		/* the cache's lock (pg_lock): write-through,
				   truncation, write-back */
	int32_t nholders;
	int32_t orphaned;	/* a holder died that may have written through
				   a mapping: its pages are nowhere known as
				   written, so the next write-back sends every
				   page the cache has (under lock) */
	struct {
		int32_t pid, fd;
		int32_t wrote;	/* has (had) a shared writable mapping */
	} holder[PG_HOLDERS];
};

/* Makes sure this process has the tree's registry (creating one if it has
   none): 0 or -errno. */
int pg_reg_ensure(void) HIDDEN;
/* The generation: it moves whenever a cache appears anywhere in the tree.
   0 when this process has no registry. */
uint32_t pg_reg_gen(void) HIDDEN;
/* How many caches the tree has now (0: a lookup would find nothing). */
int pg_reg_live(void) HIDDEN;
/* The cache of the file key, found or made (*mfd: the memfd, open O_RDWR,
   *made: 1 if new).  NULL with *err set when neither can be had. */
struct pg_shared *pg_reg_get(const uint64_t key[3], int *mfd, int *made, int *err) HIDDEN;
/* Only finds: NULL if no process of the tree holds one. */
struct pg_shared *pg_reg_find(const uint64_t key[3], int *mfd) HIDDEN;
/* This process holds sh's memfd at fd now (a forked child) / no more. */
void pg_reg_hold(struct pg_shared *sh, int fd) HIDDEN;
void pg_reg_drop(struct pg_shared *sh) HIDDEN;
/* This process maps sh shared and writable (a holder that dies so leaves
   sh orphaned). */
void pg_reg_wrote(struct pg_shared *sh) HIDDEN;
/* Any holder of sh dead after writing?  Then sh->orphaned is set.  Under
   sh's lock, from write-back. */
void pg_reg_check_orphans(struct pg_shared *sh) HIDDEN;
/* exec: the registry's descriptor survives it (handdown), or not (undo). */
int pg_reg_handdown(char *buf, unsigned long cap) HIDDEN;
void pg_reg_handdown_undo(void) HIDDEN;

/*
 * A lock in shared memory that a holder may die holding: the owner's
 * thread ID, taken back by a waiter that finds the owner gone.  Not
 * recursive.
 */
void pg_lock(int32_t *l) HIDDEN;
void pg_unlock(int32_t *l) HIDDEN;
/* Takes l within ns nanoseconds (-1: however long; 0: only if free),
   unless thread avoid owns it: 1 when taken, else 0. */
int pg_lock_within(int32_t *l, long ns, int32_t avoid) HIDDEN;

/* ---- this process (pager.c) --------------------------------------------- */

/* A cache this process holds. */
struct pg_cache {
	int refs;		/* mappings, descriptions and fills using it; 0: free */
	int mount;
	uint64_t key[3];	/* the file (pg_shared's key) */
	struct pg_shared *sh;	/* its registry entry */
	int mfd;		/* the memfd (O_RDWR), in DEFUSE's band */
	char *win;		/* the fill window: the memfd mapped shared,
				   registered for missing pages, never touched
				   but where a page is known to be there */
	unsigned long win_len;
};

/* A mapping of a cache in this process. */
struct pg_map {
	uintptr_t start, end;
	int64_t off;		/* file offset at start */
	struct pg_cache *c;
	struct core_open *open;	/* held: a mapping keeps its file open */
	unsigned char shared;	/* MAP_SHARED (else MAP_PRIVATE) */
	unsigned char maywrite;	/* shared, of a description open for writing:
				   pages written through it are tracked */
	unsigned char readonly;	/* shared, of a description open read-only:
				   mapped private (userfaultfd registers no
				   read-only shared mapping), and mprotect
				   may not make it writable */
	int64_t ra_end;		/* the fault thread's read-ahead: where the
				   last window ended (file offset)... */
	long ra_win;		/* ...and how long it was, or 0 */
};

/* The process-private lock over the caches and mappings; never held
   across a system call that may wait for the fault thread. */
void pg_mutex_lock(void) HIDDEN;
void pg_mutex_unlock(void) HIDDEN;
/* Under the mutex: the mapping that holds addr, or NULL. */
struct pg_map *pg_map_at(uintptr_t addr) HIDDEN;
void pg_cache_get(struct pg_cache *c) HIDDEN;
void pg_cache_put(struct pg_cache *c) HIDDEN;

/* ---- userfaultfd (pager_fault.c) -------------------------------------- */

/* DEFUSE_PAGING, read at start-up (core_pager_init). */
void pg_env_init(void) HIDDEN;

enum pg_mode {
	PG_UNKNOWN,
	PG_UFFD,	/* userfaultfd: lazy fills, written-page tracking */
	PG_EAGER,	/* no userfaultfd: a mapping's pages are filled at mmap,
			   every present page of it is written back */
	PG_OFF,		/* DEFUSE_PAGING=off: mmap of emulated files is refused */
};
extern int pg_mode HIDDEN;

/* The mode, decided at the first need (userfaultfd made and checked, the
   fault thread started).  Returns pg_mode. */
int pg_fault_start(void) HIDDEN;
/* Registers [start, start+len) for the fault thread: missing and minor
   faults, and written-page tracking when track is set (then every page
   starts write-protected).  0 or -errno. */
int pg_register(uintptr_t start, unsigned long len, int track) HIDDEN;
/* The fill window: missing faults only (only the pager fills it). */
int pg_register_window(uintptr_t start, unsigned long len) HIDDEN;
/*
 * Fills the pages of [from, to) of c that are not in the cache from the
 * module, read with open's handle (page-aligned offsets; pages past the cache's size are not
 * filled).  A page already there is left alone: the fill never overwrites
 * (UFFDIO_COPY, or under the cache's lock in eager mode).  0, or the
 * module's error for a page of [must, must + 1 page) when must >= 0
 * (other pages that cannot be read are left empty).
 */
long pg_fill(struct pg_cache *c, struct core_open *open, int64_t from, int64_t to,
	     int64_t must) HIDDEN;
/*
 * Eager mode (no userfaultfd), the caller holding the cache's lock: fills
 * the pages a mapping [start, end) of file offset off shows.  Pages the
 * module cannot give would then be holes of the memfd, read as zeros, and
 * no fault comes later to answer: each gets instead, in the mapping, a
 * private mapping (prot) of an empty file, where any touch is SIGBUS with BUS_ADRERR and the address, as for an I/O error on a
 * mapped kernel file.  That stays until the program maps the range again.
 */
void pg_fill_eager(struct pg_cache *c, struct core_open *open, int64_t off, uintptr_t start,
		   uintptr_t end, int prot) HIDDEN;
/*
 * Written pages of [start, end), write-protected again as they are
 * reported: up to max ranges into v (pairs of addresses); returns how
 * many, or -errno; *next is where to go on (end when done).
 */
long pg_written(uintptr_t start, uintptr_t end, uintptr_t (*v)[2], int max,
		uintptr_t *next) HIDDEN;
/* Write-protects [start, end) again (after a remap grew it). */
void pg_protect(uintptr_t start, uintptr_t end) HIDDEN;
/* fork: a child that holds no cache lets go of the parent's userfaultfd
   (the mode is decided again at its first need). */
void pg_fault_forget(void) HIDDEN;
/* fork: the child's userfaultfd made again (its fault thread comes with
   the first registration). */
int pg_fault_after_fork(void) HIDDEN;
/* In the child, the signal mask to restore once its fault thread is up:
   1 if that comes later (glibc's fork: atfork), 0 if now is the time. */
int pg_fault_mask_later(unsigned long mask) HIDDEN;
/* A mapping was just forgotten: returns once the fault thread no longer
   holds what it held then (its last reference to a description is never
   the last one). */
void pg_fault_quiesce(void) HIDDEN;
/* exit: the fault thread ends (mounts.c counts threads before destroy). */
void pg_fault_stop(void) HIDDEN;

/* The first page of [off, off+len) of the memfd that is a hole, or off+len. */
int64_t pg_hole(int fd, int64_t off, int64_t end) HIDDEN;
/* The first page of [off, end) that holds data, or end. */
int64_t pg_data(int fd, int64_t off, int64_t end) HIDDEN;
/* The memfd's size, or -errno. */
int64_t pg_size(int fd) HIDDEN;

#endif
