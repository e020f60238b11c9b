/*
 * ll2fs: a file system on libfuse 2's low-level API (FUSE_USE_VERSION 29),
 * for the libfuse 2 stand-in's tests: one flat directory of regular files
 * kept in memory, each open file's handle in fi->fh (the 2.x layout's
 * 64-bit word), so that a handle that came back wrong shows.  Written the
 * way 2.x programs are: fuse_parse_cmdline, fuse_mount, fuse_lowlevel_new,
 * fuse_session_add_chan, fuse_session_loop, and teardown in that order.
 */
#define FUSE_USE_VERSION 29
#define _GNU_SOURCE 1
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 64
#define HANDLE_TAG 0x1122334400000000ULL	/* high bits: lost by a 32-bit copy */

struct file {
	char name[64];
	char *data;
	size_t size;
	mode_t mode;
	int used;
	int opens;
};

static struct file files[MAX_FILES];	/* inode i + 2 is files[i] */

static struct file *of_ino(fuse_ino_t ino)
{
	return ino >= 2 && ino < MAX_FILES + 2 && files[ino - 2].used ? &files[ino - 2] : NULL;
}

static struct file *of_fh(const struct fuse_file_info *fi)
{
	if ((fi->fh & ~0xffffffffULL) != HANDLE_TAG)
		return NULL;
	return of_ino(fi->fh & 0xffffffffULL);
}

/* fi's file, or NULL after answering EBADF. */
static struct file *open_file(fuse_req_t req, const struct fuse_file_info *fi)
{
	struct file *f = of_fh(fi);

	if (!f)
		fuse_reply_err(req, EBADF);
	return f;
}

static fuse_ino_t find(const char *name)
{
	for (int i = 0; i < MAX_FILES; i++)
		if (files[i].used && !strcmp(files[i].name, name))
			return i + 2;
	return 0;
}

/* f's size made size, what it gains zeros; 0 or -1. */
static int resize(struct file *f, size_t size)
{
	char *d = realloc(f->data, size ? size : 1);

	if (!d)
		return -1;
	if (size > f->size)
		memset(d + f->size, 0, size - f->size);
	f->data = d;
	f->size = size;
	return 0;
}

static void fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == 1) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	st->st_mode = S_IFREG | of_ino(ino)->mode;
	st->st_nlink = 1;
	st->st_size = of_ino(ino)->size;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	fill(ino, &e.attr);
	if (fi)
		fuse_reply_create(req, &e, fi);
	else
		fuse_reply_entry(req, &e);
}

static void ll2_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want |= FUSE_CAP_BIG_WRITES;
}

static void ll2_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_ino_t ino = parent == 1 ? find(name) : 0;

	if (!ino)
		fuse_reply_err(req, ENOENT);
	else
		reply_entry(req, ino, NULL);
}

static void ll2_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != 1 && !of_ino(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill(ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static void ll2_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct file *f = fi ? of_fh(fi) : of_ino(ino);

	if (!f) {
		fuse_reply_err(req, fi ? EBADF : ENOENT);
		return;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		f->mode = attr->st_mode & 07777;
	if ((to_set & FUSE_SET_ATTR_SIZE) && resize(f, attr->st_size)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ll2_getattr(req, ino, NULL);
}

static void ll2_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	int i;

	if (parent != 1 || strlen(name) >= sizeof(files[0].name)) {
		fuse_reply_err(req, parent != 1 ? ENOENT : ENAMETOOLONG);
		return;
	}
	if (find(name)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	for (i = 0; i < MAX_FILES && files[i].used; i++)
		;
	if (i == MAX_FILES) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	memset(&files[i], 0, sizeof(files[i]));
	snprintf(files[i].name, sizeof(files[i].name), "%s", name);
	files[i].mode = mode & 07777;
	files[i].used = 1;
	files[i].opens = 1;
	fi->fh = HANDLE_TAG | (uint64_t)(i + 2);
	reply_entry(req, i + 2, fi);
}

static void ll2_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct file *f = of_ino(ino);

	if (!f) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (fi->flags & O_TRUNC)
		f->size = 0;
	f->opens++;
	fi->fh = HANDLE_TAG | ino;
	fuse_reply_open(req, fi);
}

static void ll2_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct file *f = open_file(req, fi);

	(void)ino;
	if (!f)
		return;
	if ((size_t)off >= f->size)
		size = 0;
	else if (off + size > f->size)
		size = f->size - off;
	fuse_reply_buf(req, size ? f->data + off : NULL, size);
}

static void ll2_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct file *f = open_file(req, fi);

	(void)ino;
	if (!f)
		return;
	if (off + size > f->size && resize(f, off + size)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(f->data + off, buf, size);
	fuse_reply_write(req, size);
}

static void ll2_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct file *f = of_fh(fi);

	(void)ino;
	if (f)
		f->opens--;
	fuse_reply_err(req, f ? 0 : EBADF);
}

static void ll2_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_ino_t ino = parent == 1 ? find(name) : 0;

	if (!ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	free(files[ino - 2].data);
	memset(&files[ino - 2], 0, sizeof(files[0]));
	fuse_reply_err(req, 0);
}

static void ll2_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname)
{
	fuse_ino_t ino = parent == 1 ? find(name) : 0, old = find(newname);

	if (!ino || newparent != 1) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (old && old != ino) {
		free(files[old - 2].data);
		memset(&files[old - 2], 0, sizeof(files[0]));
	}
	snprintf(files[ino - 2].name, sizeof(files[0].name), "%s", newname);
	fuse_reply_err(req, 0);
}

static void ll2_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	char buf[8192];
	size_t n = 0;
	struct stat st;

	(void)fi;
	if (ino != 1) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);
	memset(&st, 0, sizeof(st));
	/* offsets: 1 ".", 2 "..", i + 3 files[i] */
	for (off_t at = off; at < MAX_FILES + 2; at++) {
		const char *name = at == 0 ? "." : at == 1 ? ".." : files[at - 2].name;
		size_t len;

		if (at >= 2 && !files[at - 2].used)
			continue;
		st.st_ino = at < 2 ? 1 : (fuse_ino_t)at;
		st.st_mode = at < 2 ? S_IFDIR : S_IFREG;
		len = fuse_add_direntry(req, buf + n, size - n, name, &st, at + 1);
		if (len > size - n)
			break;
		n += len;
	}
	fuse_reply_buf(req, buf, n);
}

static void ll2_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_blocks = 1000;
	sv.f_files = MAX_FILES;
	sv.f_namemax = sizeof(files[0].name) - 1;
	fuse_reply_statfs(req, &sv);
}

/* Its own ioctls: LL2_SIZE (_IOR('L', 1, uint64_t)) gives the file's size,
   LL2_FLIP (_IOWR('L', 2, uint64_t)) the argument's bits flipped and 7 as
   the result; the rest ENOTTY.  The handle's tag is checked as elsewhere. */
static void ll2_ioctl(fuse_req_t req, fuse_ino_t ino, int cmd, void *arg,
		      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		      size_t in_bufsz, size_t out_bufsz)
{
	struct file *f = open_file(req, fi);
	uint64_t v;

	(void)ino;
	(void)arg;
	(void)flags;
	if (!f)
		return;
	if ((unsigned int)cmd == _IOR('L', 1, uint64_t) && out_bufsz == sizeof(v)) {
		v = f->size;
		fuse_reply_ioctl(req, 0, &v, sizeof(v));
	} else if ((unsigned int)cmd == _IOWR('L', 2, uint64_t) && in_bufsz == sizeof(v) &&
		   out_bufsz == sizeof(v)) {
		memcpy(&v, in_buf, sizeof(v));
		v = ~v;
		fuse_reply_ioctl(req, 7, &v, sizeof(v));
	} else {
		fuse_reply_err(req, ENOTTY);
	}
}

static const struct fuse_lowlevel_ops ops = {
	.ioctl = ll2_ioctl,
	.init = ll2_init,
	.lookup = ll2_lookup,
	.getattr = ll2_getattr,
	.setattr = ll2_setattr,
	.create = ll2_create,
	.open = ll2_open,
	.read = ll2_read,
	.write = ll2_write,
	.release = ll2_release,
	.unlink = ll2_unlink,
	.rename = ll2_rename,
	.readdir = ll2_readdir,
	.statfs = ll2_statfs,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_session *se;
	struct fuse_chan *ch;
	char *mountpoint = NULL;
	int err = -1;

	if (fuse_parse_cmdline(&args, &mountpoint, NULL, NULL) == -1)
		return 1;
	ch = fuse_mount(mountpoint, &args);
	if (ch) {
		se = fuse_lowlevel_new(&args, &ops, sizeof(ops), NULL);
		if (se) {
			if (fuse_set_signal_handlers(se) != -1) {
				fuse_session_add_chan(se, ch);
				err = fuse_session_loop(se);
				fuse_remove_signal_handlers(se);
				fuse_session_remove_chan(ch);
			}
			fuse_session_destroy(se);
		}
		fuse_unmount(mountpoint, ch);
	}
	fuse_opt_free_args(&args);
	free(mountpoint);
	return err ? 1 : 0;
}
