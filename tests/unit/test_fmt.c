/*
 * fmt.c: the bounded formatter.  Beyond the happy path, what matters is
 * that it never writes past its buffer, always leaves room for the
 * terminator, and escapes bytes exactly as strace does.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/fmt.h"
#include "common/util.h"

static char buf[256];
static struct fmt f;

static int setup(void **state)
{
	(void)state;
	memset(buf, 'X', sizeof(buf));
	fmt_init(&f, buf, sizeof(buf));
	return 0;
}

static void test_strings_and_chars(void **state)
{
	(void)state;
	fmt_str(&f, "open");
	fmt_char(&f, '(');
	fmt_strn(&f, "abcdef", 3);
	fmt_str(&f, "");
	fmt_repeat(&f, ' ', 2);
	fmt_char(&f, ')');
	assert_string_equal(fmt_cstr(&f), "open(abc  )");
	assert_int_equal(f.len, 11);
	assert_false(f.truncated);
}

static void test_decimal(void **state)
{
	(void)state;
	fmt_dec(&f, 0);
	fmt_char(&f, ' ');
	fmt_dec(&f, -1);
	fmt_char(&f, ' ');
	fmt_dec(&f, 1234567);
	fmt_char(&f, ' ');
	fmt_dec(&f, LONG_MIN);
	fmt_char(&f, ' ');
	fmt_dec(&f, LONG_MAX);
	fmt_char(&f, ' ');
	fmt_udec(&f, ULONG_MAX);
	assert_string_equal(fmt_cstr(&f),
		"0 -1 1234567 -9223372036854775808 9223372036854775807 18446744073709551615");
}

/* "%#lx" and "%#lo": zero has no prefix. */
static void test_hex_and_octal(void **state)
{
	(void)state;
	fmt_hex(&f, 0);
	fmt_char(&f, ' ');
	fmt_hex(&f, 0x1f);
	fmt_char(&f, ' ');
	fmt_hex(&f, 0x7ffdeadbeef0);
	fmt_char(&f, ' ');
	fmt_hex(&f, ULONG_MAX);
	fmt_char(&f, ' ');
	fmt_oct(&f, 0);
	fmt_char(&f, ' ');
	fmt_oct(&f, 0644);
	fmt_char(&f, ' ');
	fmt_oct(&f, 02000000);
	assert_string_equal(fmt_cstr(&f),
		"0 0x1f 0x7ffdeadbeef0 0xffffffffffffffff 0 0644 02000000");
}

static void test_quoted_escapes(void **state)
{
	static const char in[] = "a\"b\\c\td\ne\vf\fg\rh";

	(void)state;
	fmt_quoted(&f, in, sizeof(in) - 1, 32);
	assert_string_equal(fmt_cstr(&f), "\"a\\\"b\\\\c\\td\\ne\\vf\\fg\\rh\"");
}

/* Octal escapes are as short as possible unless an octal digit follows. */
static void test_quoted_octal(void **state)
{
	static const char in[] = "\0\001" "1\177\2008\200" "7\377";

	(void)state;
	fmt_quoted(&f, in, sizeof(in) - 1, 32);
	assert_string_equal(fmt_cstr(&f), "\"\\0\\0011\\177\\2008\\2007\\377\"");
}

static void test_quoted_ellipsis(void **state)
{
	(void)state;
	fmt_quoted(&f, "0123456789", 10, 4);
	fmt_char(&f, ' ');
	fmt_quoted(&f, "0123", 4, 4);
	fmt_char(&f, ' ');
	fmt_quoted(&f, "", 0, 4);
	assert_string_equal(fmt_cstr(&f), "\"0123\"... \"0123\" \"\"");
}

/* The last byte shown does not look at the one after it (strace neither). */
static void test_quoted_cut_before_digit(void **state)
{
	(void)state;
	fmt_quoted(&f, "ab\0001", 4, 3);
	assert_string_equal(fmt_cstr(&f), "\"ab\\0\"...");
}

static void test_escaped_next_byte(void **state)
{
	(void)state;
	fmt_escaped(&f, "\n\001", 2, '5');
	fmt_char(&f, '|');
	fmt_escaped(&f, "\001", 1, 'x');
	fmt_char(&f, '|');
	fmt_escaped(&f, "\001", 1, -1);
	assert_string_equal(fmt_cstr(&f), "\\n\\001|\\1|\\1");
}

static void test_quoted_hex(void **state)
{
	(void)state;
	fmt_quoted_hex(&f, "\x01\xab\xff" "A", 4, 3);
	assert_string_equal(fmt_cstr(&f), "\"\\x01\\xab\\xff\"...");
}

/* Never past cap - 1, flag set, nothing appended after the first cut. */
static void test_truncation(void **state)
{
	char small[8];
	struct fmt t;

	(void)state;
	memset(small, 'X', sizeof(small));
	fmt_init(&t, small, 6);
	fmt_str(&t, "abc");
	assert_false(t.truncated);
	fmt_str(&t, "defg");
	assert_true(t.truncated);
	fmt_char(&t, 'z');
	assert_string_equal(fmt_cstr(&t), "abcde");
	assert_int_equal(t.len, 5);
	assert_int_equal(small[6], 'X');
	assert_int_equal(small[7], 'X');
}

/* An escape that does not fit is dropped whole, not cut in half. */
static void test_truncation_keeps_escapes_whole(void **state)
{
	char small[8];
	struct fmt t;

	(void)state;
	fmt_init(&t, small, 6);
	fmt_quoted(&t, "ab\377", 3, 32);
	assert_true(t.truncated);
	assert_string_equal(fmt_cstr(&t), "\"ab");
}

static void test_numbers_truncate(void **state)
{
	char small[4];
	struct fmt t;

	(void)state;
	fmt_init(&t, small, sizeof(small));
	fmt_udec(&t, 123456);
	assert_true(t.truncated);
	assert_string_equal(fmt_cstr(&t), "123");
}

static void test_zero_capacity(void **state)
{
	struct fmt t;

	(void)state;
	fmt_init(&t, NULL, 0);
	fmt_str(&t, "x");
	fmt_dec(&t, 5);
	assert_true(t.truncated);
	assert_int_equal(t.len, 0);
	assert_string_equal(fmt_cstr(&t), "");
}

static void test_init_terminates(void **state)
{
	(void)state;
	assert_string_equal(buf, "");
	assert_string_equal(fmt_cstr(&f), "");
}

#define T(fn) cmocka_unit_test_setup(fn, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_strings_and_chars),
		T(test_decimal),
		T(test_hex_and_octal),
		T(test_quoted_escapes),
		T(test_quoted_octal),
		T(test_quoted_ellipsis),
		T(test_quoted_cut_before_digit),
		T(test_escaped_next_byte),
		T(test_quoted_hex),
		T(test_truncation),
		T(test_truncation_keeps_escapes_whole),
		T(test_numbers_truncate),
		T(test_zero_capacity),
		T(test_init_terminates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
