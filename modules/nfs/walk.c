/*
 * From a path to a file handle, as the kernel client's lookup does it:
 * component by component, each name answered by the cache while its
 * attributes are trusted (cache.c), else by a LOOKUP, which brings the
 * file's handle and attributes and its directory's attributes in one
 * round trip.  Search permission on each directory is checked here on the
 * cached attributes (a LOOKUP is checked by the server itself, with the
 * caller's identity, rpc.c), as the kernel checks it on its own cache.
 *
 * The host hands over resolved paths (module.h), so links are met only in
 * the last component; one there is followed when the operation asks,
 * relative to its directory; an absolute target, or ".." above the root,
 * leaves the mount: -EXDEV, and the host goes on from there.
 *
 * A handle the server no longer knows (ESTALE: the directory was removed
 * by another client) makes the walk start over once, asking the server
 * for every component, as the kernel retries a lookup with LOOKUP_REVAL.
 */
#include "nfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

mode_t type_mode(int type)
{
	switch (type) {
	case NF3REG: return S_IFREG;
	case NF3DIR: return S_IFDIR;
	case NF3BLK: return S_IFBLK;
	case NF3CHR: return S_IFCHR;
	case NF3LNK: return S_IFLNK;
	case NF3SOCK: return S_IFSOCK;
	case NF3FIFO: return S_IFIFO;
	default: return 0;
	}
}

void attr_to_stat(struct nfsmod *m, const fattr3 *a, struct stat *st)
{
	(void)m;
	memset(st, 0, sizeof(*st));
	/* one device per server file system, as the kernel client mounts
	   each fsid on its own anonymous device */
	st->st_dev = makedev(0, (unsigned)((a->fsid ^ (a->fsid >> 20) ^ (a->fsid >> 40)) &
					   0xfffff));
	st->st_ino = a->fileid;
	st->st_mode = type_mode(a->type) | (a->mode & 07777);
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	if (a->type == NF3CHR || a->type == NF3BLK)
		st->st_rdev = makedev(a->rdev.specdata1, a->rdev.specdata2);
	st->st_size = (off_t)a->size;
	/* a page, as local file systems say (the kernel client says its
	   wsize; programs size buffers by it, ours need no help) */
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a->used + 511) / 512);
	st->st_atim.tv_sec = a->atime.seconds;
	st->st_atim.tv_nsec = a->atime.nseconds;
	st->st_mtim.tv_sec = a->mtime.seconds;
	st->st_mtim.tv_nsec = a->mtime.nseconds;
	st->st_ctim.tv_sec = a->ctime.seconds;
	st->st_ctim.tv_nsec = a->ctime.nseconds;
}

/* generic_permission: root (CAP_DAC_OVERRIDE) reads and writes all, and
   executes what has an x bit or is a directory. */
int may(struct cred *c, const fattr3 *a, int mask)
{
	unsigned bits;

	mask &= R_OK | W_OK | X_OK;
	if (c->uid == 0) {
		if ((mask & X_OK) && a->type != NF3DIR && !(a->mode & 0111))
			return -EACCES;
		return 0;
	}
	if (c->uid == a->uid)
		bits = (a->mode >> 6) & 7;
	else if (cred_in_group(c, a->gid))
		bits = (a->mode >> 3) & 7;
	else
		bits = a->mode & 7;
	return (mask & ~(int)bits) ? -EACCES : 0;
}

static void set_fh(nfs_fh3 *to, const struct fh *fh)
{
	to->data.data_len = fh->len;
	to->data.data_val = (char *)fh->data;
}

int attr_fresh(struct nfsmod *m, struct cred *c, struct inode *ino)
{
	struct call call;
	int r;

	if (cache_fresh(m, ino))
		return 0;
	memset(&call, 0, sizeof(call));
	call.proc = P_GETATTR;
	set_fh(&call.a.getattr.object, &ino->fh);
	call.parallel = true;
	if ((r = nfs_call(m, c, &call)) < 0)
		return r;
	if (call.obj.fileid != ino->fileid || call.obj.fsid != ino->fsid)
		return -ESTALE;
	cache_attr(m, &ino->fh, &call.obj, false);
	return 0;
}

/* The root's inode (after the cache started over, from the server). */
static int root_inode(struct nfsmod *m, struct cred *c, struct inode **out)
{
	struct inode *ino = cache_inode(m, m->root_fsid, m->root_fileid);
	struct call call;
	int r;

	if (!ino) {
		memset(&call, 0, sizeof(call));
		call.proc = P_GETATTR;
		set_fh(&call.a.getattr.object, &m->root);
		call.parallel = true;
		if ((r = nfs_call(m, c, &call)) < 0)
			return r;
		if (!(ino = cache_attr(m, &m->root, &call.obj, false)))
			return -ENOMEM;
		cache_name_set(m, "/", 1, ino, NULL, 0);
	}
	*out = ino;
	return 0;
}

int join_path(struct place *out, const struct place *dir, const char *name, size_t len)
{
	size_t dl = dir->len == 1 ? 0 : dir->len;

	if (dl + 1 + len >= sizeof(out->path))
		return -ENAMETOOLONG;
	if (out != dir)
		memcpy(out->path, dir->path, dl);
	out->path[dl] = '/';
	memcpy(out->path + dl + 1, name, len);
	out->len = dl + 1 + len;
	out->path[out->len] = 0;
	return 0;
}

int lookup_fresh(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
		 size_t len, struct place *out)
{
	char nm[NFS_NAME_MAX + 1];
	struct call call;
	struct inode *ino;
	uint32_t pgen = gen_of(m, dir->ino);
	int r;

	if (len > NFS_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(nm, name, len);
	nm[len] = 0;
	if ((r = join_path(out, dir, name, len)) < 0)
		return r;
	memset(&call, 0, sizeof(call));
	call.proc = P_LOOKUP;
	set_fh(&call.a.lookup.what.dir, &dir->ino->fh);
	call.a.lookup.what.name = nm;
	call.parallel = true;
	r = nfs_call(m, c, &call);
	if (call.has_dir)
		cache_attr_nofh(m, &call.dir);
	if (r == -ENOENT) {
		cache_names_below(m, out->path, out->len);
		cache_name_neg(m, out->path, out->len, dir->ino, pgen);
	}
	if (r < 0)
		return r;
	if (!call.has_fh)
		return -EIO;
	if (!call.has_obj) {
		struct call g;

		memset(&g, 0, sizeof(g));
		g.proc = P_GETATTR;
		set_fh(&g.a.getattr.object, &call.fh);
		g.parallel = true;
		if ((r = nfs_call(m, c, &g)) < 0)
			return r;
		call.obj = g.obj;
	}
	ino = cache_attr(m, &call.fh, &call.obj, false);
	if (!ino)
		return -ENOMEM;
	/* a name that now names another file: forget what was below it */
	if (cache_name_raw(m, out->path, out->len) != ino)
		cache_names_below(m, out->path, out->len);
	cache_name_set(m, out->path, out->len, ino, dir->ino, pgen);
	out->ino = ino;
	return 0;
}

int lookup_cached(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
		  size_t len, struct place *out)
{
	struct inode *ino;
	int r;

	if ((r = join_path(out, dir, name, len)) < 0)
		return r;
	ino = cache_name(m, out->path, out->len, dir->ino);
	if (ino && cache_fresh(m, ino)) {
		out->ino = ino;
		return 0;
	}
	if (!ino && cache_name_negative(m, out->path, out->len, dir->ino))
		return -ENOENT;
	return lookup_fresh(m, c, dir, name, len, out);
}

/* A link's target (cached with its inode: a link never changes). */
static int link_target(struct nfsmod *m, struct cred *c, struct inode *ino, const char **out)
{
	char buf[PATH_MAX];
	struct call call;
	int r;

	if (!ino->link) {
		memset(&call, 0, sizeof(call));
		call.proc = P_READLINK;
		set_fh(&call.a.readlink.symlink, &ino->fh);
		call.buf = buf;
		call.buflen = sizeof(buf) - 1;
		call.parallel = true;
		if ((r = nfs_call(m, c, &call)) < 0)
			return r;
		if (call.count >= sizeof(buf))
			return -ENAMETOOLONG;
		buf[call.count] = 0;
		if (call.has_obj)
			cache_attr(m, &ino->fh, &call.obj, false);
		/* another thread may have read it meanwhile */
		if (!ino->link && !(ino->link = strdup(buf)))
			return -ENOMEM;
	}
	*out = ino->link;
	return 0;
}

/*
 * Replaces the walk's remaining path: what is left after the current
 * component (from `after`, inside buf) is kept, with head put in front
 * (a link's target, or a path to walk again from the root).  0 or
 * -ENAMETOOLONG.
 */
static int splice_rest(char *buf, size_t size, const char *after, const char *head, size_t hlen)
{
	size_t alen = strlen(after);

	if (hlen + alen + 1 > size)
		return -ENAMETOOLONG;
	memmove(buf + hlen, after, alen + 1);
	memcpy(buf, head, hlen);
	return 0;
}

/*
 * The walk itself, from *cur (the root), iterative: its stack is the core's
 * (module.h), so no recursion and no buffer per link followed.  rest holds
 * what is left to walk; a link followed puts its target in front of what
 * follows it; ".." goes to the resolved path's parent (from the cache of
 * names, or by walking that path again from the root).  follow: a link in
 * the last component is followed; fresh: the last component is asked of
 * the server; reval: every component is.
 */
static int walk_from(struct nfsmod *m, struct cred *c, struct place *cur, const char *path,
		     bool follow, bool fresh, bool reval)
{
	char rest[2 * PATH_MAX];
	struct place next;
	const char *p = rest;
	int links = 0, r;

	if (strlen(path) >= sizeof(rest))
		return -ENAMETOOLONG;
	strcpy(rest, path);
	for (;;) {
		const char *s, *t;
		size_t len;
		bool last, slash;
		struct inode *ino;

		while (*p == '/')
			p++;
		if (!*p)
			return 0;
		for (s = p; *s && *s != '/'; s++)
			;
		len = (size_t)(s - p);
		for (t = s; *t == '/'; t++)
			;
		last = !*t;
		slash = last && *s == '/';
		if (cur->ino->attr.type != NF3DIR)
			return -ENOTDIR;
		if ((r = attr_fresh(m, c, cur->ino)) < 0)
			return r;
		if ((r = may(c, &cur->ino->attr, X_OK)) < 0)
			return r;
		if (len > m->name_max || len > NFS_NAME_MAX)
			return -ENAMETOOLONG;
		if (len == 1 && p[0] == '.') {
			p = s;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			size_t k = cur->len;

			if (k == 1)
				return -EXDEV;	/* ".." above the mount's root */
			while (k > 0 && cur->path[k - 1] != '/')
				k--;
			if (k > 1)
				k--;
			ino = k == 1 ? cache_inode(m, m->root_fsid, m->root_fileid)
				     : cache_name_raw(m, cur->path, k);
			if (!ino) {
				/* not in the cache: that path again, from the root */
				if ((r = splice_rest(rest, sizeof(rest), s, cur->path, k)) < 0)
					return r;
				p = rest;
				if ((r = root_inode(m, c, &cur->ino)) < 0)
					return r;
				cur->len = 1;
				cur->path[1] = 0;
				continue;
			}
			cur->ino = ino;
			cur->len = k;
			cur->path[k] = 0;
			p = s;
			continue;
		}
		if ((r = join_path(&next, cur, p, len)) < 0)
			return r;
		ino = cache_name(m, next.path, next.len, cur->ino);
		if (!ino && !reval && !(fresh && last) &&
		    cache_name_negative(m, next.path, next.len, cur->ino))
			return -ENOENT;
		if (!ino || reval || (fresh && last) || !cache_fresh(m, ino)) {
			if ((r = lookup_fresh(m, c, cur, p, len, &next)) < 0)
				return r;
			ino = next.ino;
		}
		next.ino = ino;
		if (ino->attr.type == NF3LNK && (!last || follow || slash)) {
			const char *target;

			if (++links > NFS_SYMLOOP)
				return -ELOOP;
			if ((r = link_target(m, c, ino, &target)) < 0)
				return r;
			if (!target[0])
				return -ENOENT;
			if (target[0] == '/')
				return -EXDEV;
			/* the target, from the link's directory (cur) */
			if ((r = splice_rest(rest, sizeof(rest), s, target, strlen(target))) < 0)
				return r;
			p = rest;
			continue;
		}
		if (slash && ino->attr.type != NF3DIR)
			return -ENOTDIR;
		cur->ino = next.ino;
		memcpy(cur->path, next.path, next.len + 1);
		cur->len = next.len;
		p = s;
	}
}

int walk(struct nfsmod *m, struct cred *c, const char *path, bool follow, bool fresh,
	 struct place *out)
{
	struct inode *root;
	int r;

	for (int reval = 0; reval < 2; reval++) {
		if ((r = root_inode(m, c, &root)) < 0)
			return r;
		out->ino = root;
		out->path[0] = '/';
		out->path[1] = 0;
		out->len = 1;
		r = walk_from(m, c, out, path, follow, fresh, reval);
		if (r == 0 && fresh && out->len == 1) {
			cache_expire(out->ino);
			r = attr_fresh(m, c, out->ino);
		}
		if (r != -ESTALE)
			return r;
		/* a handle went stale: forget the names, ask again */
		cache_forget_names(&m->cache);
	}
	return r;
}

bool slash_after(const char *path)
{
	size_t n = strlen(path);

	return n > 1 && path[n - 1] == '/';
}

int walk_parent(struct nfsmod *m, struct cred *c, const char *path, struct place *dir,
		const char **name, size_t *len)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), k;
	int r;

	while (n > 1 && path[n - 1] == '/')
		n--;
	for (k = n; k > 0 && path[k - 1] != '/'; k--)
		;
	*name = path + k;
	*len = n - k;
	if (k >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, k);
	buf[k] = 0;
	if ((r = walk(m, c, buf[0] ? buf : "/", true, false, dir)) < 0)
		return r;
	if (dir->ino->attr.type != NF3DIR)
		return -ENOTDIR;
	if (*len == 0)
		return 0;
	if ((r = attr_fresh(m, c, dir->ino)) < 0)
		return r;
	if (*len > m->name_max || *len > NFS_NAME_MAX)
		return -ENAMETOOLONG;
	return may(c, &dir->ino->attr, X_OK);
}
