/*
 * summary.c: the `strace -c` table.  The expected texts follow strace 6.1's
 * layout byte for byte (column widths, blank zero error counts, the order of
 * rows), worked out by hand from its rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/syscall.h>

#include "cli/summary.h"

static struct trace_table table;

static int setup(void **state)
{
	(void)state;
	memset(&table, 0, sizeof(table));
	table.magic = TRACE_MAGIC;
	table.nr_max = TRACE_NR_MAX;
	return 0;
}

static void set(long nr, uint64_t calls, uint64_t errors, uint64_t nsec)
{
	table.row[nr].calls = calls;
	table.row[nr].errors = errors;
	table.row[nr].nsec = nsec;
}

/* The summary as text. */
static char *print(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	trace_print_summary(out, &table);
	fclose(out);
	return text;
}

static void check(const char *want)
{
	char *got = print();

	assert_string_equal(got, want);
	free(got);
}

static void test_typical_table(void **state)
{
	(void)state;
	set(__NR_read, 387, 0, 526724000);
	set(__NR_openat, 2462, 602, 48247000);
	set(__NR_wait4, 84, 42, 830752000);
	set(__NR_close, 2017, 0, 22861000);
	check("% time     seconds  usecs/call     calls    errors syscall\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      " 58.15    0.830752        9889        84        42 wait4\n"
	      " 36.87    0.526724        1361       387           read\n"
	      "  3.38    0.048247          19      2462       602 openat\n"
	      "  1.60    0.022861          11      2017           close\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      "100.00    1.428584         288      4950       644 total\n");
}

/* Rows strace would not print: never called, no name, the overflow row. */
static void test_rows_left_out(void **state)
{
	(void)state;
	set(__NR_close, 1, 0, 1000);
	set(__NR_read, 0, 0, 0);
	set(400, 5, 5, 5000);
	set(TRACE_NR_MAX - 1, 7, 0, 7000);
	check("% time     seconds  usecs/call     calls    errors syscall\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      "100.00    0.000001           1         1           close\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      "100.00    0.000001           1         1           total\n");
}

/* No time measured at all: 0.00 everywhere, rows in number order. */
static void test_equal_times_keep_number_order(void **state)
{
	(void)state;
	set(__NR_mmap, 30, 0, 0);
	set(__NR_read, 7, 0, 0);
	set(__NR_close, 23, 0, 0);
	set(__NR_access, 2, 2, 0);
	check("% time     seconds  usecs/call     calls    errors syscall\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      "  0.00    0.000000           0         7           read\n"
	      "  0.00    0.000000           0        23           close\n"
	      "  0.00    0.000000           0        30           mmap\n"
	      "  0.00    0.000000           0         2         2 access\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      "100.00    0.000000           0        62         2 total\n");
}

/* Columns widen for long names and large numbers. */
static void test_wide_columns(void **state)
{
	(void)state;
	set(__NR_sched_get_priority_max, 1, 0, 57000);
	set(__NR_getpid, 12345678901ULL, 0, 123456789012345ULL);
	check("% time       seconds  usecs/call       calls    errors syscall\n"
	      "------ ------------- ----------- ----------- --------- -----------------------\n"
	      "100.00 123456.789012          10 12345678901           getpid\n"
	      "  0.00      0.000057          57           1           sched_get_priority_max\n"
	      "------ ------------- ----------- ----------- --------- -----------------------\n"
	      "100.00 123456.789069          10 12345678902           total\n");
}

static void test_empty_table(void **state)
{
	(void)state;
	check("% time     seconds  usecs/call     calls    errors syscall\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      "------ ----------- ----------- --------- --------- ----------------\n"
	      "100.00    0.000000           0         0           total\n");
}

#define T(fn) cmocka_unit_test_setup(fn, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_typical_table),
		T(test_rows_left_out),
		T(test_equal_times_keep_number_order),
		T(test_wide_columns),
		T(test_empty_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
