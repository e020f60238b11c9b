/*
 * fuse: a FUSE file system, served in process.
 *
 *     defuse run -m MNT=fuse:FS[:ARGS] -- PROGRAM...
 *
 * FS is a FUSE file system built from its unmodified source as a shared
 * object (cc -shared -fPIC ... $(pkg-config --cflags --libs fuse3), or
 * fuse for libfuse 2; or an installed FUSE program: its
 * main() is then exported), given by absolute path, or by name: NAME.so in
 * each directory of $DEFUSE_FUSE_PATH, then in examples/ beside this module
 * (libfuse's examples, built with DEFUSE).  ARGS is the program's own
 * command line without the mount point, split at blanks as a shell would
 * ('...', "..." and \ quote; nothing is expanded); the mount point is
 * appended.  Options of this module come first, each followed by ':':
 *     --mountpoint=PATH   what the program is told its mount point is
 *                         (default: MNT itself)
 *
 * The file system's libfuse calls are answered by a stand-in for the libfuse
 * it links (libfuse3.so.3 or libfuse.so.2 beside this module,
 * docs/fuse-compat.md), which this module loads first: the file system's
 * DT_NEEDED libfuse is then satisfied by it, and the real libfuse is never
 * loaded.  The stand-in runs
 * the program's main() until its event loop and serves the mount from
 * there (start.c); this module forwards every operation to it.
 */
#define _GNU_SOURCE 1
#include <defuse/module.h>

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fdwrap.h"
#include "fm.h"
#include "fscwd.h"

/* ---- arguments ------------------------------------------------------------ */

/* Splits s as a shell splits words: blanks separate; '...' is literal,
   "..." keeps \" and \\, and \ quotes one character.  NULL on a quote
   left open or no memory. */
static char **split_words(const char *s, int *count)
{
	size_t len = strlen(s), n = 0;
	char **v = calloc(len / 2 + 2, sizeof(char *));
	char *buf = malloc(len + 1);

	if (!v || !buf)
		goto fail;
	while (*s) {
		char *d = buf;
		int word = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
			word = 1;
			if (*s == '\'') {
				const char *e = strchr(s + 1, '\'');

				if (!e)
					goto fail;
				memcpy(d, s + 1, e - s - 1);
				d += e - s - 1;
				s = e + 1;
			} else if (*s == '"') {
				for (s++; *s && *s != '"'; s++) {
					if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
						s++;
					*d++ = *s;
				}
				if (*s != '"')
					goto fail;
				s++;
			} else if (*s == '\\' && s[1]) {
				*d++ = s[1];
				s += 2;
			} else {
				*d++ = *s++;
			}
		}
		if (!word)
			break;
		*d = 0;
		v[n] = strdup(buf);
		if (!v[n++])
			goto fail;
	}
	free(buf);
	*count = n;
	return v;
fail:
	if (v)
		for (size_t i = 0; i < n; i++)
			free(v[i]);
	free(v);
	free(buf);
	return NULL;
}

/* Whether the option list opts ("a,b=c,...") has the option "ro". */
static int has_ro(const char *opts)
{
	for (const char *o = opts; *o;) {
		size_t n = strcspn(o, ",");

		if (n == 2 && !strncmp(o, "ro", 2))
			return 1;
		o += n + (o[n] == ',');
	}
	return 0;
}

/*
 * Whether the file system must be one instance for the whole process tree
 * (DEFUSE_CAP_ONE_INSTANCE): its command line fsargs names a regular file
 * that is not a program (a disk image, an archive) or a block device, and
 * does not mount it read-only (-o ro, or -r and --read-only, as fuse-zip
 * and bindfs say it).  Such file systems (fuse2fs, exfat-fuse, fusefat on an image; fuse-zip,
 * archivemount on an archive) keep the file's metadata in memory and
 * write it back as they please: two instances, each process's own, each
 * write back their own view, and the image is corrupt (a shell and the
 * tar it runs are two).  A source that is a directory or a host is a
 * file system whose state is the kernel's or a server's: one instance per
 * process is right, and fast.  Read-only, instances cannot disagree.
 */
static int needs_one_instance(const char *fsargs)
{
	int n = 0, file = 0, ro = 0;
	char **w = split_words(fsargs, &n);
	struct stat st;

	if (!w)
		return 0;	/* fm_init says what is wrong with it */
	for (int i = 0; i < n; i++) {
		if (!strcmp(w[i], "-o") && i + 1 < n)
			ro |= has_ro(w[++i]);
		else if (!strncmp(w[i], "-o", 2))
			ro |= has_ro(w[i] + 2);
		else if (!strcmp(w[i], "-r") || !strcmp(w[i], "--read-only"))
			ro = 1;
		else if (w[i][0] != '-' && stat(w[i], &st) == 0 &&
			 (S_ISBLK(st.st_mode) || S_ISREG(st.st_mode)) &&
			 !(st.st_mode & 0111))
			file = 1;
	}
	for (int i = 0; i < n; i++)
		free(w[i]);
	free(w);
	return file && !ro;
}

/* The directory this module was loaded from (for the stand-in and the
   examples), into dir. */
static int own_dir(char *dir, size_t size)
{
	Dl_info info;
	const char *slash;

	if (!dladdr((void *)own_dir, &info) || !info.dli_fname)
		return -1;
	slash = strrchr(info.dli_fname, '/');
	if (!slash)
		return snprintf(dir, size, ".") >= (int)size ? -1 : 0;
	return snprintf(dir, size, "%.*s", (int)(slash - info.dli_fname), info.dli_fname) >=
	       (int)size ? -1 : 0;
}

static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* FS as a path: absolute as given, or NAME.so found by name. */
static int find_fs(const char *fs, char *out, size_t size, char *why, size_t why_len)
{
	const char *dirs = getenv("DEFUSE_FUSE_PATH");
	char dir[PATH_MAX];

	if (strchr(fs, '/')) {
		if (fs[0] != '/') {
			snprintf(why, why_len, "fuse: %s: give the file system's path from / "
				 "(each process reads it again, wherever it is)", fs);
			return -EINVAL;
		}
		if (!is_file(fs)) {
			snprintf(why, why_len, "fuse: %s: %s", fs,
				 access(fs, F_OK) ? strerror(errno) : "not a regular file");
			return -ENOENT;
		}
		snprintf(out, size, "%s", fs);
		return 0;
	}
	for (const char *d = dirs; d && *d;) {
		size_t n = strcspn(d, ":");

		snprintf(out, size, "%.*s/%s.so", (int)n, d, fs);
		if (is_file(out))
			return 0;
		d += n + (d[n] == ':');
	}
	if (!own_dir(dir, sizeof(dir)) &&
	    snprintf(out, size, "%.*s/examples/%s.so", PATH_MAX / 2, dir, fs) < (int)size &&
	    is_file(out))
		return 0;
	snprintf(why, why_len, "fuse: no FUSE file system named '%s' (give its path, or put "
		 "%s.so in a directory of DEFUSE_FUSE_PATH)", fs, fs);
	return -ENOENT;
}

/* ---- what the file is -------------------------------------------------- */

enum fs_kind { FS_NOT_ELF, FS_FIXED_EXEC, FS_NO_FUSE, FS_FUSE3, FS_FUSE2 };

/* What the file is, from its ELF headers. */
struct fs_info {
	enum fs_kind kind;	/* which libfuse it links */
	int pie;		/* a position-independent executable: a program */
	int tls;		/* it has thread-local storage (PT_TLS) */
	uint64_t entry;		/* e_entry */
	uint64_t flags1_at;	/* file offset of DT_FLAGS_1's value, or 0 */
	uint64_t flags1;	/* and the value */
	uint64_t init_at;	/* file offset of DT_INIT's tag, or 0 */
	uint64_t init;		/* and its value (an address in the object) */
	uint64_t init_array_at;	/* file offset of DT_INIT_ARRAY's tag, or 0 */
	uint64_t init_array;	/* and its value */
	uint64_t init_arraysz;	/* DT_INIT_ARRAYSZ's value */
};

/* The constructors of a program loaded by load_program, which glibc's
   dlopen did not run (run_program_init runs them). */
struct program_init {
	struct link_map *lm;	/* the program, loaded */
	void (*init)(int, char **, char **);
	void (**array)(int, char **, char **);
	size_t n;
};

/* Reads n bytes at off; 0 or -1. */
static int pread_all(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off) == (ssize_t)n ? 0 : -1;
}

/*
 * Which libfuse the file links (its DT_NEEDED entries), and whether it is a
 * position-independent executable (an installed program) rather than a
 * shared object.
 */
static void fs_info(const char *path, struct fs_info *fi)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	Elf64_Dyn dyn;
	uint64_t strtab = 0, strsz = 0, dynoff = 0, dynsz = 0, strofs = 0;
	uint64_t needed[64];
	int nneeded = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(fi, 0, sizeof(*fi));
	fi->kind = FS_NOT_ELF;
	if (fd < 0)
		return;
	if (pread_all(fd, &eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
		goto out;
	if (eh.e_type == ET_EXEC) {
		fi->kind = FS_FIXED_EXEC;
		goto out;
	}
	if (eh.e_type != ET_DYN ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256)
		goto out;
	fi->kind = FS_NO_FUSE;
	fi->entry = eh.e_entry;
	ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph || pread_all(fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff))
		goto out;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_DYNAMIC) {
			dynoff = ph[i].p_offset;
			dynsz = ph[i].p_filesz;
		} else if (ph[i].p_type == PT_TLS) {
			fi->tls = 1;
		}
	}
	for (uint64_t o = 0; o + sizeof(dyn) <= dynsz; o += sizeof(dyn)) {
		if (pread_all(fd, &dyn, sizeof(dyn), dynoff + o) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag == DT_NEEDED && nneeded < 64) {
			needed[nneeded++] = dyn.d_un.d_val;
		} else if (dyn.d_tag == DT_STRTAB) {
			strtab = dyn.d_un.d_ptr;
		} else if (dyn.d_tag == DT_STRSZ) {
			strsz = dyn.d_un.d_val;
		} else if (dyn.d_tag == DT_FLAGS_1) {
			fi->flags1 = dyn.d_un.d_val;
			fi->flags1_at = dynoff + o + offsetof(Elf64_Dyn, d_un);
			fi->pie = (dyn.d_un.d_val & DF_1_PIE) != 0;
		} else if (dyn.d_tag == DT_INIT) {
			fi->init = dyn.d_un.d_ptr;
			fi->init_at = dynoff + o;
		} else if (dyn.d_tag == DT_INIT_ARRAY) {
			fi->init_array = dyn.d_un.d_ptr;
			fi->init_array_at = dynoff + o;
		} else if (dyn.d_tag == DT_INIT_ARRAYSZ) {
			fi->init_arraysz = dyn.d_un.d_val;
		}
	}
	for (int i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr &&
		    strtab < ph[i].p_vaddr + ph[i].p_filesz)
			strofs = strtab - ph[i].p_vaddr + ph[i].p_offset;
	for (int i = 0; i < nneeded && strofs; i++) {
		char name[64] = "";

		if (needed[i] >= strsz)
			continue;
		if (pread(fd, name, sizeof(name) - 1, strofs + needed[i]) <= 0)
			continue;
		if (!strcmp(name, "libfuse3.so.3"))
			fi->kind = FS_FUSE3;
		else if (!strcmp(name, "libfuse.so.2") && fi->kind != FS_FUSE3)
			fi->kind = FS_FUSE2;
	}
out:
	free(ph);
	close(fd);
}

/* ---- loading ------------------------------------------------------------ */

/* The stand-in for the libfuse the file system links (soname, "libfuse3.so.3"
   or "libfuse.so.2"; major, 3 or 2, for messages), loaded from beside this
   module. */
static const struct fc_entry *load_standin(const char *soname, int major, char *why,
					   size_t why_len)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	const struct fc_entry *e;
	void *h;

	/* A real libfuse already in the process would get the file system's
	   calls (a dependency is matched by its name). */
	h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
	if (h && !dlsym(h, FC_ENTRY_SYMBOL)) {
		struct link_map *lm = NULL;

		dlinfo(h, RTLD_DI_LINKMAP, &lm);
		snprintf(why, why_len, "fuse: this process already has libfuse %d loaded (%s), "
			 "which would serve the file system's calls: run the file system "
			 "through kernel FUSE instead", major, lm && lm->l_name ? lm->l_name : "?");
		dlclose(h);
		return NULL;
	}
	if (h)
		dlclose(h);
	if (own_dir(dir, sizeof(dir))) {
		snprintf(why, why_len, "fuse: cannot tell where the fuse module lives");
		return NULL;
	}
	/* beside the module in a build tree; installed, in LIBDIR/defuse/fuse
	   (the module is in LIBDIR/defuse/modules) */
	snprintf(path, sizeof(path), "%s/%s", dir, soname);
	if (!is_file(path))
		snprintf(path, sizeof(path), "%s/../fuse/%s", dir, soname);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, why_len, "fuse: cannot load the libfuse %d stand-in: %s", major,
			 dlerror());
		return NULL;
	}
	e = dlsym(h, FC_ENTRY_SYMBOL);
	if (!e || e->version != FC_ENTRY_VERSION) {
		snprintf(why, why_len, "fuse: %s is not this module's libfuse stand-in", path);
		return NULL;
	}
	return e;
}

/*
 * Loads the object in memfd mfd.  glibc takes an object whose name matches
 * one loaded before for that one, and a memfd's number is free again once
 * closed, so the second of two copies would be the first again, sharing
 * its globals (two bindfs mounts in one process ran one bindfs, whose exit
 * handler then freed its strings twice): each load gets a name of its own,
 * the same path with one more "./" in it.
 */
static void *dlopen_memfd(int mfd)
{
	static int loads;
	char name[4096];
	int k = __atomic_fetch_add(&loads, 1, __ATOMIC_RELAXED), at;

	at = snprintf(name, sizeof(name), "/proc/self/fd/");
	for (; k > 0 && at + 2 < (int)sizeof(name) - 16; k--)
		at += snprintf(name + at, sizeof(name) - at, "./");
	snprintf(name + at, sizeof(name) - at, "%d", mfd);
	return dlopen(name, RTLD_NOW | RTLD_LOCAL);
}

/*
 * The file system's object.  One already loaded (another mount of the same
 * file system in this process) is loaded again as a private copy, so that
 * each mount has its own globals, as each FUSE daemon has.
 */
static void *load_fs(const char *path, char *why, size_t why_len)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	int src, mfd;
	ssize_t n;
	char buf[65536];

	if (!h) {
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(why, why_len, "fuse: cannot load %s: %s", path, dlerror());
		return h;
	}
	dlclose(h);
	src = open(path, O_RDONLY | O_CLOEXEC);
	mfd = memfd_create("defuse-fuse-fs", MFD_CLOEXEC);
	if (src < 0 || mfd < 0)
		goto fail;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, n) != n)
			goto fail;
	if (n < 0)
		goto fail;
	close(src);
	h = dlopen_memfd(mfd);
	close(mfd);
	if (!h)
		snprintf(why, why_len, "fuse: cannot load a second copy of %s: %s", path,
			 dlerror());
	return h;
fail:
	snprintf(why, why_len, "fuse: cannot copy %s for a second mount: %s", path,
		 strerror(errno));
	if (src >= 0)
		close(src);
	if (mfd >= 0)
		close(mfd);
	return NULL;
}

/*
 * A program's copy relocations, done again from its libraries.  A program
 * takes a copy of the data objects of its libraries it uses (R_X86_64_COPY:
 * stderr, a library's tables), which every user of the object then
 * shares.  Loaded with dlopen, the program comes first in its libraries'
 * lookup scope, so glibc copies an object that only a library loaded with
 * it defines (not already in the process: libext2fs's unix_io_manager for
 * fuse2fs, libstdc++'s vtables for fuse-zip) from the program's own
 * still empty copy: zeros.  Each copy is taken again from the library
 * the program names (its DT_NEEDED), which sees past the program.
 */
/* The program's RELRO part (while its copy relocations are redone). */
static uintptr_t relro_lo, relro_hi;

static int find_relro(struct dl_phdr_info *info, size_t size, void *arg)
{
	const struct link_map *lm = arg;
	long pg = sysconf(_SC_PAGESIZE);

	(void)size;
	if (info->dlpi_addr != lm->l_addr)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
			relro_lo = (info->dlpi_addr + info->dlpi_phdr[i].p_vaddr) &
				   ~(uintptr_t)(pg - 1);
			relro_hi = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr +
				   info->dlpi_phdr[i].p_memsz;
		}
	return 1;
}

static int all_zero(const unsigned char *p, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Copies size bytes from src to dst, a program's copy of a library's
   object, which lies in its read-only-after-relocation part (RELRO) when
   the object is const: that page is made writable for the copy.  Only a
   copy still all zeros is taken again: one that is not was filled, by
   glibc or by the library's constructors, which may build the object in
   the program's copy itself (libstdc++'s std::cout when the program has
   one: its own storage stays unbuilt, zeros that would undo the stream). */
static void copy_object(void *dst, const void *src, size_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)dst & ~(uintptr_t)(pg - 1);
	size_t len = (uintptr_t)dst + size - lo;

	if (!all_zero(dst, size) || all_zero(src, size))
		return;
	if (mprotect((void *)lo, len, PROT_READ | PROT_WRITE))
		return;
	memcpy(dst, src, size);
	if (relro_lo <= lo && lo < relro_hi)
		mprotect((void *)lo, len, PROT_READ);
}

/* A loaded object's relocations and symbols (its dynamic section, whose
   addresses glibc may have relocated in place); 0, or -1 if it has none. */
struct dyn_tables {
	uintptr_t rela, relasz, symtab, strtab;
};

static int dyn_tables(const struct link_map *lm, struct dyn_tables *t)
{
	memset(t, 0, sizeof(*t));
#define ADDR(v) ((uintptr_t)(v) < lm->l_addr ? lm->l_addr + (uintptr_t)(v) : (uintptr_t)(v))
	for (const ElfW(Dyn) *d = lm->l_ld; d && d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_RELA)
			t->rela = ADDR(d->d_un.d_ptr);
		else if (d->d_tag == DT_RELASZ)
			t->relasz = d->d_un.d_val;
		else if (d->d_tag == DT_SYMTAB)
			t->symtab = ADDR(d->d_un.d_ptr);
		else if (d->d_tag == DT_STRTAB)
			t->strtab = ADDR(d->d_un.d_ptr);
	}
#undef ADDR
	return t->rela && t->symtab && t->strtab ? 0 : -1;
}

/*
 * The object name as the library that defines it at def uses it: through
 * its own global offset table, which glibc pointed at the first copy in
 * its lookup scope (the main program's, or the first program loaded with
 * it: another file system's), else at def.  That is the live object,
 * which the library's constructors built.
 */
static const void *used_by_definer(const void *def, const char *name)
{
	struct link_map *lm = NULL;
	struct dyn_tables t;
	Dl_info info;

	if (!dladdr1(def, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm || dyn_tables(lm, &t))
		return def;
	for (const ElfW(Rela) *r = (const ElfW(Rela) *)t.rela;
	     (uintptr_t)(r + 1) <= t.rela + t.relasz; r++) {
		const ElfW(Sym) *sym;

		if (ELF64_R_TYPE(r->r_info) != R_X86_64_GLOB_DAT || !ELF64_R_SYM(r->r_info))
			continue;
		sym = (const ElfW(Sym) *)t.symtab + ELF64_R_SYM(r->r_info);
		if (!strcmp((const char *)t.strtab + sym->st_name, name))
			return *(const void **)(lm->l_addr + r->r_offset);
	}
	return def;
}

static void redo_copy_relocs(struct link_map *lm, struct fsgetopt_vars *optvars)
{
	uintptr_t base = lm->l_addr;
	const char *needed[64];
	struct dyn_tables t;
	int nneeded = 0;

	relro_lo = relro_hi = 0;
	dl_iterate_phdr(find_relro, lm);
	if (dyn_tables(lm, &t))
		return;
	for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_NEEDED && nneeded < 64)
			needed[nneeded++] = (const char *)t.strtab + d->d_un.d_val;
	for (const ElfW(Rela) *r = (const ElfW(Rela) *)t.rela;
	     (uintptr_t)(r + 1) <= t.rela + t.relasz; r++) {
		const ElfW(Sym) *sym;
		const char *name;

		if (ELF64_R_TYPE(r->r_info) != R_X86_64_COPY)
			continue;
		sym = (const ElfW(Sym) *)t.symtab + ELF64_R_SYM(r->r_info);
		name = (const char *)t.strtab + sym->st_name;
		fsgetopt_note_copy(optvars, name, (void *)(base + r->r_offset));
		for (int i = 0; i < nneeded; i++) {
			void *dh = dlopen(needed[i], RTLD_LAZY | RTLD_NOLOAD);
			const void *src = dh ? dlsym(dh, name) : NULL, *live;

			if (dh)
				dlclose(dh);
			/* the library's own storage, when it uses the program's
			   copy itself: the copy glibc could not fill (fuse2fs's
			   unix_io_manager) */
			live = src ? used_by_definer(src, name) : NULL;
			if (live && live != (void *)(base + r->r_offset))
				src = live;
			if (src && src != (void *)(base + r->r_offset)) {
				copy_object((void *)(base + r->r_offset), src, sym->st_size);
				break;
			}
		}
	}
}

/* A dynamic tag glibc ignores, put in place of DT_INIT and DT_INIT_ARRAY in
   a program's copy so that dlopen leaves its constructors to us. */
#define DT_IGNORED DT_CHECKSUM

static int hide_init(int mfd, const struct fs_info *fi)
{
	int64_t tag = DT_IGNORED;

	if (fi->init_at && pwrite(mfd, &tag, sizeof(tag), fi->init_at) != sizeof(tag))
		return -1;
	if (fi->init_array_at &&
	    pwrite(mfd, &tag, sizeof(tag), fi->init_array_at) != sizeof(tag))
		return -1;
	return 0;
}

/* Runs a program's constructors as glibc's dlopen would have: DT_INIT,
   then DT_INIT_ARRAY in order. */
static void run_program_init(const struct program_init *pi)
{
	static char *no_args[] = { NULL };

	if (pi->init)
		pi->init(0, no_args, environ);
	for (size_t i = 0; i < pi->n; i++)
		pi->array[i](0, no_args, environ);
}

/*
 * An installed program (shared/notes/fuse-in-process.md): glibc's dlopen
 * refuses a position-independent executable (DF_1_PIE), so a private copy
 * (a memfd) with that one bit cleared is loaded instead; its DT_NEEDED
 * libfuse3.so.3 is the stand-in, loaded before.  Its main() is not among
 * its dynamic symbols (programs are stripped): _start hands it to
 * __libc_start_main in %rdi, so the first instruction there that sets %rdi
 * from an address (lea main(%rip), %rdi; or a load of it from the GOT,
 * relocated by now) tells where main is.
 *
 * Its constructors must not run inside dlopen: they would use the
 * program's copies of its libraries' objects (a C++ program's static
 * streams use libstdc++'s vtables through them: loggedfs crashed) before
 * redo_copy_relocs fills them.  So its copy names them with a tag glibc
 * ignores, and fm_init runs them (*pi) once the copies are right and its
 * calls are redirected (fdwrap.c).  Its libraries' constructors still run
 * inside dlopen, first, as they would.  The copies are taken once more
 * after its constructors: those may build a library's object (std::cout)
 * in the library's own storage, when that library was in the process
 * before the program and so does not use the program's copy.
 */
static void *load_program(const char *path, const struct fs_info *fi, int (**mainp)(int, char **),
			  struct program_init *pi, struct fsgetopt_vars *optvars, char *why,
			  size_t why_len)
{
	char buf[65536];
	uint64_t flags1 = fi->flags1 & ~(uint64_t)DF_1_PIE;
	struct link_map *lm = NULL;
	const unsigned char *code;
	int src = open(path, O_RDONLY | O_CLOEXEC);
	int mfd = memfd_create("defuse-fuse-program", MFD_CLOEXEC);
	ssize_t n;
	void *h;

	*mainp = NULL;
	if (src < 0 || mfd < 0)
		goto fail;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, n) != n)
			goto fail;
	if (n < 0 || pwrite(mfd, &flags1, sizeof(flags1), fi->flags1_at) != sizeof(flags1) ||
	    hide_init(mfd, fi))
		goto fail;
	close(src);
	h = dlopen_memfd(mfd);
	close(mfd);
	if (!h) {
		snprintf(why, why_len, "fuse: cannot load the program %s: %s", path, dlerror());
		return NULL;
	}
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) || !lm) {
		snprintf(why, why_len, "fuse: cannot tell where %s was loaded", path);
		return NULL;
	}
	redo_copy_relocs(lm, optvars);
	pi->lm = lm;
	pi->init = fi->init ? (void (*)(int, char **, char **))(lm->l_addr + fi->init) : NULL;
	pi->array = fi->init_array ?
		(void (**)(int, char **, char **))(lm->l_addr + fi->init_array) : NULL;
	pi->n = pi->array ? fi->init_arraysz / sizeof(*pi->array) : 0;
	code = (const unsigned char *)(lm->l_addr + fi->entry);
	for (int i = 0; i + 7 <= 64 && !*mainp; i++) {
		int32_t disp;
		uintptr_t at;

		if (code[i] != 0x48 || code[i + 2] != 0x3d || (code[i + 1] != 0x8d && code[i + 1] != 0x8b))
			continue;
		memcpy(&disp, code + i + 3, sizeof(disp));
		at = (uintptr_t)(code + i + 7) + disp;
		*mainp = code[i + 1] == 0x8d ? (int (*)(int, char **))at :
			 *(int (**)(int, char **))at;
	}
	if (!*mainp)
		snprintf(why, why_len, "fuse: cannot find main() in %s: its entry point is not "
			 "glibc's _start", path);
	return h;
fail:
	snprintf(why, why_len, "fuse: cannot copy the program %s: %s", path, strerror(errno));
	if (src >= 0)
		close(src);
	if (mfd >= 0)
		close(mfd);
	return NULL;
}

/* The mount point of the mount whose ARGS are args (DEFUSE_MOUNTS: one
   POINT=MODULE:ARGS per line), or NULL. */
static char *find_mountpoint(const char *args)
{
	const char *m = getenv("DEFUSE_MOUNTS");

	while (m && *m) {
		size_t len = strcspn(m, "\n");
		const char *eq = memchr(m, '=', len), *colon;

		if (eq) {
			colon = memchr(eq, ':', len - (eq - m));
			if (colon && (size_t)(m + len - colon - 1) == strlen(args) &&
			    !strncmp(colon + 1, args, strlen(args)))
				return strndup(m, eq - m);
		}
		m += len + (m[len] == '\n');
	}
	return NULL;
}

static void free_argv(char **argv)
{
	if (argv)
		for (char **a = argv; *a; a++)
			free(*a);
	free(argv);
}

/* fm_start's copy of the arguments (argc of them). */
static void free_run_argv(char **argv, int argc)
{
	if (argv)
		for (int i = 0; i < argc; i++)
			free(argv[argc + 1 + i]);
	free(argv);
}

static void free_mount(struct fmount *fm)
{
	free_argv(fm->argv);
	free_run_argv(fm->run_argv, fm->argc);
	fs_image_free(fm->image);
	free(fm->exit_fns);
	free(fm->name);
	free(fm->cwd);
	free(fm);
}

int fm_start(struct fmount *fm, struct defuse_conn *conn, int in_call, char *why,
	     size_t why_len)
{
	struct fc_start s = { .main = fm->main, .argc = fm->argc, .name = fm->name,
			      .umask = -1, .in_call = in_call };
	struct fmount *was = fm_calling;
	char **argv = calloc(2 * (fm->argc + 1), sizeof(char *));
	int r;

	/* main() gets a copy of its arguments, kept until destroy (some
	   programs change theirs), so that a start again gets them afresh.
	   The strings are freed from the second half, which main() does not
	   see: it may have put pointers of its own in its argv. */
	for (int i = 0; argv && i < fm->argc; i++)
		if (!(argv[i] = argv[fm->argc + 1 + i] = strdup(fm->argv[i]))) {
			free_run_argv(argv, fm->argc);
			argv = NULL;
		}
	if (!argv) {
		snprintf(why, why_len, "fuse: %s: out of memory", fm->name);
		return -ENOMEM;
	}
	s.argv = argv;
	fsgetopt_reset(&fm->optvars);
	fm->forked = 0;
	fm->starting = 1;
	fm_calling = fm;	/* the threads its start-up starts are its own */
	r = fm->entry->start(&s, conn, &fm->inst, &fm->ops, why, why_len);
	fm_calling = was;
	fm->starting = 0;
	if (fm->start_child)
		_exit(0);	/* a fork of the start-up's (restart.c: w_fork) */
	if (r && fm->forked) {
		size_t n = strlen(why);

		snprintf(why + n, why_len - n, "; it forked during its start-up, as a program "
			 "that puts itself in the background does: give it its option to stay "
			 "in the foreground (often -f)");
	}
	if (r) {
		free_run_argv(argv, fm->argc);
		return r;
	}
	/* A start again in a forked child leaves the copy of its parent's
	   start as it is: the old instance may still point into it. */
	fm->run_argv = argv;
	free(fm->cwd);
	fm->cwd = s.cwd;
	fm->umask = s.umask;
	return 0;
}

static int fm_init(const char *args, struct defuse_conn *conn, void **priv, char *why,
		   size_t why_len)
{
	char fspath[PATH_MAX], *mountpoint = NULL, *fsname;
	const char *p = args, *colon;
	struct fmount *fm = calloc(1, sizeof(*fm));
	char **words = NULL;
	int nwords = 0, r = -EINVAL;
	struct fs_info info;
	struct program_init pi = { 0 };
	struct fmount *was;
	void *h, *before;
	int per_process = 0;

	if (!fm)
		return -ENOMEM;
	/* this module's own options */
	while (p[0] == '-' && p[1] == '-') {
		size_t n = strcspn(p, ":");

		if (!strncmp(p, "--mountpoint=", 13)) {
			free(mountpoint);
			mountpoint = strndup(p + 13, n - 13);
		} else if (n == 13 && !strncmp(p, "--per-process", 13)) {
			per_process = 1;
		} else {
			snprintf(why, why_len, "fuse: unknown option '%.*s' (ARGS are "
				 "[--mountpoint=PATH:][--per-process:]FS[:FS-ARGS])", (int)n, p);
			goto fail;
		}
		p += n + (p[n] == ':');
	}
	colon = strchr(p, ':');
	fsname = strndup(p, colon ? (size_t)(colon - p) : strlen(p));
	if (!fsname || !*fsname) {
		free(fsname);
		snprintf(why, why_len, "fuse: no file system given (ARGS are "
			 "[--mountpoint=PATH:]FS[:FS-ARGS])");
		goto fail;
	}
	r = find_fs(fsname, fspath, sizeof(fspath), why, why_len);
	free(fsname);
	if (r)
		goto fail;
	r = -EINVAL;
	fs_info(fspath, &info);
	switch (info.kind) {
	case FS_NOT_ELF:
		snprintf(why, why_len, "fuse: %s is not a FUSE file system (not a 64-bit ELF "
			 "shared object)", fspath);
		goto fail;
	case FS_FIXED_EXEC:
		/* a static or non-PIE program (gocryptfs: Go's own FUSE, no
		   libfuse) has its fixed addresses, the process's program's */
		snprintf(why, why_len, "fuse: %s is a program linked at fixed addresses (not "
			 "position-independent), which cannot be loaded into another program; "
			 "only file systems that link libfuse dynamically are served in process",
			 fspath);
		goto fail;
	case FS_NO_FUSE:
		snprintf(why, why_len, "fuse: %s is not a FUSE file system (it links neither "
			 "libfuse3.so.3 nor libfuse.so.2)", fspath);
		goto fail;
	case FS_FUSE2:
	case FS_FUSE3:
		break;
	}
	if (info.pie && info.tls) {
		/* its own thread-local variables are reached at fixed offsets
		   from the thread pointer (local-exec), valid in a program
		   only */
		snprintf(why, why_len, "fuse: %s is a program with thread-local storage of its "
			 "own, which cannot be loaded beside another program: build its source "
			 "with -shared -fPIC (docs/fuse-compat.md)", fspath);
		goto fail;
	}
	if (info.pie && !info.flags1_at) {
		snprintf(why, why_len, "fuse: %s: a program without DT_FLAGS_1", fspath);
		goto fail;
	}
	if ((conn->capable & DEFUSE_CAP_ONE_INSTANCE) && !per_process &&
	    needs_one_instance(colon ? colon + 1 : "")) {
		/* started nowhere here: the host serves it from one server */
		conn->want |= DEFUSE_CAP_ONE_INSTANCE;
		free(mountpoint);
		free_mount(fm);
		*priv = NULL;
		return 0;
	}
	fm->entry = info.kind == FS_FUSE3 ? load_standin("libfuse3.so.3", 3, why, why_len) :
					    load_standin("libfuse.so.2", 2, why, why_len);
	if (!fm->entry)
		goto fail;
	before = fdwrap_before();
	h = info.pie ? load_program(fspath, &info, &fm->main, &pi, &fm->optvars, why,
					    why_len) :
		       load_fs(fspath, why, why_len);
	if (!h) {
		fdwrap_after(before, NULL, NULL);
		goto fail;
	}
	fdwrap_after(before, h, NULL);
	if (info.pie && !fm->main)
		goto fail;
	was = fm_calling;
	fm_calling = fm;	/* the handlers its constructors register are its own */
	run_program_init(&pi);
	fm_calling = was;
	/* a library loaded before the program (the main program's libstdc++)
	   built its objects in its own storage: the copies still empty now
	   are taken from there */
	if (pi.lm)
		redo_copy_relocs(pi.lm, &fm->optvars);
	fsexit_loaded(fm);
	if (!info.pie)
		fm->main = (int (*)(int, char **))dlsym(h, "main");
	if (!fm->main) {
		snprintf(why, why_len, "fuse: %s exports no main(): build the program's source "
			 "with -shared -fPIC (docs/fuse-compat.md)", fspath);
		goto fail;
	}
	words = split_words(colon ? colon + 1 : "", &nwords);
	if (!words) {
		snprintf(why, why_len, "fuse: a quote is not closed in '%s'", colon + 1);
		goto fail;
	}
	if (!mountpoint)
		mountpoint = find_mountpoint(args);
	fm->name = strdup(strrchr(fspath, '/') + 1);
	fm->argv = calloc(nwords + 3, sizeof(char *));
	if (!fm->name || !fm->argv) {
		r = -ENOMEM;
		goto fail;
	}
	/* argv[0] is the program's name: its file name without ".so" */
	fm->argv[0] = strdup(fm->name);
	if (fm->argv[0] && strlen(fm->argv[0]) > 3 &&
	    !strcmp(fm->argv[0] + strlen(fm->argv[0]) - 3, ".so"))
		fm->argv[0][strlen(fm->argv[0]) - 3] = 0;
	memcpy(fm->argv + 1, words, nwords * sizeof(char *));
	fm->argv[nwords + 1] = mountpoint ? mountpoint : strdup("/");
	mountpoint = NULL;
	free(words);
	words = NULL;
	fm->argc = nwords + 2;
	/* what a forked child's start again needs (restart.c) */
	fm->image = fs_image_save(h);
	/* waits for locks itself (fm_setlk, lock.c) */
	conn->want |= DEFUSE_CAP_LOCK_WAIT;
	fm->conn = *conn;
	fm->umask = -1;
	r = fm_start(fm, conn, 0, why, why_len);
	if (r)
		goto fail;
	*priv = fm;
	return 0;
fail:
	if (words) {
		for (int i = 0; i < nwords; i++)
			free(words[i]);
		free(words);
	}
	free(mountpoint);
	free_mount(fm);
	return r < 0 ? r : -EINVAL;
}

/* ---- forwarding ---------------------------------------------------------- */

#define FM ((struct fmount *)priv)
/*
 * The start of every call: nothing to do (one test) but in a forked child
 * whose file system starts again, or did (restart.c); with fhp (a call
 * on an open file) the handle the new instance serves for it.
 */
#define ENTER(fhp, how)							\
	(__builtin_expect(FM->state != 0, 0) ? fm_enter_slow(FM, (fhp), (how)) : 0)
/* A call into the file system, with its working directory for its path
   calls and its umask for the files it makes (fscwd.c), and the mount
   being called (restart.c), put back after: a call may reach another
   mount's. */
#define CALL(call)							\
	({								\
		const char *was_ = fscwd_dir;				\
		int was_umask_ = fscwd_umask;				\
		struct fmount *was_fm_ = fm_calling;			\
		fscwd_dir = FM->cwd;					\
		fscwd_umask = FM->umask;				\
		fm_calling = FM;					\
		__typeof__(call) r_ = (call);				\
		fscwd_dir = was_;					\
		fscwd_umask = was_umask_;				\
		fm_calling = was_fm_;					\
		r_;							\
	})
#define CALL_VOID(call)	(void)CALL(((call), 0))
#define FWD_AS(fhp, how, call)						\
	({								\
		int e_ = ENTER(fhp, how);				\
		e_ ? (__typeof__(call))e_ : CALL(call);			\
	})
/* A call by path, and one on the open file fh. */
#define FWD(call) FWD_AS(NULL, 0, call)
#define FWD_FH(call) FWD_AS(&fh, FC_ADOPT_OPEN, call)

/* Not the instance of a forked child that has not started its own: that
   one is its parent's (the stand-in ends only its own process's). */
static void fm_destroy(void *priv)
{
	if (!(FM->state & (FM_RESTART | FM_DEAD)))
		CALL_VOID(FM->ops->destroy(FM->inst));
	fsexit_run(FM);
	free_mount(FM);
}

static void fm_after_fork_child(void *priv)
{
	CALL_VOID(FM->ops->after_fork_child(FM->inst));
	fm_fork_child(FM);
}

/*
 * A last name longer than NAME_MAX: ENAMETOOLONG, before the file system
 * sees it, as Linux's file systems answer.  Through the kernel a FUSE
 * file system is not asked with such a name either; fuse2fs, asked to
 * make one, stored its length modulo 256 (a directory entry with an empty
 * name: stress-ng's filename stressor, then e2fsck).  Every call by path
 * checks its last name; the host looks up every name of a path (getattr)
 * before it uses it, so the names of the directories on the way are
 * checked there.
 */
static int name_too_long(const char *path)
{
	const char *last = strrchr(path, '/');

	return strlen(last ? last + 1 : path) > NAME_MAX;
}
#define NAME_OK(path)						\
	do {							\
		if (name_too_long(path))			\
			return -ENAMETOOLONG;			\
	} while (0)

static int fm_getattr(void *priv, const char *path, struct stat *st, int flags)
{
	NAME_OK(path);
	return FWD(FM->ops->getattr(FM->inst, path, st, flags));
}

static int fm_access(void *priv, const char *path, int mode, int flags)
{
	int was = fscwd_eaccess, r;

	NAME_OK(path);
	/* the file system's own access(2) as the IDs asked about (fscwd.h) */
	fscwd_eaccess = (flags & AT_EACCESS) != 0;
	r = FWD(FM->ops->access(FM->inst, path, mode, flags));
	fscwd_eaccess = was;
	return r;
}

static ssize_t fm_readlink(void *priv, const char *path, char *buf, size_t size)
{
	NAME_OK(path);
	return FWD(FM->ops->readlink(FM->inst, path, buf, size));
}

static int fm_statfs(void *priv, const char *path, struct statfs *st)
{
	return FWD(FM->ops->statfs(FM->inst, path, st));
}

static int fm_mknod(void *priv, const char *path, mode_t mode, dev_t dev)
{
	NAME_OK(path);
	return FWD(FM->ops->mknod(FM->inst, path, mode, dev));
}

static int fm_mkdir(void *priv, const char *path, mode_t mode)
{
	NAME_OK(path);
	return FWD(FM->ops->mkdir(FM->inst, path, mode));
}

static int fm_unlink(void *priv, const char *path)
{
	NAME_OK(path);
	return FWD(FM->ops->unlink(FM->inst, path));
}

static int fm_rmdir(void *priv, const char *path)
{
	NAME_OK(path);
	return FWD(FM->ops->rmdir(FM->inst, path));
}

static int fm_symlink(void *priv, const char *target, const char *path)
{
	NAME_OK(path);
	return FWD(FM->ops->symlink(FM->inst, target, path));
}

static int fm_rename(void *priv, const char *from, const char *to, unsigned int flags)
{
	NAME_OK(from);
	NAME_OK(to);
	return FWD(FM->ops->rename(FM->inst, from, to, flags));
}

static int fm_link(void *priv, const char *from, const char *to)
{
	NAME_OK(from);
	NAME_OK(to);
	return FWD(FM->ops->link(FM->inst, from, to));
}

static int fm_chmod(void *priv, const char *path, mode_t mode, int flags)
{
	NAME_OK(path);
	return FWD(FM->ops->chmod(FM->inst, path, mode, flags));
}

static int fm_chown(void *priv, const char *path, uid_t uid, gid_t gid, int flags)
{
	NAME_OK(path);
	return FWD(FM->ops->chown(FM->inst, path, uid, gid, flags));
}

static int fm_truncate(void *priv, const char *path, off_t size)
{
	NAME_OK(path);
	return FWD(FM->ops->truncate(FM->inst, path, size));
}

static int fm_utimens(void *priv, const char *path, const struct timespec times[2], int flags)
{
	NAME_OK(path);
	return FWD(FM->ops->utimens(FM->inst, path, times, flags));
}

static ssize_t fm_getxattr(void *priv, const char *path, const char *name, void *value,
			   size_t size, int flags)
{
	return FWD(FM->ops->getxattr(FM->inst, path, name, value, size, flags));
}

static int fm_setxattr(void *priv, const char *path, const char *name, const void *value,
		       size_t size, int xflags, int flags)
{
	return FWD(FM->ops->setxattr(FM->inst, path, name, value, size, xflags, flags));
}

static ssize_t fm_listxattr(void *priv, const char *path, char *list, size_t size, int flags)
{
	return FWD(FM->ops->listxattr(FM->inst, path, list, size, flags));
}

static int fm_removexattr(void *priv, const char *path, const char *name, int flags)
{
	return FWD(FM->ops->removexattr(FM->inst, path, name, flags));
}

static int fm_open(void *priv, const char *path, int flags, mode_t mode, struct defuse_open *out)
{
	NAME_OK(path);
	return FWD(FM->ops->open(FM->inst, path, flags, mode, out));
}

static void fm_release(void *priv, uint64_t fh)
{
	if (!ENTER(&fh, FC_ADOPT_RELEASE))
		CALL_VOID(FM->ops->release(FM->inst, fh));
}

static int fm_flush(void *priv, uint64_t fh)
{
	return FWD_FH(FM->ops->flush(FM->inst, fh));
}

static ssize_t fm_read(void *priv, uint64_t fh, void *buf, size_t size, off_t off)
{
	return FWD_FH(FM->ops->read(FM->inst, fh, buf, size, off));
}

static ssize_t fm_write(void *priv, uint64_t fh, const void *buf, size_t size, off_t off)
{
	return FWD_FH(FM->ops->write(FM->inst, fh, buf, size, off));
}

static int fm_fgetattr(void *priv, uint64_t fh, struct stat *st)
{
	return FWD_FH(FM->ops->fgetattr(FM->inst, fh, st));
}

static int fm_ftruncate(void *priv, uint64_t fh, off_t size)
{
	return FWD_FH(FM->ops->ftruncate(FM->inst, fh, size));
}

static int fm_fchmod(void *priv, uint64_t fh, mode_t mode)
{
	return FWD_FH(FM->ops->fchmod(FM->inst, fh, mode));
}

static int fm_fchown(void *priv, uint64_t fh, uid_t uid, gid_t gid)
{
	return FWD_FH(FM->ops->fchown(FM->inst, fh, uid, gid));
}

static int fm_futimens(void *priv, uint64_t fh, const struct timespec times[2])
{
	return FWD_FH(FM->ops->futimens(FM->inst, fh, times));
}

static int fm_fsync(void *priv, uint64_t fh, int datasync)
{
	return FWD_FH(FM->ops->fsync(FM->inst, fh, datasync));
}

static int fm_fallocate(void *priv, uint64_t fh, int mode, off_t off, off_t len)
{
	return FWD_FH(FM->ops->fallocate(FM->inst, fh, mode, off, len));
}

static long fm_ioctl(void *priv, uint64_t fh, unsigned int cmd, unsigned long arg, void *data,
		     size_t size)
{
	return FWD_FH(FM->ops->ioctl ? FM->ops->ioctl(FM->inst, fh, cmd, arg, data, size) : -ENOTTY);
}

static off_t fm_seek_data(void *priv, uint64_t fh, off_t off, int whence)
{
	return FWD_FH(FM->ops->seek_data(FM->inst, fh, off, whence));
}

static int fm_readdir(void *priv, uint64_t fh, int64_t pos, defuse_fill_dir fill, void *ctx)
{
	return FWD_FH(FM->ops->readdir(FM->inst, fh, pos, fill, ctx));
}

static int fm_getlk(void *priv, uint64_t fh, uint64_t owner, struct flock *lock)
{
	return FWD_FH(FM->ops->getlk(FM->inst, fh, owner, lock));
}

/*
 * Waiting lock calls (DEFUSE_CAP_LOCK_WAIT, which fm_init wants): a local
 * lock waits in the kernel (lock.c); a file system's own lock operation is
 * asked without waiting in process, and again after pauses while the lock
 * is taken (through FUSE libfuse would let it wait).  lock_pause: a sleep
 * of *ns between two asks (20 us at first, doubled up to 32 ms each time),
 * which the caller's signals end: -EINTR, else 0.
 */
static int lock_pause(long *ns)
{
	struct timespec t = { 0, *ns };
	int r;

	/* a signal that came between two asks ends the wait too */
	r = defuse_waiting(1) || (nanosleep(&t, NULL) < 0 && errno == EINTR) ? -EINTR : 0;
	if (defuse_waiting(0))
		r = -EINTR;	/* a handler ran just before the sleep */
	if (*ns < 32000000)
		*ns *= 2;
	return r;
}

/* Is a lock call that answered *r asked again?  When the caller waits and
   the lock was taken (EAGAIN, which is EWOULDBLOCK), after a pause; a
   signal that ends the pause leaves -EINTR in *r. */
static int ask_again(int *r, int wait, long *ns)
{
	return *r == -EAGAIN && wait && defuse_waiting && (*r = lock_pause(ns)) == 0;
}

static int fm_setlk(void *priv, uint64_t fh, uint64_t owner, const struct flock *lock, int wait)
{
	long ns = 20000;
	int r;

	do
		r = FWD_FH(FM->ops->setlk(FM->inst, fh, owner, lock, wait));
	while (ask_again(&r, wait, &ns));
	return r;
}

static int fm_flock(void *priv, uint64_t fh, uint64_t owner, int op)
{
	long ns = 20000;
	int r;

	do
		r = FWD_FH(FM->ops->flock(FM->inst, fh, owner, op));
	while (ask_again(&r, !(op & LOCK_NB), &ns));
	return r;
}

static int fm_fh_path(void *priv, uint64_t fh, char *buf, size_t size)
{
	return FWD_AS(&fh, FC_ADOPT_PEEK, FM->ops->fh_path(FM->inst, fh, buf, size));
}

static const struct defuse_ops fm_ops = {
	.init = fm_init,
	.destroy = fm_destroy,
	.after_fork_child = fm_after_fork_child,
	.getattr = fm_getattr,
	.access = fm_access,
	.readlink = fm_readlink,
	.statfs = fm_statfs,
	.mknod = fm_mknod,
	.mkdir = fm_mkdir,
	.unlink = fm_unlink,
	.rmdir = fm_rmdir,
	.symlink = fm_symlink,
	.rename = fm_rename,
	.link = fm_link,
	.chmod = fm_chmod,
	.chown = fm_chown,
	.truncate = fm_truncate,
	.utimens = fm_utimens,
	.getxattr = fm_getxattr,
	.setxattr = fm_setxattr,
	.listxattr = fm_listxattr,
	.removexattr = fm_removexattr,
	.open = fm_open,
	.release = fm_release,
	.flush = fm_flush,
	.read = fm_read,
	.write = fm_write,
	.fgetattr = fm_fgetattr,
	.ftruncate = fm_ftruncate,
	.fchmod = fm_fchmod,
	.fchown = fm_fchown,
	.futimens = fm_futimens,
	.fsync = fm_fsync,
	.fallocate = fm_fallocate,
	.seek_data = fm_seek_data,
	.readdir = fm_readdir,
	.getlk = fm_getlk,
	.setlk = fm_setlk,
	.flock = fm_flock,
	.fh_path = fm_fh_path,
	.ioctl = fm_ioctl,
};

__attribute__((visibility("default"))) const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "fuse",
	.description = "a FUSE file system (libfuse 3, or libfuse 2's high-level API) in "
		       "process: FS[:ARGS], FS a shared object built from its source or an "
		       "installed program",
	.flags = 0,
	.ops = &fm_ops,
};
