/*
 * Listing a directory: READDIRPLUS, which gives each entry's handle and
 * attributes with its name, so that the stat (ls -l, find, tar, make) or
 * open that usually follows a listing needs no round trip of its own.
 *
 * The whole listing is read at the first readdir of an open directory (and
 * again at each one from position 0: rewinddir), and positions are
 * indices into it: NFS cookies are the server's 64-bit values, which
 * getdents' signed offsets need not hold, and a listing read at once is a
 * consistent one.
 */
#include "nfs.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dent {
	uint64_t ino;
	unsigned char type;
	char *name;
};

struct dirlist {
	size_t n, cap;
	struct dent *e;
	int err;		/* out of memory while filling */
};

void dirlist_free(struct dirlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	free(l);
}

static unsigned char dtype(int type)
{
	switch (type) {
	case NF3REG: return DT_REG;
	case NF3DIR: return DT_DIR;
	case NF3BLK: return DT_BLK;
	case NF3CHR: return DT_CHR;
	case NF3LNK: return DT_LNK;
	case NF3SOCK: return DT_SOCK;
	case NF3FIFO: return DT_FIFO;
	default: return DT_UNKNOWN;
	}
}

static int add(struct dirlist *l, const char *name, uint64_t ino, unsigned char type)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct dent *e = realloc(l->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	if (!(l->e[l->n].name = strdup(name)))
		return -ENOMEM;
	l->e[l->n].ino = ino;
	l->e[l->n].type = type;
	l->n++;
	return 0;
}

struct fill {
	struct nfsmod *m;
	struct dirlist *l;
	struct place dir;	/* names go into the cache under dir.path */
	bool names;
	uint32_t pgen;		/* the directory's slot when the call went out */
};

/* One entry, while libnfs decodes the answer. */
static void on_entry(void *ctx, const entryplus3 *e)
{
	struct fill *x = ctx;
	const fattr3 *a = e->name_attributes.attributes_follow ?
				  &e->name_attributes.post_op_attr_u.attributes : NULL;
	bool dots = !strcmp(e->name, ".") || !strcmp(e->name, "..");

	if (add(x->l, e->name, e->fileid, a ? dtype(a->type) : DT_UNKNOWN) < 0) {
		x->l->err = -ENOMEM;
		return;
	}
	if (!a || dots)
		return;
	if (e->name_handle.handle_follows &&
	    e->name_handle.post_op_fh3_u.handle.data.data_len <= NFS_FH_MAX) {
		const nfs_fh3 *h = &e->name_handle.post_op_fh3_u.handle;
		struct fh fh;
		struct inode *ino;
		struct place q;

		fh.len = h->data.data_len;
		memcpy(fh.data, h->data.data_val, fh.len);
		ino = cache_attr(x->m, &fh, a, false);
		if (ino && x->names && join_path(&q, &x->dir, e->name, strlen(e->name)) == 0)
			cache_name_set(x->m, q.path, q.len, ino, x->dir.ino, x->pgen);
	} else {
		cache_attr_nofh(x->m, a);
	}
}

static int load(struct nfsmod *m, struct cred *c, struct nfile *f, struct dirlist **out)
{
	struct dirlist *l = calloc(1, sizeof(*l));
	struct fill x = { .m = m, .l = l };
	struct inode *dino = cache_inode(m, f->fsid, f->fileid);
	struct call call;
	uint64_t cookie = 0;
	char verf[NFS3_COOKIEVERFSIZE] = { 0 };
	bool dot = false, dotdot = false;
	int r = 0, restarts = 0;

	if (!l)
		return -ENOMEM;
	/* the names go into the cache only if the directory is still where
	   it was opened */
	if (f->path && dino) {
		size_t len = strlen(f->path);

		x.names = len < sizeof(x.dir.path) && cache_name_raw(m, f->path, len) == dino;
		if (x.names) {
			memcpy(x.dir.path, f->path, len + 1);
			x.dir.len = len;
			x.dir.ino = dino;
		}
	}
	for (;;) {
		memset(&call, 0, sizeof(call));
		call.proc = P_READDIRPLUS;
		call.a.readdirplus.dir.data.data_len = f->fh.len;
		call.a.readdirplus.dir.data.data_val = (char *)f->fh.data;
		call.a.readdirplus.cookie = cookie;
		memcpy(call.a.readdirplus.cookieverf, verf, sizeof(verf));
		call.a.readdirplus.dircount = m->dtpref ? m->dtpref : 8192;
		call.a.readdirplus.maxcount = m->rtmax < (1u << 20) ? m->rtmax : (1u << 20);
		call.entry = on_entry;
		call.entry_ctx = &x;
		call.last_cookie = cookie;
		if (dino)
			x.pgen = gen_of(m, dino);
		r = nfs_call(m, c, &call);
		if (call.has_dir)
			cache_attr_nofh(m, &call.dir);
		if ((call.status == NFS3ERR_BAD_COOKIE || call.status == NFS3ERR_NOT_SYNC) &&
		    restarts++ < 3) {
			/* the directory changed under the listing: again */
			for (size_t i = 0; i < l->n; i++)
				free(l->e[i].name);
			l->n = 0;
			cookie = 0;
			memset(verf, 0, sizeof(verf));
			continue;
		}
		if (r == 0)
			r = l->err;
		if (r < 0)
			break;
		if (call.dir_eof || call.last_cookie == cookie)
			break;
		cookie = call.last_cookie;
		memcpy(verf, call.cookieverf, sizeof(verf));
	}
	if (r < 0) {
		dirlist_free(l);
		return r;
	}
	for (size_t i = 0; i < l->n; i++) {
		dot |= !strcmp(l->e[i].name, ".");
		dotdot |= !strcmp(l->e[i].name, "..");
	}
	/* a server need not list them; getdents does */
	if ((!dot && add(l, ".", f->fileid, DT_DIR) < 0) ||
	    (!dotdot && add(l, "..", f->fileid, DT_DIR) < 0)) {
		dirlist_free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

int op_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	struct nfsmod *m = priv;
	struct nfile *f = (struct nfile *)(uintptr_t)fh;
	struct cred c;
	int r = 0;

	if (!f->dir)
		return -ENOTDIR;
	/* the VFS lists nothing of a directory removed (here, by this
	   process) */
	if (f->removed)
		return -ENOENT;
	cred_get(&c);
	nfs_lock(m);
	if (pos == 0 || !f->list) {
		struct dirlist *l;

		r = load(m, &c, f, &l);
		if (r == 0) {
			dirlist_free(f->list);
			f->list = l;
		}
	}
	if (r == 0 && pos >= 0) {
		for (size_t i = (size_t)pos; i < f->list->n; i++) {
			struct dent *e = &f->list->e[i];

			if (fill(ctx, e->name, e->ino, e->type, (int64_t)i + 1))
				break;
		}
	}
	nfs_unlock(m);
	return r;
}
