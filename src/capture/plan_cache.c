/*
 * The patch-plan cache: disassembling libc costs tens of milliseconds, far
 * over the per-exec budget, so each plan is kept in a file named by the
 * object's build-id (or, for an object without one, a hash of its file's
 * identity: objects.c, file_key) and the segment's address.
 *
 * Directory: $DEFUSE_CACHE_DIR, else $XDG_CACHE_HOME/defuse, else
 * $HOME/.cache/defuse; DEFUSE_CACHE_DIR=off disables the cache.  The
 * directory must belong to the user and not be writable by others, since a
 * plan says where code gets rewritten.  A plan is used only if every site's
 * recorded bytes match the code in memory; files are replaced atomically.
 *
 * Images.  Patching applies a plan in every process: some 200 of libc's
 * pages copied on write, the mprotect window around it, the trampolines
 * written out.  Measured, that was most of capture's start-up per exec.
 * Since the trampolines hold nothing that differs between processes when
 * they sit at a fixed distance from the code (trampoline.c), the patched
 * state of a segment can be kept as a file, an image: a copy of the object
 * whose code pages are the patched ones, the trampolines after its end, a
 * header last.  A process maps the image's code over the object's (private,
 * read+execute: page-cache pages shared by every process, nothing copied)
 * and its trampolines at the fixed distance.  The copy is a whole, valid
 * object, so perf and the like still find symbols and build-id in the file
 * a mapping names.
 *
 * An image is used only if its header's checksum, the emitter's
 * fingerprint (tramp_fingerprint), the segment's size and page offset, and
 * the object's identity (device, inode, size, mtime: a library replaced by
 * an upgrade is another inode or mtime) all match, and the file name
 * carries the build-id or identity key; otherwise it is remade.  It is
 * written to a temporary name, synced and renamed, so a reader maps a
 * whole file or none; racing writers each rename a whole one.  When
 * anything fails (no cache, no room at the distance, a cache on a noexec
 * mount) the segment is patched in place as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pwd.h>
#include <unistd.h>
#include "capture/capture.h"
#include "capture/plan.h"
#include "capture/trampoline.h"
#include "common/exec_layout.h"
#include "common/util.h"
#include "kernel/sys.h"

static char cache_dir[512] EXEC_DATA;
static int cache_state EXEC_DATA;	/* 0 unknown, 1 usable, -1 off */
static uid_t euid EXEC_DATA;		/* the owner cache files must have, once known */

/*
 * a, b and c joined into out (cap bytes); the length, or -1 if it does not
 * fit.  The paths read at every start are put together with this instead
 * of snprintf, whose code (some 6 pages of libc) each new process would
 * otherwise fault in, in libc's own text mapping, just before the image
 * replaces that mapping: measured, 6 page faults per exec.
 */
static int join3(char *out, size_t cap, const char *a, const char *b, const char *c)
{
	size_t la = d_strlen(a), lb = d_strlen(b), lc = d_strlen(c);

	if (la + lb + lc >= cap)
		return -1;
	memcpy(out, a, la);
	memcpy(out + la, b, lb);
	memcpy(out + la + lb, c, lc + 1);
	return (int)(la + lb + lc);
}

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

	euid = (uid_t)sys0(SYS_geteuid);
	return sys2(SYS_stat, path, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == euid && !(st.st_mode & 022);
}

/* $HOME, or the password database's idea of it when HOME is unset. */
static const char *home_dir(void)
{
	const char *home = defuse_getenv("HOME");
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
	env = defuse_getenv("DEFUSE_CACHE_DIR");
	if (env && !strcmp(env, "off"))
		return NULL;
	if (env && *env)
		n = join3(cache_dir, sizeof(cache_dir), env, "", "");
	else if ((env = defuse_getenv("XDG_CACHE_HOME")) && *env == '/')
		n = join3(cache_dir, sizeof(cache_dir), env, "/defuse", "");
	else if ((home = home_dir()))
		n = join3(cache_dir, sizeof(cache_dir), home, "/.cache/defuse", "");
	if (n <= 0 || n >= (int)sizeof(cache_dir) - 160)
		return NULL;
	/* Usually there already: one stat, no mkdir per path component. */
	if (!dir_is_private(cache_dir) &&
	    (mkdirs_private(cache_dir) || !dir_is_private(cache_dir)))
		return NULL;
	cache_state = 1;
	return cache_dir;
}

/* plan_parse, with the sites in `room` when they fit (no malloc). */
static int parse_into(const void *buf, size_t len, const uint8_t *code, size_t size,
		      struct plan *out, struct plan_site *room, uint32_t nroom)
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
	/* A plan of no sites is a plan too: an object whose `syscall` byte
	   pairs all lie inside other instructions (gcc's cc1, 20 MB) would
	   otherwise be planned again at every start. */
	if (!h.nsites) {
		out->nrefused = h.nrefused;
		return 0;
	}
	out->sites = h.nsites <= nroom ? room : malloc(bytes);
	if (!out->sites)
		return -1;
	memcpy(out->sites, (const char *)buf + sizeof(h), bytes);
	for (uint32_t i = 0; i < h.nsites; i++) {
		const struct plan_site *s = &out->sites[i];

		if (s->len < 5 || s->len > SITE_WINDOW_MAX || s->off + (size_t)s->len > size ||
		    s->sys_off + 2u > s->len || memcmp(code + s->off, s->bytes, s->len) ||
		    (i && s->off < s[-1].off + s[-1].len)) {
			if (out->sites != room)
				free(out->sites);
			memset(out, 0, sizeof(*out));
			return -1;
		}
	}
	out->nsites = h.nsites;
	out->nrefused = h.nrefused;
	return 0;
}

int plan_parse(const void *buf, size_t len, const uint8_t *code, size_t size,
	       struct plan *out)
{
	return parse_into(buf, len, code, size, out, NULL, 0);
}

int plan_cache_load(const char *key, const uint8_t *code, size_t size, struct plan *out,
		    struct plan_site *room, uint32_t nroom)
{
	const char *d = plan_cache_dir();
	char path[768], small[2048];
	struct stat st;
	char *buf = NULL;
	int fd, r = -1;

	memset(out, 0, sizeof(*out));
	if (!d || join3(path, sizeof(path), d, "/", key) < 0 ||
	    join3(path + d_strlen(path), sizeof(path) - d_strlen(path), ".plan", "", "") < 0)
		return -1;
	/* Raw system calls here and in plan_image_map: libc's wrappers
	   would be one more page of libc touched, and a trampoline, at every
	   start (see defuse_getenv). */
	fd = (int)sys3(SYS_open, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return -1;
	/* A small plan (the vDSO's) is read without malloc. */
	if (sys2(SYS_fstat, fd, &st) == 0 && st.st_uid == euid && st.st_size > 0 &&
	    st.st_size < (1 << 24) &&
	    (buf = (size_t)st.st_size <= sizeof(small) ? small : malloc(st.st_size)) &&
	    sys3(SYS_read, fd, buf, st.st_size) == st.st_size)
		r = parse_into(buf, st.st_size, code, size, out, room, nroom);
	if (buf != small)
		free(buf);
	sys1(SYS_close, fd);
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

#define IMAGE_MAGIC "DFIMG001"

struct image_header {
	char magic[8];
	uint64_t emitter;		/* tramp_fingerprint() */
	struct plan_src src;		/* the object it was made from (fd unused) */
	uint64_t seg_size;		/* of the code segment */
	uint64_t page_off;		/* the segment's start within its first page */
	uint64_t code_off, code_len;	/* the patched pages in this file */
	int64_t delta;			/* trampoline region less the first code page */
	uint64_t tramp_off, tramp_len;	/* the trampolines in this file */
	struct plan_image_info info;
	uint64_t check;			/* FNV-1a of all of the above */
};

static uint64_t fnv(const void *p, size_t n)
{
	return d_fnv1a(D_FNV1A_INIT, p, n);
}

static uint64_t emitter(void)
{
	static uint64_t fp EXEC_DATA;

	if (!fp)
		fp = tramp_fingerprint();
	return fp;
}

static int same_src(const struct plan_src *a, const struct plan_src *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

void plan_src_from_stat(struct plan_src *src, const struct stat *st)
{
	memset(src, 0, sizeof(*src));
	src->dev = st->st_dev;
	src->ino = st->st_ino;
	src->size = st->st_size;
	src->mtime_sec = st->st_mtim.tv_sec;
	src->mtime_nsec = st->st_mtim.tv_nsec;
}

/* d/key.img; "" if it does not fit (no such file: the image is not used). */
static void image_path(char *path, size_t cap, const char *d, const char *key)
{
	int n = join3(path, cap, d, "/", key);

	if (n < 0 || join3(path + n, cap - n, ".img", "", "") < 0)
		path[0] = 0;
}

int plan_image_map(const char *key, uint8_t *code, size_t size, const struct plan_src *src,
		   struct plan_image_info *out, int *remake)
{
	const char *d = plan_cache_dir();
	uintptr_t page_lo = (uintptr_t)code & ~4095UL;
	uintptr_t code_len = (((uintptr_t)code + size + 4095) & ~4095UL) - page_lo;
	struct image_header h;
	struct stat st;
	char path[768];
	uintptr_t region;
	long p;
	int fd;

	*remake = 0;
	if (!d)
		return -1;
	image_path(path, sizeof(path), d, key);
	fd = (int)sys3(SYS_open, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) {
		*remake = fd == -ENOENT;
		return -1;
	}
	*remake = 1;	/* until it proves good */
	if (sys2(SYS_fstat, fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != euid ||
	    (size_t)st.st_size < sizeof(h) ||
	    sys4(SYS_pread64, fd, &h, sizeof(h), st.st_size - sizeof(h)) != sizeof(h) ||
	    memcmp(h.magic, IMAGE_MAGIC, 8) || h.check != fnv(&h, offsetof(struct image_header, check)) ||
	    h.emitter != emitter() || !same_src(&h.src, src) || h.seg_size != size ||
	    h.page_off != ((uintptr_t)code & 4095))
		goto fail;
	/* A segment with no `syscall` byte pair: nothing to map. */
	if (!h.info.nsites && !h.info.nrefused && !h.code_len && !h.tramp_len &&
	    st.st_size == sizeof(h)) {
		*remake = 0;
		sys1(SYS_close, fd);
		*out = h.info;
		return 0;
	}
	if (h.code_len != code_len || (h.code_off | h.tramp_off | h.tramp_len) & 4095 ||
	    !h.tramp_len || h.code_off + h.code_len > h.tramp_off ||
	    h.tramp_off + h.tramp_len + sizeof(h) != (uint64_t)st.st_size)
		goto fail;
	*remake = 0;
	/* The trampolines first: if the place is taken or the cache's file
	   system forbids executable mappings, the code is still untouched. */
	/*
	 * Header and trampolines are one private mapping of the file, the
	 * page before the trampolines standing in for the header: mapped
	 * writable, the header written (that page becomes the process's
	 * own), then made read+execute in one call; MAP_FIXED_NOREPLACE
	 * replaces nothing of the process's.  One mapping, not an anonymous
	 * header beside a file mapping: a system call and a mapping less per
	 * image, and, the mapping having a page of its own, fork copies its
	 * page-table entries, so a child does not fault in the trampolines
	 * it runs between fork and exec (issue 11, measured).
	 */
	region = page_lo + h.delta;
	p = sys6(SYS_mmap, region, TRAMP_HEADER + h.tramp_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, h.tramp_off - TRAMP_HEADER);
	if (sys_failed(p))
		goto fail;
	if ((uintptr_t)p != region) {
		sys2(SYS_munmap, p, TRAMP_HEADER + h.tramp_len);
		goto fail;
	}
	memset((void *)region, 0, TRAMP_HEADER);
	tramp_header_fill((void *)region);
	if (sys_failed(sys3(SYS_mprotect, region, TRAMP_HEADER + h.tramp_len,
			    PROT_READ | PROT_EXEC)))
		goto unmap;
	/*
	 * The code: replaces the object's own mapping of it in one call.  The
	 * checks a mapping of this file can fail (permissions, noexec) were
	 * passed just above; what is left is the kernel running out of
	 * memory, where the process could not go on anyway.
	 */
	if (sys_failed(sys6(SYS_mmap, page_lo, code_len, PROT_READ | PROT_EXEC,
			    MAP_PRIVATE | MAP_FIXED, fd, h.code_off)))
		goto unmap;
	sys1(SYS_close, fd);
	*out = h.info;
	return 0;
unmap:
	sys2(SYS_munmap, region, TRAMP_HEADER + h.tramp_len);
fail:
	sys1(SYS_close, fd);
	return -1;
}

/* Copies the object (len bytes from fd) into out, by the kernel if it can. */
static int copy_object(int in, int out, uint64_t len)
{
	char buf[1 << 16];
	loff_t off_in = 0, off_out = 0;
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = copy_file_range(in, &off_in, out, &off_out, len - done, 0);

		if (n <= 0)
			break;
		done += n;
	}
	while (done < len) {
		size_t want = len - done < sizeof(buf) ? len - done : sizeof(buf);
		ssize_t n = pread(in, buf, want, done);

		if (n <= 0 || pwrite(out, buf, n, done) != n)
			return -1;
		done += n;
	}
	return 0;
}

/* Writes the header-only image that says "no sites" (plan_image_map). */
void plan_image_store_none(const char *key, const uint8_t *code, size_t size,
			   const struct plan_src *src)
{
	const char *d = plan_cache_dir();
	struct image_header h;
	char path[768], tmp[800];
	int fd;

	if (!d)
		return;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, IMAGE_MAGIC, 8);
	h.emitter = emitter();
	h.src = *src;
	h.seg_size = size;
	h.page_off = (uintptr_t)code & 4095;
	h.check = fnv(&h, offsetof(struct image_header, check));
	image_path(path, sizeof(path), d, key);
	if (!path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	/* Short enough to be written whole or not at all: no sync needed,
	   a torn one fails the checksum. */
	if (write(fd, &h, sizeof(h)) == sizeof(h) && close(fd) == 0) {
		if (rename(tmp, path))
			unlink(tmp);
		return;
	}
	close(fd);
	unlink(tmp);
}

/*
 * Is the patched code in memory the object's own code but for the plan's
 * windows?  Anything else (code some other tool rewrote in this process)
 * must not become every later process's code.
 */
static int only_plan_differs(int objfd, uint64_t fsize, uint64_t code_off, uintptr_t page_lo,
			     size_t code_len, const uint8_t *code, const struct plan *plan)
{
	size_t have = fsize > code_off ? fsize - code_off : 0;
	uint8_t *buf = calloc(1, code_len);
	int same = 0;

	if (!buf)
		return 0;
	if (have > code_len)
		have = code_len;
	if (pread(objfd, buf, have, code_off) == (ssize_t)have) {
		for (uint32_t i = 0; i < plan->nsites; i++)
			memcpy(buf + (code - (const uint8_t *)page_lo) + plan->sites[i].off,
			       code + plan->sites[i].off, plan->sites[i].len);
		same = !memcmp(buf, (const void *)page_lo, code_len);
	}
	free(buf);
	return same;
}

void plan_image_store(const char *key, const uint8_t *code, size_t size, uint64_t file_off,
		      int objfd, const struct tramp_place *pl, const struct plan_image_info *info,
		      const struct plan *plan)
{
	const char *d = plan_cache_dir();
	uintptr_t page_lo = (uintptr_t)code & ~4095UL;
	uintptr_t code_len = (((uintptr_t)code + size + 4095) & ~4095UL) - page_lo;
	struct image_header h;
	char path[768], tmp[800];
	struct stat st;
	uint64_t end;
	int fd;

	if (!d || !pl->at_delta || pl->region_size <= TRAMP_HEADER || fstat(objfd, &st) ||
	    (file_off & 4095) != ((uintptr_t)code & 4095) ||
	    !only_plan_differs(objfd, st.st_size, file_off & ~4095UL, page_lo, code_len, code, plan))
		return;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, IMAGE_MAGIC, 8);
	h.emitter = emitter();
	plan_src_from_stat(&h.src, &st);
	h.seg_size = size;
	h.page_off = (uintptr_t)code & 4095;
	h.code_off = file_off & ~4095UL;
	h.code_len = code_len;
	h.delta = pl->delta;
	end = (uint64_t)st.st_size;
	if (h.code_off + code_len > end)
		end = h.code_off + code_len;
	h.tramp_off = (end + 4095) & ~4095UL;
	h.tramp_len = pl->region_size - TRAMP_HEADER;
	h.info = *info;
	h.check = fnv(&h, offsetof(struct image_header, check));

	image_path(path, sizeof(path), d, key);
	if (!path[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	/* Synced before the rename: after a crash the name holds a whole
	   image or nothing, never blocks of zeros mapped as code. */
	if (copy_object(objfd, fd, st.st_size) == 0 &&
	    pwrite(fd, (const void *)page_lo, code_len, h.code_off) == (ssize_t)code_len &&
	    pwrite(fd, pl->region + TRAMP_HEADER, h.tramp_len, h.tramp_off) ==
	    (ssize_t)h.tramp_len &&
	    pwrite(fd, &h, sizeof(h), h.tramp_off + h.tramp_len) == sizeof(h) &&
	    fdatasync(fd) == 0 && close(fd) == 0) {
		if (rename(tmp, path))
			unlink(tmp);
		return;
	}
	close(fd);
	unlink(tmp);
}
