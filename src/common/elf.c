/* elf.h: is an ELF program one libdefuse.so can be loaded into? */
#include <elf.h>
#include "common/elf.h"

int elf_loads_preload(const void *head, size_t n)
{
	const unsigned char *b = head;
	const Elf64_Ehdr *eh = head;

	if (n < EI_NIDENT || b[EI_MAG0] != ELFMAG0 || b[EI_MAG1] != ELFMAG1 ||
	    b[EI_MAG2] != ELFMAG2 || b[EI_MAG3] != ELFMAG3)
		return -1;
	if (b[EI_CLASS] != ELFCLASS64)
		return 0;	/* 32-bit */
	if (n < sizeof(*eh) || eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff % 8 ||
	    eh->e_phoff > n || eh->e_phnum > (n - eh->e_phoff) / sizeof(Elf64_Phdr))
		return -1;
	if (eh->e_machine != EM_X86_64)
		return 0;
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return -1;
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (((const Elf64_Phdr *)(b + eh->e_phoff))[i].p_type == PT_INTERP)
			return 1;
	return 0;	/* statically linked (static-pie too) */
}
