/*
 * defuse run [-m MOUNTPOINT=MODULE[:ARGS]]... [--] PROGRAM [ARGS...]
 *
 * Runs PROGRAM and its whole process tree with DEFUSE loaded and the given
 * mounts served in-process.  The mounts travel in DEFUSE_MOUNTS (one
 * MOUNTPOINT=MODULE[:ARGS] per line), which is also how to use the library
 * alone with LD_PRELOAD.  The CLI execs PROGRAM in its own place, so there
 * is no extra process: exit status, signals, the process tree and start-up
 * cost are the program's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/commands.h"
#include "cli/launch.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: defuse run [-m MOUNTPOINT=MODULE[:ARGS]]... [--] PROGRAM [ARGS...]\n"
		"  -m MOUNTPOINT=MODULE[:ARGS]  serve MOUNTPOINT (an existing directory)\n"
		"                               with MODULE (a name, or a path to a .so),\n"
		"                               passing it ARGS; e.g.\n"
		"                               -m /mnt/data=passthrough:/srv/data\n");
}

/* Checks what can be checked here; the module itself is checked at start. */
static int check_mount(const char *spec)
{
	const char *eq = strchr(spec, '=');
	char point[4096];
	struct stat st;

	if (!eq || eq == spec || !eq[1] || eq[1] == ':') {
		fprintf(stderr, "defuse run: -m '%s': expected MOUNTPOINT=MODULE[:ARGS]\n", spec);
		return -1;
	}
	if ((size_t)(eq - spec) >= sizeof(point)) {
		fprintf(stderr, "defuse run: -m '%s': mount point too long\n", spec);
		return -1;
	}
	memcpy(point, spec, eq - spec);
	point[eq - spec] = 0;
	if (stat(point, &st)) {
		fprintf(stderr, "defuse run: mount point %s: %s\n", point, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "defuse run: mount point %s: Not a directory\n", point);
		return -1;
	}
	if (strchr(spec, '\n')) {
		fprintf(stderr, "defuse run: -m '%s': newline in mount specification\n", spec);
		return -1;
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	size_t len = 0;
	char *mounts = NULL;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *spec;

		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (strncmp(argv[i], "-m", 2)) {
			fprintf(stderr, "defuse run: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
		spec = argv[i][2] ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : NULL);
		if (!spec) {
			fprintf(stderr, "defuse run: -m needs MOUNTPOINT=MODULE[:ARGS]\n");
			return 2;
		}
		if (check_mount(spec))
			return 2;
		mounts = realloc(mounts, len + strlen(spec) + 2);
		if (!mounts) {
			perror("defuse run");
			return 2;
		}
		len += sprintf(mounts + len, "%s%s", len ? "\n" : "", spec);
	}
	if (i >= argc) {
		fprintf(stderr, "defuse run: no program given\n");
		usage(stderr);
		return 2;
	}
	if (mounts)
		setenv("DEFUSE_MOUNTS", mounts, 1);
	return launch_exec(argv + i);
}
