/*
 * Where this process's open files are (defuse_ops.fh_path), for both APIs.
 *
 * The host names files by path, and asks where an open directory went
 * (a directory descriptor, the cwd) when a walk from it fails, and where
 * any open file is when its /proc/self/fd link is read: the kernel would
 * follow the file's dentry.  Each open file keeps the path it was opened
 * by; renames and removals made through this instance keep it true, at
 * the cost of one walk of the open files per rename or removal (none on
 * reads and writes).  Renames and removals by other processes are not
 * seen: their instances are their own (docs/fuse-compat.md).
 */
#include "fc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* p with the prefix from (a whole component) replaced by to, or NULL. */
static char *moved_path(const char *p, const char *from, const char *to)
{
	size_t n = strlen(from), t = strlen(to), rest;
	char *s;

	if (strncmp(p, from, n) || (p[n] && p[n] != '/'))
		return NULL;
	rest = strlen(p + n);
	s = malloc(t + rest + 1);
	if (s) {
		memcpy(s, to, t);
		memcpy(s + t, p + n, rest + 1);
	}
	return s;
}

void fc_files_renamed(struct fc_inst *in, const char *from, const char *to, int exchange)
{
	pthread_mutex_lock(&in->files_lock);
	FC_EACH_FILE(in, h) {
		char *p;

		/* a removed file's path names something else now, if anything */
		if (h->removed)
			continue;
		p = moved_path(h->path, from, to);
		if (!p && exchange)
			p = moved_path(h->path, to, from);
		/* no memory: the old path stays, which fh_path then gives, as
		   a module without fh_path would have it */
		if (p) {
			free(h->path);
			h->path = p;
		}
	}
	pthread_mutex_unlock(&in->files_lock);
}

/*
 * A file opened by a name that is then removed has lost its name for the
 * kernel too, even when other hard links remain: its /proc/self/fd link
 * reads "NAME (deleted)".  A directory has one name, so the low level
 * knows it by its inode whatever path this process last saw.
 */
void fc_files_removed(struct fc_inst *in, const char *path, uint64_t ino)
{
	pthread_mutex_lock(&in->files_lock);
	FC_EACH_FILE(in, h) {
		if (h->removed)
			continue;
		if (ino ? h->ino == ino && (h->is_dir || !strcmp(h->path, path)) :
			  !strcmp(h->path, path))
			h->removed = 1;
	}
	pthread_mutex_unlock(&in->files_lock);
}

int fc_file_path(struct fc_inst *in, const struct fc_file *h, char *buf, size_t size)
{
	int r = 0;

	if (!h)
		return -EBADF;	/* a FIFO: the host has its kernel descriptor */
	pthread_mutex_lock(&in->files_lock);
	/* a hidden file (.fuse_hidden*) lost its name for the program */
	if (h->removed || h->hidden)
		r = -ENOENT;
	else if (strlen(h->path) >= size)
		r = -ENAMETOOLONG;
	else
		strcpy(buf, h->path);
	pthread_mutex_unlock(&in->files_lock);
	return r;
}

void fc_file_clear_listing(struct fc_file *h)
{
	for (size_t i = 0; i < h->nents; i++)
		free(h->ents[i].name);
	h->nents = 0;
}

void fc_file_free(struct fc_inst *in, struct fc_file **head, struct fc_file *h)
{
	pthread_mutex_lock(&in->files_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		*head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&in->files_lock);
	fc_file_clear_listing(h);
	free(h->ents);
	if (h->lock_fd >= 0 && !(defuse_close_kept && defuse_close_kept(h->lock_fd) == 0))
		close(h->lock_fd);
	pthread_mutex_destroy(&h->dir_lock);
	free(h->path);
	free(h);
}
