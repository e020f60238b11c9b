/* system("true"): glibc's posix_spawn of /bin/sh -c, with signal juggling. */
#include "prog.h"
#include <sys/wait.h>

int main(void)
{
	int status = system("true");

	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	status = system("exit 3");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	return 0;
}
