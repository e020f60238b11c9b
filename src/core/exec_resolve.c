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
#include <elf.h>
#include <gnu/libc-version.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "common/elf.h"
#include "kernel/sys.h"
#include "core/core.h"
#include "core/resolve.h"
#include "core/syscalls.h"

static __thread struct core_exec *exec_req CORE_TLS;

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

/* (core.h) */
long core_copy_whole(const struct defuse_mount_ref *ref, const struct defuse_open *o, int dst)
{
	enum { CHUNK = 1 << 16 };
	char *buf = malloc(CHUNK);
	long n;
	off_t off = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = o->kernel_fd >= 0 ? sys4(SYS_pread64, o->kernel_fd, buf, CHUNK, off) :
					mod_read(ref, o->fh, buf, CHUNK, off);
		if (n <= 0)
			break;
		if (sys4(SYS_pwrite64, dst, buf, n, off) != n) {
			n = -EIO;
			break;
		}
		off += n;
	}
	free(buf);
	return n < 0 ? n : off;
}

/*
 * The content of an emulated file in a memfd, for execveat: the kernel can
 * only run what it can read.  The mode bits come along so the kernel's
 * execute permission check sees the file's.
 */
static long copy_to_memfd(int mount, uint64_t fh, const char *path)
{
	const struct defuse_mount_ref *ref = CORE_REF(mount);
	struct defuse_open o = { fh, -1 };
	struct stat st;
	long mfd, n;

	/* only a regular file can be run (do_open_execat) */
	if (mod_fgetattr(ref, fh, path, &st) < 0 || !S_ISREG(st.st_mode))
		return -EACCES;
	mfd = sys2(SYS_memfd_create, "defuse-exec", 0);
	if (mfd < 0)
		return mfd;
	n = core_copy_whole(ref, &o, (int)mfd);
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

/*
 * RPATH/RUNPATH $ORIGIN of an emulated program.  The kernel runs such a
 * program from a copy in a memfd, so the loader's $ORIGIN (the directory
 * of /proc/self/exe, or of the /proc/self/fd path ld.so was given) is no
 * directory of the mount, and a library beside the program is not found:
 * the loader falls back to the system's search, silently loading a system
 * library of that name.  The loader cannot be told another origin; what it
 * does read before DEFUSE runs is LD_LIBRARY_PATH.  So the program's list
 * with $ORIGIN made the kernel path of its directory (which a module with
 * kernel directories hands out, else its stand-in: libdir.c) goes into the
 * new image's LD_LIBRARY_PATH:
 * before the program's own value for a DT_RPATH (searched before
 * LD_LIBRARY_PATH), after it for a DT_RUNPATH (searched after), so the
 * order of the search is the native one; the program is shown its own
 * value again (capture/init.c).  What differs (docs/core.md): a
 * LD_LIBRARY_PATH applies to every object, a RUNPATH only to the
 * program's own needed libraries.
 */

/* The DT_RUNPATH (else DT_RPATH) string of the ELF program in kfd, in
   out: 2 RUNPATH, 1 RPATH, 0 none or not readable. */
static int elf_search_path(long kfd, char *out, size_t cap)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	Elf64_Dyn dyn[256];
	const Elf64_Phdr *dynp = NULL;
	unsigned long strtab = 0, rpath = 0, runpath = 0, off = 0;
	int have = 0, kind;
	long n;

	if (sys4(SYS_pread64, kfd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum || eh.e_phnum > 64 ||
	    sys4(SYS_pread64, kfd, ph, eh.e_phnum * sizeof(ph[0]), eh.e_phoff) !=
		    (long)(eh.e_phnum * sizeof(ph[0])))
		return 0;
	for (unsigned i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dynp = &ph[i];
	if (!dynp)
		return 0;
	n = sys4(SYS_pread64, kfd, dyn,
		 dynp->p_filesz < sizeof(dyn) ? dynp->p_filesz : sizeof(dyn), dynp->p_offset);
	for (long i = 0; i < n / (long)sizeof(dyn[0]) && dyn[i].d_tag != DT_NULL; i++)
		if (dyn[i].d_tag == DT_STRTAB)
			strtab = dyn[i].d_un.d_ptr;
		else if (dyn[i].d_tag == DT_RPATH)
			rpath = dyn[i].d_un.d_val + 1;	/* +1: 0 is none */
		else if (dyn[i].d_tag == DT_RUNPATH)
			runpath = dyn[i].d_un.d_val + 1;
	if (!strtab || !(rpath || runpath))
		return 0;
	/* The string table's address, as a place in the file. */
	for (unsigned i = 0; i < eh.e_phnum && !have; i++)
		if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr &&
		    strtab < ph[i].p_vaddr + ph[i].p_filesz) {
			off = ph[i].p_offset + (strtab - ph[i].p_vaddr);
			have = 1;
		}
	kind = runpath ? 2 : 1;	/* the loader ignores RPATH beside RUNPATH */
	if (!have || cap < 2)
		return 0;
	n = sys4(SYS_pread64, kfd, out, cap - 1, off + (runpath ? runpath : rpath) - 1);
	if (n <= 0)
		return 0;
	out[n] = 0;
	return strlen(out) < (size_t)n ? kind : 0;	/* cut short: leave it */
}

/* The kernel directory the loader can search for directory dir of mount
   m: the one the module hands out, else a stand-in (libdir.c). */
static int lib_kdir(int m, const char *dir, char *out, size_t cap)
{
	if (core_dir_kpath(m, dir, out, cap) > 0 && out[0] == '/')
		return 1;
	return core_lib_standin(m, dir, out, cap) > 0;
}

static int library_list(const char *value, char *out, size_t cap, size_t *pos);

/*
 * x->origin for the program at path in mount m, read from kfd: its search
 * list (RUNPATH, else RPATH) as the loader must be given it in
 * LD_LIBRARY_PATH, when an entry is in a mount: an absolute one (CMake
 * links the programs of a build tree with the build directory's absolute
 * path), and for an emulated program $ORIGIN too, made the directory's
 * path as the program sees it.  Each such entry becomes the kernel
 * directory the module hands out, or its stand-in (library_list): so
 * "$ORIGIN/.." is the stand-in of the directory it leads to, not the
 * stand-in's parent.  A program the kernel runs from its own path keeps
 * $ORIGIN as it is (the loader reads it right); nothing is given when no
 * entry is in a mount.
 */
static void origin_hint(struct core_exec *x, int m, const char *path, long kfd, int emulated)
{
	char list[2048], dir[PATH_MAX], subst[2048];
	int kind = elf_search_path(kfd, list, sizeof(list));
	const char *slash = strrchr(path, '/');
	size_t pos = 0, dn = slash ? (size_t)(slash - path) : 0;

	x->origin[0] = 0;
	if (!kind || (size_t)snprintf(dir, sizeof(dir), "%s%.*s", core_mounts[m].point,
				      (int)dn, path) >= sizeof(dir))
		return;
	for (const char *p = list; *p;) {
		const char *put = p;
		size_t n = 1, skip = 1;

		/* $ORIGIN as a whole name, as the loader reads it */
		if (!emulated) {
			/* as it is */
		} else if (!strncmp(p, "$ORIGIN", 7) &&
			   !(p[7] == '_' || (p[7] >= 'a' && p[7] <= 'z') ||
			     (p[7] >= 'A' && p[7] <= 'Z') || (p[7] >= '0' && p[7] <= '9'))) {
			put = dir, n = strlen(dir), skip = 7;
		} else if (!strncmp(p, "${ORIGIN}", 9)) {
			put = dir, n = strlen(dir), skip = 9;
		}
		if (pos + n + 1 >= sizeof(subst))
			return;
		memcpy(subst + pos, put, n);
		pos += n;
		p += skip;
	}
	subst[pos] = 0;
	pos = 0;
	if (library_list(subst, x->origin, sizeof(x->origin) - 1, &pos) <= 0) {
		x->origin[0] = 0;
		return;
	}
	x->origin[pos] = 0;
	x->origin_runpath = kind == 2;
}

long core_exec_open(const struct core_call *c, const struct core_loc *l)
{
	const struct defuse_mount_ref *ref = CORE_REF(l->mount);
	struct defuse_open o = { 0, -1 };
	struct defuse_syscall x = { .nr = SYS_execveat };
	/* to be run: execute permission, not read (module.h) */
	long r = mod_open(ref, l->path, O_RDONLY | DEFUSE_O_EXEC, 0, &o);
	int emulated;

	if (r < 0)
		return r;
	emulated = o.kernel_fd < 0;
	if (emulated) {
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
	origin_hint(exec_req, l->mount, l->path, o.kernel_fd, emulated);
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
	/* The kernel cannot see into the mount: exec the open file.  Closed
	   in the new image (the kernel has mapped it by then): the program
	   would find a descriptor it never opened, at the lowest number. */
	sys3(SYS_fcntl, o.kernel_fd, F_SETFD, FD_CLOEXEC);
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
 * becomes the kernel path of the directory the module hands out, or of
 * its stand-in for a module with no kernel directories (libdir.c); the
 * entry stays as it was if there is neither.  Appends to out at *pos; 1
 * if it changed.
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
			else if (core_in_mount(&l) && lib_kdir(l.mount, l.path, kdir, sizeof(kdir)))
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

/* A list of directories as LD_LIBRARY_PATH's, each made what library_dir
   makes it, appended to out at *pos (not terminated): 1 if one changed, 0
   if none did, -1 if it does not fit in cap. */
static int library_list(const char *value, char *out, size_t cap, size_t *pos)
{
	int changed = 0, r;

	for (const char *p = value;;) {
		size_t n = strcspn(p, ":;");

		if ((r = library_dir(p, n, out, cap, pos)) < 0)
			return -1;
		changed |= r;
		if (!p[n])
			break;
		if (*pos + 1 >= cap)
			return -1;
		out[(*pos)++] = p[n];
		p += n + 1;
	}
	return changed;
}

struct library_path {
	const char *value;	/* the program's, or NULL */
	const struct core_exec *x;
	char *buf;
	unsigned long cap;
};

/* core_exec_library_path, as one call with one cwd (cwd.c). */
static long library_path(void *arg)
{
	static const char var[] = "LD_LIBRARY_PATH=", saved[] = "DEFUSE_LD_LIBRARY_PATH=",
			  none[] = "DEFUSE_NO_LD_LIBRARY_PATH=1";
	const struct library_path *a = arg;
	const char *value = a->value, *origin = a->x ? a->x->origin : "";
	int runpath = a->x && a->x->origin_runpath;
	char *buf = a->buf;
	unsigned long cap = a->cap;
	size_t pos = sizeof(var) - 1, vlen = value ? strlen(value) : 0, olen = strlen(origin);
	size_t room;
	int r = 0;

	/* An empty value is no list (glibc ignores it); an empty entry in a
	   list is the cwd. */
	if (cap < sizeof(var) + sizeof(saved) + sizeof(none) + 2 * vlen + olen + 2)
		return 0;
	room = cap - sizeof(saved) - sizeof(none) - vlen - olen - 2;
	memcpy(buf, var, pos);
	if (olen && !runpath) {
		memcpy(buf + pos, origin, olen);
		pos += olen;
		if (vlen)
			buf[pos++] = ':';
	}
	if (vlen && (r = library_list(value, buf, room, &pos)) < 0)
		return 0;
	if (olen && runpath) {
		if (vlen)
			buf[pos++] = ':';
		memcpy(buf + pos, origin, olen);
		pos += olen;
	}
	if (!r && !olen)
		return 0;
	buf[pos++] = 0;
	/* The program's own value, which the new image shows it again
	   (capture/init.c), or that it had none. */
	if (!value) {
		memcpy(buf + pos, none, sizeof(none));
		return 1;
	}
	memcpy(buf + pos, saved, sizeof(saved) - 1);
	memcpy(buf + pos + sizeof(saved) - 1, value, vlen + 1);
	return 1;
}

char *core_exec_library_path(const char *value, const struct core_exec *x, char *buf,
			     unsigned long cap)
{
	struct library_path a = { value, x, buf, cap };

	if ((!value || !*value) && !(x && x->origin[0]))
		return NULL;
	return core_cwd_call(library_path, &a) == 1 ? buf : NULL;
}

/*
 * The dynamic loader run as a program: "ld.so ./prog", and ldd, which runs
 * "ld.so --verify FILE" and then the loader on FILE with
 * LD_TRACE_LOADED_OBJECTS=1.  The loader opens its program argument (and
 * searches its --library-path) itself, before DEFUSE runs in the new
 * image, with the kernel's view, in which a mount point is an empty
 * directory.  So an argument in a mount is given to it as the kernel sees
 * that file: the kernel path of the file the module hands out, else
 * /proc/self/fd/N of a copy (an emulated file, as an emulated exec runs
 * one; N stays open through the exec and DEFUSE closes it in the new
 * image), with --argv0 keeping the name the program is shown.
 */

/* This program's PT_INTERP: the system's loader, as its linker named it. */
static const char *own_interp(void)
{
	const Elf64_Phdr *ph = (const void *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM), bias = 0;
	int have = 0;

	for (unsigned long i = 0; ph && i < n; i++)
		if (ph[i].p_type == PT_PHDR) {
			bias = (unsigned long)ph - ph[i].p_vaddr;
			have = 1;
		}
	for (unsigned long i = 0; have && i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			return (const char *)(bias + ph[i].p_vaddr);
	return NULL;
}

/* Does the call run the dynamic loader (the same file as this program's
   PT_INTERP or the x86-64 loader's standard path, by device and inode, so
   any link or copy-free name of it counts)? */
static int runs_loader(const struct defuse_syscall *k)
{
	const char *names[2] = { own_interp(), "/lib64/ld-linux-x86-64.so.2" };
	struct stat st, ld;
	long r;

	if (k->nr == SYS_execve)
		r = sys4(SYS_newfstatat, AT_FDCWD, k->a[0], &st, 0);
	else
		r = sys4(SYS_newfstatat, k->a[0], k->a[1], &st,
			 k->a[4] & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
	if (sys_failed(r) || !S_ISREG(st.st_mode))
		return 0;
	for (int i = 0; i < 2; i++)
		if (names[i] && !sys_failed(sys4(SYS_newfstatat, AT_FDCWD, names[i], &ld, 0)) &&
		    ld.st_dev == st.st_dev && ld.st_ino == st.st_ino)
			return 1;
	return 0;
}

/* The loader's options (glibc 2.36, `ld.so --help`) as its rtld.c reads
   them: each exactly, all before the program; one that takes a value is
   an option only with an argument after it.  0: none (the program), 1: an
   option alone, 2: one that takes the next argument. */
static int loader_option(const char *a)
{
	static const char *const alone[] = {
		"--list", "--verify", "--inhibit-cache", "--list-tunables",
		"--list-diagnostics", "--help", "--version",
	};
	static const char *const valued[] = {
		"--library-path", "--inhibit-rpath", "--audit", "--preload", "--argv0",
		"--glibc-hwcaps-prepend", "--glibc-hwcaps-mask",
	};

	for (size_t i = 0; i < sizeof(alone) / sizeof(alone[0]); i++)
		if (!strcmp(a, alone[i]))
			return 1;
	for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
		if (!strcmp(a, valued[i]))
			return 2;
	return 0;
}

/* --argv0 came with glibc 2.33; an older loader would take it for the
   program. */
static int loader_has_argv0(void)
{
	const char *v = gnu_get_libc_version();
	char *end;
	long major = strtol(v, &end, 10), minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;

	return major > 2 || (major == 2 && minor >= 33);
}

/* The loader's program argument as the loader must see it, into out: 1,
   or 0 to leave it (not in a mount, or the loader's own error). */
static int loader_program(struct core_exec *x, const char *arg, char *out, size_t cap)
{
	const struct defuse_mount_ref *ref;
	struct defuse_open o = { 0, -1 };
	struct core_loc l;
	int emulated;

	if (core_resolve(AT_FDCWD, arg, CORE_RES_FOLLOW | CORE_RES_STRICT, &l) < 0)
		return 0;
	if (l.where == CORE_KERNEL) {	/* through a mount and out of it */
		if (strlen(l.path) >= cap)
			return 0;
		strcpy(out, l.path);
		return 1;
	}
	if (!core_in_mount(&l) || x->argfd >= 0)
		return 0;
	ref = CORE_REF(l.mount);
	if (mod_open(ref, l.path, O_RDONLY, 0, &o) < 0)
		return 0;
	emulated = o.kernel_fd < 0;
	if (emulated) {
		long mfd = copy_to_memfd(l.mount, o.fh, l.path);

		mod_release(ref, o.fh);
		if (mfd < 0)
			return 0;
		o.kernel_fd = mfd;
	} else {
		mod_release(ref, o.fh);
	}
	origin_hint(x, l.mount, l.path, o.kernel_fd, emulated);
	if (kernel_path(o.kernel_fd, out, cap)) {
		sys1(SYS_close, o.kernel_fd);
		return 1;
	}
	/* Open through the exec, for the loader to open again. */
	sys3(SYS_fcntl, o.kernel_fd, F_SETFD, 0);
	x->argfd = (int)o.kernel_fd;
	snprintf(out, cap, "/proc/self/fd/%d", x->argfd);
	snprintf(x->handdown, sizeof(x->handdown), "DEFUSE_EXEC_FD=%d", x->argfd);
	return 1;
}

#define LOADER_LIST_MAX (64 * 1024)

/* The loader's arguments made what it must see, as one call with one cwd
   (cwd.c).  0 or -errno (EFAULT: a bad vector, as the kernel's exec). */
static long loader_args(void *arg)
{
	struct core_exec *x = arg;
	struct defuse_syscall *k = &x->call;
	int vi = k->nr == SYS_execve ? 1 : 2;
	char *const *uargv = (char *const *)k->a[vi];
	long argc = 0, prog = -1, libpath = -1, k2 = 0;
	int argv0 = 0, newprog, newlib = 0;
	unsigned long size;
	char **argv, *progbuf, *libbuf;

	for (char *p; uargv; argc++) {
		if (defuse_probe_read(&p, &uargv[argc], sizeof(p)) < 0)
			return -EFAULT;
		if (!p)
			break;
		if (defuse_probe_strnlen(p, 128 * 1024) < 0)
			return -EFAULT;
	}
	for (long i = 1; i < argc; i++) {
		int kind = loader_option(uargv[i]);

		if (!kind || (kind == 2 && i + 1 >= argc)) {
			prog = i;
			break;
		}
		x->listing |= !strcmp(uargv[i], "--list");
		argv0 |= !strcmp(uargv[i], "--argv0");
		if (!strcmp(uargv[i], "--library-path"))
			libpath = i + 1;
		i += kind == 2;
	}
	if (prog < 0)
		return 0;	/* no program: the loader says what it says */
	size = (argc + 4) * sizeof(char *) + PATH_MAX + LOADER_LIST_MAX;
	argv = (char **)sys6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)argv))
		return (long)argv;
	progbuf = (char *)(argv + argc + 4);
	libbuf = progbuf + PATH_MAX;
	newprog = loader_program(x, uargv[prog], progbuf, PATH_MAX);
	if (libpath > 0) {
		size_t pos = 0;

		newlib = library_list(uargv[libpath], libbuf, LOADER_LIST_MAX, &pos) > 0;
		if (newlib)
			libbuf[pos] = 0;
	}
	if (!newprog && !newlib) {
		sys2(SYS_munmap, argv, size);
		return 0;
	}
	for (long i = 0; i < prog; i++)
		argv[k2++] = i == libpath && newlib ? libbuf : uargv[i];
	if (newprog && !argv0 && loader_has_argv0()) {
		argv[k2++] = (char *)"--argv0";
		argv[k2++] = uargv[prog];
	}
	argv[k2++] = newprog ? progbuf : uargv[prog];
	for (long i = prog + 1; i < argc; i++)
		argv[k2++] = uargv[i];
	argv[k2] = NULL;
	/* A script's vector (exec_script) holds pointers into x only. */
	if (x->argv)
		sys2(SYS_munmap, x->argv, x->argv_size);
	x->argv = argv;
	x->argv_size = size;
	k->a[vi] = (long)argv;
	return 0;
}

/* core_exec_resolve's work, the walk and call made by fn(arg). */
static long exec_resolve_by(const struct defuse_syscall *sc, struct core_exec *x,
			    long (*fn)(void *), void *arg)
{
	long r;

	x->call = *sc;
	x->fd = -1;
	x->argv = NULL;
	x->depth = 0;
	x->argfd = -1;
	x->listing = 0;
	x->handdown[0] = 0;
	x->origin[0] = 0;
	x->origin_runpath = 0;
	exec_req = x;
	r = fn(arg);
	exec_req = NULL;
	/* The loader is itself statically linked, but loads LD_PRELOAD (so
	   DEFUSE) into the program it runs. */
	if (r == 0 && runs_loader(&x->call))
		r = core_cwd_call(loader_args, x);
	else if (r == 0 && !core_allow_uncaptured && !capturable(&x->call))
		r = refuse_uncaptured(sc);
	if (r < 0)
		core_exec_undo(x);
	return r;
}

long core_exec_resolve(const struct defuse_syscall *sc, struct core_exec *x)
{
	return exec_resolve_by(sc, x, core_handle, (void *)sc);
}

/*
 * The kernel failed the program's own exec (its path named no mount) with
 * ENOENT or ENOTDIR: a kernel symbolic link on the way may have led it into
 * a mount (`~/bin -> /mnt/x/bin` in PATH), which the look-after finds as
 * for any other path call (syscalls.c, core_look_again: the exec is
 * collected, not made).  A failed exec costs a millisecond's fraction
 * already; this adds one openat2.
 */
long core_exec_again(const struct defuse_syscall *sc, struct core_exec *x, long failed)
{
	const struct core_sysdesc *d = core_sysdesc_of(sc->nr);
	struct core_answered a = { *sc, failed };

	if ((failed != -ENOENT && failed != -ENOTDIR) || d->path < 0 ||
	    !core_maybe_via_link(d->dfd >= 0 ? sc->a[d->dfd] : AT_FDCWD,
				 (const char *)sc->a[d->path]))
		return failed;
	return exec_resolve_by(sc, x, core_look_again, &a);
}

void core_exec_undo(struct core_exec *x)
{
	if (x->fd >= 0)
		sys1(SYS_close, x->fd);
	if (x->argfd >= 0)
		sys1(SYS_close, x->argfd);
	if (x->argv)
		sys2(SYS_munmap, x->argv, x->argv_size);
	x->fd = -1;
	x->argfd = -1;
	x->argv = NULL;
}
