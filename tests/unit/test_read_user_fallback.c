/*
 * read_user_fallback.c: the memcpy stand-in for defuse_read_user() that unit
 * tests (and only they) link, driven through the formatter as a test of
 * format.c would drive it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/syscall.h>

#include "trace/format.h"

static void test_copies_and_returns_length(void **state)
{
	char dst[8] = "-------";

	(void)state;
	assert_int_equal(defuse_read_user(dst, "abc", 3), 3);
	assert_memory_equal(dst, "abc----", 8);
	assert_int_equal(defuse_read_user(dst, "x", 0), 0);
}

static void test_formatter_reads_through_it(void **state)
{
	const long arg[6] = { 1, (long)(uintptr_t)"hi\n", 3 };
	char buf[128];
	struct fmt f;

	(void)state;
	fmt_init(&f, buf, sizeof(buf));
	trace_format_call(&f, __NR_write, arg, 3, 1);
	assert_string_equal(fmt_cstr(&f), "write(1, \"hi\\n\", 3)                     = 3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copies_and_returns_length),
		cmocka_unit_test(test_formatter_reads_through_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
