/*
 * `syscall` instructions in the program's own code (not in libc): getppid
 * and write to /dev/null, compared with what libc's wrappers return.
 * rawsys4() (tests/common/rawsys.h) is always inlined, so the instruction is
 * in main() here.
 */
#include "prog.h"
#include "rawsys.h"
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	long ret;
	int fd;

	for (int i = 0; i < 3; i++) {
		ret = rawsys4(SYS_getppid, 0, 0, 0, 0);
		CHECK(ret == getppid());
	}

	fd = open("/dev/null", O_WRONLY);
	CHECK(fd >= 0);
	for (int i = 0; i < 3; i++) {
		static const char msg[] = "inline";

		ret = rawsys4(SYS_write, fd, (long)msg, sizeof msg - 1, 0);
		CHECK(ret == (long)sizeof msg - 1);
	}
	CHECK(close(fd) == 0);
	return 0;
}
