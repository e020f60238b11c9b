/*
 * Helpers shared by the capture test programs.
 *
 * Each program is a small, deterministic workload that exits 0 when it did
 * what it meant to do and 1 (with a message) otherwise.  They run under
 * strace and `defuse trace` at once (tests/capture/strace_compare.py), so
 * they must not depend on timing and must clean up after themselves.
 */
#ifndef DEFUSE_TEST_PROG_H
#define DEFUSE_TEST_PROG_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: check failed: %s (errno %d: %s)\n", \
				__FILE__, __LINE__, #cond, errno, strerror(errno)); \
			exit(1);                                            \
		}                                                           \
	} while (0)

/* Make a fresh directory under $TMPDIR (or /tmp); the caller removes it. */
static inline char *prog_mkdtemp(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	CHECK(asprintf(&path, "%s/defuse-%s-XXXXXX", base, tag) > 0);
	CHECK(mkdtemp(path) != NULL);
	return path;
}

#endif
