#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "defuse_config.h"
#include "cli/launch.h"
#include "common/elf.h"

void (*launch_started_hook)(int root_pid);

static int readable_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int launch_find_preload(char *path, unsigned long cap)
{
	const char *env = getenv("DEFUSE_PRELOAD_LIB");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		if (!readable_file(env) || !realpath(env, path) || strlen(path) >= cap) {
			fprintf(stderr, "defuse: DEFUSE_PRELOAD_LIB=%s: not a readable file\n", env);
			return -1;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash && (size_t)(slash - exe) + sizeof("/libdefuse.so") < cap) {
			strcpy(slash, "/libdefuse.so");
			if (readable_file(exe)) {
				strcpy(path, exe);
				return 0;
			}
		}
	}
	if (snprintf(path, cap, "%s/libdefuse.so", DEFUSE_LIBDIR) < (int)cap &&
	    readable_file(path))
		return 0;
	fprintf(stderr, "defuse: cannot find libdefuse.so (looked next to the defuse "
		"executable and in %s); set DEFUSE_PRELOAD_LIB\n", DEFUSE_LIBDIR);
	return -1;
}

static volatile sig_atomic_t root_child;

/* Termination requests are for the command; the CLI waits for it to end. */
static void forward_signal(int sig)
{
	if (root_child > 0)
		kill(root_child, sig);
}

/* The mount points of DEFUSE_MOUNTS, canonical as the core makes them. */
struct points {
	char **p;
	int n;
};

static void read_points(const char *mounts, struct points *pts)
{
	int lines = 1;

	for (const char *c = mounts; *c; c++)
		lines += *c == '\n';
	pts->n = 0;
	pts->p = calloc(lines, sizeof(*pts->p));
	while (pts->p && *mounts) {
		size_t line = strcspn(mounts, "\n"), n = strcspn(mounts, "=\n");
		char *given = strndup(mounts, n);

		if (given && n) {
			/* `defuse run`'s are canonical already; by hand they
			   may not be. */
			char *real = realpath(given, NULL);

			pts->p[pts->n++] = real ? real : strdup(given);
		}
		free(given);
		mounts += line + (mounts[line] == '\n');
	}
}

static void free_points(struct points *pts)
{
	for (int i = 0; i < pts->n; i++)
		free(pts->p[i]);
	free(pts->p);
}

/*
 * Does the file name path (as execve would take it) lead into a mount?
 * Decided lexically, as the core routes a path (src/core/route.c): made
 * absolute with the working directory, then compared with the mount points
 * component by component.  A ".." could lead anywhere, and only the core
 * can follow it, so it counts as a yes.
 */
static int path_in_mount(const char *path, const struct points *pts)
{
	char abs[PATH_MAX], norm[PATH_MAX];
	size_t len = 0;

	if (path[0] == '/') {
		if (strlen(path) >= sizeof(abs))
			return 1;
		strcpy(abs, path);
	} else if (!getcwd(abs, sizeof(abs)) ||
		   strlen(abs) + strlen(path) + 2 > sizeof(abs)) {
		return 1;	/* cannot tell: let the core decide */
	} else {
		strcat(strcat(abs, "/"), path);
	}
	for (const char *c = abs; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 2 && c[0] == '.' && c[1] == '.')
			return 1;
		if (n && !(n == 1 && c[0] == '.')) {
			norm[len++] = '/';
			memcpy(norm + len, c, n);
			len += n;
		}
		c += n + (c[n] == '/');
	}
	norm[len] = 0;
	for (int i = 0; i < pts->n; i++) {
		size_t k = strlen(pts->p[i]);

		if (!strncmp(norm, pts->p[i], k) && (norm[k] == '/' || norm[k] == 0))
			return 1;
	}
	return 0;
}

int launch_in_mount(const char *prog, const char *mounts)
{
	const char *path = getenv("PATH");
	struct points pts;
	char cand[PATH_MAX];
	int in = 0;

	if (!mounts || !*mounts || !*prog)
		return 0;
	read_points(mounts, &pts);
	if (strchr(prog, '/')) {
		in = path_in_mount(prog, &pts);
	} else {
		/* The places execvp tries, in its way: glibc's default search
		   path when PATH is unset, an empty entry for the working
		   directory. */
		if (!path)
			path = "/bin:/usr/bin";
		for (;;) {
			size_t n = strcspn(path, ":");

			in = snprintf(cand, sizeof(cand), "%.*s%s%s", (int)n, path,
				      n ? "/" : "", prog) >= (int)sizeof(cand) ||
			     path_in_mount(cand, &pts);
			if (in || !path[n])
				break;
			path += n + 1;
		}
	}
	free_points(&pts);
	return in;
}

/*
 * A program libdefuse.so cannot be loaded into (statically linked, 32-bit:
 * common/elf.h) would see the mount points' empty directories, silently.
 * While mounts exist it is refused with one clear line, unless
 * DEFUSE_ALLOW_UNCAPTURED is set; libdefuse.so refuses its exec the same
 * way later in the tree (core/exec_resolve.c).  A program in a mount is
 * left to that check.  Looked up in PATH as execvp does.
 */
static int uncapturable(const char *prog)
{
	char path[PATH_MAX], head[4096];
	const char *dirs = getenv("PATH");
	ssize_t n = -1;
	int fd = -1;

	if (strchr(prog, '/')) {
		fd = open(prog, O_RDONLY | O_CLOEXEC);
	} else {
		for (const char *d = dirs ? dirs : "/usr/bin:/bin"; fd < 0 && *d;) {
			size_t len = strcspn(d, ":");

			if (snprintf(path, sizeof(path), "%.*s%s%s", (int)len, d, len ? "/" : "",
				     prog) < (int)sizeof(path) && access(path, X_OK) == 0)
				fd = open(path, O_RDONLY | O_CLOEXEC);
			d += len + (d[len] == ':');
		}
	}
	if (fd < 0)
		return 0;	/* exec says why */
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n <= 0 || elf_loads_preload(head, n) != 0)
		return 0;
	fprintf(stderr, "defuse: %s: a statically linked or 32-bit program cannot be served "
		"the mounts (DEFUSE_ALLOW_UNCAPTURED=1 runs it without them)\n", prog);
	return 1;
}

/*
 * Replaces this process by argv[0], searched in PATH as execvp does.
 *
 * This CLI is not captured (it is linked statically, and nothing preloads
 * it), so its own execve cannot reach a file inside a mount: the kernel
 * would see the empty directory under the mount point.  When the program
 * may be in a mount, the exec is therefore left to a small captured
 * program, env(1), whose execvp libdefuse.so serves (the core opens the
 * file through the module); env passes argv and the environment on
 * unchanged.  Everything else is exec'd directly: a second exec costs
 * about 0.7 ms of start-up.  env would take an operand with a '=' for a
 * variable and a lone "-" for -i, so those names go through sh(1), which
 * keeps the environment less exactly (it may drop or add variables).
 * A program the direct exec does not find goes that way too, since a
 * kernel symbolic link may lead into a mount.  Returns only if no exec
 * worked.
 */
static void exec_captured(char **argv)
{
	int argc = 0;
	char **via;

	while (argv[argc])
		argc++;
	via = calloc(argc + 4, sizeof(*via));
	if (!via)
		return;
	if (!strchr(argv[0], '=') && strcmp(argv[0], "-")) {
		/* env names itself by argv[0] in its messages
		   ("defuse: 'x': No such file or directory"). */
		via[0] = "defuse";
		via[1] = "--";
		memcpy(via + 2, argv, (argc + 1) * sizeof(*via));
		execv("/usr/bin/env", via);
	}
	via[0] = "/bin/sh";
	via[1] = "-c";
	via[2] = "exec \"$0\" \"$@\"";
	memcpy(via + 3, argv, (argc + 1) * sizeof(*via));
	execv(via[0], via);
	free(via);
	/* Neither is there: the program can then only be run from outside
	   the mounts. */
}

static void exec_program(char **argv)
{
	int e;

	if (getenv("DEFUSE_MOUNTS") && !getenv("DEFUSE_ALLOW_UNCAPTURED") &&
	    uncapturable(argv[0]))
		_exit(126);	/* as a shell for a program it cannot run */

	if (launch_in_mount(argv[0], getenv("DEFUSE_MOUNTS")))
		exec_captured(argv);
	execvp(argv[0], argv);
	/* Not found: a kernel symbolic link on the way may lead into a mount
	   (`~/bin -> /mnt/x/bin`), where the kernel sees the empty directory
	   under the mount point; a captured exec looks after that
	   (docs/core.md, "Kernel symbolic links into a mount"). */
	e = errno;
	if ((e == ENOENT || e == ENOTDIR) && getenv("DEFUSE_MOUNTS")) {
		exec_captured(argv);
		errno = e;
	}
}

/*
 * DEFUSE_SESSION: a secret every image of the tree inherits (capture puts
 * DEFUSE_* back into any environment an exec passes), which no process
 * outside the tree knows.  It lets an image that runs as another user (a
 * program exec'd by su or setpriv) join a server the tree started as root
 * (modules/shared: one file system instance for the whole tree), where
 * its user name alone would start a second one.  Without a random source
 * there is none, and such an image starts its own server, as before.
 */
static void set_session(void)
{
	unsigned char key[16];
	char hex[2 * sizeof(key) + 1];

	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		unsetenv("DEFUSE_SESSION");
		return;
	}
	for (size_t i = 0; i < sizeof(key); i++)
		sprintf(hex + 2 * i, "%02x", key[i]);
	setenv("DEFUSE_SESSION", hex, 1);
}

/* Sets the environment up for DEFUSE and replaces this process by argv. */
static void exec_with_preload(char **argv, char *const *extra_env, const char *preload)
{
	const char *old = getenv("LD_PRELOAD");
	char *value;

	for (char *const *e = extra_env; e && *e; e++) {
		/* "root=self" names the traced command: this very process. */
		char *self = strstr(*e, "root=self");

		if (self) {
			char *v = malloc(strlen(*e) + 16);

			if (!v)
				_exit(127);
			sprintf(v, "%.*sroot=%d%s", (int)(self - *e), *e, (int)getpid(),
				self + strlen("root=self"));
			putenv(v);
		} else {
			putenv(*e);
		}
	}
	if (old && *old) {
		value = malloc(strlen(preload) + strlen(old) + 2);
		if (!value)
			_exit(127);
		sprintf(value, "%s:%s", preload, old);
	} else {
		value = (char *)preload;
	}
	setenv("LD_PRELOAD", value, 1);
	/* The program starts a tree of its own, even when this command runs
	   inside another DEFUSE tree: a mount that cannot start must be
	   refused, not served as removed (core/mounts.c). */
	unsetenv("DEFUSE_INHERITED");
	set_session();
	exec_program(argv);
	fprintf(stderr, "defuse: cannot run %s: %s\n", argv[0], strerror(errno));
}

int launch_exec(char **argv, const char *preload)
{
	fflush(NULL);
	exec_with_preload(argv, NULL, preload);
	return errno == ENOENT ? 127 : 126;
}

void launch_exit_like(int wstatus)
{
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		struct rlimit none = { 0, 0 };
		sigset_t set;

		/* Die of the same signal, without a core of our own. */
		setrlimit(RLIMIT_CORE, &none);
		fflush(NULL);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		exit(128 + sig);
	}
	exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 127);
}

int launch_and_wait(char **argv, char *const *extra_env, int *root_pid_out)
{
	char preload[PATH_MAX];
	struct sigaction sa = { .sa_handler = forward_signal };
	int status = 0, root_status = -1;
	pid_t pid;

	if (launch_find_preload(preload, sizeof(preload)))
		return 127;
	/* Orphaned grandchildren are reparented to us, so "the tree exited"
	   is simply "no children left". */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("defuse: fork");
		return 127;
	}
	if (pid == 0) {
		exec_with_preload(argv, extra_env, preload);
		_exit(errno == ENOENT ? 127 : 126);
	}
	root_child = pid;
	if (root_pid_out)
		*root_pid_out = pid;
	if (launch_started_hook)
		launch_started_hook(pid);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGINT, SIG_IGN);	/* the terminal sends it to the command too */
	signal(SIGQUIT, SIG_IGN);
	for (;;) {
		pid_t w = waitpid(-1, &status, 0);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD: the whole tree is gone */
		}
		if (w == pid)
			root_status = status;
	}
	return root_status < 0 ? 127 << 8 : root_status;
}

/* ---- Finding modules ------------------------------------------------- */

/*
 * The places a module name is looked for, in order, exactly as
 * src/core/module_find.c looks (keep the two in step): each directory of
 * $DEFUSE_MODULE_PATH (NAME.so, then NAME/NAME.so), then beside the host,
 * that is libdefuse.so or defuse-fuse: HOSTDIR/modules/NAME.so (installed)
 * and HOSTDIR/../modules/NAME/NAME.so (the build tree).  The CLI looks
 * first so that a wrong name is reported here, with the places that
 * exist; the library and the bridge then load what was found.
 */
enum { FLAT = 1, NESTED = 2 };	/* NAME.so, NAME/NAME.so */

struct place {
	char dir[PATH_MAX];
	int forms;
	const char *what;
};

/* Calls fn for each place in search order; stops when fn returns non-zero
   and returns that. */
static int each_place(const char *host, int (*fn)(const struct place *, void *), void *ctx)
{
	const char *dirs = getenv("DEFUSE_MODULE_PATH");
	const char *slash = strrchr(host, '/');
	int hostlen = slash ? (int)(slash - host) : 0;
	struct place pl;
	int r;

	for (const char *d = dirs; d && *d;) {
		size_t n = strcspn(d, ":");

		snprintf(pl.dir, sizeof(pl.dir), "%.*s", (int)n, d);
		pl.forms = FLAT | NESTED;
		pl.what = "DEFUSE_MODULE_PATH";
		if ((r = fn(&pl, ctx)))
			return r;
		d += n + (d[n] == ':');
	}
	snprintf(pl.dir, sizeof(pl.dir), "%.*s/modules", hostlen, host);
	pl.forms = FLAT;
	pl.what = "installed";
	if ((r = fn(&pl, ctx)))
		return r;
	snprintf(pl.dir, sizeof(pl.dir), "%.*s/../modules", hostlen, host);
	pl.forms = NESTED;
	pl.what = "build tree";
	return fn(&pl, ctx);
}

struct lookup {
	const char *name;
	char *path;
	size_t cap;
};

static int regular(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int try_place(const struct place *pl, void *ctx)
{
	struct lookup *l = ctx;

	/* module_find writes an empty DEFUSE_MODULE_PATH entry as "", so
	   "/NAME.so": the same here. */
	if ((pl->forms & FLAT) &&
	    snprintf(l->path, l->cap, "%s/%s.so", pl->dir, l->name) < (int)l->cap &&
	    regular(l->path))
		return 1;
	if ((pl->forms & NESTED) &&
	    snprintf(l->path, l->cap, "%s/%s/%s.so", pl->dir, l->name, l->name) < (int)l->cap &&
	    regular(l->path))
		return 1;
	return 0;
}

int launch_find_module(const char *name, const char *host, char *path, unsigned long cap)
{
	struct lookup l = { name, path, cap };
	char real[PATH_MAX];

	/* The library anchors the search at its own canonical path. */
	if (realpath(host, real))
		host = real;
	return each_place(host, try_place, &l) ? 0 : -1;
}

struct report {
	const char *name;
	char **found;
	size_t nfound;
	int places;
	FILE *out;
};

static void add_found(struct report *r, const char *name, size_t len)
{
	char **more = realloc(r->found, (r->nfound + 1) * sizeof(*more));

	if (!more)
		return;
	r->found = more;
	if ((more[r->nfound] = strndup(name, len)))
		r->nfound++;
}

/* Notes the modules a place holds, for the "modules there" line. */
static void list_place(struct report *r, const char *dir, int forms)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if ((forms & FLAT) && n > 3 && !strcmp(e->d_name + n - 3, ".so") &&
		    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < (int)sizeof(p) && regular(p))
			add_found(r, e->d_name, n - 3);
		else if ((forms & NESTED) &&
			 snprintf(p, sizeof(p), "%s/%s/%s.so", dir, e->d_name, e->d_name) <
			 (int)sizeof(p) && regular(p))
			add_found(r, e->d_name, n);
	}
	closedir(d);
}

static int report_place(const struct place *pl, void *ctx)
{
	struct report *r = ctx;
	char real[PATH_MAX];
	struct stat st;

	/* Only places that exist: a directory that is not there was not
	   really looked in, and naming it sends the reader to the wrong
	   place. */
	if (stat(pl->dir, &st) || !S_ISDIR(st.st_mode)) {
		if (!strcmp(pl->what, "DEFUSE_MODULE_PATH"))
			fprintf(r->out, "  (DEFUSE_MODULE_PATH names %s, which is not a "
				"directory)\n", pl->dir[0] ? pl->dir : "\"\"");
		return 0;
	}
	if (!realpath(pl->dir, real))
		snprintf(real, sizeof(real), "%s", pl->dir);
	fprintf(r->out, "  %s (%s): ", real, pl->what);
	if (pl->forms & FLAT)
		fprintf(r->out, "%s.so%s", r->name, (pl->forms & NESTED) ? ", " : "");
	if (pl->forms & NESTED)
		fprintf(r->out, "%s/%s.so", r->name, r->name);
	fprintf(r->out, "\n");
	r->places++;
	list_place(r, real, pl->forms);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void launch_unknown_module(FILE *out, const char *who, const char *name, const char *host)
{
	struct report r = { name, NULL, 0, 0, out };
	char real[PATH_MAX];

	if (realpath(host, real))
		host = real;
	fprintf(out, "%s: unknown module '%s'; looked in:\n", who, name);
	each_place(host, report_place, &r);
	if (!r.places)
		fprintf(out, "  nowhere: no module directory exists (DEFUSE_MODULE_PATH, "
			"or beside %s)\n", host);
	if (r.nfound) {
		qsort(r.found, r.nfound, sizeof(*r.found), by_name);
		fprintf(out, "modules there:");
		for (size_t i = 0; i < r.nfound; i++) {
			if (!i || strcmp(r.found[i], r.found[i - 1]))
				fprintf(out, "%s %s", i ? "," : "", r.found[i]);
		}
		fprintf(out, "\n");
	} else if (r.places) {
		fprintf(out, "no modules there\n");
	}
	fprintf(out, "(DEFUSE_MODULE_PATH=DIR[:DIR...] adds directories to look in; "
		"a MODULE with a '/' is the path of its .so)\n");
	for (size_t i = 0; i < r.nfound; i++)
		free(r.found[i]);
	free(r.found);
}
