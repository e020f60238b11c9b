/*
 * The shared module's wire protocol: one SOCK_SEQPACKET connection per
 * client process to the one server of a mount (docs/fuse-compat.md, "One
 * shared instance").  One request, one reply, in order: a message is a
 * fixed header and its bytes (strings with their NUL, then data), so the
 * kernel keeps the boundaries and neither side parses a stream.  Client
 * and server are built from the same tree and run on the same machine:
 * structures (struct stat, statx, statfs, flock, timespec) travel as
 * their bytes.
 */
#ifndef DEFUSE_SHARED_PROTO_H
#define DEFUSE_SHARED_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <time.h>
#include <defuse/module.h>

/* The most data one message carries; reads and writes are cut into pieces
   of this size.  Well under the default socket buffer (208 KiB), which
   bounds a SOCK_SEQPACKET message. */
#define SH_CHUNK (128 * 1024)

/* The most supplementary groups a request carries; a caller in more is
   taken to be in none of them (getgroups fails for it). */
#define SH_GROUPS_MAX 1024

/* Bytes of a session key (DEFUSE_SESSION, 32 hex digits). */
#define SH_KEY_LEN 16
/* Request: what, its numbers, the caller, and the lengths of what follows:
   the strings, the data, then ngroups gid_t (the caller's groups). */
struct sh_req {
	uint32_t op;		/* SH_* */
	uint32_t n1, n2;	/* bytes of the first and second string, NUL included */
	uint32_t dn;		/* bytes of data after them */
	uint64_t fh;		/* the server's id of an open file */
	int64_t a[4];		/* the operation's numbers, in its order */
	uint32_t creds;		/* 1: the IDs and the groups are the caller's */
	uint32_t uid[3];	/* the calling thread's real, effective, file-system user */
	uint32_t gid[3];	/* and group */
	uint32_t ngroups;	/* its supplementary groups that follow */
};

/* Reply: the operation's result, more numbers, then n bytes. */
struct sh_rep {
	int64_t ret;
	int64_t v[3];
	uint32_t n;
	uint32_t pad;
};

/* One directory entry in a readdir reply; the name (namelen bytes, no
   NUL) follows, and the next entry starts 8-byte aligned. */
struct sh_dirent {
	uint64_t ino;
	int64_t next;
	uint16_t namelen;
	uint8_t type;
	uint8_t pad[5];
};

enum {
	SH_HELLO = 1,	/* data: the tree's session key (SH_KEY_LEN bytes) or none;
			   -> v0: operations the module has (bit per slot), v1: read-only,
			   v2: it wants DEFUSE_CAP_PERMISSIONS */
	SH_ADOPT,	/* data: fh ids a forked child holds too */
	SH_GETATTR, SH_STATX, SH_ACCESS, SH_READLINK, SH_STATFS,
	SH_MKNOD, SH_MKDIR, SH_UNLINK, SH_RMDIR, SH_SYMLINK, SH_RENAME, SH_LINK,
	SH_CHMOD, SH_CHOWN, SH_TRUNCATE, SH_UTIMENS,
	SH_GETXATTR, SH_SETXATTR, SH_LISTXATTR, SH_REMOVEXATTR,
	SH_OPEN, SH_RELEASE, SH_FLUSH, SH_READ, SH_WRITE, SH_APPEND,
	SH_FGETATTR, SH_FTRUNCATE, SH_FCHMOD, SH_FCHOWN, SH_FUTIMENS, SH_FLINK,
	SH_FSYNC, SH_FALLOCATE, SH_SEEK_DATA, SH_READDIR,
	SH_GETLK, SH_SETLK, SH_FLOCK,
	SH_FILE_HANDLE, SH_OPEN_HANDLE, SH_FH_PATH, SH_IOCTL,
	SH_BYE,		/* carries a descriptor (SCM_RIGHTS) the server closes once
			   the connection is gone (and, for the last, destroy
			   done); no reply */
	SH_NOPS
};

/* An operation's slot in struct defuse_ops (every member is a function
   pointer), for the HELLO mask. */
#define SH_SLOT(member) (offsetof(struct defuse_ops, member) / sizeof(void (*)(void)))
_Static_assert(sizeof(struct defuse_ops) / sizeof(void (*)(void)) <= 64,
	       "the HELLO mask has one bit per operation");

/* The server's abstract socket name (without the leading NUL) for a mount:
   the user, and a hash of the mount point and the wrapped module's spec.
   Written by the client, handed to the server on its command line. */
static inline uint64_t sh_hash(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (const char *s = a; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h = (h ^ '\n') * 1099511628211ULL;
	for (const char *s = b; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Puts descriptor fd into message mh (SCM_RIGHTS), in cbuf, which holds
   CMSG_SPACE(sizeof(int)) bytes. */
static inline void sh_pass_fd(struct msghdr *mh, char *cbuf, int fd)
{
	struct cmsghdr *cm;

	memset(cbuf, 0, CMSG_SPACE(sizeof(int)));
	mh->msg_control = cbuf;
	mh->msg_controllen = CMSG_SPACE(sizeof(int));
	cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
}

/*
 * How long a receiver asks again without sleeping before it sleeps: a
 * reply comes a few microseconds after its request, and a client's next
 * request often as soon, while waking a sleeping receiver on the other
 * processor costs tens of microseconds (a round trip between two
 * processes: 50-62 us sleeping, 3.9 us asking for up to 20 us, on our
 * 2-CPU machines).  Long enough for a call of the module's that answers
 * from memory; a receiver with nothing coming wastes this much once.
 */
#define SH_SPIN_NS 30000L

/* recvmsg, with flags, asked without waiting for up to SH_SPIN_NS first,
   then waiting.  Returns as recvmsg. */
static inline ssize_t sh_recvmsg(int fd, struct msghdr *mh, int flags)
{
	size_t controllen = mh->msg_controllen;
	struct timespec t;
	long end;

	clock_gettime(CLOCK_MONOTONIC, &t);
	end = t.tv_sec * 1000000000L + t.tv_nsec + SH_SPIN_NS;
	for (;;) {
		ssize_t n = recvmsg(fd, mh, flags | MSG_DONTWAIT);

		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return n;
		mh->msg_controllen = controllen;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec * 1000000000L + t.tv_nsec >= end)
			return recvmsg(fd, mh, flags);
	}
}

#endif
