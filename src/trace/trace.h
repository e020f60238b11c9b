/*
 * The in-process half of `defuse trace`: counts and prints the calls of the
 * program it is loaded into.  The CLI half (src/cli/cmd_trace.c) sets the
 * DEFUSE_TRACE environment variable that this half reads at start-up.
 *
 * DEFUSE_TRACE=pid=P,table=T,out=O,follow=F,root=R
 *   P  pid of the `defuse trace` process, which holds the descriptors
 *   T  its descriptor number of the shared counter table (-1: no table)
 *   O  its descriptor number of the line output (-1: no lines)
 *   F  1 to trace every process and thread of the tree (-f)
 *   R  the traced command's pid: without -f only its main thread is traced
 */
#ifndef DEFUSE_TRACE_TRACE_H
#define DEFUSE_TRACE_TRACE_H

#include <stdint.h>
#include "kernel/kernel.h"

/* Reads DEFUSE_TRACE; returns 1 when this process image traces. */
int trace_init(const char *spec) HIDDEN;

/* Should a new thread or child process trace its calls (-f)? */
int trace_follows(void) HIDDEN;

/* Monotonic nanoseconds through the vDSO (no system call). */
uint64_t trace_now(void) HIDDEN;

/*
 * Counts one call as it starts, as strace does: a process killed inside a
 * call (SIGPIPE in write) has still made it.
 */
void trace_count(long nr) HIDDEN;

/*
 * Records how one counted call ended: errors, time, and its line when lines
 * are wanted.
 * finished == 0 for calls that do not return (exit, a successful execve):
 * they are recorded before they happen, with ret ignored.
 */
void trace_record(const struct defuse_syscall *sc, long ret, uint64_t ns,
		  int finished) HIDDEN;

/* Adds the error and time of an execve that came back (it failed). */
void trace_record_exec_failed(const struct defuse_syscall *sc, long ret,
			      uint64_t ns) HIDDEN;

#endif
