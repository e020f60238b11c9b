/*
 * Raw clone3 through syscall(2) with fork-like arguments (no CLONE_VM, no
 * new stack, exit_signal SIGCHLD): the child returns from the same call site
 * on a copy of the parent's stack.
 */
#include "prog.h"
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	struct clone_args args;
	pid_t parent = getpid();
	long pid;
	int status;

	memset(&args, 0, sizeof args);
	args.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &args, sizeof args);
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (getppid() != parent || fd < 0 || write(fd, "clone3", 6) != 6)
			_exit(2);
		close(fd);
		_exit(5);
	}
	CHECK(waitpid((pid_t)pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);
	return 0;
}
