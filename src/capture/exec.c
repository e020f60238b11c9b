/*
 * A new process image is captured again.
 *
 * execve replaces the program, DEFUSE included, and SUD is cleared.  The new
 * image loads DEFUSE again if LD_PRELOAD names it, so every exec passes an
 * environment with DEFUSE's LD_PRELOAD entry and DEFUSE_* settings put back,
 * even when the program passes its own (`env -i`).  Other LD_PRELOAD entries
 * of the program are kept, after ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include "capture/capture.h"
#include "kernel/sys.h"
#include "common/exec_layout.h"
#include "common/util.h"
#include "core/entry.h"

#define KEEP_MAX 4096
/* Entries added to the program's environment: DEFUSE_SIGSYS, DEFUSE_CWD,
   DEFUSE_FDS, DEFUSE_PAGER, DEFUSE_LD_LIBRARY_PATH, DEFUSE_EXEC_FD,
   LD_PRELOAD, and the terminating NULL. */
#define ADDED_ENTRIES 8

/* The kernel's limit on one environment string (MAX_ARG_STRLEN). */
#define STASH_MAX (128 * 1024)
/* "DEFUSE_CWD=" and a path. */
#define CWD_MAX (PATH_MAX + 16)
/* LD_LIBRARY_PATH rewritten and the program's own (core/exec_resolve.c):
   values longer than a quarter of this are passed on as they are. */
#define LIBPATH_MAX (64 * 1024)
/* "DEFUSE_PAGER=FD:INO" (core/pager.c). */
#define PAGER_MAX 64

/* "DEFUSE_...=..." strings of our own environment, NUL-separated. */
static char keep_buf[KEEP_MAX];
static unsigned keep_len EXEC_DATA, keep_count EXEC_DATA;

/* Every image after the first of a tree has it: its mounts started once
   already (core/mounts.c: a mount whose module cannot start again is then
   served as removed, not refused). */
static const char inherited[] = "DEFUSE_INHERITED=1";

void defuse_exec_init(char **envp)
{
	int seen = 0;

	for (; envp && *envp; envp++) {
		unsigned n;

		/* DEFUSE_SIGSYS, DEFUSE_CWD, DEFUSE_FDS and DEFUSE_PAGER are
		   per exec, not per session. */
		if (!d_startswith(*envp, "DEFUSE_") || d_startswith(*envp, "DEFUSE_SIGSYS=") ||
		    d_startswith(*envp, "DEFUSE_CWD=") || d_startswith(*envp, "DEFUSE_FDS=") ||
		    d_startswith(*envp, "DEFUSE_PAGER=") || d_startswith(*envp, "DEFUSE_EXEC_FD=") ||
		    d_startswith(*envp, "DEFUSE_NO_LD_LIBRARY_PATH=") ||
		    d_startswith(*envp, "DEFUSE_LD_LIBRARY_PATH="))
			continue;
		/* Measured only here: a pass over every string of the
		   environment cost about a us per exec (issue 11). */
		n = d_strlen(*envp) + 1;
		if (keep_len + n > KEEP_MAX)
			continue;
		seen |= d_startswith(*envp, "DEFUSE_INHERITED=");
		__builtin_memcpy(keep_buf + keep_len, *envp, n);
		keep_len += n;
		keep_count++;
	}
	if (!seen && keep_len + sizeof(inherited) <= KEEP_MAX) {
		__builtin_memcpy(keep_buf + keep_len, inherited, sizeof(inherited));
		keep_len += sizeof(inherited);
		keep_count++;
	}
}

/* Appends src to dst at *pos; returns the start. */
static char *put(char *dst, unsigned *pos, const char *src)
{
	char *start = dst + *pos;
	unsigned n = d_strlen(src);

	__builtin_memcpy(start, src, n);
	*pos += n;
	return start;
}

/* Is one entry of a colon/space-separated LD_PRELOAD list our library? */
static int is_ours(const char *p, unsigned n)
{
	const char *ours = defuse_g.preload_path;
	unsigned m = d_strlen(ours);

	return n == m && !__builtin_memcmp(p, ours, n);
}

/* Runs sc with DEFUSE's environment put back; with the core's hand-down
   too when cold (mounts exist: called through defuse_call_cold; x: what
   the core said of the exec). */
EXEC_PATH static long exec_with_env(struct defuse_syscall *sc, int cold, const struct core_exec *x)
{
	int envi = sc->nr == SYS_execve ? 2 : 3;
	char **envp = (char **)sc->a[envi];
	unsigned long n = 0, strbytes, size, i, j = 0;
	const char *app_preload = NULL, *libpath = NULL;
	char **nenv, *newlib = NULL;
	/* The new image only lists the objects its loader loads (ldd): it
	   runs no code of the program, so DEFUSE is not loaded into it (it
	   would be listed, as natively it is not). */
	int listing = x && x->listing;
	char *strs;
	unsigned pos = 0;
	long r;
	/* A small environment is built here, on the stack: a fork child's
	   mmap for it was a system call and a page fault per exec (issue
	   11).  Only a small one: the stack may be posix_spawn's 36 KiB or a
	   signal stack. */
	char *onstack[128];

	/* The program's vector and strings are read here: probed first, so
	   a bad pointer is EFAULT, as the kernel's exec says, not a crash. */
	for (char *e; envp; n++) {
		if (defuse_probe_read(&e, &envp[n], sizeof(e)) < 0)
			return -EFAULT;
		if (!e)
			break;
		if (defuse_probe_strnlen(e, STASH_MAX) < 0)
			return -EFAULT;
	}
	n = 0;
	for (; envp && envp[n]; n++)
		if (d_startswith(envp[n], "LD_PRELOAD="))
			app_preload = envp[n] + 11;
		else if (d_startswith(envp[n], "LD_LIBRARY_PATH="))
			libpath = envp[n] + 16;
		else if (d_startswith(envp[n], "LD_TRACE_LOADED_OBJECTS="))
			listing = 1;
	strbytes = 32 + d_strlen(defuse_g.preload_path) + (app_preload ? d_strlen(app_preload) : 0);
	size = (n + keep_count + ADDED_ENTRIES) * sizeof(char *) + strbytes +
	       (cold ? STASH_MAX + CWD_MAX + PAGER_MAX + LIBPATH_MAX : 0);
	if (size <= sizeof(onstack))
		nenv = onstack;
	else
		nenv = (char **)sys6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)nenv))
		return -ENOMEM;
	strs = (char *)(nenv + n + keep_count + ADDED_ENTRIES);
	/* The loader of the new image searches before DEFUSE runs there:
	   directories in mounts as kernel paths, and an emulated program's
	   $ORIGIN list. */
	if (cold && (libpath || x->origin[0]))
		newlib = core_exec_library_path(libpath, x, strs + strbytes + STASH_MAX + CWD_MAX +
						PAGER_MAX, LIBPATH_MAX);

	for (i = 0; i < n; i++)
		if (!d_startswith(envp[i], "LD_PRELOAD=") && !d_startswith(envp[i], "DEFUSE_") &&
		    !(newlib && d_startswith(envp[i], "LD_LIBRARY_PATH=")))
			nenv[j++] = envp[i];
	if (newlib) {
		nenv[j++] = newlib;
		nenv[j++] = newlib + d_strlen(newlib) + 1;
	}
	for (const char *k = keep_buf; k < keep_buf + keep_len; k += d_strlen(k) + 1)
		nenv[j++] = (char *)k;
	if (defuse_sig_exec_state())
		nenv[j++] = (char *)defuse_sig_exec_state();
	if (cold && (nenv[j] = core_exec_cwd_env(strs + strbytes + STASH_MAX, CWD_MAX)))
		j++;
	if (cold && (nenv[j] = core_exec_fds_env(strs + strbytes, STASH_MAX)))
		j++;
	/* The tree's page caches: this image's written pages go back first. */
	if (cold && (nenv[j] = core_exec_pager_env(strs + strbytes + STASH_MAX + CWD_MAX,
						   PAGER_MAX)))
		j++;
	/* A descriptor the new image's loader opens, which DEFUSE closes
	   there (core/exec_resolve.c). */
	if (x && x->handdown[0])
		nenv[j++] = (char *)x->handdown;

	/* LD_PRELOAD=ours[:the program's others] (listing: the others) */
	nenv[j] = put(strs, &pos, "LD_PRELOAD=");
	if (!listing)
		put(strs, &pos, defuse_g.preload_path);
	for (const char *p = app_preload; p && *p;) {
		unsigned len = 0;

		while (p[len] && p[len] != ':' && p[len] != ' ')
			len++;
		if (len && !is_ours(p, len)) {
			if (strs[pos - 1] != '=')
				strs[pos++] = ':';
			__builtin_memcpy(strs + pos, p, len);
			pos += len;
		}
		p += len;
		while (*p == ':' || *p == ' ')
			p++;
	}
	if (strs[pos - 1] != '=')
		j++;	/* (an empty LD_PRELOAD is left out) */
	strs[pos++] = 0;
	nenv[j] = NULL;

	sc->a[envi] = (long)nenv;
	defuse_fd_exec_limit(1);
	r = defuse_forward(sc);
	/* Only a failed exec comes back. */
	defuse_fd_exec_limit(0);
	if (nenv != onstack)
		sys2(SYS_munmap, nenv, size);
	if (cold) {
		core_exec_fds_undo();
		core_exec_cwd_undo();
		core_exec_pager_undo();
	}
	return r;
}

/* With mounts: the core says what to run (a file in a mount is run from
   a descriptor; a program DEFUSE cannot be in, nothing) and what to hand
   down.  Every exec asks, even one routing would pass by: exec costs a
   millisecond, the core's look a few microseconds. */
static long exec_cold(void *arg)
{
	struct defuse_syscall *sc = arg;
	struct core_exec x = { .call = *sc, .fd = -1 };
	long r = core_exec_resolve(sc, &x);
	int own;

	if (r < 0)
		return r;
	/* The program's own call (not one the core made of it): its path
	   named no mount, but may have met a kernel symbolic link into one. */
	own = x.call.nr == sc->nr && x.call.a[0] == sc->a[0] && x.call.a[1] == sc->a[1];
	r = exec_with_env(&x.call, 1, &x);
	core_exec_undo(&x);
	if (own && (r == -ENOENT || r == -ENOTDIR) && core_exec_again(sc, &x, r) == 0) {
		r = exec_with_env(&x.call, 1, &x);
		core_exec_undo(&x);
	}
	return r;
}

EXEC_PATH long defuse_exec(struct defuse_syscall *sc)
{
	return core_nmounts ? defuse_call_cold(exec_cold, sc) : exec_with_env(sc, 0, NULL);
}
