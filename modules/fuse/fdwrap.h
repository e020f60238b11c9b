/*
 * The file system's own descriptors, kept out of the program's way
 * (fdwrap.c): note the loaded objects before loading the file system, then
 * redirect the descriptor calls of every object that came with it.
 */
#ifndef DEFUSE_FUSE_FDWRAP_H
#define DEFUSE_FUSE_FDWRAP_H

#include <stddef.h>

/* A table of wrappers: libc's name, the wrapper. */
struct fdwrap_entry {
	const char *name;
	void *fn;
};

/* The wrapper for name in table t of n entries, or NULL. */
void *fdwrap_find(const struct fdwrap_entry *t, size_t n, const char *name);

/* spawn.c's wrapper for an exec call, or NULL. */
void *spawn_wrapper_for(const char *name);

void *fdwrap_before(void);
void fdwrap_after(void *before, void *handle, void *not);

#endif
