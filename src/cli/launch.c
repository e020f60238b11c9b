#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "defuse_config.h"
#include "cli/launch.h"

void (*launch_started_hook)(int root_pid);

static int readable_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int launch_find_preload(char *path, unsigned long cap)
{
	const char *env = getenv("DEFUSE_PRELOAD_LIB");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		if (!readable_file(env) || !realpath(env, path) || strlen(path) >= cap) {
			fprintf(stderr, "defuse: DEFUSE_PRELOAD_LIB=%s: not a readable file\n", env);
			return -1;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash && (size_t)(slash - exe) + sizeof("/libdefuse.so") < cap) {
			strcpy(slash, "/libdefuse.so");
			if (readable_file(exe)) {
				strcpy(path, exe);
				return 0;
			}
		}
	}
	if (snprintf(path, cap, "%s/libdefuse.so", DEFUSE_LIBDIR) < (int)cap &&
	    readable_file(path))
		return 0;
	fprintf(stderr, "defuse: cannot find libdefuse.so (looked next to the defuse "
		"executable and in %s); set DEFUSE_PRELOAD_LIB\n", DEFUSE_LIBDIR);
	return -1;
}

static volatile sig_atomic_t root_child;

/* Termination requests are for the command; the CLI waits for it to end. */
static void forward_signal(int sig)
{
	if (root_child > 0)
		kill(root_child, sig);
}

/* Sets the environment up for DEFUSE and replaces this process by argv. */
static void exec_with_preload(char **argv, char *const *extra_env, const char *preload)
{
	const char *old = getenv("LD_PRELOAD");
	char *value;

	for (char *const *e = extra_env; e && *e; e++) {
		/* "root=self" names the traced command: this very process. */
		char *self = strstr(*e, "root=self");

		if (self) {
			char *v = malloc(strlen(*e) + 16);

			if (!v)
				_exit(127);
			sprintf(v, "%.*sroot=%d%s", (int)(self - *e), *e, (int)getpid(),
				self + strlen("root=self"));
			putenv(v);
		} else {
			putenv(*e);
		}
	}
	if (old && *old) {
		value = malloc(strlen(preload) + strlen(old) + 2);
		if (!value)
			_exit(127);
		sprintf(value, "%s:%s", preload, old);
	} else {
		value = (char *)preload;
	}
	setenv("LD_PRELOAD", value, 1);
	execvp(argv[0], argv);
	fprintf(stderr, "defuse: cannot run %s: %s\n", argv[0], strerror(errno));
}

int launch_exec(char **argv)
{
	char preload[PATH_MAX];

	if (launch_find_preload(preload, sizeof(preload)))
		return 127;
	fflush(NULL);
	exec_with_preload(argv, NULL, preload);
	return errno == ENOENT ? 127 : 126;
}

void launch_exit_like(int wstatus)
{
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		struct rlimit none = { 0, 0 };
		sigset_t set;

		/* Die of the same signal, without a core of our own. */
		setrlimit(RLIMIT_CORE, &none);
		fflush(NULL);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		exit(128 + sig);
	}
	exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 127);
}

int launch_and_wait(char **argv, char *const *extra_env, int *root_pid_out)
{
	char preload[PATH_MAX];
	struct sigaction sa = { .sa_handler = forward_signal };
	int status = 0, root_status = -1;
	pid_t pid;

	if (launch_find_preload(preload, sizeof(preload)))
		return 127;
	/* Orphaned grandchildren are reparented to us, so "the tree exited"
	   is simply "no children left". */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("defuse: fork");
		return 127;
	}
	if (pid == 0) {
		exec_with_preload(argv, extra_env, preload);
		_exit(errno == ENOENT ? 127 : 126);
	}
	root_child = pid;
	if (root_pid_out)
		*root_pid_out = pid;
	if (launch_started_hook)
		launch_started_hook(pid);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGINT, SIG_IGN);	/* the terminal sends it to the command too */
	signal(SIGQUIT, SIG_IGN);
	for (;;) {
		pid_t w = waitpid(-1, &status, 0);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD: the whole tree is gone */
		}
		if (w == pid)
			root_status = status;
	}
	return root_status < 0 ? 127 << 8 : root_status;
}
