/*
 * The programs a file system runs.  A FUSE daemon is not under DEFUSE:
 * the helpers it starts (sshfs runs ssh) are ordinary processes of the
 * system.  In process the file system starts them from inside the
 * program, while the process's environment still names DEFUSE (LD_PRELOAD,
 * DEFUSE_MOUNTS...: a mount starts before DEFUSE hides them from the
 * program, capture/init.c).  A helper exec'd with that environment would
 * load DEFUSE and start the program's mounts again, among them the file
 * system that started it, which starts its helper again: sshfs in process
 * made one ssh after another until the machine ran out of processes.
 *
 * So the exec calls of the file system's objects (redirected in their
 * global offset tables, as fdwrap.c does for descriptors) pass an
 * environment without DEFUSE: its own LD_PRELOAD entry out (the others
 * stay), the program's own LD_LIBRARY_PATH back (DEFUSE may have made it
 * kernel paths for the loader: core/exec_resolve.c), every DEFUSE_*
 * variable out; what is left is the program's environment as the program
 * sees it.  A helper exec'd from a call DEFUSE makes into the file system
 * (its start-up, an operation) runs uncaptured: DEFUSE passes its own
 * calls through unchanged.  One exec'd by a thread the file system
 * started itself is the program's to DEFUSE, which puts its environment
 * back (docs/fuse-compat.md).  system() and popen() are not redirected.
 *
 * The new environment lives in an anonymous mapping, not the heap: it may
 * be built in a vfork child, where malloc is not safe.  Relative program
 * paths are the file system's (fscwd.c).
 */
#define _GNU_SOURCE 1
#include <defuse/module.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fdwrap.h"
#include "fscwd.h"

extern char **environ;

struct env {
	char **vec;
	size_t size;	/* of the mapping, 0 if none (vec is then the caller's) */
};

/* Whether the LD_PRELOAD entry p (len bytes) names DEFUSE's library, the
   object that defines defuse_keep_fd. */
static int is_defuse(const char *p, size_t len, const struct stat *lib)
{
	char path[PATH_MAX];
	struct stat st;

	if (!lib || len >= sizeof(path))
		return 0;
	memcpy(path, p, len);
	path[len] = 0;
	return stat(path, &st) == 0 && st.st_dev == lib->st_dev && st.st_ino == lib->st_ino;
}

/* envp as the program sees it, without DEFUSE (above); on failure envp
   itself (the exec then goes as the file system asked). */
static struct env clean_env(char *const envp[])
{
	struct env e = { (char **)envp, 0 };
	const char *saved = NULL;
	size_t n = 0, bytes = 64, j = 0;
	int none = 0, have_lib = 0;
	struct stat libst, *lib = NULL;
	Dl_info info;
	char *s, *m;

	if (!envp)
		return e;
	if (defuse_keep_fd && dladdr((void *)defuse_keep_fd, &info) && info.dli_fname &&
	    stat(info.dli_fname, &libst) == 0)
		lib = &libst;
	for (; envp[n]; n++) {
		if (!strncmp(envp[n], "DEFUSE_LD_LIBRARY_PATH=", 23))
			saved = envp[n] + 23;
		else if (!strncmp(envp[n], "DEFUSE_NO_LD_LIBRARY_PATH=", 26))
			none = 1;
		if (!strncmp(envp[n], "LD_PRELOAD=", 11))
			bytes += strlen(envp[n]) + 1;
	}
	if (saved)
		bytes += strlen(saved) + 17;
	e.size = (n + 2) * sizeof(char *) + bytes;
	m = mmap(NULL, e.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		e.size = 0;
		return e;
	}
	e.vec = (char **)m;
	s = m + (n + 2) * sizeof(char *);
	for (size_t i = 0; i < n; i++) {
		const char *v = envp[i];

		if (!strncmp(v, "DEFUSE_", 7))
			continue;
		if (!strncmp(v, "LD_LIBRARY_PATH=", 16)) {
			have_lib = 1;
			if (none)
				continue;	/* one DEFUSE made */
			if (saved) {
				e.vec[j++] = s;
				s = stpcpy(stpcpy(s, "LD_LIBRARY_PATH="), saved) + 1;
				continue;
			}
		}
		if (!strncmp(v, "LD_PRELOAD=", 11)) {
			char *start = s, *w = stpcpy(s, "LD_PRELOAD=");

			for (const char *p = v + 11; *p;) {
				size_t len = strcspn(p, ": ");

				if (len && !is_defuse(p, len, lib)) {
					if (w[-1] != '=')
						*w++ = ':';
					memcpy(w, p, len);
					w += len;
				}
				p += len;
				p += strspn(p, ": ");
			}
			*w = 0;
			s = w + 1;
			if (w[-1] != '=')
				e.vec[j++] = start;	/* (an empty one is left out) */
			continue;
		}
		e.vec[j++] = (char *)v;
	}
	if (saved && !have_lib) {
		e.vec[j++] = s;
		s = stpcpy(stpcpy(s, "LD_LIBRARY_PATH="), saved) + 1;
	}
	e.vec[j] = NULL;
	return e;
}

static void env_done(struct env *e)
{
	int err = errno;

	if (e->size)
		munmap(e->vec, e->size);
	errno = err;
}

/* A program's path: relative ones from the file system's directory. */
#define PROG(p) fscwd_path(p, (char[PATH_MAX]){ 0 })
/* execvp's file: a name without '/' is looked up in PATH, as it is. */
#define FILE_(f) (f && strchr(f, '/') ? PROG(f) : f)

static int w_execve(const char *path, char *const argv[], char *const envp[])
{
	struct env e = clean_env(envp);

	execve(PROG(path), argv, e.vec);
	env_done(&e);
	return -1;
}

static int w_execv(const char *path, char *const argv[])
{
	return w_execve(path, argv, environ);
}

static int w_execvpe(const char *file, char *const argv[], char *const envp[])
{
	struct env e = clean_env(envp);

	execvpe(FILE_(file), argv, e.vec);
	env_done(&e);
	return -1;
}

static int w_execvp(const char *file, char *const argv[])
{
	return w_execvpe(file, argv, environ);
}

static int w_fexecve(int fd, char *const argv[], char *const envp[])
{
	struct env e = clean_env(envp);

	fexecve(fd, argv, e.vec);
	env_done(&e);
	return -1;
}

/* execl's arguments as a vector (on the stack: it may run in a vfork
   child), then cont(vector, envp). */
#define LIST_EXEC(first, last_is_env, call)                                      \
	do {                                                                        \
		va_list ap;                                                         \
		size_t n = 1;                                                       \
		char *const *envp = environ;                                        \
                                                                                    \
		va_start(ap, first);                                                \
		while (va_arg(ap, char *))                                          \
			n++;                                                        \
		va_end(ap);                                                         \
		{                                                                   \
			char *argv[n + 1];                                          \
                                                                                    \
			va_start(ap, first);                                        \
			argv[0] = (char *)first;                                    \
			for (size_t i = 1; i <= n; i++)                             \
				argv[i] = va_arg(ap, char *);                       \
			if (last_is_env)                                            \
				envp = va_arg(ap, char *const *);                   \
			va_end(ap);                                                 \
			return call;                                                \
		}                                                                   \
	} while (0)

static int w_execl(const char *path, const char *arg, ...)
{
	LIST_EXEC(arg, 0, w_execve(path, argv, envp));
}

static int w_execlp(const char *file, const char *arg, ...)
{
	LIST_EXEC(arg, 0, w_execvpe(file, argv, envp));
}

static int w_execle(const char *path, const char *arg, ...)
{
	LIST_EXEC(arg, 1, w_execve(path, argv, envp));
}

static int w_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct env e = clean_env(envp);
	int r = posix_spawn(pid, PROG(path), fa, attr, argv, e.vec);

	env_done(&e);
	return r;
}

static int w_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct env e = clean_env(envp);
	int r = posix_spawnp(pid, FILE_(file), fa, attr, argv, e.vec);

	env_done(&e);
	return r;
}

static const struct fdwrap_entry wraps[] = {
	{ "execve", (void *)w_execve }, { "execv", (void *)w_execv },
	{ "execvp", (void *)w_execvp }, { "execvpe", (void *)w_execvpe },
	{ "execl", (void *)w_execl }, { "execlp", (void *)w_execlp },
	{ "execle", (void *)w_execle }, { "fexecve", (void *)w_fexecve },
	{ "posix_spawn", (void *)w_posix_spawn }, { "posix_spawnp", (void *)w_posix_spawnp },
};

void *spawn_wrapper_for(const char *name)
{
	return fdwrap_find(wraps, sizeof(wraps) / sizeof(wraps[0]), name);
}
