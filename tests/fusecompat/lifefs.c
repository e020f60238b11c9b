/*
 * lifefs: a small FUSE file system (libfuse 3 high-level API) for the fuse
 * module's tests, built like any FUSE program's source as an in-process
 * file system (-shared -fPIC) and as a program.  It keeps a few files in
 * memory and writes one line per call it gets to a log, so that the tests
 * can see what libfuse's semantics promise: init and destroy once per
 * process image, create versus mknod + open, flush at every close and one
 * release, readdir with offsets or without, the caller's identity in
 * fuse_get_context.
 *
 *   lifefs [--log=FILE] [--no-create] [--offsets] [--exit-in-main=N]
 *          [--fail-init] [--bad-caps] [--worker] [--exit-if=FILE]
 *          [FUSE options] MOUNTPOINT
 *
 * --exit-in-main=N  exit(N) before fuse_main (a program whose start fails)
 * --fail-init       its init calls fuse_exit (a start that fails late)
 * --bad-caps        its init asks for a capability no one offers
 * --exit-if=FILE    exit(4) before fuse_main if FILE exists (a start that
 *                   fails later: a forked child's start again)
 * --worker          reads are done by a thread its init starts, as sshfs's
 *                   replies are read by one: a forked child that went on
 *                   with a copy of it (no thread) would wait for ever
 * --worker-stat     and that thread stats the file's path under the mount
 *                   point first, and logs what it saw: in process a file
 *                   system's thread is its own (module.h:
 *                   defuse_own_thread), so the kernel answers it
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 64

struct file {
	char name[64];
	mode_t mode;
	char data[4096];
	size_t size;
};

static struct options {
	const char *log;
	int no_create;
	int offsets;
	int exit_in_main;
	int fail_init;
	int bad_caps;
	int worker;
	int worker_stat;
	const char *exit_if;
} opt = { .exit_in_main = -1 };

static const char *mountpoint;

static struct file files[NFILES];
static unsigned long next_fh = 100;

#ifdef LIFEFS_TLS
/* a program with thread-local storage of its own (a bad-input test) */
static __thread int calls;
#define COUNT_CALL() (calls++)
#else
#define COUNT_CALL() ((void)0)
#endif

#define OPTION(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt spec[] = {
	{ "--log=%s", offsetof(struct options, log), 0 },
	OPTION("--no-create", no_create),
	OPTION("--offsets", offsets),
	{ "--exit-in-main=%d", offsetof(struct options, exit_in_main), 0 },
	OPTION("--fail-init", fail_init),
	OPTION("--bad-caps", bad_caps),
	OPTION("--worker", worker),
	OPTION("--worker-stat", worker_stat),
	{ "--exit-if=%s", offsetof(struct options, exit_if), 0 },
	FUSE_OPT_END
};

/* One line per call: "pid op args". */
static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n, fd;

	if (!opt.log)
		return;
	n = snprintf(line, sizeof(line), "%d ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(opt.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, n) != n)
			n = 0;
		close(fd);
	}
}

static struct file *find(const char *path)
{
	for (int i = 0; i < NFILES; i++)
		if (files[i].name[0] && !strcmp(files[i].name, path + 1))
			return &files[i];
	return NULL;
}

static struct file *add(const char *path, mode_t mode)
{
	for (int i = 0; i < NFILES; i++)
		if (!files[i].name[0]) {
			snprintf(files[i].name, sizeof(files[i].name), "%s", path + 1);
			files[i].mode = mode;
			files[i].size = 0;
			return &files[i];
		}
	return NULL;
}

/* --worker: one job at a time, handed to the thread and waited for. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void (*job)(void *);
	void *arg;
	int done;
} work = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0 };

static void *worker(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&work.lock);
	for (;;) {
		while (!work.job)
			pthread_cond_wait(&work.cond, &work.lock);
		work.job(work.arg);
		work.job = NULL;
		work.done = 1;
		pthread_cond_broadcast(&work.cond);
	}
	return NULL;
}

/* job(arg) in the worker thread with --worker, else here. */
static void on_worker(void (*job)(void *), void *arg)
{
	if (!opt.worker) {
		job(arg);
		return;
	}
	pthread_mutex_lock(&work.lock);
	while (work.job)
		pthread_cond_wait(&work.cond, &work.lock);
	work.job = job;
	work.arg = arg;
	work.done = 0;
	pthread_cond_broadcast(&work.cond);
	while (!work.done)
		pthread_cond_wait(&work.cond, &work.lock);
	pthread_mutex_unlock(&work.lock);
}

static void *lf_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fuse_context *c = fuse_get_context();
	pthread_t t;

	if (opt.worker && pthread_create(&t, NULL, worker, NULL) == 0)
		pthread_detach(t);

	logf_("init use_ino=%d max_write=%u want_flock=%d", cfg->use_ino, conn->max_write,
	      !!(conn->want & FUSE_CAP_FLOCK_LOCKS));
	if (opt.fail_init)
		fuse_exit(c->fuse);
	if (opt.bad_caps)
		conn->want |= 1U << 31;
	return c->private_data;
}

static void lf_destroy(void *data)
{
	logf_("destroy data=%s", data == &opt ? "ok" : "wrong");
}

static int lf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct file *f;

	COUNT_CALL();
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	f = find(path);
	if (!f)
		return -ENOENT;
	st->st_mode = S_IFREG | f->mode;
	st->st_nlink = 1;
	st->st_size = f->size;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (fi)
		logf_("getattr-fh %s %lu", path, (unsigned long)fi->fh);
	return 0;
}

static int lf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	int i;

	(void)fi;
	(void)flags;
	if (strcmp(path, "/"))
		return -ENOENT;
	logf_("readdir off=%ld", (long)off);
	if (!opt.offsets) {
		fill(buf, ".", NULL, 0, 0);
		fill(buf, "..", NULL, 0, 0);
		for (i = 0; i < NFILES; i++)
			if (files[i].name[0])
				fill(buf, files[i].name, NULL, 0, 0);
		return 0;
	}
	/* offsets: entry i has offset i + 1 */
	for (i = off; i < NFILES + 2; i++) {
		struct stat st = { .st_mode = i < 2 ? S_IFDIR : S_IFREG };
		const char *name = i == 0 ? "." : i == 1 ? ".." : files[i - 2].name;

		if (!name[0])
			continue;
		if (fill(buf, name, &st, i + 1, 0))
			break;
	}
	return 0;
}

static int lf_open(const char *path, struct fuse_file_info *fi)
{
	struct file *f = find(path);

	if (!f)
		return -ENOENT;
	if (fi->flags & O_TRUNC)
		f->size = 0;
	fi->fh = next_fh++;
	logf_("open %s %lu", path, (unsigned long)fi->fh);
	return 0;
}

static int lf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_context *c = fuse_get_context();

	if (!add(path, mode & 07777))
		return -ENOSPC;
	fi->fh = next_fh++;
	logf_("create %s %o %lu uid=%d gid=%d umask=%03o pidok=%d", path, (unsigned)mode,
	      (unsigned long)fi->fh, (int)c->uid, (int)c->gid, (unsigned)c->umask,
	      c->pid > 0);
	return 0;
}

static int lf_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)dev;
	if (!S_ISREG(mode))
		return -EPERM;
	if (!add(path, mode & 07777))
		return -ENOSPC;
	logf_("mknod %s %o", path, (unsigned)mode);
	return 0;
}

struct read_job {
	const char *path;
	char *buf;
	size_t size;
	off_t off;
	int r;
};

static void read_job(void *arg)
{
	struct read_job *j = arg;
	struct file *f = find(j->path);

	if (opt.worker)
		logf_("worker read %s", j->path);
	if (opt.worker_stat) {
		char p[4096];
		struct stat st;

		snprintf(p, sizeof(p), "%s%s", mountpoint, j->path);
		logf_("worker stat %s: %s", j->path, stat(p, &st) ? strerror(errno) : "found");
	}
	if (!f) {
		j->r = -ENOENT;
		return;
	}
	if ((size_t)j->off >= f->size) {
		j->r = 0;
		return;
	}
	if (j->size > f->size - j->off)
		j->size = f->size - j->off;
	memcpy(j->buf, f->data + j->off, j->size);
	j->r = j->size;
}

static int lf_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct read_job j = { path, buf, size, off, 0 };

	(void)fi;
	on_worker(read_job, &j);
	return j.r;
}

static int lf_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct file *f = find(path);

	(void)fi;
	if (!f)
		return -ENOENT;
	if (off + size > sizeof(f->data))
		return -EFBIG;
	memcpy(f->data + off, buf, size);
	if (off + size > f->size)
		f->size = off + size;
	return size;
}

static int lf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct file *f = find(path);

	(void)fi;
	if (!f)
		return -ENOENT;
	if ((size_t)size > sizeof(f->data))
		return -EFBIG;
	f->size = size;
	return 0;
}

static int lf_flush(const char *path, struct fuse_file_info *fi)
{
	logf_("flush %s %lu", path, (unsigned long)fi->fh);
	return 0;
}

static int lf_release(const char *path, struct fuse_file_info *fi)
{
	logf_("release %s %lu", path, (unsigned long)fi->fh);
	return 0;
}

static int lf_unlink(const char *path)
{
	struct file *f = find(path);

	if (!f)
		return -ENOENT;
	f->name[0] = 0;
	return 0;
}

static struct fuse_operations ops = {
	.init = lf_init,
	.destroy = lf_destroy,
	.getattr = lf_getattr,
	.readdir = lf_readdir,
	.open = lf_open,
	.create = lf_create,
	.mknod = lf_mknod,
	.read = lf_read,
	.write = lf_write,
	.truncate = lf_truncate,
	.flush = lf_flush,
	.release = lf_release,
	.unlink = lf_unlink,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int r;

	if (fuse_opt_parse(&args, &opt, spec, NULL) == -1)
		return 1;
	if (opt.no_create)
		ops.create = NULL;
	snprintf(files[0].name, sizeof(files[0].name), "hello");
	files[0].mode = 0644;
	files[0].size = 6;
	memcpy(files[0].data, "hello\n", 6);
	logf_("main argc=%d last=%s", args.argc, args.argv[args.argc - 1]);
	mountpoint = args.argv[args.argc - 1];
	if (opt.worker_stat)
		opt.worker = 1;
	if (opt.exit_in_main >= 0)
		exit(opt.exit_in_main);
	if (opt.exit_if && access(opt.exit_if, F_OK) == 0)
		exit(4);
	r = fuse_main(args.argc, args.argv, &ops, &opt);
	logf_("main returns %d", r);
	fuse_opt_free_args(&args);
	return r;
}
