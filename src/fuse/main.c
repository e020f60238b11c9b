/*
 * defuse-fuse: serves one DEFUSE module through kernel FUSE (libfuse3).
 *
 *     defuse-fuse [-f] [-s] [-d] [-o OPT[,OPT...]]... MOUNTPOINT MODULE[:ARGS]
 *
 * `defuse mount` execs it, so that the defuse CLI itself does not link
 * libfuse.  Everything that can fail is checked, and the module started,
 * before the mount is made; in daemon mode (no -f) the calling process
 * returns only once the mount is made (status 0) or has failed (non-zero,
 * with the reason on stderr), so a script can use the mount right after.
 * Options: docs/fuse.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/module_find.h"
#include "fuse/bridge.h"

#define ME "defuse mount"

struct bridge bridge;

/* What the command line asked for, apart from libfuse's own options. */
struct opts {
	int foreground, debug;
	long threads;		/* 1: single-threaded; 0: libfuse's default pool */
	long max_idle;		/* -1: libfuse's default */
	int clone_fd;
	const char *pidfile;
	const char *mountpoint, *spec;
	char *fuse_opts;	/* the rest, comma-separated, for libfuse */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: defuse mount MOUNTPOINT MODULE[:ARGS] [-o OPT[,OPT...]] [-f] [-s] [-d]\n"
		"  serves MODULE (a name, or a path to a .so) through kernel FUSE at\n"
		"  MOUNTPOINT; returns once the mount is live (with -f: stays in the\n"
		"  foreground and serves until unmounted)\n"
		"  -f            foreground\n"
		"  -s            single-threaded (same as -o threads=1)\n"
		"  -d            libfuse debug output (implies -f)\n"
		"  -o threads=N  serve with at most N threads (default: libfuse's pool\n"
		"                of 10; max_threads=N is the same)\n"
		"  -o max_idle_threads=N, -o clone_fd   thread pool tuning\n"
		"  -o pidfile=PATH   write the serving process's pid to PATH\n"
		"  -o ...        FUSE options: allow_other, default_permissions, ro,\n"
		"                attr_timeout=S, entry_timeout=S, negative_timeout=S,\n"
		"                kernel_cache, auto_cache, direct_io, writeback_cache,\n"
		"                auto_unmount,\n"
		"                max_read=N, max_write=N, max_readahead=N, ...\n"
		"  defaults: attr_timeout=0,entry_timeout=0,negative_timeout=0\n"
		"  (no kernel caching of names or attributes: see docs/fuse.md)\n");
}

static int append_opt(char **list, const char *opt)
{
	size_t old = *list ? strlen(*list) : 0;
	char *n = realloc(*list, old + strlen(opt) + 2);

	if (!n)
		return -1;
	sprintf(n + old, "%s%s", old ? "," : "", opt);
	*list = n;
	return 0;
}

static int parse_long(const char *opt, const char *v, long min, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno || !*v || *end || *out < min) {
		fprintf(stderr, ME ": bad -o %s: expected a number >= %ld\n", opt, min);
		return -1;
	}
	return 0;
}

/* One option of an -o list: ours is taken, anything else kept for libfuse. */
static int take_opt(struct opts *o, char *opt)
{
	if (!strncmp(opt, "pidfile=", 8)) {
		if (!opt[8]) {
			fprintf(stderr, ME ": -o pidfile= needs a path\n");
			return -1;
		}
		/* Absolute: the daemon leaves its working directory. */
		if (opt[8] == '/') {
			o->pidfile = opt + 8;
		} else {
			char cwd[PATH_MAX], *abs;

			if (!getcwd(cwd, sizeof(cwd)) ||
			    asprintf(&abs, "%s/%s", cwd, opt + 8) < 0) {
				perror(ME ": pidfile");
				return -1;
			}
			o->pidfile = abs;
		}
		return 0;
	}
	if (!strncmp(opt, "threads=", 8))
		return parse_long("threads", opt + 8, 1, &o->threads);
	if (!strncmp(opt, "max_threads=", 12))
		return parse_long("max_threads", opt + 12, 1, &o->threads);
	/* A mount option that libfuse 3.14 also wants in the connection's
	   settings at init (else "different maximum read size"): kept for
	   both. */
	if (!strncmp(opt, "max_read=", 9)) {
		long v;

		if (parse_long("max_read", opt + 9, 1, &v))
			return -1;
		bridge.max_read = (unsigned int)v;
	}
	/* A field of libfuse's configuration, but no option of libfuse 3.14. */
	if (!strcmp(opt, "direct_io")) {
		bridge.direct_io = 1;
		return 0;
	}
	if (!strncmp(opt, "max_idle_threads=", 17))
		return parse_long("max_idle_threads", opt + 17, 0, &o->max_idle);
	if (!strcmp(opt, "clone_fd")) {
		o->clone_fd = 1;
		return 0;
	}
	/* FUSE 2's switch: requests up to max_write are always on in FUSE 3. */
	if (!strcmp(opt, "big_writes"))
		return 0;
	if (!*opt) {
		fprintf(stderr, ME ": empty option in -o list\n");
		return -1;
	}
	if (append_opt(&o->fuse_opts, opt)) {
		perror(ME);
		return -1;
	}
	return 0;
}

/* Splits an -o list at commas that are not escaped with a backslash. */
static int take_opts(struct opts *o, char *list)
{
	char *start = list;

	for (char *p = list;; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == ',' || !*p) {
			int end = !*p;

			*p = 0;
			if (take_opt(o, start))
				return -1;
			if (end)
				return 0;
			start = p + 1;
		}
	}
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int npos = 0;

	memset(o, 0, sizeof(*o));
	o->max_idle = -1;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "-f")) {
			o->foreground = 1;
		} else if (!strcmp(a, "-s")) {
			o->threads = 1;
		} else if (!strcmp(a, "-d")) {
			o->debug = o->foreground = 1;
		} else if (!strncmp(a, "-o", 2)) {
			char *list = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);

			if (!list) {
				fprintf(stderr, ME ": -o needs options\n");
				return -1;
			}
			/* Split a copy: ps shows the options as given. */
			list = strdup(list);
			if (!list || take_opts(o, list))
				return -1;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, ME ": unknown option '%s'\n", a);
			return -1;
		} else if (npos == 0) {
			o->mountpoint = a;
			npos++;
		} else if (npos == 1) {
			o->spec = a;
			npos++;
		} else {
			fprintf(stderr, ME ": unexpected argument '%s'\n", a);
			return -1;
		}
	}
	if (npos < 2) {
		fprintf(stderr, ME ": expected MOUNTPOINT MODULE[:ARGS]\n");
		return -1;
	}
	return 0;
}

/*
 * A directory that is not already a mount (mounting over a mount hides it,
 * which is never what `defuse mount` is for) nor a FUSE mount whose daemon
 * is gone.  Fills real with its canonical path.
 */
static int check_mountpoint(const char *mp, char *real)
{
	struct statx x;
	struct stat st;

	if (stat(mp, &st)) {
		if (errno == ENOTCONN)
			fprintf(stderr, ME ": mount point %s: %s (a FUSE mount whose "
				"daemon is gone: defuse umount it first)\n", mp, strerror(errno));
		else
			fprintf(stderr, ME ": mount point %s: %s\n", mp, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, ME ": mount point %s: Not a directory\n", mp);
		return -1;
	}
	if (!realpath(mp, real)) {
		fprintf(stderr, ME ": mount point %s: %s\n", mp, strerror(errno));
		return -1;
	}
	if (!strcmp(real, "/")) {
		fprintf(stderr, ME ": cannot mount on /\n");
		return -1;
	}
	if (statx(AT_FDCWD, real, AT_NO_AUTOMOUNT | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
		  &x) == 0 && (x.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (x.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
		fprintf(stderr, ME ": mount point %s is busy: already a mount point "
			"(defuse umount it first)\n", real);
		return -1;
	}
	return 0;
}

/* libfuse would say only "fuse: device not found"; say what to do. */
static int check_device(void)
{
	struct stat st;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, ME ": cannot open /dev/fuse: %s (FUSE is not available here: "
			"load the fuse kernel module, or give the container the device)\n",
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode)) {
		fprintf(stderr, ME ": /dev/fuse is not the FUSE device (not a character "
			"device): FUSE is not available here\n");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Loads MODULE of MODULE[:ARGS] the way `defuse run` does, and starts it. */
static int start_module(const char *spec)
{
	char self[PATH_MAX], why[512] = "", *name;
	const char *colon = strchr(spec, ':');
	const struct defuse_module *mod;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int r;

	self[n > 0 ? n : 0] = 0;
	name = strndup(spec, colon ? (size_t)(colon - spec) : strlen(spec));
	if (!name || !*name) {
		fprintf(stderr, ME ": expected MODULE[:ARGS], got '%s'\n", spec);
		free(name);
		return -1;
	}
	mod = module_find(name, self, why, sizeof(why));
	if (!mod) {
		/* why names the module, as `defuse run` shows it */
		fprintf(stderr, ME ": %s\n", why);
		free(name);
		return -1;
	}
	r = mod_start(&bridge.ref, mod, DEFUSE_HOST_FUSE, colon ? colon + 1 : "", why,
		      sizeof(why));
	if (r < 0) {
		bridge.ref.ops = NULL;	/* started it was not: no destroy */
		fprintf(stderr, ME ": module '%s' failed to start: %s\n", name,
			why[0] ? why : strerror(-r));
		free(name);
		return -1;
	}
	free(name);
	return 0;
}

static void stop_module(void)
{
	if (bridge.ref.ops)
		mod_destroy(&bridge.ref);
}

/*
 * libfuse's arguments: our defaults first, so that the user's -o overrides
 * them, then, for the started module ref (NULL: none yet), "ro" for a
 * read-only one (module.h: the bridge mounts it read-only, so that the
 * kernel answers EROFS itself, in its order) and default_permissions for
 * one that wants the host's permission checks (DEFUSE_CAP_PERMISSIONS: the
 * kernel's are those).
 */
static int build_args(struct fuse_args *args, char *argv0, const struct opts *o,
		      const struct defuse_mount_ref *ref)
{
	int ro = ref && ref->readonly;
	int perms = ref && (ref->want & DEFUSE_CAP_PERMISSIONS);
	char defaults[256];

	snprintf(defaults, sizeof(defaults),
		 "attr_timeout=0,entry_timeout=0,negative_timeout=0,subtype=defuse,"
		 "fsname=defuse");
	return fuse_opt_add_arg(args, argv0) || fuse_opt_add_arg(args, "-o") ||
	       fuse_opt_add_arg(args, defaults) ||
	       (o->fuse_opts && (fuse_opt_add_arg(args, "-o") ||
				 fuse_opt_add_arg(args, o->fuse_opts))) ||
	       (ro && (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, "ro"))) ||
	       (perms && (fuse_opt_add_arg(args, "-o") ||
			  fuse_opt_add_arg(args, "default_permissions"))) ||
	       (o->debug && fuse_opt_add_arg(args, "-d"));
}

/* The operations for this module: record locks come to the bridge only
   when it can answer them as in process (ops.c, b_lock). */
static struct fuse_operations module_ops;

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
		fprintf(stderr, ME ": pidfile %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Daemon mode: the caller waits on a pipe for the serving child's word that
 * the mount is made, or for its exit.  Returns in the child only, with the
 * pipe's write end in *ready.
 */
static void daemonize(int *ready)
{
	int p[2], st = 0;
	char c = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		perror(ME ": pipe");
		exit(1);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror(ME ": fork");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		if (c == 'K')
			_exit(0);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1);
	}
	close(p[0]);
	setsid();
	*ready = p[1];
}

/* Stdio goes nowhere once the caller has its answer. */
static void detach(int ready)
{
	int null = open("/dev/null", O_RDWR);

	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (write(ready, "K", 1) != 1)
		_exit(1);
	close(ready);
}

static void on_interrupt(int sig)
{
	(void)sig;
}

/*
 * libfuse 3 interrupts a request (the caller got a signal: a blocking
 * flock, say) by signalling the thread that serves it (ops.c sets
 * cfg->intr); the signal only has to end the blocking call with EINTR.
 */
static int interrupt_signal(void)
{
	struct sigaction sa = { .sa_handler = on_interrupt };

	sigemptyset(&sa.sa_mask);
	return sigaction(BRIDGE_INTR_SIGNAL, &sa, NULL);
}

static int serve(struct fuse *f, const struct opts *o)
{
	struct fuse_loop_config *cfg;
	int r;

	if (o->threads == 1)
		return fuse_loop(f);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -1;
	if (o->threads > 1)
		fuse_loop_cfg_set_max_threads(cfg, (unsigned int)o->threads);
	if (o->max_idle >= 0)
		fuse_loop_cfg_set_idle_threads(cfg, (unsigned int)o->max_idle);
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned int)o->clone_fd);
	r = fuse_loop_mt(f, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char real[PATH_MAX];
	struct opts o;
	struct fuse *f;
	int ready = -1, r;

	if (parse_args(argc, argv, &o)) {
		fprintf(stderr, "(defuse mount --help shows the options)\n");
		return 2;
	}
	if (check_mountpoint(o.mountpoint, real) || check_device())
		return 1;

	if (build_args(&args, argv[0], &o, NULL)) {
		fprintf(stderr, ME ": out of memory\n");
		return 1;
	}
	bridge.conn_opts = fuse_parse_conn_info_opts(&args);
	if (!bridge.conn_opts) {
		fprintf(stderr, ME ": bad -o options\n");
		return 2;
	}
	/* The options checked here, in the caller's process; the session
	   that serves is made once the module said what it is. */
	f = fuse_new(&args, &bridge_ops, sizeof(bridge_ops), NULL);
	if (!f) {
		fprintf(stderr, ME ": bad -o options (libfuse's reason above)\n");
		return 2;
	}

	if (!o.foreground)
		daemonize(&ready);
	/* Started in the process that serves: its threads and descriptors
	   must be the server's. */
	if (start_module(o.spec)) {
		fuse_destroy(f);
		return 1;
	}
	fuse_destroy(f);
	fuse_opt_free_args(&args);
	free(bridge.conn_opts);
	module_ops = bridge_ops;
	if (!bridge_wants_lock())
		module_ops.lock = NULL;	/* the FUSE kernel module keeps them */
	if (build_args(&args, argv[0], &o, &bridge.ref) ||
	    !(bridge.conn_opts = fuse_parse_conn_info_opts(&args)) ||
	    !(f = fuse_new(&args, &module_ops, sizeof(module_ops), NULL))) {
		fprintf(stderr, ME ": cannot set up the FUSE session\n");
		stop_module();
		return 1;
	}
	bridge.uid = geteuid();
	bridge.gid = getegid();
	bridge.switch_creds = bridge.uid == 0;
	bridge.ngroups = getgroups(0, NULL);
	if (bridge.ngroups > 0) {
		bridge.groups = calloc((size_t)bridge.ngroups, sizeof(gid_t));
		if (!bridge.groups || getgroups(bridge.ngroups, bridge.groups) < 0)
			bridge.ngroups = 0;
	} else {
		bridge.ngroups = 0;
	}
	/* The kernel applied the caller's umask already. */
	umask(0);
	if (fuse_mount(f, real)) {
		fprintf(stderr, ME ": cannot mount on %s (libfuse's reason above)\n", real);
		fuse_destroy(f);
		stop_module();
		return 1;
	}
	if ((r = bridge_io_start(fuse_get_session(f))) < 0) {
		fprintf(stderr, ME ": cannot set up the FUSE session: %s\n", strerror(-r));
		fuse_unmount(f);
		fuse_destroy(f);
		stop_module();
		return 1;
	}
	if (o.pidfile && write_pidfile(o.pidfile)) {
		fuse_unmount(f);
		fuse_destroy(f);
		stop_module();
		return 1;
	}
	if (fuse_set_signal_handlers(fuse_get_session(f)) || interrupt_signal()) {
		fprintf(stderr, ME ": cannot set signal handlers\n");
		fuse_unmount(f);
		fuse_destroy(f);
		stop_module();
		return 1;
	}
	if (!o.foreground) {
		/* Not to keep the caller's directory busy; failing that is harmless. */
		if (chdir("/") < 0) {
		}
		detach(ready);
	}
	r = serve(f, &o);
	fuse_remove_signal_handlers(fuse_get_session(f));
	fuse_unmount(f);
	fuse_destroy(f);
	stop_module();
	if (o.pidfile)
		unlink(o.pidfile);
	fuse_opt_free_args(&args);
	free(o.fuse_opts);
	return r < 0 ? 1 : 0;
}
