/*
 * syscall_names.c: numbers and names against the kernel's own header, and
 * the names strace uses where they could differ from a naive guess.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <sys/syscall.h>

#include "trace/syscall_names.h"

static void test_spot_checks(void **state)
{
	(void)state;
	assert_string_equal(syscall_name(__NR_read), "read");
	assert_string_equal(syscall_name(__NR_openat), "openat");
	assert_string_equal(syscall_name(__NR_newfstatat), "newfstatat");
	assert_string_equal(syscall_name(__NR_pread64), "pread64");
	assert_string_equal(syscall_name(__NR_pwrite64), "pwrite64");
	assert_string_equal(syscall_name(__NR_rt_sigaction), "rt_sigaction");
	assert_string_equal(syscall_name(__NR_clone3), "clone3");
	assert_string_equal(syscall_name(__NR_exit_group), "exit_group");
	assert_string_equal(syscall_name(__NR__sysctl), "_sysctl");
	assert_string_equal(syscall_name(__NR_prlimit64), "prlimit64");
	assert_string_equal(syscall_name(__NR_faccessat2), "faccessat2");
	assert_string_equal(syscall_name(__NR_set_mempolicy_home_node),
			    "set_mempolicy_home_node");
	assert_int_equal(__NR_openat, 257);
}

/* Calls newer than this machine's headers, numbered by hand. */
static void test_newer_calls(void **state)
{
	(void)state;
	assert_string_equal(syscall_name(451), "cachestat");
	assert_string_equal(syscall_name(452), "fchmodat2");
	assert_string_equal(syscall_name(462), "mseal");
	assert_string_equal(syscall_name(469), "file_setattr");
	assert_int_equal(SYSCALL_NR_LIMIT, 470);
}

static void test_unknown_numbers(void **state)
{
	(void)state;
	assert_null(syscall_name(-1));
	assert_null(syscall_name(335));		/* the gap before 424 */
	assert_null(syscall_name(423));
	assert_null(syscall_name(SYSCALL_NR_LIMIT));
	assert_null(syscall_name(100000));
	assert_int_equal(syscall_nargs(335), -1);
	assert_int_equal(syscall_nargs(-5), -1);
}

static void test_lookup_by_name(void **state)
{
	(void)state;
	assert_int_equal(syscall_number("read"), 0);
	assert_int_equal(syscall_number("openat"), __NR_openat);
	assert_int_equal(syscall_number("exit_group"), __NR_exit_group);
	assert_int_equal(syscall_number("fstatat"), -1);	/* glibc's name, not the kernel's */
	assert_int_equal(syscall_number(""), -1);
	assert_int_equal(syscall_number("open "), -1);
	for (long nr = 0; nr < SYSCALL_NR_LIMIT; nr++) {
		if (syscall_name(nr))
			assert_int_equal(syscall_number(syscall_name(nr)), nr);
	}
}

static void test_argument_counts(void **state)
{
	(void)state;
	assert_int_equal(syscall_nargs(__NR_getpid), 0);
	assert_int_equal(syscall_nargs(__NR_close), 1);
	assert_int_equal(syscall_nargs(__NR_read), 3);
	assert_int_equal(syscall_nargs(__NR_openat), 4);
	assert_int_equal(syscall_nargs(__NR_newfstatat), 4);
	assert_int_equal(syscall_nargs(__NR_statx), 5);
	assert_int_equal(syscall_nargs(__NR_mmap), 6);
	assert_int_equal(syscall_nargs(__NR_futex), 6);
	assert_int_equal(syscall_nargs(__NR_clone3), 2);
	for (long nr = 0; nr < SYSCALL_NR_LIMIT; nr++) {
		if (syscall_name(nr))
			assert_in_range(syscall_nargs(nr), 0, 6);
	}
}

/* Every "#define __NR_name nr" of the installed header, both ways. */
static void test_matches_installed_header(void **state)
{
	static const char path[] = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
	FILE *h = fopen(path, "r");
	char line[256], name[64];
	long nr;
	int seen = 0;

	(void)state;
	if (!h) {
		printf("skipped: %s not installed\n", path);
		skip();
	}
	while (fgets(line, sizeof(line), h)) {
		if (sscanf(line, "#define __NR_%63s %ld", name, &nr) != 2)
			continue;
		assert_non_null(syscall_name(nr));
		assert_string_equal(syscall_name(nr), name);
		assert_int_equal(syscall_number(name), nr);
		seen++;
	}
	fclose(h);
	assert_true(seen > 350);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spot_checks),
		cmocka_unit_test(test_newer_calls),
		cmocka_unit_test(test_unknown_numbers),
		cmocka_unit_test(test_lookup_by_name),
		cmocka_unit_test(test_argument_counts),
		cmocka_unit_test(test_matches_installed_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
