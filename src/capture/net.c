/*
 * When the SUD net is armed.
 *
 * While Syscall User Dispatch is armed, every system call of the thread
 * takes the kernel's slow entry path, allowed or not: about 40-60 ns each on
 * our machines (docs/performance-capture.md), more than the whole patched
 * path costs.  The net is only needed where there is code whose `syscall`
 * instructions are not patched, so by default (DEFUSE_NET=auto) it is armed
 * as soon as such code appears, and not before:
 *
 *   - at start-up or dlopen, an object with a site the planner refused, no
 *     plan, or no trampoline memory in reach;
 *   - executable memory that is not a patched object: an anonymous or
 *     non-ELF PROT_EXEC mapping, mprotect/pkey_mprotect adding PROT_EXEC
 *     (JIT compilers), shmat with SHM_EXEC.
 *
 * The thread that sees the event arms at once, before the new code can run
 * in it; other threads arm at their next captured call, and new threads at
 * birth.  A thread that only ever runs the new code and makes no captured
 * call before it is the window this leaves; DEFUSE_NET=on closes it.
 * DEFUSE_NET=off never arms the net (only patched sites are captured).
 */
#include <sys/mman.h>
#include <sys/shm.h>
#include "capture/capture.h"
#include "kernel/sys.h"
#include "common/exec_layout.h"
#include "common/util.h"

void defuse_net_init(const char *mode)
{
	capture_g.net_mode = !mode ? NET_AUTO : !d_strcmp(mode, "on") ? NET_ON :
			    !d_strcmp(mode, "off") ? NET_OFF : NET_AUTO;
	if (mode && !!d_strcmp(mode, "on") && !!d_strcmp(mode, "off") && !!d_strcmp(mode, "auto"))
		defuse_log("DEFUSE_NET=", mode, " is not auto, on or off; using auto");
	if (capture_g.net_mode == NET_ON)
		defuse_net_want("DEFUSE_NET=on");
}

void defuse_net_want(const char *why)
{
	if (capture_g.net_mode == NET_OFF || capture_g.net_wanted)
		return;
	if (defuse_g.debug)
		defuse_log("arming the SUD net: ", why, NULL);
	__atomic_store_n(&capture_g.net_wanted, 1, __ATOMIC_RELEASE);
	defuse_net_catch_up();
}

EXEC_PATH void defuse_net_catch_up(void)
{
	if (defuse_self.net_armed || !capture_g.net_wanted)
		return;
	defuse_self.sud_selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	defuse_self.net_armed = defuse_sud_arm() == 0;
}

/* Called after a successful mmap, mprotect, pkey_mprotect or shmat. */
void defuse_net_watch(const struct defuse_syscall *sc, long ret)
{
	(void)ret;
	switch (sc->nr) {
	case SYS_mmap:
		/* File mappings of ELF code were patched by then (dispatch.c);
		   what is left over shows in defuse_objects_unpatched(). */
		if ((sc->a[2] & PROT_EXEC) && (sc->a[3] & MAP_ANONYMOUS))
			defuse_net_want("anonymous executable memory");
		break;
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		if (sc->a[2] & PROT_EXEC)
			defuse_net_want("mprotect to executable");
		break;
	case SYS_shmat:
		if (sc->a[2] & SHM_EXEC)
			defuse_net_want("executable shared memory");
		break;
	}
	if (defuse_objects_unpatched())
		defuse_net_want("code with unpatched syscall sites");
}
