/*
 * User-space paging: mmap of emulated files (docs/paging.md).
 *
 * One page cache per file in a process tree: a memfd, found by the file's
 * identity in a registry the tree shares.  Mappings of the file are
 * mappings of the memfd; pages are filled from the module on first touch
 * (userfaultfd), and pages written through a shared mapping go back to the
 * module at msync, munmap, close, exec and exit.  While a file has a cache,
 * read, write and truncate of it go through the cache too, so that they
 * and every mapping see the same bytes at once.
 *
 * emulated.c calls these; capture reaches the rest through entry.h.
 */
#ifndef DEFUSE_CORE_PAGER_H
#define DEFUSE_CORE_PAGER_H

#include <stddef.h>
#include <sys/types.h>
#include "kernel/kernel.h"

struct core_fd;
struct core_open;
struct pg_cache;

/*
 * The cache of f's file, or NULL when it has none in this process tree.
 * Cheap when nothing changed: one load of the tree's generation (none at
 * all while this process has no registry); looked up again (the module's
 * fgetattr) only when a cache appeared somewhere since f last looked.
 */
struct pg_cache *pager_of(struct core_fd *f) HIDDEN;

/* mmap of emulated file f (the program's call). */
long pager_mmap(const struct defuse_syscall *sc, struct core_fd *f) HIDDEN;

/* read and write of f's file through its cache c, at off (append: at the
   end, *off set to where the data went). */
long pager_read(struct pg_cache *c, struct core_fd *f, void *buf, size_t n, off_t off) HIDDEN;
long pager_write(struct pg_cache *c, struct core_fd *f, const void *buf, size_t n, off_t *off,
		 int append) HIDDEN;
/* ftruncate, and fallocate's modes that change the bytes or the size. */
long pager_truncate(struct pg_cache *c, struct core_fd *f, off_t size) HIDDEN;
long pager_fallocate(struct pg_cache *c, struct core_fd *f, int mode, off_t off, off_t len) HIDDEN;
/* The file's size as the cache has it, or -errno. */
long pager_size(struct pg_cache *c, off_t *size) HIDDEN;
/* Pages of c written through this process's mappings go to the module
   (fsync, and a description's close).  0 or the module's error. */
long pager_sync(struct pg_cache *c) HIDDEN;

/* At start-up (core_init): the registry an exec handed down
   (DEFUSE_PAGER), and DEFUSE_PAGING. */
void core_pager_init(const char *env) HIDDEN;

/* A description's last close in this process: it lets go of its cache. */
void pager_forget(struct core_open *o) HIDDEN;

/*
 * Before the module touches a program's buffer: pages of it that belong to
 * a mapping of an emulated file are made present first, so that the
 * module never faults on one while it holds its own locks (the fault
 * thread may need them to fill the page).  Free while no such mapping
 * exists.
 */
void pager_prefault(const void *buf, size_t n, int writing) HIDDEN;

#endif
