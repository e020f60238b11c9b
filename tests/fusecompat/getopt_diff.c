/*
 * The fuse module's getopt for file systems (modules/fuse/fsgetopt.c)
 * against glibc's: the same command lines and option strings through both,
 * every call's result, optarg, optind, optopt after an error (glibc leaves
 * the last error's there otherwise), the long option's index, and argv's
 * order after (GNU getopt permutes it) must agree.  Prints one
 * line per difference; exit status 1 if any.
 */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fm.h"

__thread struct fmount *fm_calling;	/* none: fsgetopt.c's own variables */

/* glibc's getopt with POSIX's rules, what getopt is under _POSIX_C_SOURCE
   without _GNU_SOURCE (<getopt.h> does not declare it then). */
int __posix_getopt(int argc, char *const argv[], const char *opts);

typedef int (*long_fn)(int, char *const[], const char *, const struct option *, int *);
typedef int (*short_fn)(int, char *const[], const char *);

static int flag;
static const struct option longopts[] = {
	{ "verbose", no_argument, NULL, 'v' },
	{ "output", required_argument, NULL, 'o' },
	{ "color", optional_argument, NULL, 'c' },
	{ "colour", optional_argument, NULL, 'c' },	/* same meaning: not ambiguous */
	{ "debug", no_argument, &flag, 42 },
	{ "dry-run", no_argument, NULL, 'n' },		/* "d" is ambiguous */
	{ "size", required_argument, NULL, 's' },
	{ NULL, 0, NULL, 0 },
};

struct step {
	int c, optind, optopt, index;
	char arg[64];
};

enum kind { SHORT, LONG, LONG_ONLY, POSIX };

/* Runs one parse; the steps into out (at most 32), argv's order into order. */
static int parse(enum kind kind, void *fn, int *optindp, int *optoptp, char **optargp,
		 int *opterrp, int argc, const char *const *args, const char *opts,
		 struct step *out, char *order, size_t order_len)
{
	char *argv[32];
	int n = 0;

	for (int i = 0; i < argc; i++)
		argv[i] = (char *)args[i];
	argv[argc] = NULL;
	*opterrp = 0;	/* no messages: both print glibc's, not compared here */
	while (n < 32) {
		int index = -1, c;

		flag = 0;
		c = kind == SHORT || kind == POSIX ? ((short_fn)fn)(argc, argv, opts) :
			((long_fn)fn)(argc, argv, opts, longopts, &index);
		out[n].c = c == 0 ? 1000 + flag : c;
		out[n].optind = *optindp;
		out[n].optopt = *optoptp;
		out[n].index = index;
		snprintf(out[n].arg, sizeof(out[n].arg), "%s", *optargp ? *optargp : "(null)");
		n++;
		if (c == -1)
			break;
	}
	order[0] = 0;
	for (int i = 0; i < argc; i++) {
		strncat(order, argv[i], order_len - strlen(order) - 2);
		strcat(order, " ");
	}
	return n;
}

int main(void)
{
	static const struct {
		enum kind kind;
		const char *opts;
		const char *argv[16];
	} cases[] = {
		{ SHORT, "ab:c::", { "p", "-a", "-b", "x", "-cy", "-c", "z", NULL } },
		{ SHORT, "ab:c::", { "p", "file1", "-a", "file2", "-bval", "--", "-a", NULL } },
		{ SHORT, "ab:", { "p", "-ab", "arg", "rest", NULL } },
		{ SHORT, "ab:", { "p", "-b", NULL } },
		{ SHORT, ":ab:", { "p", "-a", "-b", NULL } },
		{ SHORT, "ab", { "p", "-x", "-a", "-", "b", NULL } },
		{ SHORT, "+ab", { "p", "-a", "cmd", "-b", NULL } },
		{ SHORT, "-ab", { "p", "one", "-a", "two", "-b", NULL } },
		{ POSIX, "ab", { "p", "-a", "cmd", "-b", NULL } },
		{ SHORT, "ab:", { "p", "x", "y", "-a", "z", "-b", "v", "w", NULL } },
		{ SHORT, "ab:", { "p", NULL } },
		{ SHORT, "ab:", { "p", "--", NULL } },
		{ SHORT, "ab:", { "p", "x", "--", "-a", NULL } },
		{ LONG, "vo:", { "p", "--verbose", "--output=f", "--output", "g", "x", NULL } },
		{ LONG, "vo:", { "p", "--verb", "--out", "h", "--col", "--color=red", NULL } },
		{ LONG, "vo:", { "p", "--d", "--de", "--dr", "--nope", "-v", NULL } },
		{ LONG, "vo:", { "p", "--verbose=1", "--output", NULL } },
		{ LONG, ":vo:", { "p", "--size", NULL } },
		{ LONG, "vo:W;", { "p", "-W", "verbose", "-Woutput=q", "-Wsize", "3", NULL } },
		{ LONG, "vo:", { "p", "a", "--verbose", "b", "--", "--output", "c", NULL } },
		{ LONG, "+vo:", { "p", "-v", "sub", "--output", "x", NULL } },
		{ LONG_ONLY, "vo:", { "p", "-verbose", "-output", "x", "-v", "-vo", "y", NULL } },
		{ LONG_ONLY, "ns:", { "p", "-s", "5", "-size", "6", "-n", "-nothing", NULL } },
		{ LONG, "ho:s:", { "p", "host:/srv", "-o", "reconnect", "/mnt", "-s", NULL } },
		{ LONG, "vc::", { "p", "--color", "red", "-c", "blue", "-cgreen", NULL } },
		{ LONG, "v", { "p", "---x", "--=x", "--", NULL } },
		{ SHORT, "vo:", { "p", "-vxo", "val", "-W", "q", "-ao", NULL } },
		{ LONG_ONLY, "vd", { "p", "-d", "-dr", "-de", "-verb", "-x", NULL } },
		{ SHORT, "ab:", { "p", "1", "-a", "2", "3", "-b", "4", "5", "-a", "6", NULL } },
		{ LONG, "ab:", { "p", "1", "-a", "2", "--size=3", "4", "--", "5", "-a", NULL } },
		{ SHORT, "-:a", { "p", "x", "-a", "-q", "y", NULL } },
	};
	int bad = 0, *ours_optind = fsgetopt_wrapper_for("optind"),
	    *ours_opterr = fsgetopt_wrapper_for("opterr"),
	    *ours_optopt = fsgetopt_wrapper_for("optopt");
	char **ours_optarg = fsgetopt_wrapper_for("optarg");
	struct fsgetopt_vars vars = { 0 };

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct step a[32], b[32];
		char oa[512], ob[512];
		int argc = 0, na, nb;
		const char *name = cases[k].kind == SHORT ? "getopt" :
				   cases[k].kind == POSIX ? "__posix_getopt" :
				   cases[k].kind == LONG ? "getopt_long" : "getopt_long_only";
		void *theirs = cases[k].kind == SHORT ? (void *)getopt :
			       cases[k].kind == POSIX ? (void *)__posix_getopt :
			       cases[k].kind == LONG ? (void *)getopt_long :
						      (void *)getopt_long_only;

		while (cases[k].argv[argc])
			argc++;
		optind = 0;	/* glibc: start afresh */
		na = parse(cases[k].kind, theirs, &optind, &optopt, &optarg, &opterr, argc,
			   cases[k].argv, cases[k].opts, a, oa, sizeof(oa));
		fsgetopt_reset(&vars);
		nb = parse(cases[k].kind, fsgetopt_wrapper_for(name), ours_optind, ours_optopt,
			   ours_optarg, ours_opterr, argc, cases[k].argv, cases[k].opts, b, ob,
			   sizeof(ob));
		for (int i = 0; i < na || i < nb; i++)
			if (i >= na || i >= nb || a[i].c != b[i].c || a[i].optind != b[i].optind ||
			    ((a[i].c == '?' || a[i].c == ':') && a[i].optopt != b[i].optopt) ||
			    a[i].index != b[i].index ||
			    strcmp(a[i].arg, b[i].arg)) {
				printf("case %zu (%s \"%s\") call %d: glibc %d/%s/%d/%d/%d, ours "
				       "%d/%s/%d/%d/%d\n", k, name, cases[k].opts, i,
				       i < na ? a[i].c : -9, i < na ? a[i].arg : "-",
				       i < na ? a[i].optind : -9, i < na ? a[i].optopt : -9,
				       i < na ? a[i].index : -9, i < nb ? b[i].c : -9,
				       i < nb ? b[i].arg : "-", i < nb ? b[i].optind : -9,
				       i < nb ? b[i].optopt : -9, i < nb ? b[i].index : -9);
				bad = 1;
				break;
			}
		if (strcmp(oa, ob)) {
			printf("case %zu (%s): argv after: glibc \"%s\", ours \"%s\"\n", k, name, oa,
			       ob);
			bad = 1;
		}
	}
	printf("%s\n", bad ? "FAIL: the file system's getopt differs from glibc's" :
			     "ok   the file system's getopt parses as glibc's");
	return bad;
}
