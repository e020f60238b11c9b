/*
 * sigsys: a program that uses SIGSYS itself.
 *
 * Capture claims SIGSYS for its Syscall User Dispatch net, and must keep
 * SIGSYS unblocked in the kernel (a trap with SIGSYS blocked kills the
 * process).  A program must not see any of that: its own SIGSYS handler gets
 * the signals it raises with the right siginfo, SIG_IGN works, the mask it
 * reads back is the one it set, and dispositions and masks cross exec as the
 * kernel carries them.  All output is deterministic; a native run is the
 * reference.
 *
 *   sigsys inline|jit            run every check
 *   sigsys exec-ign inline|jit   (internal) the image exec'ed with SIGSYS ignored
 *   sigsys exec-mask inline|jit  (internal) the image exec'ed with SIGSYS blocked
 *
 * "inline" makes its raw system calls with a `syscall` instruction in this
 * program's code (which capture may patch); "jit" with one in a page made at
 * run time, which only capture's SUD net can catch: then the traps happen
 * while the program blocks SIGSYS, inside its own SIGSYS handler, and so on.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rawsys.h"

static const char *self;

/* What the last run of the SIGSYS handler saw. */
static atomic_int runs;
static volatile int last_signo, last_code, last_pid_ok, last_value;
static volatile int inline_ok, glibc_ok, mask_sys, mask_usr2;
static volatile pid_t last_tid;

static const char *via = "inline";
/* Set for "jit": the stub in a page made at run time (rawsys.h). */
static rawsys_fn4 jit4;

static long raw(long nr, long a, long b, long c, long d)
{
	if (jit4)
		return jit4(nr, a, b, c, d);
	return rawsys4(nr, a, b, c, d);
}

static void make_jit(void)
{
	jit4 = rawsys_jit4();
	if (!jit4)
		abort();
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static const char *code_name(int code)
{
	switch (code) {
	case SI_USER: return "SI_USER";
	case SI_TKILL: return "SI_TKILL";
	case SI_QUEUE: return "SI_QUEUE";
	case 1 /* SYS_SECCOMP */: return "SYS_SECCOMP";
	case 2 /* SYS_USER_DISPATCH */: return "SYS_USER_DISPATCH";
	default: return "other";
	}
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	sigset_t cur;

	(void)uc;
	last_signo = sig == SIGSYS && si->si_signo == SIGSYS;
	last_code = si->si_code;
	last_pid_ok = si->si_pid == getpid() && si->si_uid == getuid();
	last_value = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
	last_tid = (pid_t)raw(SYS_gettid, 0, 0, 0, 0);
	/* System calls inside the handler, where SIGSYS is blocked. */
	inline_ok = raw(SYS_getpid, 0, 0, 0, 0) == getpid();
	glibc_ok = getppid() > 0;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	mask_sys = sigismember(&cur, SIGSYS);
	mask_usr2 = sigismember(&cur, SIGUSR2);
	atomic_fetch_add(&runs, 1);
	errno = saved;
}

static void report(const char *what, int before)
{
	int n = atomic_load(&runs) - before;
	if (!n) {
		printf("%-34s handler not run\n", what);
		return;
	}
	printf("%-34s runs=%d signo=%s code=%s sender=%s value=%d "
	       "inline_syscall=%s glibc_syscall=%s mask:SIGSYS=%d,SIGUSR2=%d\n",
	       what, n, last_signo ? "SIGSYS" : "WRONG", code_name(last_code),
	       last_pid_ok ? "self" : "WRONG", last_value,
	       inline_ok ? "ok" : "WRONG", glibc_ok ? "ok" : "WRONG",
	       mask_sys, mask_usr2);
}

static void print_mask(const char *what)
{
	sigset_t cur;
	unsigned long long raw_mask = 0;

	if (sigprocmask(SIG_BLOCK, NULL, &cur))
		die("sigprocmask");
	printf("%-34s glibc:", what);
	for (int s = 1; s < 65; s++)
		if (sigismember(&cur, s))
			printf(" %d", s);
	if (raw(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&raw_mask, 8))
		die("rt_sigprocmask");
	printf(" | inline: %#llx\n", raw_mask);
}

static void print_disposition(const char *what)
{
	struct sigaction old;

	if (sigaction(SIGSYS, NULL, &old))
		die("sigaction");
	printf("%-34s ", what);
	if (old.sa_handler == SIG_IGN)
		printf("SIG_IGN");
	else if (old.sa_handler == SIG_DFL)
		printf("SIG_DFL");
	else if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_sigsys)
		printf("own handler, SA_SIGINFO");
	else
		printf("UNEXPECTED handler %p", (void *)old.sa_handler);
	printf(", flags&(RESTART|NODEFER|RESETHAND|ONSTACK)=%#x, "
	       "sa_mask has SIGUSR2: %d\n",
	       old.sa_flags & (SA_RESTART | SA_NODEFER | SA_RESETHAND |
			       SA_ONSTACK),
	       sigismember(&old.sa_mask, SIGUSR2));
}

static void install(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sa.sa_flags = SA_SIGINFO | flags;
	if (sigaction(SIGSYS, &sa, NULL))
		die("sigaction");
}

static void set_disposition(void (*h)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		die("sigaction");
}

static void block_sigsys(int how)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGSYS);
	if (sigprocmask(how, &s, NULL))
		die("sigprocmask");
}

static void *raise_in_thread(void *arg)
{
	pid_t *tid = arg;

	*tid = (pid_t)syscall(SYS_gettid);
	raise(SIGSYS);
	return NULL;
}

static void *thread_mask(void *arg)
{
	(void)arg;
	print_mask("  mask seen by a new thread:");
	printf("  new thread inline getpid:          %s\n",
	       raw(SYS_getpid, 0, 0, 0, 0) == getpid() ? "ok" : "WRONG");
	return NULL;
}

/* SIGUSR1 handler that runs with SIGSYS blocked by someone else's mask. */
static volatile int usr1_inline_ok, usr1_mask_sys;
static void on_usr1(int sig)
{
	sigset_t cur;

	(void)sig;
	usr1_inline_ok = raw(SYS_getppid, 0, 0, 0, 0) == getppid();
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	usr1_mask_sys = sigismember(&cur, SIGSYS);
}

/* A handler on a small alternate stack that makes system calls. */
static volatile int alt_ok, alt_on_stack;
static char *alt_base;
static void on_usr2_alt(int sig)
{
	char here;

	(void)sig;
	alt_on_stack = &here > alt_base && &here < alt_base + SIGSTKSZ;
	alt_ok = raw(SYS_getppid, 0, 0, 0, 0) == getppid() &&
		 raw(SYS_write, 1, (long)"", 0, 0) == 0;
}

static void *send_usr1_later(void *arg)
{
	pid_t tid = *(pid_t *)arg;
	char path[64], buf[64];
	FILE *f;

	/* Wait until the main thread sleeps in rt_sigsuspend. */
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	/* Bounded (30 s), so that a call that never sleeps cannot hang us. */
	for (int i = 0; i < 150000; i++) {
		f = fopen(path, "r");
		if (!f)
			die(path);
		if (!fgets(buf, sizeof buf, f))
			buf[0] = 0;
		fclose(f);
		if (atoi(buf) == SYS_rt_sigsuspend && buf[0] != 'r')
			break;
		usleep(200);
	}
	syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
	return NULL;
}

static int run_child(const char *what, const char *arg, int ign, int block)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (ign)
			set_disposition(SIG_IGN);
		if (block)
			block_sigsys(SIG_BLOCK);
		if (arg) {
			execl(self, self, arg, via, (char *)NULL);
			die("execl");
		}
		struct rlimit rl = { 0, 0 };
		setrlimit(RLIMIT_CORE, &rl);
		set_disposition(SIG_DFL);
		if (!strcmp(what, "SIG_DFL + raise"))
			raise(SIGSYS);
		else
			kill(getpid(), SIGSYS);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	printf("%-34s ", what);
	if (WIFEXITED(st))
		printf("exited %d\n", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("killed by %s\n", WTERMSIG(st) == SIGSYS ? "SIGSYS"
				: strsignal(WTERMSIG(st)));
	return st;
}

static int exec_ign(void)
{
	print_disposition("  after exec, disposition:");
	print_mask("  after exec, mask:");
	raise(SIGSYS);
	kill(getpid(), SIGSYS);
	printf("  after exec, raised ignored SIGSYS: survived\n");
	return 0;
}

static int exec_mask(void)
{
	sigset_t pend;

	print_disposition("  after exec, disposition:");
	print_mask("  after exec, mask:");
	printf("  after exec, inline getpid:         %s\n",
	       raw(SYS_getpid, 0, 0, 0, 0) == getpid() ? "ok" : "WRONG");
	raise(SIGSYS);
	sigpending(&pend);
	printf("  after exec, raised blocked SIGSYS: pending=%d\n",
	       sigismember(&pend, SIGSYS));
	/* Discard it: ignoring a pending signal drops it. */
	set_disposition(SIG_IGN);
	sigpending(&pend);
	printf("  after SIG_IGN, pending=%d\n", sigismember(&pend, SIGSYS));
	block_sigsys(SIG_UNBLOCK);
	printf("  after unblock: survived\n");
	return 0;
}

int main(int argc, char **argv)
{
	int before;
	sigset_t pend;
	union sigval v;

	self = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[argc - 1], "inline") &&
	    strcmp(argv[argc - 1], "jit"))
		argc = 0;
	if (argc >= 2) {
		via = argv[argc - 1];
		if (!strcmp(via, "jit"))
			make_jit();
	}
	if (argc == 3 && !strcmp(argv[1], "exec-ign"))
		return exec_ign();
	if (argc == 3 && !strcmp(argv[1], "exec-mask"))
		return exec_mask();
	if (argc != 2) {
		fprintf(stderr, "usage: sigsys inline|jit\n");
		return 2;
	}
	printf("raw system calls: %s\n", via);

	print_disposition("initial disposition:");
	print_mask("initial mask:");

	install(0);
	print_disposition("after sigaction(SA_SIGINFO):");

	before = atomic_load(&runs);
	raise(SIGSYS);
	report("raise(SIGSYS):", before);

	before = atomic_load(&runs);
	kill(getpid(), SIGSYS);
	report("kill(getpid(), SIGSYS):", before);

	before = atomic_load(&runs);
	v.sival_int = 42;
	sigqueue(getpid(), SIGSYS, v);
	report("sigqueue(SIGSYS, 42):", before);

	before = atomic_load(&runs);
	raw(SYS_tgkill, getpid(), raw(SYS_gettid, 0, 0, 0, 0), SIGSYS, 0);
	report("inline tgkill(SIGSYS):", before);

	before = atomic_load(&runs);
	raw(SYS_kill, getpid(), SIGSYS, 0, 0);
	report("inline kill(SIGSYS):", before);

	{
		pthread_t th;
		pid_t tid = 0;
		before = atomic_load(&runs);
		pthread_create(&th, NULL, raise_in_thread, &tid);
		pthread_join(th, NULL);
		report("raise(SIGSYS) in a thread:", before);
		printf("%-34s %s\n", "  ran on the raising thread:",
		       last_tid == tid ? "yes" : "NO");
	}

	/* Blocked SIGSYS: the mask reads back, raise stays pending. */
	block_sigsys(SIG_BLOCK);
	print_mask("after blocking SIGSYS:");
	printf("%-34s %s\n", "inline getpid, SIGSYS blocked:",
	       raw(SYS_getpid, 0, 0, 0, 0) == getpid() ? "ok" : "WRONG");
	{
		pthread_t th;
		pthread_create(&th, NULL, thread_mask, NULL);
		pthread_join(th, NULL);
	}
	before = atomic_load(&runs);
	raise(SIGSYS);
	sigpending(&pend);
	printf("%-34s pending=%d\n", "raise while blocked:",
	       sigismember(&pend, SIGSYS));
	report("  before unblock:", before);
	block_sigsys(SIG_UNBLOCK);
	report("  after unblock:", before);
	print_mask("after unblocking SIGSYS:");

	/* The same through the raw system call. */
	{
		unsigned long long set = 1ULL << (SIGSYS - 1), old = 0;
		raw(SYS_rt_sigprocmask, SIG_BLOCK, (long)&set, (long)&old, 8);
		printf("%-34s old=%#llx\n", "inline rt_sigprocmask(BLOCK):", old);
		print_mask("  read back:");
		raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8);
		print_mask("  restored:");
	}

	/* Everything blocked (the kernel drops SIGKILL and SIGSTOP). */
	{
		sigset_t all, old;
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, &old);
		print_mask("after sigfillset + SETMASK:");
		printf("%-34s %s\n", "inline getpid, all blocked:",
		       raw(SYS_getpid, 0, 0, 0, 0) == getpid() ? "ok" : "WRONG");
		sigprocmask(SIG_SETMASK, &old, NULL);
		print_mask("  restored:");
	}

	/* A handler that runs with SIGSYS blocked by the sigsuspend mask. */
	{
		struct sigaction sa;
		sigset_t s, old;
		pthread_t th;
		pid_t tid = (pid_t)syscall(SYS_gettid);
		int r;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
		sigemptyset(&s);
		sigaddset(&s, SIGUSR1);
		sigprocmask(SIG_BLOCK, &s, &old);
		pthread_create(&th, NULL, send_usr1_later, &tid);
		sigemptyset(&s);
		sigaddset(&s, SIGSYS);
		r = sigsuspend(&s);
		printf("%-34s %d %s, handler: inline=%s mask:SIGSYS=%d\n",
		       "sigsuspend({SIGSYS}):", r,
		       r < 0 && errno == EINTR ? "EINTR" : "WRONG",
		       usr1_inline_ok ? "ok" : "WRONG", usr1_mask_sys);
		pthread_join(th, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		print_mask("  mask after sigsuspend:");
	}

	/* A handler on an alternate stack of SIGSTKSZ bytes. */
	{
		struct sigaction sa;
		stack_t ss = { .ss_size = SIGSTKSZ }, old;

		alt_base = malloc(SIGSTKSZ);
		ss.ss_sp = alt_base;
		if (!alt_base || sigaltstack(&ss, &old))
			die("sigaltstack");
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr2_alt;
		sa.sa_flags = SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR2, &sa, NULL);
		raise(SIGUSR2);
		printf("%-34s on it: %s, system calls: %s\n",
		       "handler on a SIGSTKSZ altstack:",
		       alt_on_stack ? "yes" : "NO", alt_ok ? "ok" : "WRONG");
		signal(SIGUSR2, SIG_DFL);
		ss.ss_flags = SS_DISABLE;
		sigaltstack(&ss, NULL);
		free(alt_base);
	}

	/* SA_RESETHAND: one run, then the default again. */
	install(SA_RESETHAND | SA_NODEFER);
	print_disposition("after sigaction(RESETHAND|NODEFER):");
	before = atomic_load(&runs);
	raise(SIGSYS);
	report("raise(SIGSYS):", before);
	print_disposition("  then:");

	/* SIG_IGN: raising SIGSYS is harmless. */
	set_disposition(SIG_IGN);
	print_disposition("after SIG_IGN:");
	raise(SIGSYS);
	kill(getpid(), SIGSYS);
	raw(SYS_tgkill, getpid(), raw(SYS_gettid, 0, 0, 0, 0), SIGSYS, 0);
	printf("%-34s survived, inline getpid %s\n", "raise/kill/tgkill ignored:",
	       raw(SYS_getpid, 0, 0, 0, 0) == getpid() ? "ok" : "WRONG");

	/* The old disposition comes back from sigaction. */
	{
		struct sigaction sa, old;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGSYS, &sa, &old);
		printf("%-34s %s\n", "SIG_DFL returns old:",
		       old.sa_handler == SIG_IGN ? "SIG_IGN" : "WRONG");
	}

	/* Default action, in children. */
	run_child("SIG_DFL + raise", NULL, 0, 0);
	run_child("SIG_DFL + kill", NULL, 0, 0);

	/* Across exec: ignored stays ignored, blocked stays blocked. */
	printf("exec with SIGSYS ignored:\n");
	run_child("  exec-ign child:", "exec-ign", 1, 0);
	printf("exec with SIGSYS blocked, handler set:\n");
	install(0);
	run_child("  exec-mask child:", "exec-mask", 0, 1);

	print_disposition("final disposition:");
	print_mask("final mask:");
	return 0;
}
