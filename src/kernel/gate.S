/*
 * The gates: the only `syscall` instructions that Syscall User Dispatch lets
 * through ([defuse_gate_begin, defuse_gate_end) is SUD's allowed range, so
 * the kernel never consults the selector byte for them).  They are linked
 * with the rest of the exec path (EXEC_PATH, common/exec_layout.h).
 *
 * Two gates with the same code, so an observer can tell DEFUSE's own calls
 * (defuse_gate_own*) from the program's calls that DEFUSE passes on
 * (defuse_gate_forward*) by the instruction pointer alone: tests/capture
 * compares `defuse trace` with `strace -i` that way.
 *
 * C calling convention in, raw kernel convention out: nr in %rdi, the six
 * arguments in %rsi %rdx %rcx %r8 %r9 and the stack; the kernel's result
 * (negative errno on failure) comes back in %rax.
 */
	.section .text.hot.defuse_exec, "ax", @progbits

	.globl	defuse_gate_begin, defuse_gate_end
	.hidden	defuse_gate_begin, defuse_gate_end
	.globl	defuse_gate_own_begin, defuse_gate_own_end
	.hidden	defuse_gate_own_begin, defuse_gate_own_end
	.globl	defuse_gate_forward_begin, defuse_gate_forward_end
	.hidden	defuse_gate_forward_begin, defuse_gate_forward_end

.macro	SYSCALL6
	movq	%rdi, %rax
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	movq	%rcx, %rdx
	movq	%r8, %r10
	movq	%r9, %r8
	movq	8(%rsp), %r9
	syscall
	ret
.endm

defuse_gate_begin:
defuse_gate_own_begin:

	.globl	defuse_gate_own
	.hidden	defuse_gate_own
	.type	defuse_gate_own, @function
defuse_gate_own:
	SYSCALL6
	.size	defuse_gate_own, . - defuse_gate_own

/* sa_restorer of DEFUSE's own SIGSYS handler: the handler returns here. */
	.globl	defuse_gate_own_sigreturn
	.hidden	defuse_gate_own_sigreturn
	.type	defuse_gate_own_sigreturn, @function
defuse_gate_own_sigreturn:
	movl	$15, %eax		/* __NR_rt_sigreturn */
	syscall
	ud2
	.size	defuse_gate_own_sigreturn, . - defuse_gate_own_sigreturn

defuse_gate_own_end:
defuse_gate_forward_begin:

	.globl	defuse_gate_forward
	.hidden	defuse_gate_forward
	.type	defuse_gate_forward, @function
defuse_gate_forward:
	SYSCALL6
	.size	defuse_gate_forward, . - defuse_gate_forward

/*
 * The program's own rt_sigreturn.  A trampoline jumps here (no call, so %rsp
 * still points at the signal frame) after counting the call.
 */
	.globl	defuse_gate_forward_sigreturn
	.hidden	defuse_gate_forward_sigreturn
	.type	defuse_gate_forward_sigreturn, @function
defuse_gate_forward_sigreturn:
	movl	$15, %eax
	syscall
	ud2
	.size	defuse_gate_forward_sigreturn, . - defuse_gate_forward_sigreturn

/*
 * defuse_gate_forward_sigreturn_at(frame): rt_sigreturn with %rsp at a signal
 * frame further up the stack.  The SIGSYS handler uses it when the trapped
 * call was itself an rt_sigreturn: the handler's own frame is dropped and the
 * program's frame is restored, as if the trap had never happened.
 */
	.globl	defuse_gate_forward_sigreturn_at
	.hidden	defuse_gate_forward_sigreturn_at
	.type	defuse_gate_forward_sigreturn_at, @function
defuse_gate_forward_sigreturn_at:
	movq	%rdi, %rsp
	movl	$15, %eax
	syscall
	ud2
	.size	defuse_gate_forward_sigreturn_at, . - defuse_gate_forward_sigreturn_at

/*
 * defuse_gate_forward_clone: a clone-family call that makes a thread on a
 * new stack (CLONE_VM) and that the net caught.  The child cannot start in
 * the SIGSYS handler: it would run the handler's return on a stack that is
 * not its own.  So the handler only points the interrupted context here and
 * returns; this code then runs with the program's registers exactly as they
 * were at its `syscall` (nr in %rax), does what a trampoline does for the
 * clone family, and resumes after the program's `syscall`: the parent at
 * defuse_sud_clone_resume (its TLS), the child at the address the handler
 * left just below the child's stack top (the child may get a new TLS).
 * Capture's hooks are reached through defuse_gate_hooks (kernel.h), which
 * capture fills at start-up: this layer names nothing above it.
 * %rcx and %r11 are free afterwards, as a `syscall` clobbers them.
 */
	.globl	defuse_gate_forward_clone
	.hidden	defuse_gate_forward_clone
	.type	defuse_gate_forward_clone, @function
defuse_gate_forward_clone:
	leaq	-128(%rsp), %rsp		/* the red zone stays intact */
	movq	defuse_gate_hooks+0(%rip), %r11	/* clone_before */
	call	*defuse_gate_hooks+24(%rip)
	leaq	128(%rsp), %rsp
	syscall
	testq	%rax, %rax
	jnz	1f
	leaq	-128(%rsp), %rsp		/* child, on its own stack */
	movq	defuse_gate_hooks+8(%rip), %r11	/* clone_child */
	call	*defuse_gate_hooks+24(%rip)
	leaq	128(%rsp), %rsp
	jmp	*-8(%rsp)
1:	leaq	-128(%rsp), %rsp		/* parent (or the error) */
	movq	defuse_gate_hooks+16(%rip), %r11	/* clone_parent */
	call	*defuse_gate_hooks+24(%rip)
	leaq	128(%rsp), %rsp
	movq	defuse_sud_clone_resume@gottpoff(%rip), %r11
	jmp	*%fs:(%r11)
	.size	defuse_gate_forward_clone, . - defuse_gate_forward_clone

defuse_gate_forward_end:
defuse_gate_end:

	.section .note.GNU-stack, "", @progbits
