/*
 * The mount table, from DEFUSE_MOUNTS (set by `defuse run -m`, or by hand
 * with LD_PRELOAD): one mount per line,
 *
 *     MOUNTPOINT=MODULE[:ARGS]
 *
 * MOUNTPOINT an existing directory; MODULE a name (found in
 * $DEFUSE_MODULE_PATH, then next to libdefuse.so in modules/) or a path to
 * the module's .so; ARGS handed to the module's init.  Every process of the
 * tree loads the modules and starts its mounts at start-up (every image:
 * again after exec), tells them when it ends (core_fini: module.h,
 * process_end) and ends them when it ends through exit(3) (destroy).  A
 * mount that cannot start ends the process with a message and status 127:
 * running the program without its file system would give silently wrong
 * answers; in an image exec'd later, it is served as removed (dead_mount).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "core/core.h"
#include "common/exec_layout.h"
#include "common/util.h"
#include "core/module_find.h"
#include "core/pager.h"
#include "kernel/sys.h"
#include "module/call.h"

struct core_mount core_mounts[CORE_MOUNTS_MAX];
int core_nmounts EXEC_DATA;

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

/* A module's wait that the caller's signals may end (module.h). */
__attribute__((visibility("default"))) int defuse_waiting(int on)
{
	return defuse_sig_interruptible(on);
}

/* The program's umask, as capture keeps it (module.h). */
__attribute__((visibility("default"))) mode_t defuse_umask(void)
{
	return defuse_g.umask;
}

/* Whether the caller shares its parent's memory (module.h). */
__attribute__((visibility("default"))) int defuse_in_vfork_child(void)
{
	return defuse_self.vfork_child != 0;
}

/* From linux/prctl.h (capture.h has them too; the core cannot include it). */
#define CORE_PR_SET_SYSCALL_USER_DISPATCH 59
#define CORE_PR_SYS_DISPATCH_OFF 0

/*
 * A thread of DEFUSE's own (the pager's fault thread) or of a module's
 * (module.h: defuse_own_thread): inside DEFUSE for good, so that dispatch
 * sends its calls straight on, with Syscall User Dispatch off (a clone
 * child is armed at birth when the net is wanted).
 */
void core_own_thread(void)
{
	defuse_self.in_defuse = 1;
	sys5(SYS_prctl, CORE_PR_SET_SYSCALL_USER_DISPATCH, CORE_PR_SYS_DISPATCH_OFF, 0, 0, 0);
	defuse_self.net_armed = 0;
}

__attribute__((visibility("default"))) void defuse_own_thread(void)
{
	core_own_thread();
}

/* ... and given back. */
__attribute__((visibility("default"))) int defuse_close_kept(int fd)
{
	return defuse_fd_release(fd);
}

/*
 * A mount that started in the first image of the tree but cannot start in
 * this one (exec'd later: DEFUSE_INHERITED, capture/exec.c) is served as
 * gone: every path in it fails with the error, as natively every path in
 * a removed directory does, while the rest of the program works.  Ending
 * the process instead would take every later exec of the tree down with
 * one removed directory.
 */
static int dead_mount(struct core_mount *m, const char *point, int err)
{
	if (!getenv("DEFUSE_INHERITED"))
		return 0;
	if (defuse_g.debug)
		defuse_log("mount could not start again: served as removed", point, NULL);
	snprintf(m->point, sizeof(m->point), "%s", point);
	m->dead = err < 0 && err > -4096 ? err : -ENOENT;
	return 1;
}

static void add_mount(char *line)
{
	struct core_mount *m = &core_mounts[core_nmounts];
	const struct defuse_module *mod;
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

		if (line[0] == '/' && dead_mount(m, line, -ENOENT)) {
			*eq = '=';
			goto added;
		}
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
	mod = module_find(eq + 1, defuse_g.preload_path, why, sizeof(why));
	if (!mod)
		fail(line, why);
	m->resolves = (mod->flags & DEFUSE_MODULE_RESOLVES) != 0;
	r = mod_start(&m->ref, mod, DEFUSE_HOST_PROCESS, colon ? colon + 1 : "", why, sizeof(why));
	if (colon)
		*colon = ':';
	if (r == 0 && (m->ref.want & DEFUSE_CAP_ONE_INSTANCE)) {
		/* The module started nothing: one server for the whole tree
		   serves it, as the mount shared:MODULE:ARGS (module.h). */
		mod = module_find("shared", defuse_g.preload_path, why, sizeof(why));
		if (!mod)
			fail(line, why);
		m->resolves = (mod->flags & DEFUSE_MODULE_RESOLVES) != 0;
		r = mod_start(&m->ref, mod, DEFUSE_HOST_PROCESS, eq + 1, why, sizeof(why));
	}
	if (r < 0 && dead_mount(m, real, r))
		goto added;
	if (r < 0)
		fail(line, why[0] ? why : strerror(-r));
	strcpy(m->point, real);
	core_mount_kids[core_nmounts] = (struct core_kid){ st.st_dev, st.st_ino,
							   major(st.st_dev), minor(st.st_dev) };
	/* FNV-1a: the same text mounts the same file system anywhere. */
	m->key = d_fnv1a_str(D_FNV1A_INIT, eq + 1);
added:
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
	core_allow_uncaptured = getenv("DEFUSE_ALLOW_UNCAPTURED") != NULL;
	/* Before the first mount starts: a module's init may start threads
	   (sshfs's), whose calls are routed at once and look at the table. */
	core_fds = calloc(CORE_FD_MAX, sizeof(*core_fds));
	copy = strdup(spec);
	if (!copy || !core_fds)
		fail(spec, "out of memory");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (*line)
			add_mount(line);
	free(copy);
	if (core_cwd_init(getenv("DEFUSE_CWD")) < 0)
		fail(spec, "out of memory");
	core_pager_init(getenv("DEFUSE_PAGER"));
	core_special_init(getenv("DEFUSE_SPECIAL_DIR"));
	core_emulated_adopt_inherited(getenv("DEFUSE_FDS"));
}

/* ---- the end ---------------------------------------------------------- */

/*
 * module.h's destroy, in process: when the process ends through exit(3).
 * libdefuse.so's destructor runs inside exit, after the program's atexit
 * handlers and the destructors of libraries loaded after it, but before
 * stdio's last flush, which may still write to a file in a mount: so the
 * destructor only notes that the end is a normal one, and the mounts end at
 * the process's very last call, exit_group (capture's dispatch calls
 * core_fini there).  An _exit, or an exit_group of the program's own, comes
 * without the note: nothing is destroyed, as the kernel would not run a
 * destructor either; process_end is called for every end but a vfork
 * child's.
 */
static int ending_normally EXEC_DATA;

__attribute__((destructor)) static void core_exit_noted(void)
{
	/* A vfork child's exit would end the mounts of the parent it shares
	   memory with. */
	if (!defuse_self.vfork_child)
		ending_normally = 1;
}

/* The number of threads of this process (/proc/self/stat, field 20), or
   0 if it cannot be told. */
static long thread_count(void)
{
	char buf[1024];
	long fd = sys3(SYS_open, "/proc/self/stat", O_RDONLY | O_CLOEXEC, 0), n;
	char *p;
	int field = 2;

	if (fd < 0)
		return 0;
	n = sys3(SYS_read, fd, buf, sizeof(buf) - 1);
	sys1(SYS_close, fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');	/* the command name may hold anything */
	if (!p)
		return 0;
	for (p++; *p && field < 20; p++)
		if (*p == ' ')
			field++;
	return strtol(p, NULL, 10);
}

long core_fini(void *unused)
{
	static int ended;
	int whole;

	(void)unused;
	if (defuse_self.vfork_child || __atomic_exchange_n(&ended, 1, __ATOMIC_ACQ_REL))
		return 0;
	/* Another thread could be inside a module right now. */
	whole = ending_normally && thread_count() == 1;
	/* However the process ends: a shell ends with _exit, and the shared
	   module's last client must still wait there for its server's
	   destroy, or the run returns before the image is written back. */
	for (int i = core_nmounts - 1; i >= 0; i--)
		if (!core_mounts[i].dead)
			mod_process_end(&core_mounts[i].ref);
	if (!whole)
		return 0;
	ending_normally = 0;
	for (int i = core_nmounts - 1; i >= 0; i--)
		if (!core_mounts[i].dead)
			mod_destroy(&core_mounts[i].ref);
	/* Nothing of the program runs any more; should anything still call,
	   the kernel answers it. */
	core_nmounts = 0;
	return 0;
}
