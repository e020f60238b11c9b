/*
 * contract: a test module that writes down what its host asks of it, so
 * that api_test.py can check the life cycle and the mode and lock
 * contracts of module.h against both hosts, with the same program:
 *
 *   init host=N       (1 in process, 2 through FUSE), once per image
 *   destroy           module.h: at exit(3), at unmount
 *   mkdir NAME MODE   the mode as given: the caller's umask applied
 *   mknod NAME MODE
 *   create NAME MODE  open with O_CREAT of a new name
 *   open NAME, flush NAME, release NAME
 *
 * ARGS: the log file's path.  A flat file system: the root, "/f" (an empty
 * file), and what is created.  Locks are kept here (getlk, setlk, flock,
 * no lock_fd), whole-file only: enough for the owner rules of module.h.
 * Not for anything but tests.
 */
#include <defuse/module.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define NODES 16
#define LOCKS 32

struct node {
	char name[64];		/* "/f" */
	mode_t mode;
};

struct lock {
	int used, node, flock;
	uint64_t owner;
	short type;		/* F_RDLCK, F_WRLCK */
	pid_t pid;
};

static struct {
	int log;
	pthread_mutex_t mu;
	struct node nodes[NODES];
	struct lock locks[LOCKS];
} c = { .log = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

static void say(const char *fmt, const char *name, unsigned mode)
{
	char line[160];
	int n = snprintf(line, sizeof(line), fmt, name, mode);

	if (c.log >= 0 && n > 0 && write(c.log, line, (size_t)n) < 0)
		return;
}

static int find(const char *path)
{
	for (int i = 0; i < NODES; i++)
		if (c.nodes[i].name[0] && !strcmp(c.nodes[i].name, path))
			return i;
	return -ENOENT;
}

static int add(const char *path, mode_t mode)
{
	if (strlen(path) >= sizeof(c.nodes[0].name) || strchr(path + 1, '/'))
		return -ENOENT;
	for (int i = 0; i < NODES; i++)
		if (!c.nodes[i].name[0]) {
			strcpy(c.nodes[i].name, path);
			c.nodes[i].mode = mode;
			return i;
		}
	return -ENOSPC;
}

static int k_init(const char *args, struct defuse_conn *conn, void **priv, char *why,
		  size_t why_len)
{
	char line[32];

	*priv = NULL;
	c.log = open(args, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (c.log < 0) {
		snprintf(why, why_len, "contract: log %s: %s", args, strerror(errno));
		return -errno;
	}
	if (defuse_keep_fd) {
		int kept = defuse_keep_fd(c.log);

		if (kept >= 0)
			c.log = kept;
	}
	add("/f", S_IFREG | 0644);
	snprintf(line, sizeof(line), "init host=%u\n", conn->host);
	say("%s", line, 0);
	return 0;
}

static void k_destroy(void *priv)
{
	(void)priv;
	say("destroy\n", "", 0);
}

static int k_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	int i;

	(void)priv, (void)flags;
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_ino = 1;
		return 0;
	}
	pthread_mutex_lock(&c.mu);
	i = find(path);
	if (i >= 0) {
		st->st_mode = c.nodes[i].mode;
		st->st_ino = (ino_t)i + 2;
	}
	pthread_mutex_unlock(&c.mu);
	return i < 0 ? i : 0;
}

static int make(const char *what, const char *path, mode_t mode)
{
	char fmt[32];
	int r;

	pthread_mutex_lock(&c.mu);
	r = find(path) >= 0 ? -EEXIST : add(path, mode);
	pthread_mutex_unlock(&c.mu);
	if (r < 0)
		return r;
	snprintf(fmt, sizeof(fmt), "%s %%s %%04o\n", what);
	say(fmt, path, mode & 07777);
	return 0;
}

static int k_mkdir(void *priv, const char *path, mode_t mode)
{
	(void)priv;
	return make("mkdir", path, S_IFDIR | mode);
}

static int k_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	(void)priv, (void)dev;
	return make("mknod", path, mode);
}

/* fh: the node's index + 1; the root's is 0. */
static int k_open(void *priv, const char *path, int flags, mode_t mode,
		  struct defuse_open *out)
{
	int i;

	(void)priv;
	out->kernel_fd = -1;
	out->fh = 0;
	if (!strcmp(path, "/"))
		return 0;
	pthread_mutex_lock(&c.mu);
	i = find(path);
	pthread_mutex_unlock(&c.mu);
	if (i < 0 && (flags & O_CREAT)) {
		int r = make("create", path, S_IFREG | mode);

		if (r < 0)
			return r;
		i = find(path);
	} else if (i < 0) {
		return i;
	} else if ((flags & O_CREAT) && (flags & O_EXCL)) {
		return -EEXIST;
	} else {
		say("open %s\n", path, 0);
	}
	out->fh = (uint64_t)i + 1;
	return 0;
}

static const char *name_of(uint64_t fh)
{
	return fh ? c.nodes[fh - 1].name : "/";
}

static int k_flush(void *priv, uint64_t fh)
{
	(void)priv;
	if (fh)
		say("flush %s\n", name_of(fh), 0);
	return 0;
}

static void k_release(void *priv, uint64_t fh)
{
	(void)priv;
	if (fh)
		say("release %s\n", name_of(fh), 0);
}

static ssize_t k_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	(void)priv, (void)fh, (void)buf, (void)size, (void)off;
	return 0;
}

static ssize_t k_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	(void)priv, (void)fh, (void)buf, (void)off;
	return (ssize_t)size;
}

static int k_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	(void)priv;
	if (fh)
		return -ENOTDIR;
	if (pos == 0 && fill(ctx, ".", 1, DT_DIR, 1))
		return 0;
	if (pos <= 1 && fill(ctx, "..", 1, DT_DIR, 2))
		return 0;
	for (int64_t i = pos < 2 ? 0 : pos - 2; i < NODES; i++)
		if (c.nodes[i].name[0] &&
		    fill(ctx, c.nodes[i].name + 1, (uint64_t)i + 2,
			 S_ISDIR(c.nodes[i].mode) ? DT_DIR : DT_REG, i + 3))
			return 0;
	return 0;
}

/* ---- Locks: whole-file, per owner ------------------------------------ */

static struct lock *conflict(int node, int flock, uint64_t owner, short type)
{
	for (int i = 0; i < LOCKS; i++) {
		struct lock *l = &c.locks[i];

		if (l->used && l->node == node && l->flock == flock && l->owner != owner &&
		    (l->type == F_WRLCK || type == F_WRLCK))
			return l;
	}
	return NULL;
}

static void drop(int node, int flock, uint64_t owner)
{
	for (int i = 0; i < LOCKS; i++) {
		struct lock *l = &c.locks[i];

		if (l->used && l->node == node && l->flock == flock && l->owner == owner)
			l->used = 0;
	}
}

static int take(int node, int flock, uint64_t owner, short type, pid_t pid)
{
	if (conflict(node, flock, owner, type))
		return flock ? -EWOULDBLOCK : -EAGAIN;
	drop(node, flock, owner);
	for (int i = 0; i < LOCKS; i++)
		if (!c.locks[i].used) {
			c.locks[i] = (struct lock){ 1, node, flock, owner, type, pid };
			return 0;
		}
	return -ENOLCK;
}

static int k_getlk(void *priv, uint64_t fh, uint64_t owner, struct flock *lk)
{
	struct lock *l;

	(void)priv;
	pthread_mutex_lock(&c.mu);
	l = conflict((int)fh, 0, owner, lk->l_type);
	if (l) {
		lk->l_type = l->type;
		lk->l_whence = SEEK_SET;
		lk->l_start = 0;
		lk->l_len = 0;
		lk->l_pid = l->pid;
	} else {
		lk->l_type = F_UNLCK;
	}
	pthread_mutex_unlock(&c.mu);
	return 0;
}

static int k_setlk(void *priv, uint64_t fh, uint64_t owner, const struct flock *lk, int wait)
{
	int r = 0;

	(void)priv, (void)wait;	/* the test never waits */
	pthread_mutex_lock(&c.mu);
	if (lk->l_type == F_UNLCK)
		drop((int)fh, 0, owner);
	else
		r = take((int)fh, 0, owner, lk->l_type, lk->l_pid);
	pthread_mutex_unlock(&c.mu);
	return r;
}

static int k_flock(void *priv, uint64_t fh, uint64_t owner, int op)
{
	int r = 0;

	(void)priv;
	pthread_mutex_lock(&c.mu);
	if ((op & ~LOCK_NB) == LOCK_UN)
		drop((int)fh, 1, owner);
	else
		r = take((int)fh, 1, owner, (op & LOCK_EX) ? F_WRLCK : F_RDLCK, 0);
	pthread_mutex_unlock(&c.mu);
	return r;
}

static const struct defuse_ops ops = {
	.init = k_init,
	.destroy = k_destroy,
	.getattr = k_getattr,
	.mkdir = k_mkdir,
	.mknod = k_mknod,
	.open = k_open,
	.flush = k_flush,
	.release = k_release,
	.read = k_read,
	.write = k_write,
	.readdir = k_readdir,
	.getlk = k_getlk,
	.setlk = k_setlk,
	.flock = k_flock,
};

__attribute__((visibility("default")))
const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "contract",
	.description = "a test module that logs what its host asks (ARGS: the log's path)",
	.ops = &ops,
};
