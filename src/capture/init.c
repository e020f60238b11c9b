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
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cpuid.h>
#include <sys/platform/x86.h>
#include "capture/capture.h"
#include "capture/plan.h"
#include "core/entry.h"
#include "kernel/sys.h"
#include "trace/trace.h"

struct capture_global capture_g;
long defuse_xsave_size;
long defuse_xsave_compact;

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

static void find_self(void)
{
	Dl_info info;
	char real[PATH_MAX];

	if (dladdr((void *)&find_self, &info) && info.dli_fname) {
		/* An absolute name stays valid whatever the program's working
		   directory becomes; only a relative one needs realpath (a
		   readlink per path component, at every start). */
		const char *p = info.dli_fname[0] == '/' ? info.dli_fname :
				realpath(info.dli_fname, real) ? real : info.dli_fname;

		if (strlen(p) < sizeof(defuse_g.preload_path))
			strcpy(defuse_g.preload_path, p);
	}
}

static long selector_tpoff(void)
{
	uintptr_t tp;

	__asm__("mov %%fs:0, %0" : "=r"(tp));
	return (long)((uintptr_t)&defuse_self.sud_selector - tp);
}

/*
 * The program sees the environment it would see without DEFUSE: our
 * LD_PRELOAD entry and the DEFUSE_* settings are taken out (they were copied
 * for exec.c, which puts them back in every new image).
 */
static void hide_from_environment(void)
{
	const char *pre = getenv("LD_PRELOAD"), *lib = getenv("DEFUSE_LD_LIBRARY_PATH");
	size_t ours = strlen(defuse_g.preload_path);
	int drop_pre = 0;
	char **w;

	if (pre && ours) {
		char rest[4096];
		size_t len = 0;

		for (const char *p = pre; *p;) {
			size_t w = strcspn(p, ": ");

			if (w && !(w == ours && !memcmp(p, defuse_g.preload_path, w)) &&
			    len + w + 2 < sizeof(rest)) {
				if (len)
					rest[len++] = ':';
				memcpy(rest + len, p, w);
				len += w;
			}
			p += w;
			p += strspn(p, ": ");
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
	else if (getenv("DEFUSE_NO_LD_LIBRARY_PATH"))
		unsetenv("LD_LIBRARY_PATH");	/* one exec.c made for $ORIGIN */
	/* The copy of a program in a mount that the dynamic loader, run as
	   a program, opened by /proc/self/fd (core/exec_resolve.c): the
	   program did not open it. */
	if (getenv("DEFUSE_EXEC_FD"))
		sys1(SYS_close, atoi(getenv("DEFUSE_EXEC_FD")));
	/*
	 * The rest in place, as unsetenv would do it name by name, but
	 * without copying each name (malloc) or scanning the array once per
	 * name: this runs at every start.
	 */
	w = environ;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "DEFUSE_", 7) && !(drop_pre && !strncmp(*e, "LD_PRELOAD=", 11)))
			*w++ = *e;
	*w = NULL;
}

static long init_cold(void *arg)
{
	char **envp = arg;
	const char *marker = getenv("DEFUSE_TEST_MARKER");
	int traced;

	defuse_g.debug = getenv("DEFUSE_DEBUG") != NULL;
	capture_g.selector_tpoff = selector_tpoff();
	defuse_gate_hooks = (struct defuse_gate_hooks){
		(void *)defuse_clone_before, (void *)defuse_clone_child,
		(void *)defuse_clone_parent, (void *)defuse_tramp_hook,
	};
	find_self();
	defuse_exec_init(envp);
	defuse_dispatch_init();
	defuse_usermem_refresh_pid();
	defuse_sig_init(getenv("DEFUSE_SIGSYS"));
	defuse_sig_flush_fn = defuse_sig_flush;
	traced = trace_init(getenv("DEFUSE_TRACE"));

	plan_cache_dir();	/* reads DEFUSE_CACHE_DIR before it is hidden */
	defuse_objects_patch_loaded();
	/* The umask, for the modes the core hands modules (module.h): asked
	   of the kernel while the process has one thread, then followed at
	   each umask call (dispatch.c). */
	defuse_g.umask = (unsigned int)sys1(SYS_umask, 0);
	sys1(SYS_umask, defuse_g.umask);
	/* Modules are loaded (and patched) after libc: their calls then go
	   through trampolines, which send them straight on (in_defuse). */
	core_init(getenv("DEFUSE_MOUNTS"));
	/* The handler first: a net armed later must find it in place. */
	if (defuse_sigsys_install() == 0) {
		defuse_net_init(getenv("DEFUSE_NET"));
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
