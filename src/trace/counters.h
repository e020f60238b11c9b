/*
 * The table `defuse trace -c` fills: one row per system call number, shared
 * by every process of the traced tree.
 *
 * `defuse trace` creates it in a memfd; each process maps it once at start-up
 * (through /proc/TRACER/fd/N, so the program never holds a descriptor for it)
 * and adds to it with atomic operations.  Shared memory rather than a report
 * at exit, so a process killed by a signal loses nothing.
 */
#ifndef DEFUSE_TRACE_COUNTERS_H
#define DEFUSE_TRACE_COUNTERS_H

#include <stdint.h>

#define TRACE_MAGIC   0x44465452u	/* "DFTR" */
#define TRACE_NR_MAX  1024		/* rows; larger numbers share the last row */

struct trace_row {
	uint64_t calls;
	uint64_t errors;	/* results in -4095..-1 */
	uint64_t nsec;		/* wall time inside the call, summed */
};

struct trace_table {
	uint32_t magic;
	uint32_t nr_max;
	uint64_t processes;	/* process images that attached */
	struct trace_row row[TRACE_NR_MAX];
};

#endif
