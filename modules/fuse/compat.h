/*
 * Between the DEFUSE module `fuse` (module.c) and the libfuse stand-in it
 * loads (libfuse3.so.3 of this directory): the stand-in exports one
 * struct fc_entry under FC_ENTRY_SYMBOL, in a private version node, and
 * nothing else but libfuse's own API.  Private to modules/fuse; the layout
 * changes with FC_ENTRY_VERSION.
 */
#ifndef DEFUSE_FUSE_COMPAT_H
#define DEFUSE_FUSE_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <defuse/module.h>

#define FC_ENTRY_SYMBOL "defuse_fusecompat_entry"
#define FC_ENTRY_VERSION 7

/* What the module asks the stand-in to start: one FUSE program's main(). */
struct fc_start {
	int (*main)(int argc, char **argv);
	int argc;
	char **argv;		/* argv[0] the program's name, the mount point
				   last; argv[argc] NULL; kept until destroy */
	const char *name;	/* the file system, for messages */
	char *cwd;		/* out: where the start-up left the working
				   directory, if it moved it (malloc'd), or NULL */
	int umask;		/* out: the umask the start-up left, if it
				   changed the program's, or -1 */
	int in_call;		/* started inside a call of the program's (a
				   forked child's start again, restart.c), which
				   may be a write of its stdio: its streams are
				   not flushed around the start */
};

struct fc_entry {
	uint32_t version;	/* FC_ENTRY_VERSION */
	/*
	 * Runs s->main until the file system is ready to serve (its main
	 * reached fuse_loop or fuse_session_loop and its init ran), then
	 * returns 0 with *inst, the instance every operation in ops takes
	 * as priv, and *ops, the DEFUSE operations that serve it (those of
	 * the high- or the low-level API; init unused).  Else -errno and a
	 * one-line reason in why.  conn is the host's offer; start adds
	 * DEFUSE_CAP_READONLY to want for "-o ro".
	 */
	int (*start)(struct fc_start *s, struct defuse_conn *conn, void **inst,
		     const struct defuse_ops **ops, char *why, size_t why_len);
	/*
	 * A forked child's new instance (restart.c): inst, just started,
	 * takes over the open files of from, the instance it replaces (the
	 * parent's copy, whose handles the child cannot use), as inherited
	 * files, opened again through inst at their first use (adopt).
	 */
	void (*carry)(void *inst, void *from);
	/*
	 * The handle inst serves for *fh, which may be one of an instance it
	 * replaced: with FC_ADOPT_OPEN the file is opened again through inst
	 * at its first use (0, or -errno: -ESTALE when its name was removed
	 * meanwhile); with FC_ADOPT_PEEK it is not (for its path only).
	 * FC_ADOPT_RELEASE: the release of *fh, when it is an inherited
	 * file: its own opening again, if any, is released, the old handle
	 * left to the parent; 1 when done so, 0 for inst's own file (to be
	 * released as always).
	 */
	int (*adopt)(void *inst, uint64_t *fh, int how);
	/*
	 * exit(status), called by the file system's own code (redirected in
	 * its objects, restart.c): while its main() starts in this process,
	 * on its stack, the start ends there as a refused one (a one-line
	 * reason: it called exit), without running any exit handler, the
	 * program's included (a start again runs inside a program's call);
	 * start returns.  Otherwise returns, and the caller exits.
	 */
	void (*exit_in_start)(int status);
};

enum { FC_ADOPT_OPEN, FC_ADOPT_PEEK, FC_ADOPT_RELEASE };

#endif
