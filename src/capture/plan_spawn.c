/*
 * Getting a plan from the planner program (src/planner), on a cache miss.
 *
 * The planner links capstone so that this library does not have to.  It is
 * started with raw system calls only, so this works wherever a miss happens:
 * in the start-up constructor, or in the middle of the loader mapping a
 * library for dlopen.  The child is made with exit signal 0 and reaped with
 * __WALL, so the program neither gets a SIGCHLD for it nor can reap it by
 * accident with wait(-1).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "capture/capture.h"
#include "capture/plan.h"
#include "kernel/sys.h"

static void planner_path(char *out, size_t cap)
{
	const char *lib = defuse_g.preload_path;
	const char *slash = strrchr(lib, '/');
	size_t dirlen = slash ? (size_t)(slash - lib) : 0;

	if (dirlen + sizeof("/defuse-planner") > cap) {
		out[0] = 0;
		return;
	}
	memcpy(out, lib, dirlen);
	strcpy(out + dirlen, "/defuse-planner");
}

/* In the child: open the object, point stdout at the pipe, exec. */
static __attribute__((noreturn)) void child(const char *planner, const char *file,
					    int fd, int out, uint64_t vaddr, size_t size)
{
	char fdpath[40] = "/proc/self/fd/", va[24], sz[24], n[24];
	char *argv[5], *envp[1] = { NULL };
	long obj = fd >= 0 ? sys1(SYS_dup, fd) : sys3(SYS_open, file, O_RDONLY, 0);

	if (sys_failed(obj) || sys_failed(sys2(SYS_dup2, out, 1)))
		sys1(SYS_exit_group, 127);
	strcat(fdpath, defuse_ltoa(obj, n));
	argv[0] = (char *)planner;
	argv[1] = fdpath;
	argv[2] = defuse_xtoa(vaddr, va);
	argv[3] = defuse_ltoa(size, sz);
	argv[4] = NULL;
	sys3(SYS_execve, planner, argv, envp);
	sys1(SYS_exit_group, 127);
	__builtin_unreachable();
}

int plan_from_planner(const char *file, int fd, uint64_t vaddr, const uint8_t *code,
		      size_t size, struct plan *out)
{
	char planner[600];
	int p[2], status = 0;
	size_t len = 0, cap = 1 << 16;
	char *buf;
	long pid, r;

	planner_path(planner, sizeof(planner));
	if (!planner[0] || sys_failed(sys2(SYS_pipe2, p, O_CLOEXEC)))
		return -1;
	pid = sys5(SYS_clone, 0, 0, 0, 0, 0);
	if (pid == 0)
		child(planner, file, fd, p[1], vaddr, size);
	sys1(SYS_close, p[1]);
	buf = malloc(cap);
	while (buf && !sys_failed(pid)) {
		if (len == cap) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
		r = sys3(SYS_read, p[0], buf + len, cap - len);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		len += r;
	}
	sys1(SYS_close, p[0]);
	if (!sys_failed(pid))
		while (sys4(SYS_wait4, pid, &status, __WALL, NULL) == -EINTR)
			;
	r = buf && !sys_failed(pid) && WIFEXITED(status) && WEXITSTATUS(status) == 0 ?
		plan_parse(buf, len, code, size, out) : -1;
	free(buf);
	return r ? -1 : 0;
}
