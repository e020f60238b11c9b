/*
 * defuse mount MOUNTPOINT MODULE[:ARGS] [-o OPTIONS] [-f] [-s] [-d]
 * defuse umount [-l] MOUNTPOINT
 *
 * The same module that `defuse run -m` loads into each process, served
 * through kernel FUSE for everything DEFUSE cannot capture.  `mount` execs
 * defuse-fuse (src/fuse), which links libfuse, so that this CLI does not;
 * `umount` unmounts only mounts that defuse-fuse made (type fuse.defuse).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "defuse_config.h"
#include "cli/commands.h"
#include "cli/launch.h"
#include "common/mountinfo.h"

/* defuse-fuse next to this executable (build tree, or installed beside it),
   else in the library directory. */
static int find_bridge(char *path, size_t cap)
{
	const char *env = getenv("DEFUSE_FUSE_BRIDGE");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (env && *env) {
		snprintf(path, cap, "%s", env);
		return access(path, X_OK);
	}
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			snprintf(path, cap, "%.*s/defuse-fuse", (int)(slash - exe), exe);
			if (access(path, X_OK) == 0)
				return 0;
		}
	}
	snprintf(path, cap, "%s/defuse-fuse", DEFUSE_LIBDIR);
	return access(path, X_OK);
}

/*
 * The module of MOUNTPOINT MODULE[:ARGS], found where defuse-fuse will look
 * (beside itself), so that an unknown name is reported with the places
 * that exist.  The rest of the command line is the bridge's to check: this
 * only skips what its parser skips (src/fuse/main.c).  Returns 0 when the
 * bridge should go on, else the exit status.
 */
static int check_module(int argc, char **argv, const char *bridge)
{
	const char *spec = NULL;
	char name[PATH_MAX], found[PATH_MAX];
	int npos = 0;
	size_t n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return 0;
		if (!strcmp(a, "-o"))
			i++;
		else if (!(a[0] == '-' && a[1]) && npos++ == 1)
			spec = a;
	}
	if (!spec)
		return 0;
	n = strcspn(spec, ":");
	if (!n || n >= sizeof(name))
		return 0;
	memcpy(name, spec, n);
	name[n] = 0;
	if (strchr(name, '/') || !launch_find_module(name, bridge, found, sizeof(found)))
		return 0;
	launch_unknown_module(stderr, "defuse mount", name, bridge);
	return 1;	/* the bridge's status for a module it cannot load */
}

int cmd_mount(int argc, char **argv)
{
	char bridge[PATH_MAX];
	int r;

	if (find_bridge(bridge, sizeof(bridge))) {
		fprintf(stderr, "defuse mount: cannot find defuse-fuse (looked next to the "
			"defuse executable and in %s; set DEFUSE_FUSE_BRIDGE)\n", DEFUSE_LIBDIR);
		return 127;
	}
	if ((r = check_module(argc, argv, bridge)))
		return r;
	argv[0] = bridge;
	fflush(NULL);
	execv(bridge, argv);
	fprintf(stderr, "defuse mount: cannot run %s: %s\n", bridge, strerror(errno));
	return 127;
}

static void umount_usage(FILE *out)
{
	fprintf(out, "usage: defuse umount [-l] MOUNTPOINT\n"
		"  unmounts a mount made by defuse mount; -l: lazily (detach now,\n"
		"  finish when no longer busy)\n");
}

/* The file-system type of the topmost mount at path, or "" if none. */
static void mount_type(const char *path, char *type, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL;
	size_t len = 0;

	type[0] = 0;
	if (!f)
		return;
	while (getline(&line, &len, f) > 0) {
		char *save = NULL, *point = NULL, *tok;
		int i = 0;

		/* ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE ... */
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), i++) {
			if (i == 4)
				point = tok;
			if (!strcmp(tok, "-"))
				break;
		}
		tok = strtok_r(NULL, " ", &save);
		if (!point || !tok)
			continue;
		mountinfo_unescape(point);
		if (!strcmp(point, path))
			snprintf(type, cap, "%s", tok);
	}
	free(line);
	fclose(f);
}

/*
 * Canonical path of a mount point.  A FUSE mount whose daemon is gone
 * answers nothing (ENOTCONN), so then only its parent is canonicalised.
 */
static int canonical(const char *p, char *out)
{
	char copy[PATH_MAX], *slash, *name;
	const char *dir;

	if (realpath(p, out))
		return 0;
	if (errno != ENOTCONN || snprintf(copy, sizeof(copy), "%s", p) >= (int)sizeof(copy))
		return -1;
	for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
		copy[n - 1] = 0;
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = 0;
		dir = slash == copy ? "/" : copy;
		name = slash + 1;
	} else {
		dir = ".";
		name = copy;
	}
	if (!realpath(dir, out) || strlen(out) + strlen(name) + 2 > PATH_MAX)
		return -1;
	if (strcmp(out, "/"))
		strcat(out, "/");
	strcat(out, name);
	return 0;
}

int cmd_umount(int argc, char **argv)
{
	char real[PATH_MAX], type[256];
	const char *mp = NULL;
	int lazy = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			umount_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-l")) {
			lazy = 1;
		} else if (argv[i][0] == '-' || mp) {
			fprintf(stderr, "defuse umount: unexpected argument '%s'\n", argv[i]);
			umount_usage(stderr);
			return 2;
		} else {
			mp = argv[i];
		}
	}
	if (!mp) {
		umount_usage(stderr);
		return 2;
	}
	if (canonical(mp, real)) {
		fprintf(stderr, "defuse umount: %s: %s\n", mp, strerror(errno));
		return 1;
	}
	mount_type(real, type, sizeof(type));
	if (!type[0]) {
		fprintf(stderr, "defuse umount: %s is not mounted\n", real);
		return 1;
	}
	if (strcmp(type, "fuse.defuse")) {
		fprintf(stderr, "defuse umount: %s is not a defuse mount (type %s)\n", real, type);
		return 1;
	}
	if (geteuid() == 0) {
		if (umount2(real, lazy ? MNT_DETACH : 0)) {
			fprintf(stderr, "defuse umount: %s: %s%s\n", real, strerror(errno),
				errno == EBUSY ? " (in use; -l detaches it now)" : "");
			return 1;
		}
		return 0;
	}
	/* Unprivileged mounts were made through fusermount3; so is the unmount. */
	fflush(NULL);
	if (lazy)
		execlp("fusermount3", "fusermount3", "-u", "-z", "--", real, (char *)NULL);
	else
		execlp("fusermount3", "fusermount3", "-u", "--", real, (char *)NULL);
	fprintf(stderr, "defuse umount: cannot run fusermount3: %s\n", strerror(errno));
	return 127;
}
