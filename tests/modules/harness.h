/*
 * The differential harness for module tests.
 *
 * A *backend* is one way of running file-system operations on a scratch
 * directory: natively (the *at system calls relative to the directory's
 * descriptor, or absolute paths inside a chroot), or through a module's
 * mount of it.  A case is written once, as a function of a backend; it is
 * run on twin directories prepared identically, and everything it observes
 * (return values, errno, data, listings, stat fields) goes into a log.  The
 * logs of the native run and of the module runs must be equal, entry by
 * entry.
 */
#ifndef DEFUSE_TEST_HARNESS_H
#define DEFUSE_TEST_HARNESS_H

#include <defuse/module.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

enum be_kind {
	BE_NATIVE,	/* the kernel on the directory itself */
	BE_KERNEL,	/* the module, I/O on the kernel_fd it returns */
	BE_EMULATED,	/* the module, I/O through its read/write/... */
};

#define BE_FILES 32

struct be_file {
	bool used;
	int fd;		/* native descriptor, or the module's kernel_fd, or -1 */
	uint64_t fh;	/* module handle */
	int flags;
	off_t pos;	/* offset of sequential I/O on an emulated file */
};

struct log;

struct be {
	enum be_kind kind;
	const char *what;	/* "native", "kernel", "emulated" */
	bool chroot;		/* native, run chrooted: paths are absolute */
	char dir[4096];		/* the directory ("" when chrooted into it) */
	int dirfd;		/* its descriptor (native), AT_FDCWD when chrooted */
	void *priv;		/* the module's mount */
	struct log *log;
	struct be_file files[BE_FILES];
};

#define NF DEFUSE_NOFOLLOW

/* The module under test (set by main). */
extern const struct defuse_ops *h_ops;
/* Running as root: the cases marked DC_ROOT need it. */
extern bool h_root;

/* ---- Logs --------------------------------------------------------------- */

/* A log in shared memory, so that a forked (chrooted) child can fill it. */
struct log *log_new(void);
void log_reset(struct log *l);
/* Fails the current test at the first difference, showing both sides. */
void log_compare(const struct log *want, const struct log *got, const char *want_what,
		 const char *got_what);

/* ---- Cases -------------------------------------------------------------- */

#define DC_ROOT 0x1	/* needs root (other users, devices, trusted.*) */
#define DC_CHROOT 0x2	/* the native run is chrooted into its directory */

struct dcase {
	const char *name;
	void (*prep)(int dirfd);	/* makes the same tree in each directory */
	void (*run)(struct be *b);
	unsigned int flags;
};

extern const struct dcase dcases[];
extern const size_t n_dcases;

/* Preparation helpers (fail the test on error). */
void put(int d, const char *p, const char *data, mode_t mode);
void mkd(int d, const char *p, mode_t mode);
void sym(int d, const char *target, const char *p);
void own(int d, const char *p, uid_t uid, gid_t gid);
void prep_std(int d);

/* ---- Operations: >= 0 or -errno, on any backend ---------------------- */

long b_getattr(struct be *b, const char *p, struct stat *st, int fl);
long b_access(struct be *b, const char *p, int mode, int flags);
long b_readlink(struct be *b, const char *p, char *buf, size_t size);
long b_mknod(struct be *b, const char *p, mode_t mode, dev_t dev);
long b_mkdir(struct be *b, const char *p, mode_t mode);
long b_unlink(struct be *b, const char *p);
long b_rmdir(struct be *b, const char *p);
long b_symlink(struct be *b, const char *target, const char *p);
long b_rename(struct be *b, const char *from, const char *to, unsigned int flags);
long b_link(struct be *b, const char *from, const char *to);
long b_chmod(struct be *b, const char *p, mode_t mode, int fl);
long b_chown(struct be *b, const char *p, uid_t uid, gid_t gid, int fl);
long b_truncate(struct be *b, const char *p, off_t size);
long b_utimens(struct be *b, const char *p, const struct timespec ts[2], int fl);
long b_setxattr(struct be *b, const char *p, const char *name, const void *value,
		size_t size, int xflags, int fl);
long b_removexattr(struct be *b, const char *p, const char *name, int fl);

/* Open files: b_open returns a handle (an index) or -errno. */
long b_open(struct be *b, const char *p, int flags, mode_t mode);
long b_opendir(struct be *b, const char *p);
/* off -1: sequential (read(2)/write(2), or the harness's own offset) */
long b_read(struct be *b, long h, void *buf, size_t n, off_t off);
long b_write(struct be *b, long h, const void *buf, size_t n, off_t off);
long b_ftruncate(struct be *b, long h, off_t size);
long b_fsync(struct be *b, long h, int datasync);
long b_fallocate(struct be *b, long h, int mode, off_t off, off_t len);
long b_seek(struct be *b, long h, off_t off, int whence);
long b_close(struct be *b, long h);
void b_close_all(struct be *b);

/* ---- Recording --------------------------------------------------------- */

void rec(struct be *b, const char *label, long ret, const void *data, size_t len);
#define R(expr) rec(b, #expr, (long)(expr), NULL, 0)

void S(struct be *b, const char *p, int fl);		/* stat, no times */
void ST(struct be *b, const char *p, int fl);		/* stat with a/mtime */
void FS(struct be *b, long h);				/* fstat of a handle */
void C(struct be *b, const char *p);			/* whole content */
void RD(struct be *b, long h, size_t n, off_t off);	/* read, with data */
void RL(struct be *b, const char *p, size_t size);	/* readlink, with data */
void L(struct be *b, const char *p);			/* listing (opendir) */
void LP(struct be *b, const char *p, int chunk);	/* listing, chunk entries per readdir */
void LH(struct be *b, long h);				/* listing of an open handle */
void XG(struct be *b, const char *p, const char *name, size_t size, int fl);
void XL(struct be *b, const char *p, size_t size, int fl);
void SF(struct be *b, const char *p);			/* statfs */

/* Runs the rest of the case as uid/gid 65534 (no groups), or as root again. */
void as_nobody(struct be *b);
void as_root(struct be *b);

#endif
