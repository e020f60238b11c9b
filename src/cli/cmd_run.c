/*
 * defuse run [-m MOUNTPOINT=MODULE[:ARGS]]... [--] PROGRAM [ARGS...]
 *
 * Runs PROGRAM and its whole process tree with DEFUSE loaded and the given
 * mounts served in-process.  The mounts travel in DEFUSE_MOUNTS (one
 * MOUNTPOINT=MODULE[:ARGS] per line), which is also how to use the library
 * alone with LD_PRELOAD.  The CLI execs PROGRAM in its own place, so there
 * is no extra process: exit status, signals, the process tree and start-up
 * cost are the program's (launch.c: a program inside a mount is exec'd
 * through env(1), in the same process).
 *
 * Every process image reads DEFUSE_MOUNTS afresh, in whatever directory the
 * program has moved to by then: so everything relative in it (mount
 * points, module paths, passthrough's DIR) is made absolute here, once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "defuse_config.h"
#include "cli/commands.h"
#include "cli/launch.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: defuse run [-m MOUNTPOINT=MODULE[:ARGS]]... [--] PROGRAM [ARGS...]\n"
		"\n"
		"Runs PROGRAM, and every process it starts, with each system call seen\n"
		"by DEFUSE first; calls on a mount are served by its module, in process.\n"
		"\n"
		"  -m MOUNTPOINT=MODULE[:ARGS]\n"
		"        serve MOUNTPOINT (an existing directory) with MODULE, which gets\n"
		"        ARGS (everything after the first ':').  Repeat for more mounts;\n"
		"        each mount point once, and none inside another.  A relative\n"
		"        MOUNTPOINT or module path is taken from the current directory.\n"
		"  -h, --help   this text\n"
		"\n"
		"Modules and their ARGS:\n"
		"  passthrough:DIR           the directory DIR, kernel-backed: the program\n"
		"                            gets real descriptors, reads and writes are\n"
		"                            the kernel's\n"
		"  passthrough:emulated=DIR  the directory DIR, every read and write served\n"
		"                            by the module (a directory named emulated=...\n"
		"                            is written ./emulated=...)\n"
		"  passthrough:emulated-nomap=DIR\n"
		"                            emulated, and mmap served by DEFUSE's pager\n"
		"  memfs:NAME[,size=N]       a file system in shared memory, no kernel file\n"
		"                            behind it; every process mounting NAME sees\n"
		"                            the same files (/dev/shm/defuse-memfs.NAME)\n"
		"  nfs:nfs://SERVER/EXPORT[,OPTION...]\n"
		"                            an NFSv3 export, spoken to in process\n"
		"  fuse:FS[:ARGS]            a FUSE file system in process: FS a shared\n"
		"                            object built from its source or an installed\n"
		"                            program (libfuse 3 or 2), ARGS its own command\n"
		"                            line without the mount point\n"
		"  shared:MODULE[:ARGS]      one instance of MODULE for the whole tree, in a\n"
		"                            server process (fuse2fs, sshfs: state that\n"
		"                            must be one): shared:fuse:/usr/bin/fuse2fs:IMG\n"
		"  hello                     no ARGS: a read-only file system of one file,\n"
		"                            /hello (the example for module authors)\n"
		"  A relative DIR is taken from the current directory.\n"
		"\n"
		"Finding MODULE: a MODULE with a '/' is the path of its .so.  A name NAME\n"
		"is looked for, in this order, as\n"
		"  NAME.so and NAME/NAME.so in each directory of DEFUSE_MODULE_PATH\n"
		"    (':'-separated),\n"
		"  NAME.so in %s/modules (installed),\n"
		"  NAME/NAME.so in build/modules (a build tree: beside build/src, which\n"
		"    holds libdefuse.so).\n"
		"\n"
		"PROGRAM may be inside a mount, or found through a PATH entry inside one.\n"
		"Exit status: PROGRAM's; 127 if PROGRAM, the module or a mount could not\n"
		"start, 126 if PROGRAM could not be executed, 2 for a bad command line.\n"
		"\n"
		"  defuse run -m /mnt/data=passthrough:/srv/data -- make -j2\n"
		"  defuse run -m /tmp/h=hello -- cat /tmp/h/hello\n"
		"More: man defuse; writing a module: man defuse-module.\n",
		DEFUSE_LIBDIR);
}

/* One -m, as given and as handed on. */
struct mount {
	const char *spec;	/* as given, for messages */
	char point[PATH_MAX];	/* canonical */
	char *line;		/* POINT=MODULE[:ARGS] for DEFUSE_MOUNTS */
};

/* Is module the one called name (given by name or as NAME.so)? */
static int is_module(const char *module, const char *name)
{
	const char *base = strrchr(module, '/');
	size_t n = strlen(name);

	if (!base)
		return !strcmp(module, name);
	return !strncmp(base + 1, name, n) && !strcmp(base + 1 + n, ".so");
}

/*
 * The ARGS whose paths this CLI knows, so that a relative one works
 * wherever the program goes: passthrough's DIR or MODE=DIR
 * (modules/passthrough), and the fuse module's file system,
 * [--mountpoint=P:]FS[:ARGS] when FS is a path (modules/fuse).  Returns
 * args with that path made absolute; malloc'd.
 */
static char *absolute_args(const char *module, const char *args)
{
	const char *dir = args;
	char cwd[PATH_MAX], *out;
	size_t pre;

	if (is_module(module, "passthrough")) {
		/* MODE=DIR (emulated=, emulated-nomap=): the part after '=' */
		const char *eq = strchr(dir, '='), *slash = strchr(dir, '/');

		if (eq && (!slash || eq < slash))
			dir = eq + 1;
	} else if (is_module(module, "fuse")) {
		if (!strncmp(dir, "--mountpoint=", 13) && strchr(dir, ':'))
			dir = strchr(dir, ':') + 1;
		if (!memchr(dir, '/', strcspn(dir, ":")))
			return strdup(args);	/* a name, found by the module */
	} else {
		return strdup(args);
	}
	if (!*dir || *dir == '/')
		return strdup(args);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	pre = dir - args;
	out = malloc(pre + strlen(cwd) + strlen(dir) + 2);
	if (out)
		sprintf(out, "%.*s%s/%s", (int)pre, args, cwd, dir);
	return out;
}

/*
 * Checks one -m and builds its DEFUSE_MOUNTS line with everything made
 * absolute.  Returns 0, or the exit status after saying why not: 2 for
 * a bad specification, 127 for a module that cannot be found (as the
 * library would end the program).
 */
static int take_mount(const char *spec, const char *preload, struct mount *m)
{
	const char *eq = strchr(spec, '='), *colon;
	char given[PATH_MAX], modpath[PATH_MAX], *module, *args;
	struct stat st;
	int r = 2;

	m->spec = spec;
	m->line = NULL;
	if (!eq || eq == spec || !eq[1] || eq[1] == ':') {
		fprintf(stderr, "defuse run: -m '%s': expected MOUNTPOINT=MODULE[:ARGS]\n", spec);
		return 2;
	}
	if (strchr(spec, '\n')) {
		fprintf(stderr, "defuse run: -m '%s': newline in mount specification\n", spec);
		return 2;
	}
	if ((size_t)(eq - spec) >= sizeof(given)) {
		fprintf(stderr, "defuse run: -m '%s': mount point too long\n", spec);
		return 2;
	}
	memcpy(given, spec, eq - spec);
	given[eq - spec] = 0;
	if (stat(given, &st)) {
		fprintf(stderr, "defuse run: mount point %s: %s\n", given, strerror(errno));
		return 2;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "defuse run: mount point %s: Not a directory\n", given);
		return 2;
	}
	if (!realpath(given, m->point)) {
		fprintf(stderr, "defuse run: mount point %s: %s\n", given, strerror(errno));
		return 2;
	}
	if (!strcmp(m->point, "/")) {
		fprintf(stderr, "defuse run: -m '%s': cannot mount on /\n", spec);
		return 2;
	}
	/* The library splits each line at its first '=' and newline. */
	if (strpbrk(m->point, "=\n")) {
		fprintf(stderr, "defuse run: mount point %s: a '=' or newline in its path "
			"cannot be passed on\n", m->point);
		return 2;
	}

	colon = strchr(eq + 1, ':');
	module = strndup(eq + 1, colon ? (size_t)(colon - eq - 1) : strlen(eq + 1));
	if (!module)
		goto oom;
	if (strchr(module, '/')) {
		/* A path: the library dlopens it as given, in each image. */
		const char *why = NULL;

		if (stat(module, &st) || !realpath(module, modpath))
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		if (why) {
			fprintf(stderr, "defuse run: -m '%s': module %s: %s\n", spec, module, why);
			goto fail;
		}
		if (strpbrk(modpath, ":\n")) {
			fprintf(stderr, "defuse run: module %s: a ':' or newline in its path "
				"cannot be passed on\n", modpath);
			goto fail;
		}
	} else {
		if (launch_find_module(module, preload, modpath, sizeof(modpath))) {
			launch_unknown_module(stderr, "defuse run", module, preload);
			r = 127;
			goto fail;
		}
		/* Passed on by name: the library finds the same file. */
		snprintf(modpath, sizeof(modpath), "%s", module);
	}
	args = absolute_args(modpath, colon ? colon + 1 : "");
	if (!args)
		goto oom;
	m->line = malloc(strlen(m->point) + strlen(modpath) + strlen(args) + 3);
	if (m->line)
		sprintf(m->line, "%s=%s%s%s", m->point, modpath, colon ? ":" : "", args);
	free(args);
	if (!m->line)
		goto oom;
	free(module);
	return 0;
oom:
	fprintf(stderr, "defuse run: %s\n", strerror(ENOMEM));
fail:
	free(module);
	return r;
}

/*
 * The core finds a path's mount by the mount points on its way until it
 * enters one, and from there the module resolves the rest (passthrough
 * even the whole rest at once): a mount inside another would never be
 * entered, so it is refused rather than silently ignored.  The same point
 * twice would leave the second mount unused.
 */
static int check_overlaps(const struct mount *m, int n)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			size_t len = strlen(m[j].point);

			if (i == j)
				continue;
			if (i > j && !strcmp(m[i].point, m[j].point)) {
				fprintf(stderr, "defuse run: mount point %s given twice "
					"(-m '%s' and -m '%s')\n", m[i].point, m[j].spec, m[i].spec);
				return 2;
			}
			if (!strncmp(m[i].point, m[j].point, len) && m[i].point[len] == '/') {
				fprintf(stderr, "defuse run: mount point %s (-m '%s') is inside "
					"mount point %s (-m '%s'): mounts inside mounts are not "
					"supported\n", m[i].point, m[i].spec, m[j].point, m[j].spec);
				return 2;
			}
		}
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	char preload[PATH_MAX], *mounts = NULL;
	const char **specs;
	struct mount *m;
	int i, n = 0, r = 0;
	size_t len = 0;

	specs = calloc(argc, sizeof(*specs));
	if (!specs) {
		perror("defuse run");
		return 2;
	}
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
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
		specs[n] = argv[i][2] ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : NULL);
		if (!specs[n]) {
			fprintf(stderr, "defuse run: -m needs MOUNTPOINT=MODULE[:ARGS]\n");
			return 2;
		}
		n++;
	}
	if (i >= argc) {
		fprintf(stderr, "defuse run: no program given\n");
		usage(stderr);
		return 2;
	}
	if (launch_find_preload(preload, sizeof(preload)))
		return 127;
	m = calloc(n + 1, sizeof(*m));
	if (!m) {
		perror("defuse run");
		return 2;
	}
	for (int k = 0; k < n && !r; k++) {
		r = take_mount(specs[k], preload, &m[k]);
		if (!r)
			len += strlen(m[k].line) + 1;
	}
	if (!r)
		r = check_overlaps(m, n);
	if (r)
		return r;
	if (n) {
		mounts = malloc(len);
		if (!mounts) {
			perror("defuse run");
			return 2;
		}
		len = 0;
		for (int k = 0; k < n; k++)
			len += sprintf(mounts + len, "%s%s", k ? "\n" : "", m[k].line);
		setenv("DEFUSE_MOUNTS", mounts, 1);
	}
	return launch_exec(argv + i, preload);
}
