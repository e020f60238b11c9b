/*
 * Operations on names and attributes.
 *
 * The server checks permissions on every call (with the caller's identity,
 * rpc.c), but the kernel checks some things itself first, and in an order
 * a server need not share (EEXIST before EACCES, EISDIR for unlink of a
 * directory, EPERM for chown by a non-owner...).  Those checks are made
 * here on the cached attributes, in the kernel's order, before the call;
 * what the server still refuses comes back as its error.  Each answer's
 * attributes (the object's and its directory's) go into the cache, so a
 * stat after a change costs nothing.
 *
 * Removing a file this process still has open renames it to a hidden name
 * (".nfs" and its file id) instead, as the kernel client does ("silly
 * rename"): the server would forget the file, and the open file with it;
 * the hidden name goes when the last handle is released (file.c).
 */
#include "nfs.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define ST_VALID_ 0x0020	/* statfs: f_flags is valid (linux/statfs.h) */

#define ENTER                           \
	struct nfsmod *m = priv;        \
	struct cred c;                  \
	int r;                          \
	cred_get(&c);                   \
	nfs_lock(m)
#define LEAVE(x) do { r = (x); nfs_unlock(m); return r; } while (0)

static void set_fh(nfs_fh3 *to, const struct fh *fh)
{
	to->data.data_len = fh->len;
	to->data.data_val = (char *)fh->data;
}

static bool is_owner(struct cred *c, const fattr3 *a)
{
	return c->uid == 0 || c->uid == a->uid;
}

int op_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	struct place p;
	ENTER;

	r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), false, &p);
	if (r == 0)
		r = attr_fresh(m, &c, p.ino);
	if (r == 0)
		attr_to_stat(m, &p.ino->attr, st);
	LEAVE(r);
}

int op_access(void *priv, const char *path, int mode, int flags)
{
	struct place p;
	ENTER;

	/* access(2) checks with the real IDs unless AT_EACCESS */
	if (!(flags & AT_EACCESS)) {
		c.uid = (uint32_t)getuid();
		c.gid = (uint32_t)getgid();
	}
	r = walk(m, &c, path, !(flags & AT_SYMLINK_NOFOLLOW), false, &p);
	if (r == 0)
		r = attr_fresh(m, &c, p.ino);
	if (r == 0 && mode != F_OK)
		r = may(&c, &p.ino->attr, mode);
	LEAVE(r);
}

ssize_t op_readlink(void *priv, const char *path, char *buf, size_t size)
{
	struct place p;
	char t[PATH_MAX];
	struct call call;
	ssize_t n;
	ENTER;

	if ((r = walk(m, &c, path, false, false, &p)) < 0)
		LEAVE(r);
	if (p.ino->attr.type != NF3LNK)
		LEAVE(-EINVAL);
	if (!p.ino->link) {
		memset(&call, 0, sizeof(call));
		call.proc = P_READLINK;
		set_fh(&call.a.readlink.symlink, &p.ino->fh);
		call.buf = t;
		call.buflen = sizeof(t) - 1;
		if ((r = nfs_call(m, &c, &call)) < 0)
			LEAVE(r);
		if (call.count >= sizeof(t))
			LEAVE(-ENAMETOOLONG);
		t[call.count] = 0;
		p.ino->link = strdup(t);
		if (!p.ino->link)
			LEAVE(-ENOMEM);
	}
	n = (ssize_t)strlen(p.ino->link);
	if ((size_t)n > size)
		n = (ssize_t)size;
	memcpy(buf, p.ino->link, (size_t)n);
	nfs_unlock(m);
	return n;
}

int op_statfs(void *priv, const char *path, struct statfs *st)
{
	struct place p;
	struct call call;
	uint64_t bs;
	ENTER;

	if ((r = walk(m, &c, path, true, false, &p)) < 0)
		LEAVE(r);
	memset(&call, 0, sizeof(call));
	call.proc = P_FSSTAT;
	set_fh(&call.a.fsstat.fsroot, &p.ino->fh);
	if ((r = nfs_call(m, &c, &call)) < 0)
		LEAVE(r);
	/* as the kernel client fills it (nfs_statfs): blocks of its I/O size */
	bs = m->wtmax ? m->wtmax : 4096;
	memset(st, 0, sizeof(*st));
	st->f_type = NFS_SUPER_MAGIC;
	st->f_bsize = (long)bs;
	st->f_frsize = (long)bs;
	st->f_blocks = call.info.fsstat.tbytes / bs;
	st->f_bfree = call.info.fsstat.fbytes / bs;
	st->f_bavail = call.info.fsstat.abytes / bs;
	st->f_files = call.info.fsstat.tfiles;
	st->f_ffree = call.info.fsstat.afiles;
	st->f_namelen = m->name_max;
	st->f_flags = ST_VALID_ | ST_RELATIME;
	LEAVE(0);
}

/* ---- creating ------------------------------------------------------------- */

/* Whether a failed call may still have changed something (no answer). */
static bool maybe_changed(int r)
{
	return r == 0 || r == -EIO || r == -ETIMEDOUT;
}

/*
 * After a creating call failed: the kernel would have said EEXIST for a
 * taken name before anything else (it looks the name up first); the server
 * may have checked permissions first.
 */
static int refine_create(struct nfsmod *m, struct cred *c, struct place *dir,
			 const char *name, size_t len, int r)
{
	struct place q;

	if (r == -EEXIST || r == -EIO || r == -ETIMEDOUT || r == -ENAMETOOLONG)
		return r;
	if (lookup_fresh(m, c, dir, name, len, &q) == 0)
		return -EEXIST;
	return r;
}

/* A directory this process changed (its slot read g0 before the call):
   its attributes from the answer, the other processes told (gen.c). */
static void dir_changed(struct nfsmod *m, struct inode *dir, uint32_t g0, const fattr3 *after,
			bool has, int r)
{
	if (has)
		cache_attr(m, NULL, after, true);
	else
		cache_expire(dir);
	if (maybe_changed(r))
		gen_mine(m, dir, g0);
}

/* The new object of a creating call into the cache, under its name. */
static void created(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
		    size_t len, struct call *call, uint32_t g0)
{
	struct place q;

	if (call->has_fh && call->has_obj) {
		struct inode *ino = cache_attr(m, &call->fh, &call->obj, true);

		if (ino && join_path(&q, dir, name, len) == 0) {
			cache_names_below(m, q.path, q.len);
			cache_name_set(m, q.path, q.len, ino, dir->ino, name_stamp_mine(m, dir->ino, g0));
		}
	} else {
		lookup_fresh(m, c, dir, name, len, &q);
	}
}

/* Runs a creating call in dir: 0 (the new name cached) or -errno. */
static int make_in(struct nfsmod *m, struct cred *c, struct place *dir, const char *nm,
		   size_t len, struct call *call)
{
	uint32_t g0 = gen_of(m, dir->ino);
	int r = nfs_call(m, c, call);

	dir_changed(m, dir->ino, g0, &call->dir, call->has_dir, r);
	if (r < 0)
		return refine_create(m, c, dir, nm, len, r);
	created(m, c, dir, nm, len, call, g0);
	return 0;
}

/*
 * mknod, symlink or link of "name/": only a directory may have a slash
 * after it, and these make none (the kernel's filename_create): EEXIST for
 * a taken name, else ENOENT.
 */
static int slash_refused(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
			 size_t len)
{
	struct place q;

	return lookup_cached(m, c, dir, name, len, &q) == 0 ? -EEXIST : -ENOENT;
}

static void sattr_mode(sattr3 *sa, mode_t mode)
{
	memset(sa, 0, sizeof(*sa));
	sa->mode.set_it = 1;
	sa->mode.set_mode3_u.mode = mode & 07777;
}

/* Creates a regular file (CREATE, GUARDED: EEXIST for a taken name). */
int create_file(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
		size_t len, mode_t mode, struct place *out)
{
	char nm[NFS_NAME_MAX + 1];
	struct call call;
	int r;

	if (len > NFS_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(nm, name, len);
	nm[len] = 0;
	memset(&call, 0, sizeof(call));
	call.proc = P_CREATE;
	set_fh(&call.a.create.where.dir, &dir->ino->fh);
	call.a.create.where.name = nm;
	call.a.create.how.mode = GUARDED;
	sattr_mode(&call.a.create.how.createhow3_u.g_obj_attributes, mode);
	if ((r = make_in(m, c, dir, nm, len, &call)) < 0)
		return r;
	return lookup_cached(m, c, dir, nm, len, out);
}

int op_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	struct place dir, q;
	const char *name;
	char nm[NFS_NAME_MAX + 1];
	size_t len;
	struct call call;
	sattr3 *sa;
	ENTER;

	/* do_mknodat's answers for kinds mknod does not make */
	if (S_ISDIR(mode))
		LEAVE(-EPERM);
	if ((r = walk_parent(m, &c, path, &dir, &name, &len)) < 0)
		LEAVE(r);
	if (slash_after(path))
		LEAVE(slash_refused(m, &c, &dir, name, len));
	if (S_ISREG(mode) || !(mode & S_IFMT))
		LEAVE(create_file(m, &c, &dir, name, len, mode, &q));
	memcpy(nm, name, len);
	nm[len] = 0;
	memset(&call, 0, sizeof(call));
	call.proc = P_MKNOD;
	set_fh(&call.a.mknod.where.dir, &dir.ino->fh);
	call.a.mknod.where.name = nm;
	switch (mode & S_IFMT) {
	case S_IFIFO:
		call.a.mknod.what.type = NF3FIFO;
		sa = &call.a.mknod.what.mknoddata3_u.pipe_attributes;
		break;
	case S_IFSOCK:
		call.a.mknod.what.type = NF3SOCK;
		sa = &call.a.mknod.what.mknoddata3_u.sock_attributes;
		break;
	case S_IFCHR:
	case S_IFBLK:
		call.a.mknod.what.type = S_ISCHR(mode) ? NF3CHR : NF3BLK;
		sa = &call.a.mknod.what.mknoddata3_u.chr_device.dev_attributes;
		call.a.mknod.what.mknoddata3_u.chr_device.spec.specdata1 = major(dev);
		call.a.mknod.what.mknoddata3_u.chr_device.spec.specdata2 = minor(dev);
		break;
	default:
		LEAVE(-EINVAL);
	}
	sattr_mode(sa, mode);
	LEAVE(make_in(m, &c, &dir, nm, len, &call));
}

int op_mkdir(void *priv, const char *path, mode_t mode)
{
	struct place dir;
	const char *name;
	char nm[NFS_NAME_MAX + 1];
	size_t len;
	struct call call;
	ENTER;

	if ((r = walk_parent(m, &c, path, &dir, &name, &len)) < 0)
		LEAVE(r);
	memcpy(nm, name, len);
	nm[len] = 0;
	memset(&call, 0, sizeof(call));
	call.proc = P_MKDIR;
	set_fh(&call.a.mkdir.where.dir, &dir.ino->fh);
	call.a.mkdir.where.name = nm;
	/* the kernel's vfs_mkdir keeps the permission bits and the sticky bit */
	sattr_mode(&call.a.mkdir.attributes, mode & (S_IRWXU | S_IRWXG | S_IRWXO | S_ISVTX));
	LEAVE(make_in(m, &c, &dir, nm, len, &call));
}

int op_symlink(void *priv, const char *target, const char *path)
{
	struct place dir;
	const char *name;
	char nm[NFS_NAME_MAX + 1];
	size_t len;
	struct call call;
	ENTER;

	/* the VFS's answers for an empty or overlong target, before all */
	if (!target[0])
		LEAVE(-ENOENT);
	if (strlen(target) >= PATH_MAX)
		LEAVE(-ENAMETOOLONG);
	if ((r = walk_parent(m, &c, path, &dir, &name, &len)) < 0)
		LEAVE(r);
	if (slash_after(path))
		LEAVE(slash_refused(m, &c, &dir, name, len));
	memcpy(nm, name, len);
	nm[len] = 0;
	memset(&call, 0, sizeof(call));
	call.proc = P_SYMLINK;
	set_fh(&call.a.symlink.where.dir, &dir.ino->fh);
	call.a.symlink.where.name = nm;
	/* as the kernel client sends it: a link is 0777 */
	sattr_mode(&call.a.symlink.symlink.symlink_attributes, 0777);
	call.a.symlink.symlink.symlink_data = (char *)target;
	LEAVE(make_in(m, &c, &dir, nm, len, &call));
}

/* LINK of ino as dir/nm (checked by the caller). */
int link_ino(struct nfsmod *m, struct cred *c, struct inode *ino, struct place *dir,
	     const char *nm, size_t len)
{
	struct call call;
	struct place q;
	uint32_t g0 = gen_of(m, dir->ino), f0 = gen_of(m, ino);
	int r;

	memset(&call, 0, sizeof(call));
	call.proc = P_LINK;
	set_fh(&call.a.link.file, &ino->fh);
	set_fh(&call.a.link.link.dir, &dir->ino->fh);
	call.a.link.link.name = (char *)nm;
	r = nfs_call(m, c, &call);
	if (call.has_obj)
		cache_attr(m, &ino->fh, &call.obj, true);
	else
		cache_expire(ino);
	if (maybe_changed(r))
		gen_mine(m, ino, f0);
	dir_changed(m, dir->ino, g0, &call.dir, call.has_dir, r);
	if (r == 0 && join_path(&q, dir, nm, len) == 0)
		cache_name_set(m, q.path, q.len, ino, dir->ino, name_stamp_mine(m, dir->ino, g0));
	return r;
}

int op_link(void *priv, const char *from, const char *to)
{
	struct place src, dir, q;
	const char *name;
	char nm[NFS_NAME_MAX + 1];
	size_t len;
	ENTER;

	if ((r = walk(m, &c, from, false, false, &src)) < 0)
		LEAVE(r);
	if ((r = walk_parent(m, &c, to, &dir, &name, &len)) < 0)
		LEAVE(r);
	memcpy(nm, name, len);
	nm[len] = 0;
	if (lookup_cached(m, &c, &dir, nm, len, &q) == 0)
		LEAVE(-EEXIST);
	if (slash_after(to))
		LEAVE(-ENOENT);
	if (src.ino->attr.type == NF3DIR)
		LEAVE(-EPERM);
	if (src.ino->fsid != dir.ino->fsid)
		LEAVE(-EXDEV);
	LEAVE(link_ino(m, &c, src.ino, &dir, nm, len));
}

/* ---- removing --------------------------------------------------------------- */

/*
 * Removing the last name of a file this process has open: rename it to a
 * hidden name instead (the kernel client's "silly rename"), which goes at
 * the last release (file.c).  1 if done, 0 if not needed.
 */
static int silly_rename(struct nfsmod *m, struct cred *c, struct place *dir, const char *name,
			struct inode *ino)
{
	struct nfile *f = file_of_inode(m, ino);
	static unsigned counter;
	char hidden[64];
	struct call call;
	uint32_t g0 = gen_of(m, dir->ino);
	int r;

	if (!f || f->silly_name[0] || ino->attr.type == NF3DIR)
		return 0;
	/* another name keeps the file on the server */
	if ((r = attr_fresh(m, c, ino)) < 0)
		return r;
	if (ino->attr.nlink > 1)
		return 0;
	/* the GETATTR let other threads run: their closes count too */
	f = file_of_inode(m, ino);
	if (!f || f->silly_name[0])
		return 0;
	snprintf(hidden, sizeof(hidden), ".nfs%016llx%08x", (unsigned long long)ino->fileid,
		 (unsigned)getpid() * 7919u + ++counter);
	memset(&call, 0, sizeof(call));
	call.proc = P_RENAME;
	set_fh(&call.a.rename.from.dir, &dir->ino->fh);
	call.a.rename.from.name = (char *)name;
	set_fh(&call.a.rename.to.dir, &dir->ino->fh);
	call.a.rename.to.name = hidden;
	r = nfs_call(m, c, &call);
	dir_changed(m, dir->ino, g0, &call.dir, call.has_dir, r);
	if (r < 0)
		return r;
	cache_expire(ino);
	for (struct nfile *g = m->files; g; g = g->next)
		if (g->fileid == ino->fileid && g->fsid == ino->fsid) {
			g->silly_dir = dir->ino->fh;
			g->silly_dir_fsid = dir->ino->fsid;
			g->silly_dir_fileid = dir->ino->fileid;
			snprintf(g->silly_name, sizeof(g->silly_name), "%s", hidden);
		}
	return 1;
}

int op_unlink(void *priv, const char *path)
{
	struct place dir, victim;
	const char *name;
	char nm[NFS_NAME_MAX + 1];
	size_t len;
	struct call call;
	uint32_t g0, v0;
	ENTER;

	if ((r = walk_parent(m, &c, path, &dir, &name, &len)) < 0)
		LEAVE(r);
	memcpy(nm, name, len);
	nm[len] = 0;
	if ((r = lookup_cached(m, &c, &dir, nm, len, &victim)) < 0)
		LEAVE(r);
	if (victim.ino->attr.type == NF3DIR)
		LEAVE(-EISDIR);
	/* do_unlinkat: "name/" of anything but a directory */
	if (slash_after(path))
		LEAVE(-ENOTDIR);
	if ((r = may(&c, &dir.ino->attr, W_OK | X_OK)) < 0)
		LEAVE(r);
	if ((r = silly_rename(m, &c, &dir, nm, victim.ino)) != 0) {
		if (r > 0)
			cache_name_drop(m, victim.path, victim.len);
		LEAVE(r < 0 ? r : 0);
	}
	g0 = gen_of(m, dir.ino);
	v0 = gen_of(m, victim.ino);
	memset(&call, 0, sizeof(call));
	call.proc = P_REMOVE;
	set_fh(&call.a.remove.object.dir, &dir.ino->fh);
	call.a.remove.object.name = nm;
	r = nfs_call(m, &c, &call);
	dir_changed(m, dir.ino, g0, &call.dir, call.has_dir, r);
	if (r == 0 || r == -ENOENT)
		cache_name_drop(m, victim.path, victim.len);
	/* its link count fell: ask again when asked */
	cache_expire(victim.ino);
	if (maybe_changed(r))
		gen_mine(m, victim.ino, v0);
	LEAVE(r);
}

int op_rmdir(void *priv, const char *path)
{
	struct place dir, victim;
	const char *name;
	char nm[NFS_NAME_MAX + 1];
	size_t len;
	struct call call;
	uint32_t g0, v0;
	ENTER;

	if ((r = walk_parent(m, &c, path, &dir, &name, &len)) < 0)
		LEAVE(r);
	memcpy(nm, name, len);
	nm[len] = 0;
	if ((r = lookup_cached(m, &c, &dir, nm, len, &victim)) < 0)
		LEAVE(r);
	if (victim.ino->attr.type != NF3DIR)
		LEAVE(-ENOTDIR);
	if ((r = may(&c, &dir.ino->attr, W_OK | X_OK)) < 0)
		LEAVE(r);
	g0 = gen_of(m, dir.ino);
	v0 = gen_of(m, victim.ino);
	memset(&call, 0, sizeof(call));
	call.proc = P_RMDIR;
	set_fh(&call.a.rmdir.object.dir, &dir.ino->fh);
	call.a.rmdir.object.name = nm;
	r = nfs_call(m, &c, &call);
	dir_changed(m, dir.ino, g0, &call.dir, call.has_dir, r);
	if (r == 0 || r == -ENOENT)
		cache_names_below(m, victim.path, victim.len);
	if (r == 0) {
		/* as the kernel's dead directory: open ones list nothing */
		for (struct nfile *f = m->files; f; f = f->next)
			if (f->fileid == victim.ino->fileid && f->fsid == victim.ino->fsid)
				f->removed = true;
		victim.ino->attr.nlink = 0;
	}
	if (maybe_changed(r))
		gen_mine(m, victim.ino, v0);
	LEAVE(r);
}

int op_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	struct place fdir, tdir, src, dst;
	const char *fname, *tname;
	char fn[NFS_NAME_MAX + 1], tn[NFS_NAME_MAX + 1];
	size_t flen, tlen;
	struct call call;
	uint32_t fg0, tg0, s0, d0 = 0;
	bool exists;
	ENTER;

	/* the kernel client implements no renameat2 flag */
	if (flags)
		LEAVE(-EINVAL);
	if ((r = walk_parent(m, &c, from, &fdir, &fname, &flen)) < 0)
		LEAVE(r);
	memcpy(fn, fname, flen);
	fn[flen] = 0;
	if ((r = lookup_cached(m, &c, &fdir, fn, flen, &src)) < 0)
		LEAVE(r);
	if ((r = walk_parent(m, &c, to, &tdir, &tname, &tlen)) < 0)
		LEAVE(r);
	memcpy(tn, tname, tlen);
	tn[tlen] = 0;
	r = lookup_cached(m, &c, &tdir, tn, tlen, &dst);
	if (r < 0 && r != -ENOENT)
		LEAVE(r);
	exists = r == 0;
	/* the VFS's checks (vfs_rename, do_renameat2), in its order; a
	   slash after either name asks for a directory */
	if (src.ino->attr.type != NF3DIR && (slash_after(from) || slash_after(to)))
		LEAVE(-ENOTDIR);
	if (exists && dst.ino == src.ino)
		LEAVE(0);
	if ((r = may(&c, &fdir.ino->attr, W_OK | X_OK)) < 0 ||
	    (r = may(&c, &tdir.ino->attr, W_OK | X_OK)) < 0)
		LEAVE(r);
	if (src.ino->attr.type == NF3DIR) {
		if (exists && dst.ino->attr.type != NF3DIR)
			LEAVE(-ENOTDIR);
		/* into itself */
		if (dst.len > src.len && !memcmp(dst.path, src.path, src.len) &&
		    dst.path[src.len] == '/')
			LEAVE(-EINVAL);
	} else if (exists && dst.ino->attr.type == NF3DIR) {
		LEAVE(-EISDIR);
	}
	if (fdir.ino->fsid != tdir.ino->fsid)
		LEAVE(-EXDEV);
	if (exists && (r = silly_rename(m, &c, &tdir, tn, dst.ino)) < 0)
		LEAVE(r);
	fg0 = gen_of(m, fdir.ino);
	tg0 = gen_of(m, tdir.ino);
	s0 = gen_of(m, src.ino);
	if (exists)
		d0 = gen_of(m, dst.ino);
	memset(&call, 0, sizeof(call));
	call.proc = P_RENAME;
	set_fh(&call.a.rename.from.dir, &fdir.ino->fh);
	call.a.rename.from.name = fn;
	set_fh(&call.a.rename.to.dir, &tdir.ino->fh);
	call.a.rename.to.name = tn;
	r = nfs_call(m, &c, &call);
	dir_changed(m, fdir.ino, fg0, &call.dir, call.has_dir, r);
	if (tdir.ino != fdir.ino)
		dir_changed(m, tdir.ino, tg0, &call.dir2, call.has_dir2, r);
	else if (call.has_dir2)
		cache_attr(m, NULL, &call.dir2, true);
	cache_names_below(m, src.path, src.len);
	cache_names_below(m, dst.path, dst.len);
	if (r == 0) {
		cache_name_set(m, dst.path, dst.len, src.ino, tdir.ino,
			       name_stamp_mine(m, tdir.ino, tg0));
		files_renamed(m, src.path, src.len, dst.path, dst.len);
	}
	/* the renamed object's ctime, the replaced one's link count */
	cache_expire(src.ino);
	if (maybe_changed(r))
		gen_mine(m, src.ino, s0);
	if (exists) {
		cache_expire(dst.ino);
		if (maybe_changed(r))
			gen_mine(m, dst.ino, d0);
	}
	LEAVE(r);
}

/* ---- attributes ---------------------------------------------------------------- */

int setattr_ino(struct nfsmod *m, struct cred *c, struct inode *ino, const sattr3 *sa)
{
	struct call call;
	uint32_t g0 = gen_of(m, ino);
	int r;

	memset(&call, 0, sizeof(call));
	call.proc = P_SETATTR;
	set_fh(&call.a.setattr.object, &ino->fh);
	call.a.setattr.new_attributes = *sa;
	/* only ino is used after it, and inodes stay (nfs_run) */
	call.parallel = true;
	r = nfs_call(m, c, &call);
	if (call.has_obj)
		cache_attr(m, &ino->fh, &call.obj, true);
	else
		cache_expire(ino);
	if (maybe_changed(r))
		gen_mine(m, ino, g0);
	return r;
}

int chmod_ino(struct nfsmod *m, struct cred *c, struct inode *ino, mode_t mode)
{
	sattr3 sa;
	int r;

	if ((r = attr_fresh(m, c, ino)) < 0)
		return r;
	if (!is_owner(c, &ino->attr))
		return -EPERM;
	/* setattr_prepare: a non-member cannot set the group's set-ID bit */
	if (c->uid != 0 && (mode & S_ISGID) && ino->attr.type != NF3DIR &&
	    !cred_in_group(c, ino->attr.gid))
		mode &= ~(mode_t)S_ISGID;
	sattr_mode(&sa, mode);
	return setattr_ino(m, c, ino, &sa);
}

int chown_ino(struct nfsmod *m, struct cred *c, struct inode *ino, uid_t uid, gid_t gid)
{
	sattr3 sa;
	int r;

	if ((r = attr_fresh(m, c, ino)) < 0)
		return r;
	/* chown_ok, chgrp_ok */
	if (c->uid != 0) {
		if (uid != (uid_t)-1 && uid != ino->attr.uid)
			return -EPERM;
		if (gid != (gid_t)-1 && (c->uid != ino->attr.uid ||
					 (gid != ino->attr.gid && !cred_in_group(c, gid))))
			return -EPERM;
	}
	memset(&sa, 0, sizeof(sa));
	/* the VFS's chown_common: a file's set-user-ID bit goes at every
	   chown (also -1 -1), its set-group-ID bit with group execute, or for
	   a caller outside the group; the kernel client sends the new mode */
	if (ino->attr.type != NF3DIR && (ino->attr.mode & (S_ISUID | S_ISGID))) {
		mode_t kill = S_ISUID;

		if ((ino->attr.mode & S_IXGRP) ||
		    (c->uid != 0 && !cred_in_group(c, gid != (gid_t)-1 ? gid : ino->attr.gid)))
			kill |= S_ISGID;
		if (ino->attr.mode & kill) {
			sa.mode.set_it = 1;
			sa.mode.set_mode3_u.mode = ino->attr.mode & 07777 & ~kill;
		}
	}
	if (uid != (uid_t)-1) {
		sa.uid.set_it = 1;
		sa.uid.set_uid3_u.uid = uid;
	}
	if (gid != (gid_t)-1) {
		sa.gid.set_it = 1;
		sa.gid.set_gid3_u.gid = gid;
	}
	return setattr_ino(m, c, ino, &sa);
}

static void set_time(nfstime3 *t, time_how *how, const struct timespec *ts)
{
	if (!ts || ts->tv_nsec == UTIME_NOW) {
		*how = SET_TO_SERVER_TIME;
	} else if (ts->tv_nsec == UTIME_OMIT) {
		*how = DONT_CHANGE;
	} else {
		*how = SET_TO_CLIENT_TIME;
		t->seconds = (u_int)ts->tv_sec;
		t->nseconds = (u_int)ts->tv_nsec;
	}
}

int utimens_ino(struct nfsmod *m, struct cred *c, struct inode *ino,
		const struct timespec tv[2])
{
	sattr3 sa;
	bool explicit_time;
	int r;

	if (tv && tv[0].tv_nsec == UTIME_OMIT && tv[1].tv_nsec == UTIME_OMIT)
		return 0;
	if ((r = attr_fresh(m, c, ino)) < 0)
		return r;
	/* setattr_prepare: times of one's choice by the owner only, and so
	   is "now" beside UTIME_OMIT (vfs_utimes: ATTR_TIMES_SET); both
	   "now" (a touch) by anyone who may write */
	explicit_time = tv && !(tv[0].tv_nsec == UTIME_NOW && tv[1].tv_nsec == UTIME_NOW);
	if (!is_owner(c, &ino->attr)) {
		if (explicit_time)
			return -EPERM;
		if ((r = may(c, &ino->attr, W_OK)) < 0)
			return r;
	}
	memset(&sa, 0, sizeof(sa));
	set_time(&sa.atime.set_atime_u.atime, &sa.atime.set_it, tv ? &tv[0] : NULL);
	set_time(&sa.mtime.set_mtime_u.mtime, &sa.mtime.set_it, tv ? &tv[1] : NULL);
	return setattr_ino(m, c, ino, &sa);
}

int op_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	struct place p;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), false, &p)) < 0)
		LEAVE(r);
	/* a link's mode cannot be changed (the VFS's answer) */
	if (p.ino->attr.type == NF3LNK)
		LEAVE(-EOPNOTSUPP);
	LEAVE(chmod_ino(m, &c, p.ino, mode));
}

int op_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	struct place p;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), false, &p)) < 0)
		LEAVE(r);
	LEAVE(chown_ino(m, &c, p.ino, uid, gid));
}

int op_truncate(void *priv, const char *path, off_t size)
{
	struct place p;
	sattr3 sa;
	ENTER;

	if ((r = walk(m, &c, path, true, false, &p)) < 0)
		LEAVE(r);
	if (p.ino->attr.type == NF3DIR)
		LEAVE(-EISDIR);
	if (p.ino->attr.type != NF3REG)
		LEAVE(-EINVAL);
	if ((r = attr_fresh(m, &c, p.ino)) < 0 || (r = may(&c, &p.ino->attr, W_OK)) < 0)
		LEAVE(r);
	if (m->maxfilesize && (uint64_t)size > m->maxfilesize)
		LEAVE(-EFBIG);
	memset(&sa, 0, sizeof(sa));
	sa.size.set_it = 1;
	sa.size.set_size3_u.size = (uint64_t)size;
	LEAVE(setattr_ino(m, &c, p.ino, &sa));
}

int op_utimens(void *priv, const char *path, const struct timespec tv[2], int flags)
{
	struct place p;
	ENTER;

	if ((r = walk(m, &c, path, !(flags & DEFUSE_NOFOLLOW), false, &p)) < 0)
		LEAVE(r);
	LEAVE(utimens_ino(m, &c, p.ino, tv));
}
