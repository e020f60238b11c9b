/*
 * Start-up of the preloaded library, once per process image.
 *
 * Order matters.  Sites are patched before SUD is armed, so DEFUSE's own
 * start-up calls through libc never trap; in_defuse is set throughout, so
 * those calls pass straight to the kernel (through the own gate) and are
 * not traced.  The SIGSYS handler is installed before SUD is armed.  The
 * last call, only under DEFUSE_TEST_MARKER=1, tells an outside observer
 * where the gates are and that from here on the program's calls are ours
 * (tests/capture/strace_compare.py).
 */
#include <link.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cpuid.h>
#include <sys/platform/x86.h>
#include "capture/capture.h"
#include "capture/plan.h"
#include "common/exec_layout.h"
#include "common/util.h"
#include "core/entry.h"
#include "kernel/sys.h"
#include "trace/trace.h"

struct capture_global capture_g EXEC_DATA;
long defuse_xsave_size EXEC_DATA;
long defuse_xsave_compact EXEC_DATA;

/*
 * The save area's size for every component the OS enabled, and whether
 * the CPU has XSAVEC: it writes only the components in use (a program
 * that never touched AVX-512 or AMX tiles has them in their initial
 * state), which on a CPU with AMX is under 1 KiB of some 11 KiB, and XRSTOR
 * puts the others back to their initial state, as they were.
 */
static void find_xsave_size(void)
{
	unsigned a, b, c, d;

	/*
	 * CPUID traps to the hypervisor in a virtual machine (about 1 us
	 * each here), and this runs at every start: what glibc already read
	 * (leaf 1, leaf 0xd subleaf 1) is taken from it; only the size is
	 * asked of the CPU.  XSAVE implies leaf 0xd.
	 */
	if (CPU_FEATURE_PRESENT(OSXSAVE)) {
		__cpuid_count(0xd, 0, a, b, c, d);
		defuse_xsave_size = b + 64;	/* room for the 64-byte alignment */
		defuse_xsave_compact = CPU_FEATURE_PRESENT(XSAVEC);
	}
}

/* dl_iterate_phdr's visit: is this object the one that holds find_self? */
static int self_cb(struct dl_phdr_info *info, size_t sz, void *arg)
{
	uintptr_t self = (uintptr_t)arg;

	(void)sz;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && self - (info->dlpi_addr + ph->p_vaddr) < ph->p_memsz) {
			char real[PATH_MAX];
			const char *n = info->dlpi_name;

			if (!n || !*n)
				return 1;
			/* An absolute name stays valid whatever the program's
			   working directory becomes; only a relative one needs
			   realpath (a readlink per path component). */
			if (n[0] != '/' && realpath(n, real))
				n = real;
			if (d_strlen(n) < sizeof(defuse_g.preload_path))
				memcpy(defuse_g.preload_path, n, d_strlen(n) + 1);
			return 1;
		}
	}
	return 0;
}

/*
 * This library's file name, as the loader has it (the LD_PRELOAD entry),
 * for exec.c.  By dl_iterate_phdr rather than dladdr: dladdr's first call
 * binds libc's _dl_addr lazily and searches our symbol table, a few us of
 * every start (measured with the rest of the constructor, issue 11).
 */
static void find_self(void)
{
	dl_iterate_phdr(self_cb, (void *)(uintptr_t)&find_self);
}

static long selector_tpoff(void)
{
	uintptr_t tp;

	__asm__("mov %%fs:0, %0" : "=r"(tp));
	return (long)((uintptr_t)&defuse_self.sud_selector - tp);
}

/*
 * getenv, by DEFUSE's own string code.  Start-up runs after the loader has
 * run libc's code, and every libc function it calls first (getenv,
 * strcspn, strncmp...) costs a page fault in libc's text (twice for those
 * called before and after libc's image replaces that text): a few us per
 * exec, measured (issue 11).  Used only while the process has one thread
 * (start-up), as getenv is.
 *
 * A dozen DEFUSE_* and LD_* names are asked at every start, most of them
 * not set: one scan of the whole environment each was a few us per exec.
 * So the entries with those prefixes are picked out in one pass, at the
 * first call, and only they are searched for such a name: the
 * environment as the process started with it, before
 * hide_from_environment takes them out.
 */
#define SETTINGS_MAX 32
static const char *settings[SETTINGS_MAX] EXEC_DATA;
static int nsettings EXEC_DATA = -1;	/* -1: not picked out yet */

static int is_setting(const char *s)
{
	return d_startswith(s, "DEFUSE_") || d_startswith(s, "LD_");
}

const char *defuse_getenv(const char *name)
{
	size_t n = d_strlen(name);

	if (nsettings < 0) {
		nsettings = 0;
		for (char **e = environ; e && *e; e++)
			if (is_setting(*e) && nsettings++ < SETTINGS_MAX)
				settings[nsettings - 1] = *e;
	}
	if (is_setting(name) && nsettings <= SETTINGS_MAX) {
		for (int i = 0; i < nsettings; i++)
			if (!d_strncmp(settings[i], name, n) && settings[i][n] == '=')
				return settings[i] + n + 1;
		return NULL;
	}
	for (char **e = environ; e && *e; e++)
		if (!d_strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Bytes of p up to the first ':' or ' ' (strcspn(p, ": ")), and after it. */
static size_t preload_word(const char *p)
{
	size_t n = 0;

	while (p[n] && p[n] != ':' && p[n] != ' ')
		n++;
	return n;
}

static size_t preload_gap(const char *p)
{
	size_t n = 0;

	while (p[n] == ':' || p[n] == ' ')
		n++;
	return n;
}

/*
 * The program sees the environment it would see without DEFUSE: our
 * LD_PRELOAD entry and the DEFUSE_* settings are taken out (they were copied
 * for exec.c, which puts them back in every new image).
 */
static void hide_from_environment(void)
{
	const char *pre = defuse_getenv("LD_PRELOAD");
	const char *lib = defuse_getenv("DEFUSE_LD_LIBRARY_PATH");
	size_t ours = d_strlen(defuse_g.preload_path);
	int drop_pre = 0;
	char **w;

	if (pre && ours) {
		char rest[4096];
		size_t len = 0;

		for (const char *p = pre; *p;) {
			size_t w = preload_word(p);

			if (w && !(w == ours && !memcmp(p, defuse_g.preload_path, w)) &&
			    len + w + 2 < sizeof(rest)) {
				if (len)
					rest[len++] = ':';
				memcpy(rest + len, p, w);
				len += w;
			}
			p += w;
			p += preload_gap(p);
		}
		rest[len] = 0;
		if (len)
			setenv("LD_PRELOAD", rest, 1);
		else
			drop_pre = 1;
	}
	/* The program's own LD_LIBRARY_PATH, which exec.c had made kernel
	   paths for the loader. */
	if (lib)
		setenv("LD_LIBRARY_PATH", lib, 1);
	else if (defuse_getenv("DEFUSE_NO_LD_LIBRARY_PATH"))
		unsetenv("LD_LIBRARY_PATH");	/* one exec.c made for $ORIGIN */
	/* The copy of a program in a mount that the dynamic loader, run as
	   a program, opened by /proc/self/fd (core/exec_resolve.c): the
	   program did not open it. */
	if (defuse_getenv("DEFUSE_EXEC_FD"))
		sys1(SYS_close, atoi(defuse_getenv("DEFUSE_EXEC_FD")));
	/*
	 * The rest in place, as unsetenv would do it name by name, but
	 * without copying each name (malloc) or scanning the array once per
	 * name: this runs at every start.
	 */
	w = environ;
	for (char **e = environ; *e; e++)
		if (!d_startswith(*e, "DEFUSE_") && !(drop_pre && d_startswith(*e, "LD_PRELOAD=")))
			*w++ = *e;
	*w = NULL;
}

static long init_cold(void *arg)
{
	char **envp = arg;
	const char *marker = defuse_getenv("DEFUSE_TEST_MARKER");
	const char *mounts = defuse_getenv("DEFUSE_MOUNTS");
	int traced;

	defuse_g.debug = defuse_getenv("DEFUSE_DEBUG") != NULL;
	capture_g.selector_tpoff = selector_tpoff();
	defuse_gate_hooks = (struct defuse_gate_hooks){
		(void *)defuse_clone_before, (void *)defuse_clone_child,
		(void *)defuse_clone_parent, (void *)defuse_tramp_hook,
	};
	find_self();
	defuse_exec_init(envp);
	defuse_usermem_refresh_pid();
	defuse_sig_init(defuse_getenv("DEFUSE_SIGSYS"));
	defuse_sig_flush_fn = defuse_sig_flush;
	traced = trace_init(defuse_getenv("DEFUSE_TRACE"));

	plan_cache_dir();	/* reads DEFUSE_CACHE_DIR before it is hidden */
	defuse_objects_patch_loaded();
	/* The umask, for the modes the core hands modules (module.h): asked
	   of the kernel while the process has one thread, then followed at
	   each umask call (dispatch.c).  Without mounts nothing reads it:
	   two system calls fewer per start (issue 11). */
	if (mounts && *mounts) {
		defuse_g.umask = (unsigned int)sys1(SYS_umask, 0);
		sys1(SYS_umask, defuse_g.umask);
	}
	/* Modules are loaded (and patched) after libc: their calls then go
	   through trampolines, which send them straight on (in_defuse). */
	core_init(mounts);
	/* The handler first: a net armed later must find it in place. */
	if (defuse_sigsys_install() == 0) {
		defuse_net_init(defuse_getenv("DEFUSE_NET"));
		if (defuse_objects_unpatched())
			defuse_net_want("code with unpatched syscall sites");
	} else {
		capture_g.net_mode = NET_OFF;
	}

	hide_from_environment();
	defuse_g.test_marker = marker && !strcmp(marker, "1");
	if (defuse_g.test_marker)
		sys6(DEFUSE_TEST_MARKER_NR, defuse_gate_own_begin, defuse_gate_own_end,
		     defuse_gate_forward_begin, defuse_gate_forward_end, 0, 0);
	defuse_self.tracing = traced;
	return 0;
}

/*
 * Start-up needs tens of KiB of stack (paths of PATH_MAX, the loader's own
 * work for a module's dlopen, posix_spawn of the planner), and a program
 * may run with much less (ulimit -s 16): it runs on DEFUSE's own stack
 * (cold_stack.c), as every later piece of cold code does.
 */
__attribute__((constructor))
static void defuse_init(int argc, char **argv, char **envp)
{
	(void)argc, (void)argv;
	defuse_self.in_defuse = 1;
	find_xsave_size();
	defuse_self.prog_sp = (uintptr_t)__builtin_frame_address(0);
	defuse_call_xsaved(init_cold, envp, defuse_cold_stack());
	defuse_self.in_defuse = 0;
}
