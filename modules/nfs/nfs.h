/*
 * The NFS module: an NFSv3 client over libnfs's RPC layer, in process
 * (docs/nfs.md).
 *
 * One mount (struct nfsmod) has up to NFS_CONNS connections to the server
 * (a thread uses one no other thread is using: libnfs's contexts are not
 * thread-safe), one cache of names and attributes, and one lock that
 * guards the cache and the open files; a thread lets it go while it waits
 * for calls marked parallel (lookups, getattrs, setattrs, reads into the
 * program's buffer), so threads' round trips overlap.  Files:
 *
 *   options.c  the mount argument: nfs://SERVER/EXPORT and options
 *   rpc.c      the connections, calls with timeouts and retries (soft/hard),
 *              the caller's credentials, MOUNT, reconnecting, fork, what a
 *              mount learnt kept for later images (*.mnt), NFS errors
 *   cache.c    inodes (handle + attributes, by file id) and names (path ->
 *              file id, or known missing), with the kernel client's
 *              attribute-cache rules
 *   gen.c      a table of change counters shared by this machine's
 *              processes: what another process changed is seen at once
 *   walk.c     paths to inodes (LOOKUP where the cache cannot answer),
 *              ".." and links resolved beneath the root, permission
 *              checks, NFS attributes as struct stat
 *   meta.c     operations on names and attributes
 *   file.c     open files: open, read (read-ahead), write, commit, release,
 *              local FIFOs, fh_path, opening again by NFS handle
 *   dir.c      readdir (READDIRPLUS, which also fills the cache)
 *   locks.c    lock_fd: a local file per NFS file, for the kernel's locks;
 *              flock of directories
 *   module.c   init, destroy, fork, the program's errno, the operations
 *              table
 */
#ifndef DEFUSE_NFS_H
#define DEFUSE_NFS_H

#include <defuse/module.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>

#define NFS_FH_MAX 64		/* NFS3_FHSIZE */
#define NFS_NAME_MAX 255
#define NFS_GROUPS_MAX 16	/* what AUTH_SYS carries */
#define NFS_SYMLOOP 40		/* the kernel's MAXSYMLINKS */

/* ---- options.c --------------------------------------------------------- */

struct nfs_opts {
	char server[256];
	char export[1024];	/* the path after the server, "/export" */
	unsigned timeo_ds;	/* timeo=: a try's wait for a reply, in 0.1 s */
	unsigned retrans;	/* retrans=: tries after the first (soft) */
	bool soft;		/* soft: give up after 1 + retrans tries */
	bool softerr;		/* softerr: ... with ETIMEDOUT instead of EIO */
	/* attribute cache bounds, in seconds (actimeo=, noac, acregmin=...) */
	unsigned acregmin, acregmax, acdirmin, acdirmax;
	bool nocto;		/* nocto: no revalidation at open */
	bool noneg;		/* lookupcache=positive: no negative entries */
	unsigned rsize, wsize;	/* 0: what the server prefers */
	unsigned readahead;	/* reads in flight ahead of a sequential reader */
	bool nolock;		/* locks=none: no lock_fd, ENOLCK */
	char lockdir[PATH_MAX];	/* locks=DIR */
	bool fixed_uid;		/* uid=,gid=: send these instead of the caller's */
	uint32_t uid, gid;
};

/* Parses "nfs://SERVER/EXPORT[,OPTION...]"; 0, or -EINVAL with a reason. */
int nfs_parse_args(const char *args, struct nfs_opts *o, char *why, size_t why_len);

/* ---- the caller ------------------------------------------------------- */

struct cred {
	uint32_t uid, gid;	/* file-system IDs */
	int ngroups;		/* -1: not read yet */
	uint32_t groups[NFS_GROUPS_MAX];
};

void cred_get(struct cred *c);
bool cred_in_group(struct cred *c, uint32_t gid);

/* ---- a file handle ------------------------------------------------------ */

struct fh {
	uint32_t len;
	unsigned char data[NFS_FH_MAX];
};

/* ---- rpc.c: calls ------------------------------------------------------- */

enum nfs_proc {
	P_GETATTR, P_SETATTR, P_LOOKUP, P_ACCESS, P_READLINK, P_READ, P_WRITE,
	P_CREATE, P_MKDIR, P_SYMLINK, P_MKNOD, P_REMOVE, P_RMDIR, P_RENAME,
	P_LINK, P_READDIRPLUS, P_FSSTAT, P_FSINFO, P_PATHCONF, P_COMMIT,
};

struct nfsmod;

/*
 * One call: its arguments (libnfs's XDR structures, pointing at memory of
 * the caller's that stays put until the call is done), and what came back,
 * copied out of the reply while libnfs still has it.
 */
struct call {
	enum nfs_proc proc;
	union {
		GETATTR3args getattr;
		SETATTR3args setattr;
		LOOKUP3args lookup;
		ACCESS3args access;
		READLINK3args readlink;
		READ3args read;
		WRITE3args write;
		CREATE3args create;
		MKDIR3args mkdir;
		SYMLINK3args symlink;
		MKNOD3args mknod;
		REMOVE3args remove;
		RMDIR3args rmdir;
		RENAME3args rename;
		LINK3args link;
		READDIRPLUS3args readdirplus;
		FSSTAT3args fsstat;
		FSINFO3args fsinfo;
		PATHCONF3args pathconf;
		COMMIT3args commit;
	} a;
	/* the state of the call: 0 waiting, 1 answered, -1 lost with its
	   connection (sent again on the next one) */
	int state;
	/* the caller holds nothing another thread of the process may free
	   or change under it while it waits (nfs_run): the mount's lock is
	   let go meanwhile, so other threads' calls go out in parallel */
	bool parallel;
	/* the answer */
	int status;		/* nfsstat3 */
	bool has_obj, has_fh, has_dir, has_dir2;
	fattr3 obj;		/* the object's attributes after the call */
	fattr3 dir;		/* its directory's (RENAME: the source's) */
	fattr3 dir2;		/* RENAME: the target directory's */
	struct fh fh;		/* a new object's handle (CREATE, LOOKUP...) */
	uint32_t count;		/* READ, WRITE: bytes; ACCESS: the rights */
	bool eof;		/* READ */
	int committed;		/* WRITE: stable_how */
	char verf[NFS3_WRITEVERFSIZE];	/* WRITE, COMMIT */
	void *buf;		/* READ: where the data goes; READLINK: the target */
	size_t buflen;
	union {
		FSSTAT3resok fsstat;
		FSINFO3resok fsinfo;
		PATHCONF3resok pathconf;
	} info;
	/* READDIRPLUS: each entry, as it is decoded */
	void (*entry)(void *ctx, const entryplus3 *e);
	void *entry_ctx;
	char cookieverf[NFS3_COOKIEVERFSIZE];
	uint64_t last_cookie;
	bool dir_eof;
};

/* The error for an NFS status, as the kernel's NFS client maps it. */
int nfs_errno(int status);

/*
 * Runs n calls (sent together, answered in any order) as cr.  Returns 0
 * when every one was answered (each its own status), or the transport's
 * error: -EIO (soft, after 1 + retrans tries), -ETIMEDOUT (softerr).  A
 * hard mount retries until the server answers.  Called with m->lock held;
 * when every call is `parallel`, the lock is let go while the calls are
 * out (on a connection of the caller's alone), and taken again before
 * nfs_run returns: other threads may have changed the cache meanwhile
 * (attributes, names), but no inode is freed while a thread waits.
 */
int nfs_run(struct nfsmod *m, struct cred *cr, struct call **cs, int n);
/* One call: nfs_run's error, or the call's own (nfs_errno). */
int nfs_call(struct nfsmod *m, struct cred *cr, struct call *c);

/* Connects and mounts the export: init's work.  0 or -errno with why. */
int nfs_connect_first(struct nfsmod *m, char *why, size_t why_len);
/* The same, from what a mount before learnt (nfs_load_mount); -1: mount
   from the start. */
int nfs_connect_known(struct nfsmod *m);
/* What init learnt, kept for the images exec'd later (rpc.c). */
void nfs_save_mount(struct nfsmod *m);
int nfs_load_mount(struct nfsmod *m);
/* Ends the connection (destroy). */
void nfs_disconnect(struct nfsmod *m);
/* In a forked child: drop the parent's connection without using it
   (nothing allocated or freed), and the rest at its first call. */
void nfs_forget_connection(struct nfsmod *m);
void nfs_after_fork_cleanup(struct nfsmod *m);

/* ---- cache.c ------------------------------------------------------------ */

/*
 * An inode: what the server said about one file, by its (fsid, fileid),
 * shared by every name of it (hard links) and every open file.
 */
struct inode {
	struct inode *next;	/* hash chain */
	uint64_t fsid, fileid;
	struct fh fh;
	fattr3 attr;
	int64_t expires;	/* ns, monotonic: attr is trusted until then */
	int64_t timeo;		/* ns: the current attribute timeout */
	char *link;		/* a symbolic link's target (links never change) */
	/* gen.c: the slot's value attr is current for, and a directory's run
	   of changes made by this process alone (own_from to own_to) */
	uint32_t sgen;
	bool own;
	uint32_t own_from, own_to;
};

/* A name: a path below the mount's root -> the inode it named. */
struct dentry {
	struct dentry *next;
	uint32_t hash;
	uint32_t len;
	uint64_t fsid, fileid;
	uint64_t pfsid, pfileid;	/* its directory */
	uint32_t pgen;		/* the directory's slot (gen.c) it is current for */
	bool neg;		/* the name does not exist (fsid, fileid unused) */
	nfstime3 pmtime;	/* ... as of this mtime of the directory */
	char path[];
};

struct cache {
	struct inode **inodes;
	struct dentry **names;
	uint32_t nbuckets;	/* of each table, a power of 2 */
	uint32_t ninodes, nnames;
};

int64_t now_ns(void);
int cache_init(struct cache *c);
void cache_clear(struct cache *c);
void cache_forget_names(struct cache *c);
void cache_trim(struct cache *c);
void cache_free(struct cache *c);
/*
 * What a reply said about fh: the inode is created or updated (attributes
 * changed since last seen shorten the timeout to its minimum, unchanged
 * ones double it up to the maximum).  mine: the change was this client's
 * own (the timeout starts again at the minimum).  NULL if out of memory.
 */
struct inode *cache_attr(struct nfsmod *m, const struct fh *fh, const fattr3 *a, bool mine);
struct inode *cache_inode(struct nfsmod *m, uint64_t fsid, uint64_t fileid);
/* attributes without a handle (a directory's after-the-call attributes) */
void cache_attr_nofh(struct nfsmod *m, const fattr3 *a);
bool cache_fresh(struct nfsmod *m, const struct inode *ino);
void cache_expire(struct inode *ino);
/* The inode path named, if the name is still trusted (dir: its directory,
   NULL for the root). */
struct inode *cache_name(struct nfsmod *m, const char *path, size_t len,
			 const struct inode *dir);
/* Whether path is known not to exist, and still trusted to (a negative
   entry: the directory unchanged since, by its slot and its mtime). */
bool cache_name_negative(struct nfsmod *m, const char *path, size_t len,
			 const struct inode *dir);
void cache_name_neg(struct nfsmod *m, const char *path, size_t len, const struct inode *dir,
		    uint32_t pgen);
/* ... whether trusted or not (NULL for a negative entry) */
struct inode *cache_name_raw(struct nfsmod *m, const char *path, size_t len);
/* path names ino in dir, as of dir's slot value pgen (gen.c). */
void cache_name_set(struct nfsmod *m, const char *path, size_t len, const struct inode *ino,
		    const struct inode *dir, uint32_t pgen);
/* The stamp for a name this process just made in dir (dir's slot read g0
   before the call; gen_mine done). */
uint32_t name_stamp_mine(struct nfsmod *m, const struct inode *dir, uint32_t g0);
void cache_name_drop(struct nfsmod *m, const char *path, size_t len);
/* Drops path and every name below it (rename, rmdir of a directory). */
void cache_names_below(struct nfsmod *m, const char *path, size_t len);

/* ---- gen.c ---------------------------------------------------------------- */

#define GEN_SLOTS 16368
struct gen_table {
	uint32_t g;
	uint32_t pad[15];
	uint32_t s[GEN_SLOTS];
};

uint64_t nfs_server_key(const struct nfsmod *m);
void gen_open(struct nfsmod *m);
void gen_close(struct nfsmod *m);
uint32_t gen_of(struct nfsmod *m, const struct inode *ino);
uint32_t gen_of_id(struct nfsmod *m, uint64_t fsid, uint64_t fileid);
uint32_t gen_global(struct nfsmod *m);
void gen_mine(struct nfsmod *m, struct inode *ino, uint32_t g0);
void gen_bump_id(struct nfsmod *m, uint64_t fsid, uint64_t fileid);

/* ---- walk.c ------------------------------------------------------------- */

/* Where a walk ended: the inode and the path that names it. */
struct place {
	struct inode *ino;
	char path[PATH_MAX + NFS_NAME_MAX + 2];	/* "/" + a PATH_MAX - 1 path */
	size_t len;
};

/*
 * Resolves path (as the host hands it over) to an inode.  follow: follow a
 * symbolic link in the last component.  fresh: the inode's attributes are
 * revalidated with the server even if cached (open: close-to-open).
 */
int walk(struct nfsmod *m, struct cred *c, const char *path, bool follow, bool fresh,
	 struct place *out);
/*
 * The directory that holds path's last component (searchable by c), and
 * that component.  -ENOENT/-ENOTDIR/-EACCES from the walk; name "" for
 * the root itself.
 */
int walk_parent(struct nfsmod *m, struct cred *c, const char *path, struct place *dir,
		const char **name, size_t *len);
/* Whether path ends in a slash after a name ("name/"). */
bool slash_after(const char *path);
/* Looks name up in dir, always asking the server. */
int lookup_fresh(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
		 size_t len, struct place *out);
/* The same, from the cache while it is trusted. */
int lookup_cached(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
		  size_t len, struct place *out);
/* out->path = dir's path + "/" + name */
int join_path(struct place *out, const struct place *dir, const char *name, size_t len);
/* generic_permission for R_OK|W_OK|X_OK on a's mode and owner. */
int may(struct cred *c, const fattr3 *a, int mask);
/* Attributes of ino, from the server if the cache's are not fresh. */
int attr_fresh(struct nfsmod *m, struct cred *c, struct inode *ino);
void attr_to_stat(struct nfsmod *m, const fattr3 *a, struct stat *st);
mode_t type_mode(int type);

/* ---- the mount ------------------------------------------------------------ */

struct nfile;

/*
 * One connection to the NFS service (rpc.c).  A mount has up to NFS_CONNS:
 * a thread takes one that no other thread is using for its calls, so the
 * calls of threads that wait at once go out on connections of their own
 * and are answered in parallel; a program with one thread uses one.
 */
#define NFS_CONNS 4
struct conn {
	struct rpc_context *rpc;	/* NULL: none now */
	struct rpc_context *forked_rpc;	/* the parent's, to destroy (rpc.c) */
	int fd;			/* its socket, set aside (defuse_keep_fd) */
	bool busy;		/* a thread is using it */
	struct cred auth;	/* whom its AUTH_SYS names */
};

/* gen->g when this thread's last calls went out (gen.c, cache.c) */
extern __thread uint32_t nfs_g_send;

struct nfsmod {
	pthread_mutex_t lock;
	int busy;		/* set while the lock is held: fork can tell */
	struct nfs_opts o;
	char host[64];		/* this machine's name, for AUTH_SYS */

	/* the connections (rpc.c) */
	struct conn conns[NFS_CONNS];
	pthread_cond_t conn_free;	/* a connection was given back */
	int waiting;		/* threads waiting for answers without the lock:
				   no inode may be freed meanwhile (cache_trim) */
	bool forked;		/* a forked child, not cleaned up yet */
	int nfs_port;		/* learnt from the port mapper at init */
	bool down;		/* the last try failed: say so once */
	bool init;		/* init's calls: one try, no hard wait (rpc.c) */

	/* what the server told at init */
	struct fh root;
	uint64_t root_fsid, root_fileid;
	uint32_t rtmax, wtmax, dtpref;
	uint64_t maxfilesize;
	uint32_t name_max;
	uint64_t dev;		/* st_dev of every file: from the export */

	struct cache cache;
	struct gen_table *gen;	/* gen.c: shared with this machine's processes */
	struct nfile *files;	/* open files of this process */
	int64_t acregmin, acregmax, acdirmin, acdirmax;	/* ns */
};

/* The lock, around every operation. */
void nfs_lock(struct nfsmod *m);
void nfs_unlock(struct nfsmod *m);

/* ---- file.c, dir.c, locks.c ------------------------------------------------- */

struct nfile {
	struct nfile *next, *prev;	/* m->files */
	struct fh fh;
	uint64_t fsid, fileid;
	int flags;		/* open's */
	bool dir;
	char *path;		/* a directory's path at open (dir.c) */
	/* writes not yet committed: kept until COMMIT says the server's
	   verifier did not change meanwhile (a restarted server may have
	   lost them: they are written again); the data in one buffer that
	   is reused (fresh memory for every write costs a page fault per
	   page) */
	struct extent *ext;
	size_t n_ext, cext;	/* extents in ext, its room */
	char *dbuf;
	size_t ndirty, dcap;	/* bytes in dbuf, its room */
	int werr;		/* a write error not yet reported (flush) */
	bool wrote;		/* a write went out through this handle */
	/* read-ahead of a sequential reader */
	uint64_t next_off;	/* where the last read ended */
	unsigned seq;		/* sequential reads in a row */
	char *ra;		/* the data read ahead */
	uint64_t ra_off;
	uint32_t ra_gen;	/* the file's slot (gen.c) when ra was read */
	size_t ra_len, ra_cap;
	bool ra_eof;		/* the file ends where ra does */
	/* the directory listing (dir.c) */
	struct dirlist *list;
	int lockfd;		/* locks.c */
	/* removed while open: renamed to this hidden name instead (meta.c),
	   removed at the last release */
	struct fh silly_dir;
	uint64_t silly_dir_fsid, silly_dir_fileid;
	char silly_name[64];
	bool removed;		/* a directory this process removed */
};

struct extent {
	uint64_t off;
	size_t len;
	size_t at;		/* where its data is in dbuf */
	char verf[NFS3_WRITEVERFSIZE];	/* the server's when it took them */
};

extern const struct defuse_ops nfs_ops;

/* meta.c */
int op_getattr(void *priv, const char *path, struct stat *st, int flags);
ssize_t op_readlink(void *priv, const char *path, char *buf, size_t size);
int op_statfs(void *priv, const char *path, struct statfs *st);
int op_mknod(void *priv, const char *path, mode_t mode, dev_t dev);
int op_mkdir(void *priv, const char *path, mode_t mode);
int op_unlink(void *priv, const char *path);
int op_rmdir(void *priv, const char *path);
int op_symlink(void *priv, const char *target, const char *path);
int op_rename(void *priv, const char *from, const char *to, unsigned int flags);
int op_link(void *priv, const char *from, const char *to);
int op_chmod(void *priv, const char *path, mode_t mode, int flags);
int op_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags);
int op_truncate(void *priv, const char *path, off_t size);
int op_utimens(void *priv, const char *path, const struct timespec tv[2], int flags);
int op_access(void *priv, const char *path, int mode, int flags);
/* SETATTR of an inode, with the checks the kernel makes first. */
int setattr_ino(struct nfsmod *m, struct cred *c, struct inode *ino, const sattr3 *sa);
int chmod_ino(struct nfsmod *m, struct cred *c, struct inode *ino, mode_t mode);
int chown_ino(struct nfsmod *m, struct cred *c, struct inode *ino, uid_t uid, gid_t gid);
int create_file(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
		size_t len, mode_t mode, struct place *out);
int link_ino(struct nfsmod *m, struct cred *c, struct inode *ino, struct place *dir,
	     const char *nm, size_t len);
int utimens_ino(struct nfsmod *m, struct cred *c, struct inode *ino,
		const struct timespec tv[2]);

/* file.c */
int op_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out);
void op_release(void *priv, uint64_t fh);
int op_flush(void *priv, uint64_t fh);
ssize_t op_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off);
ssize_t op_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off);
ssize_t op_append(void *priv, uint64_t fh, const void *buf, size_t size, off_t *end);
int op_fgetattr(void *priv, uint64_t fh, struct stat *st);
int op_ftruncate(void *priv, uint64_t fh, off_t size);
int op_fchmod(void *priv, uint64_t fh, mode_t mode);
int op_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid);
int op_futimens(void *priv, uint64_t fh, const struct timespec tv[2]);
int op_flink(void *priv, uint64_t fh, const char *newpath);
int op_fsync(void *priv, uint64_t fh, int datasync);
/* A rename of this process: open directories move with it. */
void files_renamed(struct nfsmod *m, const char *from, size_t flen, const char *to,
		   size_t tlen);
int op_fh_path(void *priv, uint64_t fh, char *buf, size_t size);
ssize_t op_file_handle(void *priv, uint64_t fh, void *buf, size_t size);
int op_open_handle(void *priv, const void *handle, size_t len, int kfd, int flags,
		   struct defuse_open *out);
/* An open file of this process on ino, or NULL. */
struct nfile *file_of_inode(struct nfsmod *m, const struct inode *ino);
/* Drops every open file's process-local state (a forked child). */
void files_after_fork(struct nfsmod *m);
/* At exit: commits what is still open, removes hidden names. */
void files_at_exit(struct nfsmod *m, struct cred *c);
/* The inode of an open file, its attributes fresh if asked. */
int file_inode(struct nfsmod *m, struct cred *c, struct nfile *f, bool fresh,
	       struct inode **out);

/* dir.c */
int op_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx);
void dirlist_free(struct dirlist *l);

/* locks.c */
int op_lock_fd(void *priv, uint64_t fh);
int lockfile_open(struct nfsmod *m, const struct nfile *f, const char *suffix);
/* Its path: lockdir/KEY-HANDLE+suffix */
int lockfile_path(struct nfsmod *m, const struct nfile *f, const char *suffix, char *path,
		  size_t size);
int op_flock(void *priv, uint64_t fh, uint64_t owner, int op);
/* lockdir= itself, mode 1777 */
void lockdir_make(struct nfsmod *m);
void lockfile_close(int fd);

#endif
