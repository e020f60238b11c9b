/*
 * /proc/PID/mountinfo's escapes, for code that reads mount points from it:
 * the CLI (`defuse umount`) and modules that watch the mounts below their
 * backing directory (passthrough's view).  Header-only, so that modules,
 * which link nothing of DEFUSE's, can use it too.
 */
#ifndef DEFUSE_COMMON_MOUNTINFO_H
#define DEFUSE_COMMON_MOUNTINFO_H

/* Undoes mountinfo's octal escapes in place: the kernel writes a space,
   tab, newline or backslash in a path as \040, \011, \012 or \134. */
static inline void mountinfo_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

#endif
