/*
 * defuse_read_user() for unit tests, where the "traced program" is the test
 * itself and its memory can simply be copied.  Weak, so a test can supply
 * its own (one that fails with -EFAULT, say).  The preload library does not
 * link this file: there the capture engine provides the real one, which
 * reads with process_vm_readv() so that a bad pointer cannot crash anything.
 */
#include "trace/format.h"

#include "common/util.h"

__attribute__((weak)) long defuse_read_user(void *dst, const void *src,
					    unsigned long n)
{
	memcpy(dst, src, n);
	return (long)n;
}
