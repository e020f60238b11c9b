#ifndef DEFUSE_CAPTURE_TRAMPOLINE_H
#define DEFUSE_CAPTURE_TRAMPOLINE_H

#include <stddef.h>
#include <stdint.h>
#include "capture/plan.h"

struct tramp_stats {
	uint32_t patched;	/* sites now jumping to a trampoline */
	uint32_t mismatched;	/* plan and memory disagree: left alone */
};

/* The region's first page: what the trampolines read (tramp_header_fill). */
#define TRAMP_HEADER 4096

/*
 * Where the trampoline region goes.  delta (in; 0 for anywhere): the
 * region's start less the code's first page, the fixed distance that
 * makes the patched code and the trampolines the same bytes in every
 * process.  Out: at_delta says it got there; region and region_size are
 * the header page and the trampolines after it.
 */
struct tramp_place {
	intptr_t delta;
	int at_delta;
	uint8_t *region;
	size_t region_size;
};

/*
 * Applies a plan to the code segment at `code` (of `size` bytes, currently
 * mapped read+execute): generates the trampolines near it and rewrites the
 * sites.  Returns 0, or -1 when no trampoline memory could be placed in
 * reach (the sites are then left to the SUD net).
 */
int tramp_apply(uint8_t *code, size_t size, const struct plan *plan, struct tramp_stats *st,
		struct tramp_place *pl);
/* Fills a region's header page with this process's hooks and TLS offset. */
void tramp_header_fill(void *page);
/* A hash of the bytes the emitter writes (images from another emitter are stale). */
uint64_t tramp_fingerprint(void);

#endif
