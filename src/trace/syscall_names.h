/*
 * Names of the x86-64 system calls, as strace prints them.
 *
 * The numbers are the kernel's (asm/unistd_64.h, plus the calls that are
 * newer than the installed headers, up to Linux 6.18); the names are
 * strace's, which for x86-64 equal the kernel's.  Freestanding code (no libc):
 * the trace formatter runs inside captured system calls.
 */
#ifndef DEFUSE_TRACE_SYSCALL_NAMES_H
#define DEFUSE_TRACE_SYSCALL_NAMES_H

/* One past the highest number known here. */
#define SYSCALL_NR_LIMIT 470

/* "openat" for 257; NULL for numbers with no system call behind them. */
const char *syscall_name(long nr);

/* 257 for "openat"; -1 for names not known here. */
long syscall_number(const char *name);

/* How many arguments the call takes (0..6); -1 when nr is unknown. */
int syscall_nargs(long nr);

#endif
