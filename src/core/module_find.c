/*
 * Module lookup, shared by the in-process mounts (mounts.c) and the FUSE
 * bridge (src/fuse), so that a name means the same module for both.
 */
#include <dlfcn.h>
#include <limits.h>
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
	snprintf(why, whylen, "unknown module '%s' (looked in DEFUSE_MODULE_PATH and "
		 "%.*s/modules)", name, selfdir, self);
	return NULL;
}

const struct defuse_module *module_find(const char *name, const char *self,
					char *why, size_t whylen)
{
	const struct defuse_module *mod;
	void *h = load(name, self, why, whylen);

	if (!h)
		return NULL;
	mod = dlsym(h, DEFUSE_MODULE_SYMBOL);
	if (!mod || !mod->ops || mod->api_version != DEFUSE_API_VERSION ||
	    mod->ops_size > sizeof(struct defuse_ops)) {
		snprintf(why, whylen, "not a DEFUSE module of API version 1");
		return NULL;
	}
	return mod;
}
