/* A statically linked program: DEFUSE cannot be loaded into it (run.py,
   case static-program). */
#include <stdio.h>

int main(void)
{
	puts("static ran");
	return 0;
}
