#ifndef DEFUSE_CAPTURE_TRAMPOLINE_H
#define DEFUSE_CAPTURE_TRAMPOLINE_H

#include <stddef.h>
#include <stdint.h>
#include "capture/plan.h"

struct tramp_stats {
	uint32_t patched;	/* sites now jumping to a trampoline */
	uint32_t mismatched;	/* plan and memory disagree: left alone */
};

/*
 * Applies a plan to the code segment at `code` (of `size` bytes, currently
 * mapped read+execute): generates the trampolines near it and rewrites the
 * sites.  Returns 0, or -1 when no trampoline memory could be placed in
 * reach (the sites are then left to the SUD net).
 */
int tramp_apply(uint8_t *code, size_t size, const struct plan *plan, struct tramp_stats *st);

#endif
