/*
 * Reading the program's memory where a bad pointer must give EFAULT, not
 * a crash, on the hot path, where process_vm_readv (a system call, about
 * 1 us) costs too much: the loads below may fault, and when one does,
 * DEFUSE's SIGSEGV/SIGBUS handler (capture/signals.c) sees the faulting
 * instruction inside [defuse_probe_begin, defuse_probe_end) and resumes at
 * defuse_probe_fault, which returns -EFAULT, as the kernel's exception
 * tables do for copy_from_user.  Nothing here touches the stack before the
 * load, so the resumed `ret` returns to the caller.
 */
	/* The exec path (EXEC_PATH, common/exec_layout.h) reads the program's
	   strings through here. */
	.section .text.hot.defuse_exec, "ax", @progbits
	.globl	defuse_probe_begin, defuse_probe_end, defuse_probe_fault
	.hidden	defuse_probe_begin, defuse_probe_end, defuse_probe_fault

/*
 * long defuse_probe_strnlen(const char *s, unsigned long max):
 * the length of s if it ends within max bytes, max if not, -EFAULT if a
 * byte before its end (or before max) cannot be read.
 *
 * Bytes one at a time up to an 8-byte boundary, then words: an aligned
 * word never crosses a page, so it reads nothing the bytes before the end
 * (or before max) would not have made fault.  A word holds a zero byte
 * when (w - 0x01..01) & ~w & 0x80..80 is not zero, and its lowest set bit
 * marks the first one.
 */
	.globl	defuse_probe_strnlen
	.hidden	defuse_probe_strnlen
	.type	defuse_probe_strnlen, @function
defuse_probe_strnlen:
	xorl	%eax, %eax
defuse_probe_begin:
1:	cmpq	%rsi, %rax		/* the head, byte by byte */
	jae	9f
	leaq	(%rdi,%rax), %rcx
	testb	$7, %cl
	jz	2f
	cmpb	$0, (%rcx)
	je	9f
	incq	%rax
	jmp	1b
2:	movabsq	$0x0101010101010101, %r8
	movabsq	$0x8080808080808080, %r9
3:	movq	(%rdi,%rax), %rcx	/* aligned words */
	movq	%rcx, %rdx
	subq	%r8, %rdx
	notq	%rcx
	andq	%rcx, %rdx
	andq	%r9, %rdx
	jnz	4f
	addq	$8, %rax
	cmpq	%rsi, %rax
	jb	3b
	movq	%rsi, %rax		/* no end within max */
	ret
4:	bsfq	%rdx, %rdx		/* the first zero byte */
	shrq	$3, %rdx
	addq	%rdx, %rax
	cmpq	%rsi, %rax
	jbe	9f
	movq	%rsi, %rax
9:	ret
	.size	defuse_probe_strnlen, . - defuse_probe_strnlen

/*
 * long defuse_probe_read(void *dst, const void *src, unsigned long n):
 * copies n bytes of the program's; 0, or -EFAULT.
 */
	.globl	defuse_probe_read
	.hidden	defuse_probe_read
	.type	defuse_probe_read, @function
defuse_probe_read:
	xorl	%ecx, %ecx
3:	cmpq	%rdx, %rcx
	jae	4f
	movzbl	(%rsi,%rcx), %eax
	movb	%al, (%rdi,%rcx)
	incq	%rcx
	jmp	3b
4:	xorl	%eax, %eax
	ret
	.size	defuse_probe_read, . - defuse_probe_read
defuse_probe_end:

	.type	defuse_probe_fault, @function
defuse_probe_fault:
	movq	$-14, %rax		/* -EFAULT */
	ret
	.size	defuse_probe_fault, . - defuse_probe_fault

	.section .note.GNU-stack, "", @progbits
