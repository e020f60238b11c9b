/*
 * `strace -c` layout for the shared counter table (see summary.h).
 *
 * Times are summed wall-clock nanoseconds.  The arithmetic copies the
 * order strace uses (seconds as double, the average per call truncated to
 * whole nanoseconds first), so the same counts print the same digits.
 */
#include "cli/summary.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace/syscall_names.h"

struct row {
	long nr;
	const char *name;
	const struct trace_row *r;
};

/* Column widths: strace's historical minimums, widened to fit the totals. */
struct widths {
	int seconds, usecs, calls, errors, name;
};

struct totals {
	uint64_t nsec, calls, errors;
	uint64_t max_usecs;	/* widest usecs/call value */
	size_t max_name;
};

/* strace's ts_float: whole seconds plus the nanoseconds as a fraction. */
static double seconds(uint64_t nsec)
{
	return (double)(nsec / 1000000000) + (double)(nsec % 1000000000) / 1e9;
}

/* usecs/call as strace computes it: truncated nanoseconds, then a double. */
static uint64_t usecs_per_call(uint64_t nsec, uint64_t calls)
{
	return calls ? (uint64_t)(seconds(nsec / calls) * 1e6) : 0;
}

/* Most time first; equal times keep system call order. */
static int by_time(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->r->nsec != y->r->nsec)
		return x->r->nsec < y->r->nsec ? 1 : -1;
	return (x->nr > y->nr) - (x->nr < y->nr);
}

/* The rows worth printing; returns how many, or -1 without memory. */
static long collect(const struct trace_table *t, struct row **rows)
{
	long limit = t->nr_max < TRACE_NR_MAX ? (long)t->nr_max : TRACE_NR_MAX;
	long n = 0;

	*rows = calloc((size_t)limit + 1, sizeof(**rows));
	if (!*rows)
		return -1;
	for (long nr = 0; nr < limit; nr++) {
		const char *name = syscall_name(nr);

		if (t->row[nr].calls == 0 || !name)
			continue;
		(*rows)[n++] = (struct row){ nr, name, &t->row[nr] };
	}
	qsort(*rows, (size_t)n, sizeof(**rows), by_time);
	return n;
}

static struct totals sum(const struct row *rows, long n)
{
	struct totals s = { 0 };

	for (long i = 0; i < n; i++) {
		const struct trace_row *r = rows[i].r;
		uint64_t u = usecs_per_call(r->nsec, r->calls);
		size_t len = strlen(rows[i].name);

		s.nsec += r->nsec;
		s.calls += r->calls;
		s.errors += r->errors;
		if (u > s.max_usecs)
			s.max_usecs = u;
		if (len > s.max_name)
			s.max_name = len;
	}
	return s;
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

static struct widths widths_for(const struct totals *s)
{
	struct widths w;

	w.seconds = max_int(11, snprintf(NULL, 0, "%.6f", seconds(s->nsec)));
	w.usecs = max_int(11, snprintf(NULL, 0, "%" PRIu64, s->max_usecs));
	w.calls = max_int(9, snprintf(NULL, 0, "%" PRIu64, s->calls));
	w.errors = max_int(9, snprintf(NULL, 0, "%" PRIu64, s->errors));
	w.name = max_int(16, (int)s->max_name + 1);
	return w;
}

static void dashes(FILE *out, int n)
{
	while (n-- > 0)
		fputc('-', out);
}

static void print_rule(FILE *out, const struct widths *w)
{
	dashes(out, 6);
	fputc(' ', out);
	dashes(out, w->seconds);
	fputc(' ', out);
	dashes(out, w->usecs);
	fputc(' ', out);
	dashes(out, w->calls);
	fputc(' ', out);
	dashes(out, w->errors);
	fputc(' ', out);
	dashes(out, w->name);
	fputc('\n', out);
}

/* One line of figures; an error count of 0 prints as blanks ("%.0u"). */
static void print_line(FILE *out, const struct widths *w, double percent,
		       uint64_t nsec, uint64_t usecs, uint64_t calls,
		       uint64_t errors, const char *name)
{
	fprintf(out, "%6.2f %*.6f %*" PRIu64 " %*" PRIu64 " %*.0" PRIu64 " %s\n",
		percent, w->seconds, seconds(nsec), w->usecs, usecs,
		w->calls, calls, w->errors, errors, name);
}

static void print_row(FILE *out, const struct widths *w, const struct row *row,
		      const struct totals *s)
{
	const struct trace_row *r = row->r;
	double percent = 100.0 * seconds(r->nsec);

	/* strace divides only when non-zero: an all-zero table is not NaN. */
	if (percent != 0.0)
		percent /= seconds(s->nsec);
	print_line(out, w, percent, r->nsec, usecs_per_call(r->nsec, r->calls),
		   r->calls, r->errors, row->name);
}

static void print_total(FILE *out, const struct widths *w, const struct totals *s)
{
	uint64_t usecs = s->calls ? (uint64_t)(seconds(s->nsec) / (double)s->calls * 1e6) : 0;

	print_line(out, w, 100.0, s->nsec, usecs, s->calls, s->errors, "total");
}

void trace_print_summary(FILE *out, const struct trace_table *t)
{
	struct row *rows;
	long n = collect(t, &rows);
	struct totals s;
	struct widths w;

	if (n < 0) {
		fputs("defuse: out of memory for the summary\n", out);
		return;
	}
	s = sum(rows, n);
	w = widths_for(&s);
	fprintf(out, "%6s %*s %*s %*s %*s %s\n", "% time", w.seconds, "seconds",
		w.usecs, "usecs/call", w.calls, "calls", w.errors, "errors",
		"syscall");
	print_rule(out, &w);
	for (long i = 0; i < n; i++)
		print_row(out, &w, &rows[i], &s);
	print_rule(out, &w);
	print_total(out, &w, &s);
	free(rows);
}
