/*
 * Reading and writing the program's memory at addresses it passed in system
 * call arguments.  A bad pointer must give the program EFAULT, as the kernel
 * would, and never crash DEFUSE, so these go through process_vm_readv and
 * process_vm_writev on ourselves: the kernel checks the address for us.
 */
#include <errno.h>
#include <sys/uio.h>
#include "kernel/kernel.h"
#include "common/exec_layout.h"

/*
 * The pid is cached per thread, refreshed at start-up, in every clone child
 * and in the parent after a clone (a vfork child wrote its own pid into the
 * TLS it shares with the suspended parent thread).  Not a global: a vfork
 * child must not change what the parent's other threads use.
 */
EXEC_PATH void defuse_usermem_refresh_pid(void)
{
	defuse_self.pid = sys0(SYS_getpid);
	defuse_self.tid = sys0(SYS_gettid);
}

long defuse_read_user(void *dst, const void *src, unsigned long n)
{
	struct iovec local = { dst, n }, remote = { (void *)src, n };

	return sys6(SYS_process_vm_readv, defuse_self.pid,
		    &local, 1, &remote, 1, 0);
}

long defuse_write_user(void *dst, const void *src, unsigned long n)
{
	struct iovec local = { (void *)src, n }, remote = { dst, n };

	return sys6(SYS_process_vm_writev, defuse_self.pid,
		    &local, 1, &remote, 1, 0);
}

int defuse_copy_in(void *dst, const void *src, unsigned long n)
{
	return (unsigned long)defuse_read_user(dst, src, n) == n ? 0 : -EFAULT;
}

int defuse_copy_out(void *dst, const void *src, unsigned long n)
{
	return (unsigned long)defuse_write_user(dst, src, n) == n ? 0 : -EFAULT;
}
