/*
 * The file system's own getopt.  A FUSE program parses its command line
 * with getopt as well as fuse_opt (encfs, exfat-fuse, fuseiso,
 * posixovl).  In a daemon that parse is the process's only one; in
 * process it runs beside the program's, and libc's getopt keeps its state
 * in globals the two would share: optind, optarg, and hidden ones (how
 * far into an argument it is, whether it permutes).  The file system's
 * start-up runs before the program's main(), so libc's state would reach
 * the program's parse as the file system left it: every program under
 * an encfs mount printed "Try 'ls --help'" (optind past its arguments),
 * and `timeout 5 ls -l` under exfat-fuse took -l for its own (the '+' of
 * its option string ignored, libc being already set up by the file
 * system's parse).  A program also keeps copies of libc's optind and
 * optarg of its own (copy relocations), which libc's getopt never updates.
 *
 * So the file system's getopt, getopt_long and getopt_long_only are
 * redirected (in the global offset tables of its objects, as fdwrap.c
 * does for descriptors) to this getopt, whose state is the file
 * system's: optind, optarg, opterr and optopt are variables of its own
 * (its copies, or this module's, to which its references to libc's are
 * pointed), set afresh at each start (fsgetopt_reset).  It parses as
 * glibc's does (GNU permutation, "+" and "-" option strings,
 * POSIXLY_CORRECT, long options with unique prefixes, "W;") and says what
 * glibc says on a bad option.
 */
#define _GNU_SOURCE 1
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fm.h"

/* What the file system's objects see as libc's globals (fdwrap.c points
   their references here), unless the program has copies of its own. */
static int fs_optind = 1, fs_opterr = 1, fs_optopt = '?';
static char *fs_optarg;

/* The parse's own state (one parse at a time: the file system's start-up
   runs once, in one thread). */
enum order { PERMUTE, REQUIRE_ORDER, RETURN_IN_ORDER };
static struct {
	int started;		/* set up for this parse (optind 0 asks again) */
	enum order order;
	const char *next;	/* the rest of a group of short options */
	int first_nonopt;	/* the non-options skipped so far, to be */
	int last_nonopt;	/* moved after the options (PERMUTE) */
	int optopt;		/* the last bad option: optopt after each call
				   (as glibc's, whatever the program set) */
} st;

/* The variables in use: the calling mount's (its program's copies, the
   rest this module's: complete), or this module's own. */
static struct fsgetopt_vars own = { &fs_optind, &fs_opterr, &fs_optopt, &fs_optarg };

static struct fsgetopt_vars *vars(void)
{
	return fm_calling ? &fm_calling->optvars : &own;
}

void fsgetopt_note_copy(struct fsgetopt_vars *v, const char *name, void *at)
{
	if (!strcmp(name, "optind"))
		v->optind = at;
	else if (!strcmp(name, "opterr"))
		v->opterr = at;
	else if (!strcmp(name, "optopt"))
		v->optopt = at;
	else if (!strcmp(name, "optarg"))
		v->optarg = at;
}

/* Fills in the variables a program has no copy of with this module's. */
static void complete(struct fsgetopt_vars *v)
{
	if (!v->optind)
		v->optind = &fs_optind;
	if (!v->opterr)
		v->opterr = &fs_opterr;
	if (!v->optopt)
		v->optopt = &fs_optopt;
	if (!v->optarg)
		v->optarg = &fs_optarg;
}

/* As a process starts: nothing parsed yet. */
void fsgetopt_reset(struct fsgetopt_vars *v)
{
	complete(v);
	fs_optind = 1;
	fs_opterr = 1;
	fs_optopt = '?';
	fs_optarg = NULL;
	*v->optind = 1;
	*v->opterr = 1;
	*v->optopt = '?';
	*v->optarg = NULL;
	memset(&st, 0, sizeof(st));
}

/* The current parse's view (copied in and out around each call, so that
   the program's copies and this module's agree). */
struct parse {
	int argc;
	char **argv;
	const char *opts;	/* past its '+', '-' */
	const struct option *longopts;
	int *longind;
	int long_only;
	int print_errors;
	int optind, optopt;
	char *optarg;
};

/* Moves the non-options [first_nonopt, last_nonopt) after the options
   [last_nonopt, optind) found since, keeping each block's order: one
   rotation of argv[first_nonopt, optind), by three reversals. */
static void reverse(char **a, int lo, int hi)
{
	for (hi--; lo < hi; lo++, hi--) {
		char *t = a[lo];

		a[lo] = a[hi];
		a[hi] = t;
	}
}

static void exchange(struct parse *p)
{
	int lo = st.first_nonopt, mid = st.last_nonopt, hi = p->optind;

	reverse(p->argv, lo, mid);
	reverse(p->argv, mid, hi);
	reverse(p->argv, lo, hi);
	st.first_nonopt += hi - mid;
	st.last_nonopt = hi;
}

static int is_nonopt(const struct parse *p, int i)
{
	return p->argv[i][0] != '-' || p->argv[i][1] == '\0';
}

static int missing_arg(const struct parse *p)
{
	return p->opts[0] == ':' ? ':' : '?';
}

/* A long option at st.next (after prefix: "--", "-", "-W "); -1 when
   long_only finds no such long option and the name may be short ones. */
static int long_option(struct parse *p, const char *prefix)
{
	const char *name = st.next;
	size_t len = strcspn(name, "=");
	const struct option *found = NULL;
	int index = -1, ambiguous = 0;

	for (int i = 0; p->longopts[i].name; i++) {
		const struct option *o = &p->longopts[i];

		if (strncmp(o->name, name, len))
			continue;
		if (strlen(o->name) == len) {	/* an exact match wins */
			found = o;
			index = i;
			ambiguous = 0;
			break;
		}
		if (!found) {
			found = o;
			index = i;
		} else if (found->has_arg != o->has_arg || found->flag != o->flag ||
			   found->val != o->val) {
			ambiguous = 1;	/* two prefixes that mean different things */
		}
	}
	if (ambiguous) {
		if (p->print_errors) {
			fprintf(stderr, "%s: option '%s%.*s' is ambiguous; possibilities:",
				p->argv[0], prefix, (int)len, name);
			for (int i = 0; p->longopts[i].name; i++)
				if (!strncmp(p->longopts[i].name, name, len))
					fprintf(stderr, " '%s%s'", prefix, p->longopts[i].name);
			fputc('\n', stderr);
		}
		st.next = NULL;
		p->optind++;
		p->optopt = 0;
		return '?';
	}
	if (!found) {
		if (p->long_only && p->argv[p->optind][1] != '-' && strchr(p->opts, *name))
			return -1;
		if (p->print_errors)
			fprintf(stderr, "%s: unrecognized option '%s%s'\n", p->argv[0], prefix,
				name);
		st.next = NULL;
		p->optind++;
		p->optopt = 0;
		return '?';
	}
	p->optind++;
	st.next = NULL;
	if (name[len] == '=') {
		if (found->has_arg == no_argument) {
			if (p->print_errors)
				fprintf(stderr, "%s: option '%s%s' doesn't allow an argument\n",
					p->argv[0], prefix, found->name);
			p->optopt = found->val;
			return '?';
		}
		p->optarg = (char *)name + len + 1;
	} else if (found->has_arg == required_argument) {
		if (p->optind >= p->argc) {
			if (p->print_errors)
				fprintf(stderr, "%s: option '%s%s' requires an argument\n",
					p->argv[0], prefix, found->name);
			p->optopt = found->val;
			return missing_arg(p);
		}
		p->optarg = p->argv[p->optind++];
	}
	if (p->longind)
		*p->longind = index;
	if (found->flag) {
		*found->flag = found->val;
		return 0;
	}
	return found->val;
}

/* The next element's option, or -1 at the end of the options. */
static int next_element(struct parse *p)
{
	if (st.last_nonopt > p->optind)
		st.last_nonopt = p->optind;
	if (st.first_nonopt > p->optind)
		st.first_nonopt = p->optind;
	if (st.order == PERMUTE) {
		if (st.first_nonopt != st.last_nonopt && st.last_nonopt != p->optind)
			exchange(p);
		else if (st.last_nonopt != p->optind)
			st.first_nonopt = p->optind;
		while (p->optind < p->argc && is_nonopt(p, p->optind))
			p->optind++;
		st.last_nonopt = p->optind;
	}
	if (p->optind != p->argc && !strcmp(p->argv[p->optind], "--")) {
		p->optind++;
		if (st.first_nonopt != st.last_nonopt && st.last_nonopt != p->optind)
			exchange(p);
		else if (st.first_nonopt == st.last_nonopt)
			st.first_nonopt = p->optind;
		st.last_nonopt = p->argc;
		p->optind = p->argc;
	}
	if (p->optind == p->argc) {
		/* the non-options skipped are the operands: optind names them */
		if (st.first_nonopt != st.last_nonopt)
			p->optind = st.first_nonopt;
		return -1;
	}
	if (is_nonopt(p, p->optind)) {
		if (st.order == REQUIRE_ORDER)
			return -1;
		p->optarg = p->argv[p->optind++];	/* RETURN_IN_ORDER */
		return 1;
	}
	if (p->longopts) {
		const char *arg = p->argv[p->optind];

		if (arg[1] == '-') {
			st.next = arg + 2;
			return long_option(p, "--");
		}
		if (p->long_only && (arg[2] || !strchr(p->opts, arg[1]))) {
			int c;

			st.next = arg + 1;
			c = long_option(p, "-");
			if (c != -1)
				return c;
		}
	}
	st.next = p->argv[p->optind] + 1;
	return -2;	/* short options from st.next */
}

static int short_option(struct parse *p)
{
	char c = *st.next++;
	const char *spec = c ? strchr(p->opts, c) : NULL;

	if (!*st.next)
		p->optind++;	/* the last of its group */
	if (!spec || c == ':' || c == ';') {
		if (p->print_errors)
			fprintf(stderr, "%s: invalid option -- '%c'\n", p->argv[0], c);
		p->optopt = c;
		return '?';
	}
	if (spec[0] == 'W' && spec[1] == ';' && p->longopts) {
		/* -W name or -Wname: the long option --name; optind is at
		   the element that holds the name, which long_option passes */
		if (!*st.next) {
			if (p->optind == p->argc) {
				if (p->print_errors)
					fprintf(stderr, "%s: option requires an argument -- '%c'\n",
						p->argv[0], c);
				p->optopt = c;
				return missing_arg(p);
			}
			st.next = p->argv[p->optind];
		}
		return long_option(p, "-W ");
	}
	if (spec[1] == ':') {
		if (*st.next) {
			p->optarg = (char *)st.next;	/* -ovalue */
			p->optind++;
		} else if (spec[2] == ':') {
			p->optarg = NULL;	/* an optional one, not given */
		} else if (p->optind == p->argc) {
			if (p->print_errors)
				fprintf(stderr, "%s: option requires an argument -- '%c'\n",
					p->argv[0], c);
			p->optopt = c;
			c = missing_arg(p);
		} else {
			p->optarg = p->argv[p->optind++];
		}
		st.next = NULL;
	}
	return c;
}

static int parse(int argc, char *const argv[], const char *opts, const struct option *longopts,
		 int *longind, int long_only, int posixly_correct)
{
	struct fsgetopt_vars *v = vars();
	struct parse p = { .argc = argc, .argv = (char **)argv, .longopts = longopts,
			   .longind = longind, .long_only = long_only };
	int c;

	complete(v);
	p.optind = *v->optind;
	p.optopt = st.optopt;
	if (argc < 1)
		return -1;
	if (p.optind == 0 || !st.started) {
		if (p.optind == 0)
			p.optind = 1;
		st.first_nonopt = st.last_nonopt = p.optind;
		st.next = NULL;
		if (opts[0] == '-')
			st.order = RETURN_IN_ORDER;
		else if (opts[0] == '+' || posixly_correct || getenv("POSIXLY_CORRECT"))
			st.order = REQUIRE_ORDER;
		else
			st.order = PERMUTE;
		st.started = 1;
	}
	if (opts[0] == '-' || opts[0] == '+')
		opts++;
	p.opts = opts;
	p.print_errors = *v->opterr && opts[0] != ':';
	c = -2;
	if (!st.next || !*st.next)
		c = next_element(&p);
	if (c == -2)
		c = short_option(&p);
	*v->optind = fs_optind = p.optind;
	*v->optopt = fs_optopt = st.optopt = p.optopt;
	*v->optarg = fs_optarg = p.optarg;
	return c;
}

static int w_getopt(int argc, char *const argv[], const char *opts)
{
	return parse(argc, argv, opts, NULL, NULL, 0, 0);
}

static int w_posix_getopt(int argc, char *const argv[], const char *opts)
{
	return parse(argc, argv, opts, NULL, NULL, 0, 1);
}

static int w_getopt_long(int argc, char *const argv[], const char *opts,
			 const struct option *longopts, int *longind)
{
	return parse(argc, argv, opts, longopts, longind, 0, 0);
}

static int w_getopt_long_only(int argc, char *const argv[], const char *opts,
			      const struct option *longopts, int *longind)
{
	return parse(argc, argv, opts, longopts, longind, 1, 0);
}

void *fsgetopt_wrapper_for(const char *name)
{
	static const struct { const char *name; void *at; } redirect[] = {
		{ "getopt", (void *)w_getopt },
		{ "__posix_getopt", (void *)w_posix_getopt },
		{ "getopt_long", (void *)w_getopt_long },
		{ "getopt_long_only", (void *)w_getopt_long_only },
		{ "optind", &fs_optind }, { "opterr", &fs_opterr },
		{ "optopt", &fs_optopt }, { "optarg", &fs_optarg },
	};

	for (size_t i = 0; i < sizeof(redirect) / sizeof(redirect[0]); i++)
		if (!strcmp(redirect[i].name, name))
			return redirect[i].at;
	return NULL;
}
