/*
 * Finding syscall sites, with capstone.
 *
 * A linear sweep decodes the whole segment once without operand details
 * (fast), recording instruction boundaries, every direct branch and call
 * target, and every return address (the instruction after a call).  Then,
 * for each `syscall` instruction, the smallest window of neighbouring
 * instructions that can be moved out is chosen, decoding just those again
 * with details to check that they do not depend on where they execute.
 * A `syscall` with no safe window is left alone: the SUD net catches it.
 *
 * This runs once per object (the result is cached by build-id) and never on
 * a hot path.
 */
#include <stdlib.h>
#include <string.h>
#include <capstone/capstone.h>
#include "capture/plan.h"

struct sweep {
	const uint8_t *code;
	size_t size;
	uint32_t *insn_off;	/* start of every instruction, ascending */
	uint8_t *insn_len;
	size_t ninsn;
	uint8_t *target;	/* bitmap: a branch may land at this offset */
	uint32_t *syscalls;	/* indexes into insn_off of `syscall`s */
	size_t nsyscalls;
};

static void mark(struct sweep *s, uint64_t off)
{
	if (off < s->size)
		s->target[off >> 3] |= 1u << (off & 7);
}

static int is_target(const struct sweep *s, uint64_t off)
{
	return off < s->size && (s->target[off >> 3] >> (off & 7)) & 1;
}

/*
 * The target of a direct jump, jcc, loop or call, decoded from the bytes
 * (cheaper than capstone's detail mode).  Returns 0 if the instruction has
 * none; sets *is_call.
 */
static int direct_target(const uint8_t *b, size_t n, uint64_t next, uint64_t *t,
			 int *is_call)
{
	size_t i = 0;

	*is_call = 0;
	while (i < n && (b[i] == 0xf0 || b[i] == 0xf2 || b[i] == 0xf3 ||
			 b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e ||
			 b[i] == 0x26 || b[i] == 0x64 || b[i] == 0x65 ||
			 b[i] == 0x66 || b[i] == 0x67 || (b[i] & 0xf0) == 0x40))
		i++;
	if (i >= n)
		return 0;
	if (b[i] == 0xe8 || b[i] == 0xe9 || (b[i] == 0x0f && i + 1 < n &&
					       (b[i + 1] & 0xf0) == 0x80)) {
		int32_t rel;

		if (n < 4)
			return 0;
		memcpy(&rel, b + n - 4, 4);
		*t = next + rel;
		*is_call = b[i] == 0xe8;
		return 1;
	}
	if (b[i] == 0xeb || (b[i] & 0xf0) == 0x70 || (b[i] >= 0xe0 && b[i] <= 0xe3)) {
		*t = next + (int8_t)b[n - 1];
		return 1;
	}
	return 0;
}

static int sweep(csh h, struct sweep *s)
{
	size_t cap = s->size / 3 + 16, scap = 64;
	cs_insn *insn = cs_malloc(h);
	const uint8_t *p = s->code;
	size_t left = s->size;
	uint64_t addr = 0;

	s->insn_off = malloc(cap * sizeof(*s->insn_off));
	s->insn_len = malloc(cap);
	s->target = calloc(s->size / 8 + 1, 1);
	s->syscalls = malloc(scap * sizeof(*s->syscalls));
	if (!insn || !s->insn_off || !s->insn_len || !s->target || !s->syscalls)
		return -1;
	while (left) {
		uint64_t t;
		int is_call;

		if (!cs_disasm_iter(h, &p, &left, &addr, insn)) {
			/* Not code (padding, data): step one byte and resync. */
			p++, left--, addr++;
			continue;
		}
		if (s->ninsn == cap) {
			cap *= 2;
			s->insn_off = realloc(s->insn_off, cap * sizeof(*s->insn_off));
			s->insn_len = realloc(s->insn_len, cap);
			if (!s->insn_off || !s->insn_len)
				return -1;
		}
		s->insn_off[s->ninsn] = insn->address;
		s->insn_len[s->ninsn] = insn->size;
		if (insn->id == X86_INS_SYSCALL) {
			if (s->nsyscalls == scap) {
				scap *= 2;
				s->syscalls = realloc(s->syscalls, scap * sizeof(*s->syscalls));
				if (!s->syscalls)
					return -1;
			}
			s->syscalls[s->nsyscalls++] = s->ninsn;
		}
		s->ninsn++;
		if (direct_target(insn->bytes, insn->size, insn->address + insn->size,
				  &t, &is_call))
			mark(s, t);
		if (insn->id == X86_INS_CALL)
			mark(s, insn->address + insn->size);
	}
	cs_free(insn, 1);
	return 0;
}

/* May this instruction run at another address, unchanged? */
static int movable(csh h, const struct sweep *s, size_t i)
{
	const uint8_t *p = s->code + s->insn_off[i];
	size_t n = s->insn_len[i];
	uint64_t a = s->insn_off[i];
	cs_insn *insn = cs_malloc(h);
	int ok = 0;

	if (!insn)
		return 0;
	if (!cs_disasm_iter(h, &p, &n, &a, insn) || !insn->detail)
		goto out;
	for (int g = 0; g < insn->detail->groups_count; g++) {
		switch (insn->detail->groups[g]) {
		case CS_GRP_JUMP: case CS_GRP_CALL: case CS_GRP_RET:
		case CS_GRP_INT: case CS_GRP_IRET: case CS_GRP_BRANCH_RELATIVE:
			goto out;
		}
	}
	if (insn->id == X86_INS_SYSCALL || insn->id == X86_INS_SYSENTER)
		goto out;
	for (int o = 0; o < insn->detail->x86.op_count; o++) {
		const cs_x86_op *op = &insn->detail->x86.operands[o];

		if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP)
			goto out;
	}
	for (int r = 0; r < insn->detail->regs_read_count; r++)
		if (insn->detail->regs_read[r] == X86_REG_RIP)
			goto out;
	ok = 1;
out:
	cs_free(insn, 1);
	return ok;
}

/* `mov $imm32,%eax` or `mov $imm32,%rax`: the system call number. */
static int32_t mov_eax_imm(const uint8_t *b, size_t n)
{
	int32_t v;

	if (n == 5 && b[0] == 0xb8) {
		memcpy(&v, b + 1, 4);
		return v;
	}
	if (n == 7 && b[0] == 0x48 && b[1] == 0xc7 && b[2] == 0xc0) {
		memcpy(&v, b + 3, 4);
		return v;
	}
	return -1;
}

/*
 * The smallest window around syscall instruction k: tries windows of 1 to 6
 * instructions, preferring instructions before the syscall (they usually
 * set its number, which lets the trampoline skip the run-time checks).
 */
static int choose_window(csh h, const struct sweep *s, size_t k, struct plan_site *site)
{
	for (size_t total = 1; total <= 6; total++) {
		for (size_t pre = total; pre-- > 0;) {
			size_t post = total - 1 - pre, first, last, len;
			int ok = 1;

			if (pre > k || k + post >= s->ninsn)
				continue;
			first = k - pre;
			last = k + post;
			len = s->insn_off[last] + s->insn_len[last] - s->insn_off[first];
			if (len < 5 || len > SITE_WINDOW_MAX)
				continue;
			for (size_t i = first; i <= last && ok; i++) {
				if (i > first && is_target(s, s->insn_off[i]))
					ok = 0;
				else if (i + 1 <= last &&
					 s->insn_off[i] + s->insn_len[i] != s->insn_off[i + 1])
					ok = 0;	/* a gap: the sweep resynced here */
				else if (i != k && !movable(h, s, i))
					ok = 0;
			}
			if (!ok)
				continue;
			site->off = s->insn_off[first];
			site->len = len;
			site->sys_off = s->insn_off[k] - s->insn_off[first];
			site->flags = 0;
			site->nr = -1;
			if (pre)
				site->nr = mov_eax_imm(s->code + s->insn_off[k - 1],
						       s->insn_len[k - 1]);
			memcpy(site->bytes, s->code + site->off, len);
			return 0;
		}
	}
	return -1;
}

int plan_build(const uint8_t *code, size_t size, struct plan *out)
{
	struct sweep s = { .code = code, .size = size };
	csh h;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -1;
	if (sweep(h, &s))
		goto done;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	out->sites = calloc(s.nsyscalls ? s.nsyscalls : 1, sizeof(*out->sites));
	if (!out->sites)
		goto done;
	for (size_t i = 0; i < s.nsyscalls; i++) {
		struct plan_site *site = &out->sites[out->nsites];
		const struct plan_site *prev = out->nsites ? site - 1 : NULL;

		/* Two syscalls close together: windows must not overlap. */
		if (choose_window(h, &s, s.syscalls[i], site) == 0 &&
		    (!prev || site->off >= prev->off + prev->len))
			out->nsites++;
		else
			out->nrefused++;
	}
	ret = 0;
done:
	free(s.insn_off);
	free(s.insn_len);
	free(s.target);
	free(s.syscalls);
	cs_close(&h);
	return ret;
}
