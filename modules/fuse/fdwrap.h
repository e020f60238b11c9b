/*
 * The file system's own descriptors, kept out of the program's way
 * (fdwrap.c): note the loaded objects before loading the file system, then
 * redirect the descriptor calls of every object that came with it.
 */
#ifndef DEFUSE_FUSE_FDWRAP_H
#define DEFUSE_FUSE_FDWRAP_H

void *fdwrap_before(void);
void fdwrap_after(void *before, void *handle, void *not);

#endif
