/*
 * Freestanding memory and string helpers; see util.h for why they exist.
 *
 * Word-at-a-time loops where it is cheap to do so, byte loops elsewhere:
 * these run on short strings and small structures, and must stay free of
 * vector code (the build passes -mgeneral-regs-only).
 */
#include "common/util.h"
#include "common/exec_layout.h"

#include <stdint.h>

/*
 * The compiler recognises a copy or fill loop and replaces it with a call
 * to memcpy or memset: inside memcpy itself that is endless recursion.  The
 * hot build passes -fno-tree-loop-distribute-patterns; say it here too so
 * that a build of this file with other flags (the CLI) stays correct.
 */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

/* A word that may alias anything, so word loops are legal C. */
typedef uint64_t __attribute__((may_alias)) word_t;

#define WORD sizeof(word_t)

static int both_aligned(const void *a, const void *b)
{
	return (((uintptr_t)a | (uintptr_t)b) & (WORD - 1)) == 0;
}

/* No restrict here: memmove uses it for overlaps where dst is below src. */
static void copy_forward(unsigned char *d, const unsigned char *s, size_t n)
{
	if (both_aligned(d, s)) {
		for (; n >= WORD; n -= WORD, d += WORD, s += WORD)
			*(word_t *)d = *(const word_t *)s;
	}
	while (n--)
		*d++ = *s++;
}

EXEC_PATH void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	copy_forward(dst, src, n);
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	/* Copying forward is safe unless dst starts inside src. */
	if ((uintptr_t)d - (uintptr_t)s >= n) {
		copy_forward(d, s, n);
		return dst;
	}
	while (n--)
		d[n] = s[n];
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	if (((uintptr_t)d & (WORD - 1)) == 0) {
		word_t w = (unsigned char)c * (word_t)0x0101010101010101ULL;

		for (; n >= WORD; n -= WORD, d += WORD)
			*(word_t *)d = w;
	}
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x - *y;
	}
	return 0;
}

EXEC_PATH size_t d_strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

size_t d_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int d_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

int d_strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b || !*a)
			return (unsigned char)*a - (unsigned char)*b;
	}
	return 0;
}

char *d_strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *d_strrchr(const char *s, int c)
{
	const char *last = NULL;

	for (;; s++) {
		if (*s == (char)c)
			last = s;
		if (!*s)
			return (char *)last;
	}
}

void *d_memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (; n; n--, p++) {
		if (*p == (unsigned char)c)
			return (void *)p;
	}
	return NULL;
}

