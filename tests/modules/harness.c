/*
 * The differential harness: backends, logs, comparison (see harness.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

const struct defuse_ops *h_ops;
bool h_root;

/* ---- Logs --------------------------------------------------------------- */

#define LOG_RECS 4096
#define LOG_DATA (8u << 20)

struct rec {
	char label[120];
	long ret;
	size_t off, len;	/* data in log.data */
};

struct log {
	unsigned int n;
	bool overflow;
	size_t used;
	struct rec recs[LOG_RECS];
	unsigned char data[LOG_DATA];
};

struct log *log_new(void)
{
	void *p = mmap(NULL, sizeof(struct log), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

void log_reset(struct log *l)
{
	l->n = 0;
	l->used = 0;
	l->overflow = false;
}

void rec(struct be *b, const char *label, long ret, const void *data, size_t len)
{
	struct log *l = b->log;
	struct rec *r;

	if (l->n == LOG_RECS || len > LOG_DATA - l->used) {
		l->overflow = true;
		return;
	}
	r = &l->recs[l->n++];
	snprintf(r->label, sizeof r->label, "%s", label);
	r->ret = ret;
	r->off = l->used;
	r->len = len;
	if (len)
		memcpy(l->data + l->used, data, len);
	l->used += len;
}

static void recf(struct be *b, long ret, const void *data, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void recf(struct be *b, long ret, const void *data, size_t len, const char *fmt, ...)
{
	char label[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(label, sizeof label, fmt, ap);
	va_end(ap);
	rec(b, label, ret, data, len);
}

static void show_ret(char *buf, size_t size, long ret)
{
	if (ret < 0 && ret > -4096)
		snprintf(buf, size, "%ld (%s)", ret, strerror((int)-ret));
	else
		snprintf(buf, size, "%ld", ret);
}

/* The data as text, with non-printing bytes escaped, at most ~300 bytes. */
static void show_data(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < 300; i++) {
		if (p[i] == '\n')
			fputs("\n        ", stderr);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], stderr);
		else
			fprintf(stderr, "\\x%02x", p[i]);
	}
	if (i < len)
		fprintf(stderr, "... (%zu bytes)", len);
	fputc('\n', stderr);
}

void log_compare(const struct log *want, const struct log *got, const char *want_what,
		 const char *got_what)
{
	char a[64], b[64];

	if (want->overflow || got->overflow)
		fail_msg("log overflow: the case records too much");
	for (unsigned int i = 0; i < want->n && i < got->n; i++) {
		const struct rec *w = &want->recs[i], *g = &got->recs[i];
		bool same = w->ret == g->ret && w->len == g->len &&
			    memcmp(want->data + w->off, got->data + g->off, w->len) == 0;

		if (strcmp(w->label, g->label) != 0)
			fail_msg("step %u: the runs diverged: %s did '%s', %s did '%s'",
				 i, want_what, w->label, got_what, g->label);
		if (same)
			continue;
		show_ret(a, sizeof a, w->ret);
		show_ret(b, sizeof b, g->ret);
		fprintf(stderr, "step %u: %s\n  %-8s = %s\n", i, w->label, want_what, a);
		if (w->len) {
			fputs("    data: ", stderr);
			show_data(want->data + w->off, w->len);
		}
		fprintf(stderr, "  %-8s = %s\n", got_what, b);
		if (g->len) {
			fputs("    data: ", stderr);
			show_data(got->data + g->off, g->len);
		}
		fail_msg("step %u (%s): %s and %s differ", i, w->label, want_what, got_what);
	}
	if (want->n != got->n)
		fail_msg("%s made %u steps, %s %u", want_what, want->n, got_what, got->n);
}

/* ---- Preparation ------------------------------------------------------- */

void put(int d, const char *p, const char *data, mode_t mode)
{
	int fd = openat(d, p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(data);

	if (fd < 0)
		fail_msg("prep: create %s: %s", p, strerror(errno));
	if (write(fd, data, len) != (ssize_t)len || fchmod(fd, mode))
		fail_msg("prep: write %s: %s", p, strerror(errno));
	close(fd);
}

void mkd(int d, const char *p, mode_t mode)
{
	if (mkdirat(d, p, mode) || fchmodat(d, p, mode, 0))
		fail_msg("prep: mkdir %s: %s", p, strerror(errno));
}

void sym(int d, const char *target, const char *p)
{
	if (symlinkat(target, d, p))
		fail_msg("prep: symlink %s: %s", p, strerror(errno));
}

void own(int d, const char *p, uid_t uid, gid_t gid)
{
	if (fchownat(d, p, uid, gid, AT_SYMLINK_NOFOLLOW) && (h_root || errno != EPERM))
		fail_msg("prep: chown %s: %s", p, strerror(errno));
}

/* ---- Backends ---------------------------------------------------------- */

static bool is_mod(const struct be *b)
{
	return b->kind != BE_NATIVE;
}

static long nat(long r)
{
	return r < 0 ? -errno : r;
}

/* The path for a native *at call: relative to dirfd, or absolute in a chroot. */
static const char *rel(const struct be *b, const char *p)
{
	if (b->chroot)
		return p;
	while (*p == '/')
		p++;
	return *p ? p : ".";
}

/* The absolute path, for the calls that have no *at form. */
static const char *absp(const struct be *b, const char *p, char buf[PATH_MAX * 2])
{
	snprintf(buf, PATH_MAX * 2, "%s%s", b->dir, p);
	return buf;
}

long b_getattr(struct be *b, const char *p, struct stat *st, int fl)
{
	if (is_mod(b))
		return h_ops->getattr(b->priv, p, st, fl);
	return nat(fstatat(b->dirfd, rel(b, p), st, fl & NF ? AT_SYMLINK_NOFOLLOW : 0));
}

long b_access(struct be *b, const char *p, int mode, int flags)
{
	if (is_mod(b))
		return h_ops->access(b->priv, p, mode, flags);
	return nat(syscall(SYS_faccessat2, b->dirfd, rel(b, p), mode, flags));
}

long b_readlink(struct be *b, const char *p, char *buf, size_t size)
{
	if (is_mod(b))
		return h_ops->readlink(b->priv, p, buf, size);
	return nat(readlinkat(b->dirfd, rel(b, p), buf, size));
}

long b_mknod(struct be *b, const char *p, mode_t mode, dev_t dev)
{
	if (is_mod(b))
		return h_ops->mknod(b->priv, p, mode, dev);
	return nat(mknodat(b->dirfd, rel(b, p), mode, dev));
}

long b_mkdir(struct be *b, const char *p, mode_t mode)
{
	if (is_mod(b))
		return h_ops->mkdir(b->priv, p, mode);
	return nat(mkdirat(b->dirfd, rel(b, p), mode));
}

long b_unlink(struct be *b, const char *p)
{
	if (is_mod(b))
		return h_ops->unlink(b->priv, p);
	return nat(unlinkat(b->dirfd, rel(b, p), 0));
}

long b_rmdir(struct be *b, const char *p)
{
	if (is_mod(b))
		return h_ops->rmdir(b->priv, p);
	return nat(unlinkat(b->dirfd, rel(b, p), AT_REMOVEDIR));
}

long b_symlink(struct be *b, const char *target, const char *p)
{
	if (is_mod(b))
		return h_ops->symlink(b->priv, target, p);
	return nat(symlinkat(target, b->dirfd, rel(b, p)));
}

long b_rename(struct be *b, const char *from, const char *to, unsigned int flags)
{
	if (is_mod(b))
		return h_ops->rename(b->priv, from, to, flags);
	return nat(renameat2(b->dirfd, rel(b, from), b->dirfd, rel(b, to), flags));
}

long b_link(struct be *b, const char *from, const char *to)
{
	if (is_mod(b))
		return h_ops->link(b->priv, from, to);
	return nat(linkat(b->dirfd, rel(b, from), b->dirfd, rel(b, to), 0));
}

long b_chmod(struct be *b, const char *p, mode_t mode, int fl)
{
	if (is_mod(b))
		return h_ops->chmod(b->priv, p, mode, fl);
	return nat(syscall(SYS_fchmodat2, b->dirfd, rel(b, p), mode,
			   fl & NF ? AT_SYMLINK_NOFOLLOW : 0));
}

long b_chown(struct be *b, const char *p, uid_t uid, gid_t gid, int fl)
{
	if (is_mod(b))
		return h_ops->chown(b->priv, p, uid, gid, fl);
	return nat(fchownat(b->dirfd, rel(b, p), uid, gid, fl & NF ? AT_SYMLINK_NOFOLLOW : 0));
}

long b_truncate(struct be *b, const char *p, off_t size)
{
	char buf[PATH_MAX * 2];

	if (is_mod(b))
		return h_ops->truncate(b->priv, p, size);
	return nat(truncate(absp(b, p, buf), size));
}

long b_utimens(struct be *b, const char *p, const struct timespec ts[2], int fl)
{
	if (is_mod(b))
		return h_ops->utimens(b->priv, p, ts, fl);
	return nat(utimensat(b->dirfd, rel(b, p), ts, fl & NF ? AT_SYMLINK_NOFOLLOW : 0));
}

static long b_statfs(struct be *b, const char *p, struct statfs *st)
{
	char buf[PATH_MAX * 2];

	if (is_mod(b))
		return h_ops->statfs(b->priv, p, st);
	return nat(statfs(absp(b, p, buf), st));
}

/* Native extended attributes: the classic path calls, an independent oracle. */
static long b_getxattr(struct be *b, const char *p, const char *name, void *value,
		       size_t size, int fl)
{
	char buf[PATH_MAX * 2];

	if (is_mod(b))
		return h_ops->getxattr(b->priv, p, name, value, size, fl);
	absp(b, p, buf);
	return nat(fl & NF ? lgetxattr(buf, name, value, size) : getxattr(buf, name, value, size));
}

long b_setxattr(struct be *b, const char *p, const char *name, const void *value,
		size_t size, int xflags, int fl)
{
	char buf[PATH_MAX * 2];

	if (is_mod(b))
		return h_ops->setxattr(b->priv, p, name, value, size, xflags, fl);
	absp(b, p, buf);
	return nat(fl & NF ? lsetxattr(buf, name, value, size, xflags)
			   : setxattr(buf, name, value, size, xflags));
}

static long b_listxattr(struct be *b, const char *p, char *list, size_t size, int fl)
{
	char buf[PATH_MAX * 2];

	if (is_mod(b))
		return h_ops->listxattr(b->priv, p, list, size, fl);
	absp(b, p, buf);
	return nat(fl & NF ? llistxattr(buf, list, size) : listxattr(buf, list, size));
}

long b_removexattr(struct be *b, const char *p, const char *name, int fl)
{
	char buf[PATH_MAX * 2];

	if (is_mod(b))
		return h_ops->removexattr(b->priv, p, name, fl);
	absp(b, p, buf);
	return nat(fl & NF ? lremovexattr(buf, name) : removexattr(buf, name));
}

/* ---- Open files -------------------------------------------------------- */

static long new_handle(struct be *b)
{
	for (long h = 0; h < BE_FILES; h++)
		if (!b->files[h].used)
			return h;
	fail_msg("%s: out of handles", b->what);
	return -1;
}

static struct be_file *file(struct be *b, long h)
{
	if (h < 0 || h >= BE_FILES || !b->files[h].used)
		return NULL;
	return &b->files[h];
}

/*
 * Checks what the module's open gave against the contract: kernel-backed
 * mode always answers with a descriptor; emulated mode only for files
 * without data of their own (FIFOs, devices).
 */
static void check_open_contract(struct be *b, const struct defuse_open *o, int flags)
{
	struct stat st;

	if (b->kind == BE_KERNEL) {
		if (o->kernel_fd < 0)
			fail_msg("kernel-backed open gave no kernel_fd");
		return;
	}
	if (o->kernel_fd < 0)
		return;
	if (fstat(o->kernel_fd, &st))
		fail_msg("emulated open: bad kernel_fd %d", o->kernel_fd);
	if ((flags & O_PATH) || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		fail_msg("emulated open answered a regular file or directory with kernel_fd");
}

long b_open(struct be *b, const char *p, int flags, mode_t mode)
{
	long h = new_handle(b);
	struct be_file *f = &b->files[h];

	*f = (struct be_file){ .used = false, .fd = -1, .fh = 0, .flags = flags };
	if (is_mod(b)) {
		struct defuse_open o = { .fh = 0, .kernel_fd = -1 };
		int r = h_ops->open(b->priv, p, flags, mode, &o);

		if (r < 0)
			return r;
		check_open_contract(b, &o, flags);
		f->fd = o.kernel_fd;
		f->fh = o.fh;
	} else {
		f->fd = openat(b->dirfd, rel(b, p), flags | O_CLOEXEC, mode);
		if (f->fd < 0)
			return -errno;
	}
	f->used = true;
	return h;
}

/* A directory to list: the module opens directories with open (module.h). */
long b_opendir(struct be *b, const char *p)
{
	return b_open(b, p, O_RDONLY | O_DIRECTORY, 0);
}

/* An emulated file: the module serves it through fh. */
static bool emulated(const struct be_file *f)
{
	return f->fd < 0;
}

long b_read(struct be *b, long h, void *buf, size_t n, off_t off)
{
	struct be_file *f = file(b, h);
	long r;

	if (!f)
		return -EBADF;
	if (!emulated(f))
		return nat(off == -1 ? read(f->fd, buf, n) : pread(f->fd, buf, n, off));
	r = h_ops->read(b->priv, f->fh, buf, n, off == -1 ? f->pos : off);
	if (off == -1 && r > 0)
		f->pos += r;
	return r;
}

long b_write(struct be *b, long h, const void *buf, size_t n, off_t off)
{
	struct be_file *f = file(b, h);
	struct stat st;
	long r;

	if (!f)
		return -EBADF;
	if (!emulated(f))
		return nat(off == -1 ? write(f->fd, buf, n) : pwrite(f->fd, buf, n, off));
	bool seq = off == -1;

	if (seq)
		off = f->pos;
	if (f->flags & O_APPEND) {
		/* what the core does for O_APPEND: write at the end */
		r = h_ops->fgetattr(b->priv, f->fh, &st);
		if (r < 0)
			return r;
		off = st.st_size;
	}
	r = h_ops->write(b->priv, f->fh, buf, n, off);
	if (r > 0 && seq)
		f->pos = off + r;	/* pwrite moves no offset */
	return r;
}

static long b_fstat(struct be *b, long h, struct stat *st)
{
	struct be_file *f = file(b, h);

	if (!f)
		return -EBADF;
	if (!emulated(f))
		return nat(fstat(f->fd, st));
	return h_ops->fgetattr(b->priv, f->fh, st);
}

long b_ftruncate(struct be *b, long h, off_t size)
{
	struct be_file *f = file(b, h);

	if (!f)
		return -EBADF;
	if (!emulated(f))
		return nat(ftruncate(f->fd, size));
	return h_ops->ftruncate(b->priv, f->fh, size);
}

long b_fsync(struct be *b, long h, int datasync)
{
	struct be_file *f = file(b, h);

	if (!f)
		return -EBADF;
	if (!emulated(f))
		return nat(datasync ? fdatasync(f->fd) : fsync(f->fd));
	return h_ops->fsync(b->priv, f->fh, datasync);
}

long b_fallocate(struct be *b, long h, int mode, off_t off, off_t len)
{
	struct be_file *f = file(b, h);

	if (!f)
		return -EBADF;
	if (!emulated(f))
		return nat(fallocate(f->fd, mode, off, len));
	return h_ops->fallocate(b->priv, f->fh, mode, off, len);
}

long b_seek(struct be *b, long h, off_t off, int whence)
{
	struct be_file *f = file(b, h);

	if (!f)
		return -EBADF;
	if (!emulated(f))
		return nat(lseek(f->fd, off, whence));
	return h_ops->seek_data(b->priv, f->fh, off, whence);
}

long b_close(struct be *b, long h)
{
	struct be_file *f = file(b, h);
	long r = 0;

	if (!f)
		return -EBADF;
	f->used = false;
	if (!is_mod(b))
		return nat(close(f->fd));
	if (f->fd >= 0)
		close(f->fd);	/* kernel_fd: ours now */
	h_ops->release(b->priv, f->fh);
	return r;
}

void b_close_all(struct be *b)
{
	for (long h = 0; h < BE_FILES; h++)
		if (b->files[h].used)
			b_close(b, h);
}

/* ---- Recorders ----------------------------------------------------------- */

/* A directory's blocks are not compared: on ext4 a large one takes a
   block more for its extent tree when free space is fragmented, so two
   directories made alike can differ by it (seen: 248 and 240). */
static size_t stat_text(char *buf, size_t size, const struct stat *st, bool times)
{
	char blocks[24] = "-";
	int n;

	if (!S_ISDIR(st->st_mode))
		snprintf(blocks, sizeof blocks, "%lld", (long long)st->st_blocks);
	n = snprintf(buf, size, "mode=%06o nlink=%lu uid=%u gid=%u size=%lld blocks=%s rdev=%u:%u",
		     st->st_mode, (unsigned long)st->st_nlink, st->st_uid, st->st_gid,
		     (long long)st->st_size, blocks, major(st->st_rdev), minor(st->st_rdev));

	if (times)
		n += snprintf(buf + n, size - (size_t)n, " atime=%lld.%09ld mtime=%lld.%09ld",
			      (long long)st->st_atim.tv_sec, st->st_atim.tv_nsec,
			      (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	return (size_t)n;
}

static void stat_rec(struct be *b, const char *p, int fl, bool times)
{
	struct stat st;
	char text[256];
	long r = b_getattr(b, p, &st, fl);

	recf(b, r, text, r ? 0 : stat_text(text, sizeof text, &st, times),
	     "getattr(%s, %s)", p, fl & NF ? "NOFOLLOW" : "0");
}

void S(struct be *b, const char *p, int fl)
{
	stat_rec(b, p, fl, false);
}

void ST(struct be *b, const char *p, int fl)
{
	stat_rec(b, p, fl, true);
}

void FS(struct be *b, long h)
{
	struct stat st;
	char text[256];
	long r = b_fstat(b, h, &st);

	recf(b, r, text, r ? 0 : stat_text(text, sizeof text, &st, false), "fstat(%ld)", h);
}

void C(struct be *b, const char *p)
{
	static char buf[4 << 20];
	long h = b_open(b, p, O_RDONLY, 0), r = 0;
	size_t len = 0;

	if (h >= 0) {
		while (len < sizeof buf &&
		       (r = b_read(b, h, buf + len, sizeof buf - len > 65536 ? 65536 : sizeof buf - len,
				   (off_t)len)) > 0)
			len += (size_t)r;
		b_close(b, h);
	} else {
		r = h;
	}
	recf(b, r < 0 ? r : (long)len, buf, r < 0 ? 0 : len, "content(%s)", p);
}

void RD(struct be *b, long h, size_t n, off_t off)
{
	static char buf[1 << 20];
	long r;

	if (n > sizeof buf)
		n = sizeof buf;
	r = b_read(b, h, buf, n, off);
	recf(b, r, buf, r > 0 ? (size_t)r : 0, "read(%ld, %zu, %lld)", h, n, (long long)off);
}

void RL(struct be *b, const char *p, size_t size)
{
	char buf[8192];
	long r = b_readlink(b, p, buf, size > sizeof buf ? sizeof buf : size);

	recf(b, r, buf, r > 0 ? (size_t)r : 0, "readlink(%s, %zu)", p, size);
}

/* Listings: "name type" lines, sorted. */
struct names {
	char **v;
	size_t n, cap;
	/* paging */
	int limit, taken;
	bool rejected;
	int64_t last_next;
};

static void names_add(struct names *ns, const char *name, unsigned char type)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 64;
		ns->v = realloc(ns->v, ns->cap * sizeof *ns->v);
		assert_non_null(ns->v);
	}
	assert_true(asprintf(&ns->v[ns->n++], "%s %u", name, type) > 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Records ret, and when it is not an error the sorted names. */
static void names_rec(struct be *b, struct names *ns, long ret, const char *label)
{
	size_t len = 0, off = 0;
	char *text;

	if (ns->n)
		qsort(ns->v, ns->n, sizeof *ns->v, cmp_str);
	for (size_t i = 0; i < ns->n; i++)
		len += strlen(ns->v[i]) + 1;
	text = malloc(len + 1);
	assert_non_null(text);
	for (size_t i = 0; i < ns->n; i++) {
		off += (size_t)sprintf(text + off, "%s\n", ns->v[i]);
		free(ns->v[i]);
	}
	free(ns->v);
	rec(b, label, ret, text, ret < 0 ? 0 : off);
	free(text);
}

static int fill(void *ctx, const char *name, uint64_t ino, unsigned char type, int64_t next)
{
	struct names *ns = ctx;

	(void)ino;
	if (ns->limit && ns->taken == ns->limit) {
		ns->rejected = true;
		return 1;
	}
	names_add(ns, name, type);
	ns->taken++;
	ns->last_next = next;
	return 0;
}

static long list_fd(int fd, struct names *ns)
{
	char buf[32768] __attribute__((aligned(8)));
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	while ((n = getdents64(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n;) {
			struct dirent64 *d = (void *)(buf + i);

			names_add(ns, d->d_name, d->d_type);
			i += d->d_reclen;
		}
	return n < 0 ? -errno : 0;
}

/* Through the module: pages of `chunk` entries, each resumed at the last `next`. */
static long list_fh(struct be *b, uint64_t fh, struct names *ns, int chunk)
{
	int64_t pos = 0;
	long r;

	ns->limit = chunk;
	do {
		ns->taken = 0;
		ns->rejected = false;
		r = h_ops->readdir(b->priv, fh, pos, fill, ns);
		if (r < 0)
			return r;
		if (ns->rejected && ns->taken == 0)
			fail_msg("readdir offered nothing that fits");
		pos = ns->last_next;
	} while (ns->rejected);
	return 0;
}

static void list_rec(struct be *b, const char *p, int chunk, const char *label)
{
	struct names ns = { 0 };
	long h = b_opendir(b, p), r = h;

	if (h >= 0) {
		/* kernel-backed: the module handed over a descriptor */
		if (is_mod(b) && b->files[h].fd < 0)
			r = list_fh(b, b->files[h].fh, &ns, chunk);
		else
			r = list_fd(b->files[h].fd, &ns);
		b_close(b, h);
	}
	names_rec(b, &ns, r < 0 ? r : (long)ns.n, label);
}

void L(struct be *b, const char *p)
{
	char label[120];

	snprintf(label, sizeof label, "list(%s)", p);
	list_rec(b, p, 0, label);
}

void LP(struct be *b, const char *p, int chunk)
{
	char label[120];

	snprintf(label, sizeof label, "list(%s, pages of %d)", p, chunk);
	list_rec(b, p, chunk, label);
}

void LH(struct be *b, long h)
{
	struct be_file *f = file(b, h);
	struct names ns = { 0 };
	char label[64];
	long r;

	snprintf(label, sizeof label, "list handle %ld", h);
	if (!f)
		r = -EBADF;
	else if (!emulated(f))
		r = list_fd(f->fd, &ns);
	else
		r = list_fh(b, f->fh, &ns, 0);
	names_rec(b, &ns, r < 0 ? r : (long)ns.n, label);
}

void XG(struct be *b, const char *p, const char *name, size_t size, int fl)
{
	static char buf[1 << 17];
	long r = b_getxattr(b, p, name, size ? buf : NULL, size > sizeof buf ? sizeof buf : size, fl);

	recf(b, r, buf, r > 0 && size ? (size_t)r : 0, "getxattr(%s, %.40s, %zu, %d)",
	     p, name, size, fl);
}

void XL(struct be *b, const char *p, size_t size, int fl)
{
	char buf[65536];
	struct names ns = { 0 };
	char label[120];
	long r = b_listxattr(b, p, size ? buf : NULL, size > sizeof buf ? sizeof buf : size, fl);

	snprintf(label, sizeof label, "listxattr(%s, %zu, %d)", p, size, fl);
	if (r > 0 && size)
		for (long i = 0; i < r; i += (long)strlen(buf + i) + 1)
			names_add(&ns, buf + i, 0);
	names_rec(b, &ns, r, label);
}

void SF(struct be *b, const char *p)
{
	struct statfs st;
	char text[256];
	long r = b_statfs(b, p, &st);
	int n = 0;

	if (!r)
		n = snprintf(text, sizeof text, "type=%lx bsize=%ld frsize=%ld namelen=%ld flags=%lx blocks=%llu fsid=%x:%x",
			     (long)st.f_type, (long)st.f_bsize, (long)st.f_frsize, (long)st.f_namelen,
			     (long)st.f_flags, (unsigned long long)st.f_blocks,
			     st.f_fsid.__val[0], st.f_fsid.__val[1]);
	recf(b, r, text, (size_t)n, "statfs(%s)", p);
}

/* ---- Credentials ------------------------------------------------------- */

/*
 * setfsuid/setfsgid and the raw setgroups act on the calling thread only
 * (glibc's setgroups would change every thread): permission checks of the
 * module's calls, made in this thread, are then those of uid 65534.
 */
static gid_t saved_groups[256];
static long n_saved_groups = -1;

void as_nobody(struct be *b)
{
	(void)b;
	if (n_saved_groups < 0)
		n_saved_groups = getgroups(256, saved_groups);
	if (syscall(SYS_setgroups, 0, NULL))
		fail_msg("setgroups: %s", strerror(errno));
	setfsgid(65534);
	setfsuid(65534);
	if (setfsuid((uid_t)-1) != 65534)
		fail_msg("setfsuid did not take");
}

void as_root(struct be *b)
{
	(void)b;
	setfsuid(0);
	setfsgid(0);
	if (n_saved_groups >= 0)
		syscall(SYS_setgroups, n_saved_groups, saved_groups);
}
