/*
 * A library loaded with dlopen by tests/programs/dlopen.c.  It makes system
 * calls both through libc and through `syscall` instructions of its own,
 * which no patching done at the program's start-up can have seen (rawsys4()
 * from tests/common/rawsys.h, always inlined: the instruction is in this
 * library's text).
 */
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "rawsys.h"

__attribute__((visibility("default"))) int syscaller_run(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd < 0)
			return 1;
		if (rawsys4(SYS_write, fd, (long)"lib", 3, 0) != 3)
			return 2;
		if (write(fd, "libc", 4) != 4)
			return 3;
		if (rawsys4(SYS_getppid, 0, 0, 0, 0) != getppid())
			return 4;
		if (rawsys4(SYS_close, fd, 0, 0, 0) != 0)
			return 5;
	}
	return 0;
}
