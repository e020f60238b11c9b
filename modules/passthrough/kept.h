/*
 * The passthrough module's own descriptors (its root, emulated files'
 * descriptors, the view's and the kept directories'), set aside out of the
 * program's numbers under DEFUSE (module.h: defuse_keep_fd) and closed
 * again.  Outside the in-process host (the FUSE bridge, unit tests) the
 * host's functions are NULL and descriptors stay where they are.  Shared by
 * passthrough.c, dircache.c and view.c.
 */
#ifndef DEFUSE_PASSTHROUGH_KEPT_H
#define DEFUSE_PASSTHROUGH_KEPT_H

#include <defuse/module.h>

#include <unistd.h>

/* fd set aside: its new number; or -errno, fd closed.  A negative fd (a
   failed open's) is handed back as it is. */
static inline int pt_keep(int fd)
{
	int kept;

	if (fd < 0 || !defuse_keep_fd)
		return fd;
	kept = defuse_keep_fd(fd);
	if (kept < 0)
		close(fd);
	return kept;
}

/* Closes a descriptor pt_keep set aside (or left where it was); a
   negative one is none. */
static inline void pt_close_kept(int fd)
{
	if (fd < 0)
		return;
	if (!defuse_close_kept || defuse_close_kept(fd) < 0)
		close(fd);
}

#endif
