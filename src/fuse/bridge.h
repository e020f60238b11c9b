/*
 * The FUSE bridge: one DEFUSE module served through kernel FUSE with
 * libfuse3's high-level (path-based) API, so that processes DEFUSE does not
 * capture see the same file system (docs/fuse.md).
 */
#ifndef DEFUSE_FUSE_BRIDGE_H
#define DEFUSE_FUSE_BRIDGE_H

#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <sys/types.h>
#include <defuse/module.h>
#include "module/call.h"

struct bridge {
	/* The started module: every call goes through the adapter
	   (module/call.h), as in a captured process. */
	struct defuse_mount_ref ref;
	/* Parsed -o options that tune the connection (writeback_cache, ...),
	   applied in the FUSE init callback. */
	struct fuse_conn_info_opts *conn_opts;
	/* The kernel caches writes and places O_APPEND writes itself: our
	   descriptors must then not append on their own. */
	int writeback;
	/* -o direct_io: no page cache for file data. */
	int direct_io;
	/* -o max_read=N, or 0. */
	unsigned int max_read;
	/* Root daemon: each request runs with its caller's file-system
	   identity, as the module would in the caller's own process. */
	int switch_creds;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups;
};

extern struct bridge bridge;

/* Sent to a serving thread when the kernel interrupts its request. */
#define BRIDGE_INTR_SIGNAL SIGUSR1

/* The module's operations as libfuse operations (ops.c). */
extern const struct fuse_operations bridge_ops;
/* Whether record locks go to ops.c (.lock), rather than being kept by the
   FUSE kernel module: the module keeps locks itself, or has no kernel
   descriptor to take them on. */
int bridge_wants_lock(void);
/* Once mounted, before serving: the bridge reads the kernel's requests and
   writes the replies itself (ops.c), to answer fstat of open files that no
   longer have a name.  0, or a negative errno. */
int bridge_io_start(struct fuse_session *se);

#endif
