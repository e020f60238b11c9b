/*
 * Memory and string helpers for code that runs in place of a `syscall`
 * instruction.
 *
 * That code must not call libc: glibc's string functions use vector
 * registers, which a system call preserves and so must we, and some libc
 * functions make system calls of their own that would be captured again.
 * Everything here is plain integer code.
 *
 * memcpy, memmove, memset and memcmp carry their standard names (with hidden
 * visibility) because the compiler emits calls to them on its own, for
 * structure copies and initialisers; inside libdefuse those calls must land
 * here and not in libc.  The d_ functions are our own names so that nothing
 * silently binds to the libc versions.
 */
#ifndef DEFUSE_COMMON_UTIL_H
#define DEFUSE_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define DEFUSE_HIDDEN __attribute__((visibility("hidden")))

DEFUSE_HIDDEN void *memcpy(void *restrict dst, const void *restrict src, size_t n);
DEFUSE_HIDDEN void *memmove(void *dst, const void *src, size_t n);
DEFUSE_HIDDEN void *memset(void *dst, int c, size_t n);
DEFUSE_HIDDEN int memcmp(const void *a, const void *b, size_t n);

size_t d_strlen(const char *s);
/* Length of s, but never looks past s[max - 1]. */
size_t d_strnlen(const char *s, size_t max);
int d_strcmp(const char *a, const char *b);
int d_strncmp(const char *a, const char *b, size_t n);
/* Like strchr: c == 0 finds the terminator. */
char *d_strchr(const char *s, int c);
char *d_strrchr(const char *s, int c);
void *d_memchr(const void *s, int c, size_t n);
/* 1 when s begins with prefix (every string begins with ""), else 0.
   Inline: the environment is matched against constant prefixes entry by
   entry at every start and exec, where a call per test was thousands of
   instructions (issue 11). */
static inline int d_startswith(const char *s, const char *prefix)
{
	while (*prefix) {
		if (*s++ != *prefix++)
			return 0;
	}
	return 1;
}

/*
 * FNV-1a, 64 bits, continuing from h (D_FNV1A_INIT to begin): the hash of
 * names and bytes whose value must be the same in every process and run
 * (a mount's key, a stand-in directory's name, a page cache's key, a plan
 * file's check).  Not for keys someone could choose to collide.
 */
#define D_FNV1A_INIT 0xcbf29ce484222325ULL

static inline uint64_t d_fnv1a(uint64_t h, const void *p, size_t n)
{
	for (const unsigned char *c = p; n--; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	return h;
}

/* ... of a string, without its terminator. */
static inline uint64_t d_fnv1a_str(uint64_t h, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	return h;
}

#endif
