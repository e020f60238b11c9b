/*
 * exec_fds: the cost of an exec that inherits N open descriptors.
 *
 *   exec_fds DIR N EXECS
 *
 * Opens one file in DIR N times (without close-on-exec), then times EXECS
 * sequential fork + exec + wait of this program, whose child image exits at
 * once.  Run natively, the descriptors are the kernel's; run under
 * `defuse run -m MNT=...` with DIR inside MNT, they are DEFUSE descriptors
 * (kernel-backed or emulated) that every new image has to take over at
 * start-up (FD stashing); with DIR outside the mounts, the same run measures
 * capture's own start-up with N kernel descriptors.
 *
 * One untimed exec first checks that the child can read the file's byte
 * through every one of the N descriptors, so a figure is never that of an
 * exec that lost its descriptors.  Prints exec_us (per exec) and the
 * children's context switches (exec_vcs, exec_ivcs, per exec).  Exit status
 * 0 on success, 1 with a message on any error, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long number(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end || v < 0) {
		fprintf(stderr, "exec_fds: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* The check image: every listed descriptor must read back the marker. */
static int child_check(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		int fd = (int)number(argv[i]);
		char c = 0;
		if (pread(fd, &c, 1, 0) != 1 || c != 'x') {
			fprintf(stderr, "exec_fds: inherited descriptor %d: %s\n",
				fd, c ? "wrong data" : strerror(errno));
			return 1;
		}
	}
	return 0;
}

static int run(char **argv)
{
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		perror("exec_fds: fork");
		exit(1);
	}
	if (pid == 0) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("exec_fds: waitpid");
			exit(1);
		}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--child"))
		return 0;
	if (argc >= 2 && !strcmp(argv[1], "--check"))
		return child_check(argc, argv);
	if (argc != 4) {
		fprintf(stderr, "usage: exec_fds DIR N EXECS\n");
		return 2;
	}
	long n = number(argv[2]), execs = number(argv[3]);
	if (n < 1 || execs < 1) {
		fprintf(stderr, "exec_fds: N and EXECS must be at least 1\n");
		return 2;
	}

	/* N descriptors may exceed the default soft limit of 1024. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)n + 64 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = (rlim_t)n + 64 < rl.rlim_max ? (rlim_t)n + 64
							  : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	char path[4096];
	snprintf(path, sizeof path, "%s/exec-fds-%d", argv[1], (int)getpid());
	int wfd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (wfd < 0 || write(wfd, "x", 1) != 1 || close(wfd) != 0) {
		fprintf(stderr, "exec_fds: %s: %s\n", path, strerror(errno));
		return 1;
	}
	int *fds = malloc(n * sizeof *fds);
	char **check = malloc((n + 3) * sizeof *check);
	if (!fds || !check) {
		perror("exec_fds: malloc");
		unlink(path);
		return 1;
	}
	check[0] = argv[0];
	check[1] = "--check";
	for (long i = 0; i < n; i++) {
		fds[i] = open(path, O_RDONLY);
		if (fds[i] < 0) {
			fprintf(stderr, "exec_fds: open #%ld of %s: %s\n", i + 1,
				path, strerror(errno));
			unlink(path);
			return 1;
		}
		if (asprintf(&check[i + 2], "%d", fds[i]) < 0) {
			perror("exec_fds: asprintf");
			unlink(path);
			return 1;
		}
	}
	check[n + 2] = NULL;

	int rc = run(check);
	if (rc != 0) {
		fprintf(stderr, "exec_fds: the check image failed (status %d)\n",
			rc);
		unlink(path);
		return 1;
	}

	char *child[] = {argv[0], "--child", NULL};
	struct rusage r0, r1;
	getrusage(RUSAGE_CHILDREN, &r0);
	double t0 = now_us();
	for (long i = 0; i < execs; i++)
		if ((rc = run(child)) != 0) {
			fprintf(stderr, "exec_fds: child failed (status %d)\n",
				rc);
			unlink(path);
			return 1;
		}
	double t = now_us();
	getrusage(RUSAGE_CHILDREN, &r1);
	printf("exec_us=%.2f\n", (t - t0) / execs);
	printf("exec_vcs=%.2f\nexec_ivcs=%.2f\n",
	       (double)(r1.ru_nvcsw - r0.ru_nvcsw) / execs,
	       (double)(r1.ru_nivcsw - r0.ru_nivcsw) / execs);

	for (long i = 0; i < n; i++)
		close(fds[i]);
	if (unlink(path) != 0) {
		fprintf(stderr, "exec_fds: unlink %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	return 0;
}
