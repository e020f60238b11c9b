/* Diagnostics that are safe anywhere: a signal handler, a syscall site. */
#include "kernel/kernel.h"

void defuse_log(const char *a, const char *b, const char *c)
{
	char buf[512];
	unsigned long n = 0;
	const char *parts[4] = { "defuse: ", a, b, c };

	for (int i = 0; i < 4; i++) {
		if (!parts[i])
			continue;
		for (const char *p = parts[i]; *p && n < sizeof(buf) - 1; p++)
			buf[n++] = *p;
	}
	buf[n++] = '\n';
	sys3(SYS_write, 2, buf, n);
}

char *defuse_ltoa(long v, char buf[24])
{
	char *p = buf + 23;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;

	*p = 0;
	do
		*--p = '0' + u % 10;
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	return p;
}

char *defuse_xtoa(unsigned long v, char buf[24])
{
	char *p = buf + 23;

	*p = 0;
	do
		*--p = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	*--p = 'x';
	*--p = '0';
	return p;
}
