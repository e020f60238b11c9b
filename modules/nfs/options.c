/*
 * The mount argument:  nfs://SERVER/EXPORT[,OPTION]...
 *
 * SERVER is a name or an IPv4 address; EXPORT the path the server exports
 * (its MOUNT path: with ganesha, the pseudo path).  The options are the
 * kernel client's where it has one (nfs(5)), with its defaults, so that a
 * user moving from `mount -t nfs` finds what they know:
 *
 *   hard (default) | soft | softerr   what happens when the server does not
 *                           answer: hard retries until it does; soft gives
 *                           up after 1 + retrans tries of timeo each, with
 *                           EIO (softerr: ETIMEDOUT)
 *   timeo=N                 a try's wait for an answer, in tenths of a
 *                           second (600, as over TCP)
 *   retrans=N               tries after the first, soft only (2)
 *   acregmin= acregmax= acdirmin= acdirmax=  the attribute cache's bounds
 *                           in seconds (3, 60, 30, 60)
 *   actimeo=N               all four at once; noac: all 0 (no cache)
 *   nocto                   no revalidation at each open
 *   lookupcache=positive    no negative entries (names found missing are
 *                           asked again each time; default all)
 *   rsize=N wsize=N         largest READ and WRITE (the server's maximum)
 *   readahead=N             READs kept in flight ahead of a sequential
 *                           reader (4; 0: none)
 *   lockdir=DIR             where the local lock files live (locks.c)
 *   locks=none              no locks at all: ENOLCK
 *   uid=N gid=N             the identity sent to the server instead of the
 *                           caller's (as libnfs's URL options)
 */
#include "nfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int number(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!*s)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v > 0x7fffffffUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void defaults(struct nfs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeo_ds = 600;
	o->retrans = 2;
	o->acregmin = 3;
	o->acregmax = 60;
	o->acdirmin = 30;
	o->acdirmax = 60;
	o->readahead = 4;
	snprintf(o->lockdir, sizeof(o->lockdir), "/dev/shm/defuse-nfs-locks");
}

/* One OPTION; 0, or -1 with why written. */
static int option(struct nfs_opts *o, const char *opt, char *why, size_t why_len)
{
	const char *eq = strchr(opt, '=');
	size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
	const char *val = eq ? eq + 1 : NULL;
	unsigned v = 0;
	static const struct {
		const char *name;
		size_t off;
	} nums[] = {
		{ "timeo", offsetof(struct nfs_opts, timeo_ds) },
		{ "retrans", offsetof(struct nfs_opts, retrans) },
		{ "acregmin", offsetof(struct nfs_opts, acregmin) },
		{ "acregmax", offsetof(struct nfs_opts, acregmax) },
		{ "acdirmin", offsetof(struct nfs_opts, acdirmin) },
		{ "acdirmax", offsetof(struct nfs_opts, acdirmax) },
		{ "rsize", offsetof(struct nfs_opts, rsize) },
		{ "wsize", offsetof(struct nfs_opts, wsize) },
		{ "readahead", offsetof(struct nfs_opts, readahead) },
		{ "uid", offsetof(struct nfs_opts, uid) },
		{ "gid", offsetof(struct nfs_opts, gid) },
	};

#define IS(name) (klen == strlen(name) && !strncmp(opt, name, klen))
	if (!val) {
		if (IS("hard")) {
			o->soft = o->softerr = false;
		} else if (IS("soft")) {
			o->soft = true;
		} else if (IS("softerr")) {
			o->soft = o->softerr = true;
		} else if (IS("noac")) {
			o->acregmin = o->acregmax = o->acdirmin = o->acdirmax = 0;
		} else if (IS("ac")) {
			;
		} else if (IS("nocto")) {
			o->nocto = true;
		} else if (IS("cto")) {
			o->nocto = false;
		} else {
			snprintf(why, why_len, "unknown NFS option '%s'", opt);
			return -1;
		}
		return 0;
	}
	if (IS("lockdir")) {
		if (val[0] != '/' || strlen(val) >= sizeof(o->lockdir) - 200) {
			snprintf(why, why_len, "lockdir= needs an absolute path");
			return -1;
		}
		snprintf(o->lockdir, sizeof(o->lockdir), "%s", val);
		return 0;
	}
	if (IS("lookupcache")) {
		if (!strcmp(val, "all")) {
			o->noneg = false;
		} else if (!strcmp(val, "positive") || !strcmp(val, "pos")) {
			o->noneg = true;
		} else {
			snprintf(why, why_len, "lookupcache= is 'all' or 'positive'");
			return -1;
		}
		return 0;
	}
	if (IS("locks")) {
		if (strcmp(val, "none") && strcmp(val, "local")) {
			snprintf(why, why_len, "locks= is 'local' or 'none'");
			return -1;
		}
		o->nolock = !strcmp(val, "none");
		return 0;
	}
	if (number(val, &v) < 0) {
		snprintf(why, why_len, "NFS option '%s' needs a number", opt);
		return -1;
	}
	if (IS("actimeo")) {
		o->acregmin = o->acregmax = o->acdirmin = o->acdirmax = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (IS(nums[i].name)) {
			*(unsigned *)((char *)o + nums[i].off) = v;
			if (IS("uid") || IS("gid"))
				o->fixed_uid = true;
			return 0;
		}
	}
	snprintf(why, why_len, "unknown NFS option '%s'", opt);
	return -1;
#undef IS
}

int nfs_parse_args(const char *args, struct nfs_opts *o, char *why, size_t why_len)
{
	const char *p, *slash, *comma;
	size_t n;

	defaults(o);
	if (strncmp(args, "nfs://", 6)) {
		snprintf(why, why_len, "expected nfs://SERVER/EXPORT[,OPTION...], got '%s'", args);
		return -EINVAL;
	}
	p = args + 6;
	slash = strchr(p, '/');
	comma = strchr(p, ',');
	if (!slash || slash == p || (comma && comma < slash)) {
		snprintf(why, why_len, "expected nfs://SERVER/EXPORT: no server or no export in '%s'",
			 args);
		return -EINVAL;
	}
	n = (size_t)(slash - p);
	if (n >= sizeof(o->server)) {
		snprintf(why, why_len, "server name too long");
		return -EINVAL;
	}
	memcpy(o->server, p, n);
	o->server[n] = 0;
	p = slash;
	n = comma ? (size_t)(comma - p) : strlen(p);
	if (n >= sizeof(o->export)) {
		snprintf(why, why_len, "export path too long");
		return -EINVAL;
	}
	memcpy(o->export, p, n);
	o->export[n] = 0;
	/* "/export/" mounts "/export" */
	while (n > 1 && o->export[n - 1] == '/')
		o->export[--n] = 0;
	while (comma) {
		char opt[PATH_MAX];
		const char *next = strchr(comma + 1, ',');

		n = next ? (size_t)(next - comma - 1) : strlen(comma + 1);
		if (n >= sizeof(opt)) {
			snprintf(why, why_len, "NFS option too long");
			return -EINVAL;
		}
		memcpy(opt, comma + 1, n);
		opt[n] = 0;
		if (n && option(o, opt, why, why_len) < 0)
			return -EINVAL;
		comma = next;
	}
	if (o->timeo_ds == 0) {
		snprintf(why, why_len, "timeo= must be at least 1 (a tenth of a second)");
		return -EINVAL;
	}
	if (o->acregmin > o->acregmax)
		o->acregmax = o->acregmin;
	if (o->acdirmin > o->acdirmax)
		o->acdirmax = o->acdirmin;
	return 0;
}
