/*
 * The core's descriptor table: which of the program's descriptors belong to
 * a mount (and for emulated files, to which open file description).  Kept
 * right across close, dup*, fcntl(F_DUPFD*) and close_range (vfs.c); a
 * forked child has its own copy, as it has its own kernel table.
 *
 * A vfork child shares this memory with its suspended parent but has a
 * table of its own in the kernel: its changes must not touch ours, so they
 * are skipped (the child execs or exits soon; defuse_self.vfork_child).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "common/sys.h"
#include "core/core.h"

static int shared_with_parent(void)
{
	return defuse_self.vfork_child;
}

/* Drops one reference; the last one releases the module's handle. */
static void open_put(struct core_open *o)
{
	const struct core_mount *m;

	if (!o || --o->refs > 0)
		return;
	m = &core_mounts[o->mount];
	if (m->ops->release)
		m->ops->release(m->priv, o->fh);
	sys2(SYS_munmap, o->ofd, 4096);
	free(o);
}

void core_fd_forget(long fd)
{
	struct core_fd *f;

	if (!(f = core_fd_get(fd)) || shared_with_parent())
		return;
	core_fds[fd] = NULL;
	core_nfds--;
	open_put(f->open);
	free(f);
}

void core_fd_remember(long fd, int mount, const char *path, struct core_open *open)
{
	size_t n = strlen(path) + 1;
	struct core_fd *f;

	if (fd < 0 || fd >= CORE_FD_MAX || shared_with_parent())
		return;
	f = malloc(sizeof(*f) + n);
	if (open)
		open->refs++;
	core_fd_forget(fd);
	if (!f) {
		open_put(open);
		return;
	}
	f->mount = mount;
	f->open = open;
	memcpy(f->path, path, n);
	core_fds[fd] = f;
	core_nfds++;
}

void core_fd_copy(long from, long to)
{
	struct core_fd *f;

	if (from == to)
		return;
	f = core_fd_get(from);
	if (f)
		core_fd_remember(to, f->mount, f->path, f->open);
	else
		core_fd_forget(to);
}
