/*
 * Patch plans: where the syscall sites of one code segment are and how each
 * is patched.  A plan depends only on the segment's bytes, so it is computed
 * once per object (patch.c, with a disassembler) and cached by build-id or
 * file identity (plan_cache.c); applying it (trampoline.c) checks every
 * site's bytes again.
 */
#ifndef DEFUSE_CAPTURE_PLAN_H
#define DEFUSE_CAPTURE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define SITE_WINDOW_MAX 16

/*
 * One site: a window of whole instructions, at least 5 bytes (a jmp rel32)
 * long, that contains the `syscall` instruction.  The window's instructions
 * other than `syscall` are position-independent, and no branch lands inside
 * the window except at its first byte, so they can be moved verbatim into
 * the trampoline and the window replaced by a jump to it.
 */
struct plan_site {
	uint32_t off;		/* window start, from the segment start */
	uint8_t len;		/* window length in bytes */
	uint8_t sys_off;	/* offset of the 2-byte `syscall` in the window */
	uint16_t flags;
	int32_t nr;		/* system call number set inside the window by
				   `mov $imm,%eax`, or -1 when only known at
				   run time */
	uint8_t bytes[SITE_WINDOW_MAX];	/* the window's original bytes */
};

struct plan {
	uint32_t nsites;
	uint32_t nrefused;	/* syscall instructions left to the SUD net */
	struct plan_site *sites;
};

/* The serialised form (cache files, the planner's output): header, sites. */
#define PLAN_MAGIC "DFPLAN02"

struct plan_file_header {
	char magic[8];
	uint64_t size;		/* of the code segment */
	uint32_t nsites, nrefused;
};

/*
 * Finds the sites of a code segment of `size` bytes at `code` (planner only;
 * it links capstone).  Fills *out (sites allocated with malloc).  Returns 0,
 * or -1 if the disassembler cannot be used.
 */
int plan_build(const uint8_t *code, size_t size, struct plan *out);

/*
 * Parses a serialised plan for the segment at `code` and checks every site
 * against the code in memory.  0 and *out filled (sites malloc'ed), or -1.
 */
int plan_parse(const void *buf, size_t len, const uint8_t *code, size_t size,
	       struct plan *out);

/* Cache by key (build-id or file identity, then the segment's address):
   0 on a hit, -1 on a miss.  The sites are in `room`
   when at most nroom, else allocated with malloc. */
int plan_cache_load(const char *key, const uint8_t *code, size_t size, struct plan *out,
		    struct plan_site *room, uint32_t nroom);
void plan_cache_store(const char *key, size_t size, const struct plan *p);
/*
 * Images: a segment's patched pages and trampolines kept as a file and
 * mapped (plan_cache.c).  plan_src identifies the object file.
 */
struct plan_src {
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec;
};
struct plan_image_info {
	uint32_t nsites, patched, nrefused, mismatched;
};
struct stat;
struct tramp_place;
void plan_src_from_stat(struct plan_src *src, const struct stat *st);
/*
 * Maps the image for `key` over the segment at `code` and its trampolines
 * at the image's distance: 0 and *out filled, or -1 with *remake set when
 * there is no usable image (missing or stale) and one should be made.
 */
int plan_image_map(const char *key, uint8_t *code, size_t size, const struct plan_src *src,
		   struct plan_image_info *out, int *remake);
/* Makes the image of a segment just patched with its region at pl->delta;
   objfd reads the object (file offset file_off is the segment's).  Only if
   the code in memory is the file's but for the plan's windows. */
void plan_image_store(const char *key, const uint8_t *code, size_t size, uint64_t file_off,
		      int objfd, const struct tramp_place *pl, const struct plan_image_info *info,
		      const struct plan *plan);
void plan_image_store_none(const char *key, const uint8_t *code, size_t size,
			   const struct plan_src *src);
/* Where images put the trampolines: this far below the code. */
#define PLAN_IMAGE_DELTA (-((intptr_t)1 << 30))

/* Resolves the cache directory; NULL when caching is off or impossible. */
const char *plan_cache_dir(void);

/*
 * Runs the planner program on `file` (a path, or "/proc/self/fd/N") for the
 * segment at `vaddr` of `size` bytes, and parses its output.  Raw system
 * calls only, safe in any context.  0 and *out filled, or -1.
 */
int plan_from_planner(const char *file, int fd, uint64_t vaddr, const uint8_t *code,
		      size_t size, struct plan *out);

#endif
