/*
 * `syscall` instructions in the program's own code (not in libc): getppid
 * and write to /dev/null, compared with what libc's wrappers return.
 */
#include "prog.h"
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	long ret;
	int fd;

	for (int i = 0; i < 3; i++) {
		__asm__ volatile("syscall"
				 : "=a"(ret)
				 : "0"((long)SYS_getppid)
				 : "rcx", "r11", "memory");
		CHECK(ret == getppid());
	}

	fd = open("/dev/null", O_WRONLY);
	CHECK(fd >= 0);
	for (int i = 0; i < 3; i++) {
		static const char msg[] = "inline";
		register long rdi __asm__("rdi") = fd;
		register long rsi __asm__("rsi") = (long)msg;
		register long rdx __asm__("rdx") = sizeof msg - 1;

		__asm__ volatile("syscall"
				 : "=a"(ret)
				 : "0"((long)SYS_write), "r"(rdi), "r"(rsi), "r"(rdx)
				 : "rcx", "r11", "memory");
		CHECK(ret == (long)sizeof msg - 1);
	}
	CHECK(close(fd) == 0);
	return 0;
}
