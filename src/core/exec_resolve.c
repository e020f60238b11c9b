/*
 * exec: the core decides what the kernel is to run, capture runs it with
 * DEFUSE's environment put back (capture/exec.c).  A program inside a
 * mount becomes execveat of the open file (an emulated one: of a copy in a
 * memfd), a "#!" script in a mount runs its interpreter as the kernel
 * would, and a path that leads out of the mounts becomes the kernel path
 * it leads to.  While core_exec_resolve runs, exec_req collects that call
 * instead of making it: every handler gives the kernel its call through
 * core_kernel_call, which is where the collecting happens.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "common/elf.h"
#include "kernel/sys.h"
#include "core/core.h"
#include "core/resolve.h"
#include "core/syscalls.h"

static __thread struct core_exec *exec_req;

static int collecting_exec(const struct defuse_syscall *k)
{
	return exec_req && (k->nr == SYS_execve || k->nr == SYS_execveat);
}

long core_kernel_call(const struct defuse_syscall *k)
{
	if (!collecting_exec(k))
		return defuse_forward(k);
	exec_req->call = *k;
	return 0;
}

long core_kernel_at(const struct defuse_syscall *sc, const struct core_sysdesc *d,
		    const char *path)
{
	struct defuse_syscall k = *sc;

	if (d->dfd >= 0)
		k.a[d->dfd] = AT_FDCWD;
	if (collecting_exec(&k)) {
		/* path lives in the caller's frame: keep a copy */
		if (strlen(path) >= sizeof(exec_req->path))
			return -ENAMETOOLONG;
		path = strcpy(exec_req->path, path);
	}
	k.a[d->path] = (long)path;
	return core_kernel_call(&k);
}

/*
 * The content of an emulated file in a memfd, for execveat: the kernel can
 * only run what it can read.  The mode bits come along so the kernel's
 * execute permission check sees the file's.
 */
static long copy_to_memfd(int mount, uint64_t fh, const char *path)
{
	const struct defuse_mount_ref *ref = CORE_REF(mount);
	char *buf = malloc(65536);
	struct stat st;
	long mfd, n;
	off_t off = 0;

	if (!buf || mod_fgetattr(ref, fh, path, &st) < 0) {
		free(buf);
		return -EACCES;
	}
	mfd = sys2(SYS_memfd_create, "defuse-exec", 0);
	if (mfd < 0) {
		free(buf);
		return mfd;
	}
	while ((n = mod_read(ref, fh, buf, 65536, off)) > 0) {
		if (sys4(SYS_pwrite64, mfd, buf, n, off) != n) {
			n = -EIO;
			break;
		}
		off += n;
	}
	free(buf);
	if (n < 0 || sys_failed(sys2(SYS_fchmod, mfd, st.st_mode & 07777))) {
		sys1(SYS_close, mfd);
		return n < 0 ? n : -EACCES;
	}
	return mfd;
}

/*
 * A "#!" script in a mount is run as the kernel runs one (binfmt_script),
 * but here: the interpreter gets the path the program named, so "$0" is
 * "./configure", not the "/dev/fd/N" an execveat of the open file would
 * give, and the interpreter opens the script through DEFUSE by that path.
 * -ENOEXEC: not a script (exec the file itself).
 */
static long exec_script(const struct core_call *c, long kfd)
{
	char line[256], *p, *end, *interp, *arg = NULL;
	char *const *uargv = (char *const *)c->arg[0];
	struct core_exec *x = exec_req;
	long n = sys4(SYS_pread64, kfd, line, sizeof(line) - 1, 0), argc = 0, k = 0;
	struct defuse_syscall run = { .nr = SYS_execve };

	if (n < 2 || line[0] != '#' || line[1] != '!')
		return -ENOEXEC;
	/* The script itself must be executable, as the kernel checks. */
	if (sys5(SYS_faccessat2, kfd, "", X_OK, AT_EMPTY_PATH | AT_EACCESS, 0) < 0)
		return -EACCES;
	line[n] = 0;
	end = memchr(line, '\n', n);
	if (!end) {
		if (n == sizeof(line) - 1)
			return -ENOEXEC;	/* the interpreter may be cut short */
		end = line + n;
	}
	while (end > line + 2 && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = 0;
	for (p = line + 2; *p == ' ' || *p == '\t'; p++)
		;
	if (!*p)
		return -ENOEXEC;
	interp = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p) {
		*p++ = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		arg = *p ? p : NULL;
	}
	/* What the interpreter is handed as the script's name: the path as
	   the program gave it (relative to a dirfd: through /dev/fd). */
	if ((int)c->dfd != AT_FDCWD && c->path[0] != '/')
		snprintf(x->script, sizeof(x->script), "/dev/fd/%d/%s", (int)c->dfd, c->path);
	else if (strlen(c->path) < sizeof(x->script))
		strcpy(x->script, c->path);
	else
		return -ENAMETOOLONG;
	if (strlen(interp) >= sizeof(x->interp) || (arg && strlen(arg) >= sizeof(x->iarg)))
		return -ENOEXEC;
	strcpy(x->interp, interp);
	if (arg)
		strcpy(x->iarg, arg);
	/* interp [arg] script argv[1]...: the program's vector read with the
	   probe, so a bad pointer is EFAULT, as the kernel's exec says; the
	   strings are the kernel's to read. */
	for (char *p; uargv; argc++) {
		if (defuse_probe_read(&p, &uargv[argc], sizeof(p)) < 0)
			return -EFAULT;
		if (!p)
			break;
	}
	char **argv = (char **)sys6(SYS_mmap, 0, (argc + 4) * sizeof(char *),
				    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)argv))
		return (long)argv;
	argv[k++] = x->interp;
	if (arg)
		argv[k++] = x->iarg;
	argv[k++] = x->script;
	for (long i = 1; i < argc; i++)
		argv[k++] = uargv[i];	/* probed above */
	argv[k] = NULL;
	if (x->argv)
		sys2(SYS_munmap, x->argv, x->argv_size);
	x->argv = argv;
	x->argv_size = (argc + 4) * sizeof(char *);
	run.a[0] = (long)x->interp;
	run.a[1] = (long)argv;
	run.a[2] = c->arg[1];
	x->call = run;
	/* The interpreter may be in a mount, or a script itself (as deep as
	   the kernel goes: BINPRM's 5 levels). */
	if (++x->depth > 4)
		return -ELOOP;
	return core_dispatch(&run);
}

/*
 * The kernel's path of a file the module opened, if it has one the kernel
 * will find again: not an emulated file's memfd copy, not a file removed
 * meanwhile.  1 and out filled, or 0.
 */
static int kernel_path(long kfd, char *out, size_t cap)
{
	long n = core_fd_kpath(kfd, out, cap);

	if (n <= 0 || out[0] != '/')
		return 0;
	return !(n > 10 && !strcmp(out + n - 10, " (deleted)")) && strncmp(out, "/memfd:", 7);
}

long core_exec_open(const struct core_call *c, const struct core_loc *l)
{
	const struct defuse_mount_ref *ref = CORE_REF(l->mount);
	struct defuse_open o = { 0, -1 };
	struct defuse_syscall x = { .nr = SYS_execveat };
	long r = mod_open(ref, l->path, O_RDONLY, 0, &o);

	if (r < 0)
		return r;
	if (o.kernel_fd < 0) {
		/* An emulated file: the kernel gets a copy to run. */
		long mfd = copy_to_memfd(l->mount, o.fh, l->path);

		mod_release(ref, o.fh);
		if (mfd < 0)
			return mfd;
		o.kernel_fd = mfd;
	} else {
		mod_release(ref, o.fh);
	}
	if (!exec_req) {	/* only core_exec_resolve asks */
		sys1(SYS_close, o.kernel_fd);
		return -ENOSYS;
	}
	r = exec_script(c, o.kernel_fd);
	if (r != -ENOEXEC) {
		sys1(SYS_close, o.kernel_fd);
		return r;
	}
	if (kernel_path(o.kernel_fd, exec_req->path, sizeof(exec_req->path))) {
		/* A kernel file the module handed out: exec it by its path,
		   so that the loader's $ORIGIN is its directory (RPATH
		   $ORIGIN finds the libraries beside it) and AT_EXECFN a
		   path, as natively, not /dev/fd/N. */
		sys1(SYS_close, o.kernel_fd);
		x.nr = SYS_execve;
		x.a[0] = (long)exec_req->path;
		x.a[1] = c->arg[0];
		x.a[2] = c->arg[1];
		exec_req->call = x;
		return 0;
	}
	/* The kernel cannot see into the mount: exec the open file. */
	x.a[0] = o.kernel_fd;
	x.a[1] = (long)"";
	x.a[2] = c->arg[0];
	x.a[3] = c->arg[1];
	x.a[4] = AT_EMPTY_PATH;
	exec_req->call = x;
	exec_req->fd = o.kernel_fd;
	return 0;
}

/*
 * Will the image DEFUSE be in it?  Only a dynamically linked x86-64 program
 * loads libdefuse.so (LD_PRELOAD is the dynamic loader's); a statically
 * linked one, or a 32-bit one, would make its calls straight to the kernel
 * and find the mount points' empty directories: silently wrong answers
 * (issue 14: `busybox ls MNT` listed nothing and exited 0).  So while
 * mounts exist such a program is refused with one clear line, unless
 * DEFUSE_ALLOW_UNCAPTURED is set (mounts.c reads it).  1: capturable, or
 * not a program DEFUSE can tell (the kernel decides: a script, an error).
 */
int core_allow_uncaptured;

static int capturable(const struct defuse_syscall *k)
{
	char head[4096];
	long fd, n;

	if (k->nr == SYS_execveat && (int)k->a[0] >= 0 && (k->a[4] & AT_EMPTY_PATH) &&
	    !*(const char *)k->a[1])
		fd = k->a[0];
	else if (k->nr == SYS_execve)
		fd = sys3(SYS_open, k->a[0], O_RDONLY | O_CLOEXEC, 0);
	else
		return 1;	/* relative to a kernel dirfd: rare, let it be */
	if (fd < 0)
		return 1;
	n = sys4(SYS_pread64, fd, head, sizeof(head), 0);
	if (k->nr == SYS_execve)
		sys1(SYS_close, fd);
	return n <= 0 || elf_loads_preload(head, n) != 0;
}

static long refuse_uncaptured(const struct defuse_syscall *prog)
{
	char line[PATH_MAX + 200];
	const char *name = prog->nr == SYS_execve || prog->nr == SYS_execveat ?
			   (const char *)prog->a[prog->nr == SYS_execve ? 0 : 1] : "?";
	int n = snprintf(line, sizeof(line),
			 "defuse: %s: a statically linked or 32-bit program cannot be served "
			 "the mounts (DEFUSE_ALLOW_UNCAPTURED=1 runs it without them)\n", name);

	if (n > 0)
		sys3(SYS_write, 2, line, n < (int)sizeof(line) ? n : (int)sizeof(line) - 1);
	return -EPERM;
}

/*
 * A directory of LD_LIBRARY_PATH as the dynamic loader must see it: it
 * searches before DEFUSE runs in the new image, so an entry in a mount
 * becomes the kernel path of the directory the module hands out (a mount
 * with no kernel descriptors keeps the entry: the loader will not find
 * the library there, as before).  Appends to out at *pos; 1 if it changed.
 */
static int library_dir(const char *entry, size_t n, char *out, size_t cap, size_t *pos)
{
	char dir[PATH_MAX], kdir[PATH_MAX];
	const char *use = NULL;
	struct core_loc l;
	size_t len;

	if (n < sizeof(dir) && entry[0] != '$') {
		memcpy(dir, entry, n);
		dir[n] = 0;
		if (core_resolve(AT_FDCWD, n ? dir : ".", CORE_RES_FOLLOW | CORE_RES_STRICT, &l) == 0) {
			if (l.where == CORE_KERNEL)
				use = l.path;
			else if (core_in_mount(&l) &&
				 core_dir_kpath(l.mount, l.path, kdir, sizeof(kdir)) > 0 &&
				 kdir[0] == '/')
				use = kdir;
		}
	}
	len = use ? strlen(use) : n;
	if (*pos + len + 1 >= cap)
		return -1;
	memcpy(out + *pos, use ? use : entry, len);
	*pos += len;
	return use != NULL;
}

struct library_path {
	const char *value;
	char *buf;
	unsigned long cap;
};

/* core_exec_library_path, as one call with one cwd (cwd.c). */
static long library_path(void *arg)
{
	static const char var[] = "LD_LIBRARY_PATH=", saved[] = "DEFUSE_LD_LIBRARY_PATH=";
	const struct library_path *a = arg;
	const char *value = a->value;
	char *buf = a->buf;
	unsigned long cap = a->cap;
	size_t pos = sizeof(var) - 1, vlen = strlen(value);
	int changed = 0, r;

	/* An empty value is no list (glibc ignores it); an empty entry in a
	   list is the cwd. */
	if (!vlen || cap < sizeof(var) + sizeof(saved) + 2 * vlen)
		return 0;
	memcpy(buf, var, pos);
	for (const char *p = value;;) {
		size_t n = strcspn(p, ":;");

		if ((r = library_dir(p, n, buf, cap - sizeof(saved) - vlen - 1, &pos)) < 0)
			return 0;
		changed |= r;
		if (!p[n])
			break;
		buf[pos++] = p[n];
		p += n + 1;
	}
	if (!changed)
		return 0;
	buf[pos++] = 0;
	/* The program's own value, which the new image shows it again
	   (capture/init.c). */
	memcpy(buf + pos, saved, sizeof(saved) - 1);
	memcpy(buf + pos + sizeof(saved) - 1, value, vlen + 1);
	return 1;
}

char *core_exec_library_path(const char *value, char *buf, unsigned long cap)
{
	struct library_path a = { value, buf, cap };

	return core_cwd_call(library_path, &a) == 1 ? buf : NULL;
}

long core_exec_resolve(const struct defuse_syscall *sc, struct core_exec *x)
{
	long r;

	x->call = *sc;
	x->fd = -1;
	x->argv = NULL;
	x->depth = 0;
	exec_req = x;
	r = core_handle((void *)sc);
	exec_req = NULL;
	if (r == 0 && !core_allow_uncaptured && !capturable(&x->call))
		r = refuse_uncaptured(sc);
	if (r < 0)
		core_exec_undo(x);
	return r;
}

void core_exec_undo(struct core_exec *x)
{
	if (x->fd >= 0)
		sys1(SYS_close, x->fd);
	if (x->argv)
		sys2(SYS_munmap, x->argv, x->argv_size);
	x->fd = -1;
	x->argv = NULL;
}
