/* popen("echo hi") and read its output through the pipe. */
#include "prog.h"

int main(void)
{
	char buf[64];
	FILE *p = popen("echo hi", "r");

	CHECK(p);
	CHECK(fgets(buf, sizeof buf, p) != NULL);
	CHECK(strcmp(buf, "hi\n") == 0);
	CHECK(fgets(buf, sizeof buf, p) == NULL);
	CHECK(pclose(p) == 0);
	return 0;
}
