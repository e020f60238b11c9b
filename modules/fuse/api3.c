/*
 * libfuse 3's face: the entry points whose names libfuse 2 uses for
 * other signatures (fuse_new, fuse_mount, fuse_unmount, fuse_loop_mt,
 * fuse_parse_cmdline, fuse_main_real, fuse_version), with every version
 * libfuse 3 exports them under (.symver).  Only the libfuse3.so.3
 * stand-in has this file; the libfuse.so.2 one has fuse2.c instead.  What
 * they do is the shared core's (new.c, cmdline.c, ll.c).
 */
#include "fc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int fc_libfuse_major = 3;

void fc_reply_fi(const struct fuse_file_info *given, struct fuse_file_info *out)
{
	*out = *given;
}

struct fuse *fuse_new_31(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *user_data);
FC_EXPORT struct fuse *fuse_new_31(struct fuse_args *args, const struct fuse_operations *op,
				   size_t op_size, void *user_data)
{
	return fc_new(args, op, op_size, user_data);
}
__asm__(".symver fuse_new_31, fuse_new@@FUSE_3.1");

/* libfuse 3.0's fuse_new: the same here. */
struct fuse *fuse_new_30(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *user_data);
FC_EXPORT struct fuse *fuse_new_30(struct fuse_args *args, const struct fuse_operations *op,
				   size_t op_size, void *user_data)
{
	return fc_new(args, op, op_size, user_data);
}
__asm__(".symver fuse_new_30, fuse_new@FUSE_3.0");

/* Nothing to mount: the DEFUSE host serves the mount point. */
FC_EXPORT int fuse_mount(struct fuse *f, const char *mountpoint)
{
	free(f->mountpoint);
	f->mountpoint = strdup(mountpoint ? mountpoint : "");
	return f->mountpoint ? 0 : -1;
}

FC_EXPORT void fuse_unmount(struct fuse *f)
{
	(void)f;
}

int fuse_loop_mt_312(struct fuse *f, struct fuse_loop_config *config);
FC_EXPORT int fuse_loop_mt_312(struct fuse *f, struct fuse_loop_config *config)
{
	(void)config;
	return fc_loop(f, 0);
}
__asm__(".symver fuse_loop_mt_312, fuse_loop_mt@@FUSE_3.12");

int fuse_loop_mt_32(struct fuse *f, struct fuse_loop_config_v1 *config);
FC_EXPORT int fuse_loop_mt_32(struct fuse *f, struct fuse_loop_config_v1 *config)
{
	(void)config;
	return fc_loop(f, 0);
}
__asm__(".symver fuse_loop_mt_32, fuse_loop_mt@FUSE_3.2");

int fuse_loop_mt_31(struct fuse *f, int clone_fd);
FC_EXPORT int fuse_loop_mt_31(struct fuse *f, int clone_fd)
{
	(void)clone_fd;
	return fc_loop(f, 0);
}
__asm__(".symver fuse_loop_mt_31, fuse_loop_mt@FUSE_3.0");

int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config);
FC_EXPORT int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config)
{
	(void)config;
	return fc_session_loop(se, 0);
}
__asm__(".symver fuse_session_loop_mt_312, fuse_session_loop_mt@@FUSE_3.12");

int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config_v1 *config);
FC_EXPORT int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config_v1 *config)
{
	(void)config;
	return fc_session_loop(se, 0);
}
__asm__(".symver fuse_session_loop_mt_32, fuse_session_loop_mt@FUSE_3.2");

int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd);
FC_EXPORT int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd)
{
	(void)clone_fd;
	return fc_session_loop(se, 0);
}
__asm__(".symver fuse_session_loop_mt_31, fuse_session_loop_mt@FUSE_3.0");

int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts);
FC_EXPORT int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts)
{
	return fc_parse_cmdline(args, opts);
}
__asm__(".symver fuse_parse_cmdline_312, fuse_parse_cmdline@@FUSE_3.12");

/* fuse_cmdline_opts of libfuse 3.0 to 3.11 ends before max_threads. */
struct cmdline_opts_30 {
	int singlethread;
	int foreground;
	int debug;
	int nodefault_subtype;
	char *mountpoint;
	int show_version;
	int show_help;
	int clone_fd;
	unsigned int max_idle_threads;
};

/* The 3.0 version: its struct has no max_threads, so it must not be written. */
int fuse_parse_cmdline_30(struct fuse_args *args, struct cmdline_opts_30 *opts);
FC_EXPORT int fuse_parse_cmdline_30(struct fuse_args *args, struct cmdline_opts_30 *opts)
{
	struct fuse_cmdline_opts o;
	int r = fc_parse_cmdline(args, &o);

	memcpy(opts, &o, sizeof(*opts));
	return r;
}
__asm__(".symver fuse_parse_cmdline_30, fuse_parse_cmdline@FUSE_3.0");

FC_EXPORT int fuse_version(void)
{
	return FUSE_VERSION;
}

FC_EXPORT int fuse_main_real(int argc, char *argv[], const struct fuse_operations *op,
			     size_t op_size, void *user_data)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse *f;
	int r;

	if (fc_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		r = 0;
		goto out;
	}
	if (opts.show_help) {
		if (args.argv[0][0])
			printf("usage: %s [options] <mountpoint>\n\n", args.argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lib_help(&args);
		r = 0;
		goto out;
	}
	if (!opts.mountpoint) {
		fuse_log(FUSE_LOG_ERR, "error: no mountpoint specified\n");
		r = 2;
		goto out;
	}
	f = fc_new(&args, op, op_size, user_data);
	if (!f) {
		r = 3;
		goto out;
	}
	if (fuse_mount(f, opts.mountpoint)) {
		r = 4;
		goto destroy;
	}
	r = fc_loop(f, opts.singlethread) ? 8 : 0;
	fuse_unmount(f);
destroy:
	fuse_destroy(f);
out:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return r;
}
