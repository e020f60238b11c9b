/*
 * defuse-planner FILE VADDR SIZE
 *
 * Computes the patch plan of the executable segment of ELF file FILE that
 * starts at virtual address VADDR and has SIZE bytes in the file, and writes
 * it to standard output in the plan file format (src/capture/plan.h).
 *
 * A separate program so that the preloaded library never loads capstone: a
 * 6.6 MB library whose relocation alone costs about 1 ms per exec, while a
 * plan is needed once per build-id (plans are cached).  libdefuse.so runs
 * this on a cache miss, with raw system calls, from any context.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "capture/plan.h"

static int read_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + done);

		if (r <= 0)
			return -1;
		done += r;
	}
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct plan_site *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Sections come in header order; plans are read in address order. */
static int sort_sites(struct plan *p)
{
	qsort(p->sites, p->nsites, sizeof(*p->sites), by_offset);
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r <= 0)
			return -1;
		done += r;
	}
	return 0;
}

/*
 * Plans the parts of the segment that sections mark as code, when the file
 * has section headers: a linear sweep over headers, symbol tables or
 * read-only data sharing the segment (the vDSO, old-layout executables)
 * could invent `syscall` instructions in them.  Without section headers the
 * whole segment is swept.
 */
static int plan_code_sections(int fd, const Elf64_Ehdr *eh, const Elf64_Phdr *ph,
			      const uint8_t *code, struct plan *out)
{
	Elf64_Shdr sh;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(sh) || eh->e_shnum == 0)
		return plan_build(code, ph->p_filesz, out);
	for (int i = 0; i < eh->e_shnum; i++) {
		struct plan part;
		uint64_t start;
		void *more;

		if (read_full(fd, &sh, sizeof(sh), eh->e_shoff + (off_t)i * sizeof(sh)))
			return -1;
		if (sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_EXECINSTR) ||
		    sh.sh_offset < ph->p_offset ||
		    sh.sh_offset + sh.sh_size > ph->p_offset + ph->p_filesz)
			continue;
		found = 1;
		start = sh.sh_offset - ph->p_offset;
		if (plan_build(code + start, sh.sh_size, &part))
			return -1;
		more = realloc(out->sites, (out->nsites + part.nsites + 1) * sizeof(*out->sites));
		if (!more)
			return -1;
		out->sites = more;
		for (uint32_t k = 0; k < part.nsites; k++) {
			out->sites[out->nsites] = part.sites[k];
			out->sites[out->nsites++].off += start;
		}
		out->nrefused += part.nrefused;
		free(part.sites);
	}
	return found ? sort_sites(out) : plan_build(code, ph->p_filesz, out);
}

int main(int argc, char **argv)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned long long vaddr, size;
	struct plan plan;
	struct plan_file_header h;
	uint8_t *code;
	int fd, i;

	if (argc != 4) {
		fprintf(stderr, "usage: defuse-planner FILE VADDR SIZE\n");
		return 2;
	}
	vaddr = strtoull(argv[2], NULL, 0);
	size = strtoull(argv[3], NULL, 0);
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read_full(fd, &eh, sizeof(eh), 0) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64) {
		fprintf(stderr, "defuse-planner: %s: not a 64-bit ELF file\n", argv[1]);
		return 1;
	}
	for (i = 0; i < eh.e_phnum; i++) {
		if (read_full(fd, &ph, sizeof(ph), eh.e_phoff + (off_t)i * eh.e_phentsize))
			return 1;
		if (ph.p_type == PT_LOAD && ph.p_vaddr == vaddr && ph.p_filesz == size)
			break;
	}
	if (i == eh.e_phnum) {
		fprintf(stderr, "defuse-planner: %s: no segment at %#llx of %llu bytes\n",
			argv[1], vaddr, size);
		return 1;
	}
	code = malloc(size ? size : 1);
	if (!code || read_full(fd, code, size, ph.p_offset) ||
	    plan_code_sections(fd, &eh, &ph, code, &plan)) {
		fprintf(stderr, "defuse-planner: %s: cannot read or disassemble\n", argv[1]);
		return 1;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, PLAN_MAGIC, sizeof(h.magic));
	h.size = size;
	h.nsites = plan.nsites;
	h.nrefused = plan.nrefused;
	i = write_full(1, &h, sizeof(h)) ||
	    write_full(1, plan.sites, (size_t)plan.nsites * sizeof(*plan.sites));
	/* Freed, though the process ends: the planner runs with an empty
	   environment, so a sanitizer build's leak check is on and would
	   fail it (and the program it plans for). */
	free(plan.sites);
	free(code);
	return i ? 1 : 0;
}
