/*
 * defuse trace [-c] [-f] [-o FILE] [--] PROGRAM [ARGS...]
 *
 * Like strace -c -f, but from inside the traced processes: nothing stops
 * them.  The counter table is a memfd that every traced process maps (see
 * src/trace/trace.h); lines go to FILE or stderr, written by the traced
 * processes themselves through /proc/<this pid>/fd/N.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/launch.h"
#include "cli/summary.h"
#include "trace/counters.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: defuse trace [-c] [-f] [-o FILE] [--] PROGRAM [ARGS...]\n"
		"  -c       count calls, errors and time per system call; print a\n"
		"           summary when the process tree exits\n"
		"  -f       follow forks and threads (the whole tree)\n"
		"  -o FILE  write to FILE instead of stderr\n");
}

int cmd_trace(int argc, char **argv)
{
	int count = 0, follow = 0, i, tfd = -1, ofd = -1, status;
	const char *outpath = NULL;
	struct trace_table *table = NULL;
	char spec[160], *env[2];
	FILE *out = stderr;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "-o")) {
			if (++i == argc) {
				fprintf(stderr, "defuse trace: -o needs a file name\n");
				return 2;
			}
			outpath = argv[i];
			continue;
		}
		/* Bundled short flags: -cf, -fc. */
		for (const char *f = a + 1; *f; f++) {
			if (*f == 'c')
				count = 1;
			else if (*f == 'f')
				follow = 1;
			else {
				fprintf(stderr, "defuse trace: unknown option '-%c'\n", *f);
				usage(stderr);
				return 2;
			}
		}
	}
	if (i >= argc) {
		fprintf(stderr, "defuse trace: no program given\n");
		usage(stderr);
		return 2;
	}
	if (outpath) {
		out = fopen(outpath, "we");	/* not inherited by the command */
		if (!out) {
			fprintf(stderr, "defuse trace: %s: %s\n", outpath, strerror(errno));
			return 2;
		}
	}
	if (count) {
		tfd = memfd_create("defuse-trace", MFD_CLOEXEC);
		if (tfd < 0 || ftruncate(tfd, sizeof(*table))) {
			perror("defuse trace: memfd");
			return 2;
		}
		table = mmap(NULL, sizeof(*table), PROT_READ | PROT_WRITE, MAP_SHARED, tfd, 0);
		if (table == MAP_FAILED) {
			perror("defuse trace: mmap");
			return 2;
		}
		table->magic = TRACE_MAGIC;
		table->nr_max = TRACE_NR_MAX;
	} else {
		fflush(out);
		ofd = fcntl(fileno(out), F_DUPFD_CLOEXEC, 3);
	}
	/* "root=self" becomes the command's pid in the child (launch.c). */
	snprintf(spec, sizeof(spec), "DEFUSE_TRACE=pid=%d,table=%d,out=%d,follow=%d,root=%s",
		 (int)getpid(), tfd, ofd, follow, "self");
	env[0] = spec;
	env[1] = NULL;
	status = launch_and_wait(argv + i, env, NULL);
	if (count) {
		trace_print_summary(out, table);
		fflush(out);
	}
	if (out != stderr)
		fclose(out);
	launch_exit_like(status);
}
