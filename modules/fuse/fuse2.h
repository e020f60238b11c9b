/*
 * libfuse 2.9's ABI as programs built with FUSE_USE_VERSION 26 to 29 see
 * it: struct fuse_operations, fuse_file_info and fuse_conn_info, under
 * names of their own (fuse2_*), so that fuse2.c can hold them beside
 * libfuse 3's, which the shared core is written against.  Written from
 * libfuse 2's documented layout; tests/fusecompat/fuse2_layout.c checks
 * every member's place against Debian's libfuse-dev headers.
 */
#ifndef DEFUSE_FUSE_FUSE2_H
#define DEFUSE_FUSE_FUSE2_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <utime.h>

struct fuse_bufvec;
struct fuse_pollhandle;

/* 2.x has fh_old and writepage as whole words before the bits. */
struct fuse2_file_info {
	int flags;
	unsigned long fh_old;
	int writepage;
	unsigned int direct_io : 1;
	unsigned int keep_cache : 1;
	unsigned int flush : 1;
	unsigned int nonseekable : 1;
	unsigned int flock_release : 1;
	unsigned int padding : 27;
	uint64_t fh;
	uint64_t lock_owner;
};

struct fuse2_conn_info {
	unsigned proto_major;
	unsigned proto_minor;
	unsigned async_read;
	unsigned max_write;
	unsigned max_readahead;
	unsigned capable;
	unsigned want;
	unsigned max_background;
	unsigned congestion_threshold;
	unsigned reserved[23];
};

/* 2.x's one capability that 3.x dropped (big writes are always on). */
#define FUSE2_CAP_BIG_WRITES (1 << 5)

typedef int (*fuse2_fill_dir_t)(void *buf, const char *name, const struct stat *st, off_t off);
struct fuse2_dirhandle;
typedef int (*fuse2_dirfil_t)(struct fuse2_dirhandle *h, const char *name, int type, ino_t ino);

struct fuse2_operations {
	int (*getattr)(const char *, struct stat *);
	int (*readlink)(const char *, char *, size_t);
	int (*getdir)(const char *, struct fuse2_dirhandle *, fuse2_dirfil_t);
	int (*mknod)(const char *, mode_t, dev_t);
	int (*mkdir)(const char *, mode_t);
	int (*unlink)(const char *);
	int (*rmdir)(const char *);
	int (*symlink)(const char *, const char *);
	int (*rename)(const char *, const char *);
	int (*link)(const char *, const char *);
	int (*chmod)(const char *, mode_t);
	int (*chown)(const char *, uid_t, gid_t);
	int (*truncate)(const char *, off_t);
	int (*utime)(const char *, struct utimbuf *);
	int (*open)(const char *, struct fuse2_file_info *);
	int (*read)(const char *, char *, size_t, off_t, struct fuse2_file_info *);
	int (*write)(const char *, const char *, size_t, off_t, struct fuse2_file_info *);
	int (*statfs)(const char *, struct statvfs *);
	int (*flush)(const char *, struct fuse2_file_info *);
	int (*release)(const char *, struct fuse2_file_info *);
	int (*fsync)(const char *, int, struct fuse2_file_info *);
	int (*setxattr)(const char *, const char *, const char *, size_t, int);
	int (*getxattr)(const char *, const char *, char *, size_t);
	int (*listxattr)(const char *, char *, size_t);
	int (*removexattr)(const char *, const char *);
	int (*opendir)(const char *, struct fuse2_file_info *);
	int (*readdir)(const char *, void *, fuse2_fill_dir_t, off_t, struct fuse2_file_info *);
	int (*releasedir)(const char *, struct fuse2_file_info *);
	int (*fsyncdir)(const char *, int, struct fuse2_file_info *);
	void *(*init)(struct fuse2_conn_info *);
	void (*destroy)(void *);
	int (*access)(const char *, int);
	int (*create)(const char *, mode_t, struct fuse2_file_info *);
	int (*ftruncate)(const char *, off_t, struct fuse2_file_info *);
	int (*fgetattr)(const char *, struct stat *, struct fuse2_file_info *);
	int (*lock)(const char *, struct fuse2_file_info *, int, struct flock *);
	int (*utimens)(const char *, const struct timespec[2]);
	int (*bmap)(const char *, size_t, uint64_t *);
	unsigned int flag_nullpath_ok : 1;
	unsigned int flag_nopath : 1;
	unsigned int flag_utime_omit_ok : 1;
	unsigned int flag_reserved : 29;
	int (*ioctl)(const char *, int, void *, struct fuse2_file_info *, unsigned int, void *);
	int (*poll)(const char *, struct fuse2_file_info *, struct fuse_pollhandle *, unsigned *);
	int (*write_buf)(const char *, struct fuse_bufvec *, off_t, struct fuse2_file_info *);
	int (*read_buf)(const char *, struct fuse_bufvec **, size_t, off_t,
			struct fuse2_file_info *);
	int (*flock)(const char *, struct fuse2_file_info *, int);
	int (*fallocate)(const char *, int, off_t, off_t, struct fuse2_file_info *);
};

/* The low level's table, libfuse 2.9's (fuse_lowlevel.h): 3.x's members in
   the same places up to fallocate, but for 2.x's fuse_file_info and
   fuse_conn_info, and rename without flags. */
typedef struct fuse_req *fuse2_req_t;
typedef uint64_t fuse2_ino_t;
struct flock;
struct fuse_forget_data;

struct fuse2_lowlevel_ops {
	void (*init)(void *userdata, struct fuse2_conn_info *conn);
	void (*destroy)(void *userdata);
	void (*lookup)(fuse2_req_t req, fuse2_ino_t parent, const char *name);
	void (*forget)(fuse2_req_t req, fuse2_ino_t ino, unsigned long nlookup);
	void (*getattr)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi);
	void (*setattr)(fuse2_req_t req, fuse2_ino_t ino, struct stat *attr, int to_set,
			struct fuse2_file_info *fi);
	void (*readlink)(fuse2_req_t req, fuse2_ino_t ino);
	void (*mknod)(fuse2_req_t req, fuse2_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev);
	void (*mkdir)(fuse2_req_t req, fuse2_ino_t parent, const char *name, mode_t mode);
	void (*unlink)(fuse2_req_t req, fuse2_ino_t parent, const char *name);
	void (*rmdir)(fuse2_req_t req, fuse2_ino_t parent, const char *name);
	void (*symlink)(fuse2_req_t req, const char *link, fuse2_ino_t parent, const char *name);
	void (*rename)(fuse2_req_t req, fuse2_ino_t parent, const char *name,
		       fuse2_ino_t newparent, const char *newname);
	void (*link)(fuse2_req_t req, fuse2_ino_t ino, fuse2_ino_t newparent,
		     const char *newname);
	void (*open)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi);
	void (*read)(fuse2_req_t req, fuse2_ino_t ino, size_t size, off_t off,
		     struct fuse2_file_info *fi);
	void (*write)(fuse2_req_t req, fuse2_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse2_file_info *fi);
	void (*flush)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi);
	void (*release)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi);
	void (*fsync)(fuse2_req_t req, fuse2_ino_t ino, int datasync, struct fuse2_file_info *fi);
	void (*opendir)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi);
	void (*readdir)(fuse2_req_t req, fuse2_ino_t ino, size_t size, off_t off,
			struct fuse2_file_info *fi);
	void (*releasedir)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi);
	void (*fsyncdir)(fuse2_req_t req, fuse2_ino_t ino, int datasync,
			 struct fuse2_file_info *fi);
	void (*statfs)(fuse2_req_t req, fuse2_ino_t ino);
	void (*setxattr)(fuse2_req_t req, fuse2_ino_t ino, const char *name, const char *value,
			 size_t size, int flags);
	void (*getxattr)(fuse2_req_t req, fuse2_ino_t ino, const char *name, size_t size);
	void (*listxattr)(fuse2_req_t req, fuse2_ino_t ino, size_t size);
	void (*removexattr)(fuse2_req_t req, fuse2_ino_t ino, const char *name);
	void (*access)(fuse2_req_t req, fuse2_ino_t ino, int mask);
	void (*create)(fuse2_req_t req, fuse2_ino_t parent, const char *name, mode_t mode,
		       struct fuse2_file_info *fi);
	void (*getlk)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi,
		      struct flock *lock);
	void (*setlk)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi,
		      struct flock *lock, int sleep);
	void (*bmap)(fuse2_req_t req, fuse2_ino_t ino, size_t blocksize, uint64_t idx);
	void (*ioctl)(fuse2_req_t req, fuse2_ino_t ino, int cmd, void *arg,
		      struct fuse2_file_info *fi, unsigned flags, const void *in_buf,
		      size_t in_bufsz, size_t out_bufsz);
	void (*poll)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi,
		     struct fuse_pollhandle *ph);
	void (*write_buf)(fuse2_req_t req, fuse2_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			  struct fuse2_file_info *fi);
	void (*retrieve_reply)(fuse2_req_t req, void *cookie, fuse2_ino_t ino, off_t offset,
			       struct fuse_bufvec *bufv);
	void (*forget_multi)(fuse2_req_t req, size_t count, struct fuse_forget_data *forgets);
	void (*flock)(fuse2_req_t req, fuse2_ino_t ino, struct fuse2_file_info *fi, int op);
	void (*fallocate)(fuse2_req_t req, fuse2_ino_t ino, int mode, off_t offset, off_t length,
			  struct fuse2_file_info *fi);
};

/*
 * The older tables libfuse 2.9 still takes (fuse_compat.h): the first
 * members of fuse_operations, in the same places, with two differences.
 * FUSE_USE_VERSION 25's has init(void), and ends after fgetattr;
 * 22's also has a shorter fuse_file_info (the handle is fh_old's word,
 * no 64-bit fh) and statfs with a struct statfs, and ends after destroy.
 */
#define FUSE2_OPS_COMPAT25_SIZE offsetof(struct fuse2_operations, lock)
#define FUSE2_OPS_COMPAT22_SIZE offsetof(struct fuse2_operations, access)

#endif
