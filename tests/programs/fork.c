/* fork; the child makes a few calls and exits; the parent waits. */
#include "prog.h"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	pid_t parent = getpid(), pid;
	int status;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (getppid() != parent || fd < 0 || write(fd, "child", 5) != 5)
			_exit(2);
		close(fd);
		_exit(7);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);

	/* A second generation: the child forks a grandchild. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pid_t g = fork();
		if (g < 0)
			_exit(2);
		if (g == 0)
			_exit(getppid() > 0 ? 0 : 3);
		_exit(waitpid(g, &status, 0) == g && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0 ? 0 : 4);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}
