/*
 * The libfuse 3 stand-in's insides (docs/fuse-compat.md).  The stand-in is
 * built against libfuse's own public headers, which define the ABI it
 * implements; everything here is its private state.
 *
 * One struct fc_inst is one mount of a FUSE file system in this process:
 * the program's main() runs on a stack of the instance's own (a
 * coroutine, start.c) until it reaches the event loop, where it stays
 * suspended for as long as the mount lives, so that whatever main() keeps
 * on its stack (user_data, option structs) stays valid; at destroy the
 * loop returns and main() finishes as after an unmount.
 */
#ifndef DEFUSE_FUSE_FC_H
#define DEFUSE_FUSE_FC_H

#define FUSE_USE_VERSION 314
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <ucontext.h>
#include <defuse/module.h>

#define FC_HIDDEN __attribute__((visibility("hidden")))
#define FC_EXPORT __attribute__((visibility("default")))

/* Request sizes: FUSE's defaults (128 KiB reads and writes per request). */
#define FC_MAX_IO (128 * 1024)

/* A file system as a stack member (fuse_fs_new; modules such as subdir). */
struct fuse_fs {
	struct fuse_operations op;
	void *user_data;
};

/* Mount options that matter in process (the rest are accepted and ignored). */
struct fc_mount_opts {
	int ro;
	int default_permissions;
	unsigned max_read;
	char *fsname, *subtype;
};

struct fc_inst;

/* libfuse's high-level handle. */
struct fuse {
	struct fc_inst *inst;
	struct fuse_fs *fs;		/* top of the module stack */
	struct fuse_config conf;
	struct fc_mount_opts mo;
	struct fuse_session *se;
	int exited;			/* fuse_exit: the mount is gone */
	char *mountpoint;
	void *v2;			/* a libfuse 2 file system's operations (fuse2.c) */
	void (*free_v2)(void *v2);	/* ... freed with the handle */
};

/* libfuse's session (low level; high level has one too, for fuse_get_session). */
struct fuse_session {
	struct fuse *f;			/* the high-level handle, if any */
	struct fc_inst *inst;
	struct fuse_lowlevel_ops op;
	void *userdata;
	struct fc_mount_opts mo;
	int debug;
	int exited;
	char *mountpoint;
	int null_fd1;			/* fuse_session_fd's descriptor + 1, 0: none yet */
	void *v2;			/* a libfuse 2 file system's operations (ll2.c) */
	void (*free_v2)(void *v2);	/* ... freed with the session */
};

enum fc_state {
	FC_STARTING,	/* main() runs towards the loop */
	FC_SERVING,	/* main() waits in the loop; operations are served */
	FC_RETURNED,	/* main() returned before serving */
	FC_FINISHED,	/* main() returned after the loop (destroy) */
};

struct fc_file;

struct fc_inst {
	enum fc_state state;
	const char *name;
	int (*main)(int, char **);
	int argc;
	char **argv;
	int main_ret;
	ucontext_t main_ctx, host_ctx;
	void *stack;
	size_t stack_size;
	char *why;			/* during start: the reason for a refusal */
	size_t why_len;

	struct fuse *f;			/* high level */
	struct fuse_session *se;	/* low level (its own, not the high level's) */
	struct fc_ll *ll;		/* low level: names and inodes (ll.c) */
	const struct defuse_ops *ops;	/* fc_hl_ops or fc_ll_ops */
	struct fuse_conn_info conn;
	int initialized;		/* the file system's init ran */
	int single;			/* fuse_loop, not fuse_loop_mt: one call at a time */
	pthread_mutex_t serial;		/* ... kept by this */
	uint32_t defuse_want;		/* DEFUSE_CAP_* to add to the host's want */

	pthread_mutex_t files_lock;	/* the open files and their paths (paths.c) */
	struct fc_file *files;
	struct fc_file *inherited;	/* a forked child's: those of the instance it
					   replaced (adopt.c) */
	unsigned hidden_seq;

	pid_t pid;			/* the process that started it */
	uint64_t key;			/* the mount's command line, hashed */
	char lock_dir[256];		/* where local locks live (lock.c) */
};

/* One open file or directory (the DEFUSE handle, fh, is its address). */
struct fc_file {
	struct fc_inst *inst;		/* the instance that opened it */
	struct fc_file *adopted;	/* inherited: the same file opened again by
					   the instance that replaced inst (adopt.c) */
	struct fuse_file_info fi;
	char *path;			/* its current path, as far as this process knows */
	int removed;			/* its name was removed here: path is only the
					   one it had (paths.c) */
	int is_dir;
	int is_path_only;		/* O_PATH: no FUSE open was made */
	int hidden;			/* renamed to .fuse_hidden*: removed at release */
	struct fc_name *pin;		/* low level: the name cache's entry whose
					   reference it holds; NULL: its own */
	struct fc_file *next, *prev;
	/* Directories whose file system gives no offsets: the listing,
	   read at position 0 and served from here. */
	pthread_mutex_t dir_lock;
	struct fc_dirent *ents;
	size_t nents, capents;
	int dir_mode;			/* 0 not known, 1 offsets, 2 listed here */
	/* Locks for a file system without lock/flock (lock.c). */
	int lock_fd;
	/* Low level: the inode, whose lookup this file holds. */
	fuse_ino_t ino;
	/* Written through already, its set-ID bits dealt with (fc_kill_setid):
	   later writes through it do not ask for its mode again. */
	int privs_done;
};

/* Each open file h of in's, then each it inherited (adopt.c), under
   in->files_lock (two loops: break leaves only the one it is in). */
#define FC_EACH_FILE(in, h)						\
	for (int list_ = 0; list_ < 2; list_++)				\
		for (struct fc_file *h = list_ ? (in)->inherited : (in)->files; h; \
		     h = h->next)

/* The fuse_file_info a call by handle gets: a copy of open's, as libfuse
   gives every request its own (filled from the request; fh is open's).
   What a file system changes in it during the call is not kept: sshfs's
   cache layer sets fh to the handle below it within readdir, and expects
   its own in the next call, as libfuse gives it. */
static inline struct fuse_file_info *fc_fi(const struct fc_file *h, struct fuse_file_info *copy)
{
	*copy = h->fi;
	return copy;
}
#define FC_FI(h) fc_fi((h), &(struct fuse_file_info){ 0 })

/* Whether calls on attributes by handle (getattr, truncate, chmod, chown,
   utimens) get h's fuse_file_info: FUSE hands them that of a regular
   file only (a directory's is opendir's, which a file system may keep as
   something else), and none for O_PATH (no FUSE open). */
static inline int fc_has_attr_fi(const struct fc_file *h)
{
	return !h->is_path_only && !h->is_dir;
}
/* That fuse_file_info (a copy, FC_FI), or NULL. */
#define FC_ATTR_FI(h) (fc_has_attr_fi(h) ? FC_FI(h) : NULL)

struct fc_dirent {
	char *name;
	uint64_t ino;
	unsigned char type;
};

/* 3 in the libfuse 3 stand-in (api3.c), 2 in libfuse 2's (fuse2.c): where
   the shared core follows one libfuse's behaviour or the other's. */
extern const int fc_libfuse_major FC_HIDDEN;

/* ---- fuse2.c: libfuse 2's structures, for ll2.c and ll.c's replies ----- */
struct fuse2_file_info;
struct fuse2_conn_info;
struct fuse_chan;
void fc2_fi_to2(const struct fuse_file_info *fi, struct fuse2_file_info *f2) FC_HIDDEN;
void fc2_fi_from2_all(const struct fuse2_file_info *f2, struct fuse_file_info *fi) FC_HIDDEN;
/* init's 2.x defaults (no atomic_o_trunc unless asked) and the options
   given (max_write=, async_read...), before the file system's init. */
void fc2_conn_prepare(struct fuse_conn_info *conn, struct fuse_conn_info_opts *opts) FC_HIDDEN;
void fc2_conn_to2(const struct fuse_conn_info *conn, struct fuse2_conn_info *c2) FC_HIDDEN;
void fc2_conn_from2(const struct fuse2_conn_info *c2, struct fuse_conn_info *conn) FC_HIDDEN;
const char *fc2_chan_mountpoint(const struct fuse_chan *ch) FC_HIDDEN;

/* The file a low-level reply gives (fuse_reply_open, _create), in the
   layout of the stand-in's libfuse, into out (api3.c, fuse2.c). */
void fc_reply_fi(const struct fuse_file_info *given, struct fuse_file_info *out) FC_HIDDEN;
/* The session a request belongs to (ll.c). */
struct fuse_session *fc_req_session(fuse_req_t req) FC_HIDDEN;

/* ---- start.c ---------------------------------------------------------- */
/* The instance whose main() is running towards the loop (start-up is
   single-threaded), or NULL. */
extern struct fc_inst *fc_starting FC_HIDDEN;
/* Called by fuse_loop and friends: the file system is ready; returns when
   the mount ends (destroy), with the loop's result. */
int fc_serve(struct fc_inst *in) FC_HIDDEN;
/* A one-line reason for refusing the start (into in->why). */
void fc_why(struct fc_inst *in, const char *fmt, ...) FC_HIDDEN
	__attribute__((format(printf, 2, 3)));
/* defuse_ops.destroy: ends the mount (main() finishes) and frees it. */
void fc_stop(void *priv) FC_HIDDEN;
/* ll.c: fuse_session_fd's descriptor closed, with the session. */
void fc_session_close_fd(struct fuse_session *se) FC_HIDDEN;
/* A /dev/null descriptor standing for a FUSE device (ll.c): *slot holds
   it + 1, 0 until the first call. */
int fc_null_fd(int *slot) FC_HIDDEN;
void fc_null_fd_close(int *slot) FC_HIDDEN;

/* ---- adopt.c ----------------------------------------------------------- */
/* fc_entry's carry and adopt (compat.h). */
void fc_carry(void *inst, void *from) FC_HIDDEN;
int fc_adopt(void *inst, uint64_t *fh, int how) FC_HIDDEN;

/* ---- context.c ------------------------------------------------------- */
/* Sets the calling thread's fuse_get_context() for a call into f. */
void fc_ctx_enter(struct fuse *f, int creating) FC_HIDDEN;
void fc_ctx_leave(void) FC_HIDDEN;
/* The user_data fuse_get_context() shows (each stacked file system's own). */
void fc_ctx_private(void *data) FC_HIDDEN;
/* The process's umask (from /proc: no umask(2) round trip). */
mode_t fc_current_umask(void) FC_HIDDEN;
void *fc_ctx_get_private(void) FC_HIDDEN;
/* Whose IDs a permission check is made for: access(2)'s real ones,
   AT_EACCESS's effective ones, or the file-system IDs of every other call. */
enum { FC_IDS_REAL, FC_IDS_EFFECTIVE, FC_IDS_FS };
/* May the caller have access mode (R_OK | W_OK | X_OK) to a file of
   attributes st, by its mode bits as the kernel decides it, as the IDs
   which says (FC_IDS_*)?  0 or -EACCES. */
int fc_mode_permits(const struct stat *st, int mode, int which) FC_HIDDEN;
/* The kernel's checks before a FUSE file system sees a call, which with
   default_permissions it makes for every file and without for FIFOs (a
   FIFO on a FUSE mount is the kernel's pipe: in process the host's
   stand-in, src/core/special.c, which the module names by answering
   -ENXIO once this allows the open): may the caller open the file st
   with open(2)'s flags (0 or -EACCES), or make the change set
   (FUSE_SET_ATTR_*, new values in a) to it (0, -EPERM or -EACCES, as
   chmod, chown, truncate, utimensat)? */
int fc_dp_open(const struct stat *st, int flags) FC_HIDDEN;
/* Does fc_dp_open pass whatever the file's owner and mode (the caller's
   file-system user is 0)?  A caller that knows only a file's type need
   not ask for the rest then. */
int fc_dp_open_passes(void) FC_HIDDEN;
/* utimensat's times (NULL: both now) as FUSE's setattr bits, the times of
   one's choosing into a's st_atim and st_mtim. */
int fc_times_to_set(const struct timespec *t, struct stat *a) FC_HIDDEN;
int fc_dp_setattr(const struct stat *st, int set, const struct stat *a) FC_HIDDEN;
/*
 * The set-ID bits the kernel takes from a file before its FUSE file system
 * sees the change (without handle_killpriv, fuse_setattr sends the mode),
 * and which in process must go here: FC_KILL_WRITE, a write or truncation
 * by a caller without CAP_FSETID (file_remove_privs); FC_KILL_CHOWN, any
 * chown of a file that is no directory, by anyone, even one that changes
 * nothing (chown_common).  Set-user-ID goes; set-group-ID too when the
 * group may execute, or when the caller is not in the file's group and
 * not privileged (setattr_should_drop_sgid: native Linux, which clears a
 * little more than kernel FUSE does).  The caller is the thread's file-
 * system IDs; user 0 is privileged.  Returns the mode st should have
 * (permission bits), st's own when nothing goes.
 */
enum { FC_KILL_WRITE, FC_KILL_CHOWN };
mode_t fc_kill_setid(const struct stat *st, int why) FC_HIDDEN;
/* After a change of mode that succeeded (r == 0) and set a set-ID bit:
   every open file of in's asks for its mode again at its next write, as
   the kernel looks at the mode at every write (privs_done); a file opened
   without the bits and written before would keep them. */
void fc_privs_again(struct fc_inst *in, mode_t mode, int r) FC_HIDDEN;
/* The caller's IDs as fuse_get_context and fuse_req_ctx give them: the
   thread's file-system IDs, or 0 and 0 between fc_ctx_as_kernel(1) and
   (0), around a change the kernel makes itself whoever the caller is
   (the set-ID bits' removal: a file system that checks its caller, as
   fuse2fs does, must not refuse it to a user who does not own the file). */
void fc_ctx_ids(uid_t *uid, gid_t *gid) FC_HIDDEN;
void fc_ctx_as_kernel(int on) FC_HIDDEN;

/* ---- opt.c / cmdline.c --------------------------------------------- */
/* Parses the mount options every FUSE program may be given (ro,
   default_permissions, fsname=...) out of args into mo.  0 or -1. */
int fc_parse_mount_opts(struct fuse_args *args, struct fc_mount_opts *mo) FC_HIDDEN;
/* "fuse: unknown option(s): ..." if args holds more than argv[0]. */
int fc_check_no_args(struct fuse_args *args) FC_HIDDEN;

/* fuse_parse_cmdline's work: libfuse 3.12's options into opts. */
int fc_parse_cmdline(struct fuse_args *args, struct fuse_cmdline_opts *opts) FC_HIDDEN;

/* ---- new.c: what each API's entry points do (api3.c, fuse2.c) ---------- */
/* fuse_new: the high-level handle for op (libfuse 3's layout). */
struct fuse *fc_new(struct fuse_args *args, const struct fuse_operations *op, size_t op_size,
		    void *user_data) FC_HIDDEN;
/* The event loop: the start-up is over; single is fuse_loop's one call at
   a time.  Returns when the mount ends. */
int fc_loop(struct fuse *f, int single) FC_HIDDEN;
/* fuse_is_lib_option: one of the high level's options. */
int fc_is_lib_option(const char *opt) FC_HIDDEN;

/* ---- hl.c -------------------------------------------------------------- */
/* The inode number of path without use_ino (1 for the root). */
uint64_t fc_path_ino(const char *path) FC_HIDDEN;
extern const struct defuse_ops fc_hl_ops FC_HIDDEN;
/* The file system's init, with the conn and config it gets (hl). */
int fc_hl_init(struct fc_inst *in) FC_HIDDEN;
void fc_hl_destroy(struct fc_inst *in) FC_HIDDEN;

/* DEFUSE_FUSE_LOCKDIR or DEFUSE_FUSE_NAME_CACHE (no other name) as the
   environment had it at the image's first start (start.c), else NULL. */
const char *fc_setting(const char *name) FC_HIDDEN;

/* ---- lock.c ----------------------------------------------------------- */
void fc_lock_dir(struct fc_inst *in) FC_HIDDEN;
/* Local locks of open file h, whose file has the number key (its inode
   number as every process sees it), on a carrier (lock.c). */
int fc_local_getlk(struct fc_inst *in, struct fc_file *h, uint64_t key, struct flock *lock)
	FC_HIDDEN;
int fc_local_setlk(struct fc_inst *in, struct fc_file *h, uint64_t key,
		   const struct flock *lock, int wait) FC_HIDDEN;
int fc_local_flock(struct fc_inst *in, struct fc_file *h, uint64_t key, int op) FC_HIDDEN;
/* Open (read-write, made 0666 if missing) the file name in the lock
   directory dir: a descriptor or -errno. */
int fc_shared_file(const char *dir, const char *name) FC_HIDDEN;

/* ---- ll.c ------------------------------------------------------------- */
extern const struct defuse_ops fc_ll_ops FC_HIDDEN;
/* fuse_session_loop[_mt]'s work. */
int fc_session_loop(struct fuse_session *se, int single) FC_HIDDEN;
int fc_ll_init(struct fc_inst *in) FC_HIDDEN;
void fc_ll_destroy(struct fc_inst *in) FC_HIDDEN;
/* The connection a file system's init gets, before it changes it. */
void fc_conn_defaults(struct fuse_conn_info *c) FC_HIDDEN;

/* ---- paths.c: where open files are, for fh_path ---------------------- */
/* A rename done here moved from to to (both ways with exchange): open
   files at or below from are below to now. */
void fc_files_renamed(struct fc_inst *in, const char *from, const char *to, int exchange)
	FC_HIDDEN;
/* Name path was removed here (unlink, rmdir, or replaced by a rename):
   the open files it named have none now.  ino: the inode that name had
   (low level), or 0 (high level: by path alone). */
void fc_files_removed(struct fc_inst *in, const char *path, uint64_t ino) FC_HIDDEN;
/* defuse_ops.fh_path of open file h. */
/* h off its list (head: &in->files, or &in->inherited), freed with what it
   holds: its listing, its lock carrier, its path.  No FUSE release. */
void fc_file_free(struct fc_inst *in, struct fc_file **head, struct fc_file *h) FC_HIDDEN;
/* A directory's listing kept here (dir_mode 2) dropped. */
void fc_file_clear_listing(struct fc_file *h) FC_HIDDEN;
int fc_file_path(struct fc_inst *in, const struct fc_file *h, char *buf, size_t size)
	FC_HIDDEN;

/* ---- names.c: the low level's name cache ------------------------------ */
struct fc_names;
struct fc_name;			/* one entry */
/* Gives back one lookup reference of ino (the session's forget). */
typedef void fc_forget_fn(void *arg, fuse_ino_t ino);
/* The changes counted before a lookup, judging whether its answer may be
   kept. */
struct fc_name_snap {
	uint64_t foreign, own;
};
#define FC_NAMES_HASH0 2166136261u
/* A directory entry number for "none kept": nothing below it is kept. */
#define FC_NAMES_NONE UINT64_MAX
/* The hash of a path, in pieces: h from the bytes before (FC_NAMES_HASH0
   for none), then s[0..n). */
uint32_t fc_names_hash(uint32_t h, const char *s, size_t n) FC_HIDDEN;
/* The cache of the file system keyed key, sharing its change counter with
   the other processes through directory dir when it can.  want: 1 keep
   names even if other processes' changes cannot be seen, -1 keep them
   only if they can, 0 keep none (changes are still counted for the other
   processes).  files: names of files are kept too, not only those of
   directories.  NULL: out of memory. */
struct fc_names *fc_names_new(const char *dir, uint64_t key, int want, int files) FC_HIDDEN;
/* Whether names are kept at all. */
int fc_names_keep(const struct fc_names *c) FC_HIDDEN;
/* At the start of a walk: if another process changed a name since the
   last, every entry goes first. */
void fc_names_sync(struct fc_names *c, fc_forget_fn *forget, void *arg) FC_HIDDEN;
/* Read before a lookup whose answer may be kept, or a call that makes a
   name. */
struct fc_name_snap fc_names_snap(struct fc_names *c) FC_HIDDEN;
/* path[0..len)'s inode, file type and entry number, if its entry is valid
   below the directory entry numbered parent (0: the root): 1, or 0.  With pin, the
   entry is pinned (*pin): its reference stays the caller's to use until
   fc_names_unpin, whatever becomes of the name meanwhile. */
int fc_names_get(struct fc_names *c, const char *path, size_t len, uint32_t hash,
		 uint64_t parent, fuse_ino_t *ino, mode_t *type, uint64_t *seq,
		 struct fc_name **pin) FC_HIDDEN;
/* Keeps the lookup reference of path[0..len) -> ino (of file type type)
   for timeout seconds: the reference is the cache's from now on (with pin,
   pinned as fc_names_get pins).  Returns the entry's number, or 0 (a
   change was counted since snap, a file's name where only directories'
   are kept, or out of memory: the reference is still the caller's). */
uint64_t fc_names_put(struct fc_names *c, const char *path, size_t len, uint32_t hash,
		      fuse_ino_t ino, mode_t type, struct fc_name_snap snap, uint64_t parent,
		      double timeout, struct fc_name **pin, fc_forget_fn *forget, void *arg)
	FC_HIDDEN;
/* The caller is done with a pinned entry's reference. */
void fc_names_unpin(struct fc_names *c, struct fc_name *d, fc_forget_fn *forget, void *arg)
	FC_HIDDEN;
/* Name path was changed here (removed, renamed from or to, or a making
   call failed): the entries for it go, in this process and (all of them)
   in the others. */
void fc_names_changed(struct fc_names *c, const char *path, fc_forget_fn *forget, void *arg)
	FC_HIDDEN;
/* A call here made path, with the lookup reference of ino, below the
   directory entry parent (FC_NAMES_NONE: none kept), snap read before the
   call: counted as a change, and the reference kept as path's entry for
   timeout seconds (with pin, pinned): 1.  Or 0: not kept, and then
   forgotten, or with pin still the caller's. */
int fc_names_made(struct fc_names *c, const char *path, struct fc_name_snap snap,
		  fuse_ino_t ino, mode_t type, uint64_t parent, double timeout,
		  struct fc_name **pin, fc_forget_fn *forget, void *arg) FC_HIDDEN;
/* fc_names_get and fc_names_put of a whole path (any spelling). */
int fc_names_get_path(struct fc_names *c, const char *path, uint64_t parent, fuse_ino_t *ino,
		      mode_t *type, struct fc_name **pin) FC_HIDDEN;
int fc_names_put_path(struct fc_names *c, const char *path, fuse_ino_t ino, mode_t type,
		      struct fc_name_snap snap, uint64_t parent, double timeout,
		      struct fc_name **pin, fc_forget_fn *forget, void *arg) FC_HIDDEN;
/* Every entry goes (a notification from the file system; the end). */
void fc_names_clear(struct fc_names *c, fc_forget_fn *forget, void *arg) FC_HIDDEN;
void fc_names_free(struct fc_names *c, fc_forget_fn *forget, void *arg) FC_HIDDEN;
void fc_names_after_fork_child(struct fc_names *c) FC_HIDDEN;

/* ---- fs.c ------------------------------------------------------------- */
struct fuse_fs *fc_subdir_new(struct fuse_args *args, struct fuse_fs *next) FC_HIDDEN;

#endif
