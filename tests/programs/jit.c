/*
 * `syscall` instructions in code written at run time (like a JIT): no
 * patching at load time can have seen them, so only the SUD net catches
 * them.  With DEFUSE_NET=off they escape, which the capture tests also
 * check (capture-jit-net-off).  The stub comes from rawsys_jit4()
 * (tests/common/rawsys.h).
 */
#include "prog.h"
#include "rawsys.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	rawsys_fn4 stub;
	int fd;

	stub = rawsys_jit4();
	CHECK(stub != NULL);

	for (int i = 0; i < 3; i++)
		CHECK(stub(SYS_getppid, 0, 0, 0, 0) == getppid());
	fd = open("/dev/null", O_WRONLY);
	CHECK(fd >= 0);
	for (int i = 0; i < 3; i++)
		CHECK(stub(SYS_write, fd, (long)"jit", 3, 0) == 3);
	CHECK(close(fd) == 0);
	CHECK(munmap((void *)stub, RAWSYS_JIT_SIZE) == 0);
	return 0;
}
