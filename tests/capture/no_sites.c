/*
 * A program whose code has `syscall`'s byte pair (0f 05) many times, each
 * inside another instruction (the immediate of a mov), and no system call
 * instruction of its own: its plan has no sites.  Such a plan must be
 * cached like any other (images.sh), or the planner runs at every start:
 * gcc's cc1 is such an object, 20 MB of code planned in 0.15 s per compile.
 * The code is more than the 64 KiB that objects.c scans without its cache.
 */
__asm__(".text\n"
	".globl pairs_inside\n"
	".type pairs_inside, @function\n"
	"pairs_inside:\n"
	".rept 20000\n"
	"movl $0x050f, %eax\n"
	".endr\n"
	"ret\n");

int pairs_inside(void);

int main(void)
{
	return pairs_inside() == 0x050f ? 0 : 1;
}
