/*
 * defuse run [--] PROGRAM [ARGS...]
 *
 * Runs PROGRAM and its whole process tree with DEFUSE loaded.  The CLI
 * execs PROGRAM in its own place, so there is no extra process: exit
 * status, signals, the process tree and start-up cost are the program's.
 * Mounts (-m) come with the core; for now this is capture alone, which is
 * what the capture benchmarks measure.
 */
#include <stdio.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/launch.h"

int cmd_run(int argc, char **argv)
{
	int i = 1;

	if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
		printf("usage: defuse run [--] PROGRAM [ARGS...]\n");
		return 0;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	else if (i < argc && argv[i][0] == '-') {
		fprintf(stderr, "defuse run: unknown option '%s'\n", argv[i]);
		return 2;
	}
	if (i >= argc) {
		fprintf(stderr, "defuse run: no program given\n"
			"usage: defuse run [--] PROGRAM [ARGS...]\n");
		return 2;
	}
	return launch_exec(argv + i);
}
