/*
 * One mount of the fuse module (module.c), and its life across fork
 * (restart.c).
 */
#ifndef DEFUSE_FUSE_FM_H
#define DEFUSE_FUSE_FM_H

#include <pthread.h>
#include <stdint.h>
#include "compat.h"

/* fmount.state: what a call must see to first (0: nothing, the rule). */
enum {
	FM_RESTART = 1,	/* a forked child's: the file system starts again
			   at the next call (restart.c) */
	FM_REBORN = 2,	/* it did: handles may be the old instance's */
	FM_DEAD = 4,	/* it could not: every call fails with EIO */
};

struct fs_image;
struct fs_exit_fn;

/* Where a file system's code reads libc's getopt variables: its own
   copies (a program's copy relocations) or fsgetopt.c's (fsgetopt.c). */
struct fsgetopt_vars {
	int *optind, *opterr, *optopt;
	char **optarg;
};

struct fmount {
	const struct fc_entry *entry;
	const struct defuse_ops *ops;	/* the stand-in's */
	void *inst;
	char **argv;
	int argc;
	int (*main)(int, char **);
	char *name;
	char *cwd;			/* the file system's own working directory, or NULL */
	int umask;			/* its own umask, or -1: the program's (fscwd.c) */

	char **run_argv;		/* the copy main() was given (it may change it),
					   then the strings as given */
	struct defuse_conn conn;	/* the host's offer, for a start again */

	int state;			/* FM_*, read by every call */
	int threads;			/* the file system started threads of its own */
	int starting;			/* its start runs (fm_start) */
	int forked;			/* ... and forked (restart.c: w_fork) */
	int start_child;		/* this process is that fork's child */
	struct fs_image *image;		/* its object's data as it was before main() */
	struct fsgetopt_vars optvars;	/* its getopt's variables */
	struct fs_exit_fn *exit_fns;	/* its exit handlers (fsexit.c) */
	size_t n_exit_fns, cap_exit_fns;
	size_t exit_fns_loaded;		/* how many its constructors registered */
	pthread_mutex_t restart_lock;
};

/* The mount being called in this thread (set around every call), or the
   mount whose file system started this thread; NULL otherwise. */
extern __thread struct fmount *fm_calling;

/* Starts fm's file system: its main() runs until its loop (the stand-in's
   start); fills fm->inst, ops, cwd, umask.  in_call: inside a call of the
   program's (fc_start).  0 or -errno with why. */
int fm_start(struct fmount *fm, struct defuse_conn *conn, int in_call, char *why,
	     size_t why_len);

/* ---- fsgetopt.c: the file system's own getopt ---------------------------- */

/* The program's copy of libc's variable name (optind, opterr, optopt,
   optarg) is at `at`: its getopt updates that one.  Others are ignored. */
void fsgetopt_note_copy(struct fsgetopt_vars *v, const char *name, void *at);

/* Before each start of the file system: nothing parsed yet (optind 1). */
void fsgetopt_reset(struct fsgetopt_vars *v);

/* The file system's getopt calls and libc's getopt variables, redirected
   in its objects (fdwrap.c's table asks), or NULL for another name. */
void *fsgetopt_wrapper_for(const char *name);

/* ---- fsexit.c: the file system's exit handlers ---------------------------- */

/* After its constructors: the handlers registered so far are the object's,
   kept by a start again (the others are its main()'s). */
void fsexit_loaded(struct fmount *fm);
/* A start again: the handlers its main() and calls registered are gone
   with the globals they were for. */
void fsexit_forget_main(struct fmount *fm);
/* At its end, after main() has finished: its handlers, last first. */
void fsexit_run(struct fmount *fm);
/* In a forked child (no allocation). */
void fsexit_fork_child(void);

/* __cxa_atexit, atexit and __cxa_finalize in its objects (fdwrap.c's
   table asks), or NULL for another name. */
void *fsexit_wrapper_for(const char *name);

/* ---- restart.c ---------------------------------------------------------- */

/* The writable data of the object behind dlopen handle h, kept so that a
   forked child can give its main() the globals it started with; NULL if
   it cannot be kept. */
struct fs_image *fs_image_save(void *h);
void fs_image_free(struct fs_image *im);

/* after_fork_child: a file system that started threads of its own starts
   again at the child's next call (no allocation here). */
void fm_fork_child(struct fmount *fm);

/* The slow start of a call, when fm->state is not 0: the restart, if one
   is due (not for a release or a path of an open file, which the old
   instance answers); then, with fh (a call on an open file), the handle
   the new instance serves for it (the stand-in's adopt: how, FC_ADOPT_*).
   0, 1 for a release done here (FC_ADOPT_RELEASE), or -errno. */
int fm_enter_slow(struct fmount *fm, uint64_t *fh, int how);

/* 1 in a child the file system forked (restart.c: its fork's wrapper),
   whose standard descriptors are the file system's to change (fdwrap.c). */
extern int fm_in_fs_child;

/* pthread_create's, fork's, daemon's, setsid's and exit's wrappers in the
   file system's objects (fdwrap.c's table asks), or NULL for another name. */
void *restart_wrapper_for(const char *name);

#endif
