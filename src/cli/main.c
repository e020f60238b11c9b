/*
 * defuse: run programs with user-space file systems inside their own process.
 */
#include <stdio.h>
#include <string.h>
#include "defuse_config.h"
#include "cli/commands.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: defuse COMMAND [OPTIONS] [--] PROGRAM [ARGS...]\n"
		"\n"
		"commands:\n"
		"  run    run PROGRAM with every system call captured by DEFUSE\n"
		"  trace  count or print PROGRAM's system calls, like strace\n"
		"         (defuse trace [-c] [-f] [-o FILE] -- PROGRAM [ARGS...])\n"
		"  mount  serve a module through kernel FUSE, for every process\n"
		"         (defuse mount MOUNTPOINT MODULE[:ARGS] [-o OPTIONS] [-f])\n"
		"  umount unmount what defuse mount mounted (defuse umount MOUNTPOINT)\n"
		"\n"
		"defuse COMMAND --help shows a command's options; man defuse, all of\n"
		"them, and man defuse-module, how to write a module.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("defuse %s\n", DEFUSE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "trace"))
		return cmd_trace(argc - 1, argv + 1);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "mount"))
		return cmd_mount(argc - 1, argv + 1);
	if (!strcmp(argv[1], "umount"))
		return cmd_umount(argc - 1, argv + 1);
	fprintf(stderr, "defuse: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
