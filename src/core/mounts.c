/*
 * The mount table, from DEFUSE_MOUNTS (set by `defuse run -m`, or by hand
 * with LD_PRELOAD): one mount per line,
 *
 *     MOUNTPOINT=MODULE[:ARGS]
 *
 * MOUNTPOINT an existing directory; MODULE a name (found in
 * $DEFUSE_MODULE_PATH, then next to libdefuse.so in modules/) or a path to
 * the module's .so; ARGS handed to the module's init.  Every process of the
 * tree loads the modules and starts its mounts at start-up.  A mount that
 * cannot start ends the process with a message and status 127: running the
 * program without its file system would give silently wrong answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/core.h"
#include "core/module_find.h"

struct core_mount core_mounts[CORE_MOUNTS_MAX];
int core_nmounts;

static __attribute__((noreturn)) void fail(const char *line, const char *why)
{
	fprintf(stderr, "defuse: mount '%s': %s\n", line, why);
	_exit(127);
}

/* The host service of module.h: a module's private descriptor set aside. */
__attribute__((visibility("default"))) int defuse_keep_fd(int fd)
{
	return defuse_fd_reserve(fd);
}

/* ... and given back. */
__attribute__((visibility("default"))) int defuse_close_kept(int fd)
{
	return defuse_fd_release(fd);
}

static void add_mount(char *line)
{
	struct core_mount *m = &core_mounts[core_nmounts];
	char *eq = strchr(line, '='), *colon, why[512] = "";
	char real[PATH_MAX];
	struct stat st;
	int r;

	if (core_nmounts == CORE_MOUNTS_MAX)
		fail(line, "too many mounts");
	if (!eq || eq == line || !eq[1])
		fail(line, "expected MOUNTPOINT=MODULE[:ARGS]");
	*eq = 0;
	if (stat(line, &st) || !S_ISDIR(st.st_mode) || !realpath(line, real)) {
		int e = errno;

		*eq = '=';
		fail(line, e == ENOENT ? "mount point does not exist" :
		     "mount point is not a directory");
	}
	if (!strcmp(real, "/")) {
		*eq = '=';
		fail(line, "cannot mount on /");
	}
	*eq = '=';
	colon = strchr(eq + 1, ':');
	if (colon)
		*colon = 0;
	m->mod = module_find(eq + 1, defuse_g.preload_path, why, sizeof(why));
	if (!m->mod)
		fail(line, why);
	m->ops = m->mod->ops;
	m->resolves = (m->mod->flags & DEFUSE_MODULE_RESOLVES) != 0;
	r = m->ops->init ? m->ops->init(colon ? colon + 1 : "", &m->priv, why, sizeof(why)) : 0;
	if (colon)
		*colon = ':';
	if (r < 0)
		fail(line, why[0] ? why : strerror(-r));
	strcpy(m->point, real);
	m->len = strlen(m->point);
	m->base = strrchr(m->point, '/') ? strrchr(m->point, '/') + 1 : m->point;
	m->baselen = strlen(m->base);
	core_nmounts++;
}

void core_init(const char *spec)
{
	char *copy, *line, *save = NULL;

	if (!spec || !*spec)
		return;
	copy = strdup(spec);
	if (!copy)
		fail(spec, "out of memory");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (*line)
			add_mount(line);
	free(copy);
	if (core_cwd_init(getenv("DEFUSE_CWD")) < 0)
		fail(spec, "out of memory");
	core_fds = calloc(CORE_FD_MAX, sizeof(*core_fds));
	if (!core_fds)
		fail(spec, "out of memory");
	core_route_init();
	core_emulated_adopt_inherited(getenv("DEFUSE_FDS"));
}
