/*
 * The resolver (src/core/resolve.c) against fake modules (fake_fs.c),
 * linked from the real sources with the adapter (src/module/call.c).  The
 * few core symbols resolve.c needs are stood in for here, under the tests'
 * control: the mount table, the descriptor table, the cwd of the call, the
 * magic-link parser and the system call gate.
 *
 * Mounts (made-up points: the kernel has nothing there, so the kernel part
 * of a walk is lexical and its readlinks find nothing):
 *   0  /defuse-test/mnt   in-memory tree
 *   1  /defuse-test/res   the same tree, DEFUSE_MODULE_RESOLVES
 *   2  /defuse-test/back  a real scratch directory (kernel descriptors)
 *   3  /defuse-test/perm  the in-memory tree, DEFUSE_CAP_PERMISSIONS
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core/core.h"
#include "core/resolve.h"
#include "core/syscalls.h"
#include "fake_fs.h"

#define MNT "/defuse-test/mnt"
#define RES "/defuse-test/res"
#define BACK "/defuse-test/back"
#define PERM "/defuse-test/perm"
enum { M_TREE, M_RES, M_BACK, M_PERM };

/* ---- The core's symbols resolve.c uses ---------------------------------- */

struct core_mount core_mounts[CORE_MOUNTS_MAX];
int core_nmounts;
struct core_fd **core_fds;
int core_nfds;

/* References taken and not given back: every walk must end at 0. */
static int fd_refs;

struct core_fd *core_fd_acquire(long fd)
{
	struct core_fd *f = core_fd_get(fd);

	if (f)
		fd_refs++;
	return f;
}

void core_fd_release(struct core_fd *f)
{
	if (f)
		fd_refs--;
}

long core_fd_link(const char *p, const char **rest)
{
	static const char *const prefixes[] = {
		"/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/",
	};

	for (unsigned i = 0; i < 3; i++) {
		size_t n = strlen(prefixes[i]);
		char *end;
		long fd;

		if (strncmp(p, prefixes[i], n) || p[n] < '0' || p[n] > '9')
			continue;
		fd = strtol(p + n, &end, 10);
		if (*end && *end != '/')
			return -1;
		*rest = end;
		return fd;
	}
	return -1;
}

/* No placeholders here but the table's own emulated entries. */
long core_fd_link_emulated(const char *p, const char **rest)
{
	long n = core_fd_link(p, rest);

	return n >= 0 && core_fd_emulated(n) ? n : -1;
}

/* The cwd of the call: NULL is the kernel's.  core_cwd_moved replaces it,
   as cwd.c does, with one at the new path on the same handle. */
static struct core_cwd cwd_obj[2], *cwd_now;
static int moved_calls, moved_fail;
static char moved_to[PATH_MAX];

const struct core_cwd *core_cwd_snap(void)
{
	return cwd_now;
}

int core_cwd_kfd(const struct core_cwd *c)
{
	return c->kfd;
}

/* As cwd.c's, for a handle that is a kernel descriptor. */
int core_cwd_path_now(const struct core_cwd *c, char out[PATH_MAX])
{
	return c->kfd >= 0 ? core_kfd_path_now(c->mount, c->kfd, out) : -1;
}

int core_cwd_moved(const char *path)
{
	struct core_cwd *next = cwd_now == &cwd_obj[0] ? &cwd_obj[1] : &cwd_obj[0];

	moved_calls++;
	snprintf(moved_to, sizeof(moved_to), "%s", path);
	if (moved_fail)
		return -ENOMEM;
	*next = *cwd_now;
	snprintf(next->path, sizeof(next->path), "%s", path);
	cwd_now = next;
	return 0;
}

static void set_cwd(int mount, const char *path, int kfd)
{
	memset(&cwd_obj[0], 0, sizeof(cwd_obj[0]));
	cwd_obj[0].refs = 1;
	cwd_obj[0].mount = (short)mount;
	cwd_obj[0].kfd = kfd;
	cwd_obj[0].fh_mount = -1;
	snprintf(cwd_obj[0].path, sizeof(cwd_obj[0].path), "%s", path);
	cwd_now = &cwd_obj[0];
}

/* creds.c's answers: the caller of the walks (user 0 unless a test says). */
static uid_t caller_uid;

int defuse_fs_ids_are_real(void)
{
	return 1;
}

void defuse_fs_ids(uid_t *uid, gid_t *gid)
{
	*uid = caller_uid;
	*gid = caller_uid;
}

/* program.c's caller, for perm.c: no supplementary groups. */
const struct mod_caller *core_caller(int effective, struct mod_caller *who)
{
	(void)effective;
	memset(who, 0, sizeof(*who));
	return who;
}

/* capture/gate.S's gate, as the raw system call it stands for. */
long defuse_gate_own(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long r = syscall(nr, a1, a2, a3, a4, a5, a6);

	return r == -1 ? -errno : r;
}

/* ---- Fixtures ------------------------------------------------------------ */

static char scratch[PATH_MAX];	/* a real directory, for the kernel's part */
static char backing[PATH_MAX];	/* scratch/root: mount 2's backing root */
static int opened[16], nopened;	/* descriptors a test opened */

static int open_kept(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd >= 0 && nopened < (int)(sizeof(opened) / sizeof(opened[0])))
		opened[nopened++] = fd;
	return fd;
}

/* Descriptor fd is one of mount `mount`'s, at path (emulated with o). */
static void put_fd(int fd, int mount, const char *path, struct core_open *o)
{
	struct core_fd *f = calloc(1, sizeof(*f) + PATH_MAX);

	assert_non_null(f);
	assert_true(fd >= 0 && fd < CORE_FD_MAX);
	assert_null(core_fds[fd]);
	f->refs = 1;
	f->mount = mount;
	f->open = o;
	snprintf(f->path, PATH_MAX, "%s", path);
	core_fds[fd] = f;
	core_nfds++;
}

static void add_mount(const char *point, const struct defuse_module *mod)
{
	struct core_mount *m = &core_mounts[core_nmounts];
	char why[256];

	snprintf(m->point, sizeof(m->point), "%s", point);
	m->len = strlen(m->point);
	m->base = strrchr(m->point, '/') + 1;
	m->baselen = strlen(m->base);
	/* As mounts.c starts a module. */
	m->resolves = (mod->flags & DEFUSE_MODULE_RESOLVES) != 0;
	if (mod_start(&m->ref, mod, DEFUSE_HOST_PROCESS, "", why, sizeof(why)) < 0)
		abort();
	core_nmounts++;
}

static char name_a[256], name_b[256];	/* NAME_MAX bytes each */

/* "/prefix" followed by k components name_a: a directory each. */
static void long_dirs(const char *prefix, int k)
{
	char p[PATH_MAX + 1];

	snprintf(p, sizeof(p), "%s", prefix);
	for (int i = 0; i < k; i++) {
		core_path_push(p, sizeof(p), name_a, 255);
		fake_fs_dir(p);
	}
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/defuse-test-resolve-XXXXXX", link[PATH_MAX + 32];

	(void)state;
	/* Kernel paths the walk reads must be free of symbolic links. */
	if (!mkdtemp(tmpl) || !realpath(tmpl, scratch))
		return -1;
	snprintf(backing, sizeof(backing), "%s/root", scratch);
	snprintf(link, sizeof(link), "%s/tomnt", scratch);
	if (symlink(MNT "/d", link) < 0)
		return -1;

	memset(name_a, 'a', 255);
	memset(name_b, 'b', 255);
	fake_fs_dir("/d");
	fake_fs_dir("/d/e");
	fake_fs_file("/d/g");
	fake_fs_link("/d/up", "../f");
	fake_fs_file("/f");
	fake_fs_link("/ld", "d");
	fake_fs_link("/lf", "f");
	fake_fs_link("/lx", "f/");
	fake_fs_link("/tokern", "/defuse-test-kern/t");
	fake_fs_link("/back", MNT "/d");
	fake_fs_link("/tores", RES "/d");
	fake_fs_link("/out", "../x");
	fake_fs_link("/la", "lb");
	fake_fs_link("/lb", "la");
	snprintf(link, sizeof(link), "%s/tomnt", scratch);
	fake_fs_link("/toscratch", link);
	/* c0 -> c1 -> ... -> c40 -> d: c1 is 40 links from d, c0 41. */
	for (int i = 0; i <= 40; i++) {
		char p[16], t[16];

		snprintf(p, sizeof(p), "/c%d", i);
		snprintf(t, sizeof(t), i < 40 ? "c%d" : "d", i + 1);
		fake_fs_link(p, t);
	}
	long_dirs("/", 15);
	long_dirs("/d", 15);
	{
		char p[PATH_MAX + 1] = "/";

		for (int i = 0; i < 15; i++)
			core_path_push(p, sizeof(p), name_a, 255);
		core_path_push(p, sizeof(p), name_b, 255);
		fake_fs_file(p);
	}

	core_fds = calloc(CORE_FD_MAX, sizeof(*core_fds));
	if (!core_fds)
		return -1;
	add_mount(MNT, &fake_fs_module);
	add_mount(RES, &fake_fs_module_resolves);
	add_mount(BACK, &fake_backed_module);
	add_mount(PERM, &fake_fs_module_perms);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (scratch[0])
		rm_tree(scratch);
	fake_fs_clear();
	free(core_fds);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	cwd_now = NULL;
	caller_uid = 0;
	fake_fs_chmod("/d", 0755);
	moved_calls = moved_fail = 0;
	moved_to[0] = 0;
	fd_refs = 0;
	nopened = 0;
	fake_fs_count_reset();
	if (mkdir(backing, 0755) < 0)
		return -1;
	fake_backed_root(backing);
	return 0;
}

/* Runs after a failed test too: nothing may leak into the next one. */
static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < CORE_FD_MAX; i++)
		if (core_fds[i]) {
			free(core_fds[i]);
			core_fds[i] = NULL;
		}
	core_nfds = 0;
	while (nopened > 0)
		close(opened[--nopened]);
	cwd_now = NULL;
	rm_tree(backing);
	return 0;
}

/* ---- Checking a result --------------------------------------------------- */

static struct core_loc L;

static int res(long dfd, const char *path, unsigned flags)
{
	int r;

	memset(&L, 0x5a, sizeof(L));	/* nothing left from the last walk */
	r = core_resolve(dfd, path, flags, &L);
	assert_int_equal(fd_refs, 0);
	return r;
}

static int res_dir(long dfd, const char *path)
{
	int r;

	memset(&L, 0x5a, sizeof(L));
	r = core_resolve_dir(dfd, path, &L);
	assert_int_equal(fd_refs, 0);
	return r;
}

static const char *where_name(enum core_where w)
{
	return w == CORE_UNTOUCHED ? "UNTOUCHED" : w == CORE_KERNEL ? "KERNEL" :
	       w == CORE_MOUNT ? "MOUNT" : "(garbage)";
}

/* The whole result: return value, where, mount, path, mountpoint. */
static void check_loc(const char *file, int line, int r, enum core_where where, int mount,
		      const char *path, bool mountpoint)
{
	if (r == 0 && L.where == where && L.mount == mount && L.mountpoint == mountpoint &&
	    memchr(L.path, 0, sizeof(L.path)) && !strcmp(L.path, path))
		return;
	print_error("want 0 %s mount %d \"%.200s\"%s\n"
		    " got %d %s mount %d \"%.200s\"%s\n",
		    where_name(where), mount, path, mountpoint ? " mountpoint" : "",
		    r, where_name(L.where), L.mount,
		    memchr(L.path, 0, sizeof(L.path)) ? L.path : "(unterminated)",
		    L.mountpoint ? " mountpoint" : "");
	_fail(file, line);
}

#define IN_MOUNT(r, m, path) check_loc(__FILE__, __LINE__, r, CORE_MOUNT, m, path, false)
#define IN_KERNEL(r, path) check_loc(__FILE__, __LINE__, r, CORE_KERNEL, -1, path, false)
#define UNTOUCHED(r, path) check_loc(__FILE__, __LINE__, r, CORE_UNTOUCHED, -1, path, false)
#define MOUNT_POINT(r, path) check_loc(__FILE__, __LINE__, r, CORE_KERNEL, -1, path, true)
#define FAILS(r, err) assert_int_equal(r, -(err))

/* ---- Into a mount -------------------------------------------------------- */

static void test_absolute_into_mount(void **state)
{
	(void)state;
	IN_MOUNT(res(AT_FDCWD, MNT "/d/g", CORE_RES_FOLLOW), M_TREE, "/d/g");
	/* A module that does not resolve: the core walked it all (resolve.h). */
	assert_true(L.strict);
	IN_MOUNT(res(AT_FDCWD, MNT "/d/g", 0), M_TREE, "/d/g");
	IN_MOUNT(res(AT_FDCWD, MNT "/d", CORE_RES_FOLLOW), M_TREE, "/d");
	IN_MOUNT(res(AT_FDCWD, MNT "/d/g", CORE_RES_STRICT), M_TREE, "/d/g");
	assert_true(L.strict);
	FAILS(res(AT_FDCWD, NULL, 0), EFAULT);
	FAILS(res(AT_FDCWD, "", 0), ENOENT);
}

static void test_mount_point_itself(void **state)
{
	(void)state;
	IN_MOUNT(res(AT_FDCWD, MNT, CORE_RES_FOLLOW), M_TREE, "/");
	IN_MOUNT(res(AT_FDCWD, MNT, 0), M_TREE, "/");
	IN_MOUNT(res(AT_FDCWD, MNT "/", 0), M_TREE, "/");
	IN_MOUNT(res(AT_FDCWD, MNT "//", CORE_RES_FOLLOW), M_TREE, "/");
	IN_MOUNT(res(AT_FDCWD, MNT "/d/..", 0), M_TREE, "/");
	/* The kernel part before the mount is lexical. */
	IN_MOUNT(res(AT_FDCWD, "/defuse-test/./mnt", 0), M_TREE, "/");
	IN_MOUNT(res(AT_FDCWD, "/defuse-test/nothing/../mnt", 0), M_TREE, "/");
	IN_MOUNT(res(AT_FDCWD, "//defuse-test//mnt", 0), M_TREE, "/");
}

static void test_dot_and_empty_components(void **state)
{
	(void)state;
	IN_MOUNT(res(AT_FDCWD, MNT "//d/.//./g", CORE_RES_FOLLOW), M_TREE, "/d/g");
	IN_MOUNT(res(AT_FDCWD, "///defuse-test/mnt/d/e/../g", 0), M_TREE, "/d/g");
	IN_MOUNT(res(AT_FDCWD, MNT "/./.", 0), M_TREE, "/");
	IN_MOUNT(res(AT_FDCWD, MNT "/d/.", 0), M_TREE, "/d");
}

static void test_trailing_slash(void **state)
{
	(void)state;
	IN_MOUNT(res(AT_FDCWD, MNT "/d/", 0), M_TREE, "/d");
	IN_MOUNT(res(AT_FDCWD, MNT "/d//", CORE_RES_FOLLOW), M_TREE, "/d");
	FAILS(res(AT_FDCWD, MNT "/f/", 0), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/f/", CORE_RES_FOLLOW), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/f/", CORE_RES_NAME), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/f/.", 0), ENOTDIR);
	/* mkdir("nx/") creates it. */
	IN_MOUNT(res(AT_FDCWD, MNT "/nx/", 0), M_TREE, "/nx");
	IN_MOUNT(res(AT_FDCWD, MNT "/nx/", CORE_RES_NAME), M_TREE, "/nx");
	FAILS(res(AT_FDCWD, MNT "/nx/.", 0), ENOENT);
}

/* ---- ".." at a mount's root ---------------------------------------------- */

static void test_dotdot_leaves_mount(void **state)
{
	(void)state;
	IN_KERNEL(res(AT_FDCWD, MNT "/..", 0), "/defuse-test");
	IN_KERNEL(res(AT_FDCWD, MNT "/../x", CORE_RES_FOLLOW), "/defuse-test/x");
	IN_KERNEL(res(AT_FDCWD, MNT "/d/../../x/y", 0), "/defuse-test/x/y");
	IN_KERNEL(res(AT_FDCWD, MNT "/../../../..", 0), "/");
	/* Out and in again. */
	IN_MOUNT(res(AT_FDCWD, MNT "/../mnt/d", 0), M_TREE, "/d");
	set_cwd(M_TREE, "/", -1);
	IN_KERNEL(res(AT_FDCWD, "..", 0), "/defuse-test");
	IN_KERNEL(res(AT_FDCWD, "../", CORE_RES_STRICT), "/defuse-test");
}

static void test_dotdot_no_xdev(void **state)
{
	int dfd = open_kept("/", O_RDONLY | O_DIRECTORY);

	(void)state;
	set_cwd(M_TREE, "/", -1);
	FAILS(res(AT_FDCWD, "..", CORE_RES_NO_XDEV), EXDEV);
	FAILS(res(AT_FDCWD, "d/../..", CORE_RES_NO_XDEV), EXDEV);
	IN_MOUNT(res(AT_FDCWD, "d/..", CORE_RES_NO_XDEV), M_TREE, "/");
	assert_true(L.strict);
	/* So is an absolute link's jump out of the mount. */
	FAILS(res(AT_FDCWD, "tokern", CORE_RES_NO_XDEV | CORE_RES_FOLLOW), EXDEV);
	put_fd(dfd, M_TREE, "/", NULL);
	FAILS(res(dfd, "..", CORE_RES_NO_XDEV), EXDEV);
	/* Entering a mount is crossing too. */
	cwd_now = NULL;
	FAILS(res(AT_FDCWD, MNT "/d", CORE_RES_NO_XDEV), EXDEV);
}

static void test_dotdot_beneath(void **state)
{
	int root = open_kept("/", O_RDONLY | O_DIRECTORY);
	int d = open_kept("/", O_PATH | O_DIRECTORY);

	(void)state;
	put_fd(root, M_TREE, "/", NULL);
	put_fd(d, M_TREE, "/d", NULL);
	FAILS(res(root, "..", CORE_RES_BENEATH), EXDEV);
	FAILS(res(root, "d/../..", CORE_RES_BENEATH), EXDEV);
	IN_MOUNT(res(root, "d/..", CORE_RES_BENEATH), M_TREE, "/");
	IN_MOUNT(res(root, "d/g", CORE_RES_BENEATH), M_TREE, "/d/g");
	FAILS(res(root, "/d", CORE_RES_BENEATH), EXDEV);
	FAILS(res(root, "back", CORE_RES_BENEATH | CORE_RES_FOLLOW), EXDEV);
	FAILS(res(d, "../f", CORE_RES_BENEATH), EXDEV);
	FAILS(res(d, "up", CORE_RES_BENEATH | CORE_RES_FOLLOW), EXDEV);
	IN_MOUNT(res(d, "e/..", CORE_RES_BENEATH), M_TREE, "/d");
}

static void test_dotdot_in_root(void **state)
{
	int root = open_kept("/", O_RDONLY | O_DIRECTORY);
	int d = open_kept("/", O_PATH | O_DIRECTORY);

	(void)state;
	put_fd(root, M_TREE, "/", NULL);
	put_fd(d, M_TREE, "/d", NULL);
	IN_MOUNT(res(root, "..", CORE_RES_IN_ROOT), M_TREE, "/");
	IN_MOUNT(res(root, "../../d/g", CORE_RES_IN_ROOT), M_TREE, "/d/g");
	IN_MOUNT(res(root, "/d/g", CORE_RES_IN_ROOT), M_TREE, "/d/g");
	IN_MOUNT(res(d, "../..", CORE_RES_IN_ROOT), M_TREE, "/d");
	/* A link is resolved inside the root too. */
	IN_MOUNT(res(d, "up", CORE_RES_IN_ROOT | CORE_RES_FOLLOW), M_TREE, "/d/f");
	FAILS(res(root, "back/g", CORE_RES_IN_ROOT), ENOENT);
	set_cwd(M_TREE, "/", -1);
	IN_MOUNT(res(AT_FDCWD, "..", CORE_RES_IN_ROOT), M_TREE, "/");
}

/* ---- Symbolic links across the boundary ---------------------------------- */

static void test_link_to_kernel(void **state)
{
	(void)state;
	IN_KERNEL(res(AT_FDCWD, MNT "/tokern", CORE_RES_FOLLOW), "/defuse-test-kern/t");
	IN_KERNEL(res(AT_FDCWD, MNT "/tokern/more", 0), "/defuse-test-kern/t/more");
	IN_KERNEL(res(AT_FDCWD, MNT "/tokern/", 0), "/defuse-test-kern/t");
	IN_KERNEL(res(AT_FDCWD, MNT "/tokern/..", 0), "/defuse-test-kern");
	IN_MOUNT(res(AT_FDCWD, MNT "/tokern", 0), M_TREE, "/tokern");
}

static void test_link_back_into_mount(void **state)
{
	(void)state;
	IN_MOUNT(res(AT_FDCWD, MNT "/back/g", 0), M_TREE, "/d/g");
	IN_MOUNT(res(AT_FDCWD, MNT "/back", CORE_RES_FOLLOW), M_TREE, "/d");
	IN_MOUNT(res(AT_FDCWD, MNT "/back/../f", CORE_RES_STRICT), M_TREE, "/f");
	/* Out through a mount link to a kernel link that leads back in: after
	   a mount the kernel part is read physically. */
	IN_MOUNT(res(AT_FDCWD, MNT "/toscratch/g", CORE_RES_FOLLOW), M_TREE, "/d/g");
}

static void test_relative_link_out(void **state)
{
	(void)state;
	IN_KERNEL(res(AT_FDCWD, MNT "/out", CORE_RES_FOLLOW), "/defuse-test/x");
	IN_KERNEL(res(AT_FDCWD, MNT "/out/y", 0), "/defuse-test/x/y");
	IN_MOUNT(res(AT_FDCWD, MNT "/out", 0), M_TREE, "/out");
}

static void test_kernel_link_into_mount(void **state)
{
	char p[PATH_MAX + 32], want[PATH_MAX + 32];

	(void)state;
	snprintf(p, sizeof(p), "%s/tomnt/g", scratch);
	snprintf(want, sizeof(want), "%s/tomnt/g", scratch);
	/* Untouched: the kernel resolves it (and fails: nothing is there). */
	UNTOUCHED(res(AT_FDCWD, p, CORE_RES_FOLLOW), want);
	/* After the kernel said ENOENT. */
	IN_MOUNT(res(AT_FDCWD, p, CORE_RES_FOLLOW | CORE_RES_PHYSICAL), M_TREE, "/d/g");
}

static void test_last_link(void **state)
{
	(void)state;
	IN_MOUNT(res(AT_FDCWD, MNT "/ld", CORE_RES_FOLLOW), M_TREE, "/d");
	IN_MOUNT(res(AT_FDCWD, MNT "/ld/g", 0), M_TREE, "/d/g");
	fake_fs_count_reset();
	IN_MOUNT(res(AT_FDCWD, MNT "/ld", 0), M_TREE, "/ld");
	assert_int_equal(fake_fs_calls.readlink, 0);
	/* lstat("ld/") follows it. */
	IN_MOUNT(res(AT_FDCWD, MNT "/ld/", 0), M_TREE, "/d");
	FAILS(res(AT_FDCWD, MNT "/lf/", 0), ENOTDIR);
	IN_MOUNT(res(AT_FDCWD, MNT "/lf", CORE_RES_FOLLOW), M_TREE, "/f");

	/* A call on the name never follows it, not even for a slash: "ld/"
	   names no directory (rmdir, unlink and rename say ENOTDIR natively;
	   mkdir and mknod say EEXIST, which only their caller can tell). */
	fake_fs_count_reset();
	IN_MOUNT(res(AT_FDCWD, MNT "/ld", CORE_RES_NAME), M_TREE, "/ld");
	FAILS(res(AT_FDCWD, MNT "/ld/", CORE_RES_NAME), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/ld//", CORE_RES_NAME | CORE_RES_STRICT), ENOTDIR);
	assert_int_equal(fake_fs_calls.readlink, 0);
	IN_MOUNT(res(AT_FDCWD, MNT "/d/up", CORE_RES_NAME), M_TREE, "/d/up");
}

/*
 * A link whose target ends in a slash asks for a directory, as a trailing
 * slash of the path does: natively, with lx -> "f/" and f a regular file,
 * stat("lx") and open("lx") fail with ENOTDIR.  (The resolver used to
 * remember only the program's own trailing slash and answered "/f".)  A
 * call that creates the name finds it taken first: EEXIST.
 */
static void test_link_target_trailing_slash(void **state)
{
	(void)state;
	IN_MOUNT(res(AT_FDCWD, MNT "/lx", 0), M_TREE, "/lx");
	FAILS(res(AT_FDCWD, MNT "/lx/", 0), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/lx", CORE_RES_FOLLOW), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/f/", CORE_RES_NAME), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/f/", CORE_RES_NAME | CORE_RES_CREATE), EEXIST);
}

/* ---- ELOOP ---------------------------------------------------------------- */

static void test_eloop(void **state)
{
	(void)state;
	FAILS(res(AT_FDCWD, MNT "/la", CORE_RES_FOLLOW), ELOOP);
	FAILS(res(AT_FDCWD, MNT "/la/x", 0), ELOOP);
	IN_MOUNT(res(AT_FDCWD, MNT "/la", 0), M_TREE, "/la");

	/* The kernel's MAXSYMLINKS: 40 links are followed, the 41st is ELOOP. */
	fake_fs_count_reset();
	IN_MOUNT(res(AT_FDCWD, MNT "/c1", CORE_RES_FOLLOW), M_TREE, "/d");
	assert_int_equal(fake_fs_calls.readlink, 40);
	IN_MOUNT(res(AT_FDCWD, MNT "/c1/g", 0), M_TREE, "/d/g");
	FAILS(res(AT_FDCWD, MNT "/c0", CORE_RES_FOLLOW), ELOOP);
	FAILS(res(AT_FDCWD, MNT "/c0/g", 0), ELOOP);
	IN_MOUNT(res(AT_FDCWD, MNT "/c0", 0), M_TREE, "/c0");
}

static void test_no_symlinks(void **state)
{
	(void)state;
	fake_fs_count_reset();
	FAILS(res(AT_FDCWD, MNT "/c40", CORE_RES_FOLLOW | CORE_RES_NO_SYMLINKS), ELOOP);
	assert_true(fake_fs_calls.readlink <= 1);
	FAILS(res(AT_FDCWD, MNT "/ld/g", CORE_RES_NO_SYMLINKS), ELOOP);
	FAILS(res(AT_FDCWD, MNT "/ld/", CORE_RES_NO_SYMLINKS), ELOOP);
	/* O_NOFOLLOW: the link itself, no link followed. */
	IN_MOUNT(res(AT_FDCWD, MNT "/ld", CORE_RES_NO_SYMLINKS), M_TREE, "/ld");
	IN_MOUNT(res(AT_FDCWD, MNT "/d/g", CORE_RES_FOLLOW | CORE_RES_NO_SYMLINKS), M_TREE, "/d/g");
	assert_true(L.strict);
}

/* ---- Search permission (DEFUSE_CAP_PERMISSIONS) --------------------------- */

/* A directory another user may not search stops the walk there, as
   may_lookup does, before the name in it is looked up; user 0 passes; the
   walk's own lookups answer the checks (only the mount's root is asked for
   one) and the last name's directory stays in the result. */
static void test_search_permission(void **state)
{
	(void)state;
	fake_fs_chmod("/d", 0700);
	caller_uid = 1000;
	FAILS(res(AT_FDCWD, PERM "/d/g", CORE_RES_FOLLOW), EACCES);
	FAILS(res(AT_FDCWD, PERM "/d/.", CORE_RES_FOLLOW), EACCES);
	FAILS(res(AT_FDCWD, PERM "/ld/g", CORE_RES_FOLLOW), EACCES);
	FAILS(res(AT_FDCWD, PERM "/d/missing", CORE_RES_NAME), EACCES);
	FAILS(res(AT_FDCWD, PERM "/d/e/..", CORE_RES_FOLLOW), EACCES);
	/* nothing looked up in it */
	IN_MOUNT(res(AT_FDCWD, PERM "/d", CORE_RES_FOLLOW), M_PERM, "/d");
	IN_MOUNT(res(AT_FDCWD, PERM "/ld", CORE_RES_FOLLOW), M_PERM, "/d");
	/* the same tree, the module checking for itself: the walk does not */
	IN_MOUNT(res(AT_FDCWD, MNT "/d/g", CORE_RES_FOLLOW), M_TREE, "/d/g");
	caller_uid = 0;
	fake_fs_count_reset();
	IN_MOUNT(res(AT_FDCWD, PERM "/d/g", CORE_RES_FOLLOW), M_PERM, "/d/g");
	assert_string_equal(fake_fs_calls.getattr_paths, " /d /d/g");
	assert_false(L.dir_attrs);

	fake_fs_chmod("/d", 0711);
	caller_uid = 1000;
	fake_fs_count_reset();
	IN_MOUNT(res(AT_FDCWD, PERM "/d/e", CORE_RES_NAME), M_PERM, "/d/e");
	assert_string_equal(fake_fs_calls.getattr_paths, " / /d");
	assert_true(L.dir_attrs);
	assert_int_equal(L.dir_st.st_mode, S_IFDIR | 0711);
	IN_MOUNT(res(AT_FDCWD, PERM "/ld/g", CORE_RES_FOLLOW), M_PERM, "/d/g");
	assert_int_equal(L.dir_st.st_mode, S_IFDIR | 0711);
	fake_fs_chmod("/", 0700);
	FAILS(res(AT_FDCWD, PERM "/d/g", CORE_RES_FOLLOW), EACCES);
	fake_fs_chmod("/", 0755);
}

/* ---- ENAMETOOLONG --------------------------------------------------------- */

/* 15 components name_a and a last one: PATH_MAX - 1 bytes. */
static void longest_relative(char out[PATH_MAX], const char *last)
{
	out[0] = 0;
	for (int i = 0; i < 15; i++) {
		strcat(out, name_a);
		strcat(out, "/");
	}
	strcat(out, last);
	assert_int_equal(strlen(out), PATH_MAX - 1);
}

static void test_name_too_long(void **state)
{
	char *full = malloc(PATH_MAX), rel[PATH_MAX], want[PATH_MAX + 1];

	(void)state;
	/* PATH_MAX bytes with no NUL among them: the kernel's limit, found
	   without reading past them (ASan watches the end of the block). */
	assert_non_null(full);
	memset(full, 'a', PATH_MAX);
	full[0] = '/';
	FAILS(res(AT_FDCWD, full, CORE_RES_FOLLOW), ENAMETOOLONG);
	memcpy(full, MNT "/", strlen(MNT "/"));
	FAILS(res(AT_FDCWD, full, 0), ENAMETOOLONG);
	full[0] = 'a';
	set_cwd(M_TREE, "/", -1);
	FAILS(res(AT_FDCWD, full, 0), ENAMETOOLONG);
	free(full);

	/* PATH_MAX - 1 bytes from the mount's root, as the kernel accepts. */
	longest_relative(rel, name_b);
	snprintf(want, sizeof(want), "/%s", rel);
	IN_MOUNT(res(AT_FDCWD, rel, CORE_RES_FOLLOW), M_TREE, want);
	assert_int_equal(strlen(L.path), PATH_MAX);
	IN_MOUNT(res(AT_FDCWD, rel, CORE_RES_STRICT), M_TREE, want);
	rel[PATH_MAX - 2] = 'c';	/* the last component missing */
	want[PATH_MAX - 1] = 'c';
	IN_MOUNT(res(AT_FDCWD, rel, CORE_RES_FOLLOW), M_TREE, want);
	IN_MOUNT(res(AT_FDCWD, rel, CORE_RES_NAME), M_TREE, want);

	/* From "/d", the last component would not fit any more. */
	set_cwd(M_TREE, "/d", -1);
	FAILS(res(AT_FDCWD, rel, CORE_RES_FOLLOW), ENAMETOOLONG);
	FAILS(res(AT_FDCWD, rel, 0), ENAMETOOLONG);
}

/* ---- Missing and non-directory components -------------------------------- */

static void test_missing_and_not_dir(void **state)
{
	(void)state;
	FAILS(res(AT_FDCWD, MNT "/nx/g", 0), ENOENT);
	FAILS(res(AT_FDCWD, MNT "/nx/g", CORE_RES_FOLLOW), ENOENT);
	FAILS(res(AT_FDCWD, MNT "/d/nx/nx", CORE_RES_NAME), ENOENT);
	IN_MOUNT(res(AT_FDCWD, MNT "/nx", 0), M_TREE, "/nx");
	IN_MOUNT(res(AT_FDCWD, MNT "/nx", CORE_RES_FOLLOW), M_TREE, "/nx");
	IN_MOUNT(res(AT_FDCWD, MNT "/d/nx", CORE_RES_NAME), M_TREE, "/d/nx");
	FAILS(res(AT_FDCWD, MNT "/f/x", 0), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/f/x", CORE_RES_FOLLOW), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/d/g/x/y", CORE_RES_NAME), ENOTDIR);
	FAILS(res(AT_FDCWD, MNT "/lf/x", 0), ENOTDIR);
}

/* ---- The mount point as a name, paths that never meet a mount ------------ */

static void test_name_of_mount_point(void **state)
{
	int root = open_kept("/", O_PATH | O_DIRECTORY);

	(void)state;
	MOUNT_POINT(res(AT_FDCWD, MNT, CORE_RES_NAME), MNT);
	MOUNT_POINT(res(AT_FDCWD, MNT "/", CORE_RES_NAME), MNT);
	MOUNT_POINT(res(AT_FDCWD, RES, CORE_RES_NAME), RES);
	MOUNT_POINT(res(AT_FDCWD, MNT, CORE_RES_NAME | CORE_RES_STRICT), MNT);
	MOUNT_POINT(res(root, "defuse-test/mnt", CORE_RES_NAME), MNT);
	/* Named from inside: out of the mount, then the name. */
	set_cwd(M_TREE, "/d", -1);
	MOUNT_POINT(res(AT_FDCWD, "../../mnt", CORE_RES_NAME), MNT);
	IN_MOUNT(res(AT_FDCWD, "../../mnt", 0), M_TREE, "/");
}

static void test_untouched(void **state)
{
	char cwd[PATH_MAX], want[PATH_MAX + 8];
	int root = open_kept("/", O_PATH | O_DIRECTORY);

	(void)state;
	UNTOUCHED(res(AT_FDCWD, "/defuse-test/other/x", CORE_RES_FOLLOW), "/defuse-test/other/x");
	assert_false(L.strict);
	UNTOUCHED(res(AT_FDCWD, "/defuse-test/./x/../y/", 0), "/defuse-test/y");
	UNTOUCHED(res(AT_FDCWD, "/defuse-test/mntx", 0), "/defuse-test/mntx");
	UNTOUCHED(res(AT_FDCWD, "/defuse-test", CORE_RES_NAME), "/defuse-test");
	UNTOUCHED(res(AT_FDCWD, "/", 0), "/");
	UNTOUCHED(res(root, "defuse-test/x", 0), "/defuse-test/x");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/x/y", strcmp(cwd, "/") ? cwd : "");
	UNTOUCHED(res(AT_FDCWD, "x/y", 0), want);
	/* The descriptor of a pipe: no directory; the kernel will say. */
	{
		int p[2];

		assert_int_equal(pipe(p), 0);
		FAILS(res(p[0], "x", 0), ENOTDIR);
		close(p[0]);
		close(p[1]);
	}
	/* A descriptor that is not open. */
	{
		int fd = open("/", O_PATH | O_CLOEXEC);

		assert_true(fd >= 0);
		close(fd);
		FAILS(res(fd, "x", 0), EBADF);
	}
}

/* ---- Relative paths from inside a mount ----------------------------------- */

static void test_cwd_inside_mount(void **state)
{
	(void)state;
	set_cwd(M_TREE, "/d", -1);
	IN_MOUNT(res(AT_FDCWD, "g", CORE_RES_FOLLOW), M_TREE, "/d/g");
	IN_MOUNT(res(AT_FDCWD, "./g", 0), M_TREE, "/d/g");
	IN_MOUNT(res(AT_FDCWD, "e/../g", 0), M_TREE, "/d/g");
	IN_MOUNT(res(AT_FDCWD, ".", 0), M_TREE, "/d");
	IN_MOUNT(res(AT_FDCWD, "nx", 0), M_TREE, "/d/nx");
	IN_MOUNT(res(AT_FDCWD, "../f", 0), M_TREE, "/f");
	IN_MOUNT(res(AT_FDCWD, "../ld/g", 0), M_TREE, "/d/g");
	IN_KERNEL(res(AT_FDCWD, "../../x", 0), "/defuse-test/x");
	FAILS(res(AT_FDCWD, "", 0), ENOENT);
	/* An absolute path does not start at the cwd. */
	IN_MOUNT(res(AT_FDCWD, MNT "/f", 0), M_TREE, "/f");
	UNTOUCHED(res(AT_FDCWD, "/defuse-test/x", 0), "/defuse-test/x");
}

static void test_mount_dirfd(void **state)
{
	int d = open_kept("/", O_PATH | O_DIRECTORY);
	int f = open_kept("/proc/self/exe", O_PATH);
	int root = open_kept("/", O_PATH | O_DIRECTORY);

	(void)state;
	put_fd(d, M_TREE, "/d", NULL);
	put_fd(f, M_TREE, "/f", NULL);
	IN_MOUNT(res(d, "g", CORE_RES_FOLLOW), M_TREE, "/d/g");
	IN_MOUNT(res(d, "..", 0), M_TREE, "/");
	/* A file's descriptor is no directory to start from. */
	FAILS(res(f, "..", 0), ENOTDIR);
	FAILS(res(f, ".", 0), ENOTDIR);
	FAILS(res(f, "x", CORE_RES_FOLLOW), ENOTDIR);
	/* A kernel directory's descriptor, into the mount. */
	IN_MOUNT(res(root, "defuse-test/mnt/d", 0), M_TREE, "/d");
	IN_MOUNT(res(root, "defuse-test/mnt", CORE_RES_STRICT), M_TREE, "/");
}

static void test_emulated_magic_link(void **state)
{
	struct core_open o = { .refs = 1, .mount = M_TREE, .fh = 1, .lock_fd = -1 };
	int g = open_kept("/", O_PATH), d = open_kept("/", O_PATH);
	char p[64];

	(void)state;
	put_fd(g, M_TREE, "/d/g", &o);
	put_fd(d, M_TREE, "/d", &o);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", g);
	IN_MOUNT(res(AT_FDCWD, p, CORE_RES_FOLLOW), M_TREE, "/d/g");
	FAILS(res(AT_FDCWD, p, CORE_RES_FOLLOW | CORE_RES_NO_MAGICLINKS), ELOOP);
	FAILS(res(AT_FDCWD, p, CORE_RES_NO_SYMLINKS), ELOOP);
	snprintf(p, sizeof(p), "/dev/fd/%d", g);
	IN_MOUNT(res(AT_FDCWD, p, 0), M_TREE, "/d/g");
	snprintf(p, sizeof(p), "/proc/self/fd/%d/x", g);
	FAILS(res(AT_FDCWD, p, CORE_RES_FOLLOW), ENOTDIR);
	snprintf(p, sizeof(p), "/proc/thread-self/fd/%d/e/../g", d);
	IN_MOUNT(res(AT_FDCWD, p, 0), M_TREE, "/d/g");
	/* A kernel-backed descriptor's magic link is the kernel's to follow. */
	core_fds[d]->open = NULL;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", d);
	UNTOUCHED(res(AT_FDCWD, p, CORE_RES_FOLLOW), p);
}

/* ---- A module that resolves paths itself ---------------------------------- */

static void test_resolves_hand_over(void **state)
{
	(void)state;
	fake_fs_count_reset();
	IN_MOUNT(res(AT_FDCWD, RES "/a/./../b//c/", 0), M_RES, "/a/../b/c/");
	assert_false(L.strict);
	IN_MOUNT(res(AT_FDCWD, RES "/ld/g", CORE_RES_FOLLOW), M_RES, "/ld/g");
	IN_MOUNT(res(AT_FDCWD, RES "/d/.", 0), M_RES, "/d/");
	IN_MOUNT(res(AT_FDCWD, RES "/", 0), M_RES, "/");
	IN_MOUNT(res(AT_FDCWD, RES "/d/", CORE_RES_NAME), M_RES, "/d/");
	assert_int_equal(fake_fs_calls.getattr, 0);
	assert_int_equal(fake_fs_calls.readlink, 0);
	/* Through a link of another mount, the rest as is too. */
	IN_MOUNT(res(AT_FDCWD, MNT "/tores/./x", 0), M_RES, "/d/x");
	set_cwd(M_RES, "/d", -1);
	IN_MOUNT(res(AT_FDCWD, "../x/.", 0), M_RES, "/d/../x/");
	set_cwd(M_RES, "/", -1);
	IN_MOUNT(res(AT_FDCWD, "..", 0), M_RES, "/..");

	/* When the module said EXDEV, the core walks itself. */
	IN_KERNEL(res(AT_FDCWD, "..", CORE_RES_STRICT), "/defuse-test");
	assert_true(L.strict);
	cwd_now = NULL;
	IN_MOUNT(res(AT_FDCWD, RES "/d/./../ld/g", CORE_RES_STRICT), M_RES, "/d/g");
	IN_MOUNT(res(AT_FDCWD, RES "/lf", CORE_RES_FOLLOW | CORE_RES_STRICT), M_RES, "/f");
	/* openat2's scoping is the core's own walk. */
	FAILS(res(AT_FDCWD, RES "/la", CORE_RES_FOLLOW | CORE_RES_NO_MAGICLINKS), ELOOP);
}

/* ---- core_resolve_dir ---------------------------------------------------- */

static void test_resolve_dir(void **state)
{
	(void)state;
	IN_MOUNT(res_dir(AT_FDCWD, MNT "/d"), M_TREE, "/d");
	assert_true(L.strict);
	IN_MOUNT(res_dir(AT_FDCWD, MNT "/d/"), M_TREE, "/d");
	IN_MOUNT(res_dir(AT_FDCWD, MNT), M_TREE, "/");
	IN_MOUNT(res_dir(AT_FDCWD, MNT "/ld"), M_TREE, "/d");
	IN_MOUNT(res_dir(AT_FDCWD, RES "/ld"), M_RES, "/d");
	FAILS(res_dir(AT_FDCWD, MNT "/f"), ENOTDIR);
	FAILS(res_dir(AT_FDCWD, MNT "/lf"), ENOTDIR);
	FAILS(res_dir(AT_FDCWD, MNT "/nx"), ENOENT);
	FAILS(res_dir(AT_FDCWD, MNT "/nx/"), ENOENT);
	FAILS(res_dir(AT_FDCWD, MNT "/la"), ELOOP);
	IN_KERNEL(res_dir(AT_FDCWD, MNT "/.."), "/defuse-test");
	UNTOUCHED(res_dir(AT_FDCWD, "/defuse-test/x"), "/defuse-test/x");
	set_cwd(M_TREE, "/d", -1);
	IN_MOUNT(res_dir(AT_FDCWD, "."), M_TREE, "/d");
	IN_MOUNT(res_dir(AT_FDCWD, "e/"), M_TREE, "/d/e");

	/* The directory is looked up once: the walk's lookup is its check. */
	fake_fs_count_reset();
	IN_MOUNT(res_dir(AT_FDCWD, "e"), M_TREE, "/d/e");
	assert_string_equal(fake_fs_calls.getattr_paths, " /d/e");
	fake_fs_count_reset();
	IN_MOUNT(res_dir(AT_FDCWD, "."), M_TREE, "/d");
	assert_string_equal(fake_fs_calls.getattr_paths, " /d");
	cwd_now = NULL;
	fake_fs_count_reset();
	IN_MOUNT(res_dir(AT_FDCWD, MNT "/ld"), M_TREE, "/d");
	assert_string_equal(fake_fs_calls.getattr_paths, " /ld /d");
	fake_fs_count_reset();
	FAILS(res_dir(AT_FDCWD, MNT "/d/g"), ENOTDIR);
	assert_string_equal(fake_fs_calls.getattr_paths, " /d /d/g");
}

/* ---- The walk's attributes (core_loc_getattr) ---------------------------- */

/* The walk of path, then what a getattr of its result (flags) gives: each
   path the module was asked, in order, and the type found. */
static void walk_then_getattr(long dfd, const char *path, unsigned res_flags, int flags,
			      const char *asked, mode_t type)
{
	struct stat st;

	fake_fs_count_reset();
	assert_int_equal(res(dfd, path, res_flags), 0);
	assert_true(core_in_mount(&L));
	assert_int_equal(core_loc_getattr(&L, &st, flags), 0);
	assert_string_equal(fake_fs_calls.getattr_paths, asked);
	assert_int_equal(st.st_mode & S_IFMT, type);
}

static void test_walk_attrs(void **state)
{
	(void)state;
	/* stat: each component once, the last one too, not again. */
	walk_then_getattr(AT_FDCWD, MNT "/d/g", CORE_RES_FOLLOW, 0, " /d /d/g", S_IFREG);
	assert_true(L.attrs);
	walk_then_getattr(AT_FDCWD, MNT "/d/g", CORE_RES_FOLLOW, DEFUSE_NOFOLLOW, " /d /d/g",
			  S_IFREG);
	walk_then_getattr(AT_FDCWD, MNT "/d", CORE_RES_FOLLOW, 0, " /d", S_IFDIR);
	walk_then_getattr(AT_FDCWD, MNT "/d/.", 0, 0, " /d", S_IFDIR);
	walk_then_getattr(AT_FDCWD, MNT "/d/", 0, DEFUSE_NOFOLLOW, " /d", S_IFDIR);
	/* A followed link: the target's. */
	walk_then_getattr(AT_FDCWD, MNT "/ld", CORE_RES_FOLLOW, 0, " /ld /d", S_IFDIR);
	walk_then_getattr(AT_FDCWD, MNT "/d/up", CORE_RES_FOLLOW, 0, " /d /d/up /f", S_IFREG);
	walk_then_getattr(AT_FDCWD, MNT "/back", CORE_RES_FOLLOW, 0, " /back /d", S_IFDIR);
	walk_then_getattr(AT_FDCWD, RES "/d/g", CORE_RES_FOLLOW | CORE_RES_STRICT, 0, " /d /d/g",
			  S_IFREG);
	set_cwd(M_TREE, "/d", -1);
	walk_then_getattr(AT_FDCWD, "g", CORE_RES_FOLLOW, 0, " /d/g", S_IFREG);

	/* The last lookup was of another path, or there was none: asked. */
	walk_then_getattr(AT_FDCWD, "e/..", CORE_RES_FOLLOW, 0, " /d/e /d", S_IFDIR);
	walk_then_getattr(AT_FDCWD, ".", CORE_RES_FOLLOW, 0, " /d", S_IFDIR);
	cwd_now = NULL;
	walk_then_getattr(AT_FDCWD, MNT "/d/g", 0, DEFUSE_NOFOLLOW, " /d /d/g", S_IFREG);
	assert_false(L.attrs);
	walk_then_getattr(AT_FDCWD, MNT "/d/g", CORE_RES_NAME, 0, " /d /d/g", S_IFREG);
	walk_then_getattr(AT_FDCWD, MNT "/lf", 0, DEFUSE_NOFOLLOW, " /lf", S_IFLNK);
	walk_then_getattr(AT_FDCWD, MNT "/d/e/..", CORE_RES_FOLLOW, 0, " /d /d/e /d", S_IFDIR);
	walk_then_getattr(AT_FDCWD, MNT, CORE_RES_FOLLOW, 0, " /", S_IFDIR);
	walk_then_getattr(AT_FDCWD, MNT "/d/..", CORE_RES_FOLLOW, 0, " /d /", S_IFDIR);
	/* A module that resolves gets the rest of the path: nothing looked up. */
	walk_then_getattr(AT_FDCWD, RES "/d/g", CORE_RES_FOLLOW, 0, " /d/g", S_IFREG);
	/* A name to be created, and a walk that left the mount. */
	fake_fs_count_reset();
	IN_MOUNT(res(AT_FDCWD, MNT "/d/nx", CORE_RES_FOLLOW), M_TREE, "/d/nx");
	assert_false(L.attrs);
	IN_KERNEL(res(AT_FDCWD, MNT "/tokern", CORE_RES_FOLLOW), "/defuse-test-kern/t");
	assert_false(L.attrs);
}

/* A symbolic link's attributes answer only a call that does not follow it
   (no walk keeps them: a followed link is spliced, but a place filled by
   hand could hold one). */
static void test_loc_attrs_of_link(void **state)
{
	struct core_loc l = { .where = CORE_MOUNT, .mount = M_TREE, .strict = true,
			      .attrs = true, .path = "/lf" };
	struct stat st;

	(void)state;
	l.st.st_mode = S_IFLNK | 0777;
	assert_int_equal(core_loc_getattr(&l, &st, DEFUSE_NOFOLLOW), 0);
	assert_int_equal(st.st_mode, S_IFLNK | 0777);
	assert_int_equal(fake_fs_calls.getattr, 0);
	/* The fake module refuses to follow, which only the module call shows. */
	assert_int_equal(core_loc_getattr(&l, &st, 0), -EIO);
	assert_string_equal(fake_fs_calls.getattr_paths, " /lf");
}

/* ---- core_split_last, core_path_push -------------------------------------- */

static void split(const char *path, enum core_last kind, const char *dir, int trailing)
{
	char got[PATH_MAX];
	int t = -1;

	memset(got, 0x5a, sizeof(got));
	assert_int_equal(core_split_last(path, got, &t), kind);
	assert_string_equal(got, dir);
	assert_int_equal(t, trailing);
}

static void test_split_last(void **state)
{
	(void)state;
	split("a/b", CORE_LAST_NORM, "a/", 0);
	split("a/b/", CORE_LAST_NORM, "a/", 1);
	split("a//b//", CORE_LAST_NORM, "a//", 1);
	split("b", CORE_LAST_NORM, ".", 0);
	split("b/", CORE_LAST_NORM, ".", 1);
	split("/b", CORE_LAST_NORM, "/", 0);
	split("/", CORE_LAST_ROOT, "/", 1);
	split("//", CORE_LAST_ROOT, "/", 1);
	/* "" is no root: the walk makes it ENOENT. */
	split("", CORE_LAST_NORM, "/", 0);
	split(".", CORE_LAST_DOT, ".", 0);
	split("./", CORE_LAST_DOT, ".", 1);
	split("a/.", CORE_LAST_DOT, "a/", 0);
	split("..", CORE_LAST_DOTDOT, ".", 0);
	split("a/..", CORE_LAST_DOTDOT, "a/", 0);
	split("/..", CORE_LAST_DOTDOT, "/", 0);
	split("a/...", CORE_LAST_NORM, "a/", 0);
	split("a/.x", CORE_LAST_NORM, "a/", 0);
}

static void test_path_push(void **state)
{
	char p[8];

	(void)state;
	strcpy(p, "/");
	assert_int_equal(core_path_push(p, sizeof(p), "x", 1), 0);
	assert_string_equal(p, "/x");
	assert_int_equal(core_path_push(p, sizeof(p), "yz!", 2), 0);
	assert_string_equal(p, "/x/yz");
	/* "/x/yz/w" and its NUL fill the 8 bytes exactly; one more is over. */
	assert_int_equal(core_path_push(p, sizeof(p), "w", 1), 0);
	assert_string_equal(p, "/x/yz/w");
	strcpy(p, "/x/yz");
	assert_int_equal(core_path_push(p, sizeof(p), "wv", 2), -ENAMETOOLONG);
	assert_string_equal(p, "/x/yz");
	strcpy(p, "/");
	assert_int_equal(core_path_push(p, sizeof(p), "abcdef", 6), 0);
	assert_string_equal(p, "/abcdef");
	strcpy(p, "/");
	assert_int_equal(core_path_push(p, sizeof(p), "abcdefg", 7), -ENAMETOOLONG);
	assert_string_equal(p, "/");
	assert_int_equal(core_path_push(p, 3, "xy", 2), -ENAMETOOLONG);
	assert_string_equal(p, "/");
}

/* ---- A directory renamed or removed meanwhile (core_walk_again) ---------- */

static void scratch_path(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", backing, name);
}

static void test_walk_again_cwd(void **state)
{
	char sub[PATH_MAX], moved[PATH_MAX];
	int kfd;

	(void)state;
	scratch_path(sub, "sub");
	scratch_path(moved, "moved");
	assert_int_equal(mkdir(sub, 0755), 0);
	kfd = open_kept(sub, O_PATH | O_DIRECTORY);
	assert_true(kfd >= 0);
	set_cwd(M_BACK, "/sub", kfd);
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN_NO);

	assert_int_equal(rename(sub, moved), 0);
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN);
	assert_int_equal(moved_calls, 1);
	assert_string_equal(moved_to, "/moved");
	/* The call goes on from there. */
	IN_MOUNT(res(AT_FDCWD, "f", CORE_RES_FOLLOW), M_BACK, "/moved/f");
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN_NO);
	assert_int_equal(moved_calls, 1);
	/* Absolute paths never started at the cwd. */
	assert_int_equal(core_walk_again(AT_FDCWD, MNT "/f"), CORE_AGAIN_NO);
	assert_int_equal(core_walk_again(AT_FDCWD, ""), CORE_AGAIN_NO);
	assert_int_equal(core_walk_again(AT_FDCWD, NULL), CORE_AGAIN_NO);

	assert_int_equal(rmdir(moved), 0);
	assert_int_equal(core_walk_again(AT_FDCWD, "."), CORE_AGAIN_CWD_GONE);
	assert_int_equal(core_walk_again(AT_FDCWD, "./."), CORE_AGAIN_CWD_GONE);
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN_NO);
	assert_int_equal(core_walk_again(AT_FDCWD, ".."), CORE_AGAIN_NO);
	assert_int_equal(moved_calls, 1);
}

static void test_walk_again_cwd_no_memory(void **state)
{
	char sub[PATH_MAX], moved[PATH_MAX];
	int kfd;

	(void)state;
	scratch_path(sub, "sub");
	scratch_path(moved, "moved");
	assert_int_equal(mkdir(sub, 0755), 0);
	kfd = open_kept(sub, O_PATH | O_DIRECTORY);
	set_cwd(M_BACK, "/sub", kfd);
	assert_int_equal(rename(sub, moved), 0);
	moved_fail = 1;
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), -ENOMEM);
	assert_string_equal(cwd_now->path, "/sub");
}

static void test_walk_again_cannot_tell(void **state)
{
	int kfd = open_kept("/", O_PATH | O_DIRECTORY);

	(void)state;
	/* The kernel's cwd: nothing the core kept can be stale. */
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN_NO);
	/* No handle. */
	set_cwd(M_BACK, "/sub", -1);
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN_NO);
	/* A module with no kernel descriptor of its root. */
	set_cwd(M_TREE, "/d", kfd);
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN_NO);
	/* A handle outside the mount's backing tree. */
	set_cwd(M_BACK, "/sub", kfd);
	assert_int_equal(core_walk_again(AT_FDCWD, "f"), CORE_AGAIN_NO);
	assert_int_equal(moved_calls, 0);
	/* A kernel directory's descriptor. */
	assert_int_equal(core_walk_again(kfd, "f"), CORE_AGAIN_NO);
	assert_int_equal(fd_refs, 0);
}

static void test_walk_again_dirfd(void **state)
{
	char sub[PATH_MAX], moved[PATH_MAX];
	int dfd;

	(void)state;
	scratch_path(sub, "sub");
	scratch_path(moved, "moved");
	assert_int_equal(mkdir(sub, 0755), 0);
	dfd = open_kept(sub, O_PATH | O_DIRECTORY);
	put_fd(dfd, M_BACK, "/sub", NULL);
	assert_int_equal(core_walk_again(dfd, "f"), CORE_AGAIN_NO);
	assert_int_equal(rename(sub, moved), 0);
	assert_int_equal(core_walk_again(dfd, "f"), CORE_AGAIN_FRESH);
	assert_int_equal(fd_refs, 0);
	assert_int_equal(moved_calls, 0);
	IN_MOUNT(res(dfd, "f", 0), M_BACK, "/sub/f");
	IN_MOUNT(res(dfd, "f", CORE_RES_FRESH), M_BACK, "/moved/f");
	assert_true(L.strict);
	IN_MOUNT(res(dfd, ".", CORE_RES_FRESH), M_BACK, "/moved");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_absolute_into_mount),
		T(test_mount_point_itself),
		T(test_dot_and_empty_components),
		T(test_trailing_slash),
		T(test_dotdot_leaves_mount),
		T(test_dotdot_no_xdev),
		T(test_dotdot_beneath),
		T(test_dotdot_in_root),
		T(test_link_to_kernel),
		T(test_link_back_into_mount),
		T(test_relative_link_out),
		T(test_kernel_link_into_mount),
		T(test_last_link),
		T(test_link_target_trailing_slash),
		T(test_eloop),
		T(test_no_symlinks),
		T(test_search_permission),
		T(test_name_too_long),
		T(test_missing_and_not_dir),
		T(test_name_of_mount_point),
		T(test_untouched),
		T(test_cwd_inside_mount),
		T(test_mount_dirfd),
		T(test_emulated_magic_link),
		T(test_resolves_hand_over),
		T(test_resolve_dir),
		T(test_walk_attrs),
		T(test_loc_attrs_of_link),
		T(test_split_last),
		T(test_path_push),
		T(test_walk_again_cwd),
		T(test_walk_again_cwd_no_memory),
		T(test_walk_again_cannot_tell),
		T(test_walk_again_dirfd),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
