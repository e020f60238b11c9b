/*
 * fuse_fs: one file system of libfuse's stack, and the fuse_fs_* calls
 * through which file systems (and modules such as subdir) call the one
 * below.  Each call shows the called file system's user_data as
 * fuse_get_context()->private_data and answers -ENOSYS where the file
 * system lacks the operation, as libfuse does, with libfuse's exceptions:
 * open, opendir, release and releasedir succeed, statfs has defaults, read
 * and write fall back on read_buf and write_buf and back.
 */
#include "fc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

FC_EXPORT struct fuse_fs *fuse_fs_new(const struct fuse_operations *op, size_t op_size,
				      void *user_data)
{
	struct fuse_fs *fs = calloc(1, sizeof(*fs));

	if (!fs) {
		fprintf(stderr, "fuse: failed to allocate fuse_fs object\n");
		return NULL;
	}
	if (op_size > sizeof(*op)) {
		fprintf(stderr, "fuse: warning: library too old, some operations may not work\n");
		op_size = sizeof(*op);
	}
	if (op)
		memcpy(&fs->op, op, op_size);
	fs->user_data = user_data;
	return fs;
}

#define CALL(fs, name, ...) \
	(fc_ctx_private((fs)->user_data), \
	 (fs)->op.name ? (fs)->op.name(__VA_ARGS__) : -ENOSYS)

FC_EXPORT int fuse_fs_getattr(struct fuse_fs *fs, const char *path, struct stat *buf,
			      struct fuse_file_info *fi)
{
	return CALL(fs, getattr, path, buf, fi);
}

FC_EXPORT int fuse_fs_rename(struct fuse_fs *fs, const char *oldpath, const char *newpath,
			     unsigned int flags)
{
	return CALL(fs, rename, oldpath, newpath, flags);
}

FC_EXPORT int fuse_fs_unlink(struct fuse_fs *fs, const char *path)
{
	return CALL(fs, unlink, path);
}

FC_EXPORT int fuse_fs_rmdir(struct fuse_fs *fs, const char *path)
{
	return CALL(fs, rmdir, path);
}

FC_EXPORT int fuse_fs_symlink(struct fuse_fs *fs, const char *linkname, const char *path)
{
	return CALL(fs, symlink, linkname, path);
}

FC_EXPORT int fuse_fs_link(struct fuse_fs *fs, const char *oldpath, const char *newpath)
{
	return CALL(fs, link, oldpath, newpath);
}

FC_EXPORT int fuse_fs_release(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	fc_ctx_private(fs->user_data);
	return fs->op.release ? fs->op.release(path, fi) : 0;
}

FC_EXPORT int fuse_fs_opendir(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	fc_ctx_private(fs->user_data);
	return fs->op.opendir ? fs->op.opendir(path, fi) : 0;
}

FC_EXPORT int fuse_fs_open(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	fc_ctx_private(fs->user_data);
	return fs->op.open ? fs->op.open(path, fi) : 0;
}

static void free_bufvec(struct fuse_bufvec *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->count; i++)
		if (!(v->buf[i].flags & FUSE_BUF_IS_FD))
			free(v->buf[i].mem);
	free(v);
}

FC_EXPORT int fuse_fs_read_buf(struct fuse_fs *fs, const char *path, struct fuse_bufvec **bufp,
			       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec *v;
	int r;

	fc_ctx_private(fs->user_data);
	if (fs->op.read_buf)
		return fs->op.read_buf(path, bufp, size, off, fi);
	if (!fs->op.read)
		return -ENOSYS;
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	*v = FUSE_BUFVEC_INIT(size);
	v->buf[0].mem = malloc(size ? size : 1);
	if (!v->buf[0].mem) {
		free(v);
		return -ENOMEM;
	}
	r = fs->op.read(path, v->buf[0].mem, size, off, fi);
	if (r >= 0)
		v->buf[0].size = r;
	*bufp = v;
	return r;
}

FC_EXPORT int fuse_fs_read(struct fuse_fs *fs, const char *path, char *mem, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec *v = NULL, dst = FUSE_BUFVEC_INIT(size);
	int r;

	fc_ctx_private(fs->user_data);
	if (fs->op.read)
		return fs->op.read(path, mem, size, off, fi);
	if (!fs->op.read_buf)
		return -ENOSYS;
	r = fs->op.read_buf(path, &v, size, off, fi);
	if (r >= 0 && v) {
		dst.buf[0].mem = mem;
		r = fuse_buf_copy(&dst, v, 0);
	}
	free_bufvec(v);
	return r;
}

FC_EXPORT int fuse_fs_write_buf(struct fuse_fs *fs, const char *path, struct fuse_bufvec *buf,
				off_t off, struct fuse_file_info *fi)
{
	size_t size;
	char *mem;
	int r;

	fc_ctx_private(fs->user_data);
	if (fs->op.write_buf)
		return fs->op.write_buf(path, buf, off, fi);
	if (!fs->op.write)
		return -ENOSYS;
	size = fuse_buf_size(buf);
	if (buf->count == 1 && buf->idx == 0 && buf->off == 0 &&
	    !(buf->buf[0].flags & FUSE_BUF_IS_FD))
		return fs->op.write(path, buf->buf[0].mem, buf->buf[0].size, off, fi);
	mem = malloc(size ? size : 1);
	if (!mem)
		return -ENOMEM;
	{
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
		ssize_t n;

		dst.buf[0].mem = mem;
		n = fuse_buf_copy(&dst, buf, 0);
		r = n < 0 ? (int)n : fs->op.write(path, mem, n, off, fi);
	}
	free(mem);
	return r;
}

FC_EXPORT int fuse_fs_write(struct fuse_fs *fs, const char *path, const char *mem, size_t size,
			    off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec v = FUSE_BUFVEC_INIT(size);

	fc_ctx_private(fs->user_data);
	if (fs->op.write)
		return fs->op.write(path, mem, size, off, fi);
	if (!fs->op.write_buf)
		return -ENOSYS;
	v.buf[0].mem = (void *)mem;
	return fs->op.write_buf(path, &v, off, fi);
}

FC_EXPORT int fuse_fs_fsync(struct fuse_fs *fs, const char *path, int datasync,
			    struct fuse_file_info *fi)
{
	return CALL(fs, fsync, path, datasync, fi);
}

FC_EXPORT int fuse_fs_flush(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	return CALL(fs, flush, path, fi);
}

FC_EXPORT int fuse_fs_statfs(struct fuse_fs *fs, const char *path, struct statvfs *buf)
{
	fc_ctx_private(fs->user_data);
	if (fs->op.statfs)
		return fs->op.statfs(path, buf);
	buf->f_namemax = 255;
	buf->f_bsize = 512;
	return 0;
}

FC_EXPORT int fuse_fs_readdir(struct fuse_fs *fs, const char *path, void *buf,
			      fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
			      enum fuse_readdir_flags flags)
{
	return CALL(fs, readdir, path, buf, filler, off, fi, flags);
}

FC_EXPORT int fuse_fs_fsyncdir(struct fuse_fs *fs, const char *path, int datasync,
			       struct fuse_file_info *fi)
{
	return CALL(fs, fsyncdir, path, datasync, fi);
}

FC_EXPORT int fuse_fs_releasedir(struct fuse_fs *fs, const char *path,
				 struct fuse_file_info *fi)
{
	fc_ctx_private(fs->user_data);
	return fs->op.releasedir ? fs->op.releasedir(path, fi) : 0;
}

FC_EXPORT int fuse_fs_create(struct fuse_fs *fs, const char *path, mode_t mode,
			     struct fuse_file_info *fi)
{
	return CALL(fs, create, path, mode, fi);
}

FC_EXPORT int fuse_fs_lock(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi,
			   int cmd, struct flock *lock)
{
	return CALL(fs, lock, path, fi, cmd, lock);
}

FC_EXPORT int fuse_fs_flock(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi,
			    int op)
{
	return CALL(fs, flock, path, fi, op);
}

FC_EXPORT int fuse_fs_chmod(struct fuse_fs *fs, const char *path, mode_t mode,
			    struct fuse_file_info *fi)
{
	return CALL(fs, chmod, path, mode, fi);
}

FC_EXPORT int fuse_fs_chown(struct fuse_fs *fs, const char *path, uid_t uid, gid_t gid,
			    struct fuse_file_info *fi)
{
	return CALL(fs, chown, path, uid, gid, fi);
}

FC_EXPORT int fuse_fs_truncate(struct fuse_fs *fs, const char *path, off_t size,
			       struct fuse_file_info *fi)
{
	return CALL(fs, truncate, path, size, fi);
}

FC_EXPORT int fuse_fs_utimens(struct fuse_fs *fs, const char *path, const struct timespec tv[2],
			      struct fuse_file_info *fi)
{
	return CALL(fs, utimens, path, tv, fi);
}

FC_EXPORT int fuse_fs_access(struct fuse_fs *fs, const char *path, int mask)
{
	return CALL(fs, access, path, mask);
}

FC_EXPORT int fuse_fs_readlink(struct fuse_fs *fs, const char *path, char *buf, size_t len)
{
	return CALL(fs, readlink, path, buf, len);
}

FC_EXPORT int fuse_fs_mknod(struct fuse_fs *fs, const char *path, mode_t mode, dev_t rdev)
{
	return CALL(fs, mknod, path, mode, rdev);
}

FC_EXPORT int fuse_fs_mkdir(struct fuse_fs *fs, const char *path, mode_t mode)
{
	return CALL(fs, mkdir, path, mode);
}

FC_EXPORT int fuse_fs_setxattr(struct fuse_fs *fs, const char *path, const char *name,
			       const char *value, size_t size, int flags)
{
	return CALL(fs, setxattr, path, name, value, size, flags);
}

FC_EXPORT int fuse_fs_getxattr(struct fuse_fs *fs, const char *path, const char *name,
			       char *value, size_t size)
{
	return CALL(fs, getxattr, path, name, value, size);
}

FC_EXPORT int fuse_fs_listxattr(struct fuse_fs *fs, const char *path, char *list, size_t size)
{
	return CALL(fs, listxattr, path, list, size);
}

FC_EXPORT int fuse_fs_removexattr(struct fuse_fs *fs, const char *path, const char *name)
{
	return CALL(fs, removexattr, path, name);
}

FC_EXPORT int fuse_fs_bmap(struct fuse_fs *fs, const char *path, size_t blocksize,
			   uint64_t *idx)
{
	return CALL(fs, bmap, path, blocksize, idx);
}

FC_EXPORT int fuse_fs_ioctl(struct fuse_fs *fs, const char *path, unsigned int cmd, void *arg,
			    struct fuse_file_info *fi, unsigned int flags, void *data)
{
	return CALL(fs, ioctl, path, cmd, arg, fi, flags, data);
}

FC_EXPORT int fuse_fs_poll(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi,
			   struct fuse_pollhandle *ph, unsigned *reventsp)
{
	return CALL(fs, poll, path, fi, ph, reventsp);
}

FC_EXPORT int fuse_fs_fallocate(struct fuse_fs *fs, const char *path, int mode, off_t offset,
				off_t length, struct fuse_file_info *fi)
{
	return CALL(fs, fallocate, path, mode, offset, length, fi);
}

FC_EXPORT ssize_t fuse_fs_copy_file_range(struct fuse_fs *fs, const char *path_in,
					  struct fuse_file_info *fi_in, off_t off_in,
					  const char *path_out, struct fuse_file_info *fi_out,
					  off_t off_out, size_t len, int flags)
{
	return CALL(fs, copy_file_range, path_in, fi_in, off_in, path_out, fi_out, off_out,
		    len, flags);
}

FC_EXPORT off_t fuse_fs_lseek(struct fuse_fs *fs, const char *path, off_t off, int whence,
			      struct fuse_file_info *fi)
{
	return CALL(fs, lseek, path, off, whence, fi);
}

FC_EXPORT void fuse_fs_init(struct fuse_fs *fs, struct fuse_conn_info *conn,
			    struct fuse_config *cfg)
{
	fc_ctx_private(fs->user_data);
	/* Each file system of the stack without locks leaves them local. */
	if (!fs->op.lock)
		conn->want &= ~FUSE_CAP_POSIX_LOCKS;
	if (!fs->op.flock)
		conn->want &= ~FUSE_CAP_FLOCK_LOCKS;
	if (!fs->op.write_buf)
		conn->want &= ~FUSE_CAP_SPLICE_READ;
	if (fs->op.init)
		fs->user_data = fs->op.init(conn, cfg);
	fc_ctx_private(fs->user_data);
}

FC_EXPORT void fuse_fs_destroy(struct fuse_fs *fs)
{
	fc_ctx_private(fs->user_data);
	if (fs->op.destroy)
		fs->op.destroy(fs->user_data);
	free(fs);
}

/* ---- subdir: every path below a directory of the file system below --- */

struct subdir {
	char *base;		/* without a trailing '/' ("" for "/") */
	int rellinks;
	struct fuse_fs *next;
};

static struct subdir *sd(void)
{
	return fc_ctx_get_private();
}

/* base + path, in buf (NULL stays NULL: nullpath_ok). */
#define SUB(var, path)							\
	char var##_buf[PATH_MAX + 1];					\
	const char *var = (path);					\
	if (var && snprintf(var##_buf, sizeof(var##_buf), "%s%s", sd()->base, var) \
	    >= (int)sizeof(var##_buf))					\
		return -ENAMETOOLONG;					\
	if (var)							\
		var = var##_buf

static int sd_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_getattr(sd()->next, p, st, fi);
}

static int sd_readlink(const char *path, char *buf, size_t size)
{
	SUB(p, path);
	return fuse_fs_readlink(sd()->next, p, buf, size);
}

static int sd_mknod(const char *path, mode_t mode, dev_t dev)
{
	SUB(p, path);
	return fuse_fs_mknod(sd()->next, p, mode, dev);
}

static int sd_mkdir(const char *path, mode_t mode)
{
	SUB(p, path);
	return fuse_fs_mkdir(sd()->next, p, mode);
}

static int sd_unlink(const char *path)
{
	SUB(p, path);
	return fuse_fs_unlink(sd()->next, p);
}

static int sd_rmdir(const char *path)
{
	SUB(p, path);
	return fuse_fs_rmdir(sd()->next, p);
}

static int sd_symlink(const char *target, const char *path)
{
	SUB(p, path);
	return fuse_fs_symlink(sd()->next, target, p);
}

static int sd_rename(const char *from, const char *to, unsigned int flags)
{
	SUB(f, from);
	SUB(t, to);
	return fuse_fs_rename(sd()->next, f, t, flags);
}

static int sd_link(const char *from, const char *to)
{
	SUB(f, from);
	SUB(t, to);
	return fuse_fs_link(sd()->next, f, t);
}

static int sd_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_chmod(sd()->next, p, mode, fi);
}

static int sd_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_chown(sd()->next, p, uid, gid, fi);
}

static int sd_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_truncate(sd()->next, p, size, fi);
}

static int sd_open(const char *path, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_open(sd()->next, p, fi);
}

static int sd_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_read(sd()->next, p, buf, size, off, fi);
}

static int sd_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_write(sd()->next, p, buf, size, off, fi);
}

static int sd_statfs(const char *path, struct statvfs *st)
{
	SUB(p, path);
	return fuse_fs_statfs(sd()->next, p, st);
}

static int sd_flush(const char *path, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_flush(sd()->next, p, fi);
}

static int sd_release(const char *path, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_release(sd()->next, p, fi);
}

static int sd_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_fsync(sd()->next, p, datasync, fi);
}

static int sd_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	SUB(p, path);
	return fuse_fs_setxattr(sd()->next, p, name, value, size, flags);
}

static int sd_getxattr(const char *path, const char *name, char *value, size_t size)
{
	SUB(p, path);
	return fuse_fs_getxattr(sd()->next, p, name, value, size);
}

static int sd_listxattr(const char *path, char *list, size_t size)
{
	SUB(p, path);
	return fuse_fs_listxattr(sd()->next, p, list, size);
}

static int sd_removexattr(const char *path, const char *name)
{
	SUB(p, path);
	return fuse_fs_removexattr(sd()->next, p, name);
}

static int sd_opendir(const char *path, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_opendir(sd()->next, p, fi);
}

static int sd_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	SUB(p, path);
	return fuse_fs_readdir(sd()->next, p, buf, filler, off, fi, flags);
}

static int sd_releasedir(const char *path, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_releasedir(sd()->next, p, fi);
}

static int sd_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_fsyncdir(sd()->next, p, datasync, fi);
}

static void *sd_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct subdir *d = sd();

	fuse_fs_init(d->next, conn, cfg);
	/* Paths change below us: inode numbers of the next one stay right
	   only if it gives them itself. */
	return d;
}

static void sd_destroy(void *data)
{
	struct subdir *d = data;

	fuse_fs_destroy(d->next);
	free(d->base);
	free(d);
}

static int sd_access(const char *path, int mask)
{
	SUB(p, path);
	return fuse_fs_access(sd()->next, p, mask);
}

static int sd_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_create(sd()->next, p, mode, fi);
}

static int sd_lock(const char *path, struct fuse_file_info *fi, int cmd, struct flock *lock)
{
	SUB(p, path);
	return fuse_fs_lock(sd()->next, p, fi, cmd, lock);
}

static int sd_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_utimens(sd()->next, p, tv, fi);
}

static int sd_flock(const char *path, struct fuse_file_info *fi, int op)
{
	SUB(p, path);
	return fuse_fs_flock(sd()->next, p, fi, op);
}

static int sd_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_fallocate(sd()->next, p, mode, off, len, fi);
}

static ssize_t sd_copy_file_range(const char *in, struct fuse_file_info *fi_in, off_t off_in,
				  const char *out, struct fuse_file_info *fi_out, off_t off_out,
				  size_t len, int flags)
{
	SUB(i, in);
	SUB(o, out);
	return fuse_fs_copy_file_range(sd()->next, i, fi_in, off_in, o, fi_out, off_out, len,
				       flags);
}

static off_t sd_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
	SUB(p, path);
	return fuse_fs_lseek(sd()->next, p, off, whence, fi);
}

static const struct fuse_operations subdir_ops = {
	.getattr = sd_getattr, .readlink = sd_readlink, .mknod = sd_mknod,
	.mkdir = sd_mkdir, .unlink = sd_unlink, .rmdir = sd_rmdir,
	.symlink = sd_symlink, .rename = sd_rename, .link = sd_link,
	.chmod = sd_chmod, .chown = sd_chown, .truncate = sd_truncate,
	.open = sd_open, .read = sd_read, .write = sd_write, .statfs = sd_statfs,
	.flush = sd_flush, .release = sd_release, .fsync = sd_fsync,
	.setxattr = sd_setxattr, .getxattr = sd_getxattr, .listxattr = sd_listxattr,
	.removexattr = sd_removexattr, .opendir = sd_opendir, .readdir = sd_readdir,
	.releasedir = sd_releasedir, .fsyncdir = sd_fsyncdir, .init = sd_init,
	.destroy = sd_destroy, .access = sd_access, .create = sd_create,
	.lock = sd_lock, .utimens = sd_utimens, .flock = sd_flock,
	.fallocate = sd_fallocate, .copy_file_range = sd_copy_file_range,
	.lseek = sd_lseek,
};

struct subdir_opts {
	char *subdir;
	int rellinks;
};

static const struct fuse_opt subdir_opt_spec[] = {
	{ "subdir=%s", offsetof(struct subdir_opts, subdir), 0 },
	{ "rellinks", offsetof(struct subdir_opts, rellinks), 1 },
	{ "norellinks", offsetof(struct subdir_opts, rellinks), 0 },
	FUSE_OPT_END
};

struct fuse_fs *fc_subdir_new(struct fuse_args *args, struct fuse_fs *next)
{
	struct subdir_opts o = { NULL, 0 };
	struct subdir *d;
	struct fuse_fs *fs;
	size_t n;

	if (fuse_opt_parse(args, &o, subdir_opt_spec, NULL) == -1)
		return NULL;
	if (!o.subdir) {
		fprintf(stderr, "fuse-subdir: missing 'subdir' option\n");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		free(o.subdir);
		return NULL;
	}
	n = strlen(o.subdir);
	while (n && o.subdir[n - 1] == '/')
		o.subdir[--n] = 0;
	d->base = o.subdir;
	d->rellinks = o.rellinks;
	d->next = next;
	fs = fuse_fs_new(&subdir_ops, sizeof(subdir_ops), d);
	if (!fs) {
		free(d->base);
		free(d);
	}
	return fs;
}
