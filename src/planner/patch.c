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
#include <stdio.h>
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
	int fast;		/* fast_len first, capstone for the rest */
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

/*
 * The linear sweep used to be capstone's alone, and capstone formats every
 * instruction's text (mnemonic, operands) even when only its length is
 * wanted: about 0.25 us an instruction, 87 ms for libc, most of a first
 * run with an empty plan cache.  The sweep needs only lengths, direct
 * branch targets, calls and `syscall`s, so the common encodings are
 * measured here from the opcode tables; anything else (VEX/EVEX, x87, the
 * 0f 38 / 0f 3a maps, lock, system instructions, opcodes invalid in 64-bit
 * mode) is left to capstone, instruction by instruction.  The planner's
 * check mode (DEFUSE_PLANNER_CHECK=1, tests/capture) sweeps both ways and
 * fails on any difference.
 */
enum { FAST_CALL = 1, FAST_SYSCALL = 2 };

/* ModRM (and SIB, displacement) length at p; 0 if past the end. */
static size_t modrm_len(const uint8_t *p, size_t n)
{
	uint8_t m, mod, rm;
	size_t len = 1;

	if (n < 1)
		return 0;
	m = p[0];
	mod = m >> 6;
	rm = m & 7;
	if (mod == 3)
		return 1;
	if (rm == 4) {
		if (n < 2)
			return 0;
		len++;
		if (mod == 0 && (p[1] & 7) == 5)
			len += 4;
	} else if (mod == 0 && rm == 5) {
		len += 4;	/* RIP-relative */
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2)
		len += 4;
	return len <= n ? len : 0;
}

/*
 * The length of the instruction at p (at most n bytes), or 0 to let
 * capstone decide.  *flags: FAST_CALL, FAST_SYSCALL.
 */
static size_t fast_len(const uint8_t *p, size_t n, int *flags)
{
	size_t i = 0, m, imm = 0;
	int opsize16 = 0, rexw = 0, other_prefix = 0, has_modrm = 0, map0f = 0;
	uint8_t op;

	*flags = 0;
	if (n > 15)
		n = 15;
	for (;; i++) {
		if (i >= n)
			return 0;
		if (p[i] == 0x66)
			opsize16 = 1;
		else if (p[i] == 0x2e || p[i] == 0x3e || p[i] == 0x26 || p[i] == 0x36 ||
			 p[i] == 0x64 || p[i] == 0x65 || p[i] == 0xf2 || p[i] == 0xf3)
			other_prefix = 1;
		else if (p[i] == 0x67 || p[i] == 0xf0)
			return 0;	/* address size, lock: capstone's */
		else
			break;
	}
	if ((p[i] & 0xf0) == 0x40) {
		rexw = (p[i] >> 3) & 1;
		if (++i >= n)
			return 0;
		if ((p[i] & 0xf0) == 0x40 || p[i] == 0x66 || p[i] == 0x67 || p[i] == 0xf0 ||
		    p[i] == 0xf2 || p[i] == 0xf3 || p[i] == 0x2e || p[i] == 0x3e ||
		    p[i] == 0x26 || p[i] == 0x36 || p[i] == 0x64 || p[i] == 0x65)
			return 0;
	}
	if (rexw)
		opsize16 = 0;	/* REX.W wins: immediates stay 4 bytes */
	op = p[i++];
	if (op == 0x0f) {
		if (i >= n)
			return 0;
		op = p[i++];
		map0f = 1;
		if (op == 0x05) {
			if (opsize16 || other_prefix || rexw || i != 2)
				return 0;
			*flags = FAST_SYSCALL;
			return 2;
		}
		if (op == 0x0b || op == 0x31 || op == 0xa2 || (op >= 0xc8 && op <= 0xcf))
			return i;
		/* endbr64/endbr32 exactly; the other hint forms are capstone's. */
		if (op == 0x1e)
			return i == 3 && p[0] == 0xf3 && (p[3] == 0xfa || p[3] == 0xfb) ? 4 : 0;
		if ((op >= 0x10 && op <= 0x17) || op == 0x1f ||
		    (op == 0x18 && i < n && ((p[i] >> 3) & 7) < 4) ||
		    (op >= 0x28 && op <= 0x2f) || (op >= 0x40 && op <= 0x6f) ||
		    (op >= 0x74 && op <= 0x76) || op == 0x7e || op == 0x7f ||
		    (op >= 0x90 && op <= 0x9f) || op == 0xa3 || op == 0xa5 || op == 0xab ||
		    op == 0xad || op == 0xaf || op == 0xb0 || op == 0xb1 || op == 0xb3 ||
		    op == 0xb6 || op == 0xb7 || (op >= 0xbb && op <= 0xbf) || op == 0xc0 ||
		    op == 0xc1 || op == 0xc3 || (op >= 0xd1 && op <= 0xfe)) {
			has_modrm = 1;
		} else if (op == 0x70 || op == 0xa4 || op == 0xac || op == 0xc2 ||
			   (op >= 0xc4 && op <= 0xc6) ||
			   (op == 0xba && i < n && ((p[i] >> 3) & 7) >= 4)) {
			has_modrm = 1;
			imm = 1;
		} else if (op >= 0x80 && op <= 0x8f) {
			if (opsize16)
				return 0;
			imm = 4;
		} else {
			return 0;
		}
	} else if (op < 0x40 && (op & 7) < 4) {
		has_modrm = 1;			/* add/or/adc/sbb/and/sub/xor/cmp */
	} else if (op < 0x40 && (op & 7) == 4) {
		imm = 1;
	} else if (op < 0x40 && (op & 7) == 5) {
		imm = opsize16 ? 2 : 4;
	} else if (op < 0x40) {
		return 0;			/* invalid in 64-bit mode, or a prefix */
	} else if (op >= 0x50 && op <= 0x5f) {
		;
	} else if (op == 0x63 || (op >= 0x84 && op <= 0x8e && op != 0x8f) ||
		   (op >= 0xd0 && op <= 0xd3)) {
		has_modrm = 1;
	} else if (op == 0x68 || op == 0xa9) {
		imm = opsize16 ? 2 : 4;
	} else if (op == 0x69 || op == 0x81 || op == 0xc7) {
		has_modrm = 1;
		imm = opsize16 ? 2 : 4;
	} else if (op == 0x6a || (op >= 0x70 && op <= 0x7f) || op == 0xa8 ||
		   (op >= 0xb0 && op <= 0xb7) || op == 0xcd || op == 0xeb ||
		   (op >= 0xe0 && op <= 0xe7)) {
		imm = 1;
	} else if (op == 0x6b || op == 0x80 || op == 0x83 || op == 0xc0 || op == 0xc1 ||
		   op == 0xc6) {
		has_modrm = 1;
		imm = 1;
	} else if ((op >= 0x90 && op <= 0x99) || (op >= 0x9c && op <= 0x9f) ||
		   (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf) || op == 0xc3 ||
		   op == 0xc9 || op == 0xcb || op == 0xcc || op == 0xcf || op == 0xd7 ||
		   (op >= 0xec && op <= 0xef) || op == 0xf1 || op == 0xf4 || op == 0xf5 ||
		   (op >= 0xf8 && op <= 0xfd) || (op >= 0x6c && op <= 0x6f)) {
		;
	} else if (op >= 0xb8 && op <= 0xbf) {
		imm = rexw ? 8 : opsize16 ? 2 : 4;
	} else if (op == 0xc2 || op == 0xca) {
		imm = 2;
	} else if (op == 0xc8) {
		imm = 3;
	} else if (op == 0xe8 || op == 0xe9) {
		if (opsize16)
			return 0;
		imm = 4;
		if (op == 0xe8)
			*flags = FAST_CALL;
	} else if (op == 0xf6 || op == 0xf7 || op == 0xfe || op == 0xff) {
		uint8_t reg;

		if (i >= n)
			return 0;
		reg = (p[i] >> 3) & 7;
		has_modrm = 1;
		if (op == 0xf6 && reg < 2)
			imm = 1;
		else if (op == 0xf7 && reg < 2)
			imm = opsize16 ? 2 : 4;
		else if (op == 0xfe && reg > 1)
			return 0;
		else if (op == 0xff && (reg == 3 || reg == 5 || reg == 7))
			return 0;	/* far call/jmp, invalid */
		else if (op == 0xff && reg == 2)
			*flags = FAST_CALL;
	} else {
		return 0;
	}
	if (has_modrm) {
		uint8_t reg;

		if (i >= n)
			return 0;
		/* Group opcodes whose reg field picks an invalid or rarely
		   decoded form: capstone's call. */
		reg = (p[i] >> 3) & 7;
		if (!map0f && (((op == 0xc6 || op == 0xc7) && reg) ||
		    ((op == 0xf6 || op == 0xf7) && reg == 1) ||
		    ((op == 0xc0 || op == 0xc1 || (op >= 0xd0 && op <= 0xd3)) && reg == 6) ||
		    op == 0x8c || op == 0x8e || (op == 0x8d && (p[i] >> 6) == 3)))
			return 0;
		/* Memory-only forms given a register, forms that need a
		   mandatory prefix: capstone's call too. */
		if (map0f && (((p[i] >> 6) == 3 && (op == 0xc3 || op == 0x2b || op == 0xe7 ||
						  op == 0x13 || op == 0x17 || op == 0x18 || op == 0x1f)) ||
			      op == 0xd0 || op == 0xd6 || op == 0xe6 || op == 0xf0 ||
			      op == 0x6c || op == 0x6d ||
			      ((p[i] >> 6) != 3 && (op == 0xc5 || op == 0x50 || op == 0xd7 ||
						   op == 0xf7))))
			return 0;
		m = modrm_len(p + i, n - i);
		if (!m)
			return 0;
		i += m;
	}
	i += imm;
	return i <= n ? i : 0;
}

static int add_syscall(struct sweep *s, size_t *scap)
{
	if (s->nsyscalls == *scap) {
		*scap *= 2;
		s->syscalls = realloc(s->syscalls, *scap * sizeof(*s->syscalls));
		if (!s->syscalls)
			return -1;
	}
	s->syscalls[s->nsyscalls++] = s->ninsn;
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
		int is_call, flags;
		size_t len = s->fast ? fast_len(p, left, &flags) : 0;

		if (len) {
			if (s->ninsn == cap) {
				cap *= 2;
				s->insn_off = realloc(s->insn_off, cap * sizeof(*s->insn_off));
				s->insn_len = realloc(s->insn_len, cap);
				if (!s->insn_off || !s->insn_len)
					return -1;
			}
			s->insn_off[s->ninsn] = addr;
			s->insn_len[s->ninsn] = len;
			if ((flags & FAST_SYSCALL) && add_syscall(s, &scap))
				return -1;
			s->ninsn++;
			if (direct_target(p, len, addr + len, &t, &is_call))
				mark(s, t);
			if (flags & FAST_CALL)
				mark(s, addr + len);
			p += len, left -= len, addr += len;
			continue;
		}
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
		if (insn->id == X86_INS_SYSCALL && add_syscall(s, &scap))
			return -1;
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

static void sweep_free(struct sweep *s)
{
	free(s->insn_off);
	free(s->insn_len);
	free(s->target);
	free(s->syscalls);
}

/*
 * Check mode: the same segment swept by capstone alone must give the same
 * instructions, branch targets and `syscall`s.  Prints the first
 * difference; -1 if any.
 */
static int sweep_check(csh h, const struct sweep *fast)
{
	struct sweep slow = { .code = fast->code, .size = fast->size };
	int bad = 0;

	if (sweep(h, &slow)) {
		sweep_free(&slow);
		return -1;
	}
	for (size_t i = 0; i < fast->ninsn && i < slow.ninsn && !bad; i++)
		if (fast->insn_off[i] != slow.insn_off[i] || fast->insn_len[i] != slow.insn_len[i]) {
			uint32_t at = fast->insn_off[i] < slow.insn_off[i] ? fast->insn_off[i] :
				      slow.insn_off[i];

			fprintf(stderr, "defuse-planner check: instruction at %#x: %u bytes, "
				"capstone: %u bytes at %#x; bytes:", fast->insn_off[i],
				fast->insn_len[i], slow.insn_len[i], slow.insn_off[i]);
			for (uint32_t k = at; k < at + 12 && k < fast->size; k++)
				fprintf(stderr, " %02x", fast->code[k]);
			fputc('\n', stderr);
			bad = 1;
		}
	if (!bad && (fast->ninsn != slow.ninsn || fast->nsyscalls != slow.nsyscalls ||
		     memcmp(fast->syscalls, slow.syscalls, fast->nsyscalls * sizeof(*fast->syscalls)) ||
		     memcmp(fast->target, slow.target, fast->size / 8 + 1))) {
		fprintf(stderr, "defuse-planner check: instructions %zu/%zu, syscalls %zu/%zu, "
			"or branch targets differ\n", fast->ninsn, slow.ninsn, fast->nsyscalls,
			slow.nsyscalls);
		bad = 1;
	}
	sweep_free(&slow);
	return bad ? -1 : 0;
}

int plan_build(const uint8_t *code, size_t size, struct plan *out)
{
	struct sweep s = { .code = code, .size = size, .fast = 1 };
	const char *check = getenv("DEFUSE_PLANNER_CHECK");
	csh h;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -1;
	if (sweep(h, &s))
		goto done;
	if (check && *check == '1' && sweep_check(h, &s))
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
	sweep_free(&s);
	cs_close(&h);
	return ret;
}
