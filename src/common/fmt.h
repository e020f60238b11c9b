/*
 * A tiny append-only formatter into a caller's buffer.
 *
 * For code that runs in place of a system call, where printf is out of
 * reach (see common/util.h).  Appends never write past the buffer: what does
 * not fit is dropped and `truncated` is set, so a caller can print a short
 * line and still know it is short.  One byte is always kept free for the
 * terminator, so fmt_cstr() never has to cut anything.
 *
 * Numbers follow printf: fmt_hex is "%#lx" and fmt_oct is "%#lo", so zero
 * prints as "0" in both (strace prints hex and octal values that way).
 */
#ifndef DEFUSE_COMMON_FMT_H
#define DEFUSE_COMMON_FMT_H

#include <stddef.h>

struct fmt {
	char *buf;
	size_t cap;		/* bytes at buf, terminator included */
	size_t len;		/* bytes written, terminator excluded */
	int truncated;		/* something did not fit */
};

void fmt_init(struct fmt *f, char *buf, size_t cap);

void fmt_str(struct fmt *f, const char *s);
void fmt_strn(struct fmt *f, const char *s, size_t n);
void fmt_char(struct fmt *f, char c);
/* n copies of c: padding. */
void fmt_repeat(struct fmt *f, char c, size_t n);

void fmt_dec(struct fmt *f, long v);
void fmt_udec(struct fmt *f, unsigned long v);
void fmt_hex(struct fmt *f, unsigned long v);	/* "0x1f"; 0 is "0" */
void fmt_oct(struct fmt *f, unsigned long v);	/* "0644"; 0 is "0" */

/*
 * s[0..n) in double quotes, C-escaped as strace does: \" \\ \t \n \v \f \r,
 * other bytes outside ' '..'~' as octal, as short as possible unless an
 * octal digit follows ("\0", "\177", "\0001").  At most maxshow bytes are
 * shown; if n is larger, "..." follows the closing quote.
 */
void fmt_quoted(struct fmt *f, const char *s, size_t n, size_t maxshow);

/* The same, every byte as \xNN (strace does this for binary data). */
void fmt_quoted_hex(struct fmt *f, const char *s, size_t n, size_t maxshow);

/*
 * The body of fmt_quoted without quotes, for text that arrives in pieces.
 * `next` is the byte that follows s[n - 1] (it decides whether an octal
 * escape needs all three digits), or -1 when nothing follows.
 */
void fmt_escaped(struct fmt *f, const char *s, size_t n, int next);

/* NUL-terminates the text and returns it (buf, or "" when cap is 0). */
char *fmt_cstr(struct fmt *f);

#endif
