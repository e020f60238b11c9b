/*
 * A FUSE daemon has a descriptor table of its own; in process, the file
 * system's descriptors would share the program's, taking the numbers the
 * program expects to get (open returns the lowest free number) and lying
 * within reach of its close, dup2 and close_range.  So the file system's
 * calls that make and close descriptors are redirected (in the global
 * offset tables of the file system's object and of the libraries loaded
 * with it) to wrappers that move every new descriptor into DEFUSE's
 * reserved band (module.h: defuse_keep_fd) and give it back there at close.
 *
 * Outside DEFUSE (no defuse_keep_fd) the wrappers change nothing.  The
 * same objects' path calls go to fscwd.c's wrappers (the file system's own
 * working directory); the opening calls here do both.  Their exec calls go
 * to spawn.c's (the helpers they run get no DEFUSE).
 */
#define _GNU_SOURCE 1
#include <defuse/module.h>

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <linux/openat2.h>
#include <unistd.h>
#include "fdwrap.h"
#include "fm.h"
#include "fscwd.h"

/* fd moved into the band (its new number), or left where it is. */
static int keep(int fd)
{
	int e = errno, k;

	if (fd < 0 || !defuse_keep_fd)
		return fd;
	k = defuse_keep_fd(fd);
	errno = e;
	return k >= 0 ? k : fd;
}

/* After a library closed fd itself (closedir, fclose): the band's number
   is given back (closing it again only fails). */
static void forget(int fd)
{
	int e = errno;

	if (fd >= 0 && defuse_close_kept)
		defuse_close_kept(fd);
	errno = e;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

/*
 * An open the file system makes (openat's flags and mode, or openat2's
 * how), its file's mode mended when the program's umask took bits its own
 * would have left (fscwd.c; an O_TMPFILE file, as fuse-overlayfs copies
 * up through, too).  Only a file the call made is mended: without O_EXCL,
 * an exclusive create first tells which it is (the name taken: the file
 * is opened as it is), a few times round if the name comes and goes
 * meanwhile.
 */
struct fs_open {
	int dirfd;
	const char *path;
	const struct open_how *how;	/* openat2's (size bytes), or NULL */
	long size;
};

/* o as asked, or with other flags and mode. */
static long fs_open_as_asked(const struct fs_open *o, int flags, mode_t mode)
{
	return o->how ? syscall(SYS_openat2, o->dirfd, o->path, o->how, o->size)
		      : openat(o->dirfd, o->path, flags, mode);
}

static long fs_open_with(const struct fs_open *o, uint64_t flags, mode_t mode)
{
	struct open_how h;

	if (!o->how)
		return openat(o->dirfd, o->path, (int)flags, mode);
	h = *o->how;
	h.flags = flags;
	h.mode = mode;
	return syscall(SYS_openat2, o->dirfd, o->path, &h, sizeof(h));
}

static long open_made(const struct fs_open *o, uint64_t flags, mode_t mode)
{
	int tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
	mode_t lost = (flags & O_CREAT) || tmpfile ? fscwd_lost(mode) : 0;
	long fd;

	if (!lost)
		return fs_open_as_asked(o, flags, mode);
	if ((flags & O_EXCL) || tmpfile) {
		fd = fs_open_as_asked(o, flags, mode);
		if (fd >= 0)
			fscwd_mend_fd(fd, lost);
		return fd;
	}
	for (int tries = 0; tries < 3; tries++) {
		fd = fs_open_with(o, flags | O_EXCL, mode);
		if (fd >= 0) {
			fscwd_mend_fd(fd, lost);
			return fd;
		}
		if (errno != EEXIST)
			return fd;
		/* openat2 refuses a mode without O_CREAT */
		fd = fs_open_with(o, flags & ~(uint64_t)O_CREAT, 0);
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	return fs_open_as_asked(o, flags, mode);
}

/* openat's kind, through open_made. */
static int openat_made(int dirfd, const char *path, int flags, mode_t mode)
{
	struct fs_open o = { dirfd, path, NULL, 0 };

	return (int)open_made(&o, (unsigned)flags, mode);
}

/*
 * syscall(2), for the calls a file system makes by number.  openat2 makes
 * files too (fuse-overlayfs copies a file up with it), so it goes through
 * open_made; every other call goes as it came.
 */
static long w_syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_openat2 && a[2] && (size_t)a[3] >= sizeof(struct open_how)) {
		const struct open_how *how = (const struct open_how *)a[2];
		struct fs_open o = { (int)a[0], (const char *)a[1], how, a[3] };

		return open_made(&o, how->flags, how->mode);
	}
	return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static int w_open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return keep(openat_made(AT_FDCWD, fscwd_path(path, (char[PATH_MAX]){ 0 }), flags, mode));
}

static int w_openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return keep(openat_made(dirfd, fscwd_at(dirfd, path, (char[PATH_MAX]){ 0 }), flags, mode));
}

static int w_open_2(const char *path, int flags)
{
	return keep(open(fscwd_path(path, (char[PATH_MAX]){ 0 }), flags));
}

static int w_openat_2(int dirfd, const char *path, int flags)
{
	return keep(openat(dirfd, fscwd_at(dirfd, path, (char[PATH_MAX]){ 0 }), flags));
}

static int w_creat(const char *path, mode_t mode)
{
	return keep(openat_made(AT_FDCWD, fscwd_path(path, (char[PATH_MAX]){ 0 }),
			      O_WRONLY | O_CREAT | O_TRUNC, mode));
}

static DIR *w_opendir(const char *path)
{
	int fd = keep(open(fscwd_path(path, (char[PATH_MAX]){ 0 }),
			   O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_CLOEXEC));
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		if (!defuse_close_kept || defuse_close_kept(fd))
			close(fd);
		errno = e;
	}
	return d;
}

static int w_closedir(DIR *d)
{
	int fd = dirfd(d), r = closedir(d);

	forget(fd);
	return r;
}

/* fopen's mode as open's flags. */
static int fopen_flags(const char *m)
{
	int flags = 0;

	switch (*m) {
	case 'r':
		flags = O_RDONLY;
		break;
	case 'w':
		flags = O_WRONLY | O_CREAT | O_TRUNC;
		break;
	case 'a':
		flags = O_WRONLY | O_CREAT | O_APPEND;
		break;
	default:
		return -1;
	}
	for (m++; *m && *m != ','; m++) {
		if (*m == '+')
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'e')
			flags |= O_CLOEXEC;
		else if (*m == 'x')
			flags |= O_EXCL;
	}
	return flags;
}

static FILE *w_fopen(const char *path, const char *mode)
{
	int flags = fopen_flags(mode), fd;
	FILE *f;

	if (flags < 0) {
		errno = EINVAL;
		return NULL;
	}
	fd = keep(openat_made(AT_FDCWD, fscwd_path(path, (char[PATH_MAX]){ 0 }), flags, 0666));
	if (fd < 0)
		return NULL;
	f = fdopen(fd, mode);
	if (!f) {
		int e = errno;

		if (!defuse_close_kept || defuse_close_kept(fd))
			close(fd);
		errno = e;
	}
	return f;
}

static int w_fclose(FILE *f)
{
	int fd = fileno(f), r = fclose(f);

	forget(fd);
	return r;
}

/*
 * The program's standard descriptors.  A daemon's 0, 1 and 2 are its own,
 * and one in the foreground may point them elsewhere (httpfs2 -c CONSOLE
 * dup2s /dev/null onto all three); in process they are the program's, whose
 * input and error output vanished.  So the file system's dup2 or dup3 onto
 * one, its close of one and its freopen of stdin, stdout or stderr do
 * nothing in the program's process (they succeed); in a child the file
 * system forked (sshfs's, which wires its ssh's standard descriptors and
 * execs) and in a vfork child they are done.
 */
static int program_std_fd(int fd)
{
	return fd >= 0 && fd <= 2 && !fm_in_fs_child &&
	       !(defuse_in_vfork_child && defuse_in_vfork_child());
}

static int w_dup2(int fd, int newfd)
{
	if (program_std_fd(newfd) && fcntl(fd, F_GETFD) >= 0)
		return newfd;
	return dup2(fd, newfd);
}

static int w_dup3(int fd, int newfd, int flags)
{
	if (program_std_fd(newfd) && fd != newfd && fcntl(fd, F_GETFD) >= 0)
		return newfd;
	return dup3(fd, newfd, flags);
}

static FILE *w_freopen(const char *path, const char *mode, FILE *f)
{
	if ((f == stdin || f == stdout || f == stderr) && program_std_fd(fileno(f)))
		return f;
	return freopen(path, mode, f);
}

static int w_close(int fd)
{
	int r;

	if (program_std_fd(fd))
		return 0;
	if (!defuse_close_kept)
		return close(fd);
	r = defuse_close_kept(fd);
	if (r == -EBADF)
		return close(fd);	/* not one of the band's */
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

static int w_dup(int fd)
{
	return keep(dup(fd));
}

static int w_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	unsigned long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return keep(fcntl(fd, cmd, (int)arg));
	return fcntl(fd, cmd, arg);
}

static int w_socket(int domain, int type, int protocol)
{
	return keep(socket(domain, type, protocol));
}

static int w_socketpair(int domain, int type, int protocol, int sv[2])
{
	int r = socketpair(domain, type, protocol, sv);

	if (!r) {
		sv[0] = keep(sv[0]);
		sv[1] = keep(sv[1]);
	}
	return r;
}

static int w_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return keep(accept(fd, addr, len));
}

static int w_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return keep(accept4(fd, addr, len, flags));
}

static int w_pipe(int p[2])
{
	int r = pipe(p);

	if (!r) {
		p[0] = keep(p[0]);
		p[1] = keep(p[1]);
	}
	return r;
}

static int w_pipe2(int p[2], int flags)
{
	int r = pipe2(p, flags);

	if (!r) {
		p[0] = keep(p[0]);
		p[1] = keep(p[1]);
	}
	return r;
}

static int w_eventfd(unsigned int v, int flags)
{
	return keep(eventfd(v, flags));
}

static int w_epoll_create(int n)
{
	return keep(epoll_create(n));
}

static int w_epoll_create1(int flags)
{
	return keep(epoll_create1(flags));
}

static int w_memfd_create(const char *name, unsigned int flags)
{
	return keep(memfd_create(name, flags));
}

static int w_timerfd_create(int clock, int flags)
{
	return keep(timerfd_create(clock, flags));
}

static int w_inotify_init1(int flags)
{
	return keep(inotify_init1(flags));
}

static int w_inotify_init(void)
{
	return keep(inotify_init());
}

static const struct fdwrap_entry wraps[] = {
	{ "open", (void *)w_open }, { "open64", (void *)w_open },
	{ "openat", (void *)w_openat }, { "openat64", (void *)w_openat },
	{ "__open_2", (void *)w_open_2 }, { "__open64_2", (void *)w_open_2 },
	{ "__openat_2", (void *)w_openat_2 }, { "__openat64_2", (void *)w_openat_2 },
	{ "creat", (void *)w_creat }, { "creat64", (void *)w_creat },
	{ "opendir", (void *)w_opendir }, { "closedir", (void *)w_closedir },
	{ "fopen", (void *)w_fopen }, { "fopen64", (void *)w_fopen },
	{ "fclose", (void *)w_fclose }, { "close", (void *)w_close },
	{ "dup", (void *)w_dup }, { "fcntl", (void *)w_fcntl },
	{ "dup2", (void *)w_dup2 }, { "dup3", (void *)w_dup3 },
	{ "freopen", (void *)w_freopen }, { "freopen64", (void *)w_freopen },
	{ "fcntl64", (void *)w_fcntl },
	{ "socket", (void *)w_socket }, { "socketpair", (void *)w_socketpair },
	{ "accept", (void *)w_accept }, { "accept4", (void *)w_accept4 },
	{ "pipe", (void *)w_pipe }, { "pipe2", (void *)w_pipe2 },
	{ "eventfd", (void *)w_eventfd }, { "epoll_create", (void *)w_epoll_create },
	{ "epoll_create1", (void *)w_epoll_create1 },
	{ "memfd_create", (void *)w_memfd_create },
	{ "timerfd_create", (void *)w_timerfd_create },
	{ "inotify_init", (void *)w_inotify_init },
	{ "inotify_init1", (void *)w_inotify_init1 },
	{ "syscall", (void *)w_syscall },
};

/* Descriptor calls here; path calls (the file system's own working
   directory) in fscwd.c; exec calls (helpers without DEFUSE) in spawn.c. */
void *fdwrap_find(const struct fdwrap_entry *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return t[i].fn;
	return NULL;
}

static void *wrapper_for(const char *name)
{
	void *fn = fdwrap_find(wraps, sizeof(wraps) / sizeof(wraps[0]), name);

	if (!fn)
		fn = fscwd_wrapper_for(name);
	if (!fn)
		fn = spawn_wrapper_for(name);
	if (!fn)
		fn = fsgetopt_wrapper_for(name);
	if (!fn)
		fn = fsexit_wrapper_for(name);
	return fn ? fn : restart_wrapper_for(name);
}

/* Writes v at the relocated address p (a GOT slot, maybe read-only after
   relocation: RELRO). */
static void write_slot(void **p, void *v)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1);

	if (*p == v)
		return;
	if (mprotect((void *)a, page, PROT_READ | PROT_WRITE) == 0) {
		*p = v;
		/* RELRO pages were read-only; the rest were writable anyway */
	}
}

/* The dynamic section's value for tag, or 0. */
static uintptr_t dyn_val(const ElfW(Dyn) *dyn, long tag)
{
	for (; dyn->d_tag != DT_NULL; dyn++)
		if (dyn->d_tag == tag)
			return dyn->d_un.d_ptr;
	return 0;
}

static void patch_relocs(struct link_map *lm, const ElfW(Rela) *rel, size_t size,
			 const ElfW(Sym) *symtab, const char *strtab)
{
	for (size_t i = 0; i < size / sizeof(*rel); i++) {
		unsigned long type = ELF64_R_TYPE(rel[i].r_info);
		const char *name;
		void *fn;

		if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT &&
		    type != R_X86_64_64)
			continue;
		if (!ELF64_R_SYM(rel[i].r_info))
			continue;
		name = strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name;
		fn = wrapper_for(name);
		if (fn)
			write_slot((void **)(lm->l_addr + rel[i].r_offset), fn);
	}
}

/*
 * Points the descriptor calls of one loaded object at the wrappers.
 * Read-only pages of RELRO are made writable and stay so (the file system's
 * own GOT: no one else's memory).
 */
static void patch_object(struct link_map *lm)
{
	const ElfW(Dyn) *dyn = lm->l_ld;
	const ElfW(Sym) *symtab;
	const char *strtab;
	uintptr_t jmprel, rela;

	if (!dyn)
		return;
	symtab = (const ElfW(Sym) *)dyn_val(dyn, DT_SYMTAB);
	strtab = (const char *)dyn_val(dyn, DT_STRTAB);
	if (!symtab || !strtab)
		return;
	jmprel = dyn_val(dyn, DT_JMPREL);
	if (jmprel)
		patch_relocs(lm, (const ElfW(Rela) *)jmprel, dyn_val(dyn, DT_PLTRELSZ), symtab,
			     strtab);
	rela = dyn_val(dyn, DT_RELA);
	if (rela)
		patch_relocs(lm, (const ElfW(Rela) *)rela, dyn_val(dyn, DT_RELASZ), symtab,
			     strtab);
}

/* ---- which objects ----------------------------------------------------- */

struct seen {
	void **addrs;
	size_t n, cap;
};

static int note(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct seen *s = arg;

	(void)size;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		void **a = realloc(s->addrs, cap * sizeof(void *));

		if (!a)
			return 1;
		s->addrs = a;
		s->cap = cap;
	}
	s->addrs[s->n++] = (void *)info->dlpi_addr;
	return 0;
}

void *fdwrap_before(void)
{
	struct seen *s = calloc(1, sizeof(*s));

	if (s)
		dl_iterate_phdr(note, s);
	return s;
}

static int was_there(const struct seen *s, void *addr)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->addrs[i] == addr)
			return 1;
	return 0;
}

/* Every object loaded since fdwrap_before (the file system's and the
   libraries it brought), but the libfuse stand-in (not). */
void fdwrap_after(void *before, void *handle, void *not)
{
	struct seen *s = before;
	struct link_map *lm = NULL, *skip = NULL;

	if (!s)
		return;
	if (!handle)
		goto out;
	if (not)
		dlinfo(not, RTLD_DI_LINKMAP, &skip);
	if (!dlinfo(handle, RTLD_DI_LINKMAP, &lm) && lm) {
		while (lm->l_prev)
			lm = lm->l_prev;
		for (; lm; lm = lm->l_next)
			if (lm != skip && !was_there(s, (void *)lm->l_addr))
				patch_object(lm);
	}
out:
	free(s->addrs);
	free(s);
}
