/*
 * The patch-plan cache: disassembling libc costs tens of milliseconds, far
 * over the per-exec budget, so each plan is kept in a file named by the
 * object's build-id and the segment's address.
 *
 * Directory: $DEFUSE_CACHE_DIR, else $XDG_CACHE_HOME/defuse, else
 * $HOME/.cache/defuse; DEFUSE_CACHE_DIR=off disables the cache.  The
 * directory must belong to the user and not be writable by others, since a
 * plan says where code gets rewritten.  A plan is used only if every site's
 * recorded bytes match the code in memory; files are replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "capture/capture.h"
#include "capture/plan.h"

#define PLAN_MAGIC "DFPLAN01"

struct plan_file_header {
	char magic[8];
	uint64_t size;		/* of the code segment */
	uint32_t nsites, nrefused;
};

static char cache_dir[512];
static int cache_state;		/* 0 unknown, 1 usable, -1 off */

static int mkdirs_private(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0700) && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
}

static int dir_is_private(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == geteuid() && !(st.st_mode & 022);
}

static const char *dir(void)
{
	const char *env, *home;
	int n = -1;

	if (cache_state)
		return cache_state > 0 ? cache_dir : NULL;
	cache_state = -1;
	env = getenv("DEFUSE_CACHE_DIR");
	if (env && !strcmp(env, "off"))
		return NULL;
	if (env && *env)
		n = snprintf(cache_dir, sizeof(cache_dir), "%s", env);
	else if ((env = getenv("XDG_CACHE_HOME")) && *env == '/')
		n = snprintf(cache_dir, sizeof(cache_dir), "%s/defuse", env);
	else if ((home = getenv("HOME")) && *home == '/')
		n = snprintf(cache_dir, sizeof(cache_dir), "%s/.cache/defuse", home);
	if (n <= 0 || n >= (int)sizeof(cache_dir) - 160)
		return NULL;
	if (mkdirs_private(cache_dir) || !dir_is_private(cache_dir))
		return NULL;
	cache_state = 1;
	return cache_dir;
}

int plan_cache_load(const char *key, const uint8_t *code, size_t size, struct plan *out)
{
	const char *d = dir();
	char path[768];
	struct plan_file_header h;
	size_t bytes;
	int fd, ok = 0;

	memset(out, 0, sizeof(*out));
	if (!d)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.plan", d, key);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (read(fd, &h, sizeof(h)) != sizeof(h) || memcmp(h.magic, PLAN_MAGIC, 8) ||
	    h.size != size || h.nsites > size / 2)
		goto out;
	bytes = (size_t)h.nsites * sizeof(*out->sites);
	out->sites = malloc(bytes ? bytes : 1);
	if (!out->sites || read(fd, out->sites, bytes) != (ssize_t)bytes)
		goto out;
	for (uint32_t i = 0; i < h.nsites; i++) {
		const struct plan_site *s = &out->sites[i];

		if (s->len < 5 || s->len > SITE_WINDOW_MAX || s->off + (size_t)s->len > size ||
		    s->sys_off + 2u > s->len || memcmp(code + s->off, s->bytes, s->len))
			goto out;
	}
	out->nsites = h.nsites;
	out->nrefused = h.nrefused;
	ok = 1;
out:
	close(fd);
	if (!ok) {
		free(out->sites);
		memset(out, 0, sizeof(*out));
	}
	return ok ? 0 : -1;
}

void plan_cache_store(const char *key, size_t size, const struct plan *p)
{
	const char *d = dir();
	char path[768], tmp[800];
	struct plan_file_header h = { .size = size, .nsites = p->nsites,
				      .nrefused = p->nrefused };
	size_t bytes = (size_t)p->nsites * sizeof(*p->sites);
	int fd;

	if (!d)
		return;
	memcpy(h.magic, PLAN_MAGIC, 8);
	snprintf(path, sizeof(path), "%s/%s.plan", d, key);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, &h, sizeof(h)) == sizeof(h) &&
	    write(fd, p->sites, bytes) == (ssize_t)bytes && close(fd) == 0) {
		if (rename(tmp, path))
			unlink(tmp);
		return;
	}
	close(fd);
	unlink(tmp);
}
