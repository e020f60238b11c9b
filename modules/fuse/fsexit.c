/*
 * The file system's exit handlers, run at its end.
 *
 * A FUSE daemon ends in this order: the loop returns (unmount), main()
 * finishes (its destroy, its clean-up after fuse_main), main returns, and
 * exit runs the handlers it registered, among them the destructors of a
 * C++ program's static objects.  In process the mount must outlive the
 * program's own exit handlers and stdio's last flush (either may still
 * write to a file in the mount), so main() finishes only at the process's
 * last call (module.h: destroy).  The file system's handlers would have
 * run long before: registered while DEFUSE started, they come last in
 * exit's list, and its objects' destructors (__cxa_finalize from their
 * DT_FINI_ARRAY) run them as glibc unloads them.  loggedfs's main() then
 * logged its last line through a logger already destroyed and waited
 * forever on its lock, in every process that used the mount.
 *
 * So the handlers its objects register (__cxa_atexit, atexit) are kept
 * with the mount being called or started (fm_calling) and run, last
 * registered first, after main() has finished (fsexit_run); its objects'
 * __cxa_finalize does nothing.  A process that does not end through exit
 * with one thread left runs none of them, as it runs no destroy.
 */
#define _GNU_SOURCE 1
#include "fm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fs_exit_fn {
	void (*fn)(void *);
	void *arg;
};

int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static pthread_mutex_t exit_lock = PTHREAD_MUTEX_INITIALIZER;

static int keep(struct fmount *fm, void (*fn)(void *), void *arg)
{
	int r = 0;

	pthread_mutex_lock(&exit_lock);
	if (fm->n_exit_fns == fm->cap_exit_fns) {
		size_t cap = fm->cap_exit_fns ? 2 * fm->cap_exit_fns : 16;
		struct fs_exit_fn *a = realloc(fm->exit_fns, cap * sizeof(*a));

		if (!a) {
			r = -1;
			goto out;
		}
		fm->exit_fns = a;
		fm->cap_exit_fns = cap;
	}
	fm->exit_fns[fm->n_exit_fns++] = (struct fs_exit_fn){ fn, arg };
out:
	pthread_mutex_unlock(&exit_lock);
	return r;
}

static int w_cxa_atexit(void (*fn)(void *), void *arg, void *dso)
{
	struct fmount *fm = fm_calling;

	return fm ? keep(fm, fn, arg) : __cxa_atexit(fn, arg, dso);
}

/* exit calls an atexit handler with no argument: one more in %rdi is
   harmless in the calling convention, as glibc's own list relies on. */
static int w_atexit(void (*fn)(void))
{
	struct fmount *fm = fm_calling;

	return fm ? keep(fm, (void (*)(void *))fn, NULL) : atexit(fn);
}

static void w_cxa_finalize(void *dso)
{
	(void)dso;	/* fsexit_run's, at the file system's end */
}

void fsexit_run(struct fmount *fm)
{
	for (;;) {
		struct fs_exit_fn e;

		pthread_mutex_lock(&exit_lock);
		if (!fm->n_exit_fns) {
			pthread_mutex_unlock(&exit_lock);
			break;
		}
		e = fm->exit_fns[--fm->n_exit_fns];
		pthread_mutex_unlock(&exit_lock);
		e.fn(e.arg);	/* it may register more */
	}
	free(fm->exit_fns);
	fm->exit_fns = NULL;
	fm->cap_exit_fns = 0;
}

void fsexit_forget_main(struct fmount *fm)
{
	pthread_mutex_lock(&exit_lock);
	if (fm->n_exit_fns > fm->exit_fns_loaded)
		fm->n_exit_fns = fm->exit_fns_loaded;
	pthread_mutex_unlock(&exit_lock);
}

void fsexit_loaded(struct fmount *fm)
{
	fm->exit_fns_loaded = fm->n_exit_fns;
}

void fsexit_fork_child(void)
{
	pthread_mutex_init(&exit_lock, NULL);	/* may have been held */
}

void *fsexit_wrapper_for(const char *name)
{
	if (!strcmp(name, "__cxa_atexit"))
		return (void *)w_cxa_atexit;
	if (!strcmp(name, "atexit"))
		return (void *)w_atexit;
	return strcmp(name, "__cxa_finalize") ? NULL : (void *)w_cxa_finalize;
}
