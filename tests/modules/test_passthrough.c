/*
 * The passthrough module, driven through the module API directly (the core
 * that will call it does not exist yet).
 *
 *   test_passthrough MODULE.so
 *
 * Scratch directories go under $DEFUSE_TEST_DIR, else $TMPDIR, else /tmp,
 * and are removed at the end, also when a test fails (and on SIGINT,
 * SIGTERM, SIGHUP, SIGPIPE); what a killed run left, the next run removes.
 *
 * - The module object, its exported symbols, init with good and bad ARGS.
 * - The differential suite (cases.c): each case natively on directory A,
 *   through a kernel-backed mount of B and an emulated mount of C; the
 *   three logs must be equal.
 * - Confinement: symbolic links, ".." and parents that lead out of the
 *   backing directory must fail (EXDEV or ENOENT) and leave the files
 *   outside untouched.
 * - Threads on one mount at once; no allocation in the operations.
 *
 * Several cases need root (other users' files, devices, trusted.* xattrs,
 * chroot); as another user they are skipped and say so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *g_modpath;
static const struct defuse_module *g_mod;
static char g_scratch[PATH_MAX];
static char g_cwd[PATH_MAX];

/* ---- Scratch space ------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static const char *scratch(char buf[PATH_MAX], const char *name)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", g_scratch, name) >= PATH_MAX)
		abort();
	return buf;
}

/* ---- The three backends of the differential suite ----------------------- */

static struct be g_be[3];

/* What the in-process host offers at init (module.h, struct defuse_conn). */
static struct defuse_conn g_conn = { .host = DEFUSE_HOST_PROCESS,
				     .capable = DEFUSE_CAP_KERNEL_FD | DEFUSE_CAP_READONLY };
static const char *const g_dirs[3] = { "A", "B", "C" };

static void *mount_dir(const char *dir, bool emulated)
{
	char args[PATH_MAX + 16], why[256] = "";
	void *priv = NULL;
	int r;

	snprintf(args, sizeof args, "%s%s", emulated ? "emulated=" : "", dir);
	r = h_ops->init(args, &g_conn, &priv, why, sizeof why);
	if (r)
		fail_msg("init(%s) = %d: %s", args, r, why);
	return priv;
}

/* Closes, unmounts and removes what a case left: at its end, or after a failure. */
static void case_cleanup(void)
{
	char path[PATH_MAX];

	as_root(NULL);
	umask(022);
	for (int i = 0; i < 3; i++) {
		struct be *b = &g_be[i];

		if (b->kind == BE_NATIVE || b->priv)
			b_close_all(b);
		if (b->priv)
			h_ops->destroy(b->priv);
		b->priv = NULL;
		if (b->dirfd >= 0)
			close(b->dirfd);
		b->dirfd = -1;
		rm_rf(scratch(path, g_dirs[i]));
	}
}

/* Makes the three twin directories and mounts B (kernel-backed) and C (emulated). */
static void case_setup(void (*prep)(int))
{
	static const char *const what[3] = { "native", "kernel", "emulated" };

	case_cleanup();
	for (int i = 0; i < 3; i++) {
		struct be *b = &g_be[i];

		memset(b->files, 0, sizeof b->files);
		b->kind = (enum be_kind)i;
		b->what = what[i];
		b->chroot = false;
		scratch(b->dir, g_dirs[i]);
		if (mkdir(b->dir, 0755) || chmod(b->dir, 0755))
			fail_msg("mkdir %s: %s", b->dir, strerror(errno));
		b->dirfd = open(b->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		assert_true(b->dirfd >= 0);
		if (prep)
			prep(b->dirfd);
	}
	g_be[1].priv = mount_dir(g_be[1].dir, false);
	g_be[2].priv = mount_dir(g_be[2].dir, true);
}

/* The native run, chrooted into A: for what only a real root shows. */
static void run_chrooted(const struct dcase *c)
{
	struct be *b = &g_be[0];
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (chroot(b->dir) || chdir("/"))
			_exit(77);
		b->chroot = true;
		b->dir[0] = '\0';
		b->dirfd = AT_FDCWD;
		c->run(b);
		_exit(0);
	}
	assert_true(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		fail_msg("chroot(%s): cannot build the oracle", b->dir);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("the chrooted native run died (status %#x)", status);
}

static void run_case(void **state)
{
	const struct dcase *c = *state;

	if ((c->flags & DC_ROOT) && !h_root) {
		print_message("%s: skipped: needs root (other users, devices or chroot)\n", c->name);
		skip();
	}
	case_setup(c->prep);
	for (int i = 0; i < 3; i++) {
		log_reset(g_be[i].log);
		if (i == 0 && (c->flags & DC_CHROOT))
			run_chrooted(c);
		else
			c->run(&g_be[i]);
		as_root(NULL);
	}
	log_compare(g_be[0].log, g_be[1].log, "native", "kernel");
	log_compare(g_be[0].log, g_be[2].log, "native", "emulated");
	case_cleanup();
}

/* ---- The module object ---------------------------------------------------- */

static void test_module_object(void **state)
{
	const struct defuse_ops *o = g_mod->ops;

	(void)state;
	assert_int_equal(g_mod->api_version, DEFUSE_API_VERSION);
	assert_int_equal(g_mod->ops_size, sizeof(struct defuse_ops));
	assert_string_equal(g_mod->name, "passthrough");
	assert_non_null(g_mod->description);
	assert_true(strlen(g_mod->description) > 10);
	/* Signal-safe (no blocking needed), and resolves paths itself
	   beneath its root (openat2 RESOLVE_BENEATH). */
	assert_int_equal(g_mod->flags, DEFUSE_MODULE_RESOLVES);
	assert_non_null(o);
	/* everything but flush (nothing buffered) and the lock operations
	   (lock_fd instead); after_fork_child drops the directory cache's
	   state in a child (dircache.h) */
	assert_non_null(o->after_fork_child);
	assert_null(o->flush);
	assert_null(o->getlk);
	assert_null(o->setlk);
	assert_null(o->flock);
	void (*const all[])(void) = {
		(void (*)(void))o->init, (void (*)(void))o->destroy, (void (*)(void))o->getattr,
		(void (*)(void))o->access, (void (*)(void))o->readlink, (void (*)(void))o->mknod,
		(void (*)(void))o->mkdir, (void (*)(void))o->unlink, (void (*)(void))o->rmdir,
		(void (*)(void))o->symlink, (void (*)(void))o->rename, (void (*)(void))o->link,
		(void (*)(void))o->chmod, (void (*)(void))o->chown, (void (*)(void))o->truncate,
		(void (*)(void))o->utimens, (void (*)(void))o->statfs, (void (*)(void))o->getxattr,
		(void (*)(void))o->setxattr, (void (*)(void))o->listxattr,
		(void (*)(void))o->removexattr, (void (*)(void))o->open, (void (*)(void))o->read,
		(void (*)(void))o->write, (void (*)(void))o->fgetattr, (void (*)(void))o->ftruncate,
		(void (*)(void))o->fsync, (void (*)(void))o->fallocate, (void (*)(void))o->seek_data,
		(void (*)(void))o->release, (void (*)(void))o->readdir, (void (*)(void))o->statx,
		(void (*)(void))o->append, (void (*)(void))o->fchmod, (void (*)(void))o->fchown,
		(void (*)(void))o->futimens, (void (*)(void))o->flink, (void (*)(void))o->lock_fd,
	};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		assert_non_null(all[i]);
}

/* The only defined, default-visibility dynamic symbol is defuse_module_v2. */
static void test_exports(void **state)
{
	int fd = open(g_modpath, O_RDONLY | O_CLOEXEC);
	struct stat st;
	const unsigned char *map;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	bool found = false;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(map != MAP_FAILED);
	eh = (const void *)map;
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh->e_ident[EI_CLASS], ELFCLASS64);
	sh = (const void *)(map + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		const Elf64_Sym *sym = (const void *)(map + sh[i].sh_offset);
		const char *str = (const char *)map + sh[sh[i].sh_link].sh_offset;
		size_t n = sh[i].sh_size / sizeof *sym;

		for (size_t k = 1; k < n; k++) {
			const char *name = str + sym[k].st_name;
			int bind = ELF64_ST_BIND(sym[k].st_info);

			if (sym[k].st_shndx == SHN_UNDEF ||
			    (bind != STB_GLOBAL && bind != STB_WEAK) ||
			    ELF64_ST_VISIBILITY(sym[k].st_other) != STV_DEFAULT)
				continue;
			if (strcmp(name, DEFUSE_MODULE_SYMBOL) == 0) {
				found = true;
				assert_int_equal(ELF64_ST_TYPE(sym[k].st_info), STT_OBJECT);
				continue;
			}
			/* ASan's ODR indicators come with its instrumentation */
			if (strcmp(name, "_init") && strcmp(name, "_fini") &&
			    strncmp(name, "__odr_asan", 10))
				fail_msg("the module exports %s", name);
		}
	}
	munmap((void *)map, (size_t)st.st_size);
	assert_true(found);
}

/* ---- init ------------------------------------------------------------------- */

static int try_init(const char *args, void **priv, char *why, size_t len)
{
	*priv = NULL;
	if (why && len)
		memset(why, 'X', len);
	return h_ops->init(args, &g_conn, priv, why, len);
}

/* init fails with err and a reason starting "passthrough: " and holding want. */
static void init_fails(const char *args, int err, const char *want)
{
	char why[512];
	void *priv;
	int r = try_init(args, &priv, why, sizeof why);

	if (r != -err)
		fail_msg("init(\"%s\") = %d, want %d", args, r, -err);
	assert_null(priv);
	assert_non_null(memchr(why, '\0', sizeof why));
	assert_true(strncmp(why, "passthrough: ", 13) == 0);
	assert_true(strchr(why, '\n') == NULL);
	if (!strstr(why, want))
		fail_msg("init(\"%s\"): why \"%s\" lacks \"%s\"", args, why, want);
}

static void init_works(const char *args, bool emulated)
{
	char why[256];
	struct defuse_open o = { .fh = 0, .kernel_fd = -1 };
	struct stat st;
	void *priv;
	int r = try_init(args, &priv, why, sizeof why);

	if (r)
		fail_msg("init(\"%s\") = %d: %s", args, r, why);
	assert_non_null(priv);
	assert_int_equal(h_ops->getattr(priv, "/", &st, 0), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(h_ops->open(priv, "/f", O_RDWR | O_CREAT, 0644, &o), 0);
	if (emulated) {
		assert_int_equal(o.kernel_fd, -1);
		assert_int_equal(h_ops->write(priv, o.fh, "e", 1, 0), 1);
	} else {
		assert_true(o.kernel_fd >= 0);
		assert_int_equal(pwrite(o.kernel_fd, "k", 1, 0), 1);
		close(o.kernel_fd);
	}
	h_ops->release(priv, o.fh);
	h_ops->destroy(priv);
}

static void test_init(void **state)
{
	char dir[PATH_MAX], file[PATH_MAX], args[PATH_MAX + 16], why[8];
	void *priv;
	int r;

	(void)state;
	case_cleanup();
	scratch(dir, "B");
	scratch(file, "B/file");
	assert_int_equal(mkdir(dir, 0755), 0);
	put(AT_FDCWD, file, "x", 0644);

	init_works(dir, false);
	snprintf(args, sizeof args, "emulated=%s", dir);
	init_works(args, true);
	snprintf(args, sizeof args, "%s/", dir);
	init_works(args, false);

	/* relative to the working directory; "./emulated=..." is a directory */
	assert_int_equal(chdir(g_scratch), 0);
	init_works("B", false);
	init_works("emulated=B", true);
	assert_int_equal(mkdir("emulated=x", 0755), 0);
	init_works("./emulated=x", false);
	assert_int_equal(symlink("B", "lnk"), 0);
	init_works("lnk", false);
	init_works("emulated=./lnk", true);

	snprintf(args, sizeof args, "%s/nope", g_scratch);
	init_fails(args, ENOENT, args);
	init_fails(args, ENOENT, "No such file or directory");
	snprintf(args, sizeof args, "emulated=%s/nope", g_scratch);
	init_fails(args, ENOENT, args + 9);
	init_fails(file, ENOTDIR, "Not a directory");
	init_fails(file, ENOTDIR, file);
	snprintf(args, sizeof args, "%s/x", file);
	init_fails(args, ENOTDIR, "Not a directory");
	init_fails("", EINVAL, "DIR");
	init_fails("emulated=", EINVAL, "DIR");
	init_fails("nope-relative", ENOENT, "nope-relative");

	/* a short buffer: truncated, still a string; no buffer at all */
	r = try_init("/nonexistent/x", &priv, why, sizeof why);
	assert_int_equal(r, -ENOENT);
	assert_non_null(memchr(why, '\0', sizeof why));
	assert_true(strncmp(why, "passthr", 7) == 0);
	assert_int_equal(try_init("/nonexistent/x", &priv, NULL, 0), -ENOENT);
	why[0] = 'X';
	assert_int_equal(try_init("/nonexistent/x", &priv, why, 0), -ENOENT);
	assert_int_equal(why[0], 'X');

	if (h_root) {
		scratch(args, "priv");
		assert_int_equal(mkdir(args, 0700), 0);
		strcat(args, "/sub");
		assert_int_equal(mkdir(args, 0755), 0);
		as_nobody(NULL);
		r = try_init(args, &priv, why, sizeof why);
		as_root(NULL);
		assert_int_equal(r, -EACCES);
	}

	assert_int_equal(chdir(g_cwd), 0);
	rm_rf(scratch(args, "emulated=x"));
	rm_rf(scratch(args, "priv"));
	unlink(scratch(args, "lnk"));
	rm_rf(dir);
}

/* ---- Confinement ---------------------------------------------------------------- */

static const struct timespec OUT_TIMES[2] = { { 1111111111, 0 }, { 1222222222, 0 } };

static void make_outside(void)
{
	char p[PATH_MAX];

	rm_rf(scratch(p, "outside"));
	rm_rf(scratch(p, "outdir"));
	rm_rf(scratch(p, "newfile"));
	put(AT_FDCWD, scratch(p, "outside"), "OUTSIDE\n", 0644);
	assert_int_equal(utimensat(AT_FDCWD, p, OUT_TIMES, 0), 0);
	assert_int_equal(mkdir(scratch(p, "outdir"), 0755), 0);
	put(AT_FDCWD, scratch(p, "outdir/victim"), "VICTIM\n", 0644);
}

/* Nothing outside the backing directory changed. */
static void check_outside(void)
{
	static const char *const gone[] = { "newfile", "newdir", "stolen", "x", "outdir/newfile",
					    "outdir/x", "outdir/stolen" };
	char p[PATH_MAX], buf[64];
	struct stat st;
	int fd;
	ssize_t n;

	assert_int_equal(lstat(scratch(p, "outside"), &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_uid, getuid());
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_size, 8);
	assert_int_equal(st.st_mtim.tv_sec, OUT_TIMES[1].tv_sec);
	assert_int_equal(st.st_atim.tv_sec, OUT_TIMES[0].tv_sec);
	fd = open(p, O_RDONLY | O_NOATIME | O_CLOEXEC);
	if (fd < 0)
		fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof buf);
	close(fd);
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "OUTSIDE\n", 8);
	/* reading it above may have set atime; put it back for the next check */
	utimensat(AT_FDCWD, p, OUT_TIMES, 0);
	assert_int_equal(listxattr(p, buf, sizeof buf), 0);
	assert_int_equal(lstat(scratch(p, "outdir/victim"), &st), 0);
	assert_int_equal(st.st_size, 7);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(lstat(g_scratch, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0755);
	assert_int_equal(st.st_uid, getuid());
	assert_int_equal(listxattr(g_scratch, buf, sizeof buf), 0);
	assert_int_equal(lstat(scratch(p, "outdir"), &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0755);
	assert_int_equal(st.st_nlink, 2);
	for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
		if (lstat(scratch(p, gone[i]), &st) == 0)
			fail_msg("%s appeared outside the mount", p);
}

/*
 * Every link leads to the sentinels in the scratch directory, never to a
 * system file: a module that fails to confine must only ever damage
 * scratch space (the attacks truncate, chmod and chown what they reach).
 */
static void prep_conf(int d)
{
	char t[PATH_MAX], u[PATH_MAX + 32];

	prep_std(d);
	sym(d, scratch(t, "outside"), "abs");
	sym(d, scratch(t, "outdir"), "absdir");
	sym(d, scratch(t, "newfile"), "dangabs");
	sym(d, "../outside", "up");
	sym(d, "..", "updir");
	sym(d, "../newfile", "dangup");
	sym(d, "../../outside", "d/up2");
	/* absolute, through a magic link, and to the directory above */
	sym(d, scratch(t, "outside"), "etc");
	snprintf(u, sizeof u, "/proc/self/root%s", scratch(t, "outside"));
	sym(d, u, "proc");
	sym(d, g_scratch, "slash");
	mkd(d, "deep", 0755);
	mkd(d, "deep/x", 0755);
	mkd(d, "deep/x/y", 0755);
	sym(d, "../../../../outside", "deep/x/y/esc");
}

static int g_unconfined;

/* Counts (and shows) every answer that is not EXDEV or ENOENT. */
static void confined(long r, const char *what, const char *path, int line)
{
	if (r == -EXDEV || r == -ENOENT)
		return;
	g_unconfined++;
	print_error("line %d: %s [p = \"%s\"] = %ld (%s): want EXDEV or ENOENT\n",
		    line, what, path ? path : "", r, r < 0 ? strerror((int)-r) : "success");
}

#define CONF(expr) confined((long)(expr), #expr, p, __LINE__)

/* Paths whose resolution leaves the root, following a last-component link. */
static const char *const escapes[] = {
	"/../outside", "/abs", "/up", "/etc", "/proc", "/slash", "/d/up2", "/deep/x/y/esc",
	"/absdir/victim", "/updir/outside", "/updir/outdir/victim", "/d/../../outside",
	"/absdir/", "/updir/", "/absdir", "/updir", "/..", "/d/../..", "/../outdir",
	"/slash/outside", "/slash/outdir/victim", "/ld/../../outside",
};

/* Paths whose parent is outside the root. */
static const char *const outside_parents[] = {
	"/../outside", "/../newfile", "/absdir/victim", "/absdir/newfile", "/updir/outside",
	"/updir/newfile", "/updir/outdir/victim", "/d/../../outside", "/../outdir",
	"/absdir/x/", "/d/up2/x", "/slash/outdir", "/slash/outdir/victim", "/updir/outdir/x",
};

static void attack(struct be *b)
{
	const struct defuse_ops *o = h_ops;
	char buf[256], outside[PATH_MAX];
	struct stat st;
	struct statfs sfs;
	struct defuse_open dop;

	for (size_t i = 0; i < sizeof escapes / sizeof *escapes; i++) {
		const char *p = escapes[i];

		CONF(b_getattr(b, p, &st, 0));
		CONF(b_access(b, p, F_OK, 0));
		CONF(b_access(b, p, R_OK, AT_EACCESS));
		CONF(b_open(b, p, O_RDONLY, 0));
		CONF(b_open(b, p, O_WRONLY | O_TRUNC, 0));
		if (p[strlen(p) - 1] == '/')	/* refused from the name alone */
			assert_int_equal(b_open(b, p, O_RDWR | O_CREAT, 0644), -EISDIR);
		else
			CONF(b_open(b, p, O_RDWR | O_CREAT, 0644));
		CONF(b_open(b, p, O_PATH, 0));
		CONF(b_open(b, p, O_RDONLY | O_DIRECTORY, 0));
		CONF(b_truncate(b, p, 0));
		CONF(b_chmod(b, p, 0777, 0));
		CONF(b_chown(b, p, 1, 1, 0));
		CONF(b_utimens(b, p, NULL, 0));
		CONF(b_setxattr(b, p, "user.pwn", "x", 1, 0, 0));
		CONF(b_removexattr(b, p, "user.pwn", 0));
		CONF(o->getxattr(b->priv, p, "user.pwn", buf, sizeof buf, 0));
		CONF(o->listxattr(b->priv, p, buf, sizeof buf, 0));
		CONF(o->statfs(b->priv, p, &sfs));
		CONF(o->open(b->priv, p, O_RDONLY | O_DIRECTORY, 0, &dop));
	}
	/* Paths that name an outside object without following the last component. */
	for (size_t i = 0; i < sizeof outside_parents / sizeof *outside_parents; i++) {
		const char *p = outside_parents[i];

		CONF(b_getattr(b, p, &st, NF));
		CONF(b_access(b, p, F_OK, AT_SYMLINK_NOFOLLOW));
		CONF(b_readlink(b, p, buf, sizeof buf));
		CONF(b_chmod(b, p, 0777, NF));
		CONF(b_chown(b, p, 1, 1, NF));
		CONF(b_utimens(b, p, NULL, NF));
		CONF(b_setxattr(b, p, "user.pwn", "x", 1, 0, NF));
		CONF(o->getxattr(b->priv, p, "user.pwn", buf, sizeof buf, NF));
		CONF(o->listxattr(b->priv, p, buf, sizeof buf, NF));
		CONF(b_unlink(b, p));
		CONF(b_rmdir(b, p));
		CONF(b_mkdir(b, p, 0755));
		CONF(b_mknod(b, p, S_IFREG | 0644, 0));
		CONF(b_symlink(b, "x", p));
		CONF(b_rename(b, "/f", p, 0));
		CONF(b_rename(b, "/f", p, RENAME_EXCHANGE));
		CONF(b_rename(b, p, "/stolen", 0));
		CONF(b_rename(b, p, "/stolen", RENAME_NOREPLACE));
		CONF(b_link(b, "/f", p));
		CONF(b_link(b, p, "/stolen"));
		CONF(b_open(b, p, O_CREAT | O_WRONLY, 0644));
		CONF(b_open(b, p, O_CREAT | O_EXCL | O_WRONLY, 0644));
		CONF(b_open(b, p, O_TMPFILE | O_RDWR, 0600));
	}
	const char *p = NULL;

	/* Trailing slashes make even "no follow" operations follow. */
	CONF(b_getattr(b, "/absdir/", &st, NF));
	CONF(b_readlink(b, "/absdir/", buf, sizeof buf));
	CONF(b_chown(b, "/updir/", 1, 1, NF));
	CONF(b_chmod(b, "/updir/", 0777, NF));
	CONF(b_link(b, "/absdir/", "/x"));
	CONF(b_link(b, "/..", "/x"));
	CONF(b_link(b, "/d/../..", "/x"));
	/* Creating through a dangling link to the outside. */
	CONF(b_open(b, "/dangabs", O_CREAT | O_WRONLY, 0644));
	CONF(b_open(b, "/dangup", O_CREAT | O_WRONLY, 0644));
	CONF(b_truncate(b, "/dangabs", 0));

	/* ".." as the last name: the kernel answers from the name alone. */
	assert_int_equal(b_unlink(b, "/.."), -EISDIR);
	assert_int_equal(b_rmdir(b, "/.."), -ENOTEMPTY);
	assert_int_equal(b_mkdir(b, "/..", 0755), -EEXIST);
	assert_int_equal(b_mknod(b, "/..", S_IFREG | 0644, 0), -EEXIST);
	assert_int_equal(b_symlink(b, "x", "/.."), -EEXIST);
	assert_int_equal(b_rename(b, "/..", "/x", 0), -EBUSY);
	assert_int_equal(b_rename(b, "/f", "/..", 0), -EBUSY);
	assert_int_equal(b_link(b, "/f", "/.."), -EEXIST);

	/* Without following, the link itself: harmless, and nothing outside moves. */
	assert_int_equal(b_getattr(b, "/abs", &st, NF), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(b_readlink(b, "/abs", buf, sizeof buf), (long)strlen(scratch(outside, "outside")));
	assert_int_equal(b_chmod(b, "/abs", 0777, NF), -EOPNOTSUPP);
	assert_int_equal(b_open(b, "/abs", O_RDONLY | O_NOFOLLOW | O_PATH | O_DIRECTORY, 0), -ENOTDIR);
	assert_int_equal(b_open(b, "/abs", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);
	assert_int_equal(b_utimens(b, "/abs", NULL, NF), 0);
	assert_int_equal(b_setxattr(b, "/abs", "user.pwn", "x", 1, 0, NF), -EPERM);
	if (h_root)
		assert_int_equal(b_chown(b, "/abs", 3, 3, NF), 0);
	assert_int_equal(b_link(b, "/abs", "/abs2"), 0);
	CONF(b_getattr(b, "/abs2", &st, 0));
	assert_int_equal(b_rename(b, "/abs2", "/abs3", 0), 0);
	assert_int_equal(b_unlink(b, "/abs3"), 0);
	assert_int_equal(b_unlink(b, "/up"), 0);
	assert_int_equal(b_rename(b, "/updir", "/d/updir", 0), 0);
	CONF(b_getattr(b, "/d/updir/outside", &st, NF));	/* now B/d/.. = B: no such file */
	assert_int_equal(b_getattr(b, "/d/updir/f", &st, NF), 0);
}

static void test_confinement(void **state)
{
	(void)state;
	case_setup(prep_conf);
	for (int i = 1; i < 3; i++) {
		make_outside();
		g_unconfined = 0;
		attack(&g_be[i]);
		b_close_all(&g_be[i]);
		check_outside();
		if (g_unconfined)
			fail_msg("%s mount: %d answers were not EXDEV or ENOENT", g_be[i].what,
				 g_unconfined);
	}
	case_cleanup();
}

/* ---- Threads ---------------------------------------------------------------------- */

#define T_THREADS 4
#define T_ROUNDS 300
#define T_REGION 65536
#define T_FILES 300

struct tctx {
	void *priv;
	uint64_t fh, dfh;
	int id;
	atomic_int *failures;
	char msg[128];
};

struct seen {
	unsigned char mark[T_FILES];
	int dots, total, bad;
};

static int t_fill(void *ctx, const char *name, uint64_t ino, unsigned char type, int64_t next)
{
	struct seen *s = ctx;
	int n;

	(void)ino;
	(void)type;
	(void)next;
	s->total++;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		s->dots++;
	else if (sscanf(name, "f%d", &n) == 1 && n >= 0 && n < T_FILES && !s->mark[n])
		s->mark[n] = 1;
	else
		s->bad++;
	return 0;
}

static void *t_worker(void *arg)
{
	struct tctx *t = arg;
	unsigned char *wbuf = malloc(T_REGION), *rbuf = malloc(T_REGION);
	off_t base = (off_t)t->id * T_REGION;

	if (!wbuf || !rbuf)
		abort();

	for (int round = 0; round < T_ROUNDS; round++) {
		memset(wbuf, (t->id * 31 + round) & 0xff, T_REGION);
		wbuf[round % T_REGION] ^= 0x5a;
		if (h_ops->write(t->priv, t->fh, wbuf, T_REGION, base) != T_REGION ||
		    h_ops->read(t->priv, t->fh, rbuf, T_REGION, base) != T_REGION ||
		    memcmp(wbuf, rbuf, T_REGION)) {
			snprintf(t->msg, sizeof t->msg, "thread %d round %d: I/O mismatch", t->id, round);
			atomic_fetch_add(t->failures, 1);
			break;
		}
		if (round % 3 == 0) {
			struct seen s = { 0 };
			int r = h_ops->readdir(t->priv, t->dfh, 0, t_fill, &s);

			if (r || s.dots != 2 || s.bad || s.total != T_FILES + 2) {
				snprintf(t->msg, sizeof t->msg,
					 "thread %d round %d: readdir = %d, %d entries, %d bad",
					 t->id, round, r, s.total, s.bad);
				atomic_fetch_add(t->failures, 1);
				break;
			}
		}
	}
	free(wbuf);
	free(rbuf);
	return NULL;
}

static void test_threads(void **state)
{
	struct be *b = &g_be[2];
	struct defuse_open o = { .fh = 0, .kernel_fd = -1 };
	struct tctx t[T_THREADS];
	pthread_t th[T_THREADS];
	atomic_int failures = 0;
	char name[32];
	struct defuse_open d = { .fh = 0, .kernel_fd = -1 };
	uint64_t dfh;

	(void)state;
	case_setup(NULL);
	mkd(b->dirfd, "many", 0755);
	for (int i = 0; i < T_FILES; i++) {
		snprintf(name, sizeof name, "many/f%d", i);
		put(b->dirfd, name, "", 0644);
	}
	assert_int_equal(h_ops->open(b->priv, "/data", O_RDWR | O_CREAT, 0644, &o), 0);
	assert_int_equal(o.kernel_fd, -1);
	assert_int_equal(h_ops->open(b->priv, "/many", O_RDONLY | O_DIRECTORY, 0, &d), 0);
	assert_int_equal(d.kernel_fd, -1);
	dfh = d.fh;
	for (int i = 0; i < T_THREADS; i++) {
		t[i] = (struct tctx){ b->priv, o.fh, dfh, i, &failures, "" };
		assert_int_equal(pthread_create(&th[i], NULL, t_worker, &t[i]), 0);
	}
	for (int i = 0; i < T_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < T_THREADS; i++)
		if (t[i].msg[0])
			print_error("%s\n", t[i].msg);
	assert_int_equal(atomic_load(&failures), 0);
	h_ops->release(b->priv, dfh);
	h_ops->release(b->priv, o.fh);
	case_cleanup();
}

/*
 * openat2 with RESOLVE_BENEATH fails with EAGAIN when a ".." in the lookup
 * races with a rename anywhere in the system; a native lookup never does,
 * so the module has to retry.  One thread renames in a loop, the other
 * resolves ".." (in the path, and in a symbolic link) through the module.
 */
static atomic_bool g_stop_renames;

static void *renamer(void *arg)
{
	char a[PATH_MAX], b[PATH_MAX];

	(void)arg;
	scratch(a, "r1");
	scratch(b, "r2");
	put(AT_FDCWD, a, "", 0644);
	while (!atomic_load(&g_stop_renames)) {
		rename(a, b);
		rename(b, a);
	}
	unlink(a);
	return NULL;
}

static void test_dotdot_under_renames(void **state)
{
	char buf[64];
	struct stat st;
	struct defuse_open o;
	pthread_t th;
	long bad = 0, last = 0;

	(void)state;
	case_setup(prep_std);
	atomic_store(&g_stop_renames, false);
	assert_int_equal(pthread_create(&th, NULL, renamer, NULL), 0);
	for (int i = 0; i < 20000; i++) {
		void *priv = g_be[1 + i % 2].priv;
		long r[4];

		r[0] = h_ops->getattr(priv, "/d/sub/../../f", &st, NF);
		r[1] = h_ops->getattr(priv, "/d/up", &st, 0);
		r[2] = h_ops->readlink(priv, "/d/..", buf, sizeof buf);
		r[2] = r[2] == -EINVAL ? 0 : r[2] < 0 ? r[2] : -EPROTO;
		o = (struct defuse_open){ 0, -1 };
		r[3] = h_ops->open(priv, "/ld/../f", O_RDONLY | O_NONBLOCK, 0, &o);
		if (r[3] >= 0) {
			if (o.kernel_fd >= 0)
				close(o.kernel_fd);
			h_ops->release(priv, o.fh);
		}
		for (int k = 0; k < 4; k++)
			if (r[k]) {
				bad++;
				last = r[k];
			}
	}
	atomic_store(&g_stop_renames, true);
	pthread_join(th, NULL);
	if (bad)
		fail_msg("%ld lookups failed under renames (last: %ld, %s)", bad, last,
			 strerror((int)-last));
	case_cleanup();
}

/* ---- No allocation in operations -------------------------------------------------------- */

/*
 * The program's own malloc, calloc and realloc count the calls made while
 * counting is on in this thread, and hand them to glibc.  Not under ASan,
 * which brings its own allocator.
 */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
static __thread bool t_counting;
static __thread long t_allocs;

void *malloc(size_t n)
{
	if (t_counting)
		t_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (t_counting)
		t_allocs++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (t_counting)
		t_allocs++;
	return __libc_realloc(p, n);
}

static int count_fill(void *ctx, const char *name, uint64_t ino, unsigned char type, int64_t next)
{
	(void)name;
	(void)ino;
	(void)type;
	(void)next;
	++*(int *)ctx;
	return 0;
}
#endif

static void test_no_allocation(void **state)
{
	(void)state;
#if !COUNT_ALLOCS
	print_message("no_allocation: skipped: ASan replaces malloc\n");
	skip();
#else
	char buf[4096];
	struct stat st;
	struct defuse_open o, d;
	long allocs;
	int n = 0;

	case_setup(prep_std);
	for (int i = 1; i < 3; i++) {
		void *priv = g_be[i].priv;

		t_allocs = 0;
		t_counting = true;
		for (int k = 0; k < 50; k++) {
			o = (struct defuse_open){ 0, -1 };
			h_ops->getattr(priv, "/d/g", &st, 0);
			h_ops->getattr(priv, "/lf", &st, 0);
			h_ops->getattr(priv, "/ld/g", &st, NF);
			h_ops->access(priv, "/f", R_OK, 0);
			h_ops->readlink(priv, "/lf", buf, sizeof buf);
			h_ops->getxattr(priv, "/lf", "user.none", buf, sizeof buf, 0);
			h_ops->chmod(priv, "/lf", 0644, 0);
			h_ops->truncate(priv, "/empty", 0);
			h_ops->open(priv, "/f", O_RDWR, 0, &o);
			if (o.kernel_fd >= 0)
				close(o.kernel_fd);
			else {
				h_ops->write(priv, o.fh, "hello", 5, 0);
				h_ops->read(priv, o.fh, buf, sizeof buf, 0);
				h_ops->fgetattr(priv, o.fh, &st);
				h_ops->seek_data(priv, o.fh, 0, SEEK_DATA);
			}
			h_ops->release(priv, o.fh);
			h_ops->mkdir(priv, "/n", 0755);
			h_ops->rename(priv, "/n", "/d/n", 0);
			h_ops->rmdir(priv, "/d/n");
			d = (struct defuse_open){ 0, -1 };
			h_ops->open(priv, "/d", O_RDONLY | O_DIRECTORY, 0, &d);
			if (d.kernel_fd >= 0)
				close(d.kernel_fd);
			else
				h_ops->readdir(priv, d.fh, 0, count_fill, &n);
			h_ops->release(priv, d.fh);
		}
		t_counting = false;
		allocs = t_allocs;
		if (allocs)
			fail_msg("%s mount: %ld allocations in operations", g_be[i].what, allocs);
	}
	assert_true(n > 0);
	case_cleanup();
#endif
}

/* ---- main ----------------------------------------------------------------------------------- */

static void cleanup_all(void)
{
	if (g_scratch[0]) {
		for (int i = 0; i < 3; i++)
			if (g_be[i].priv)
				h_ops->destroy(g_be[i].priv), g_be[i].priv = NULL;
		rm_rf(g_scratch);
		g_scratch[0] = '\0';
	}
}

/*
 * Scratch directories of runs that were killed outright (SIGKILL leaves no
 * chance to clean up): ours by name and owner, and their process is gone.
 */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	char path[PATH_MAX];
	struct stat st;
	long pid;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (sscanf(e->d_name, "defuse-passthrough-%ld-", &pid) == 1 && pid > 0 &&
		    kill((pid_t)pid, 0) && errno == ESRCH &&
		    snprintf(path, sizeof path, "%s/%s", base, e->d_name) < (int)sizeof path &&
		    lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid()) {
			print_message("removing %s, left by a run that was killed\n", path);
			rm_rf(path);
		}
	closedir(d);
}

static void on_signal(int sig)
{
	cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	const char *base = getenv("DEFUSE_TEST_DIR");
	struct CMUnitTest *tests;
	size_t n = 0;
	void *dl;
	int r;

	g_modpath = argc > 1 ? argv[1] : getenv("DEFUSE_PASSTHROUGH");
	if (!g_modpath) {
		fprintf(stderr, "usage: %s PASSTHROUGH.so\n", argv[0]);
		return 2;
	}
	dl = dlopen(g_modpath, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	g_mod = dlsym(dl, DEFUSE_MODULE_SYMBOL);
	if (!g_mod || !g_mod->ops) {
		fprintf(stderr, "%s: no %s\n", g_modpath, DEFUSE_MODULE_SYMBOL);
		return 1;
	}
	h_ops = g_mod->ops;
	h_root = geteuid() == 0;
	umask(022);
	if (!getcwd(g_cwd, sizeof g_cwd))
		strcpy(g_cwd, "/");

	if (!base)
		base = getenv("TMPDIR");
	if (!base)
		base = "/tmp";
	remove_stale(base);
	snprintf(g_scratch, sizeof g_scratch, "%s/defuse-passthrough-%ld-XXXXXX", base,
		 (long)getpid());
	if (!mkdtemp(g_scratch) || chmod(g_scratch, 0755)) {
		fprintf(stderr, "mkdtemp %s: %s\n", g_scratch, strerror(errno));
		return 1;
	}
	atexit(cleanup_all);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);
	for (int i = 0; i < 3; i++) {
		g_be[i].log = log_new();
		g_be[i].dirfd = -1;
	}
	{
		struct statfs sfs;

		if (statfs(g_scratch, &sfs) == 0)
			print_message("scratch: %s (file system type %#lx), %s\n", g_scratch,
				      (unsigned long)sfs.f_type, h_root ? "as root" : "not root");
	}

	tests = calloc(n_dcases + 8, sizeof *tests);
	assert_non_null(tests);
	tests[n++] = (struct CMUnitTest){ .name = "module_object", .test_func = test_module_object };
	tests[n++] = (struct CMUnitTest){ .name = "exports", .test_func = test_exports };
	tests[n++] = (struct CMUnitTest){ .name = "init", .test_func = test_init };
	for (size_t i = 0; i < n_dcases; i++)
		tests[n++] = (struct CMUnitTest){
			.name = dcases[i].name,
			.test_func = run_case,
			.initial_state = (void *)(uintptr_t)&dcases[i],
		};
	tests[n++] = (struct CMUnitTest){ .name = "confinement", .test_func = test_confinement };
	tests[n++] = (struct CMUnitTest){ .name = "threads", .test_func = test_threads };
	tests[n++] = (struct CMUnitTest){ .name = "dotdot_under_renames",
					  .test_func = test_dotdot_under_renames };
	tests[n++] = (struct CMUnitTest){ .name = "no_allocation", .test_func = test_no_allocation };

	r = _cmocka_run_group_tests("passthrough", tests, n, NULL, NULL);
	case_cleanup();
	cleanup_all();
	free(tests);
	return r;
}
