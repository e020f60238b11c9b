/*
 * The formatter of fmt.h.  No libc, no floating point: it runs inside
 * captured system calls.
 */
#include "common/fmt.h"

#include "common/util.h"

void fmt_init(struct fmt *f, char *buf, size_t cap)
{
	f->buf = buf;
	f->cap = cap;
	f->len = 0;
	f->truncated = 0;
	if (cap)
		buf[0] = '\0';
}

/* Bytes that may still be appended, keeping one for the terminator. */
static size_t room(const struct fmt *f)
{
	return f->cap ? f->cap - 1 - f->len : 0;
}

/*
 * Once something has been dropped nothing more is appended, so the text is
 * always a clean prefix of what was asked for.
 */
void fmt_strn(struct fmt *f, const char *s, size_t n)
{
	size_t r = room(f);

	if (f->truncated)
		return;
	if (n > r) {
		n = r;
		f->truncated = 1;
	}
	if (n) {
		memcpy(f->buf + f->len, s, n);
		f->len += n;
	}
}

void fmt_str(struct fmt *f, const char *s)
{
	fmt_strn(f, s, d_strlen(s));
}

void fmt_char(struct fmt *f, char c)
{
	fmt_strn(f, &c, 1);
}

void fmt_repeat(struct fmt *f, char c, size_t n)
{
	while (n--)
		fmt_char(f, c);
}

/* Digits of v in `base`, most significant first, with a prefix. */
static void fmt_base(struct fmt *f, const char *prefix, unsigned long v,
		     unsigned base)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	fmt_str(f, prefix);
	fmt_strn(f, tmp + i, sizeof(tmp) - i);
}

void fmt_udec(struct fmt *f, unsigned long v)
{
	fmt_base(f, "", v, 10);
}

void fmt_dec(struct fmt *f, long v)
{
	/* Negate in unsigned arithmetic: -LONG_MIN does not exist. */
	if (v < 0)
		fmt_base(f, "-", 0UL - (unsigned long)v, 10);
	else
		fmt_base(f, "", (unsigned long)v, 10);
}

void fmt_hex(struct fmt *f, unsigned long v)
{
	fmt_base(f, v ? "0x" : "", v, 16);
}

void fmt_oct(struct fmt *f, unsigned long v)
{
	fmt_base(f, v ? "0" : "", v, 8);
}

/* All of s or none of it: half an escape sequence would mislead. */
static void fmt_whole(struct fmt *f, const char *s, size_t n)
{
	if (n > room(f))
		f->truncated = 1;
	else
		fmt_strn(f, s, n);
}

static int is_octal_digit(int c)
{
	return c >= '0' && c <= '7';
}

/* The letter of a one-letter escape, or 0. */
static char short_escape(unsigned char c)
{
	switch (c) {
	case '"':  return '"';
	case '\\': return '\\';
	case '\t': return 't';
	case '\n': return 'n';
	case '\v': return 'v';
	case '\f': return 'f';
	case '\r': return 'r';
	default:   return 0;
	}
}

static void escape_octal(struct fmt *f, unsigned char c, int next)
{
	char tmp[4] = { '\\' };
	size_t n = 1;

	/* Short form unless a following digit would be read as part of it. */
	if (is_octal_digit(next) || c >= 0100)
		tmp[n++] = (char)('0' + (c >> 6));
	if (is_octal_digit(next) || c >= 010)
		tmp[n++] = (char)('0' + ((c >> 3) & 7));
	tmp[n++] = (char)('0' + (c & 7));
	fmt_whole(f, tmp, n);
}

static void escape_byte(struct fmt *f, unsigned char c, int next)
{
	char e = short_escape(c);

	if (e) {
		char tmp[2] = { '\\', e };

		fmt_whole(f, tmp, 2);
	} else if (c >= ' ' && c <= '~') {
		fmt_char(f, (char)c);
	} else {
		escape_octal(f, c, next);
	}
}

void fmt_escaped(struct fmt *f, const char *s, size_t n, int next)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++)
		escape_byte(f, u[i], i + 1 < n ? u[i + 1] : next);
}

void fmt_quoted(struct fmt *f, const char *s, size_t n, size_t maxshow)
{
	size_t shown = n < maxshow ? n : maxshow;

	fmt_char(f, '"');
	fmt_escaped(f, s, shown, -1);
	fmt_char(f, '"');
	if (n > shown)
		fmt_str(f, "...");
}

void fmt_quoted_hex(struct fmt *f, const char *s, size_t n, size_t maxshow)
{
	size_t shown = n < maxshow ? n : maxshow;

	fmt_char(f, '"');
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[4] = { '\\', 'x', "0123456789abcdef"[c >> 4],
				"0123456789abcdef"[c & 15] };

		fmt_whole(f, tmp, 4);
	}
	fmt_char(f, '"');
	if (n > shown)
		fmt_str(f, "...");
}

char *fmt_cstr(struct fmt *f)
{
	if (!f->cap)
		return (char *)"";
	f->buf[f->len] = '\0';
	return f->buf;
}
