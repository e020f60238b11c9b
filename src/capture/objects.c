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
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include "capture/capture.h"
#include "capture/plan.h"
#include "capture/trampoline.h"
#include "kernel/sys.h"

struct patch_totals {
	uint32_t objects, sites, refused, mismatched;
};
static struct patch_totals totals;
static int unpatched;	/* sites or objects left to the net */

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

/*
 * Patches one executable segment.  idhex is NULL when the object has no
 * build-id (then no caching).  The planner reads the object from `file`, or
 * from descriptor `fd` when fd >= 0.
 */
static void patch_segment(uint8_t *code, size_t size, const char *idhex, uint64_t vaddr,
			  const char *name, const char *file, int fd)
{
	struct plan plan;
	struct tramp_stats st;
	char key[128];
	int cached = 0;

	if (!memmem(code, size, "\x0f\x05", 2))
		return;
	if (idhex) {
		char v[24];
		snprintf(key, sizeof(key), "%s-%s", idhex, defuse_xtoa(vaddr, v) + 2);
		cached = plan_cache_load(key, code, size, &plan) == 0;
	}
	if (!cached) {
		if (plan_from_planner(file, fd, vaddr, code, size, &plan)) {
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
	if (tramp_apply(code, size, &plan, &st)) {
		defuse_log("no trampoline memory in reach of ", name,
			   "; its calls go to the SUD net");
		__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
	}
	if (plan.nrefused || st.mismatched || st.patched < plan.nsites)
		__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
	totals.objects++;
	totals.sites += st.patched;
	totals.refused += plan.nrefused;
	totals.mismatched += st.mismatched;
	free(plan.sites);
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

/* The vDSO's image as a file for the planner: a memfd holding a copy. */
static int patch_vdso(struct dl_phdr_info *info)
{
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	size_t len = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	char idhex[96];
	int have_id = -1;
	long fd;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_offset + ph->p_filesz > len)
			len = ph->p_offset + ph->p_filesz;
		if (ph->p_type == PT_NOTE && have_id)
			have_id = build_id((const uint8_t *)(info->dlpi_addr + ph->p_vaddr),
					   ph->p_filesz, idhex, sizeof(idhex));
	}
	fd = sys2(SYS_memfd_create, "defuse-vdso", MFD_CLOEXEC);
	if (sys_failed(fd))
		return 0;
	if (sys3(SYS_write, fd, eh, len) == (long)len) {
		for (int i = 0; i < info->dlpi_phnum; i++) {
			const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

			if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
				patch_segment((uint8_t *)(info->dlpi_addr + ph->p_vaddr),
					      ph->p_filesz, have_id ? NULL : idhex,
					      ph->p_vaddr, "the vDSO", NULL, fd);
		}
	}
	sys1(SYS_close, fd);
	return 0;
}

static int patch_object_cb(struct dl_phdr_info *info, size_t sz, void *arg)
{
	char idhex[96];
	int have_id = -1;
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
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
			patch_segment((uint8_t *)(info->dlpi_addr + ph->p_vaddr),
				      ph->p_filesz, have_id ? NULL : idhex, ph->p_vaddr,
				      *name ? name : "the program",
				      *name ? name : "/proc/self/exe", -1);
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
	int have_id = -1, code_segments = 0;

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
		patch_segment((uint8_t *)start, ph[i].p_filesz, have_id ? NULL : idhex,
			      ph[i].p_vaddr, "a loaded library", NULL, fd);
	}
	if (!code_segments)
		__atomic_store_n(&unpatched, 1, __ATOMIC_RELAXED);
	return 0;
}
