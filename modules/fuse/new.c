/*
 * The high-level handle: fuse_new's work (fc_new: options of libfuse's high
 * level, the module stack, the mount options), the loop (where a started
 * file system begins to be served: start.c), fuse_exit, fuse_destroy.
 * The entry points whose signatures differ between libfuse 2 and 3
 * (fuse_new, fuse_mount, fuse_loop_mt...) are each API's own: api3.c,
 * fuse2.c.
 */
#include "fc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LO(t, f, v) { t, offsetof(struct fuse_config, f), v }
static const struct fuse_opt lib_spec[] = {
	LO("debug", debug, 1),
	LO("-d", debug, 1),
	LO("kernel_cache", kernel_cache, 1),
	LO("auto_cache", auto_cache, 1),
	LO("noauto_cache", auto_cache, 0),
	LO("no_rofd_flush", no_rofd_flush, 1),
	LO("umask=", set_mode, 1),
	LO("umask=%o", umask, 0),
	LO("uid=", set_uid, 1),
	LO("uid=%d", uid, 0),
	LO("gid=", set_gid, 1),
	LO("gid=%d", gid, 0),
	LO("entry_timeout=%lf", entry_timeout, 0),
	LO("attr_timeout=%lf", attr_timeout, 0),
	LO("ac_attr_timeout=%lf", ac_attr_timeout, 0),
	LO("ac_attr_timeout=", ac_attr_timeout_set, 1),
	LO("negative_timeout=%lf", negative_timeout, 0),
	LO("noforget", remember, -1),
	LO("remember=%u", remember, 0),
	LO("modules=%s", modules, 0),
	LO("hard_remove", hard_remove, 1),
	LO("use_ino", use_ino, 1),
	LO("readdir_ino", readdir_ino, 1),
	LO("direct_io", direct_io, 1),
	LO("nullpath_ok", nullpath_ok, 1),
	LO("intr", intr, 1),
	LO("intr_signal=%d", intr_signal, 0),
	LO("-h", show_help, 1),
	LO("--help", show_help, 1),
	/* debug is the session's too */
	FUSE_OPT_KEY("debug", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("-d", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_END
};

int fc_is_lib_option(const char *opt)
{
	return fuse_opt_match(lib_spec, opt);
}

/* Pushes the modules named in conf.modules ("M1:M2"), M1 first. */
static int push_modules(struct fuse *f, struct fuse_args *args)
{
	char *list = f->conf.modules, *m, *next;

	for (m = list; m; m = next) {
		struct fuse_fs *fs;

		next = strchr(m, ':');
		if (next)
			*next++ = 0;
		if (!*m)
			continue;
		if (strcmp(m, "subdir")) {
			fuse_log(FUSE_LOG_ERR, "fuse: module '%s' is not available in process "
				 "(DEFUSE serves subdir only)\n", m);
			return -1;
		}
		fs = fc_subdir_new(args, f->fs);
		if (!fs)
			return -1;
		f->fs = fs;
	}
	return 0;
}

static void free_fs_stack(struct fuse_fs *fs)
{
	/* Before init no module has state of its own but its struct. */
	free(fs);
}

struct fuse *fc_new(struct fuse_args *args, const struct fuse_operations *op, size_t op_size,
		    void *user_data)
{
	struct fuse *f = calloc(1, sizeof(*f));
	struct fuse_session *se = calloc(1, sizeof(*se));

	if (!f || !se) {
		fuse_log(FUSE_LOG_ERR, "fuse: failed to allocate fuse object\n");
		goto fail;
	}
	f->conf.entry_timeout = 1.0;
	f->conf.attr_timeout = 1.0;
	f->conf.negative_timeout = 0.0;
	f->conf.intr_signal = SIGUSR1;
	if (fuse_opt_parse(args, &f->conf, lib_spec, NULL) == -1)
		goto fail;
	if (f->conf.show_help) {
		fuse_lib_help(args);
		goto fail;
	}
	f->fs = fuse_fs_new(op, op_size, user_data);
	if (!f->fs)
		goto fail;
	if (push_modules(f, args))
		goto fail;
	if (fc_parse_mount_opts(args, &f->mo) == -1)
		goto fail;
	if (fc_check_no_args(args))
		goto fail;
	se->f = f;
	se->inst = fc_starting;
	se->mo = f->mo;
	f->se = se;
	return f;
fail:
	if (f && f->fs)
		free_fs_stack(f->fs);
	if (f)
		free(f->conf.modules);
	free(f);
	free(se);
	return NULL;
}

FC_EXPORT struct fuse_session *fuse_get_session(struct fuse *f)
{
	return f->se;
}

/* The loops (fuse_loop here, fuse_loop_mt in each API's face): the start-up
   is over, the file system is served. */
int fc_loop(struct fuse *f, int single)
{
	struct fc_inst *in = fc_starting;

	if (!in || in->state != FC_STARTING || in->f) {
		fuse_log(FUSE_LOG_ERR, "fuse: event loop entered outside the file system's "
			 "start-up: not supported in process\n");
		return -1;
	}
	in->f = f;
	in->single = single;
	f->inst = in;
	f->se->inst = in;
	return fc_serve(in);
}

FC_EXPORT int fuse_loop(struct fuse *f)
{
	return fc_loop(f, 1);
}

/* The mount is gone: every later call answers ENOTCONN, as a FUSE mount
   whose daemon has ended. */
FC_EXPORT void fuse_exit(struct fuse *f)
{
	f->exited = 1;
	if (f->se)
		f->se->exited = 1;
}

FC_EXPORT void fuse_destroy(struct fuse *f)
{
	if (!f)
		return;
	if (f->inst && f->inst->initialized)
		fc_hl_destroy(f->inst);
	else if (f->fs)
		free_fs_stack(f->fs);
	f->fs = NULL;
	if (f->inst)
		f->inst->f = NULL;
	free(f->conf.modules);
	free(f->mo.fsname);
	free(f->mo.subtype);
	free(f->mountpoint);
	fc_session_close_fd(f->se);
	free(f->se);
	if (f->free_v2)
		f->free_v2(f->v2);
	free(f);
}

/* Nothing is cached in process: there is nothing to invalidate or clean. */
FC_EXPORT int fuse_invalidate_path(struct fuse *f, const char *path)
{
	(void)f;
	(void)path;
	return 0;
}

FC_EXPORT int fuse_start_cleanup_thread(struct fuse *f)
{
	(void)f;
	return 0;
}

FC_EXPORT void fuse_stop_cleanup_thread(struct fuse *f)
{
	(void)f;
}

FC_EXPORT int fuse_clean_cache(struct fuse *f)
{
	(void)f;
	return 3600;
}
