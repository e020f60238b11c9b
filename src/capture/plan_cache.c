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
#include <pwd.h>
#include <unistd.h>
#include "capture/capture.h"
#include "capture/plan.h"

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

/* $HOME, or the password database's idea of it when HOME is unset. */
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && *home == '/')
		return home;
	pw = getpwuid(geteuid());
	return pw && pw->pw_dir && *pw->pw_dir == '/' ? pw->pw_dir : NULL;
}

const char *plan_cache_dir(void)
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
	else if ((home = home_dir()))
		n = snprintf(cache_dir, sizeof(cache_dir), "%s/.cache/defuse", home);
	if (n <= 0 || n >= (int)sizeof(cache_dir) - 160)
		return NULL;
	if (mkdirs_private(cache_dir) || !dir_is_private(cache_dir))
		return NULL;
	cache_state = 1;
	return cache_dir;
}

int plan_parse(const void *buf, size_t len, const uint8_t *code, size_t size,
	       struct plan *out)
{
	struct plan_file_header h;
	size_t bytes;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	bytes = (size_t)h.nsites * sizeof(*out->sites);
	if (memcmp(h.magic, PLAN_MAGIC, 8) || h.size != size || h.nsites > size / 2 ||
	    len != sizeof(h) + bytes)
		return -1;
	out->sites = malloc(bytes ? bytes : 1);
	if (!out->sites)
		return -1;
	memcpy(out->sites, (const char *)buf + sizeof(h), bytes);
	for (uint32_t i = 0; i < h.nsites; i++) {
		const struct plan_site *s = &out->sites[i];

		if (s->len < 5 || s->len > SITE_WINDOW_MAX || s->off + (size_t)s->len > size ||
		    s->sys_off + 2u > s->len || memcmp(code + s->off, s->bytes, s->len) ||
		    (i && s->off < s[-1].off + s[-1].len)) {
			free(out->sites);
			memset(out, 0, sizeof(*out));
			return -1;
		}
	}
	out->nsites = h.nsites;
	out->nrefused = h.nrefused;
	return 0;
}

int plan_cache_load(const char *key, const uint8_t *code, size_t size, struct plan *out)
{
	const char *d = plan_cache_dir();
	char path[768];
	struct stat st;
	char *buf = NULL;
	int fd, r = -1;

	memset(out, 0, sizeof(*out));
	if (!d)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.plan", d, key);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && st.st_size > 0 &&
	    st.st_size < (1 << 24) && (buf = malloc(st.st_size)) &&
	    read(fd, buf, st.st_size) == st.st_size)
		r = plan_parse(buf, st.st_size, code, size, out);
	free(buf);
	close(fd);
	return r;
}

void plan_cache_store(const char *key, size_t size, const struct plan *p)
{
	const char *d = plan_cache_dir();
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
