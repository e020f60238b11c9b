/*
 * Open files.
 *
 * A handle is this process's struct nfile: the file's NFS handle (the
 * server's name for it, valid in any process and across reconnects) and
 * what this process keeps for it.  Data is not cached beyond one read's
 * read-ahead: every write goes to the server before write() returns, so
 * another process of this machine sees it at its next read, as it would
 * through the kernel client's shared page cache.
 *
 * Close-to-open consistency (nfs(5)): open asks the server for the file's
 * attributes (a LOOKUP of its name), so it sees the file as the last
 * close anywhere left it; close (flush) makes this process's writes
 * durable with COMMIT.  Writes go out UNSTABLE, several at once for a
 * large write, and their data is kept until COMMIT confirms the server
 * still has them: a server that restarted meanwhile (its write verifier
 * changed) gets them again, so a restart loses nothing that was written.
 *
 * Reads of a large sequential reader are sent several at a time, and the
 * next ones go out ahead of it (readahead=), the kernel client's
 * read-ahead in small.  What was read ahead is dropped at every write of
 * this process to the file, and is used only by the reader's next read.
 */
#include "nfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENTER                           \
	struct nfsmod *m = priv;        \
	struct nfile *f = (struct nfile *)(uintptr_t)fh; \
	struct cred c;                  \
	int r;                          \
	cred_get(&c);                   \
	nfs_lock(m)
#define LEAVE(x) do { r = (x); nfs_unlock(m); return r; } while (0)

/*
 * READs in flight at once for one read; WRITEs one at a time: libnfs
 * allocates each WRITE's buffer (1 MiB) anew, and with more than one in
 * flight glibc gives the freed ones back to the kernel, so every write
 * page-faults its buffer in again (on loopback, slower than waiting).
 */
#define MAX_BATCH 2
#define WRITE_BATCH 1
#define DIRTY_MAX (16u << 20)	/* uncommitted bytes kept per open file */
#define RA_MIN (32u << 10)	/* reads this large may be read ahead */

static void set_fh(nfs_fh3 *to, const struct fh *fh)
{
	to->data.data_len = fh->len;
	to->data.data_val = (char *)fh->data;
}

struct nfile *file_of_inode(struct nfsmod *m, const struct inode *ino)
{
	for (struct nfile *f = m->files; f; f = f->next)
		if (f->fileid == ino->fileid && f->fsid == ino->fsid)
			return f;
	return NULL;
}

int file_inode(struct nfsmod *m, struct cred *c, struct nfile *f, bool fresh,
	       struct inode **out)
{
	struct inode *ino = cache_inode(m, f->fsid, f->fileid);
	struct call call;
	int r;

	if (ino && (ino->fh.len != f->fh.len || memcmp(ino->fh.data, f->fh.data, f->fh.len)))
		ino = NULL;
	if (ino && !fresh && cache_fresh(m, ino)) {
		*out = ino;
		return 0;
	}
	memset(&call, 0, sizeof(call));
	call.proc = P_GETATTR;
	set_fh(&call.a.getattr.object, &f->fh);
	call.parallel = true;
	if ((r = nfs_call(m, c, &call)) < 0)
		return r;
	if (!(ino = cache_attr(m, &f->fh, &call.obj, false)))
		return -ENOMEM;
	*out = ino;
	return 0;
}

static void drop_readahead(struct nfile *f)
{
	f->ra_len = 0;
}

/* Every open file of this process on the same file forgets what it read
   ahead (a write changed the data). */
static void writes_to(struct nfsmod *m, struct nfile *w)
{
	for (struct nfile *f = m->files; f; f = f->next)
		if (f->fileid == w->fileid && f->fsid == w->fsid)
			drop_readahead(f);
}

/* ---- open -------------------------------------------------------------------- */

static struct nfile *new_file(struct nfsmod *m, const struct inode *ino, int flags)
{
	struct nfile *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fh = ino->fh;
	f->fsid = ino->fsid;
	f->fileid = ino->fileid;
	f->flags = flags;
	f->dir = ino->attr.type == NF3DIR;
	f->lockfd = -1;
	f->next = m->files;
	if (m->files)
		m->files->prev = f;
	m->files = f;
	return f;
}

static int open_existing(struct nfsmod *m, struct cred *c, struct place *p, int flags,
			 bool created)
{
	int acc = flags & O_ACCMODE;
	int mask = 0, r;

	/* the kernel's order: ENOTDIR for O_DIRECTORY, also with O_PATH
	   (mv asks whether its target is a directory so), before ELOOP */
	if ((flags & O_DIRECTORY) && p->ino->attr.type != NF3DIR)
		return -ENOTDIR;
	if (flags & O_PATH)
		return 0;
	if (p->ino->attr.type == NF3LNK)
		return -ELOOP;
	if (p->ino->attr.type == NF3DIR &&
	    (acc != O_RDONLY || (flags & (O_CREAT | O_TRUNC))))
		return -EISDIR;
	/* a socket or device has no local object behind a name on the
	   server here (a socket: ENXIO natively too) */
	if (p->ino->attr.type != NF3DIR && p->ino->attr.type != NF3REG &&
	    p->ino->attr.type != NF3FIFO)
		return -ENXIO;
	if (created)
		return 0;
	if (acc == O_RDONLY || acc == O_RDWR)
		mask |= R_OK;
	if (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC))
		mask |= W_OK;
	if (flags & DEFUSE_O_EXEC) {
		/* to be run (module.h): a regular file, executable */
		if (p->ino->attr.type != NF3REG)
			return -EACCES;
		mask = X_OK;
	}
	if ((r = may(c, &p->ino->attr, mask)) < 0)
		return r;
	if (p->ino->attr.type == NF3FIFO)
		return 0;
	if ((flags & O_TRUNC) && p->ino->attr.type == NF3REG) {
		sattr3 sa;

		memset(&sa, 0, sizeof(sa));
		sa.size.set_it = 1;
		sa.size.set_size3_u.size = 0;
		if ((r = setattr_ino(m, c, p->ino, &sa)) < 0)
			return r;
	}
	return 0;
}

static int do_open(struct nfsmod *m, struct cred *c, const char *path0, int flags, mode_t mode,
		   struct place *p)
{
	char path[PATH_MAX + NFS_NAME_MAX + 2];
	struct place dir;
	const char *name;
	size_t len;
	int r;

	if (strlen(path0) >= sizeof(path))
		return -ENAMETOOLONG;
	strcpy(path, path0);
	if (!(flags & O_CREAT)) {
		r = walk(m, c, path, !(flags & O_NOFOLLOW), !m->o.nocto, p);
		if (r == 0 && (flags & O_NOFOLLOW) && !(flags & (O_PATH | O_DIRECTORY)) &&
		    p->ino->attr.type == NF3LNK)
			r = -ELOOP;	/* O_DIRECTORY: open_existing's ENOTDIR first */
		return r < 0 ? r : open_existing(m, c, p, flags, false);
	}
	/* "name/" asks for a directory, which O_CREAT cannot make (EISDIR);
	   an existing one is refused by open_existing, a file by the walk */
	if (slash_after(path)) {
		r = walk(m, c, path, true, !m->o.nocto, p);
		if (r == -ENOENT)
			return -EISDIR;
		return r < 0 ? r : (flags & O_EXCL) ? -EEXIST : open_existing(m, c, p, flags, false);
	}
	/* a dangling link is followed to the name it would create, as the
	   kernel does, up to the kernel's limit of links: in a loop, the
	   stack being the core's */
	for (int links = 0;; links++) {
		if ((r = walk_parent(m, c, path, &dir, &name, &len)) < 0)
			return r;
		if (len == 0) {
			*p = dir;
			return (flags & O_EXCL) ? -EEXIST : open_existing(m, c, p, flags, false);
		}
		/*
		 * A name this process knows nothing of is most likely a new
		 * file: CREATE at once (one round trip, not a LOOKUP and a
		 * CREATE).  If the server says it exists (or refuses: the
		 * kernel's order puts an existing file first), the usual way
		 * below finds it.
		 */
		if (join_path(p, &dir, name, len) == 0 && !cache_name_raw(m, p->path, p->len) &&
		    may(c, &dir.ino->attr, W_OK | X_OK) == 0) {
			r = create_file(m, c, &dir, name, len, mode, p);
			if (r == 0)
				return open_existing(m, c, p, flags, true);
			if (r != -EEXIST || (flags & O_EXCL))
				return r;
		}
		for (int tries = 0;; tries++) {
			r = m->o.nocto ? lookup_cached(m, c, &dir, name, len, p)
				       : lookup_fresh(m, c, &dir, name, len, p);
			if (r == 0)
				break;
			if (r != -ENOENT)
				return r;
			if ((r = may(c, &dir.ino->attr, W_OK | X_OK)) < 0)
				return r;
			r = create_file(m, c, &dir, name, len, mode, p);
			if (r == 0)
				return open_existing(m, c, p, flags, true);
			/* another client created it meanwhile: open that one */
			if (r != -EEXIST || (flags & O_EXCL) || tries > 0)
				return r;
		}
		if (flags & O_EXCL)
			return -EEXIST;
		if (p->ino->attr.type != NF3LNK)
			return open_existing(m, c, p, flags, false);
		{
			struct place q;
			const char *target;
			size_t tl;

			if (flags & O_NOFOLLOW)
				return -ELOOP;
			r = walk(m, c, p->path, true, !m->o.nocto, &q);
			if (r == 0) {
				*p = q;
				return open_existing(m, c, p, flags, false);
			}
			target = p->ino->link;
			if (r != -ENOENT || links >= NFS_SYMLOOP || !target || target[0] == '/')
				return r;
			/* the target's name, from the link's directory */
			tl = strlen(target);
			if (dir.len + tl + 2 > sizeof(path))
				return -ENAMETOOLONG;
			memcpy(path, dir.path, dir.len);
			path[dir.len] = '/';
			memcpy(path + dir.len + 1, target, tl + 1);
		}
	}
}

/*
 * A FIFO on an NFS server is a local object of each machine, as the kernel
 * client makes it: here a FIFO in lockdir= per NFS FIFO, which this
 * machine's processes share, opened as the program asked and handed to the
 * host as the kernel descriptor.  The caller's access was checked against
 * the NFS file's owner and mode (open_existing); the local FIFO is open to
 * all (0666), as the host's stand-ins are: with the NFS file's bits but
 * its maker's owner, the kernel would check them against the wrong user
 * (the owning group of an NFS FIFO of mode 0060 could not open it).
 *
 * Made under the mount's lock (fifo_local), opened after it (open_fifo):
 * without O_NONBLOCK the open waits for the FIFO's other end, which may be
 * another thread of this process opening it through the mount, and which a
 * signal of the caller's must be able to end (stress-ng's dup stressor: a
 * 1 ms interval timer's signal ends each open; held back, it never did).
 */
static int fifo_local(struct nfsmod *m, const struct inode *ino, char *path, size_t cap)
{
	struct nfile tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.fh = ino->fh;
	if (lockfile_path(m, &tmp, ".fifo", path, cap) < 0)
		return -ENAMETOOLONG;
	if (mknod(path, S_IFIFO | 0666, 0) < 0 && errno != EEXIST)
		return -errno;
	/* whatever the umask (and the bits an older module gave it) */
	chmod(path, 0666);
	return 0;
}

static int open_fifo(const char *path, int flags, struct defuse_open *out)
{
	int wait = !(flags & O_NONBLOCK) && defuse_waiting;
	int fd;

	if (wait)
		defuse_waiting(1);
	fd = open(path, flags & (O_ACCMODE | O_NONBLOCK | O_CLOEXEC));
	if (wait)
		defuse_waiting(0);
	if (fd < 0)
		return -errno;
	out->fh = 0;
	out->kernel_fd = fd;
	return 0;
}

/*
 * Open's last step, under the mount's lock, once the file is found: a
 * handle, or for a FIFO its local FIFO's path in fifo (PATH_MAX bytes) and
 * 1, to be opened with open_fifo once the lock is let go.  path: a
 * directory's, kept for fh_path, or NULL when it is not known.
 */
static int opened(struct nfsmod *m, struct inode *ino, const char *path, int flags,
		  struct defuse_open *out, char *fifo)
{
	struct nfile *f;
	int r;

	if (ino->attr.type == NF3FIFO && !(flags & O_PATH))
		return (r = fifo_local(m, ino, fifo, PATH_MAX)) < 0 ? r : 1;
	if (!(f = new_file(m, ino, flags)))
		return -ENOMEM;
	if (f->dir && path)
		f->path = strdup(path);
	out->fh = (uint64_t)(uintptr_t)f;
	out->kernel_fd = -1;
	return 0;
}

int op_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out)
{
	struct nfsmod *m = priv;
	struct place p;
	struct cred c;
	char fifo[PATH_MAX];
	int r;

	if ((flags & O_TMPFILE) == O_TMPFILE) {
		/* the VFS's order: flags, the lookup, then the file system,
		   which has no unnamed files over NFSv3 */
		if ((flags & O_ACCMODE) == O_RDONLY)
			return -EINVAL;
	} else if ((flags & O_CREAT) && (flags & O_DIRECTORY)) {
		return -EINVAL;
	}
	cred_get(&c);
	nfs_lock(m);
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		r = walk(m, &c, path, true, false, &p);
		if (r == 0)
			r = p.ino->attr.type == NF3DIR ? -EOPNOTSUPP : -ENOTDIR;
		nfs_unlock(m);
		return r;
	}
	r = do_open(m, &c, path, flags, mode, &p);
	if (r == 0)
		r = opened(m, p.ino, p.path, flags, out, fifo);
	nfs_unlock(m);
	return r == 1 ? open_fifo(fifo, flags, out) : r;
}

/* ---- opening again by handle ------------------------------------------------------ */

/*
 * An NFS file handle is the server's lasting name for a file: the same in
 * every process and across reconnects and server restarts (NFSv3 handles
 * are persistent), valid while the file exists.  So a description that an
 * exec hands down, or an open of /proc/self/fd/N, is opened again from it
 * (module.h, file_handle/open_handle) instead of by its path: no walk, no
 * LOOKUP per component, and the very file even when it was renamed or
 * removed meanwhile (a removed file this process had open lives on under
 * its hidden name, meta.c).  The handle: "nfs" 1, fsid, fileid, the
 * server's handle.
 */
struct saved_handle {
	char magic[4];
	uint64_t fsid, fileid;
	uint32_t len;
	unsigned char data[NFS_FH_MAX];
};

#define SAVED_MAGIC "nfs1"
#define SAVED_HEAD offsetof(struct saved_handle, data)

ssize_t op_file_handle(void *priv, uint64_t fh, void *buf, size_t size)
{
	struct nfsmod *m = priv;
	struct nfile *f = (struct nfile *)(uintptr_t)fh;
	struct saved_handle h;
	size_t n;

	(void)m;
	if (!f)
		return -ENOSYS;	/* a FIFO: the host's by path */
	n = SAVED_HEAD + f->fh.len;
	if (n > size)
		return -ENOSYS;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SAVED_MAGIC, 4);
	h.fsid = f->fsid;
	h.fileid = f->fileid;
	h.len = f->fh.len;
	memcpy(h.data, f->fh.data, f->fh.len);
	memcpy(buf, &h, n);
	return (ssize_t)n;
}

/*
 * The attributes are the cache's while they are trusted (an open of
 * /proc/self/fd/N is no close-to-open point: the kernel client revalidates
 * the file there only when its attributes expired), else one GETATTR of the
 * handle: a new image starts with an empty cache, so its first reopen of
 * each file asks once, and the next descriptors of the same file nothing.
 */
int op_open_handle(void *priv, const void *handle, size_t len, int kfd, int flags,
		   struct defuse_open *out)
{
	struct nfsmod *m = priv;
	struct saved_handle h;
	struct place p;
	struct inode *ino;
	struct cred c;
	char fifo[PATH_MAX];
	int r;

	(void)kfd;	/* the lock file is reached by its name (locks.c) */
	if (len < SAVED_HEAD || len > sizeof(h))
		return -ESTALE;
	memset(&h, 0, sizeof(h));
	memcpy(&h, handle, len);
	if (memcmp(h.magic, SAVED_MAGIC, 4) || h.len != len - SAVED_HEAD)
		return -ESTALE;
	cred_get(&c);
	nfs_lock(m);
	ino = cache_inode(m, h.fsid, h.fileid);
	if (ino && (ino->fh.len != h.len || memcmp(ino->fh.data, h.data, h.len)))
		ino = NULL;
	if (!ino || !cache_fresh(m, ino)) {
		struct fh fhv;
		struct call call;

		fhv.len = h.len;
		memcpy(fhv.data, h.data, h.len);
		memset(&call, 0, sizeof(call));
		call.proc = P_GETATTR;
		set_fh(&call.a.getattr.object, &fhv);
		call.parallel = true;
		r = nfs_call(m, &c, &call);
		if (r == 0 && (call.obj.fsid != h.fsid || call.obj.fileid != h.fileid))
			r = -ESTALE;
		if (r == 0 && !(ino = cache_attr(m, &fhv, &call.obj, false)))
			r = -ENOMEM;
		if (r < 0) {
			nfs_unlock(m);
			return r;
		}
	}
	p.ino = ino;
	p.path[0] = 0;
	p.len = 0;
	if ((flags & (O_PATH | O_DIRECTORY)) == (O_PATH | O_DIRECTORY) && ino->attr.type != NF3DIR)
		r = -ENOTDIR;
	else
		r = open_existing(m, &c, &p, flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), false);
	/* a directory's path is not known here: fh_path says so, and the
	   host keeps the path it has */
	if (r == 0)
		r = opened(m, ino, NULL, flags, out, fifo);
	nfs_unlock(m);
	return r == 1 ? open_fifo(fifo, flags, out) : r;
}

/* ---- writing and committing ------------------------------------------------------- */

/* The data is committed: the room stays for the next writes. */
static void clear_dirty(struct nfile *f)
{
	f->n_ext = 0;
	f->ndirty = 0;
}

static void free_dirty(struct nfile *f)
{
	free(f->ext);
	free(f->dbuf);
	f->ext = NULL;
	f->dbuf = NULL;
	f->n_ext = f->cext = f->ndirty = f->dcap = 0;
}

/* Keeps a copy of what went out unstable, until COMMIT. */
static void keep_dirty(struct nfile *f, uint64_t off, const void *buf, size_t len,
		       const char *verf)
{
	struct extent *e;

	if (f->n_ext == f->cext) {
		size_t cap = f->cext ? 2 * f->cext : 16;
		struct extent *n = realloc(f->ext, cap * sizeof(*n));

		if (!n)
			goto nomem;
		f->ext = n;
		f->cext = cap;
	}
	if (f->ndirty + len > f->dcap) {
		size_t cap = f->dcap ? f->dcap : (1u << 20);
		char *n;

		while (cap < f->ndirty + len)
			cap *= 2;
		if (!(n = realloc(f->dbuf, cap)))
			goto nomem;
		f->dbuf = n;
		f->dcap = cap;
	}
	e = &f->ext[f->n_ext++];
	e->off = off;
	e->len = len;
	e->at = f->ndirty;
	memcpy(e->verf, verf, sizeof(e->verf));
	memcpy(f->dbuf + f->ndirty, buf, len);
	f->ndirty += len;
	return;
nomem:
	/* without the copy a lost write could not be repeated */
	f->werr = -ENOMEM;
}

static int commit(struct nfsmod *m, struct cred *c, struct nfile *f);

/*
 * Writes buf at off, in pieces of at most wtmax sent together; stable:
 * FILE_SYNC (data the server must not lose before answering).  Returns the
 * count written (short if the server wrote less), or -errno if nothing was.
 */
static ssize_t write_out(struct nfsmod *m, struct cred *c, struct nfile *f, const char *buf,
			 size_t size, uint64_t off, bool stable, bool keep)
{
	size_t chunk = m->wtmax, done = 0;

	/*
	 * The kernel client's FLUSH_COND_STABLE: data that goes in one call
	 * with nothing else uncommitted goes stable, and needs no COMMIT of
	 * its own at close (a small file: one round trip instead of two).
	 */
	if (keep && !stable && !f->n_ext && !f->wrote && size <= chunk)
		stable = true;
	/* O_SYNC, O_DSYNC: on the server's disk before write returns */
	if (f->flags & (O_SYNC | O_DSYNC))
		stable = true;
	f->wrote = true;

	while (done < size) {
		struct call calls[MAX_BATCH], *cs[MAX_BATCH];
		size_t n = 0, sent = 0, got = 0;
		int r;

		for (; n < WRITE_BATCH && done + sent < size; n++) {
			size_t len = size - done - sent < chunk ? size - done - sent : chunk;
			struct call *w = &calls[n];

			memset(w, 0, sizeof(*w));
			w->proc = P_WRITE;
			set_fh(&w->a.write.file, &f->fh);
			w->a.write.offset = off + done + sent;
			w->a.write.count = (count3)len;
			w->a.write.stable = stable ? FILE_SYNC : UNSTABLE;
			w->a.write.data.data_len = (u_int)len;
			w->a.write.data.data_val = (char *)buf + done + sent;
			cs[n] = w;
			sent += len;
		}
		struct inode *fino = cache_inode(m, f->fsid, f->fileid);
		uint32_t g0 = gen_of_id(m, f->fsid, f->fileid);

		r = nfs_run(m, c, cs, (int)n);
		for (size_t i = 0; r == 0 && i < n; i++) {
			struct call *w = &calls[i];

			if (w->has_obj)
				cache_attr(m, &f->fh, &w->obj, true);
			if (w->status != NFS3_OK) {
				r = nfs_errno(w->status);
				break;
			}
			if (keep && w->committed == UNSTABLE && w->count)
				keep_dirty(f, w->a.write.offset, w->a.write.data.data_val, w->count,
					   w->verf);
			got += w->count;
			if (w->count < w->a.write.count)
				break;
		}
		/* the others' caches of the file are out of date now */
		fino = cache_inode(m, f->fsid, f->fileid);
		if (fino && fino->fh.len == f->fh.len)
			gen_mine(m, fino, g0);
		else
			gen_bump_id(m, f->fsid, f->fileid);
		if (r < 0) {
			if (fino)
				cache_expire(fino);
			return done + got ? (ssize_t)(done + got) : r;
		}
		done += got;
		if (got < sent)
			break;
		/* a long write: what is kept is committed as it goes */
		if (keep && f->ndirty > DIRTY_MAX && (r = commit(m, c, f)) < 0) {
			f->werr = r;
			break;
		}
	}
	return (ssize_t)done;
}

/*
 * COMMIT: what went out unstable is on the server's disk.  Writes whose
 * verifier differs from COMMIT's were lost by a server restart: they go
 * out again, stable.  0, or -errno (and the data stays kept).
 */
static int commit(struct nfsmod *m, struct cred *c, struct nfile *f)
{
	struct call call;
	int r;

	if (!f->n_ext)
		return 0;
	memset(&call, 0, sizeof(call));
	call.proc = P_COMMIT;
	set_fh(&call.a.commit.file, &f->fh);
	if ((r = nfs_call(m, c, &call)) < 0)
		return r;
	if (call.has_obj)
		cache_attr(m, &f->fh, &call.obj, false);
	/* in the order written: a later write over the same bytes wins */
	for (size_t i = 0; i < f->n_ext; i++) {
		struct extent *e = &f->ext[i];

		if (!memcmp(e->verf, call.verf, sizeof(call.verf)))
			continue;
		r = (int)write_out(m, c, f, f->dbuf + e->at, e->len, e->off, true, false);
		if (r >= 0 && (size_t)r < e->len)
			r = -EIO;
		if (r < 0)
			return r;
	}
	clear_dirty(f);
	return 0;
}

ssize_t op_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	ssize_t n;
	ENTER;

	if (f->dir)
		LEAVE(-EISDIR);
	if (m->maxfilesize && (uint64_t)off >= m->maxfilesize)
		LEAVE(-EFBIG);
	if (m->maxfilesize && (uint64_t)off + size > m->maxfilesize)
		size = (size_t)(m->maxfilesize - (uint64_t)off);
	writes_to(m, f);
	n = write_out(m, &c, f, buf, size, (uint64_t)off, false, true);
	if (n > 0 && f->ndirty > DIRTY_MAX && (r = commit(m, &c, f)) < 0)
		f->werr = r;
	nfs_unlock(m);
	return n;
}

/*
 * O_APPEND: at the end of the file as the server has it now, one append at
 * a time among this machine's processes (a lock on the file's local lock
 * file; appends of other machines' clients can still interleave, as over
 * the kernel client).
 */
ssize_t op_append(void *priv, uint64_t fh, const void *buf, size_t size, off_t *end)
{
	struct inode *ino;
	ssize_t n = 0;
	int lfd = -1;
	ENTER;

	if (f->dir)
		LEAVE(-EISDIR);
	if (!m->o.nolock && (lfd = lockfile_open(m, f, ".append")) >= 0)
		while (flock(lfd, LOCK_EX) < 0 && errno == EINTR)
			;
	r = file_inode(m, &c, f, true, &ino);
	if (r == 0) {
		uint64_t at = ino->attr.size;

		writes_to(m, f);
		n = write_out(m, &c, f, buf, size, at, false, true);
		if (n >= 0)
			*end = (off_t)(at + (uint64_t)n);
		r = (int)(n < 0 ? n : 0);
	}
	if (lfd >= 0)
		lockfile_close(lfd);
	if (r < 0)
		LEAVE(r);
	if (f->ndirty > DIRTY_MAX && (r = commit(m, &c, f)) < 0)
		f->werr = r;
	nfs_unlock(m);
	return n;
}

/* ---- reading ----------------------------------------------------------------- */

/*
 * Reads [off, off + size1 + size2) into buf1 (size1 bytes), then buf2
 * (what is read ahead), in pieces of at most rtmax, MAX_BATCH at a time.
 * Returns the bytes read, up to the first short piece; *eof if it ended
 * at the end of the file.
 */
static ssize_t read_in(struct nfsmod *m, struct cred *c, struct nfile *f, char *buf1,
		       size_t size1, char *buf2, size_t size2, uint64_t off, bool *eof)
{
	size_t chunk = m->rtmax, done = 0, size = size1 + size2;

	*eof = false;
	while (done < size) {
		struct call calls[MAX_BATCH], *cs[MAX_BATCH];
		size_t n = 0, asked = 0, got = 0;
		bool short_piece = false;
		int r;

		for (; n < MAX_BATCH && done + asked < size; n++) {
			size_t at = done + asked;
			/* no piece across the two buffers */
			size_t room = at < size1 ? size1 - at : size - at;
			size_t len = room < chunk ? room : chunk;
			struct call *rd = &calls[n];

			memset(rd, 0, sizeof(*rd));
			rd->proc = P_READ;
			set_fh(&rd->a.read.file, &f->fh);
			rd->a.read.offset = off + at;
			rd->a.read.count = (count3)len;
			rd->buf = at < size1 ? buf1 + at : buf2 + (at - size1);
			rd->buflen = len;
			/* only the caller's buffer: f's read-ahead buffer may
			   move meanwhile (another thread's read) */
			rd->parallel = size2 == 0;
			cs[n] = rd;
			asked += len;
		}
		r = nfs_run(m, c, cs, (int)n);
		for (size_t i = 0; r == 0 && i < n; i++) {
			struct call *rd = &calls[i];

			if (rd->has_obj && i + 1 == n)
				cache_attr(m, &f->fh, &rd->obj, false);
			if (rd->status != NFS3_OK) {
				r = nfs_errno(rd->status);
				break;
			}
			got += rd->count;
			if (rd->count < rd->buflen) {
				*eof = rd->eof;
				short_piece = true;
				break;
			}
		}
		if (r < 0)
			return done + got ? (ssize_t)(done + got) : r;
		done += got;
		if (short_piece)
			break;
	}
	return (ssize_t)done;
}

ssize_t op_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	uint64_t o = (uint64_t)off;
	size_t have = 0, ahead;
	ssize_t n;
	bool eof;
	ENTER;

	if (f->dir)
		LEAVE(-EISDIR);
	if (size == 0)
		LEAVE(0);
	/* what the last read fetched ahead, if this read goes on from it */
	if (f->ra_len && f->ra_gen != gen_of_id(m, f->fsid, f->fileid))
		drop_readahead(f);	/* another process wrote to the file */
	if (f->ra_len && o == f->next_off && o >= f->ra_off && o < f->ra_off + f->ra_len) {
		size_t at = (size_t)(o - f->ra_off);

		have = f->ra_len - at < size ? f->ra_len - at : size;
		memcpy(buf, f->ra + at, have);
		if (have < f->ra_len - at) {
			/* the rest stays for the next read */
			f->ra_off += at + have;
			f->ra_len -= at + have;
			memmove(f->ra, f->ra + at + have, f->ra_len);
			f->seq++;
			f->next_off = o + have;
			nfs_unlock(m);
			return (ssize_t)have;
		}
	}
	f->seq = o == f->next_off ? f->seq + 1 : 0;
	if (have && f->ra_eof) {
		f->next_off = o + have;
		drop_readahead(f);
		nfs_unlock(m);
		return (ssize_t)have;
	}
	drop_readahead(f);
	if (have == size) {
		f->next_off = o + have;
		nfs_unlock(m);
		return (ssize_t)have;
	}
	/* a sequential reader of large pieces: the next ones go out with
	   this one's (its own into buf, what follows into ra) */
	ahead = 0;
	if (m->o.readahead && f->seq >= 1 && size >= RA_MIN)
		ahead = (size_t)m->o.readahead * m->rtmax;
	if (ahead && f->ra_cap < ahead) {
		char *nb = realloc(f->ra, ahead);

		if (nb) {
			f->ra = nb;
			f->ra_cap = ahead;
		} else {
			ahead = 0;
		}
	}
	f->ra_gen = gen_of_id(m, f->fsid, f->fileid);
	n = read_in(m, &c, f, (char *)buf + have, size - have, f->ra, ahead, o + have, &eof);
	if (n > (ssize_t)(size - have)) {
		f->ra_off = o + size;
		f->ra_len = (size_t)n - (size - have);
		f->ra_eof = eof;
		n = (ssize_t)(size - have);
	}
	if (n < 0 && have == 0)
		LEAVE((int)n);
	n = n < 0 ? (ssize_t)have : n + (ssize_t)have;
	f->next_off = o + (uint64_t)n;
	nfs_unlock(m);
	return n;
}

/* ---- attributes of open files ----------------------------------------------------- */

int op_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	struct inode *ino;
	ENTER;

	/* a directory this process removed: what it was, without a name (the
	   server no longer knows the handle) */
	if (f->removed && (ino = cache_inode(m, f->fsid, f->fileid))) {
		attr_to_stat(m, &ino->attr, st);
		st->st_nlink = 0;
		LEAVE(0);
	}
	if ((r = file_inode(m, &c, f, false, &ino)) == 0) {
		attr_to_stat(m, &ino->attr, st);
		/* removed while open, kept under a hidden name: its last name
		   is gone, as far as the program knows */
		if (f->silly_name[0] && st->st_nlink > 0)
			st->st_nlink--;
	}
	LEAVE(r);
}

int op_ftruncate(void *priv, uint64_t fh, off_t size)
{
	struct inode *ino;
	sattr3 sa;
	ENTER;

	if (f->dir)
		LEAVE(-EISDIR);
	if (m->maxfilesize && (uint64_t)size > m->maxfilesize)
		LEAVE(-EFBIG);
	if ((r = file_inode(m, &c, f, false, &ino)) < 0)
		LEAVE(r);
	writes_to(m, f);
	memset(&sa, 0, sizeof(sa));
	sa.size.set_it = 1;
	sa.size.set_size3_u.size = (uint64_t)size;
	LEAVE(setattr_ino(m, &c, ino, &sa));
}

int op_fchmod(void *priv, uint64_t fh, mode_t mode)
{
	struct inode *ino;
	ENTER;

	if ((r = file_inode(m, &c, f, false, &ino)) < 0)
		LEAVE(r);
	if (ino->attr.type == NF3LNK)
		LEAVE(-EOPNOTSUPP);
	LEAVE(chmod_ino(m, &c, ino, mode));
}

int op_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid)
{
	struct inode *ino;
	ENTER;

	if ((r = file_inode(m, &c, f, false, &ino)) < 0)
		LEAVE(r);
	LEAVE(chown_ino(m, &c, ino, uid, gid));
}

int op_futimens(void *priv, uint64_t fh, const struct timespec tv[2])
{
	struct inode *ino;
	ENTER;

	if ((r = file_inode(m, &c, f, false, &ino)) < 0)
		LEAVE(r);
	LEAVE(utimens_ino(m, &c, ino, tv));
}

int op_flink(void *priv, uint64_t fh, const char *newpath)
{
	struct place dir, q;
	const char *name;
	char nm[NFS_NAME_MAX + 1];
	struct inode *ino;
	size_t len;
	ENTER;

	/* a file removed while open has no name to link (the kernel: ENOENT) */
	if (f->silly_name[0])
		LEAVE(-ENOENT);
	if (f->dir)
		LEAVE(-EPERM);
	if ((r = walk_parent(m, &c, newpath, &dir, &name, &len)) < 0)
		LEAVE(r);
	memcpy(nm, name, len);
	nm[len] = 0;
	if (lookup_cached(m, &c, &dir, nm, len, &q) == 0)
		LEAVE(-EEXIST);
	if ((r = file_inode(m, &c, f, false, &ino)) < 0)
		LEAVE(r);
	LEAVE(link_ino(m, &c, ino, &dir, nm, len));
}

/* ---- close, sync ---------------------------------------------------------------- */

int op_fsync(void *priv, uint64_t fh, int datasync)
{
	(void)datasync;
	ENTER;

	r = commit(m, &c, f);
	if (r == 0 && f->werr) {
		r = f->werr;
		f->werr = 0;
	}
	LEAVE(r);
}

int op_flush(void *priv, uint64_t fh)
{
	ENTER;

	if (f->dir)
		LEAVE(0);
	/* close-to-open: what this process wrote is the server's (and on its
	   disk) before close returns; a deferred error is close's */
	r = commit(m, &c, f);
	if (r == 0 && f->werr) {
		r = f->werr;
		f->werr = 0;
	}
	LEAVE(r);
}

/* The hidden name of a file removed while open goes with the last handle. */
static void remove_silly(struct nfsmod *m, struct cred *c, struct nfile *f)
{
	struct call call;

	for (struct nfile *g = m->files; g; g = g->next)
		if (g != f && g->fileid == f->fileid && g->fsid == f->fsid)
			return;
	memset(&call, 0, sizeof(call));
	call.proc = P_REMOVE;
	set_fh(&call.a.remove.object.dir, &f->silly_dir);
	call.a.remove.object.name = f->silly_name;
	nfs_call(m, c, &call);
	if (call.has_dir)
		cache_attr(m, NULL, &call.dir, true);
	gen_bump_id(m, f->silly_dir_fsid, f->silly_dir_fileid);
	gen_bump_id(m, f->fsid, f->fileid);
}

static void unlink_file(struct nfsmod *m, struct nfile *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		m->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

void op_release(void *priv, uint64_t fh)
{
	struct nfsmod *m = priv;
	struct nfile *f = (struct nfile *)(uintptr_t)fh;
	struct cred c;

	if (!f)
		return;	/* a FIFO: the kernel's (open_fifo) */
	cred_get(&c);
	nfs_lock(m);
	if (f->n_ext)
		commit(m, &c, f);
	if (f->silly_name[0])
		remove_silly(m, &c, f);
	unlink_file(m, f);
	free_dirty(f);
	free(f->ra);
	dirlist_free(f->list);
	free(f->path);
	if (f->lockfd >= 0)
		lockfile_close(f->lockfd);
	free(f);
	nfs_unlock(m);
}

/*
 * A forked child shares its parent's open files but not its memory: what
 * the parent keeps for them (uncommitted copies, read-ahead) is the
 * parent's to finish; the child starts with nothing but the handles.
 */
void files_after_fork(struct nfsmod *m)
{
	for (struct nfile *f = m->files; f; f = f->next) {
		free_dirty(f);
		drop_readahead(f);
		f->werr = 0;
	}
}

/* At the end of the process: what is still open is made durable (the
   kernel closes those descriptors without a flush), hidden names go. */
void files_at_exit(struct nfsmod *m, struct cred *c)
{
	for (struct nfile *f = m->files; f; f = f->next)
		if (f->n_ext)
			commit(m, c, f);
	for (struct nfile *f = m->files; f; f = f->next) {
		struct call call;

		if (!f->silly_name[0])
			continue;
		memset(&call, 0, sizeof(call));
		call.proc = P_REMOVE;
		set_fh(&call.a.remove.object.dir, &f->silly_dir);
		call.a.remove.object.name = f->silly_name;
		nfs_call(m, c, &call);
		gen_bump_id(m, f->silly_dir_fsid, f->silly_dir_fileid);
		for (struct nfile *g = f->next; g; g = g->next)
			if (g->fileid == f->fileid && g->fsid == f->fsid)
				g->silly_name[0] = 0;
		f->silly_name[0] = 0;
	}
}

/*
 * A rename by this process moved from to to: open directories at or
 * below from are there now (op_fh_path).  Renames by other processes are
 * not seen: the host then keeps the path the directory was opened by.
 */
void files_renamed(struct nfsmod *m, const char *from, size_t flen, const char *to,
		   size_t tlen)
{
	for (struct nfile *f = m->files; f; f = f->next) {
		size_t n;
		char *p;

		if (!f->path || strncmp(f->path, from, flen) ||
		    (f->path[flen] && f->path[flen] != '/'))
			continue;
		n = strlen(f->path + flen);
		if (!(p = malloc(tlen + n + 1)))
			continue;
		memcpy(p, to, tlen);
		memcpy(p + tlen, f->path + flen, n + 1);
		free(f->path);
		f->path = p;
	}
}

/* Where an open directory is now (module.h, fh_path). */
int op_fh_path(void *priv, uint64_t fh, char *buf, size_t size)
{
	struct nfsmod *m = priv;
	struct nfile *f = (struct nfile *)(uintptr_t)fh;
	int r = 0;

	nfs_lock(m);
	if (f->removed)
		r = -ENOENT;
	else if (!f->path)
		r = -EINVAL;
	else if (strlen(f->path) >= size)
		r = -ENAMETOOLONG;
	else
		strcpy(buf, f->path);
	nfs_unlock(m);
	return r;
}
