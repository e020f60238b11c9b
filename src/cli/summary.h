/*
 * The table `defuse trace -c` prints when the traced program is done, in
 * the layout of `strace -c` so that the two can be read (and diffed) side by
 * side.  Runs in the defuse CLI, not in the traced program.
 */
#ifndef DEFUSE_CLI_SUMMARY_H
#define DEFUSE_CLI_SUMMARY_H

#include <stdio.h>

#include "trace/counters.h"

/*
 * Prints one row per system call that was made, most time first (ties in
 * system call number order, as strace's stable sort leaves them), then a
 * total row.  Rows for numbers with no known name are left out, as strace
 * leaves out calls it cannot name; so is the shared overflow row.
 */
void trace_print_summary(FILE *out, const struct trace_table *t);

#endif
