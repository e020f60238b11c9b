/*
 * fuse_opt: libfuse's option parser (fuse_opt.h documents the behaviour
 * implemented here: templates, keys, -o groups with escaped commas, "--").
 */
#include "fc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

FC_EXPORT void fuse_opt_free_args(struct fuse_args *args)
{
	if (!args)
		return;
	if (args->argv && args->allocated) {
		for (int i = 0; i < args->argc; i++)
			free(args->argv[i]);
		free(args->argv);
	}
	args->argc = 0;
	args->argv = NULL;
	args->allocated = 0;
}

/* Makes args->argv a malloc'd copy of its own (the caller's argv is
   never written), with room for one more. */
static int own_args(struct fuse_args *args, int extra)
{
	char **v;

	if (args->allocated) {
		v = realloc(args->argv, (args->argc + extra + 1) * sizeof(*v));
		if (!v)
			return -1;
		args->argv = v;
		return 0;
	}
	v = calloc(args->argc + extra + 1, sizeof(*v));
	if (!v)
		return -1;
	for (int i = 0; i < args->argc; i++) {
		v[i] = strdup(args->argv[i]);
		if (!v[i]) {
			while (i--)
				free(v[i]);
			free(v);
			return -1;
		}
	}
	args->argv = v;
	args->allocated = 1;
	return 0;
}

FC_EXPORT int fuse_opt_insert_arg(struct fuse_args *args, int pos, const char *arg)
{
	char *copy;

	if (pos < 0 || pos > args->argc)
		return -1;
	copy = strdup(arg);
	if (!copy || own_args(args, 1)) {
		free(copy);
		fprintf(stderr, "fuse: memory allocation failed\n");
		return -1;
	}
	memmove(&args->argv[pos + 1], &args->argv[pos],
		(args->argc - pos) * sizeof(char *));
	args->argv[pos] = copy;
	args->argc++;
	args->argv[args->argc] = NULL;
	return 0;
}

FC_EXPORT int fuse_opt_add_arg(struct fuse_args *args, const char *arg)
{
	return fuse_opt_insert_arg(args, args->argc, arg);
}

/* Appends opt to the comma-separated list *opts, with commas and
   backslashes in it escaped if esc. */
static int add_opt(char **opts, const char *opt, int esc)
{
	size_t old = *opts ? strlen(*opts) : 0, n = 0;
	char *s, *p;

	for (const char *q = opt; *q; q++)
		n += (esc && (*q == ',' || *q == '\\')) ? 2 : 1;
	s = realloc(*opts, old + n + 2);
	if (!s) {
		fprintf(stderr, "fuse: memory allocation failed\n");
		return -1;
	}
	p = s + old;
	if (old)
		*p++ = ',';
	for (const char *q = opt; *q; q++) {
		if (esc && (*q == ',' || *q == '\\'))
			*p++ = '\\';
		*p++ = *q;
	}
	*p = 0;
	*opts = s;
	return 0;
}

FC_EXPORT int fuse_opt_add_opt(char **opts, const char *opt)
{
	return add_opt(opts, opt, 0);
}

FC_EXPORT int fuse_opt_add_opt_escaped(char **opts, const char *opt)
{
	return add_opt(opts, opt, 1);
}

/*
 * Does template t match arg?  A template "x=" or "x=%fmt" matches every arg
 * that starts with "x="; "-x " or "-x %fmt" every arg that starts with
 * "-x"; anything else only itself.  *sep gets the offset of the '=' or ' '
 * in t (0 for a template without one).
 */
static int match(const char *t, const char *arg, size_t *sep)
{
	const char *s = strchr(t, '=');

	if (!s)
		s = strchr(t, ' ');
	if (s && (!s[1] || s[1] == '%')) {
		size_t n = (size_t)(s - t) + (*s == '=');

		if (!strncmp(arg, t, n)) {
			*sep = (size_t)(s - t);
			return 1;
		}
	}
	if (!strcmp(t, arg)) {
		*sep = 0;
		return 1;
	}
	return 0;
}

FC_EXPORT int fuse_opt_match(const struct fuse_opt *opts, const char *opt)
{
	size_t sep;

	for (; opts && opts->templ; opts++)
		if (match(opts->templ, opt, &sep))
			return 1;
	return 0;
}

struct ctx {
	void *data;
	const struct fuse_opt *opts;
	fuse_opt_proc_t proc;
	struct fuse_args out;
	char *opts_kept;	/* -o options to hand on */
	int nonopt;		/* index in out of the "--" seen, or 0 */
};

/* The argument goes to the output (1), is dropped (0), or an error (-1). */
static int call_proc(struct ctx *c, const char *arg, int key, int in_group)
{
	int r = 1;

	if (key == FUSE_OPT_KEY_DISCARD)
		return 0;
	if (key != FUSE_OPT_KEY_KEEP && c->proc) {
		r = c->proc(c->data, arg, key, &c->out);
		if (r <= 0)
			return r;
	}
	if (in_group)
		return fuse_opt_add_opt_escaped(&c->opts_kept, arg);
	return fuse_opt_add_arg(&c->out, arg);
}

/* A template's value: "%s" a new string, else scanf.  libfuse 3 frees the
   old string; libfuse 2 did not, and its programs set defaults that are
   not the heap's (convmvfs: a string constant). */
static int set_param(void *var, const char *fmt, const char *param, const char *arg)
{
	if (!strcmp(fmt, "%s")) {
		char *copy = strdup(param);

		if (!copy) {
			fprintf(stderr, "fuse: memory allocation failed\n");
			return -1;
		}
		if (fc_libfuse_major >= 3)
			free(*(char **)var);
		*(char **)var = copy;
		return 0;
	}
	if (sscanf(param, fmt, var) != 1) {
		fprintf(stderr, "fuse: invalid parameter in option `%s'\n", arg);
		return -1;
	}
	return 0;
}

/* arg (with a "-x param" pair already joined) against every template. */
static int process(struct ctx *c, const char *arg, int in_group)
{
	int matched = 0;

	for (const struct fuse_opt *o = c->opts; o && o->templ; o++) {
		size_t sep;

		if (!match(o->templ, arg, &sep))
			continue;
		matched = 1;
		if (o->offset == -1U) {
			if (call_proc(c, arg, o->value, in_group) == -1)
				return -1;
		} else if (sep && o->templ[sep + 1]) {
			const char *param = arg + sep + (o->templ[sep] == '=');

			if (set_param((char *)c->data + o->offset, o->templ + sep + 1,
				      param, arg))
				return -1;
		} else {
			*(int *)((char *)c->data + o->offset) = o->value;
		}
	}
	if (!matched)
		return call_proc(c, arg, FUSE_OPT_KEY_OPT, in_group) == -1 ? -1 : 0;
	return 0;
}

/* An argument that may need the next one: a template "-x " given as "-x". */
static int process_top(struct ctx *c, char **argv, int argc, int *i)
{
	const char *arg = argv[*i];

	for (const struct fuse_opt *o = c->opts; o && o->templ; o++) {
		size_t sep;
		char *joined;
		int r;

		if (!match(o->templ, arg, &sep) || !sep || o->templ[sep] != ' ' || arg[sep])
			continue;
		if (*i + 1 >= argc) {
			fprintf(stderr, "fuse: missing argument after `%s'\n", arg);
			return -1;
		}
		(*i)++;
		joined = malloc(strlen(arg) + strlen(argv[*i]) + 1);
		if (!joined) {
			fprintf(stderr, "fuse: memory allocation failed\n");
			return -1;
		}
		strcpy(joined, arg);
		strcat(joined, argv[*i]);
		r = process(c, joined, 0);
		free(joined);
		return r;
	}
	return process(c, arg, 0);
}

/* "a,b\,c": each option of a -o group, with "\x" standing for x. */
static int process_group(struct ctx *c, const char *group)
{
	char *buf = malloc(strlen(group) + 1), *d;
	const char *s = group;
	int r = 0;

	if (!buf) {
		fprintf(stderr, "fuse: memory allocation failed\n");
		return -1;
	}
	while (!r) {
		d = buf;
		while (*s && *s != ',') {
			if (*s == '\\' && s[1])
				s++;
			*d++ = *s++;
		}
		*d = 0;
		r = process(c, buf, 1);
		if (!*s)
			break;
		s++;
	}
	free(buf);
	return r;
}

FC_EXPORT int fuse_opt_parse(struct fuse_args *args, void *data, const struct fuse_opt opts[],
			     fuse_opt_proc_t proc)
{
	struct ctx c = { .data = data, .opts = opts, .proc = proc };
	int r = 0;

	if (!args || !args->argv || !args->argc)
		return 0;
	if (fuse_opt_add_arg(&c.out, args->argv[0]) == -1)
		return -1;
	for (int i = 1; i < args->argc && r != -1; i++) {
		const char *arg = args->argv[i];

		if (c.nonopt || arg[0] != '-') {
			r = call_proc(&c, arg, FUSE_OPT_KEY_NONOPT, 0);
		} else if (arg[1] == 'o') {
			if (arg[2]) {
				r = process_group(&c, arg + 2);
			} else if (i + 1 >= args->argc) {
				fprintf(stderr, "fuse: missing argument after `%s'\n", arg);
				r = -1;
			} else {
				r = process_group(&c, args->argv[++i]);
			}
		} else if (!strcmp(arg, "--")) {
			r = fuse_opt_add_arg(&c.out, arg);
			c.nonopt = c.out.argc;
		} else {
			r = process_top(&c, args->argv, args->argc, &i);
		}
	}
	/* A "--" with nothing after it goes. */
	if (r != -1 && c.nonopt && c.nonopt == c.out.argc &&
	    !strcmp(c.out.argv[c.out.argc - 1], "--")) {
		free(c.out.argv[--c.out.argc]);
		c.out.argv[c.out.argc] = NULL;
	}
	/* The -o options kept go first, as one group. */
	if (r != -1 && c.opts_kept &&
	    (fuse_opt_insert_arg(&c.out, 1, "-o") == -1 ||
	     fuse_opt_insert_arg(&c.out, 2, c.opts_kept) == -1))
		r = -1;
	free(c.opts_kept);
	if (r == -1) {
		fuse_opt_free_args(&c.out);
		return -1;
	}
	fuse_opt_free_args(args);
	*args = c.out;
	return 0;
}
