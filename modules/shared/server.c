/*
 * defuse-shared-server: the one instance of a module that every process
 * of a `shared` mount calls (client.c, docs/fuse-compat.md "One shared
 * instance").  Started by the first client's init:
 *
 *   defuse-shared-server STATUS_FD NAME SELF MOUNTPOINT SPEC
 *
 * STATUS_FD: where to say how the start went, one message: "OK", "B" (the
 * name is taken: another server of the same mount runs or is starting;
 * connect to it) or "E reason" (the module cannot start).  NAME: the
 * abstract AF_UNIX name to serve.  SELF: libdefuse.so's path, where modules
 * are found by name as in process (core/module_find.c).  SPEC: the wrapped
 * module and its ARGS, as after "MOUNTPOINT=" in a mount line.
 *
 * The server is no captured process (its environment has no LD_PRELOAD):
 * the module's threads and system calls are its own, as in the FUSE bridge.
 * A thread per client connection; every call into the module is made under
 * one lock, so a module that is not thread-safe (fuse2fs) is safe too, and
 * nothing blocks under it (locks are this server's, locks.c, and never
 * wait).  It ends, running the module's destroy, once its last client
 * connection has closed: each client process holds one, and a forked child
 * keeps its parent's until its own is made, so the count never passes
 * through zero while the tree lives.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "core/module_find.h"
#include "proto.h"
#include "shared.h"

/* How long a server started for a client waits for its first connection. */
#define FIRST_WAIT_MS 30000
/* How long a client that exec'd has to come back (conn_main). */
#define EXEC_GRACE_S 1

static const struct defuse_ops *ops;
static void *priv;
static int readonly;
static int perms;	/* the module wants DEFUSE_CAP_PERMISSIONS */
static uint64_t opmask;

/* Every call into the module and every table below: one at a time. */
static pthread_mutex_t big = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t life = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t life_cv = PTHREAD_COND_INITIALIZER;
static int nconn;
static int ending;	/* the last client has gone: no new one is taken */
static int destroyed;	/* ... and the module's destroy is done */

/* The module's destroy, once, after the last call. */
static void finish(void)
{
	pthread_mutex_lock(&big);
	/* The module was told it runs in a process (DEFUSE_HOST_PROCESS),
	   which ends now: what an ending process calls, in its order. */
	if (ops->process_end)
		ops->process_end(priv);
	if (ops->destroy)
		ops->destroy(priv);
	pthread_mutex_unlock(&big);
	pthread_mutex_lock(&life);
	destroyed = 1;
	pthread_cond_broadcast(&life_cv);
	pthread_mutex_unlock(&life);
}

/* ---- open files: the server's ids for the module's handles ------------ */

/* An id is (generation << 32) | (slot + 1): an id of a released file never
   names the slot's next file. */
struct sfile {
	uint64_t fh;
	uint32_t gen;
	int refs;		/* client processes holding it (fork shares it) */
	int ino_known;
	uint64_t ino;
};

static struct sfile *files;
static uint32_t nfiles, capfiles;

static struct sfile *file_of(uint64_t id)
{
	uint32_t slot = (uint32_t)id;

	if (!slot || slot > nfiles || files[slot - 1].gen != (uint32_t)(id >> 32) ||
	    !files[slot - 1].refs)
		return NULL;
	return &files[slot - 1];
}

static int64_t file_new(uint64_t fh)
{
	uint32_t slot;

	for (slot = 0; slot < nfiles && files[slot].refs; slot++)
		;
	if (slot == nfiles) {
		if (nfiles == capfiles) {
			uint32_t n = capfiles ? capfiles * 2 : 256;
			struct sfile *p = realloc(files, n * sizeof(*p));

			if (!p)
				return -ENFILE;
			files = p;
			capfiles = n;
		}
		memset(&files[nfiles], 0, sizeof(files[0]));
		nfiles++;
	}
	files[slot].fh = fh;
	files[slot].refs = 1;
	files[slot].ino_known = 0;
	return (int64_t)(((uint64_t)files[slot].gen << 32) | (slot + 1));
}

static void file_unref(uint64_t id)
{
	struct sfile *f = file_of(id);

	if (!f || --f->refs)
		return;
	/* Gone from every process: its locks with it, then the module's
	   release, as the in-process host does at the last close. */
	sh_locks_fh_gone(id);
	if (ops->release)
		ops->release(priv, f->fh);
	f->gen++;
}

/* The file's lock key: its inode number, so two opens of a file meet. */
static uint64_t file_ino(uint64_t id, struct sfile *f)
{
	struct stat st;

	if (!f->ino_known) {
		f->ino = id | (1ULL << 63);	/* no fgetattr: locks per open */
		if (ops->fgetattr && ops->fgetattr(priv, f->fh, &st) == 0)
			f->ino = st.st_ino;
		f->ino_known = 1;
	}
	return f->ino;
}

/* ---- one client connection --------------------------------------------- */

/* A caller's identity: real, effective and file-system user and group,
   and supplementary groups. */
struct who {
	uint32_t uid[3], gid[3], ngroups;
	gid_t groups[SH_GROUPS_MAX];
};

/* What a client of another user may say it is: its real, effective,
   saved and file-system IDs and its groups when it connected. */
struct may {
	uint32_t uid[4], gid[4], ngroups;
	gid_t groups[SH_GROUPS_MAX];
};

struct conn {
	int fd;
	int trusted;		/* the server's user (or one that may become it):
				   its IDs are taken as it says them */
	struct may *may;	/* else, once it showed its tree's key: what it
				   may say it is; NULL before */
	int bye_fd;		/* closed when this connection is done (SH_BYE) */
	int pass_fd;		/* a kernel descriptor to send with the reply */
	pid_t pid;
	uint64_t *held;		/* ids this process holds, each once */
	size_t nheld, capheld;
	struct who as;		/* what this connection's thread runs as */
};

/* The server's own identity, and whether it may take its callers' (root). */
static struct who self;
static int switch_ids;

/*
 * Calls into the module are made as the caller, as in process: the
 * thread's IDs and groups are the caller's, so a file system that makes
 * files or checks access as its caller (passthroughs, fuse2fs with
 * default_permissions, fuse_get_context, access(2) by the real IDs) sees
 * who calls, not the server.  Per thread, by the raw system calls (libc's
 * set*id and setgroups change every thread of the process), and only when
 * they change.  The saved user stays 0, which is what lets the thread
 * become root again for the next caller: a process whose user IDs are
 * all nonzero loses its capabilities for good.  A server that is not
 * root serves only its own user (conn_main), whose IDs it has already.
 */
static void become(struct conn *c, const struct who *w)
{
	if (!switch_ids || (!memcmp(c->as.uid, w->uid, sizeof(w->uid)) &&
			    !memcmp(c->as.gid, w->gid, sizeof(w->gid)) &&
			    c->as.ngroups == w->ngroups &&
			    !memcmp(c->as.groups, w->groups, w->ngroups * sizeof(gid_t))))
		return;
	/* Root first (the saved user allows it), for the capabilities to
	   set the groups; the user last, which drops them. */
	syscall(SYS_setresuid, 0, 0, 0);
	syscall(SYS_setgroups, (size_t)w->ngroups, w->groups);
	syscall(SYS_setresgid, w->gid[0], w->gid[1], -1);
	syscall(SYS_setfsgid, w->gid[2]);
	syscall(SYS_setresuid, w->uid[0], w->uid[1], 0);
	syscall(SYS_setfsuid, w->uid[2]);
	c->as = *w;
}

/*
 * A server started by root serves the processes of another user in the
 * trees it serves (a program exec'd by su or setpriv), as one kernel mount
 * serves every user: those must show their tree's key (DEFUSE_SESSION,
 * which `defuse run` makes and every image of the tree inherits) in their
 * HELLO, and the key must be one that a process of the server's own user
 * showed.  They are then called as who they are, never as more: each
 * request's IDs must be among those they had when they connected
 * (/proc/PID/status), else EPERM.  A process of another user that is in
 * no such tree starts a server of its own, as before.  Under `big`.
 */
#define KEYS_MAX 64
static unsigned char keys[KEYS_MAX][SH_KEY_LEN];
static unsigned nkeys;

static int key_known(const void *key)
{
	for (unsigned i = 0; i < nkeys && i < KEYS_MAX; i++)
		if (!memcmp(keys[i], key, SH_KEY_LEN))
			return 1;
	return 0;
}

/* A key a process of the server's own user showed (the oldest gives way
   past KEYS_MAX trees). */
static void key_note(const void *key)
{
	if (!key_known(key))
		memcpy(keys[nkeys++ % KEYS_MAX], key, SH_KEY_LEN);
}

/* Up to max numbers after "Name:" in the status file text st, into v;
   how many, or -1 when there is no such line. */
static int status_ids(const char *st, const char *name, uint32_t *v, int max)
{
	const char *p = strstr(st, name);
	int n = 0;

	if (!p)
		return -1;
	for (p += strlen(name); n < max;) {
		char *end;
		unsigned long x;

		while (*p == ' ' || *p == '\t')
			p++;
		x = strtoul(p, &end, 10);
		if (end == p)
			break;
		v[n++] = (uint32_t)x;
		p = end;
	}
	return n;
}

/* What process pid is now: m; 0, or -1. */
static int may_of(pid_t pid, struct may *m)
{
	char path[64], *st = malloc(65536);
	int fd, ok = 0, ng;
	ssize_t n = 0, r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (st && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		while (n < 65535 && (r = read(fd, st + n, 65535 - n)) > 0)
			n += r;
		close(fd);
		st[n] = 0;
		ng = status_ids(st, "\nGroups:", (uint32_t *)m->groups, SH_GROUPS_MAX);
		ok = status_ids(st, "\nUid:", m->uid, 4) == 4 &&
		     status_ids(st, "\nGid:", m->gid, 4) == 4 && ng >= 0;
		m->ngroups = ng > 0 ? (uint32_t)ng : 0;
	}
	free(st);
	return ok ? 0 : -1;
}

static int has_id(uint32_t id, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return 1;
	return 0;
}

/* May the client of c say it is w? */
static int may_claim(const struct conn *c, const struct who *w)
{
	const struct may *m = c->may;

	for (int i = 0; i < 3; i++)
		if (!has_id(w->uid[i], m->uid, 4) ||
		    (!has_id(w->gid[i], m->gid, 4) &&
		     !has_id(w->gid[i], (const uint32_t *)m->groups, m->ngroups)))
			return 0;
	for (uint32_t i = 0; i < w->ngroups; i++)
		if (!has_id(w->groups[i], m->gid, 4) &&
		    !has_id(w->groups[i], (const uint32_t *)m->groups, m->ngroups))
			return 0;
	return 1;
}

/*
 * The HELLO (key, keylen bytes) of c's client: a key to note, or, from a
 * client of another user, the key that admits it (and it is then called
 * as it is until its requests say more).  0, or -1: not admitted.
 */
static int greet(struct conn *c, const void *key, size_t keylen)
{
	struct who now;
	int r = 0;

	pthread_mutex_lock(&big);
	if (c->trusted || c->may) {
		if (c->trusted && keylen == SH_KEY_LEN)
			key_note(key);
	} else if (keylen != SH_KEY_LEN || !key_known(key)) {
		r = -1;
	}
	pthread_mutex_unlock(&big);
	if (r < 0 || c->trusted || c->may)
		return r;
	if (!(c->may = malloc(sizeof(*c->may))) || may_of(c->pid, c->may) < 0)
		return -1;
	if (has_id(0, c->may->uid, 4)) {
		c->trusted = 1;	/* it may become root: as root's own */
		return 0;
	}
	memcpy(now.uid, (uint32_t []){ c->may->uid[0], c->may->uid[1], c->may->uid[3] },
	       sizeof(now.uid));
	memcpy(now.gid, (uint32_t []){ c->may->gid[0], c->may->gid[1], c->may->gid[3] },
	       sizeof(now.gid));
	now.ngroups = c->may->ngroups;
	memcpy(now.groups, c->may->groups, now.ngroups * sizeof(gid_t));
	become(c, &now);
	return 0;
}

static int held_add(struct conn *c, uint64_t id)
{
	if (c->nheld == c->capheld) {
		size_t n = c->capheld ? c->capheld * 2 : 64;
		uint64_t *p = realloc(c->held, n * sizeof(*p));

		if (!p)
			return -ENFILE;
		c->held = p;
		c->capheld = n;
	}
	c->held[c->nheld++] = id;
	return 0;
}

static int held_del(struct conn *c, uint64_t id)
{
	for (size_t i = 0; i < c->nheld; i++)
		if (c->held[i] == id) {
			c->held[i] = c->held[--c->nheld];
			return 1;
		}
	return 0;
}

struct fillctx {
	char *out;
	size_t n, max;
	int full;
};

static int fill(void *ctx, const char *name, uint64_t ino, unsigned char type, int64_t next)
{
	struct fillctx *fc = ctx;
	size_t len = strlen(name), need = (sizeof(struct sh_dirent) + len + 7) & ~(size_t)7;
	struct sh_dirent de;

	if (fc->n + need > fc->max || len > 0xffff) {
		fc->full = 1;
		return 1;
	}
	memset(&de, 0, sizeof(de));
	de.ino = ino;
	de.next = next;
	de.namelen = (uint16_t)len;
	de.type = type;
	memcpy(fc->out + fc->n, &de, sizeof(de));
	memcpy(fc->out + fc->n + sizeof(de), name, len);
	fc->n += need;
	return 0;
}

static int opened(struct conn *c, int r, struct defuse_open *o, struct sh_rep *rp)
{
	int64_t id;

	if (r < 0)
		return r;
	id = file_new(o->fh);
	if (id < 0 || held_add(c, (uint64_t)id) < 0) {
		if (id >= 0)
			file_unref((uint64_t)id);
		else if (ops->release)
			ops->release(priv, o->fh);
		if (o->kernel_fd >= 0)
			close(o->kernel_fd);
		return -ENFILE;
	}
	rp->v[0] = id;
	/* A kernel descriptor (a FIFO, a device, passthrough's files): it
	   goes to the client with the reply (SCM_RIGHTS), and the host
	   there releases the id at once, as module.h says. */
	if (o->kernel_fd >= 0) {
		c->pass_fd = o->kernel_fd;
		rp->v[1] = 1;
	}
	return 0;
}

#define NEED(member) do { if (!ops->member) return -ENOSYS; } while (0)
#define FILE_OR_EBADF() do { if (!(f = file_of(q->fh))) return -EBADF; } while (0)
#define CAP(n) ((size_t)(n) > SH_CHUNK ? SH_CHUNK : (size_t)(n))

/* Serves one request under the big lock; the reply's payload goes to out
   (*outn bytes).  Returns the operation's result. */
static int64_t serve(struct conn *c, const struct sh_req *q, const char *s1, const char *s2,
		     const char *d, struct sh_rep *rp, char *out, size_t *outn)
{
	struct defuse_open o = { 0, -1 };
	struct sfile *f = NULL;
	/* Times come at any offset of the request's data: copied, aligned. */
	struct timespec ts[2];
	int64_t r;

	switch (q->op) {
	case SH_HELLO:
		rp->v[0] = (int64_t)opmask;
		rp->v[1] = readonly;
		rp->v[2] = perms;
		return 0;
	case SH_ADOPT:
		for (size_t i = 0; i + 8 <= q->dn; i += 8) {
			uint64_t id;

			memcpy(&id, d + i, 8);
			if ((f = file_of(id)) && held_add(c, id) == 0)
				f->refs++;
		}
		return 0;
	case SH_GETATTR:
		NEED(getattr);
		*outn = sizeof(struct stat);
		return ops->getattr(priv, s1, (struct stat *)out, (int)q->a[0]);
	case SH_STATX:
		NEED(statx);
		*outn = sizeof(struct statx);
		return ops->statx(priv, s1, (int)q->a[0], (unsigned)q->a[1], (struct statx *)out);
	case SH_ACCESS:
		NEED(access);
		return ops->access(priv, s1, (int)q->a[0], (int)q->a[1]);
	case SH_READLINK:
		NEED(readlink);
		r = ops->readlink(priv, s1, out, CAP(q->a[0]));
		*outn = r > 0 ? (size_t)r : 0;
		return r;
	case SH_STATFS:
		NEED(statfs);
		*outn = sizeof(struct statfs);
		return ops->statfs(priv, s1, (struct statfs *)out);
	case SH_MKNOD:
		NEED(mknod);
		return ops->mknod(priv, s1, (mode_t)q->a[0], (dev_t)q->a[1]);
	case SH_MKDIR:
		NEED(mkdir);
		return ops->mkdir(priv, s1, (mode_t)q->a[0]);
	case SH_UNLINK:
		NEED(unlink);
		return ops->unlink(priv, s1);
	case SH_RMDIR:
		NEED(rmdir);
		return ops->rmdir(priv, s1);
	case SH_SYMLINK:
		NEED(symlink);
		return ops->symlink(priv, s1, s2);
	case SH_RENAME:
		NEED(rename);
		return ops->rename(priv, s1, s2, (unsigned)q->a[0]);
	case SH_LINK:
		NEED(link);
		return ops->link(priv, s1, s2);
	case SH_CHMOD:
		NEED(chmod);
		return ops->chmod(priv, s1, (mode_t)q->a[0], (int)q->a[1]);
	case SH_CHOWN:
		NEED(chown);
		return ops->chown(priv, s1, (uid_t)q->a[0], (gid_t)q->a[1], (int)q->a[2]);
	case SH_TRUNCATE:
		NEED(truncate);
		return ops->truncate(priv, s1, (off_t)q->a[0]);
	case SH_UTIMENS:
		NEED(utimens);
		if (q->dn && q->dn != 2 * sizeof(struct timespec))
			return -EINVAL;
		if (q->dn)
			memcpy(ts, d, sizeof(ts));
		return ops->utimens(priv, s1, q->dn ? ts : NULL, (int)q->a[0]);
	case SH_GETXATTR:
		NEED(getxattr);
		r = ops->getxattr(priv, s1, s2, q->a[0] ? out : NULL, CAP(q->a[0]), (int)q->a[1]);
		*outn = r > 0 && q->a[0] ? (size_t)r : 0;
		return r;
	case SH_SETXATTR:
		NEED(setxattr);
		return ops->setxattr(priv, s1, s2, d, q->dn, (int)q->a[0], (int)q->a[1]);
	case SH_LISTXATTR:
		NEED(listxattr);
		r = ops->listxattr(priv, s1, q->a[0] ? out : NULL, CAP(q->a[0]), (int)q->a[1]);
		*outn = r > 0 && q->a[0] ? (size_t)r : 0;
		return r;
	case SH_REMOVEXATTR:
		NEED(removexattr);
		return ops->removexattr(priv, s1, s2, (int)q->a[0]);
	case SH_OPEN:
		NEED(open);
		return opened(c, ops->open(priv, s1, (int)q->a[0], (mode_t)q->a[1], &o), &o, rp);
	case SH_OPEN_HANDLE:
		NEED(open_handle);
		return opened(c, ops->open_handle(priv, d, q->dn, -1, (int)q->a[0], &o), &o, rp);
	case SH_RELEASE:
		if (held_del(c, q->fh))
			file_unref(q->fh);
		return 0;
	}
	/* The rest work on an open file. */
	FILE_OR_EBADF();
	switch (q->op) {
	case SH_FLUSH:
		NEED(flush);
		return ops->flush(priv, f->fh);
	case SH_READ:
		NEED(read);
		r = ops->read(priv, f->fh, out, CAP(q->a[0]), (off_t)q->a[1]);
		*outn = r > 0 ? (size_t)r : 0;
		return r;
	case SH_WRITE:
		NEED(write);
		return ops->write(priv, f->fh, d, q->dn, (off_t)q->a[0]);
	case SH_APPEND: {
		off_t end = 0;

		if (ops->append) {
			r = ops->append(priv, f->fh, d, q->dn, &end);
		} else {
			/* At the size, under the big lock: atomic among all
			   clients, which the host's own fallback (one lock per
			   open file description) is not across processes. */
			struct stat st;

			NEED(write);
			NEED(fgetattr);
			r = ops->fgetattr(priv, f->fh, &st);
			if (r < 0)
				return r;
			r = ops->write(priv, f->fh, d, q->dn, st.st_size);
			end = st.st_size + (r > 0 ? r : 0);
		}
		rp->v[0] = end;
		return r;
	}
	case SH_FGETATTR:
		NEED(fgetattr);
		*outn = sizeof(struct stat);
		return ops->fgetattr(priv, f->fh, (struct stat *)out);
	case SH_FTRUNCATE:
		NEED(ftruncate);
		return ops->ftruncate(priv, f->fh, (off_t)q->a[0]);
	case SH_FCHMOD:
		NEED(fchmod);
		return ops->fchmod(priv, f->fh, (mode_t)q->a[0]);
	case SH_FCHOWN:
		NEED(fchown);
		return ops->fchown(priv, f->fh, (uid_t)q->a[0], (gid_t)q->a[1]);
	case SH_FUTIMENS:
		NEED(futimens);
		if (q->dn && q->dn != 2 * sizeof(struct timespec))
			return -EINVAL;
		if (q->dn)
			memcpy(ts, d, sizeof(ts));
		return ops->futimens(priv, f->fh, q->dn ? ts : NULL);
	case SH_FLINK:
		NEED(flink);
		return ops->flink(priv, f->fh, s1);
	case SH_FSYNC:
		NEED(fsync);
		return ops->fsync(priv, f->fh, (int)q->a[0]);
	case SH_FALLOCATE:
		NEED(fallocate);
		return ops->fallocate(priv, f->fh, (int)q->a[0], (off_t)q->a[1], (off_t)q->a[2]);
	case SH_IOCTL:
		/* The argument's bytes (module.h: at most _IOC_SIZE's 16 KiB)
		   in, and back out after a success. */
		if (!ops->ioctl)
			return -ENOTTY;
		if (q->dn > SH_CHUNK)
			return -EINVAL;
		memcpy(out, d, q->dn);
		r = ops->ioctl(priv, f->fh, (unsigned int)q->a[0], (unsigned long)q->a[1], out,
			       q->dn);
		*outn = r >= 0 ? q->dn : 0;
		return r;
	case SH_SEEK_DATA:
		NEED(seek_data);
		return ops->seek_data(priv, f->fh, (off_t)q->a[0], (int)q->a[1]);
	case SH_READDIR: {
		struct fillctx fc = { out, 0, SH_CHUNK, 0 };

		NEED(readdir);
		r = ops->readdir(priv, f->fh, q->a[0], fill, &fc);
		*outn = fc.n;
		rp->v[0] = fc.full;
		return r;
	}
	case SH_GETLK:
		if (q->dn != sizeof(struct flock))
			return -EINVAL;
		memcpy(out, d, sizeof(struct flock));
		*outn = sizeof(struct flock);
		return sh_getlk(file_ino(q->fh, f), (uint64_t)q->a[0], (struct flock *)out);
	case SH_SETLK:
		if (q->dn != sizeof(struct flock))
			return -EINVAL;
		memcpy(out, d, sizeof(struct flock));
		return sh_setlk(file_ino(q->fh, f), q->fh, (uint64_t)q->a[0],
				(const struct flock *)out);
	case SH_FLOCK:
		return sh_flock(file_ino(q->fh, f), q->fh, (uint64_t)q->a[0], (int)q->a[1]);
	case SH_FILE_HANDLE:
		NEED(file_handle);
		r = ops->file_handle(priv, f->fh, out, DEFUSE_HANDLE_MAX);
		*outn = r > 0 ? (size_t)r : 0;
		return r;
	case SH_FH_PATH:
		NEED(fh_path);
		r = ops->fh_path(priv, f->fh, out, PATH_MAX);
		*outn = r == 0 ? strnlen(out, PATH_MAX - 1) + 1 : 0;
		return r;
	}
	return -ENOSYS;
}

/* The biggest request: header, two paths, a chunk of data, the groups. */
#define REQ_MAX (sizeof(struct sh_req) + 2 * PATH_MAX + SH_CHUNK + \
		 SH_GROUPS_MAX * sizeof(gid_t))
#define OUT_MAX (SH_CHUNK + PATH_MAX)

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char *buf = malloc(REQ_MAX), *out = malloc(OUT_MAX);
	struct who *who = malloc(sizeof(*who));
	int last;

	c->as = self;	/* a new thread has the server's IDs */
	/* Only the server's own user may call it (the abstract name is
	   visible to every user of the network namespace), or, when it is
	   root, another user's process of a tree it serves (greet). */
	if (buf && out && who && getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    (cred.uid == getuid() || switch_ids)) {
		c->pid = cred.pid;
		c->trusted = cred.uid == getuid();
		for (;;) {
			char cbuf[CMSG_SPACE(sizeof(int))];
			struct iovec riov = { buf, REQ_MAX };
			struct msghdr rmh = { .msg_iov = &riov, .msg_iovlen = 1,
					      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
			ssize_t n = sh_recvmsg(c->fd, &rmh, MSG_CMSG_CLOEXEC);
			struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&rmh) : NULL;
			int passed = -1;
			struct sh_req q;
			struct sh_rep rp;
			const char *s1, *s2, *d;
			size_t outn = 0;
			struct iovec iov[2];
			struct msghdr mh;

			if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&passed, CMSG_DATA(cm), sizeof(int));
			if (n < (ssize_t)sizeof(q)) {
				if (passed >= 0)
					close(passed);
				break;
			}
			memcpy(&q, buf, sizeof(q));
			if (q.op == SH_BYE || passed >= 0) {
				/* Kept until the connection is gone (below). */
				if (q.op == SH_BYE && passed >= 0) {
					if (c->bye_fd >= 0)
						close(c->bye_fd);
					c->bye_fd = passed;
				} else if (passed >= 0) {
					close(passed);
				}
				continue;
			}
			if (q.ngroups > SH_GROUPS_MAX ||
			    (size_t)n != sizeof(q) + (size_t)q.n1 + q.n2 + q.dn +
					 q.ngroups * sizeof(gid_t) ||
			    (q.n1 && buf[sizeof(q) + q.n1 - 1]) ||
			    (q.n2 && buf[sizeof(q) + q.n1 + q.n2 - 1]))
				break;	/* not our client */
			s1 = q.n1 ? buf + sizeof(q) : "";
			s2 = q.n2 ? buf + sizeof(q) + q.n1 : "";
			d = buf + sizeof(q) + q.n1 + q.n2;
			if ((q.op == SH_HELLO && greet(c, d, q.dn) < 0) || (!c->trusted && !c->may))
				break;	/* another user's, without its tree's key */
			memset(&rp, 0, sizeof(rp));
			if (q.creds) {
				memcpy(who->uid, q.uid, sizeof(who->uid));
				memcpy(who->gid, q.gid, sizeof(who->gid));
				who->ngroups = q.ngroups;
				memcpy(who->groups, d + q.dn, q.ngroups * sizeof(gid_t));
				if (!c->trusted && !may_claim(c, who))
					rp.ret = -EPERM;
				else
					become(c, who);
			}
			if (rp.ret == 0) {
				pthread_mutex_lock(&big);
				rp.ret = serve(c, &q, s1, s2, d, &rp, out, &outn);
				pthread_mutex_unlock(&big);
			}
			if (rp.ret < 0 && q.op != SH_READLINK)
				outn = 0;
			rp.n = (uint32_t)outn;
			iov[0] = (struct iovec){ &rp, sizeof(rp) };
			iov[1] = (struct iovec){ out, outn };
			memset(&mh, 0, sizeof(mh));
			mh.msg_iov = iov;
			mh.msg_iovlen = 2;
			if (c->pass_fd >= 0)
				sh_pass_fd(&mh, cbuf, c->pass_fd);
			n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
			if (c->pass_fd >= 0) {
				close(c->pass_fd);	/* the client has its own now */
				c->pass_fd = -1;
			}
			if (n < 0)
				break;
		}
	}
	/* The process is gone (or exec'd, or was killed): what it held goes,
	   as the kernel closes a dead process's files and drops its locks. */
	pthread_mutex_lock(&big);
	for (size_t i = 0; i < c->nheld; i++)
		file_unref(c->held[i]);
	if (c->pid)
		sh_locks_pid_gone(c->pid);
	pthread_mutex_unlock(&big);
	/* The last client: the module's destroy runs before its connection
	   closes, so that a process waiting for the close at its exit
	   (client.c, leave) finds the file system written back. */
	pthread_mutex_lock(&life);
	if (!--nconn && c->bye_fd < 0 && c->pid && !sh_pid_gone(c->pid)) {
		/* Its process lives on and said no goodbye: it exec'd (the
		   connection is close-on-exec), and the new image connects
		   again in a moment.  Wait for it rather than end and start
		   the module afresh for every exec of a chain (sh -c 'exec
		   ...').  A killed process may still look alive here (its
		   files close before it is a zombie): it costs the wait. */
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += EXEC_GRACE_S;
		while (!nconn && pthread_cond_timedwait(&life_cv, &life, &until) != ETIMEDOUT)
			;
	}
	last = nconn == 0;
	if (last)
		ending = 1;
	pthread_mutex_unlock(&life);
	if (last) {
		become(c, &self);	/* destroy as the server, not a caller */
		finish();
	}
	close(c->fd);
	if (c->bye_fd >= 0)
		close(c->bye_fd);	/* the leaving process goes on */
	free(c->held);
	free(c->may);
	free(c);
	free(buf);
	free(out);
	free(who);
	return NULL;
}

/* ---- start and end ------------------------------------------------------ */

static int status_fd = -1;

static void status(const char *what, const char *why)
{
	char msg[1024];
	int n;

	if (status_fd < 0)
		return;
	n = snprintf(msg, sizeof(msg), "%s%s%s", what, why ? " " : "", why ? why : "");
	if (n > (int)sizeof(msg) - 1)
		n = sizeof(msg) - 1;
	if (write(status_fd, msg, (size_t)n) < 0)
		(void)0;	/* the client is gone: it will not connect either */
	close(status_fd);
	status_fd = -1;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	struct defuse_conn conn;
	const struct defuse_module *mod;
	char why[512] = "", *spec, *colon, *mounts;
	int lfd, had = 0, nullfd, r;
	long start;
	pid_t pid;

	if (argc != 6) {
		fprintf(stderr, "usage: defuse-shared-server STATUS_FD NAME SELF MOUNTPOINT SPEC\n"
			"(started by the shared module, docs/fuse-compat.md)\n");
		return 2;
	}
	status_fd = atoi(argv[1]);
	fcntl(status_fd, F_SETFD, FD_CLOEXEC);
	/* Not a child of the program: a shell's `wait` must not wait for the
	   server, and the program's process group's signals are not ours. */
	pid = fork();
	if (pid < 0) {
		status("E", "cannot fork the shared server");
		return 1;
	}
	if (pid > 0)
		_exit(0);
	setsid();
	{
		uid_t su;
		gid_t sg;

		getresuid(&self.uid[0], &self.uid[1], &su);
		getresgid(&self.gid[0], &self.gid[1], &sg);
		self.uid[2] = self.uid[1];
		self.gid[2] = self.gid[1];
		r = getgroups(SH_GROUPS_MAX, self.groups);
		self.ngroups = r > 0 ? (uint32_t)r : 0;
		/* all three 0: every caller's IDs can be taken and left */
		switch_ids = !self.uid[0] && !self.uid[1] && !su;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	nullfd = open("/dev/null", O_RDWR);
	if (nullfd >= 0) {
		dup2(nullfd, 0);
		dup2(nullfd, 1);
		if (nullfd > 2)
			close(nullfd);
	}

	/* The name first: of two servers started at once for one mount, one
	   gets it and the other says "B" and ends, before either starts the
	   module (two instances of fuse2fs on one image is what this is
	   for avoiding). */
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "%s", argv[2]);
	if (lfd < 0 ||
	    bind(lfd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(argv[2]))) < 0) {
		if (errno == EADDRINUSE) {
			status("B", NULL);
			return 0;
		}
		snprintf(why, sizeof(why), "shared server: socket: %s", strerror(errno));
		status("E", why);
		return 1;
	}
	listen(lfd, 128);

	/* The wrapped module finds its mount point in DEFUSE_MOUNTS, as in
	   process (the fuse module does). */
	spec = argv[5];
	if (asprintf(&mounts, "%s=%s", argv[4], spec) < 0) {
		status("E", "out of memory");
		return 1;
	}
	r = setenv("DEFUSE_MOUNTS", mounts, 1);	/* a copy */
	free(mounts);
	if (r < 0) {
		status("E", "out of memory");
		return 1;
	}
	colon = strchr(spec, ':');
	if (colon)
		*colon = 0;
	mod = module_find(spec, argv[3], why, sizeof(why));
	if (!mod) {
		status("E", why);
		return 1;
	}
	ops = mod->ops;
	memset(&conn, 0, sizeof(conn));
	conn.host = DEFUSE_HOST_PROCESS;
	/* Kernel descriptors go to the clients with the reply to open; the
	   clients' hosts check permissions of paths (their walks). */
	conn.capable = DEFUSE_CAP_READONLY | DEFUSE_CAP_KERNEL_FD | DEFUSE_CAP_PERMISSIONS;
	conn.want = (mod->flags & DEFUSE_MODULE_READONLY) ? DEFUSE_CAP_READONLY : 0;
	why[0] = 0;
	if (ops->init) {
		r = ops->init(colon ? colon + 1 : "", &conn, &priv, why, sizeof(why));

		if (r != 0) {
			char msg[600];

			snprintf(msg, sizeof(msg), "%s", why[0] ? why : strerror(r < 0 ? -r : EINVAL));
			status("E", msg);
			return 1;
		}
	}
	readonly = (conn.want & DEFUSE_CAP_READONLY) != 0;
	perms = (conn.want & DEFUSE_CAP_PERMISSIONS) != 0;
	/* The host applied each caller's umask already (module.h, "Modes"):
	   the module's own creating calls here must not apply ours too. */
	umask(0);
	for (size_t i = 0; i < sizeof(struct defuse_ops) / sizeof(void (*)(void)); i++) {
		void (*fn)(void);

		memcpy(&fn, (const char *)ops + i * sizeof(fn), sizeof(fn));
		if (fn)
			opmask |= 1ULL << i;
	}
	status("OK", NULL);

	start = now_ms();
	for (;;) {
		struct pollfd p = { lfd, POLLIN, 0 };
		int n, live;

		pthread_mutex_lock(&life);
		live = ending;
		pthread_mutex_unlock(&life);
		if (live)
			break;
		if (!had && now_ms() - start > FIRST_WAIT_MS) {
			pthread_mutex_lock(&life);
			live = ending = !nconn;
			pthread_mutex_unlock(&life);
			if (live) {
				finish();
				break;
			}
		}
		n = poll(&p, 1, 100);
		if (n == 1) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			struct conn *c;
			pthread_t t;
			pthread_attr_t at;

			if (fd < 0)
				continue;
			c = calloc(1, sizeof(*c));
			if (!c) {
				close(fd);
				continue;
			}
			c->fd = fd;
			c->bye_fd = -1;
			c->pass_fd = -1;
			pthread_mutex_lock(&life);
			if (ending) {
				/* Too late: it retries, and starts a new server
				   once this one is gone. */
				pthread_mutex_unlock(&life);
				close(fd);
				free(c);
				continue;
			}
			nconn++;
			pthread_cond_broadcast(&life_cv);
			pthread_mutex_unlock(&life);
			had = 1;
			pthread_attr_init(&at);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &at, conn_main, c)) {
				close(fd);
				free(c);
				pthread_mutex_lock(&life);
				nconn--;
				pthread_mutex_unlock(&life);
			}
			pthread_attr_destroy(&at);
		}
	}
	/* The name stays bound until destroy is done: a client coming now
	   finds it taken, retries, and starts a new server only once this
	   instance has written everything back. */
	pthread_mutex_lock(&life);
	while (!destroyed)
		pthread_cond_wait(&life_cv, &life);
	pthread_mutex_unlock(&life);
	close(lfd);
	return 0;
}
