/*
 * A program DEFUSE does not run in (linked statically: the preload never
 * loads), for life's `outsider` case:
 *
 *     outsider FD EXPECTED
 *
 * Reads descriptor FD from offset 0.  Prints "loud" if the read failed with
 * EBADF (an emulated file's placeholder reached a process that cannot serve
 * it), "right" if it returned exactly EXPECTED (a kernel-backed or native
 * file), and "WRONG ..." for anything else: data that is not the file's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[256];
	ssize_t n;

	if (argc != 3) {
		fprintf(stderr, "usage: outsider FD EXPECTED\n");
		return 2;
	}
	n = pread(atoi(argv[1]), buf, sizeof(buf) - 1, 0);
	if (n < 0 && errno == EBADF) {
		puts("loud");
		return 0;
	}
	if (n >= 0 && (size_t)n == strlen(argv[2]) && !memcmp(buf, argv[2], n)) {
		puts("right");
		return 0;
	}
	printf("WRONG: %zd bytes\n", n);
	return 1;
}
