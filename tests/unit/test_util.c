/*
 * util.c: the freestanding memory and string helpers.  Each is checked
 * against a plain reference over many sizes and alignments, because the
 * word loops only run for some of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/util.h"

#define SPAN 64

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static void test_memcpy_all_sizes_and_alignments(void **state)
{
	(void)state;
	for (size_t doff = 0; doff < 8; doff++) {
		for (size_t soff = 0; soff < 8; soff++) {
			for (size_t n = 0; n <= 40; n++) {
				unsigned char src[SPAN], dst[SPAN];

				fill(src, SPAN, 1);
				fill(dst, SPAN, 100);
				assert_ptr_equal(memcpy(dst + doff, src + soff, n), dst + doff);
				for (size_t i = 0; i < SPAN; i++) {
					unsigned char want = (i >= doff && i < doff + n)
						? src[soff + i - doff] : (unsigned char)(100 + i * 7);
					assert_int_equal(dst[i], want);
				}
			}
		}
	}
}

/* Overlap in both directions: the case memcpy may not handle. */
static void test_memmove_overlap(void **state)
{
	(void)state;
	for (int shift = -9; shift <= 9; shift++) {
		for (size_t n = 0; n <= 33; n++) {
			unsigned char buf[SPAN], ref[SPAN];
			size_t from = 16, to = (size_t)(16 + shift);

			fill(buf, SPAN, 3);
			fill(ref, SPAN, 3);
			for (size_t i = 0; i < n; i++)	/* reference: via a copy */
				ref[to + i] = buf[from + i];
			assert_ptr_equal(memmove(buf + to, buf + from, n), buf + to);
			assert_memory_equal(buf, ref, SPAN);
		}
	}
}

static void test_memset(void **state)
{
	(void)state;
	for (size_t off = 0; off < 8; off++) {
		for (size_t n = 0; n <= 40; n++) {
			unsigned char buf[SPAN];

			fill(buf, SPAN, 5);
			assert_ptr_equal(memset(buf + off, 0x1ab, n), buf + off);
			for (size_t i = 0; i < SPAN; i++) {
				unsigned char want = (i >= off && i < off + n)
					? 0xab : (unsigned char)(5 + i * 7);
				assert_int_equal(buf[i], want);
			}
		}
	}
}

static void test_memcmp(void **state)
{
	(void)state;
	assert_int_equal(memcmp("abc", "abd", 0), 0);
	assert_int_equal(memcmp("abc", "abc", 3), 0);
	assert_true(memcmp("abc", "abd", 3) < 0);
	assert_true(memcmp("abd", "abc", 3) > 0);
	/* Bytes compare as unsigned. */
	assert_true(memcmp("\x80", "\x01", 1) > 0);
}

static void test_strlen_strnlen(void **state)
{
	(void)state;
	assert_int_equal(d_strlen(""), 0);
	assert_int_equal(d_strlen("hello"), 5);
	assert_int_equal(d_strnlen("hello", 3), 3);
	assert_int_equal(d_strnlen("hello", 10), 5);
	assert_int_equal(d_strnlen("hello", 0), 0);
	/* Never looks past max: no terminator within reach is fine. */
	char unterminated[4] = { 'a', 'b', 'c', 'd' };
	assert_int_equal(d_strnlen(unterminated, 4), 4);
}

static void test_strcmp_strncmp(void **state)
{
	(void)state;
	assert_int_equal(d_strcmp("", ""), 0);
	assert_int_equal(d_strcmp("open", "open"), 0);
	assert_true(d_strcmp("open", "openat") < 0);
	assert_true(d_strcmp("openat", "open") > 0);
	assert_true(d_strcmp("a", "\xff") < 0);
	assert_int_equal(d_strncmp("openat", "open", 4), 0);
	assert_true(d_strncmp("openat", "open", 5) > 0);
	assert_int_equal(d_strncmp("x", "y", 0), 0);
	assert_int_equal(d_strncmp("ab", "ab", 10), 0);
}

static void test_strchr_strrchr_memchr(void **state)
{
	const char *s = "/usr/lib/libc.so";

	(void)state;
	assert_ptr_equal(d_strchr(s, '/'), s);
	assert_ptr_equal(d_strchr(s, 'l'), s + 5);
	assert_null(d_strchr(s, 'z'));
	assert_ptr_equal(d_strchr(s, '\0'), s + 16);	/* as strchr */
	assert_ptr_equal(d_strrchr(s, '/'), s + 8);
	assert_null(d_strrchr(s, 'z'));
	assert_ptr_equal(d_strrchr(s, '\0'), s + 16);
	assert_ptr_equal(d_memchr(s, 'l', 16), s + 5);
	assert_null(d_memchr(s, 'l', 5));
	assert_ptr_equal(d_memchr("a\0b", 'b', 3), (const char *)"a\0b" + 2);
	assert_null(d_memchr(s, '/', 0));
}

static void test_startswith(void **state)
{
	(void)state;
	assert_true(d_startswith("/mnt/data/x", "/mnt/data"));
	assert_true(d_startswith("abc", ""));
	assert_true(d_startswith("abc", "abc"));
	assert_false(d_startswith("ab", "abc"));
	assert_false(d_startswith("/mnt/dat", "/mnt/data"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memcpy_all_sizes_and_alignments),
		cmocka_unit_test(test_memmove_overlap),
		cmocka_unit_test(test_memset),
		cmocka_unit_test(test_memcmp),
		cmocka_unit_test(test_strlen_strnlen),
		cmocka_unit_test(test_strcmp_strncmp),
		cmocka_unit_test(test_strchr_strrchr_memchr),
		cmocka_unit_test(test_startswith),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
