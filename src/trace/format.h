/*
 * One system call as strace prints it, for `defuse trace`:
 *
 *     openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3
 *
 * Runs inside the traced program, in place of its system calls, so it is
 * freestanding (no libc, no vector registers; see common/util.h).  The
 * program's memory is read only through defuse_read_user(), never by
 * dereferencing its pointers, so that a bad pointer prints as hex instead of
 * crashing the program that passed it.
 */
#ifndef DEFUSE_TRACE_FORMAT_H
#define DEFUSE_TRACE_FORMAT_H

#include <stddef.h>

#include "common/fmt.h"

/*
 * Copies n bytes of the traced program's memory at src into dst.  Returns
 * the number of bytes copied (which may be short) or a negative errno
 * (-EFAULT for an unmapped address).  The capture engine implements it with
 * process_vm_readv(); trace/read_user_fallback.c has a plain-memcpy version
 * for unit tests.
 */
long defuse_read_user(void *dst, const void *src, unsigned long n);

/* Bytes of a data buffer or string argument shown, as strace's -s 32. */
#define TRACE_STRLEN		32
/* strace aligns " = result" so it starts at this column (-a 40). */
#define TRACE_RESULT_COLUMN	39

/*
 * Appends "name(args) = result" for system call nr with arguments arg[] and
 * raw result ret (a negative errno on failure), and returns how many bytes
 * it appended.  With finished == 0 the call never returned (exit_group, a
 * successful execve, a thread killed inside it): the result prints as "?"
 * and output arguments, which were never filled in, print as pointers.
 *
 * The result is aligned as strace aligns it, counting columns from the
 * start of the current line in out (the text after the last '\n'), so a
 * caller that writes its "[pid N] " prefix into the same buffer first gets
 * strace's layout exactly.  The caller adds the newline.
 */
size_t trace_format_call(struct fmt *out, long nr, const long arg[6], long ret,
			 int finished);

/*
 * The two halves of trace_format_call, for callers that must print the
 * arguments before the call: execve's strings are gone once it succeeds.
 * trace_format_args appends "name(args)"; output arguments are decoded only
 * when finished is set and ret is not an error.  trace_format_result
 * appends the padding and " = result".  Both return bytes appended.
 */
size_t trace_format_args(struct fmt *out, long nr, const long arg[6], long ret,
			 int finished);
size_t trace_format_result(struct fmt *out, long nr, const long arg[6], long ret,
			   int finished);

#endif
