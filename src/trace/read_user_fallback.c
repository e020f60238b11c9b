/*
 * defuse_read_user() for unit tests, where the "traced program" is the test
 * itself and its memory can simply be copied.  Weak, so a test can supply
 * its own (one that fails with -EFAULT, say).  The preload library does not
 * link this file: there the capture engine provides the real one, which
 * reads with process_vm_readv() so that a bad pointer cannot crash anything.
 *
 * The formatter reads strings in chunks that stop at a page boundary, not
 * at the end of the string, so it may copy bytes past the end of the
 * object it was pointed at (harmless: the page is mapped).  AddressSanitizer
 * would call that an overflow, hence a plain loop it does not instrument.
 */
#include "trace/format.h"

__attribute__((weak, no_sanitize_address))
long defuse_read_user(void *dst, const void *src, unsigned long n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	for (unsigned long i = 0; i < n; i++)
		d[i] = s[i];
	return (long)n;
}
