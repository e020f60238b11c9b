/*
 * Re-executes itself 3 times with an EMPTY environment (like `env -i`), the
 * generation counted in argv[1].  LD_PRELOAD is gone after the first exec,
 * so a capture layer has to carry itself across.
 */
#include "prog.h"
#include <fcntl.h>
#include <unistd.h>

#define GENERATIONS 3

int main(int argc, char **argv)
{
	int gen = argc > 1 ? atoi(argv[1]) : 0;
	char next[16];
	char *nargv[] = { "reexec", next, NULL };
	char *nenvp[] = { NULL };
	int fd;

	/* Some work in every image, so that every image has calls to count. */
	fd = open("/dev/null", O_WRONLY);
	CHECK(fd >= 0);
	CHECK(write(fd, "gen", 3) == 3);
	CHECK(close(fd) == 0);
	CHECK(getppid() > 0);

	if (gen >= GENERATIONS)
		return 0;
	snprintf(next, sizeof next, "%d", gen + 1);
	execve("/proc/self/exe", nargv, nenvp);
	CHECK(!"execve failed");
	return 1;
}
