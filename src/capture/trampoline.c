/*
 * Trampolines: generated code that stands in for a patched syscall site.
 *
 * The site's window (plan.h) is overwritten with `jmp trampoline` (and int3
 * filler, so a wrong jump into the window traps loudly instead of running
 * garbage).  The trampoline runs the window's other instructions where they
 * were, and in place of the `syscall`:
 *
 *   ordinary call:  lea -128(%rsp),%rsp      keep the red zone intact
 *                   movabs $defuse_dispatch,%r11
 *                   call *hook_stub(%rip)    stubs.S: C call, regs kept
 *                   lea 128(%rsp),%rsp
 *
 *   clone family:   hook before; selector := ALLOW; syscall inline;
 *                   selector := BLOCK; then a hook in the child (which
 *                   arms SUD there) or in the parent.  Inline because the
 *                   child starts on its own stack and must come back to
 *                   exactly this code with the program's registers.
 *
 *   rt_sigreturn:   hook, then jmp to the gate's rt_sigreturn with %rsp
 *                   untouched, since it must point at the signal frame.
 *
 * Sites whose number is not a constant in the window check %rax at run time
 * and pick one of the three.  Each object gets its own trampoline region
 * within +-2 GiB so the jumps can be rel32.
 *
 * The trampolines hold no absolute address and nothing else that differs
 * between processes: the hooks and the selector's TLS offset are read
 * through the region's first page (its header), and every other reference
 * is rel32.  So with the region at a fixed distance from the code, the
 * patched code and the trampolines are the same bytes in every process,
 * and the plan cache can keep them as a file to be mapped (plan_cache.c,
 * "images") instead of patching pages in each one.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include "capture/capture.h"
#include "capture/plan.h"
#include "capture/trampoline.h"
#include "common/util.h"
#include "kernel/sys.h"

#define TRAMP_MAX 320		/* bytes one trampoline may need, at most */

/* The header page's slots (8 bytes each), filled in every process. */
enum {
	HDR_TRAMP_HOOK, HDR_SIGRETURN_GATE, HDR_DISPATCH, HDR_SIGRETURN_HOOK,
	HDR_CLONE_BEFORE, HDR_CLONE_CHILD, HDR_CLONE_PARENT, HDR_SELECTOR_TPOFF,
};

struct emit {
	uint8_t *p;
};

static void b(struct emit *e, const void *bytes, size_t n)
{
	memcpy(e->p, bytes, n);
	e->p += n;
}

static void b1(struct emit *e, uint8_t v) { *e->p++ = v; }

static void b4(struct emit *e, int32_t v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

/* rel32 from the end of the instruction being emitted (at e->p + 4). */
static void rel32_to(struct emit *e, const void *target)
{
	b4(e, (int32_t)((const uint8_t *)target - (e->p + 4)));
}

/* Patchable forward branch: returns where its rel32 goes. */
static uint8_t *fwd_rel32(struct emit *e)
{
	uint8_t *at = e->p;

	b4(e, 0);
	return at;
}

static void resolve(uint8_t *at, const uint8_t *target)
{
	int32_t rel = (int32_t)(target - (at + 4));

	memcpy(at, &rel, 4);
}

struct region {
	uint8_t *base;
	size_t size;
	uint8_t *next;
};

static const uint8_t *slot(const struct region *r, int i)
{
	return r->base + 8 * i;
}

/* mov hdr[i](%rip),%r11 */
static void emit_load_r11(struct emit *e, const struct region *r, int i)
{
	b1(e, 0x4c), b1(e, 0x8b), b1(e, 0x1d), rel32_to(e, slot(r, i));
}

/*
 * Calls the hook in header slot i with &sc, through stubs.S, below the red
 * zone.  %r11 is free: the `syscall` this stands in for clobbers it.
 */
static void emit_hook(struct emit *e, const struct region *r, int i)
{
	static const uint8_t lea_down[] = { 0x48, 0x8d, 0x64, 0x24, 0x80 };
	static const uint8_t lea_up[] = { 0x48, 0x8d, 0xa4, 0x24, 0x80, 0x00, 0x00, 0x00 };

	b(e, lea_down, sizeof(lea_down));
	emit_load_r11(e, r, i);
	b1(e, 0xff), b1(e, 0x15), rel32_to(e, slot(r, HDR_TRAMP_HOOK));	/* call *hdr(%rip) */
	b(e, lea_up, sizeof(lea_up));
}

/* The calling thread's SUD selector := v: movb $v,%fs:(%r11), the offset
   from the header (it depends on the program's TLS layout). */
static void emit_selector(struct emit *e, const struct region *r, uint8_t v)
{
	emit_load_r11(e, r, HDR_SELECTOR_TPOFF);
	b1(e, 0x64), b1(e, 0x41), b1(e, 0xc6), b1(e, 0x03), b1(e, v);
}

void tramp_header_fill(void *page)
{
	uint64_t *h = page;

	h[HDR_TRAMP_HOOK] = (uintptr_t)defuse_tramp_hook;
	h[HDR_SIGRETURN_GATE] = (uintptr_t)defuse_gate_forward_sigreturn;
	h[HDR_DISPATCH] = (uintptr_t)defuse_dispatch;
	h[HDR_SIGRETURN_HOOK] = (uintptr_t)defuse_sigreturn_hook;
	h[HDR_CLONE_BEFORE] = (uintptr_t)defuse_clone_before;
	h[HDR_CLONE_CHILD] = (uintptr_t)defuse_clone_child;
	h[HDR_CLONE_PARENT] = (uintptr_t)defuse_clone_parent;
	h[HDR_SELECTOR_TPOFF] = (uint64_t)capture_g.selector_tpoff;
}

static int is_clone_nr(long nr)
{
	return nr == SYS_clone || nr == SYS_clone3 || nr == SYS_fork || nr == SYS_vfork;
}

/* cmp $nr,%rax ; je <later>.  Returns the je's rel32 slot. */
static uint8_t *emit_cmp_je(struct emit *e, int32_t nr)
{
	if (nr < 128) {
		b1(e, 0x48), b1(e, 0x83), b1(e, 0xf8), b1(e, (uint8_t)nr);
	} else {
		b1(e, 0x48), b1(e, 0x3d), b4(e, nr);
	}
	b1(e, 0x0f), b1(e, 0x84);
	return fwd_rel32(e);
}

/* Emits one trampoline; returns its start. */
static uint8_t *emit_site(struct region *r, const struct plan_site *s, uint8_t *site)
{
	struct emit e = { r->next };
	uint8_t *start = e.p, *post_slot[3], *sig_je = NULL, *clone_je[4];
	int npost = 0, nclone = 0;
	const uint8_t *post = s->bytes + s->sys_off + 2;
	size_t npostb = s->len - s->sys_off - 2;
	uint8_t *post_at;

	b(&e, s->bytes, s->sys_off);		/* the window's leading instructions */

	if (s->nr < 0) {
		sig_je = emit_cmp_je(&e, SYS_rt_sigreturn);
		clone_je[nclone++] = emit_cmp_je(&e, SYS_clone);
		clone_je[nclone++] = emit_cmp_je(&e, SYS_clone3);
		clone_je[nclone++] = emit_cmp_je(&e, SYS_fork);
		clone_je[nclone++] = emit_cmp_je(&e, SYS_vfork);
	}
	if (s->nr < 0 || (!is_clone_nr(s->nr) && s->nr != SYS_rt_sigreturn)) {
		emit_hook(&e, r, HDR_DISPATCH);
		b1(&e, 0xe9), post_slot[npost++] = fwd_rel32(&e);
	}
	if (s->nr < 0 || s->nr == SYS_rt_sigreturn) {
		if (sig_je)
			resolve(sig_je, e.p);
		emit_hook(&e, r, HDR_SIGRETURN_HOOK);
		b1(&e, 0xff), b1(&e, 0x25), rel32_to(&e, slot(r, HDR_SIGRETURN_GATE));	/* jmp *hdr */
	}
	if (s->nr < 0 || is_clone_nr(s->nr)) {
		uint8_t *jnz;

		for (int i = 0; i < nclone; i++)
			resolve(clone_je[i], e.p);
		emit_hook(&e, r, HDR_CLONE_BEFORE);
		emit_selector(&e, r, SYSCALL_DISPATCH_FILTER_ALLOW);
		b1(&e, 0x0f), b1(&e, 0x05);				/* syscall */
		emit_selector(&e, r, SYSCALL_DISPATCH_FILTER_BLOCK);
		b1(&e, 0x48), b1(&e, 0x85), b1(&e, 0xc0);		/* test %rax,%rax */
		b1(&e, 0x0f), b1(&e, 0x85), jnz = fwd_rel32(&e);	/* jnz parent */
		emit_hook(&e, r, HDR_CLONE_CHILD);
		b1(&e, 0xe9), post_slot[npost++] = fwd_rel32(&e);
		resolve(jnz, e.p);
		emit_hook(&e, r, HDR_CLONE_PARENT);
		b1(&e, 0xe9), post_slot[npost++] = fwd_rel32(&e);
	}

	post_at = e.p;
	for (int i = 0; i < npost; i++)
		resolve(post_slot[i], post_at);
	b(&e, post, npostb);			/* the window's trailing instructions */
	b1(&e, 0xe9), rel32_to(&e, site + s->len);	/* back after the window */

	r->next = e.p;
	return start;
}

/* Can every byte of [lo, hi) jump to every byte of [a, b) with a rel32? */
static int in_reach(uintptr_t lo, uintptr_t hi, uintptr_t a, uintptr_t b)
{
	const uintptr_t max = 0x7ff00000;	/* 2 GiB less a margin */

	return (a >= lo ? b - lo : hi - a) < max;
}

/* Up to this size (the vDSO's region) a region is written whole: its
   pages are populated by the mmap, not faulted in one by one. */
#define REGION_POPULATE (4 * 4096)

static int region_at(struct region *r, uintptr_t at, size_t size)
{
	long p = sys6(SYS_mmap, at, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE |
		      (size <= REGION_POPULATE ? MAP_POPULATE : 0), -1, 0);

	if (sys_failed(p))
		return -1;
	if ((uintptr_t)p != at) {	/* old kernels ignore the flag */
		sys2(SYS_munmap, p, size);
		return -1;
	}
	r->base = (uint8_t *)p;
	r->size = size;
	r->next = r->base + TRAMP_HEADER;
	return 0;
}

/*
 * A region within rel32 reach of [lo, hi): at `want` if not 0 and free,
 * else as close as a free address allows: tried 1 MiB apart, alternately
 * below and above the code.
 */
static int region_alloc(struct region *r, uintptr_t lo, uintptr_t hi, size_t size,
			uintptr_t want)
{
	const uintptr_t step = 1 << 20;

	size = (size + 4095) & ~4095UL;
	if (want && in_reach(lo, hi, want, want + size) && region_at(r, want, size) == 0)
		return 0;
	for (uintptr_t d = step; d < 0x80000000UL; d += step) {
		uintptr_t cand[2] = { (lo & ~4095UL) - d - size, ((hi + 4095) & ~4095UL) + d };

		for (int i = 0; i < 2; i++) {
			/* i == 0 wrapped below address 0, or out of reach. */
			if (cand[i] < 0x10000 || (i == 0 && cand[i] > lo) ||
			    !in_reach(lo, hi, cand[i], cand[i] + size))
				continue;
			if (region_at(r, cand[i], size) == 0)
				return 0;
		}
	}
	return -1;
}

/*
 * What the emitter writes, reduced to 64 bits: the trampolines of a few
 * made-up sites covering every kind.  A cached image made by an emitter
 * that writes other bytes (another DEFUSE version) is not used.
 */
uint64_t tramp_fingerprint(void)
{
	static const struct plan_site sites[] = {
		{ .len = 5, .sys_off = 2, .nr = -1, .bytes = { 0x89, 0xf0, 0x0f, 0x05, 0x90 } },
		{ .len = 7, .sys_off = 5, .nr = SYS_getppid,
		  .bytes = { 0xb8, SYS_getppid, 0, 0, 0, 0x0f, 0x05 } },
		{ .len = 7, .sys_off = 5, .nr = SYS_clone,
		  .bytes = { 0xb8, SYS_clone, 0, 0, 0, 0x0f, 0x05 } },
		{ .len = 7, .sys_off = 5, .nr = SYS_rt_sigreturn,
		  .bytes = { 0xb8, SYS_rt_sigreturn, 0, 0, 0, 0x0f, 0x05 } },
	};
	uint8_t buf[128 + 4 * TRAMP_MAX + 64];
	struct region r = { buf, sizeof(buf), buf + 128 };
	for (size_t i = 0; i < sizeof(sites) / sizeof(sites[0]); i++)
		emit_site(&r, &sites[i], buf + sizeof(buf) - 16);
	return d_fnv1a(D_FNV1A_INIT ^ TRAMP_HEADER, buf + 128, (size_t)(r.next - (buf + 128)));
}

int tramp_apply(uint8_t *code, size_t size, const struct plan *plan, struct tramp_stats *st,
		struct tramp_place *pl)
{
	struct region r;
	uintptr_t page_lo = (uintptr_t)code & ~4095UL;
	uintptr_t page_hi = ((uintptr_t)code + size + 4095) & ~4095UL;
	uintptr_t used_end;
	uint8_t **targets, *few[32];
	uint32_t i;
	int writable;
	long mem = -1;

	memset(st, 0, sizeof(*st));
	if (pl)
		pl->at_delta = 0;
	if (!plan->nsites)
		return 0;
	if (region_alloc(&r, (uintptr_t)code, (uintptr_t)code + size,
			 TRAMP_HEADER + (size_t)plan->nsites * TRAMP_MAX,
			 pl && pl->delta ? page_lo + pl->delta : 0))
		return -1;
	tramp_header_fill(r.base);

	/* Few sites (the vDSO's): no mapping for the list. */
	targets = plan->nsites <= 32 ? few : (uint8_t **)sys6(SYS_mmap, 0,
			plan->nsites * sizeof(*targets), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_failed((long)targets))
		return -1;
	for (i = 0; i < plan->nsites; i++) {
		const struct plan_site *s = &plan->sites[i];

		targets[i] = NULL;
		if (s->off + s->len > size || memcmp(code + s->off, s->bytes, s->len)) {
			st->mismatched++;
			continue;
		}
		targets[i] = emit_site(&r, s, code + s->off);
	}
	/* The room no trampoline needed goes back; what is left is the
	   region an image of this code maps (plan_cache.c). */
	used_end = ((uintptr_t)r.next + 4095) & ~4095UL;
	if (used_end < (uintptr_t)r.base + r.size) {
		sys2(SYS_munmap, used_end, (uintptr_t)r.base + r.size - used_end);
		r.size = used_end - (uintptr_t)r.base;
	}
	/* The header read-only with the trampolines, in one call. */
	sys3(SYS_mprotect, r.base, r.size, PROT_READ | PROT_EXEC);
	if (pl) {
		pl->at_delta = pl->delta && (uintptr_t)r.base == page_lo + pl->delta;
		pl->region = r.base;
		pl->region_size = r.size;
	}

	/*
	 * Code pages are made writable for the moment of patching.  Where the
	 * kernel refuses (the vDSO), the writes go through /proc/self/mem,
	 * which copies the page on write as a debugger's breakpoint would.
	 */
	writable = !sys_failed(sys3(SYS_mprotect, page_lo, page_hi - page_lo,
				    PROT_READ | PROT_WRITE | PROT_EXEC));
	if (!writable) {
		mem = sys3(SYS_open, "/proc/self/mem", O_RDWR | O_CLOEXEC, 0);
		if (sys_failed(mem))
			goto out;
	}
	for (i = 0; i < plan->nsites; i++) {
		const struct plan_site *s = &plan->sites[i];
		uint8_t *site = code + s->off, jmp[SITE_WINDOW_MAX];
		int32_t rel;

		if (!targets[i])
			continue;
		rel = (int32_t)(targets[i] - (site + 5));
		jmp[0] = 0xe9;
		memcpy(jmp + 1, &rel, 4);
		memset(jmp + 5, 0xcc, s->len - 5);
		if (writable)
			memcpy(site, jmp, s->len);
		else if (sys4(SYS_pwrite64, mem, jmp, s->len, (long)site) != s->len)
			continue;
		st->patched++;
	}
	if (writable)
		sys3(SYS_mprotect, page_lo, page_hi - page_lo, PROT_READ | PROT_EXEC);
	else
		sys1(SYS_close, mem);
out:
	if (targets != few)
		sys2(SYS_munmap, targets, plan->nsites * sizeof(*targets));
	return 0;
}
