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
#include "common/sys.h"
#include "common/util.h"
#include "core/core.h"

#define KEEP_MAX 4096
/* Entries added to the program's environment: DEFUSE_SIGSYS, DEFUSE_CWD,
   DEFUSE_FDS, LD_PRELOAD, and the terminating NULL. */
#define ADDED_ENTRIES 5

/* The kernel's limit on one environment string (MAX_ARG_STRLEN). */
#define STASH_MAX (128 * 1024)

/* "DEFUSE_...=..." strings of our own environment, NUL-separated. */
static char keep_buf[KEEP_MAX];
static unsigned keep_len, keep_count;

void defuse_exec_init(char **envp)
{
	for (; envp && *envp; envp++) {
		unsigned n = d_strlen(*envp) + 1;

		/* DEFUSE_SIGSYS, DEFUSE_CWD and DEFUSE_FDS are per exec, not
		   per session. */
		if (!d_startswith(*envp, "DEFUSE_") || d_startswith(*envp, "DEFUSE_SIGSYS=") ||
		    d_startswith(*envp, "DEFUSE_CWD=") || d_startswith(*envp, "DEFUSE_FDS=") ||
		    keep_len + n > KEEP_MAX)
			continue;
		__builtin_memcpy(keep_buf + keep_len, *envp, n);
		keep_len += n;
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

/*
 * The next entry of the core's descriptor table after descriptor *fd (start
 * at -1), or NULL once all *left entries the table held were seen.  Reads
 * without references: an entry closed meanwhile by another thread is stale
 * but mapped (core/fdtable.c).
 */
static struct core_fd *next_entry(long *fd, int *left)
{
	while (*left > 0 && ++*fd < CORE_FD_MAX) {
		struct core_fd *f = __atomic_load_n(&core_fds[*fd], __ATOMIC_RELAXED);

		if (f) {
			--*left;
			return f;
		}
	}
	return NULL;
}

/* The lock descriptors stash_list lent to the exec are ours again. */
static void stash_undo(void)
{
	int left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED);
	struct core_fd *f;
	long fd = -1;

	if (!core_fds)
		return;
	while ((f = next_entry(&fd, &left)))
		if (f->open && f->open->lock_fd >= 0)
			sys3(SYS_fcntl, f->open->lock_fd, F_SETFD, FD_CLOEXEC);
}

/*
 * "DEFUSE_FDS=FD:INO[:LOCKFD],...": the emulated files' placeholders that
 * survive this exec (not close-on-exec), their memfds' inodes and the
 * descriptors their locks are on, so that the new image adopts exactly
 * those (core_emulated_adopt_inherited) instead of looking at every
 * descriptor it has, and keeps the locks, as exec keeps them.
 * "DEFUSE_FDS=scan" when the list does not fit in one environment string.
 * Returns the string, or NULL when no placeholder survives.  The new image
 * checks every number against its inode, so a stale entry does no harm.
 */
static char *stash_list(char *buf)
{
	int left, any = 0;
	struct core_fd *f;
	unsigned pos = 0;
	long fd = -1;

	if (!core_nmounts || !core_fds)
		return NULL;
	left = __atomic_load_n(&core_nfds, __ATOMIC_RELAXED);
	put(buf, &pos, "DEFUSE_FDS=");
	while ((f = next_entry(&fd, &left))) {
		struct core_open *open = f->open;
		char num[24];
		long fdflags;

		if (!open)
			continue;
		fdflags = sys3(SYS_fcntl, fd, F_GETFD, 0);
		if (fdflags < 0 || (fdflags & FD_CLOEXEC))
			continue;	/* gone at this exec, or already gone */
		if (!open->ofd->ino) {
			struct stat st;

			if (sys2(SYS_fstat, fd, &st) < 0)
				continue;
			open->ofd->ino = st.st_ino;	/* the same for every dup */
		}
		/* ",FD:INO:LOCKFD" and the final NUL must fit. */
		if (pos + 3 * sizeof(num) + 4 >= STASH_MAX) {
			stash_undo();	/* the new image will not take them */
			pos = 0;
			put(buf, &pos, "DEFUSE_FDS=scan");
			break;
		}
		if (any++)
			buf[pos++] = ',';
		put(buf, &pos, defuse_ltoa(fd, num));
		buf[pos++] = ':';
		put(buf, &pos, defuse_ltoa((long)open->ofd->ino, num));
		/* Its locks live on the module's descriptor, which must then
		   outlive the exec as they do (the new image takes it over);
		   only if it ever had one: each costs the new image a
		   descriptor of DEFUSE's band. */
		if (open->lock_fd >= 0 && __atomic_load_n(&open->ofd->locked, __ATOMIC_RELAXED) &&
		    sys3(SYS_fcntl, open->lock_fd, F_SETFD, 0) == 0) {
			buf[pos++] = ':';
			put(buf, &pos, defuse_ltoa(open->lock_fd, num));
		}
	}
	buf[pos] = 0;
	return any ? buf : NULL;
}

long defuse_exec(struct defuse_syscall *sc)
{
	int envi = sc->nr == SYS_execve ? 2 : 3;
	char **envp = (char **)sc->a[envi];
	unsigned long n = 0, strbytes, size, i, j = 0;
	const char *app_preload = NULL;
	char **nenv;
	char *strs;
	unsigned pos = 0;
	long r;

	for (; envp && envp[n]; n++)
		if (d_startswith(envp[n], "LD_PRELOAD="))
			app_preload = envp[n] + 11;
	strbytes = 32 + d_strlen(defuse_g.preload_path) + (app_preload ? d_strlen(app_preload) : 0);
	size = (n + keep_count + ADDED_ENTRIES) * sizeof(char *) + strbytes +
	       (core_nmounts ? STASH_MAX : 0);
	nenv = (char **)sys6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)nenv))
		return -ENOMEM;
	strs = (char *)(nenv + n + keep_count + ADDED_ENTRIES);

	for (i = 0; i < n; i++)
		if (!d_startswith(envp[i], "LD_PRELOAD=") && !d_startswith(envp[i], "DEFUSE_"))
			nenv[j++] = envp[i];
	for (const char *k = keep_buf; k < keep_buf + keep_len; k += d_strlen(k) + 1)
		nenv[j++] = (char *)k;
	if (defuse_sig_exec_state())
		nenv[j++] = (char *)defuse_sig_exec_state();
	if (core_cwd_env[0])
		nenv[j++] = core_cwd_env;
	if (core_nmounts && (nenv[j] = stash_list(strs + strbytes)))
		j++;

	/* LD_PRELOAD=ours[:the program's others] */
	nenv[j++] = put(strs, &pos, "LD_PRELOAD=");
	put(strs, &pos, defuse_g.preload_path);
	for (const char *p = app_preload; p && *p;) {
		unsigned len = 0;

		while (p[len] && p[len] != ':' && p[len] != ' ')
			len++;
		if (len && !is_ours(p, len)) {
			strs[pos++] = ':';
			__builtin_memcpy(strs + pos, p, len);
			pos += len;
		}
		p += len;
		while (*p == ':' || *p == ' ')
			p++;
	}
	strs[pos++] = 0;
	nenv[j] = NULL;

	sc->a[envi] = (long)nenv;
	r = defuse_forward(sc);
	/* Only a failed exec comes back. */
	sys2(SYS_munmap, nenv, size);
	if (core_nmounts)
		stash_undo();
	return r;
}
