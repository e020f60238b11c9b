/*
 * The start-up half of libfuse: the command line (fc_parse_cmdline, for
 * each API's fuse_parse_cmdline), mount options, help texts, logging, and the calls whose
 * job makes no sense in process and are absorbed: fuse_daemonize (no fork,
 * no chdir, no closing of standard streams: they are the program's),
 * signal handlers for unmounting (the program's signals stay its own).
 */
#include "fc.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FC_PKGVERSION "3.14.0 (DEFUSE in-process)"

/* ---- logging --------------------------------------------------------- */

static void default_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	vfprintf(stderr, fmt, ap);
}

static fuse_log_func_t log_func = default_log;

FC_EXPORT void fuse_set_log_func(fuse_log_func_t func)
{
	log_func = func ? func : default_log;
}

FC_EXPORT void fuse_log(enum fuse_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_func(level, fmt, ap);
	va_end(ap);
}

/* ---- versions (fuse_version: each API's own) ---------------------------- */

FC_EXPORT const char *fuse_pkgversion(void)
{
	return FC_PKGVERSION;
}

FC_EXPORT void fuse_lowlevel_version(void)
{
	printf("using FUSE kernel interface version 7.38 (served in process by DEFUSE)\n");
}

/* ---- help ------------------------------------------------------------ */

FC_EXPORT void fuse_cmdline_help(void)
{
	printf("    -h   --help            print help\n"
	       "    -V   --version         print version\n"
	       "    -d   -o debug          enable debug output (implies -f)\n"
	       "    -f                     foreground operation\n"
	       "    -s                     disable multi-threaded operation\n"
	       "    -o clone_fd            use separate fuse device fd for each thread\n"
	       "    -o max_idle_threads    the maximum number of idle worker threads\n"
	       "    -o max_threads         the maximum number of worker threads\n");
}

FC_EXPORT void fuse_lowlevel_help(void)
{
	printf("    -o allow_other         allow access by all users\n"
	       "    -o allow_root          allow access by root\n"
	       "    -o auto_unmount        auto unmount on process termination\n");
}

FC_EXPORT void fuse_lib_help(struct fuse_args *args)
{
	(void)args;
	printf("    -o kernel_cache        cache files in kernel\n"
	       "    -o [no]auto_cache      enable caching based on modification times (off)\n"
	       "    -o no_rofd_flush       disable flushing of read-only fd on close (off)\n"
	       "    -o umask=M             set file permissions (octal)\n"
	       "    -o uid=N               set file owner\n"
	       "    -o gid=N               set file group\n"
	       "    -o entry_timeout=T     cache timeout for names (1.0s)\n"
	       "    -o negative_timeout=T  cache timeout for deleted names (0.0s)\n"
	       "    -o attr_timeout=T      cache timeout for attributes (1.0s)\n"
	       "    -o ac_attr_timeout=T   auto cache timeout for attributes (attr_timeout)\n"
	       "    -o noforget            never forget cached inodes\n"
	       "    -o remember=T          remember cached inodes for T seconds (0s)\n"
	       "    -o modules=M1[:M2...]  names of modules to push onto filesystem stack\n"
	       "    -o hard_remove         immediate removal (don't hide files)\n"
	       "    -o use_ino             let filesystem set inode numbers\n"
	       "    -o readdir_ino         try to fill in d_ino in readdir\n"
	       "    -o direct_io           use direct I/O\n"
	       "    -o nullpath_ok         allow NULL paths for open files\n"
	       "\n"
	       "Options for subdir module:\n"
	       "    -o subdir=DIR          prepend this directory to all paths (mandatory)\n"
	       "    -o [no]rellinks        transform absolute symlinks to relative\n");
}

/* ---- the command line ------------------------------------------------ */

#define CO(t, f, v) { t, offsetof(struct fuse_cmdline_opts, f), v }
static const struct fuse_opt cmdline_spec[] = {
	CO("-h", show_help, 1),
	CO("--help", show_help, 1),
	CO("-V", show_version, 1),
	CO("--version", show_version, 1),
	CO("-d", debug, 1),
	CO("debug", debug, 1),
	CO("-d", foreground, 1),
	CO("debug", foreground, 1),
	FUSE_OPT_KEY("-d", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("debug", FUSE_OPT_KEY_KEEP),
	CO("-f", foreground, 1),
	CO("-s", singlethread, 1),
	CO("fsname=", nodefault_subtype, 1),
	FUSE_OPT_KEY("fsname=", FUSE_OPT_KEY_KEEP),
	CO("subtype=", nodefault_subtype, 1),
	FUSE_OPT_KEY("subtype=", FUSE_OPT_KEY_KEEP),
	CO("clone_fd", clone_fd, 1),
	CO("max_idle_threads=%u", max_idle_threads, 0),
	CO("max_threads=%u", max_threads, 0),
	FUSE_OPT_END
};

/* The mount point: the first non-option argument (made absolute, as
   libfuse does); a second one is an error. */
static int cmdline_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct fuse_cmdline_opts *o = data;
	char real[PATH_MAX];

	(void)out;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (o->mountpoint) {
		fuse_log(FUSE_LOG_ERR, "fuse: invalid argument `%s'\n", arg);
		return -1;
	}
	if (!realpath(arg, real)) {
		fuse_log(FUSE_LOG_ERR, "fuse: bad mount point `%s': %s\n", arg, strerror(errno));
		return -1;
	}
	o->mountpoint = strdup(real);
	return o->mountpoint ? 0 : -1;
}

int fc_parse_cmdline(struct fuse_args *args, struct fuse_cmdline_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_idle_threads = UINT_MAX;
	opts->max_threads = 10;
	return fuse_opt_parse(args, opts, cmdline_spec, cmdline_proc) == -1 ? -1 : 0;
}

/* ---- mount options --------------------------------------------------- */

#define MO(t, f, v) { t, offsetof(struct fc_mount_opts, f), v }
static const struct fuse_opt mount_spec[] = {
	MO("ro", ro, 1),
	MO("rw", ro, 0),
	MO("default_permissions", default_permissions, 1),
	MO("max_read=%u", max_read, 0),
	MO("fsname=%s", fsname, 0),
	MO("subtype=%s", subtype, 0),
	/* The kernel's and the mount helper's, meaningless in process. */
	FUSE_OPT_KEY("allow_other", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("allow_root", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto_unmount", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("blkdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("blksize=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nonempty", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("suid", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nosuid", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("dev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nodev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("exec", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noexec", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("async", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("sync", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("dirsync", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("atime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("diratime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nodiratime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("relatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("norelatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("strictatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nostrictatime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("lazytime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nolazytime", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("context=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("fscontext=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defcontext=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("rootcontext=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-d", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("debug", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("--debug", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

/* x-* options belong to mount(8)'s helpers; everything else unknown stays. */
static int mount_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	(void)data;
	(void)out;
	return key == FUSE_OPT_KEY_OPT && !strncmp(arg, "x-", 2) ? 0 : 1;
}

int fc_parse_mount_opts(struct fuse_args *args, struct fc_mount_opts *mo)
{
	return fuse_opt_parse(args, mo, mount_spec, mount_proc);
}

int fc_check_no_args(struct fuse_args *args)
{
	if (args->argc <= 1)
		return 0;
	fuse_log(FUSE_LOG_ERR, "fuse: unknown option(s): `");
	for (int i = 1; i < args->argc; i++)
		fuse_log(FUSE_LOG_ERR, "%s%s", args->argv[i], i + 1 < args->argc ? " " : "");
	fuse_log(FUSE_LOG_ERR, "'\n");
	return -1;
}

/* ---- conn options (fuse_parse_conn_info_opts) ------------------------ */

struct fuse_conn_info_opts {
	int atomic_o_trunc, no_remote_posix_lock, no_remote_flock, splice_write,
	    splice_move, splice_read, no_splice_write, no_splice_move, no_splice_read,
	    auto_inval_data, no_auto_inval_data, no_readdirplus, no_readdirplus_auto,
	    async_dio, no_async_dio, writeback_cache, no_writeback_cache, async_read,
	    sync_read;
	unsigned max_write, max_readahead, max_background, congestion_threshold,
		 time_gran;
	int set_max_write, set_max_readahead, set_max_background,
	    set_congestion_threshold, set_time_gran;
};

#define CI(t, f, v) { t, offsetof(struct fuse_conn_info_opts, f), v }
static const struct fuse_opt conn_spec[] = {
	CI("max_write=%u", max_write, 0), CI("max_write=", set_max_write, 1),
	CI("max_readahead=%u", max_readahead, 0), CI("max_readahead=", set_max_readahead, 1),
	CI("max_background=%u", max_background, 0),
	CI("max_background=", set_max_background, 1),
	CI("congestion_threshold=%u", congestion_threshold, 0),
	CI("congestion_threshold=", set_congestion_threshold, 1),
	CI("sync_read", sync_read, 1), CI("async_read", async_read, 1),
	CI("atomic_o_trunc", atomic_o_trunc, 1),
	CI("no_remote_lock", no_remote_posix_lock, 1),
	CI("no_remote_lock", no_remote_flock, 1),
	CI("no_remote_flock", no_remote_flock, 1),
	CI("no_remote_posix_lock", no_remote_posix_lock, 1),
	CI("splice_write", splice_write, 1), CI("no_splice_write", no_splice_write, 1),
	CI("splice_move", splice_move, 1), CI("no_splice_move", no_splice_move, 1),
	CI("splice_read", splice_read, 1), CI("no_splice_read", no_splice_read, 1),
	CI("auto_inval_data", auto_inval_data, 1),
	CI("no_auto_inval_data", no_auto_inval_data, 1),
	CI("readdirplus=no", no_readdirplus, 1),
	CI("readdirplus=yes", no_readdirplus, 0),
	CI("readdirplus=yes", no_readdirplus_auto, 1),
	CI("readdirplus=auto", no_readdirplus, 0),
	CI("readdirplus=auto", no_readdirplus_auto, 0),
	CI("async_dio", async_dio, 1), CI("no_async_dio", no_async_dio, 1),
	CI("writeback_cache", writeback_cache, 1),
	CI("no_writeback_cache", no_writeback_cache, 1),
	CI("time_gran=%u", time_gran, 0), CI("time_gran=", set_time_gran, 1),
	FUSE_OPT_END
};

FC_EXPORT struct fuse_conn_info_opts *fuse_parse_conn_info_opts(struct fuse_args *args)
{
	struct fuse_conn_info_opts *o = calloc(1, sizeof(*o));

	if (!o) {
		fuse_log(FUSE_LOG_ERR, "calloc failed\n");
		return NULL;
	}
	if (fuse_opt_parse(args, o, conn_spec, NULL) == -1) {
		free(o);
		return NULL;
	}
	return o;
}

static void want(struct fuse_conn_info *c, unsigned cap, int on, int off)
{
	if (on)
		c->want |= cap;
	if (off)
		c->want &= ~cap;
}

FC_EXPORT void fuse_apply_conn_info_opts(struct fuse_conn_info_opts *o,
					 struct fuse_conn_info *c)
{
	if (o->set_max_write)
		c->max_write = o->max_write;
	if (o->set_max_readahead)
		c->max_readahead = o->max_readahead;
	if (o->set_max_background)
		c->max_background = o->max_background;
	if (o->set_congestion_threshold)
		c->congestion_threshold = o->congestion_threshold;
	if (o->set_time_gran)
		c->time_gran = o->time_gran;
	want(c, FUSE_CAP_ASYNC_READ, o->async_read, o->sync_read);
	want(c, FUSE_CAP_ATOMIC_O_TRUNC, o->atomic_o_trunc, 0);
	want(c, FUSE_CAP_POSIX_LOCKS, 0, o->no_remote_posix_lock);
	want(c, FUSE_CAP_FLOCK_LOCKS, 0, o->no_remote_flock);
	want(c, FUSE_CAP_SPLICE_WRITE, o->splice_write, o->no_splice_write);
	want(c, FUSE_CAP_SPLICE_MOVE, o->splice_move, o->no_splice_move);
	want(c, FUSE_CAP_SPLICE_READ, o->splice_read, o->no_splice_read);
	want(c, FUSE_CAP_AUTO_INVAL_DATA, o->auto_inval_data, o->no_auto_inval_data);
	want(c, FUSE_CAP_READDIRPLUS, 0, o->no_readdirplus);
	want(c, FUSE_CAP_READDIRPLUS_AUTO, 0, o->no_readdirplus_auto);
	want(c, FUSE_CAP_ASYNC_DIO, o->async_dio, o->no_async_dio);
	want(c, FUSE_CAP_WRITEBACK_CACHE, o->writeback_cache, o->no_writeback_cache);
	/* What this host cannot do is simply not wanted. */
	c->want &= c->capable;
}

/* ---- absorbed ------------------------------------------------------------ */

/* In process there is nothing to detach from: the "daemon" is the
   program itself, and its cwd and standard streams are its own. */
FC_EXPORT int fuse_daemonize(int foreground)
{
	(void)foreground;
	return 0;
}

/* Unmounting on SIGINT, SIGTERM and SIGHUP is the kernel mount's concern;
   in process those signals are the program's. */
FC_EXPORT int fuse_set_signal_handlers(struct fuse_session *se)
{
	(void)se;
	return 0;
}

FC_EXPORT void fuse_remove_signal_handlers(struct fuse_session *se)
{
	(void)se;
}

FC_EXPORT void fuse_pollhandle_destroy(struct fuse_pollhandle *ph)
{
	(void)ph;
}

FC_EXPORT int fuse_notify_poll(struct fuse_pollhandle *ph)
{
	(void)ph;
	return 0;
}

FC_EXPORT int fuse_open_channel(const char *mountpoint, const char *options)
{
	(void)mountpoint;
	(void)options;
	fuse_log(FUSE_LOG_ERR, "fuse: no /dev/fuse channel in process (DEFUSE)\n");
	return -1;
}

/* ---- loop configuration ------------------------------------------------ */

struct fuse_loop_config {
	int clone_fd;
	unsigned int max_idle_threads, max_threads;
};

FC_EXPORT struct fuse_loop_config *fuse_loop_cfg_create(void)
{
	struct fuse_loop_config *c = calloc(1, sizeof(*c));

	if (c) {
		c->max_idle_threads = UINT_MAX;
		c->max_threads = 10;
	}
	return c;
}

FC_EXPORT void fuse_loop_cfg_destroy(struct fuse_loop_config *c)
{
	free(c);
}

FC_EXPORT void fuse_loop_cfg_set_idle_threads(struct fuse_loop_config *c, unsigned int v)
{
	c->max_idle_threads = v;
}

FC_EXPORT void fuse_loop_cfg_set_max_threads(struct fuse_loop_config *c, unsigned int v)
{
	c->max_threads = v;
}

FC_EXPORT void fuse_loop_cfg_set_clone_fd(struct fuse_loop_config *c, unsigned int v)
{
	c->clone_fd = v;
}

FC_EXPORT void fuse_loop_cfg_convert(struct fuse_loop_config *c, struct fuse_loop_config_v1 *v1)
{
	c->clone_fd = v1->clone_fd;
	c->max_idle_threads = v1->max_idle_threads;
}
