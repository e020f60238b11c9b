/*
 * The connections to the server and the calls made on them.
 *
 * libnfs's RPC layer is asynchronous: a call is queued with a callback,
 * and the socket is served with rpc_service() when poll() says so.  Here a
 * thread that needs answers takes a connection no other thread is using
 * (a mount has up to NFS_CONNS, made as threads first need them), sends
 * its calls and serves that socket itself until they are answered: no
 * thread of the module's own runs inside the program, and no thread wakes
 * another.  Several calls go out together (the pieces of one large read
 * or write), so their round trips overlap; calls marked parallel wait
 * without the mount's lock, so other threads' calls overlap them too.
 *
 * (One connection with the calls of every thread in flight on it would
 * need one thread to serve the socket for all and wake each waiter: a
 * futex wake and a context switch per answer.  A connection per waiting
 * thread costs a socket, made once.)
 *
 * Failures are the kernel client's (nfs(5)): a call that gets no answer
 * within timeo, or whose connection breaks, is sent again on a new
 * connection; a soft mount gives up after 1 + retrans tries (EIO, or
 * ETIMEDOUT with softerr), a hard one goes on until the server answers.  A
 * call is never left behind: when a caller gives up, the connection its
 * calls were queued on is destroyed first (libnfs then cancels them), so
 * no late answer can write into a caller that has returned.
 *
 * Each call goes out with its caller's identity (AUTH_SYS: the file-system
 * user and group and up to 16 supplementary groups), as the kernel client
 * sends the calling process's: the server checks permissions on it.
 *
 * The sockets are set aside with the host's defuse_keep_fd, above the
 * program's descriptors, so the program can neither take their numbers nor
 * close them.  A forked child never uses its parent's connections (each
 * one TCP stream, one sequence of XIDs): it connects anew at its first
 * call.
 */
#include "nfs.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PORTMAP_PORT 111

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the caller --------------------------------------------------------- */

/* The file-system IDs (what the kernel checks, and what its NFS client
   sends); supplementary groups are read when first needed. */
void cred_get(struct cred *c)
{
	if (defuse_fs_ids) {
		/* the host's, cached per thread: no system call */
		uid_t u;
		gid_t g;

		defuse_fs_ids(&u, &g);
		c->uid = u;
		c->gid = g;
	} else {
		c->uid = (uint32_t)setfsuid((uid_t)-1);
		c->gid = (uint32_t)setfsgid((gid_t)-1);
	}
	c->ngroups = -1;
}

static void cred_groups(struct cred *c)
{
	gid_t g[NGROUPS_MAX];
	int n;

	if (c->ngroups >= 0)
		return;
	n = getgroups(NGROUPS_MAX, g);
	c->ngroups = 0;
	/* AUTH_SYS carries 16: the kernel client sends the first 16 too */
	for (int i = 0; i < n && c->ngroups < NFS_GROUPS_MAX; i++)
		c->groups[c->ngroups++] = g[i];
}

bool cred_in_group(struct cred *c, uint32_t gid)
{
	if (gid == c->gid)
		return true;
	cred_groups(c);
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

/* ---- errors ---------------------------------------------------------------- */

/* As fs/nfs/nfs2xdr.c's table (nfs_stat_to_errno); the kernel's internal
   codes (EBADHANDLE, ENOTSUPP...) as what a program gets. */
int nfs_errno(int status)
{
	switch (status) {
	case NFS3_OK: return 0;
	case NFS3ERR_PERM: return -EPERM;
	case NFS3ERR_NOENT: return -ENOENT;
	case NFS3ERR_IO: return -EIO;
	case NFS3ERR_NXIO: return -ENXIO;
	case NFS3ERR_ACCES: return -EACCES;
	case NFS3ERR_EXIST: return -EEXIST;
	case NFS3ERR_XDEV: return -EXDEV;
	case NFS3ERR_NODEV: return -ENODEV;
	case NFS3ERR_NOTDIR: return -ENOTDIR;
	case NFS3ERR_ISDIR: return -EISDIR;
	case NFS3ERR_INVAL: return -EINVAL;
	case NFS3ERR_FBIG: return -EFBIG;
	case NFS3ERR_NOSPC: return -ENOSPC;
	case NFS3ERR_ROFS: return -EROFS;
	case NFS3ERR_MLINK: return -EMLINK;
	case NFS3ERR_NAMETOOLONG: return -ENAMETOOLONG;
	case NFS3ERR_NOTEMPTY: return -ENOTEMPTY;
	case NFS3ERR_DQUOT: return -EDQUOT;
	case NFS3ERR_STALE: return -ESTALE;
	case NFS3ERR_REMOTE: return -EREMOTE;
	case NFS3ERR_BADHANDLE: return -ESTALE;
	case NFS3ERR_NOTSUPP: return -EOPNOTSUPP;
	case NFS3ERR_TOOSMALL: return -EINVAL;
	case NFS3ERR_SERVERFAULT: return -EREMOTEIO;
	case NFS3ERR_BADTYPE: return -EINVAL;
	default: return -EIO;
	}
}

/* ---- answers --------------------------------------------------------------- */

static void post(bool *has, fattr3 *to, const post_op_attr *p)
{
	*has = p->attributes_follow != 0;
	if (*has)
		*to = p->post_op_attr_u.attributes;
}

static void wcc(bool *has, fattr3 *to, const wcc_data *w)
{
	post(has, to, &w->after);
}

static void take_fh(struct call *c, const post_op_fh3 *p)
{
	const nfs_fh3 *h = &p->post_op_fh3_u.handle;

	c->has_fh = p->handle_follows && h->data.data_len <= NFS_FH_MAX;
	if (c->has_fh) {
		c->fh.len = h->data.data_len;
		memcpy(c->fh.data, h->data.data_val, h->data.data_len);
	}
}

/* Copies what the caller needs out of a decoded answer (valid only here). */
static void take(struct call *c, void *data)
{
	int st = *(int *)data;	/* every result starts with its nfsstat3 */

	c->status = st;
	switch (c->proc) {
	case P_GETATTR: {
		GETATTR3res *r = data;

		if ((c->has_obj = st == NFS3_OK))
			c->obj = r->GETATTR3res_u.resok.obj_attributes;
		break;
	}
	case P_SETATTR: {
		SETATTR3res *r = data;

		wcc(&c->has_obj, &c->obj, st == NFS3_OK ? &r->SETATTR3res_u.resok.obj_wcc :
		    &r->SETATTR3res_u.resfail.obj_wcc);
		break;
	}
	case P_LOOKUP: {
		LOOKUP3res *r = data;

		if (st == NFS3_OK) {
			LOOKUP3resok *ok = &r->LOOKUP3res_u.resok;

			c->has_fh = ok->object.data.data_len <= NFS_FH_MAX;
			if (c->has_fh) {
				c->fh.len = ok->object.data.data_len;
				memcpy(c->fh.data, ok->object.data.data_val, c->fh.len);
			}
			post(&c->has_obj, &c->obj, &ok->obj_attributes);
			post(&c->has_dir, &c->dir, &ok->dir_attributes);
		} else {
			post(&c->has_dir, &c->dir, &r->LOOKUP3res_u.resfail.dir_attributes);
		}
		break;
	}
	case P_ACCESS: {
		ACCESS3res *r = data;

		if (st == NFS3_OK) {
			c->count = r->ACCESS3res_u.resok.access;
			post(&c->has_obj, &c->obj, &r->ACCESS3res_u.resok.obj_attributes);
		}
		break;
	}
	case P_READLINK: {
		READLINK3res *r = data;

		if (st == NFS3_OK) {
			const char *t = r->READLINK3res_u.resok.data;
			size_t n = t ? strlen(t) : 0;

			post(&c->has_obj, &c->obj, &r->READLINK3res_u.resok.symlink_attributes);
			c->count = (uint32_t)n;
			memcpy(c->buf, t, n < c->buflen ? n : c->buflen);
		}
		break;
	}
	case P_READ: {
		READ3res *r = data;

		if (st == NFS3_OK) {
			READ3resok *ok = &r->READ3res_u.resok;
			size_t n = ok->data.data_len;

			if (n > c->buflen)
				n = c->buflen;
			memcpy(c->buf, ok->data.data_val, n);
			c->count = (uint32_t)n;
			c->eof = ok->eof;
			post(&c->has_obj, &c->obj, &ok->file_attributes);
		} else {
			post(&c->has_obj, &c->obj, &r->READ3res_u.resfail.file_attributes);
		}
		break;
	}
	case P_WRITE: {
		WRITE3res *r = data;

		if (st == NFS3_OK) {
			WRITE3resok *ok = &r->WRITE3res_u.resok;

			c->count = ok->count;
			c->committed = ok->committed;
			memcpy(c->verf, ok->verf, sizeof(c->verf));
			wcc(&c->has_obj, &c->obj, &ok->file_wcc);
		} else {
			wcc(&c->has_obj, &c->obj, &r->WRITE3res_u.resfail.file_wcc);
		}
		break;
	}
	case P_COMMIT: {
		COMMIT3res *r = data;

		if (st == NFS3_OK) {
			memcpy(c->verf, r->COMMIT3res_u.resok.verf, sizeof(c->verf));
			wcc(&c->has_obj, &c->obj, &r->COMMIT3res_u.resok.file_wcc);
		}
		break;
	}
	case P_CREATE: {
		CREATE3res *r = data;

		if (st == NFS3_OK) {
			take_fh(c, &r->CREATE3res_u.resok.obj);
			post(&c->has_obj, &c->obj, &r->CREATE3res_u.resok.obj_attributes);
			wcc(&c->has_dir, &c->dir, &r->CREATE3res_u.resok.dir_wcc);
		} else {
			wcc(&c->has_dir, &c->dir, &r->CREATE3res_u.resfail.dir_wcc);
		}
		break;
	}
	case P_MKDIR: {
		MKDIR3res *r = data;

		if (st == NFS3_OK) {
			take_fh(c, &r->MKDIR3res_u.resok.obj);
			post(&c->has_obj, &c->obj, &r->MKDIR3res_u.resok.obj_attributes);
			wcc(&c->has_dir, &c->dir, &r->MKDIR3res_u.resok.dir_wcc);
		} else {
			wcc(&c->has_dir, &c->dir, &r->MKDIR3res_u.resfail.dir_wcc);
		}
		break;
	}
	case P_SYMLINK: {
		SYMLINK3res *r = data;

		if (st == NFS3_OK) {
			take_fh(c, &r->SYMLINK3res_u.resok.obj);
			post(&c->has_obj, &c->obj, &r->SYMLINK3res_u.resok.obj_attributes);
			wcc(&c->has_dir, &c->dir, &r->SYMLINK3res_u.resok.dir_wcc);
		} else {
			wcc(&c->has_dir, &c->dir, &r->SYMLINK3res_u.resfail.dir_wcc);
		}
		break;
	}
	case P_MKNOD: {
		MKNOD3res *r = data;

		if (st == NFS3_OK) {
			take_fh(c, &r->MKNOD3res_u.resok.obj);
			post(&c->has_obj, &c->obj, &r->MKNOD3res_u.resok.obj_attributes);
			wcc(&c->has_dir, &c->dir, &r->MKNOD3res_u.resok.dir_wcc);
		} else {
			wcc(&c->has_dir, &c->dir, &r->MKNOD3res_u.resfail.dir_wcc);
		}
		break;
	}
	case P_REMOVE: {
		REMOVE3res *r = data;

		wcc(&c->has_dir, &c->dir, st == NFS3_OK ? &r->REMOVE3res_u.resok.dir_wcc :
		    &r->REMOVE3res_u.resfail.dir_wcc);
		break;
	}
	case P_RMDIR: {
		RMDIR3res *r = data;

		wcc(&c->has_dir, &c->dir, st == NFS3_OK ? &r->RMDIR3res_u.resok.dir_wcc :
		    &r->RMDIR3res_u.resfail.dir_wcc);
		break;
	}
	case P_RENAME: {
		RENAME3res *r = data;
		RENAME3resok *ok = &r->RENAME3res_u.resok;

		/* resok and resfail have the same layout */
		wcc(&c->has_dir, &c->dir, &ok->fromdir_wcc);
		wcc(&c->has_dir2, &c->dir2, &ok->todir_wcc);
		break;
	}
	case P_LINK: {
		LINK3res *r = data;
		LINK3resok *ok = &r->LINK3res_u.resok;

		post(&c->has_obj, &c->obj, &ok->file_attributes);
		wcc(&c->has_dir, &c->dir, &ok->linkdir_wcc);
		break;
	}
	case P_READDIRPLUS: {
		READDIRPLUS3res *r = data;

		if (st == NFS3_OK) {
			READDIRPLUS3resok *ok = &r->READDIRPLUS3res_u.resok;

			post(&c->has_dir, &c->dir, &ok->dir_attributes);
			memcpy(c->cookieverf, ok->cookieverf, sizeof(c->cookieverf));
			/* libnfs places entries at 4-byte boundaries: each is
			   copied out before its 8-byte fields are read */
			for (const void *p = ok->reply.entries; p;) {
				entryplus3 e;

				memcpy(&e, p, sizeof(e));
				c->entry(c->entry_ctx, &e);
				c->last_cookie = e.cookie;
				p = e.nextentry;
			}
			c->dir_eof = ok->reply.eof;
		}
		break;
	}
	case P_FSSTAT: {
		FSSTAT3res *r = data;

		if (st == NFS3_OK)
			c->info.fsstat = r->FSSTAT3res_u.resok;
		break;
	}
	case P_FSINFO: {
		FSINFO3res *r = data;

		if (st == NFS3_OK)
			c->info.fsinfo = r->FSINFO3res_u.resok;
		break;
	}
	case P_PATHCONF: {
		PATHCONF3res *r = data;

		if (st == NFS3_OK)
			c->info.pathconf = r->PATHCONF3res_u.resok;
		break;
	}
	}
}

static void on_reply(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct call *c = priv;

	(void)rpc;
	if (status == RPC_STATUS_SUCCESS && data) {
		take(c, data);
		c->state = 1;
	} else {
		/* lost with its connection (error, cancel, libnfs's timeout) */
		c->state = -1;
	}
}

static int send_call(struct conn *k, struct call *c)
{
	struct rpc_context *r = k->rpc;

	c->state = 0;
	c->has_obj = c->has_fh = c->has_dir = c->has_dir2 = false;
	switch (c->proc) {
	case P_GETATTR: return rpc_nfs3_getattr_async(r, on_reply, &c->a.getattr, c);
	case P_SETATTR: return rpc_nfs3_setattr_async(r, on_reply, &c->a.setattr, c);
	case P_LOOKUP: return rpc_nfs3_lookup_async(r, on_reply, &c->a.lookup, c);
	case P_ACCESS: return rpc_nfs3_access_async(r, on_reply, &c->a.access, c);
	case P_READLINK: return rpc_nfs3_readlink_async(r, on_reply, &c->a.readlink, c);
	case P_READ: return rpc_nfs3_read_async(r, on_reply, &c->a.read, c);
	case P_WRITE: return rpc_nfs3_write_async(r, on_reply, &c->a.write, c);
	case P_CREATE: return rpc_nfs3_create_async(r, on_reply, &c->a.create, c);
	case P_MKDIR: return rpc_nfs3_mkdir_async(r, on_reply, &c->a.mkdir, c);
	case P_SYMLINK: return rpc_nfs3_symlink_async(r, on_reply, &c->a.symlink, c);
	case P_MKNOD: return rpc_nfs3_mknod_async(r, on_reply, &c->a.mknod, c);
	case P_REMOVE: return rpc_nfs3_remove_async(r, on_reply, &c->a.remove, c);
	case P_RMDIR: return rpc_nfs3_rmdir_async(r, on_reply, &c->a.rmdir, c);
	case P_RENAME: return rpc_nfs3_rename_async(r, on_reply, &c->a.rename, c);
	case P_LINK: return rpc_nfs3_link_async(r, on_reply, &c->a.link, c);
	case P_READDIRPLUS:
		return rpc_nfs3_readdirplus_async(r, on_reply, &c->a.readdirplus, c);
	case P_FSSTAT: return rpc_nfs3_fsstat_async(r, on_reply, &c->a.fsstat, c);
	case P_FSINFO: return rpc_nfs3_fsinfo_async(r, on_reply, &c->a.fsinfo, c);
	case P_PATHCONF: return rpc_nfs3_pathconf_async(r, on_reply, &c->a.pathconf, c);
	case P_COMMIT: return rpc_nfs3_commit_async(r, on_reply, &c->a.commit, c);
	}
	return -1;
}

/* ---- the socket ------------------------------------------------------------ */

/*
 * Serves rpc until *done is set or deadline passes: 0, -ETIMEDOUT, or -EIO
 * when the connection failed.
 */
static int pump(struct rpc_context *rpc, const int *done, int64_t deadline)
{
	while (!*done) {
		struct pollfd p = { .fd = rpc_get_fd(rpc), .events = (short)rpc_which_events(rpc) };
		int64_t left = deadline - now_ns();
		int ms, r;

		if (left <= 0)
			return -ETIMEDOUT;
		ms = left > 1000000000 ? 1000 : (int)((left + 999999) / 1000000);
		if (p.fd < 0)
			return -EIO;
		r = poll(&p, 1, ms);
		if (r < 0 && errno != EINTR)
			return -EIO;
		if (r > 0 && rpc_service(rpc, p.revents) < 0)
			return -EIO;
	}
	return 0;
}

/* Destroys a context whose socket may have been set aside. */
static void destroy_rpc(struct rpc_context *rpc, int kept_fd)
{
	if (kept_fd >= 0 && rpc_get_fd(rpc) == kept_fd) {
		if (defuse_close_kept)
			defuse_close_kept(kept_fd);
		else
			close(kept_fd);
		rpc_set_fd(rpc, -1);
	}
	/* cancels every call still queued: their callers see them lost */
	rpc_destroy_context(rpc);
}

static void drop(struct conn *k)
{
	if (!k->rpc)
		return;
	destroy_rpc(k->rpc, k->fd);
	k->rpc = NULL;
	k->fd = -1;
}

void nfs_disconnect(struct nfsmod *m)
{
	for (int i = 0; i < NFS_CONNS; i++)
		drop(&m->conns[i]);
}

/*
 * A forked child: the parent's TCP stream is not the child's to use; the
 * child's copy of its descriptor is closed here, and the context is
 * destroyed at the child's first call (nfs_after_fork_cleanup), not now:
 * right after a fork of a threaded program, glibc still holds malloc's
 * locks in the child until fork returns, so nothing here may allocate or
 * free.  A context another thread of the parent was using at the fork may
 * be in the middle of a change: it is left alone (leaked).
 */
void nfs_forget_connection(struct nfsmod *m)
{
	for (int i = 0; i < NFS_CONNS; i++) {
		struct conn *k = &m->conns[i];

		/* a connection another thread of the parent was using */
		bool used = k->busy;

		k->busy = false;
		k->forked_rpc = NULL;
		if (!k->rpc)
			continue;
		if (k->fd >= 0) {
			if (defuse_close_kept)
				defuse_close_kept(k->fd);
			else
				close(k->fd);
			if (!used && rpc_get_fd(k->rpc) == k->fd)
				rpc_set_fd(k->rpc, -1);
		}
		k->forked_rpc = used ? NULL : k->rpc;
		k->rpc = NULL;
		k->fd = -1;
	}
	m->waiting = 0;
}

/* The rest of a fork's cleanup, at the child's first call (may free). */
void nfs_after_fork_cleanup(struct nfsmod *m)
{
	for (int i = 0; i < NFS_CONNS; i++)
		if (m->conns[i].forked_rpc) {
			rpc_destroy_context(m->conns[i].forked_rpc);
			m->conns[i].forked_rpc = NULL;
		}
}

struct wait {
	int done;
	int status;
	uint32_t port;
	char err[256];
	mountres3 *mnt;		/* not used after the callback */
	struct fh fh;
	int mntstat;
};

/* libnfs's words for a refused connection, in the user's */
static void connect_error(char *to, size_t len, const char *err)
{
	if (strstr(err, "POLLHUP") || strstr(err, "Connection refused"))
		snprintf(to, len, "connection refused");
	else
		snprintf(to, len, "%s", err);
}

static void on_connect(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct wait *w = priv;

	(void)rpc;
	w->status = status;
	if (status != RPC_STATUS_SUCCESS)
		connect_error(w->err, sizeof(w->err),
			      data && status == RPC_STATUS_ERROR ? (const char *)data : "cancelled");
	w->done = 1;
}

/* Sets the socket aside, out of the program's descriptors (module.h). */
static int keep_socket(struct rpc_context *rpc)
{
	int fd = rpc_get_fd(rpc), kept;

	if (fd < 0 || !defuse_keep_fd)
		return fd;
	kept = defuse_keep_fd(fd);
	if (kept < 0)
		return fd;
	rpc_set_fd(rpc, kept);
	return kept;
}

/*
 * libnfs starts a connection with getaddrinfo and then getservbyport for
 * each reserved port it tries to bind (lib/socket.c), and getservbyport
 * keeps its result under a lock of glibc's own that fork does not reset.
 * A threaded program that forks while one of its threads is in there
 * leaves the lock held for good in the child, and the child's first call
 * on the mount connects anew (after_fork_child): it waited forever.  So
 * connections start under a gate of the module's own, and a fork waits at
 * the gate (pthread_atfork: before glibc takes its own locks) until no
 * thread is starting one.  A thread that forks from a signal handler that
 * interrupted its own start does not wait for itself: it would never get
 * in.
 */
static pthread_mutex_t connect_gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t connect_gate_once = PTHREAD_ONCE_INIT;
static __thread bool connect_gate_mine;
static bool connect_gate_forking;	/* fork is serialised by glibc */

static void connect_gate_prepare(void)
{
	connect_gate_forking = !connect_gate_mine;
	if (connect_gate_forking)
		pthread_mutex_lock(&connect_gate);
}

/* Parent and child alike: the child's only thread is the one that forked. */
static void connect_gate_after(void)
{
	if (connect_gate_forking)
		pthread_mutex_unlock(&connect_gate);
	connect_gate_forking = false;
}

static void connect_gate_setup(void)
{
	pthread_atfork(connect_gate_prepare, connect_gate_after, connect_gate_after);
}

/* rpc_connect_port_async (prog not 0) or rpc_connect_async, at the gate. */
static int start_connect(struct rpc_context *rpc, const char *server, int port, int prog,
			 int vers, struct wait *w)
{
	int r;

	pthread_once(&connect_gate_once, connect_gate_setup);
	pthread_mutex_lock(&connect_gate);
	connect_gate_mine = true;
	r = prog ? rpc_connect_port_async(rpc, server, port, prog, vers, on_connect, w)
		 : rpc_connect_async(rpc, server, port, on_connect, w);
	connect_gate_mine = false;
	pthread_mutex_unlock(&connect_gate);
	return r;
}

/* A new connection to the NFS service; 0, or -errno with why. */
static int connect_nfs(struct nfsmod *m, struct conn *k, int64_t deadline, char *why,
		       size_t why_len)
{
	struct wait w = { 0 };
	struct rpc_context *rpc = rpc_init_context();
	int r;

	if (!rpc) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	if (start_connect(rpc, m->o.server, m->nfs_port, NFS_PROGRAM, NFS_V3, &w) < 0) {
		snprintf(why, why_len, "%s", rpc_get_error(rpc));
		rpc_destroy_context(rpc);
		return -ECONNREFUSED;
	}
	r = pump(rpc, &w.done, deadline);
	if (r == 0 && w.status != RPC_STATUS_SUCCESS)
		r = -ECONNREFUSED;
	if (r < 0) {
		snprintf(why, why_len, "%s", w.err[0] ? w.err : r == -ETIMEDOUT ?
			 "no answer" : rpc_get_error(rpc));
		rpc_destroy_context(rpc);
		return r;
	}
	k->rpc = rpc;
	k->fd = keep_socket(rpc);
	k->auth.ngroups = -2;	/* the context's own default: set it anew */
	return 0;
}

static int set_auth(struct nfsmod *m, struct conn *k, struct cred *c)
{
	struct cred fixed;
	struct AUTH *auth;

	if (m->o.fixed_uid) {
		fixed.uid = m->o.uid;
		fixed.gid = m->o.gid;
		fixed.ngroups = 0;
		c = &fixed;
	}
	cred_groups(c);
	if (k->auth.ngroups == c->ngroups && k->auth.uid == c->uid && k->auth.gid == c->gid &&
	    !memcmp(k->auth.groups, c->groups, (size_t)c->ngroups * sizeof(c->groups[0])))
		return 0;
	auth = libnfs_authunix_create(m->host, c->uid, c->gid, (uint32_t)c->ngroups,
				      c->groups);
	if (!auth)
		return -ENOMEM;
	rpc_set_auth(k->rpc, auth);
	k->auth = *c;
	return 0;
}

/* ---- calls ------------------------------------------------------------------ */

/* Serves the connection until every call is answered (0), one was lost
   with it (-EIO), or deadline passed (-ETIMEDOUT). */
static int wait_answers(struct conn *k, struct call **cs, int n, int64_t deadline)
{
	/* the calls were queued: out at once, without asking poll first
	   whether the socket takes them (it nearly always does) */
	if (k->rpc && rpc_which_events(k->rpc) & POLLOUT && rpc_service(k->rpc, POLLOUT) < 0)
		return -EIO;
	for (;;) {
		int waiting = 0, lost = 0, r, ms;
		struct pollfd p;
		int64_t left;

		for (int i = 0; i < n; i++) {
			waiting += cs[i]->state == 0;
			lost += cs[i]->state < 0;
		}
		if (!waiting)
			return lost ? -EIO : 0;
		if (!k->rpc)
			return -EIO;
		left = deadline - now_ns();
		if (left <= 0)
			return -ETIMEDOUT;
		ms = left > 1000000000 ? 1000 : (int)((left + 999999) / 1000000);
		p.fd = rpc_get_fd(k->rpc);
		p.events = (short)rpc_which_events(k->rpc);
		p.revents = 0;
		r = poll(&p, 1, ms);
		if (r < 0 && errno != EINTR)
			return -EIO;
		if (r > 0 && rpc_service(k->rpc, p.revents) < 0)
			return -EIO;
	}
}

__thread uint32_t nfs_g_send;

/* The calls' tries on connection k (which no other thread uses meanwhile:
   m's lock need not be held). */
static int run_on(struct nfsmod *m, struct conn *k, struct cred *cr, struct call **cs, int n)
{
	int64_t timeo = (int64_t)m->o.timeo_ds * 100000000;
	unsigned tries = 0;
	/* init's calls: one try of at most 15 s, whatever the mount says
	   (a hard mount must not hang a program's start) */
	bool soft = m->o.soft || m->init;
	unsigned retrans = m->init ? 0 : m->o.retrans;

	if (m->init && timeo > 15000000000)
		timeo = 15000000000;
	char why[256];

	for (int i = 0; i < n; i++)
		cs[i]->state = -1;
	for (;;) {
		/* one try: until every call is answered or timeo passes,
		   whatever happens to connections meanwhile */
		int64_t deadline = now_ns() + timeo, pause = 20000000, left;
		int r;

		for (;;) {
			bool again = false;

			r = 0;
			if (!k->rpc)
				r = connect_nfs(m, k, deadline, why, sizeof(why));
			if (r == 0 && set_auth(m, k, cr) < 0)
				return -ENOMEM;
			nfs_g_send = gen_global(m);
			for (int i = 0; r == 0 && i < n; i++)
				if (cs[i]->state < 0 && send_call(k, cs[i]) < 0) {
					/* libnfs could not build the call (too large
					   for its buffer: a link target of more than
					   about 3,900 bytes): no retry can help */
					drop(k);
					return cs[i]->proc == P_SYMLINK ? -ENAMETOOLONG : -EIO;
				}
			if (r == 0)
				r = wait_answers(k, cs, n, deadline);
			/* the server's "try later" (NFS3ERR_JUKEBOX): later */
			for (int i = 0; r == 0 && i < n; i++)
				if (cs[i]->status == NFS3ERR_JUKEBOX) {
					cs[i]->state = -1;
					again = true;
				}
			if (r == 0 && !again) {
				__atomic_store_n(&m->down, false, __ATOMIC_RELAXED);
				return 0;
			}
			if (r < 0) {
				/* lost, or no answer: a new connection (destroying
				   this one cancels whatever is still queued on it) */
				drop(k);
				for (int i = 0; i < n; i++)
					if (cs[i]->state == 0)
						cs[i]->state = -1;
			}
			/* again, up to the end of this try */
			left = deadline - now_ns();
			if (left <= 0)
				break;
			sleep_ns(pause < left ? pause : left);
			if (pause < 1000000000)
				pause *= 2;
		}
		drop(k);
		tries++;
		__atomic_store_n(&m->down, true, __ATOMIC_RELAXED);
		if (soft && tries > retrans)
			return m->o.softerr ? -ETIMEDOUT : -EIO;
	}
}

/*
 * A connection no other thread is using (m's lock held): the first one
 * that is free, made at its first call.  Threads that will wait without
 * the lock take at most NFS_CONNS - 1 (the others wait for one to be given
 * back), so a caller that keeps the lock throughout (its calls are not
 * parallel) always finds one at once and never lets the lock go.
 */
static struct conn *conn_take(struct nfsmod *m, bool parallel)
{
	for (;;) {
		struct conn *idle = NULL;
		int busy = 0;

		for (int i = 0; i < NFS_CONNS; i++) {
			struct conn *k = &m->conns[i];

			if (k->busy) {
				busy++;
				continue;
			}
			if (!idle || (k->rpc && !idle->rpc))
				idle = k;
		}
		if (idle && (!parallel || busy < NFS_CONNS - 1)) {
			idle->busy = true;
			return idle;
		}
		/* the caller's inodes must outlive this wait too */
		m->waiting++;
		pthread_cond_wait(&m->conn_free, &m->lock);
		m->waiting--;
	}
}

int nfs_run(struct nfsmod *m, struct cred *cr, struct call **cs, int n)
{
	bool parallel = !m->init;
	struct conn *k;
	int r;

	for (int i = 0; i < n; i++)
		parallel = parallel && cs[i]->parallel && cs[i]->proc != P_READDIRPLUS;
	k = conn_take(m, parallel);
	if (parallel) {
		m->waiting++;
		m->busy = 0;
		pthread_mutex_unlock(&m->lock);
	}
	r = run_on(m, k, cr, cs, n);
	if (parallel) {
		pthread_mutex_lock(&m->lock);
		m->busy = 1;
		m->waiting--;
	}
	k->busy = false;
	pthread_cond_signal(&m->conn_free);
	return r;
}

int nfs_call(struct nfsmod *m, struct cred *cr, struct call *c)
{
	struct call *cs[1] = { c };
	int r = nfs_run(m, cr, cs, 1);

	return r < 0 ? r : nfs_errno(c->status);
}

/* ---- mounting ---------------------------------------------------------------- */

static int first_steps(struct nfsmod *m, struct cred *cp, int64_t deadline, char *why,
		       size_t why_len);

static void on_port(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct wait *w = priv;

	(void)rpc;
	w->status = status;
	if (status == RPC_STATUS_SUCCESS && data)
		w->port = *(uint32_t *)data;
	else
		snprintf(w->err, sizeof(w->err), "%s",
			 data && status == RPC_STATUS_ERROR ? (const char *)data : "cancelled");
	w->done = 1;
}

static void on_mnt(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct wait *w = priv;

	(void)rpc;
	w->status = status;
	if (status == RPC_STATUS_SUCCESS && data) {
		mountres3 *r = data;

		w->mntstat = r->fhs_status;
		if (r->fhs_status == MNT3_OK) {
			fhandle3 *h = &r->mountres3_u.mountinfo.fhandle;

			if (h->fhandle3_len <= NFS_FH_MAX) {
				w->fh.len = h->fhandle3_len;
				memcpy(w->fh.data, h->fhandle3_val, h->fhandle3_len);
			} else {
				w->mntstat = MNT3ERR_SERVERFAULT;
			}
		}
	} else {
		snprintf(w->err, sizeof(w->err), "%s",
			 data && status == RPC_STATUS_ERROR ? (const char *)data : "cancelled");
	}
	w->done = 1;
}

/* A connection to port (111: the port mapper) for one exchange. */
static struct rpc_context *connect_once(struct nfsmod *m, int port, int prog, int vers,
					int64_t deadline, char *why, size_t why_len)
{
	struct rpc_context *rpc = rpc_init_context();
	struct wait w = { 0 };
	int r;

	if (!rpc) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	r = start_connect(rpc, m->o.server, port, prog, vers, &w);
	if (r < 0) {
		snprintf(why, why_len, "%s", rpc_get_error(rpc));
		rpc_destroy_context(rpc);
		return NULL;
	}
	r = pump(rpc, &w.done, deadline);
	if (r < 0 || w.status != RPC_STATUS_SUCCESS) {
		snprintf(why, why_len, "%s", w.err[0] ? w.err :
			 r == -ETIMEDOUT ? "no answer" : rpc_get_error(rpc));
		rpc_destroy_context(rpc);
		return NULL;
	}
	return rpc;
}

static const char *mnt_error(int st)
{
	switch (st) {
	case MNT3ERR_PERM: return "not permitted (MNT3ERR_PERM)";
	case MNT3ERR_NOENT: return "no such export (MNT3ERR_NOENT)";
	case MNT3ERR_IO: return "I/O error (MNT3ERR_IO)";
	case MNT3ERR_ACCES: return "no such export, or access denied (MNT3ERR_ACCES)";
	case MNT3ERR_NOTDIR: return "not a directory (MNT3ERR_NOTDIR)";
	case MNT3ERR_INVAL: return "invalid (MNT3ERR_INVAL)";
	case MNT3ERR_NAMETOOLONG: return "name too long (MNT3ERR_NAMETOOLONG)";
	case MNT3ERR_NOTSUPP: return "not supported (MNT3ERR_NOTSUPP)";
	default: return "server fault";
	}
}

static int mnt_errno(int st)
{
	switch (st) {
	case MNT3ERR_PERM: return -EPERM;
	case MNT3ERR_NOENT: return -ENOENT;
	case MNT3ERR_ACCES: return -EACCES;
	case MNT3ERR_NOTDIR: return -ENOTDIR;
	case MNT3ERR_NAMETOOLONG: return -ENAMETOOLONG;
	default: return -EIO;
	}
}

/* The port of (prog, vers) over TCP from the server's port mapper. */
static int getport(struct nfsmod *m, int prog, int vers, int64_t deadline, char *why,
		   size_t why_len)
{
	char err[256];
	struct rpc_context *rpc = connect_once(m, PORTMAP_PORT, 0, 0, deadline, err, sizeof(err));
	struct wait w = { 0 };
	int r;

	if (!rpc) {
		snprintf(why, why_len, "cannot reach the port mapper of NFS server %s: %s",
			 m->o.server, err);
		return -EHOSTUNREACH;
	}
	r = rpc_pmap2_getport_async(rpc, prog, vers, IPPROTO_TCP, on_port, &w);
	if (r == 0)
		r = pump(rpc, &w.done, deadline);
	if (r == 0 && w.status != RPC_STATUS_SUCCESS)
		r = -EIO;
	if (r < 0) {
		snprintf(why, why_len, "the port mapper of NFS server %s did not answer: %s",
			 m->o.server, w.err[0] ? w.err : rpc_get_error(rpc));
		rpc_destroy_context(rpc);
		return r;
	}
	rpc_destroy_context(rpc);
	if (w.port == 0) {
		snprintf(why, why_len, "%s serves no %s version 3 over TCP (is an NFS server "
			 "running there?)", m->o.server, prog == NFS_PROGRAM ? "NFS" : "MOUNT");
		return -EPROTONOSUPPORT;
	}
	return (int)w.port;
}

/* MOUNT: the export's root handle. */
static int mount_export(struct nfsmod *m, const char *path, int64_t deadline, struct fh *fh,
			char *why, size_t why_len)
{
	char err[256];
	struct rpc_context *rpc;
	struct wait w = { 0 };
	int port, r;

	port = getport(m, MOUNT_PROGRAM, MOUNT_V3, deadline, why, why_len);
	if (port < 0)
		return port;
	rpc = connect_once(m, port, MOUNT_PROGRAM, MOUNT_V3, deadline, err, sizeof(err));
	if (!rpc) {
		snprintf(why, why_len, "cannot reach the MOUNT service of %s: %s",
			 m->o.server, err);
		return -EHOSTUNREACH;
	}
	r = rpc_mount3_mnt_async(rpc, on_mnt, (char *)path, &w);
	if (r == 0)
		r = pump(rpc, &w.done, deadline);
	if (r == 0 && w.status != RPC_STATUS_SUCCESS)
		r = -EIO;
	if (r < 0) {
		snprintf(why, why_len, "the MOUNT service of %s did not answer: %s",
			 m->o.server, w.err[0] ? w.err : rpc_get_error(rpc));
		rpc_destroy_context(rpc);
		return r;
	}
	rpc_destroy_context(rpc);
	if (w.mntstat != MNT3_OK) {
		snprintf(why, why_len, "NFS server %s refused to mount %s: %s", m->o.server, path,
			 mnt_error(w.mntstat));
		return mnt_errno(w.mntstat);
	}
	*fh = w.fh;
	return 0;
}

int nfs_connect_first(struct nfsmod *m, char *why, size_t why_len)
{
	/* init fails at once rather than after the whole retry budget: one
	   try, of at most timeo and at most 15 s */
	int64_t t = (int64_t)m->o.timeo_ds * 100000000, deadline;
	struct cred c;
	int r;

	if (t > 15000000000)
		t = 15000000000;
	deadline = now_ns() + t;
	cred_get(&c);
	m->init = true;
	r = first_steps(m, &c, deadline, why, why_len);
	m->init = false;
	return r;
}

static int root_attrs(struct nfsmod *m, struct cred *c, char *why, size_t why_len)
{
	struct call call;
	int r;

	memset(&call, 0, sizeof(call));
	call.proc = P_GETATTR;
	call.a.getattr.object.data.data_len = m->root.len;
	call.a.getattr.object.data.data_val = (char *)m->root.data;
	if ((r = nfs_call(m, c, &call)) < 0) {
		snprintf(why, why_len, "NFS server %s: GETATTR of %s failed: %s", m->o.server,
			 m->o.export, strerror(-r));
		return r;
	}
	if (call.obj.type != NF3DIR) {
		snprintf(why, why_len, "NFS server %s: %s is not a directory", m->o.server,
			 m->o.export);
		return -ENOTDIR;
	}
	m->root_fsid = call.obj.fsid;
	m->root_fileid = call.obj.fileid;
	if (!cache_attr(m, &m->root, &call.obj, false))
		return -ENOMEM;
	cache_name_set(m, "/", 1, cache_inode(m, m->root_fsid, m->root_fileid), NULL, 0);
	return 0;
}

/*
 * A first image whose mount was made before (lockdir's *.mnt): a
 * connection to the NFS port it names and a GETATTR of the root it names,
 * instead of the port mapper and MOUNT: the server is there and still
 * knows the export's root.  Any failure: -1, and the caller mounts from
 * the start (which says why, if it fails).
 */
int nfs_connect_known(struct nfsmod *m)
{
	struct cred c;
	char why[256];
	int64_t t = (int64_t)m->o.timeo_ds * 100000000;
	int r;

	cred_get(&c);
	if (t > 15000000000)
		t = 15000000000;
	m->init = true;
	r = connect_nfs(m, &m->conns[0], now_ns() + t, why, sizeof(why));
	if (r == 0)
		r = root_attrs(m, &c, why, sizeof(why));
	m->init = false;
	if (r < 0) {
		nfs_disconnect(m);
		cache_clear(&m->cache);
		return -1;
	}
	return 0;
}

static int first_steps(struct nfsmod *m, struct cred *cp, int64_t deadline, char *why,
		       size_t why_len)
{
	struct cred c = *cp;
	struct call call;
	char err[256];
	int r;

	r = getport(m, NFS_PROGRAM, NFS_V3, deadline, why, why_len);
	if (r < 0)
		return r;
	m->nfs_port = r;
	r = mount_export(m, m->o.export, deadline, &m->root, why, why_len);
	if (r < 0)
		return r;
	r = connect_nfs(m, &m->conns[0], deadline, err, sizeof(err));
	if (r < 0) {
		snprintf(why, why_len, "cannot connect to the NFS service of %s (port %d): %s",
			 m->o.server, m->nfs_port, err);
		return r;
	}
	/* the root's attributes, and the server's limits */
	memset(&call, 0, sizeof(call));
	call.proc = P_FSINFO;
	call.a.fsinfo.fsroot.data.data_len = m->root.len;
	call.a.fsinfo.fsroot.data.data_val = (char *)m->root.data;
	if ((r = nfs_call(m, &c, &call)) < 0) {
		snprintf(why, why_len, "NFS server %s: FSINFO of %s failed: %s", m->o.server,
			 m->o.export, strerror(-r));
		return r;
	}
	m->rtmax = call.info.fsinfo.rtmax;
	m->wtmax = call.info.fsinfo.wtmax;
	m->dtpref = call.info.fsinfo.dtpref;
	m->maxfilesize = call.info.fsinfo.maxfilesize;
	memset(&call, 0, sizeof(call));
	call.proc = P_PATHCONF;
	call.a.pathconf.object.data.data_len = m->root.len;
	call.a.pathconf.object.data.data_val = (char *)m->root.data;
	m->name_max = NFS_NAME_MAX;
	if (nfs_call(m, &c, &call) == 0 && call.info.pathconf.name_max)
		m->name_max = call.info.pathconf.name_max;
	return root_attrs(m, &c, why, why_len);
}

/* ---- what init learnt, for the images exec'd later ------------------------ */

/*
 * Every exec'd image of a tree runs init again, and a compiler driver
 * execs several programs per file: the port mapper, MOUNT, a connection,
 * FSINFO and PATHCONF each time would cost about a millisecond per exec.
 * So the first image writes down what they told (lockdir/SERVER-EXPORT.mnt)
 * and images exec'd later (DEFUSE_INHERITED) start from it and connect at
 * their first call.  Only the first image's init checks the server is
 * there: that is where a wrong export or a dead server must stop the run.
 */
struct mntinfo {
	uint32_t magic;
	uint32_t nfs_port;
	uint32_t rtmax, wtmax, dtpref, name_max;
	uint64_t maxfilesize, root_fsid, root_fileid;
	struct fh root;
	char server[256];
	char export[1024];
};

#define MNTINFO_MAGIC 0x6e667331	/* "nfs1" */

static int mntinfo_path(const struct nfsmod *m, char *buf, size_t size)
{
	uint64_t h = nfs_server_key(m);

	for (const char *p = m->o.export; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return snprintf(buf, size, "%s/%016llx.mnt", m->o.lockdir, (unsigned long long)h) <
			       (int)size ? 0 : -1;
}

void nfs_save_mount(struct nfsmod *m)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 64];
	struct mntinfo i;
	int fd;

	if (mntinfo_path(m, path, sizeof(path)) < 0)
		return;
	memset(&i, 0, sizeof(i));
	i.magic = MNTINFO_MAGIC;
	i.nfs_port = (uint32_t)m->nfs_port;
	i.rtmax = m->rtmax;
	i.wtmax = m->wtmax;
	i.dtpref = m->dtpref;
	i.name_max = m->name_max;
	i.maxfilesize = m->maxfilesize;
	i.root_fsid = m->root_fsid;
	i.root_fileid = m->root_fileid;
	i.root = m->root;
	snprintf(i.server, sizeof(i.server), "%s", m->o.server);
	snprintf(i.export, sizeof(i.export), "%s", m->o.export);
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i) || rename(tmp, path) < 0)
		unlink(tmp);
	close(fd);
}

int nfs_load_mount(struct nfsmod *m)
{
	char path[PATH_MAX + 32];
	struct mntinfo i;
	ssize_t n;
	int fd;

	if (mntinfo_path(m, path, sizeof(path)) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	n = read(fd, &i, sizeof(i));
	close(fd);
	if (n != (ssize_t)sizeof(i) || i.magic != MNTINFO_MAGIC || i.root.len > NFS_FH_MAX ||
	    strncmp(i.server, m->o.server, sizeof(i.server)) ||
	    strncmp(i.export, m->o.export, sizeof(i.export)) || !i.nfs_port)
		return -1;
	m->nfs_port = (int)i.nfs_port;
	m->rtmax = i.rtmax;
	m->wtmax = i.wtmax;
	m->dtpref = i.dtpref;
	m->name_max = i.name_max;
	m->maxfilesize = i.maxfilesize;
	m->root_fsid = i.root_fsid;
	m->root_fileid = i.root_fileid;
	m->root = i.root;
	return 0;
}
