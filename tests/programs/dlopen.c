/*
 * dlopen a small library (argv[1], libsyscaller) after start-up, and call a
 * function in it, found by dlsym, that makes system calls, some through its
 * own `syscall` instructions.
 */
#include "prog.h"
#include <dlfcn.h>

int main(int argc, char **argv)
{
	void *h;
	int (*run)(int);

	CHECK(argc == 2);
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	run = (int (*)(int))dlsym(h, "syscaller_run");
	CHECK(run);
	CHECK(run(3) == 0);
	CHECK(dlclose(h) == 0);
	return 0;
}
