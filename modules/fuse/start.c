/*
 * Running a FUSE program's main() in process.
 *
 * main() runs on a stack of its own (a coroutine: makecontext/swapcontext)
 * in the thread that starts the mount.  It parses its options and sets up
 * as it would before mounting; fuse_main's fuse_mount mounts nothing, and
 * the event loop (fuse_loop and its kin: new.c) runs the file system's
 * init and switches back here: the mount is served from then on, by
 * DEFUSE's calls in the program's own threads, while main() stays
 * suspended inside the loop with everything on its stack intact.  At
 * destroy the loop returns, and main() finishes as after an unmount: its
 * fuse_destroy calls the file system's destroy, and whatever it does after
 * fuse_main returns (closing an image, freeing) happens too.
 *
 * What a start-up does to the process is undone when main() is suspended:
 * the umask (libfuse's passthrough examples set 0), the working directory,
 * the dispositions of the ordinary signals, the locale.  A main() that
 * returns before the loop, or calls exit(), is a refused mount with a
 * one-line reason.
 */
#include "fc.h"
#include "compat.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define STACK_SIZE (8UL << 20)	/* reserved, not committed: a thread's default */

struct fc_inst *fc_starting;

void fc_why(struct fc_inst *in, const char *fmt, ...)
{
	va_list ap;

	if (!in->why || !in->why_len || in->why[0])
		return;		/* the first reason stands */
	va_start(ap, fmt);
	vsnprintf(in->why, in->why_len, fmt, ap);
	va_end(ap);
}

/* exit() while a main() is starting: say so, and end as a refused mount. */
static void exit_guard(int status, void *arg)
{
	struct fc_inst *in = fc_starting;

	(void)arg;
	if (!in || in->state != FC_STARTING)
		return;
	/* Its loop may have failed first, for a reason of ours (fc_why):
	   that is the one to read, not the exit it made of it. */
	if (in->why && in->why[0])
		fprintf(stderr, "defuse: fuse: %s (then it called exit(%d))\n", in->why, status);
	else
		fprintf(stderr, "defuse: fuse: %s called exit(%d) in its start-up, before it "
			"served a file system\n", in->name, status);
	_exit(127);
}

/* exit() by the file system's code (compat.h): a start that ends there. */
static void exit_in_start(int status)
{
	struct fc_inst *in = fc_starting;
	char here;

	if (!in || in->state != FC_STARTING || getpid() != in->pid ||
	    (char *)&here < (char *)in->stack ||
	    (char *)&here >= (char *)in->stack + in->stack_size)
		return;		/* not its main() (a helper it forked, a thread) */
	if (in->why && in->why[0]) {
		/* its loop failed first, for a reason of ours (fc_why) */
		size_t n = strlen(in->why);

		snprintf(in->why + n, in->why_len - n, " (then it called exit(%d))", status);
	} else {
		fc_why(in, "%s called exit(%d) in its start-up, before it served a file system",
		       in->name, status);
	}
	in->main_ret = status;
	in->state = FC_RETURNED;
	setcontext(&in->host_ctx);
}

static void run_main(void)
{
	struct fc_inst *in = fc_starting;

	in->main_ret = in->main(in->argc, in->argv);
	in->state = in->state == FC_STARTING ? FC_RETURNED : FC_FINISHED;
	setcontext(&in->host_ctx);
	abort();	/* setcontext does not return */
}

int fc_serve(struct fc_inst *in)
{
	if (in->se ? fc_ll_init(in) : fc_hl_init(in))
		return -1;
	in->state = FC_SERVING;
	swapcontext(&in->main_ctx, &in->host_ctx);
	/* destroy: the mount ends, the loop returns */
	return 0;
}

/* ---- what a start-up may change, kept and put back ------------------- */

#define NSIG_KEPT 32

struct process_state {
	mode_t umask;
	int cwd;
	char *locale;		/* setlocale(LC_ALL, NULL) before, or NULL */
	int out;		/* the program's standard output, while moved */
	struct sigaction sa[NSIG_KEPT];
};

static int signal_kept(int sig)
{
	return sig != SIGKILL && sig != SIGSTOP && sig != SIGSYS;
}

static void save_state(struct process_state *ps)
{
	const char *loc = setlocale(LC_ALL, NULL);

	ps->umask = umask(022);
	umask(ps->umask);
	/* a start-up's setlocale(LC_ALL, "") (encfs) would have reached the
	   program, whose main() begins in "C" and may never set one */
	ps->locale = loc ? strdup(loc) : NULL;
	ps->cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (int s = 1; s < NSIG_KEPT; s++)
		if (signal_kept(s))
			sigaction(s, NULL, &ps->sa[s]);
}

/* Whether the start-up left the process in another working directory. */
static int cwd_moved(const struct process_state *ps)
{
	struct stat was, now;

	return ps->cwd >= 0 && !fstat(ps->cwd, &was) && !stat(".", &now) &&
	       (was.st_dev != now.st_dev || was.st_ino != now.st_ino);
}

static void restore_state(struct process_state *ps)
{
	const char *loc = setlocale(LC_ALL, NULL);

	umask(ps->umask);
	if (ps->locale && (!loc || strcmp(loc, ps->locale)))
		setlocale(LC_ALL, ps->locale);
	free(ps->locale);
	if (ps->cwd >= 0) {
		if (fchdir(ps->cwd))
			fprintf(stderr, "defuse: fuse: cannot return to the working directory\n");
		close(ps->cwd);
	}
	for (int s = 1; s < NSIG_KEPT; s++) {
		struct sigaction now;

		if (!signal_kept(s) || sigaction(s, NULL, &now))
			continue;
		if (now.sa_handler != ps->sa[s].sa_handler || now.sa_flags != ps->sa[s].sa_flags)
			sigaction(s, &ps->sa[s], NULL);
	}
}

/*
 * What a start-up prints on its standard output (fuseiso its image's
 * volume descriptor, disorderfs its options) a daemon prints where it was
 * mounted from; in process the program's standard output is data (`ls >
 * list`, a pipe), and every image of the program starts the file system.
 * So the start-up's descriptor 1 is the program's standard error (or
 * /dev/null, if it has none); its stdio buffers are flushed before it is
 * given back.
 */
static void output_to_stderr(struct process_state *ps)
{
	ps->out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	if (ps->out < 0)
		return;		/* no standard output: nothing to keep apart */
	if (dup2(2, 1) < 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, 1) < 0) {
			close(ps->out);	/* cannot: left as it was */
			ps->out = -1;
		}
		if (null >= 0)
			close(null);
	}
}

static void output_back(struct process_state *ps)
{
	if (ps->out < 0)
		return;
	dup2(ps->out, 1);
	close(ps->out);
}

/* ---- start and stop ---------------------------------------------------- */

static uint64_t hash_args(int argc, char **argv)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < argc; i++)
		for (const unsigned char *p = (const unsigned char *)argv[i]; ; p++) {
			h = (h ^ *p) * 0x100000001b3ULL;
			if (!*p)
				break;
		}
	return h;
}

/*
 * The module's settings in the environment, as the image had them at its
 * first start: later, the program's environment no longer holds DEFUSE's
 * variables (capture keeps them for the next exec), so a forked child's
 * start again (restart.c) found none and took the defaults: its lock
 * carriers went to another directory than its parent's, and the locks of
 * the two did not meet.  The first start runs before the program, on one
 * thread; a forked child has the copy.
 */
static struct {
	const char *name;
	char *value;
} settings[] = { { "DEFUSE_FUSE_LOCKDIR", NULL }, { "DEFUSE_FUSE_NAME_CACHE", NULL } };
static int settings_read;

const char *fc_setting(const char *name)
{
	size_t n = sizeof(settings) / sizeof(settings[0]);

	if (!settings_read) {
		for (size_t i = 0; i < n; i++) {
			const char *v = getenv(settings[i].name);

			settings[i].value = v ? strdup(v) : NULL;
		}
		settings_read = 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(settings[i].name, name))
			return settings[i].value;
	return NULL;
}

static void free_inst(struct fc_inst *in)
{
	if (in->stack)
		munmap(in->stack, in->stack_size);
	pthread_mutex_destroy(&in->serial);
	pthread_mutex_destroy(&in->files_lock);
	free(in);
}

static int start(struct fc_start *s, struct defuse_conn *conn, void **inst,
		 const struct defuse_ops **ops, char *why, size_t why_len)
{
	static int guard_set;
	struct process_state ps;
	struct fc_inst *in = calloc(1, sizeof(*in));

	if (!in) {
		snprintf(why, why_len, "%s: out of memory", s->name);
		return -ENOMEM;
	}
	in->name = s->name;
	in->main = s->main;
	in->argc = s->argc;
	in->argv = s->argv;
	in->why = why;
	in->why_len = why_len;
	in->pid = getpid();
	in->key = hash_args(s->argc - 1, s->argv);	/* not the mount point */
	pthread_mutex_init(&in->serial, NULL);
	pthread_mutex_init(&in->files_lock, NULL);
	fc_lock_dir(in);
	in->stack_size = STACK_SIZE;
	in->stack = mmap(NULL, in->stack_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (in->stack == MAP_FAILED) {
		in->stack = NULL;
		free_inst(in);
		snprintf(why, why_len, "%s: no memory for its stack", s->name);
		return -ENOMEM;
	}
	mprotect(in->stack, 4096, PROT_NONE);	/* a guard page */
	if (getcontext(&in->main_ctx)) {
		free_inst(in);
		snprintf(why, why_len, "%s: getcontext: %s", s->name, strerror(errno));
		return -EIO;
	}
	in->main_ctx.uc_stack.ss_sp = in->stack;
	in->main_ctx.uc_stack.ss_size = in->stack_size;
	in->main_ctx.uc_link = NULL;
	makecontext(&in->main_ctx, run_main, 0);
	if (!guard_set && on_exit(exit_guard, NULL) == 0)
		guard_set = 1;

	save_state(&ps);
	in->state = FC_STARTING;
	fc_starting = in;
	ps.out = -1;
	if (!s->in_call) {
		fflush(NULL);
		output_to_stderr(&ps);
	}
	swapcontext(&in->host_ctx, &in->main_ctx);
	fc_starting = NULL;
	if (!s->in_call) {
		fflush(NULL);
		output_back(&ps);
	}
	/* A file system that moved into a directory of its own (bindfs: its
	   source) names its files relative to it: the module keeps it as the
	   file system's (fscwd.c), the process goes back to the program's. */
	s->cwd = in->state == FC_SERVING && cwd_moved(&ps) ? getcwd(NULL, 0) : NULL;
	/* Likewise its umask (fscwd.c applies it to the files it makes). */
	s->umask = umask(ps.umask);
	if (in->state != FC_SERVING || (mode_t)s->umask == ps.umask)
		s->umask = -1;
	restore_state(&ps);
	in->why = NULL;

	if (in->state == FC_SERVING) {
		conn->want |= in->defuse_want;
		in->ops = in->se ? &fc_ll_ops : &fc_hl_ops;
		*inst = in;
		*ops = in->ops;
		return 0;
	}
	if (!why[0])
		snprintf(why, why_len, "%s: its main() returned %d without serving a file "
			 "system (it did not reach fuse_main's loop)", s->name, in->main_ret);
	free_inst(in);
	return -EIO;
}

/* destroy: the loop returns, main() finishes; only in the process that
   started it (a forked child's copy must not end the file system twice). */
void fc_stop(void *priv)
{
	struct fc_inst *in = priv;
	struct process_state ps;

	if (in->state != FC_SERVING || getpid() != in->pid)
		return;
	/* no calls from the program any more */
	if (in->f)
		in->f->exited = 1;
	if (in->se)
		in->se->exited = 1;
	/* the program's last flush is done: what main() prints now is the
	   file system's, as at its start */
	output_to_stderr(&ps);
	swapcontext(&in->host_ctx, &in->main_ctx);
	fflush(NULL);
	output_back(&ps);
	/* main() has returned (run_main) */
	free_inst(in);
}

/* The module's way in (compat.h). */
FC_EXPORT const struct fc_entry defuse_fusecompat_entry = {
	.version = FC_ENTRY_VERSION,
	.start = start,
	.carry = fc_carry,
	.adopt = fc_adopt,
	.exit_in_start = exit_in_start,
};
