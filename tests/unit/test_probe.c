/*
 * defuse_probe_strnlen (kernel/probe.S) on readable memory: every head
 * alignment, length and limit against the plain definition.  What it does
 * on a bad pointer needs capture's fault handler: tests/reliability,
 * bad-pointers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/kernel.h"

static void test_lengths(void **state)
{
	char buf[128];

	(void)state;
	for (int off = 0; off < 16; off++)
		for (int len = 0; len < 48; len++)
			for (unsigned long max = 0; max < 64; max++) {
				memset(buf, 'x', sizeof(buf));
				buf[off + len] = 0;
				assert_int_equal(defuse_probe_strnlen(buf + off, max),
						 len < (long)max ? len : (long)max);
			}
}

/* Bytes with the high bit set, or 0x01, must not look like an end. */
static void test_byte_values(void **state)
{
	static const unsigned char fill[] = { 0x80, 0xff, 0x01, 0x7f, 0xfe };
	char buf[128];

	(void)state;
	for (unsigned i = 0; i < sizeof(fill); i++)
		for (int end = 0; end < 40; end++) {
			memset(buf, fill[i], sizeof(buf));
			buf[3 + end] = 0;
			assert_int_equal(defuse_probe_strnlen(buf + 3, 100), end);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_byte_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
