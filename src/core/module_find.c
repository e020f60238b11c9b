/*
 * Module lookup, shared by the in-process mounts (mounts.c) and the FUSE
 * bridge (src/fuse), so that a name means the same module for both.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/module_find.h"

static void *try_open(const char *path)
{
	struct stat st;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return NULL;
	return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends a and b to the message in why, as far as it has room. */
static void append(char *why, size_t whylen, const char *a, const char *b)
{
	size_t n = strlen(why);

	if (n < whylen)
		snprintf(why + n, whylen - n, "%s%s", a, b);
}

static void *load(const char *name, const char *self, char *why, size_t whylen)
{
	char path[PATH_MAX];
	const char *dirs = getenv("DEFUSE_MODULE_PATH");
	const char *slash = strrchr(self, '/');
	int selfdir = slash ? (int)(slash - self) : 0;
	void *h;

	if (strchr(name, '/')) {
		h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(why, whylen, "cannot load module %s: %s", name, dlerror());
		return h;
	}
	for (const char *d = dirs; d && *d;) {
		size_t n = strcspn(d, ":");

		snprintf(path, sizeof(path), "%.*s/%s.so", (int)n, d, name);
		if ((h = try_open(path)))
			return h;
		snprintf(path, sizeof(path), "%.*s/%s/%s.so", (int)n, d, name, name);
		if ((h = try_open(path)))
			return h;
		d += n + (d[n] == ':');
	}
	/* Installed: LIBDIR/defuse/modules/; build tree: build/modules/NAME/. */
	snprintf(path, sizeof(path), "%.*s/modules/%s.so", selfdir, self, name);
	if ((h = try_open(path)))
		return h;
	snprintf(path, sizeof(path), "%.*s/../modules/%s/%s.so", selfdir, self, name, name);
	if ((h = try_open(path)))
		return h;
	/* Say where it looked: only the places that exist. */
	snprintf(why, whylen, "unknown module '%s' (looked in", name);
	if (dirs && *dirs)
		append(why, whylen, " DEFUSE_MODULE_PATH=", dirs);
	snprintf(path, sizeof(path), "%.*s/modules", selfdir, self);
	if (is_dir(path))
		append(why, whylen, " ", path);
	snprintf(path, sizeof(path), "%.*s/../modules", selfdir, self);
	if (is_dir(path))
		append(why, whylen, " ", path);
	append(why, whylen, ")", "");
	return NULL;
}

/*
 * A module built against another version of module.h exports another
 * symbol (defuse_module_vN): say which, so that its author knows what to
 * do, rather than "not a module".
 */
static int other_version(void *h)
{
	char sym[32];

	for (int v = 1; v < 100; v++) {
		if (v == DEFUSE_API_VERSION)
			continue;
		snprintf(sym, sizeof(sym), "defuse_module_v%d", v);
		if (dlsym(h, sym))
			return v;
	}
	return 0;
}

/*
 * Operations added to the end of struct defuse_ops within one API version
 * (file_handle and open_handle came after v2's first release) keep modules
 * built before them loadable: what such a module's table lacks is NULL,
 * which module.h defines for every operation.
 */
#define OPS_V2_FIRST offsetof(struct defuse_ops, file_handle)

static int ops_size_served(uint32_t size)
{
	return size == sizeof(struct defuse_ops) ||
	       (size >= OPS_V2_FIRST && size < sizeof(struct defuse_ops) && size % sizeof(void *) == 0);
}

/* A copy of an older module's descriptor whose table has every operation
   this DEFUSE knows, the missing ones NULL.  Kept for the process's life,
   as the module itself is. */
static const struct defuse_module *padded(const struct defuse_module *mod)
{
	struct defuse_module *copy = malloc(sizeof(*copy));
	struct defuse_ops *ops = calloc(1, sizeof(*ops));

	if (!copy || !ops) {
		free(copy);
		free(ops);
		return NULL;
	}
	memcpy(ops, mod->ops, mod->ops_size);
	*copy = *mod;
	copy->ops = ops;
	copy->ops_size = sizeof(*ops);
	return copy;
}

const struct defuse_module *module_find(const char *name, const char *self,
					char *why, size_t whylen)
{
	const struct defuse_module *mod;
	void *h = load(name, self, why, whylen);
	int v;

	if (!h)
		return NULL;
	mod = dlsym(h, DEFUSE_MODULE_SYMBOL);
	if (!mod && (v = other_version(h))) {
		snprintf(why, whylen, "module %s was built for DEFUSE module API v%d; this DEFUSE "
			 "serves v%d: rebuild it against include/defuse/module.h", name, v,
			 DEFUSE_API_VERSION);
	} else if (!mod) {
		snprintf(why, whylen, "%s is not a DEFUSE module (it exports no %s)", name,
			 DEFUSE_MODULE_SYMBOL);
	} else if (mod->api_version != DEFUSE_API_VERSION || !ops_size_served(mod->ops_size)) {
		snprintf(why, whylen, "module %s was built for DEFUSE module API v%u (operations "
			 "of %u bytes); this DEFUSE serves v%d (%zu bytes): rebuild it against "
			 "include/defuse/module.h", name, mod->api_version, mod->ops_size,
			 DEFUSE_API_VERSION, sizeof(struct defuse_ops));
	} else if (!mod->ops) {
		snprintf(why, whylen, "module %s has no operations (ops is NULL)", name);
	} else if (mod->ops_size == sizeof(struct defuse_ops) || (mod = padded(mod))) {
		return mod;
	} else {
		snprintf(why, whylen, "module %s: out of memory", name);
	}
	dlclose(h);	/* refused: nothing of it stays loaded */
	return NULL;
}
