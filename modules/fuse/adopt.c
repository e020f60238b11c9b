/*
 * The open files a forked child inherits from an instance it replaced.
 *
 * A file system that runs threads of its own (sshfs reads its server's
 * replies in one) cannot go on in a forked child as a copy of its
 * parent's: the child has none of those threads.  The module starts it
 * again in the child instead (restart.c), and the new instance carries
 * the old one's open files as inherited ones (fc_carry): their handles
 * are the old instance's (sshfs's are SFTP handles of the parent's
 * connection), so each is opened again through the new instance, by the
 * path this process knows it by (paths.c keeps inherited paths true
 * across renames too), the first time the child uses it (fc_adopt).  The
 * old handle is the parent's: the child never releases it.  A file whose
 * name was removed meanwhile cannot be found again: ESTALE.
 *
 * An inherited file points at its opening again (adopted); a grandchild
 * follows that chain to the last instance's file.  Two threads adopting
 * one file at once each open it, and the one that links its file first
 * wins; the other gives its own back.  No lock: a fork may come at any
 * moment, and a lock held then would stay held in the child.
 */
#include "fc.h"
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fc_carry(void *inst, void *from)
{
	struct fc_inst *in = inst, *old = from;
	struct fc_file *lists[2] = { old->files, old->inherited };

	pthread_mutex_lock(&in->files_lock);
	for (int i = 0; i < 2; i++) {
		struct fc_file *h = lists[i], *last;

		if (!h)
			continue;
		for (last = h; last->next; last = last->next)
			;
		last->next = in->inherited;
		if (in->inherited)
			in->inherited->prev = last;
		h->prev = NULL;
		in->inherited = h;
	}
	pthread_mutex_unlock(&in->files_lock);
	old->files = old->inherited = NULL;
}

/* The last of h's openings again (h itself if none). */
static struct fc_file *last_opening(struct fc_file *h)
{
	struct fc_file *n;

	while ((n = __atomic_load_n(&h->adopted, __ATOMIC_ACQUIRE)))
		h = n;
	return h;
}

/* The flags that open old's file again as it was opened. */
static int reopen_flags(const struct fc_file *old)
{
	if (old->is_path_only)
		return O_PATH | (old->is_dir ? O_DIRECTORY : 0);
	return (old->fi.flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)) |
	       (old->is_dir ? O_DIRECTORY : 0);
}

/* old (another instance's, last of its chain) opened again through in. */
static int reopen(struct fc_inst *in, struct fc_file *old, struct fc_file **out)
{
	char path[PATH_MAX];
	struct defuse_open o = { 0, -1 };
	struct fc_file *n, *none = NULL;
	int r;

	/* its path as this process knows it; a hidden file (hl.c) has one */
	pthread_mutex_lock(&in->files_lock);
	r = old->removed ? -ESTALE : strlen(old->path) >= sizeof(path) ? -ENAMETOOLONG : 0;
	if (!r)
		strcpy(path, old->path);
	pthread_mutex_unlock(&in->files_lock);
	if (r)
		return r;
	r = in->ops->open(in, path, reopen_flags(old), 0, &o);
	if (r)
		return r;
	n = (struct fc_file *)(uintptr_t)o.fh;
	if (o.kernel_fd >= 0 || !n) {
		/* a FIFO now: not the file it was */
		if (o.kernel_fd >= 0)
			close(o.kernel_fd);
		if (n)
			in->ops->release(in, o.fh);
		return -ESTALE;
	}
	/* Its locks: the description's, held by the carrier descriptor that
	   came through fork (lock.c); the new file goes on with it.  And a
	   hidden file (hl.c) is still one. */
	n->lock_fd = old->lock_fd;
	n->hidden = old->hidden;
	if (!__atomic_compare_exchange_n(&old->adopted, &none, n, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		n->lock_fd = -1;
		n->hidden = 0;
		in->ops->release(in, o.fh);	/* another thread's came first */
		*out = none;
		return 0;
	}
	old->lock_fd = -1;
	*out = n;
	return 0;
}

/* An inherited file given up: this process's copy (the parent's is its
   own). */
static void drop_inherited(struct fc_inst *in, struct fc_file *h)
{
	fc_file_free(in, &in->inherited, h);
}

int fc_adopt(void *inst, uint64_t *fh, int how)
{
	struct fc_inst *in = inst;
	struct fc_file *h = (struct fc_file *)(uintptr_t)*fh, *last;
	int r;

	if (!h || h->inst == in)
		return 0;
	last = last_opening(h);
	switch (how) {
	case FC_ADOPT_PEEK:
		*fh = (uintptr_t)last;
		return 0;
	case FC_ADOPT_RELEASE: {
		/* asked before the release, which frees last if it is ours
		   (looking after it read freed memory and freed last again) */
		int ours = last->inst == in;

		if (ours)
			in->ops->release(in, (uintptr_t)last);
		while (h != last) {
			struct fc_file *next = h->adopted;

			drop_inherited(in, h);
			h = next;
		}
		if (!ours)
			drop_inherited(in, last);
		return 1;
	}
	}
	if (last->inst != in) {
		r = reopen(in, last, &last);
		if (r)
			return r;
	}
	*fh = (uintptr_t)last;
	return 0;
}
