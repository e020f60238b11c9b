/*
 * Will an executable load libdefuse.so?  Only a dynamically linked x86-64
 * program does: LD_PRELOAD is the dynamic loader's.  A statically linked
 * or 32-bit one makes its system calls straight to the kernel, so DEFUSE
 * can neither serve its mounts to it nor see what it does.
 */
#ifndef DEFUSE_COMMON_ELF_H
#define DEFUSE_COMMON_ELF_H

#include <stddef.h>

/* head: the file's first n bytes (4096 hold the headers of any ordinary
   program).  1: a dynamically linked x86-64 ELF program; 0: an ELF
   program DEFUSE cannot be in; -1: no ELF program, or headers beyond
   head (the kernel decides what it is: a script, an error). */
int elf_loads_preload(const void *head, size_t n);

#endif
