/* posix_spawn of /bin/true, then waitpid. */
#include "prog.h"
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(void)
{
	char *argv[] = { "true", NULL };
	pid_t pid;
	int status;

	for (int i = 0; i < 2; i++) {
		CHECK(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0);
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK(posix_spawnp(&pid, "true", NULL, NULL, argv, environ) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}
