/*
 * Glue between generated trampolines and C.
 */
	/* Beside the rest of the exec path (EXEC_PATH, common/exec_layout.h):
	   every captured call of a fork child comes through here. */
	.section .text.hot.defuse_exec, "ax", @progbits

/*
 * defuse_tramp_hook: called from a trampoline with the program's registers as
 * they were at the `syscall` instruction (nr in %rax, arguments in %rdi %rsi
 * %rdx %r10 %r8 %r9), the C hook to run in %r11, and %rsp already moved below
 * the 128-byte red zone.  Builds a struct defuse_syscall {nr, a[6]} on the
 * stack, calls hook(&sc) on an aligned stack and returns its result in %rax.
 *
 * Preserves every register a `syscall` instruction preserves.  %rcx and %r11
 * are clobbered, as the instruction clobbers them.  The vector registers are
 * preserved because every C function reachable from here is compiled with
 * -mgeneral-regs-only (see src/meson.build).
 */
	.globl	defuse_tramp_hook
	.hidden	defuse_tramp_hook
	.type	defuse_tramp_hook, @function
defuse_tramp_hook:
	pushq	%r9
	pushq	%r8
	pushq	%r10
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rax
	pushq	%rbx
	leaq	8(%rsp), %rdi
	movq	%rsp, %rbx
	andq	$-16, %rsp
	call	*%r11
	movq	%rbx, %rsp
	popq	%rbx
	leaq	8(%rsp), %rsp		/* the nr slot; lea keeps the flags */
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%r10
	popq	%r8
	popq	%r9
	ret
	.size	defuse_tramp_hook, . - defuse_tramp_hook

/*
 * long defuse_call_xsaved(long (*fn)(void *), void *arg, uintptr_t stack_top)
 *
 * Runs fn(arg) with the whole extended register state (x87, SSE, AVX, ...)
 * saved around it.  Slow paths reached from a syscall site that must call
 * ordinary C code (capstone, when a library is dlopen'ed) go through here,
 * because the program expects its vector registers to survive a syscall.
 * defuse_xsave_size is set at start-up from CPUID leaf 0xD; 0 means the CPU
 * has no XSAVE and FXSAVE's 512 bytes are used instead.  XSAVEC, where the
 * CPU has it (defuse_xsave_compact), writes only the components in use, and
 * XRSTOR reads either format.  With stack_top not 0, fn runs on that stack
 * (DEFUSE's own, cold_stack.c), the save area too.
 */
	.globl	defuse_call_xsaved
	.hidden	defuse_call_xsaved
	.type	defuse_call_xsaved, @function
defuse_call_xsaved:
	pushq	%rbp
	movq	%rsp, %rbp
	pushq	%rbx
	pushq	%r12
	movq	%rdi, %rbx
	movq	%rsi, %r12
	testq	%rdx, %rdx
	jz	1f
	movq	%rdx, %rsp
1:	movq	defuse_xsave_size(%rip), %rax
	testq	%rax, %rax
	jz	.Lfx
	subq	%rax, %rsp
	andq	$-64, %rsp
	/* XRSTOR faults unless the header's reserved bytes are zero. */
	xorl	%ecx, %ecx
.Lzero:
	movq	$0, 512(%rsp, %rcx, 8)
	incl	%ecx
	cmpl	$8, %ecx
	jne	.Lzero
	movl	$-1, %eax
	movl	$-1, %edx
	cmpq	$0, defuse_xsave_compact(%rip)
	je	2f
	xsavec64 (%rsp)
	jmp	3f
2:	xsave64	(%rsp)
3:	movq	%r12, %rdi
	call	*%rbx
	movq	%rax, %rbx
	movl	$-1, %eax
	movl	$-1, %edx
	xrstor64 (%rsp)
	jmp	.Lout
.Lfx:
	subq	$512, %rsp
	andq	$-16, %rsp
	fxsave64 (%rsp)
	movq	%r12, %rdi
	call	*%rbx
	movq	%rax, %rbx
	fxrstor64 (%rsp)
.Lout:
	movq	%rbx, %rax
	leaq	-16(%rbp), %rsp
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.size	defuse_call_xsaved, . - defuse_call_xsaved

	.section .note.GNU-stack, "", @progbits
