/*
 * Raw system calls made by DEFUSE itself.
 *
 * Every system call that DEFUSE (or, later, a module) makes goes through one
 * of the two gates in capture/gate.S.  The gates live in the one address range
 * that Syscall User Dispatch lets through, so these calls are never trapped
 * and never captured again.  Two gates, not one, so that an outside observer
 * (strace -i, see tests/capture) can tell DEFUSE's own calls from the calls it
 * forwards for the program:
 *
 *   defuse_gate_own      calls DEFUSE makes for itself
 *   defuse_gate_forward  the program's calls, passed on to the kernel
 *
 * Both return the kernel's raw result: a negative errno on failure.
 */
#ifndef DEFUSE_COMMON_SYS_H
#define DEFUSE_COMMON_SYS_H

#include <sys/syscall.h>

long defuse_gate_own(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
long defuse_gate_forward(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

/* Bounds of the gate section (SUD's allowed range) and of each gate. */
extern const char defuse_gate_begin[], defuse_gate_end[];
extern const char defuse_gate_own_begin[], defuse_gate_own_end[];
extern const char defuse_gate_forward_begin[], defuse_gate_forward_end[];

#define sys0(n)                 defuse_gate_own((n), 0, 0, 0, 0, 0, 0)
#define sys1(n, a)              defuse_gate_own((n), (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b)           defuse_gate_own((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c)        defuse_gate_own((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d)     defuse_gate_own((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e)  defuse_gate_own((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define sys6(n, a, b, c, d, e, f) \
	defuse_gate_own((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* True when a raw result is an error (-4095 .. -1), as the kernel ABI says. */
static inline int sys_failed(long r) { return (unsigned long)r > -4096UL; }

#endif
