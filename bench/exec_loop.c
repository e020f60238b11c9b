/*
 * exec_loop: time N sequential fork + exec + wait of a program.
 *
 *   exec_loop N PROGRAM [ARGS...]
 *
 * Run under `defuse run`, every child inherits the preload, so the time per
 * exec includes DEFUSE's start-up in each new image.  Prints
 * "ms_per_exec=X".  Exits non-zero if a child fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	long n;
	double t0;

	if (argc < 3) {
		fprintf(stderr, "usage: exec_loop N PROGRAM [ARGS...]\n");
		return 2;
	}
	n = atol(argv[1]);
	t0 = now_ms();
	for (long i = 0; i < n; i++) {
		int st;
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR) {
				perror("waitpid");
				return 2;
			}
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "exec_loop: %s failed (status %#x)\n",
				argv[2], st);
			return 1;
		}
	}
	printf("ms_per_exec=%.4f\n", (now_ms() - t0) / (double)n);
	return 0;
}
