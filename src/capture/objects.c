/*
 * Which code gets patched: every loaded object with syscall sites, at
 * start-up (dl_iterate_phdr) and when the loader maps a new one later
 * (dlopen: an executable file mapping seen by defuse_dispatch).
 *
 * Left alone: DEFUSE itself (its gates must stay raw).  The vDSO is patched
 * too: its clock fallbacks make real system calls.  It is no file, so the
 * planner gets a copy of its image in a memfd.
 */
#include <elf.h>
#include <emmintrin.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "capture/capture.h"
#include "capture/plan.h"
#include "capture/trampoline.h"
#include "common/exec_layout.h"
#include "common/util.h"
#include "kernel/sys.h"

struct patch_totals {
	uint32_t objects, sites, refused, mismatched;
};
static struct patch_totals totals EXEC_DATA;
static int unpatched EXEC_DATA;	/* sites or objects left to the net */

int defuse_objects_unpatched(void)
{
	return __atomic_load_n(&unpatched, __ATOMIC_RELAXED);
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = "0123456789abcdef"[p[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[p[i] & 15];
	}
	out[2 * n] = 0;
}

/* The GNU build-id in a note area, as hex into key; 0 if found. */
static int build_id(const uint8_t *notes, size_t size, char *key, size_t keycap)
{
	size_t off = 0;

	while (off + sizeof(Elf64_Nhdr) <= size) {
		const Elf64_Nhdr *nh = (const void *)(notes + off);
		size_t name = off + sizeof(*nh);
		size_t desc = name + ((nh->n_namesz + 3) & ~3u);

		if (desc + nh->n_descsz > size)
			break;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    !memcmp(notes + name, "GNU", 4) && nh->n_descsz * 2 + 1 <= keycap &&
		    nh->n_descsz > 0) {
			hex(key, notes + desc, nh->n_descsz);
			return 0;
		}
		off = desc + ((nh->n_descsz + 3) & ~3u);
	}
	return -1;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
	h ^= v;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/*
 * The cache key of an object without a build-id (Rust's toolchain, many
 * hand-linked programs): its file's identity, hashed to 128 bits, as
 * "file-HEX".  Without it such an object was planned at every start (rustc:
 * 1.1 s, its 150 MB driver library disassembled each time).  The change
 * time is part of it: no write or rename leaves it as it was, and no
 * utimensat can set it back.  A plan found under it is still used only
 * where its sites' bytes are the code in memory (plan_cache_load), and an
 * image only where the file's identity matches (plan_image_map).
 */
static void file_key(const struct stat *sb, char *key)
{
	const uint64_t f[] = { sb->st_dev, sb->st_ino, (uint64_t)sb->st_size,
			       (uint64_t)sb->st_mtim.tv_sec, (uint64_t)sb->st_mtim.tv_nsec,
			       (uint64_t)sb->st_ctim.tv_sec, (uint64_t)sb->st_ctim.tv_nsec };
	uint8_t h[16];
	uint64_t a = 0x9e3779b97f4a7c15ULL, b = 0x243f6a8885a308d3ULL;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		a = mix64(a, f[i]);
		b = mix64(b, f[i] + i);
	}
	memcpy(h, &a, 8);
	memcpy(h + 8, &b, 8);
	memcpy(key, "file-", 5);
	hex(key + 5, h, sizeof(h));
}

/*
 * What an image of a segment needs (plan_cache.c): the object file's
 * identity, the segment's file offset, and how to open the object to copy
 * it.  NULL where images cannot be used (the vDSO, code the loader
 * relocated in place, a page shared with another segment).
 */
/*
 * Up to this size a segment is scanned for `syscall` byte pairs at every
 * start (about 3 us a page cold, less warm) instead of asking the cache,
 * which costs a stat of the object and an open of its entry: the typical
 * program's own code has no `syscall` and is this small.
 */
#define SMALL_SEGMENT (64 << 10)
/* Plans of up to this many sites (the vDSO's) are read onto the stack. */
#define ROOM 16

/*
 * Does the code hold a `syscall` byte pair (0f 05) anywhere?  libc's memmem
 * takes a byte at a time for a two-byte needle: 10 us per exec for the
 * 16 KiB of a small program and the vDSO, measured.  Sixteen bytes at a
 * time with SSE2 (every x86-64 CPU has it; this file is cold code, run
 * behind an extended-state save or at start-up): where byte i is 0f and
 * byte i+1 is 05.  The 16-byte loads stay inside [code, code + size).
 */
static int has_syscall_pair(const uint8_t *code, size_t size)
{
	const __m128i f = _mm_set1_epi8(0x0f), five = _mm_set1_epi8(0x05);
	size_t i = 0;

	for (; i + 17 <= size; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(code + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(code + i + 1));

		if (_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, f),
						    _mm_cmpeq_epi8(b, five))))
			return 1;
	}
	for (; i + 1 < size; i++)
		if (code[i] == 0x0f && code[i + 1] == 0x05)
			return 1;
	return 0;
}

/* patch_segment's fd for the vDSO: a memfd copy, made when needed. */
#define VDSO_FD (-2)
static int vdso_memfd(void);

struct seg_image {
	struct plan_src src;
	int have_src;		/* 0: src not taken yet (a stat of path), 1, -1 */
	uint64_t file_off;
	const char *path;	/* opened to make the image, if fd < 0 */
	int fd;
};

/* The object's identity, taken when first needed: most programs' own code
   is a small segment without `syscall` and never needs it. */
static const struct seg_image *seg_src(struct seg_image *si)
{
	struct stat sb;

	if (si && !si->have_src) {
		/* Raw: libc's stat wrapper would be one more page of its text
		   touched at every start (init.c, defuse_getenv). */
		si->have_src = sys2(SYS_stat, si->path, &sb) == 0 ? 1 : -1;
		if (si->have_src > 0)
			plan_src_from_stat(&si->src, &sb);
	}
	return si && si->have_src > 0 ? si : NULL;
}

static void count(uint32_t nsites, uint32_t patched, uint32_t refused, uint32_t mismatched)
{
	if (refused || mismatched || patched < nsites)
		__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
	totals.objects++;
	totals.sites += patched;
	totals.refused += refused;
	totals.mismatched += mismatched;
}

static void make_image(const char *key, const uint8_t *code, size_t size,
		       const struct seg_image *si, const struct tramp_place *pl,
		       const struct plan *plan, const struct tramp_stats *st)
{
	struct plan_image_info info = { plan->nsites, st->patched, plan->nrefused,
					st->mismatched };
	struct plan_src now;
	struct stat sb;
	int fd = si->fd >= 0 ? si->fd : open(si->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* Only from the very file the identity was taken of. */
	if (fstat(fd, &sb) == 0) {
		plan_src_from_stat(&now, &sb);
		if (!memcmp(&now, &si->src, sizeof(now)))
			plan_image_store(key, code, size, si->file_off, fd, pl, &info, plan);
	}
	if (si->fd < 0)
		close(fd);
}

/*
 * Patches one executable segment.  idhex, the cache key, is NULL when the
 * object has neither a build-id nor a file to stat (then no caching).  The
 * planner reads the object from `file`, or from descriptor `fd` when
 * fd >= 0.
 *
 * Fastest first: an image of the patched segment mapped over it; else a
 * cached plan applied in place (and, this being at least the object's
 * second start, an image made for the next one); else the planner, whose
 * plan is cached.  A segment with no `syscall` byte pair gets an image
 * that says so, so it is not scanned at every start.
 */
/* Would patch_segment need the cache for any code segment of the object? */
static int has_code_to_plan(const ElfW(Phdr) *ph, int n, uintptr_t base)
{
	for (int i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X) &&
		    (ph[i].p_filesz > SMALL_SEGMENT ||
		     has_syscall_pair((const uint8_t *)(base + ph[i].p_vaddr), ph[i].p_filesz)))
			return 1;
	return 0;
}

static void patch_segment(uint8_t *code, size_t size, const char *idhex, uint64_t vaddr,
			  const char *name, const char *file, int fd, struct seg_image *maybe)
{
	const struct seg_image *si;
	struct plan plan;
	struct plan_site room[ROOM];
	struct tramp_stats st;
	struct tramp_place pl = { 0 };
	char key[128];
	int cached = 0, remake = 0;

	/* A small segment is scanned sooner than its cache entry is found. */
	if (size <= SMALL_SEGMENT && !has_syscall_pair(code, size))
		return;
	si = idhex ? seg_src(maybe) : NULL;
	if (idhex) {
		char v[24];
		struct plan_image_info ii;

		/* idhex-vaddr, without snprintf or even strcpy from libc:
		   this runs at every start. */
		const char *vx = defuse_xtoa(vaddr, v) + 2;
		size_t ni = d_strlen(idhex), nv = d_strlen(vx);

		memcpy(key, idhex, ni);
		key[ni] = '-';
		memcpy(key + ni + 1, vx, nv + 1);
		if (si && plan_image_map(key, code, size, &si->src, &ii, &remake) == 0) {
			count(ii.nsites, ii.patched, ii.nrefused, ii.mismatched);
			return;
		}
		cached = plan_cache_load(key, code, size, &plan, room, ROOM) == 0;
	}
	if (cached && !plan.nsites && !plan.nrefused) {
		/* No sites after all (the byte pair was inside other
		   instructions): next time the image says so. */
		if (si && remake)
			plan_image_store_none(key, code, size, &si->src);
		if (plan.sites != room)
			free(plan.sites);
		return;
	}
	if (!cached) {
		int pfd, r;

		if (size > SMALL_SEGMENT && !has_syscall_pair(code, size)) {
			if (idhex && si && remake)
				plan_image_store_none(key, code, size, &si->src);
			return;
		}
		pfd = fd == VDSO_FD ? vdso_memfd() : fd;
		r = pfd == -1 && fd == VDSO_FD ? -1 :
			plan_from_planner(file, pfd, vaddr, code, size, &plan);
		if (fd == VDSO_FD && pfd >= 0)
			sys1(SYS_close, pfd);
		if (r) {
			/* Still captured, by the net, only slower: say so when asked. */
			if (defuse_g.debug)
				defuse_log("no patch plan for ", name,
					   "; its calls go to the SUD net");
			__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
			return;
		}
		if (idhex)
			plan_cache_store(key, size, &plan);
	}
	if (cached && remake && si)
		pl.delta = PLAN_IMAGE_DELTA;
	else if (fd == VDSO_FD)
		/* The vDSO's trampolines 1 MiB above it: below it are its data
		   pages and the libraries, where the first place region_alloc
		   tries was always taken (a failed mmap per exec). */
		pl.delta = (intptr_t)(((uintptr_t)code + size + 4095) & ~4095UL) -
			   (intptr_t)((uintptr_t)code & ~4095UL) + (1 << 20);
	if (tramp_apply(code, size, &plan, &st, &pl)) {
		defuse_log("no trampoline memory in reach of ", name,
			   "; its calls go to the SUD net");
		__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
	} else if (pl.at_delta && si && !st.mismatched && st.patched == plan.nsites) {
		make_image(key, code, size, si, &pl, &plan, &st);
	}
	count(plan.nsites, st.patched, plan.nrefused, st.mismatched);
	if (plan.sites != room)
		free(plan.sites);
}

/*
 * Can the segment ph[x] have an image?  Not if the loader writes into its
 * code (text relocations: an image would carry one process's addresses),
 * nor if one of its pages holds another segment too, nor if it has bss.
 */
static int image_ok(const ElfW(Phdr) *ph, int n, int x, const ElfW(Dyn) *dyn, size_t ndyn)
{
	uintptr_t lo = ph[x].p_vaddr & ~4095UL;
	uintptr_t hi = (ph[x].p_vaddr + ph[x].p_memsz + 4095) & ~4095UL;

	if (ph[x].p_memsz != ph[x].p_filesz || (ph[x].p_vaddr & 4095) != (ph[x].p_offset & 4095))
		return 0;
	for (int i = 0; i < n; i++)
		if (i != x && ph[i].p_type == PT_LOAD && ph[i].p_vaddr < hi &&
		    ph[i].p_vaddr + ph[i].p_memsz > lo)
			return 0;
	if (!dyn)
		return 1;
	for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++)
		if (dyn[i].d_tag == DT_TEXTREL ||
		    (dyn[i].d_tag == DT_FLAGS && (dyn[i].d_un.d_val & DF_TEXTREL)))
			return 0;
	return 1;
}

static int skip_object(const ElfW(Phdr) *ph, int n, uintptr_t base)
{
	uintptr_t self = (uintptr_t)&defuse_objects_patch_loaded;

	for (int i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && self >= base + ph[i].p_vaddr &&
		    self < base + ph[i].p_vaddr + ph[i].p_memsz)
			return 1;
	return 0;
}

static int is_vdso(const struct dl_phdr_info *info)
{
	uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);

	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD && info->dlpi_phdr[i].p_offset == 0)
			return vdso && info->dlpi_addr + info->dlpi_phdr[i].p_vaddr == vdso;
	return 0;
}

/*
 * The vDSO's image as a file for the planner: a memfd holding a copy, made
 * only when the plan is not cached.  -1 if none.
 */
static int vdso_memfd(void)
{
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Phdr *ph = (const void *)((const char *)eh + eh->e_phoff);
	size_t len = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	long fd;

	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_offset + ph[i].p_filesz > len)
			len = ph[i].p_offset + ph[i].p_filesz;
	fd = sys2(SYS_memfd_create, "defuse-vdso", MFD_CLOEXEC);
	if (sys_failed(fd))
		return -1;
	if (sys3(SYS_write, fd, eh, len) != (long)len) {
		sys1(SYS_close, fd);
		return -1;
	}
	return fd;
}

static int patch_vdso(struct dl_phdr_info *info)
{
	char idhex[96];
	int have_id = -1;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_NOTE && have_id)
			have_id = build_id((const uint8_t *)(info->dlpi_addr + ph->p_vaddr),
					   ph->p_filesz, idhex, sizeof(idhex));
	}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
			patch_segment((uint8_t *)(info->dlpi_addr + ph->p_vaddr), ph->p_filesz,
				      have_id ? NULL : idhex, ph->p_vaddr, "the vDSO", NULL,
				      VDSO_FD, NULL);
	}
	return 0;
}

static int patch_object_cb(struct dl_phdr_info *info, size_t sz, void *arg)
{
	char idhex[96];
	int have_id = -1;
	const ElfW(Dyn) *dyn = NULL;
	size_t ndyn = 0;
	struct seg_image si;
	const char *name = info->dlpi_name ? info->dlpi_name : "";

	(void)sz, (void)arg;
	if (skip_object(info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr))
		return 0;
	if (is_vdso(info))
		return patch_vdso(info);
	for (int i = 0; i < info->dlpi_phnum && have_id; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_NOTE)
			have_id = build_id((const uint8_t *)(info->dlpi_addr + ph->p_vaddr),
					   ph->p_filesz, idhex, sizeof(idhex));
	}
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
			ndyn = info->dlpi_phdr[i].p_memsz / sizeof(*dyn);
		}
	/* The file the loader mapped: /proc/self/exe is the program's even if
	   its path was replaced since. */
	si.path = *name ? name : "/proc/self/exe";
	si.fd = -1;
	si.have_src = 0;
	if (have_id && has_code_to_plan(info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr)) {
		struct stat sb;

		if (sys2(SYS_stat, si.path, &sb) == 0) {
			file_key(&sb, idhex);
			plan_src_from_stat(&si.src, &sb);
			si.have_src = 1;
			have_id = 0;
		}
	}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		si.file_off = ph->p_offset;
		patch_segment((uint8_t *)(info->dlpi_addr + ph->p_vaddr),
			      ph->p_filesz, have_id ? NULL : idhex, ph->p_vaddr,
			      *name ? name : "the program", si.path, -1,
			      !have_id && image_ok(info->dlpi_phdr, info->dlpi_phnum, i, dyn, ndyn) ?
			      &si : NULL);
	}
	return 0;
}

void defuse_objects_patch_loaded(void)
{
	dl_iterate_phdr(patch_object_cb, NULL);
	if (defuse_g.debug) {
		char a[24], b[24], c[24];
		defuse_log("patched syscall sites: ", defuse_ltoa(totals.sites, a), " sites");
		defuse_log("left to the SUD net: ", defuse_ltoa(totals.refused, b), " sites");
		defuse_log("plan mismatches: ", defuse_ltoa(totals.mismatched, c), NULL);
	}
}

/*
 * An executable file mapping appeared (the loader mapping a library's code).
 * Reads the ELF headers from the descriptor, finds the executable segment
 * inside the mapping and patches it.  Runs with the extended state saved and
 * in_defuse set (see dispatch.c), so ordinary C and libc are fine here.
 */
long defuse_objects_mapped_cold(void *argp)
{
	const long *a = argp;	/* addr, len, prot, fd, off */
	uintptr_t addr = a[0];
	size_t len = a[1];
	int fd = a[3];
	uint64_t off = a[4];
	Elf64_Ehdr eh;
	Elf64_Phdr ph[32];
	char idhex[96];
	int have_id = -1, code_segments = 0, have_src, have_stat;
	Elf64_Dyn dyn[128];
	size_t ndyn = 0;
	struct seg_image si;
	struct stat sb;

	/* Executable memory that is not an x86-64 ELF object: unpatched code. */
	if (sys4(SYS_pread64, fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum == 0 || eh.e_phnum > 32 ||
	    sys4(SYS_pread64, fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff) !=
	    (long)(eh.e_phnum * sizeof(*ph))) {
		__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
		return 0;
	}
	for (int i = 0; i < eh.e_phnum && have_id; i++) {
		uint8_t notes[1024];

		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > sizeof(notes))
			continue;
		if (sys4(SYS_pread64, fd, notes, ph[i].p_filesz, ph[i].p_offset) ==
		    (long)ph[i].p_filesz)
			have_id = build_id(notes, ph[i].p_filesz, idhex, sizeof(idhex));
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		size_t want = ph[i].p_filesz < sizeof(dyn) ? ph[i].p_filesz : sizeof(dyn);
		long got;

		if (ph[i].p_type != PT_DYNAMIC)
			continue;
		got = sys4(SYS_pread64, fd, dyn, want, ph[i].p_offset);
		ndyn = got > 0 ? (size_t)got / sizeof(*dyn) : 0;
	}
	have_stat = !sys_failed(sys2(SYS_fstat, fd, &sb));
	if (have_id && have_stat) {
		file_key(&sb, idhex);
		have_id = 0;
	}
	/* A dynamic section longer than we read might hide DT_TEXTREL. */
	have_src = !have_id && have_stat && ndyn && ndyn < sizeof(dyn) / sizeof(*dyn);
	if (have_src) {
		plan_src_from_stat(&si.src, &sb);
		si.have_src = 1;
		si.path = NULL;
		si.fd = fd;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		uintptr_t start;

		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X) ||
		    ph[i].p_offset + ph[i].p_filesz <= off || ph[i].p_offset >= off + len)
			continue;
		code_segments++;
		if (ph[i].p_offset < off || ph[i].p_offset + ph[i].p_filesz > off + len) {
			/* Only part of a code segment: cannot be planned. */
			__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
			continue;
		}
		start = addr + (ph[i].p_offset - off);
		if ((uintptr_t)&defuse_objects_patch_loaded - start < ph[i].p_filesz)
			continue;	/* ourselves */
		si.file_off = ph[i].p_offset;
		patch_segment((uint8_t *)start, ph[i].p_filesz, have_id ? NULL : idhex,
			      ph[i].p_vaddr, "a loaded library", NULL, fd,
			      have_src && image_ok(ph, eh.e_phnum, i, dyn, ndyn) ? &si : NULL);
	}
	if (!code_segments)
		__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
	return 0;
}
