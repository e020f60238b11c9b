/*
 * libfuse's low-level API (fuse_lowlevel.h).  Not served in process yet:
 * every name is defined, so that programs that use it load, and
 * fuse_session_new refuses with a message.  CUSE (character devices) has
 * no meaning in process.
 */
#include "fc.h"

#include <cuse_lowlevel.h>
#include <errno.h>
#include <stdlib.h>

FC_EXPORT struct fuse_session *fuse_session_new(struct fuse_args *args,
						const struct fuse_lowlevel_ops *op,
						size_t op_size, void *userdata)
{
	(void)args;
	(void)op;
	(void)op_size;
	(void)userdata;
	fuse_log(FUSE_LOG_ERR, "fuse: the low-level API (fuse_session_new) is not served "
		 "in process yet\n");
	if (fc_starting)
		fc_why(fc_starting, "%s: it uses libfuse's low-level API, which DEFUSE does "
		       "not serve in process yet", fc_starting->name);
	return NULL;
}

FC_EXPORT int fuse_session_custom_io(struct fuse_session *se, const struct fuse_custom_io *io,
				     int fd)
{
	(void)se;
	(void)io;
	(void)fd;
	return -EOPNOTSUPP;
}

FC_EXPORT int fuse_session_mount(struct fuse_session *se, const char *mountpoint)
{
	(void)se;
	(void)mountpoint;
	return 0;
}

FC_EXPORT void fuse_session_unmount(struct fuse_session *se)
{
	(void)se;
}

FC_EXPORT int fuse_session_loop(struct fuse_session *se)
{
	(void)se;
	return -EOPNOTSUPP;
}

int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config);
FC_EXPORT int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config)
{
	(void)config;
	return fuse_session_loop(se);
}
__asm__(".symver fuse_session_loop_mt_312, fuse_session_loop_mt@@FUSE_3.12");

int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config_v1 *config);
FC_EXPORT int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config_v1 *config)
{
	(void)config;
	return fuse_session_loop(se);
}
__asm__(".symver fuse_session_loop_mt_32, fuse_session_loop_mt@FUSE_3.2");

int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd);
FC_EXPORT int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd)
{
	(void)clone_fd;
	return fuse_session_loop(se);
}
__asm__(".symver fuse_session_loop_mt_31, fuse_session_loop_mt@FUSE_3.0");

FC_EXPORT void fuse_session_exit(struct fuse_session *se)
{
	se->exited = 1;
	if (se->f)
		fuse_exit(se->f);
}

FC_EXPORT void fuse_session_reset(struct fuse_session *se)
{
	se->exited = 0;
}

FC_EXPORT int fuse_session_exited(struct fuse_session *se)
{
	return se->exited;
}

FC_EXPORT void fuse_session_destroy(struct fuse_session *se)
{
	free(se);
}

FC_EXPORT int fuse_session_fd(struct fuse_session *se)
{
	(void)se;
	return -1;
}

FC_EXPORT void fuse_session_process_buf(struct fuse_session *se, const struct fuse_buf *buf)
{
	(void)se;
	(void)buf;
}

FC_EXPORT int fuse_session_receive_buf(struct fuse_session *se, struct fuse_buf *buf)
{
	(void)se;
	(void)buf;
	return -EOPNOTSUPP;
}

/* ---- replies ------------------------------------------------------------ */

#define NOREPLY(...) { (void)req; return -ENOSYS; }

FC_EXPORT int fuse_reply_err(fuse_req_t req, int err) { (void)err; NOREPLY() }
FC_EXPORT void fuse_reply_none(fuse_req_t req) { (void)req; }
FC_EXPORT int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{ (void)e; NOREPLY() }
FC_EXPORT int fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
				const struct fuse_file_info *fi)
{ (void)e; (void)fi; NOREPLY() }
FC_EXPORT int fuse_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout)
{ (void)attr; (void)attr_timeout; NOREPLY() }
FC_EXPORT int fuse_reply_readlink(fuse_req_t req, const char *link) { (void)link; NOREPLY() }
FC_EXPORT int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{ (void)fi; NOREPLY() }
FC_EXPORT int fuse_reply_write(fuse_req_t req, size_t count) { (void)count; NOREPLY() }
FC_EXPORT int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{ (void)buf; (void)size; NOREPLY() }
FC_EXPORT int fuse_reply_data(fuse_req_t req, struct fuse_bufvec *bufv,
			      enum fuse_buf_copy_flags flags)
{ (void)bufv; (void)flags; NOREPLY() }
FC_EXPORT int fuse_reply_iov(fuse_req_t req, const struct iovec *iov, int count)
{ (void)iov; (void)count; NOREPLY() }
FC_EXPORT int fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf)
{ (void)stbuf; NOREPLY() }
FC_EXPORT int fuse_reply_xattr(fuse_req_t req, size_t count) { (void)count; NOREPLY() }
FC_EXPORT int fuse_reply_lock(fuse_req_t req, const struct flock *lock) { (void)lock; NOREPLY() }
FC_EXPORT int fuse_reply_bmap(fuse_req_t req, uint64_t idx) { (void)idx; NOREPLY() }
FC_EXPORT int fuse_reply_ioctl_retry(fuse_req_t req, const struct iovec *in_iov, size_t in_count,
				     const struct iovec *out_iov, size_t out_count)
{ (void)in_iov; (void)in_count; (void)out_iov; (void)out_count; NOREPLY() }
FC_EXPORT int fuse_reply_ioctl(fuse_req_t req, int result, const void *buf, size_t size)
{ (void)result; (void)buf; (void)size; NOREPLY() }
FC_EXPORT int fuse_reply_ioctl_iov(fuse_req_t req, int result, const struct iovec *iov, int count)
{ (void)result; (void)iov; (void)count; NOREPLY() }
FC_EXPORT int fuse_reply_poll(fuse_req_t req, unsigned revents) { (void)revents; NOREPLY() }
FC_EXPORT int fuse_reply_lseek(fuse_req_t req, off_t off) { (void)off; NOREPLY() }

FC_EXPORT void *fuse_req_userdata(fuse_req_t req) { (void)req; return NULL; }
FC_EXPORT const struct fuse_ctx *fuse_req_ctx(fuse_req_t req) { (void)req; return NULL; }
FC_EXPORT int fuse_req_getgroups(fuse_req_t req, int size, gid_t list[])
{ (void)size; (void)list; NOREPLY() }
FC_EXPORT void fuse_req_interrupt_func(fuse_req_t req, fuse_interrupt_func_t func, void *data)
{ (void)req; (void)func; (void)data; }
FC_EXPORT int fuse_req_interrupted(fuse_req_t req) { (void)req; return 0; }

FC_EXPORT size_t fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name,
				   const struct stat *stbuf, off_t off)
{ (void)req; (void)buf; (void)bufsize; (void)name; (void)stbuf; (void)off; return 0; }
FC_EXPORT size_t fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize,
					const char *name, const struct fuse_entry_param *e,
					off_t off)
{ (void)req; (void)buf; (void)bufsize; (void)name; (void)e; (void)off; return 0; }

/* ---- notifications: nothing is cached in process --------------------- */

FC_EXPORT int fuse_lowlevel_notify_poll(struct fuse_pollhandle *ph) { (void)ph; return 0; }
FC_EXPORT int fuse_lowlevel_notify_inval_inode(struct fuse_session *se, fuse_ino_t ino,
					       off_t off, off_t len)
{ (void)se; (void)ino; (void)off; (void)len; return 0; }
FC_EXPORT int fuse_lowlevel_notify_inval_entry(struct fuse_session *se, fuse_ino_t parent,
					       const char *name, size_t namelen)
{ (void)se; (void)parent; (void)name; (void)namelen; return 0; }
FC_EXPORT int fuse_lowlevel_notify_expire_entry(struct fuse_session *se, fuse_ino_t parent,
						const char *name, size_t namelen,
						enum fuse_expire_flags flags)
{ (void)se; (void)parent; (void)name; (void)namelen; (void)flags; return 0; }
FC_EXPORT int fuse_lowlevel_notify_delete(struct fuse_session *se, fuse_ino_t parent,
					  fuse_ino_t child, const char *name, size_t namelen)
{ (void)se; (void)parent; (void)child; (void)name; (void)namelen; return 0; }
FC_EXPORT int fuse_lowlevel_notify_store(struct fuse_session *se, fuse_ino_t ino, off_t offset,
					 struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
{ (void)se; (void)ino; (void)offset; (void)bufv; (void)flags; return 0; }
FC_EXPORT int fuse_lowlevel_notify_retrieve(struct fuse_session *se, fuse_ino_t ino, size_t size,
					    off_t offset, void *cookie)
{ (void)se; (void)ino; (void)size; (void)offset; (void)cookie; return -ENOSYS; }

/* ---- CUSE: character devices, which need the kernel ------------------- */

FC_EXPORT struct fuse_session *cuse_lowlevel_new(struct fuse_args *args,
						 const struct cuse_info *ci,
						 const struct cuse_lowlevel_ops *clop,
						 void *userdata)
{
	(void)args; (void)ci; (void)clop; (void)userdata;
	fuse_log(FUSE_LOG_ERR, "cuse: character devices cannot be served in process\n");
	return NULL;
}

FC_EXPORT struct fuse_session *cuse_lowlevel_setup(int argc, char *argv[],
						   const struct cuse_info *ci,
						   const struct cuse_lowlevel_ops *clop,
						   int *multithreaded, void *userdata)
{
	(void)argc; (void)argv; (void)multithreaded;
	return cuse_lowlevel_new(NULL, ci, clop, userdata);
}

FC_EXPORT void cuse_lowlevel_teardown(struct fuse_session *se)
{
	(void)se;
}

FC_EXPORT int cuse_lowlevel_main(int argc, char *argv[], const struct cuse_info *ci,
				 const struct cuse_lowlevel_ops *clop, void *userdata)
{
	(void)argc; (void)argv;
	cuse_lowlevel_new(NULL, ci, clop, userdata);
	return 1;
}
