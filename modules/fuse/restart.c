/*
 * A file system's start-up again, in a forked child.
 *
 * In process, a forked child goes on with a copy of its parent's instance
 * (module.h, after_fork_child).  That is right for a file system whose
 * state is memory and kernel descriptors (libfuse's passthrough examples,
 * fuse2fs), and wrong for one that runs threads of its own, which fork
 * does not copy: sshfs's child sent its requests down its parent's
 * connection and waited for ever for the replies, which the parent's
 * reader thread took.  A FUSE daemon never shares itself with a fork; in
 * process, each image runs the file system's start-up (init after exec),
 * and so now does a forked child whose file system had started a thread:
 * at the child's first call to the mount, main() runs again from the
 * globals it first started with (the object's writable data, kept when it
 * was loaded: fs_image), and the open files the child inherited are opened
 * again through the new instance as it uses them (the stand-in's adopt.c).
 * The old instance is the parent's and stays as it is.
 *
 * Which mount started a thread: pthread_create is redirected in the file
 * system's objects (as fdwrap.c redirects their descriptor calls); the new
 * thread belongs to the mount being called in the thread that creates it
 * (fm_calling), or, created by one of a file system's own threads, to
 * that thread's mount.
 */
#define _GNU_SOURCE 1
#include "fm.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__thread struct fmount *fm_calling;

/* ---- the globals main() starts with ---------------------------------- */

#define IMAGE_SEGS 4
#define IMAGE_MAX (64UL << 20)	/* past this, not kept: no restart */

struct fs_image {
	int n;
	struct {
		unsigned char *at;
		size_t len;
	} seg[IMAGE_SEGS];
	unsigned char *copy;
};

struct find_segs {
	uintptr_t base;
	struct fs_image *im;
	size_t total;
	int found;
};

/*
 * A segment copied whole, byte by byte and unchecked: under
 * AddressSanitizer it holds the poisoned redzones between the object's
 * globals too, which a checked memcpy refuses to read or write.  (volatile:
 * a loop the compiler would turn back into a call of memcpy.)
 */
__attribute__((no_sanitize_address))
static void copy_segment(unsigned char *to, const unsigned char *from, size_t n)
{
	volatile unsigned char *t = to;
	const volatile unsigned char *f = from;

	for (size_t i = 0; i < n; i++)
		t[i] = f[i];
}

/*
 * The object's writable segments, but for what is read-only after
 * relocation (RELRO: its GOT, which fdwrap.c patched and which nothing
 * changes after): the data and bss its code writes.
 */
static int find_segs(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_segs *f = arg;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), relro_end = 0;

	(void)size;
	if (info->dlpi_addr != f->base)
		return 0;
	f->found = 1;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO)
			relro_end = (info->dlpi_addr + info->dlpi_phdr[i].p_vaddr +
				     info->dlpi_phdr[i].p_memsz) & ~(page - 1);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		if (lo < relro_end)
			lo = relro_end;
		if (lo >= hi)
			continue;
		if (f->im->n == IMAGE_SEGS) {
			f->found = 0;	/* not an object as linkers make them */
			return 1;
		}
		f->im->seg[f->im->n].at = (unsigned char *)lo;
		f->im->seg[f->im->n++].len = hi - lo;
		f->total += hi - lo;
	}
	return 1;
}

struct fs_image *fs_image_save(void *h)
{
	struct link_map *lm = NULL;
	struct fs_image *im = calloc(1, sizeof(*im));
	struct find_segs f = { 0 };
	size_t at = 0;

	if (!im || dlinfo(h, RTLD_DI_LINKMAP, &lm) || !lm)
		goto fail;
	f.base = lm->l_addr;
	f.im = im;
	dl_iterate_phdr(find_segs, &f);
	if (!f.found || f.total > IMAGE_MAX || !(im->copy = malloc(f.total ? f.total : 1)))
		goto fail;
	for (int i = 0; i < im->n; i++) {
		copy_segment(im->copy + at, im->seg[i].at, im->seg[i].len);
		at += im->seg[i].len;
	}
	return im;
fail:
	free(im);
	return NULL;
}

void fs_image_free(struct fs_image *im)
{
	if (im)
		free(im->copy);
	free(im);
}

static void fs_image_restore(const struct fs_image *im)
{
	size_t at = 0;

	for (int i = 0; i < im->n; i++) {
		copy_segment(im->seg[i].at, im->copy + at, im->seg[i].len);
		at += im->seg[i].len;
	}
}

/* ---- the file system's threads ---------------------------------------- */

struct thread_start {
	void *(*fn)(void *);
	void *arg;
	struct fmount *fm;
};

/*
 * A file system's thread is the file system's, as a daemon's: its system
 * calls are not the program's to route (defuse_own_thread), and the
 * program's signals are for the program's threads (blocked here, as
 * libfuse blocks them in its own workers).
 */
static void *thread_main(void *p)
{
	struct thread_start ts = *(struct thread_start *)p;
	sigset_t all;

	free(p);
	if (defuse_own_thread)
		defuse_own_thread();
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	fm_calling = ts.fm;
	return ts.fn(ts.arg);
}

static int w_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
			    void *arg)
{
	struct thread_start *ts = malloc(sizeof(*ts));
	struct fmount *fm = fm_calling;
	int r;

	if (!ts)
		return EAGAIN;
	*ts = (struct thread_start){ fn, arg, fm };
	r = pthread_create(t, attr, thread_main, ts);
	if (r) {
		free(ts);
		return r;
	}
	if (fm)
		__atomic_store_n(&fm->threads, 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * exit() while a start runs in this thread (fm_calling is set around each
 * start): the start ends there as a refused one (the stand-in's
 * exit_in_start), not the process.  A forked child's start again runs
 * inside one of the program's calls, where exit would have run the
 * program's exit handlers and ended it; a first start would have run the
 * exit handlers of the libraries loaded so far.
 */
static void w_exit(int status)
{
	struct fmount *fm = fm_calling;

	if (fm && fm->entry && fm->entry->exit_in_start)
		fm->entry->exit_in_start(status);
	exit(status);
}

/*
 * fork() while the file system starts.  A program that puts itself in the
 * background forks there (httpfs2 without -f): its parent returns, its
 * child goes on to the loop.  In process the child would have gone on to
 * run the program again, beside its parent, which refuses the mount.  So
 * the child of a fork made during a start ends when the start does
 * (fm_start), and the parent's refusal says why (fm->forked).  A child
 * that runs a helper (sshfs's ssh) execs before then.
 */
int fm_in_fs_child;

static pid_t w_fork(void)
{
	struct fmount *fm = fm_calling;
	int starting = fm && fm->starting;
	pid_t pid = fork();

	if (pid == 0)
		fm_in_fs_child = 1;	/* the file system's helper (fdwrap.c) */
	if (starting && pid > 0)
		fm->forked = 1;
	if (starting && pid == 0)
		fm->start_child = 1;
	return pid;
}

/* setsid(2) in the program's process: the program's session is not the
   file system's to leave (a daemon's start-up leaves its terminal's); in
   a child it forked, done. */
static pid_t w_setsid(void)
{
	if (!fm_in_fs_child && fm_calling)
		return getsid(0);
	return setsid();
}

/* daemon(3) while the file system starts: as fuse_daemonize in process,
   nothing to do (its fork would have ended the program's process: the
   parent leaves with _exit inside libc). */
static int w_daemon(int nochdir, int noclose)
{
	struct fmount *fm = fm_calling;

	if (fm && fm->starting)
		return 0;
	return daemon(nochdir, noclose);
}

void *restart_wrapper_for(const char *name)
{
	if (!strcmp(name, "pthread_create"))
		return (void *)w_pthread_create;
	if (!strcmp(name, "fork"))
		return (void *)w_fork;
	if (!strcmp(name, "daemon"))
		return (void *)w_daemon;
	if (!strcmp(name, "setsid"))
		return (void *)w_setsid;
	return strcmp(name, "exit") ? NULL : (void *)w_exit;
}

/* ---- fork and the start again ----------------------------------------- */

void fm_fork_child(struct fmount *fm)
{
	pthread_mutex_init(&fm->restart_lock, NULL);	/* may have been held */
	fsexit_fork_child();
	if (__atomic_load_n(&fm->threads, __ATOMIC_RELAXED) && !(fm->state & FM_DEAD))
		__atomic_store_n(&fm->state, fm->state | FM_RESTART, __ATOMIC_RELEASE);
}

static void restart(struct fmount *fm)
{
	void *old = fm->inst;
	struct defuse_conn conn = fm->conn;
	char why[512] = "";
	int state = FM_DEAD;

	if (!fm->image) {
		snprintf(why, sizeof(why), "its globals as they were before its start-up "
			 "were not kept");
	} else {
		fs_image_restore(fm->image);
		fsexit_forget_main(fm);
		fm->threads = 0;
		if (!fm_start(fm, &conn, 1, why, sizeof(why))) {
			fm->entry->carry(fm->inst, old);
			state = FM_REBORN;
		}
	}
	if (state == FM_DEAD)
		fprintf(stderr, "defuse: fuse: %s cannot start again in forked process %d, which "
			"needs an instance of its own (it runs threads): %s; its calls fail "
			"with EIO\n", fm->name, (int)getpid(), why[0] ? why : "no reason given");
	__atomic_store_n(&fm->state, state, __ATOMIC_RELEASE);
}

int fm_enter_slow(struct fmount *fm, uint64_t *fh, int how)
{
	int state = __atomic_load_n(&fm->state, __ATOMIC_ACQUIRE);

	/* Before the start again, every handle is the old instance's: its
	   release is the parent's business, and its path is known without
	   the file system.  Neither needs the start (a login, for sshfs). */
	if ((state & FM_RESTART) && how == FC_ADOPT_RELEASE && fh)
		return 1;
	if ((state & FM_RESTART) && how == FC_ADOPT_PEEK && fh)
		return 0;
	if ((state & FM_RESTART) && defuse_in_vfork_child && defuse_in_vfork_child())
		return -EIO;	/* its memory is its parent's: no start there */
	if (state & FM_RESTART) {
		pthread_mutex_lock(&fm->restart_lock);
		if (__atomic_load_n(&fm->state, __ATOMIC_ACQUIRE) & FM_RESTART)
			restart(fm);
		pthread_mutex_unlock(&fm->restart_lock);
		state = __atomic_load_n(&fm->state, __ATOMIC_ACQUIRE);
	}
	if (state & FM_DEAD)
		return -EIO;
	if (fh && (state & FM_REBORN))
		return fm->entry->adopt(fm->inst, fh, how);
	return 0;
}
