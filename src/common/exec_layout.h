/*
 * Where the code and data of the exec path are linked (issue 11,
 * docs/performance.md, "Exec at native speed").  Nothing here changes what
 * the code does, only how many pages a new process or a fork child
 * touches.
 */
#ifndef DEFUSE_COMMON_EXEC_LAYOUT_H
#define DEFUSE_COMMON_EXEC_LAYOUT_H

/*
 * The code a fork child runs between fork and exec (the clone hook, the
 * exec path, the gates: about 8 KiB), linked together at the start of the
 * text, where GNU ld gathers .text.hot.* sections.  A fork copies no
 * page-table entries of file mappings, so the child faults in each page
 * of our code it runs, the kernel mapping the 64 KiB around it
 * (fault-around): spread over the 200 KiB of text, this code cost three
 * such faults per fork; together, one (issue 11; docs/performance.md).
 * A function here that the path no longer runs costs nothing but room.
 */
#define EXEC_PATH __attribute__((section(".text.hot.defuse_exec")))

/*
 * Variables that every start or fork child writes, or reads first on a
 * page it would not otherwise touch: in .data (zeros in the file), which
 * is kept to a few hundred bytes, so that they share a page with the
 * loader's own writes (relocations, the start of .bss it clears) instead
 * of each costing a page fault per exec somewhere in 150 KiB of .bss.
 * Big arrays do not belong here: .data would outgrow the page.
 */
#define EXEC_DATA __attribute__((section(".data.defuse_exec")))

#endif
