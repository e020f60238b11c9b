/*
 * fsops: the driver of the differential conformance suite (run.py).
 *
 *     fsops [--break=errno|tree] BASE CASEFILE CASENAME
 *
 * Runs one case of CASEFILE with raw system calls and prints one canonical
 * line per operation.  The output must not depend on where BASE is, on
 * time, inode numbers or device numbers, so that a run on a native
 * directory and a run on a DEFUSE mount of a twin directory print the same
 * text.  run.py compares the two.
 *
 * Start-up: umask(022); read CASEFILE; chdir(BASE); open BASE as a
 * directory descriptor (O_RDONLY|O_DIRECTORY, so it gets descriptor 3) that
 * cases name BASE.  BASE must be absolute and canonical.  TOP is BASE's
 * parent directory.
 *
 * Case files
 * ----------
 *   # comment                 (whole lines only; blank lines are ignored)
 *   case NAME                 starts a case; it runs until the next "case"
 *   @...                      a setup line, done by run.py before the run
 *                             (see run.py); fsops ignores it
 *   OP ARG... [-> VAR]        an operation; "-> VAR" stores its return value
 *                             (a descriptor, usually) in VAR
 *   fork {                    the child runs the block and exits; the parent
 *   ...                       waits for it, then goes on
 *   }
 *   spawn NAME {              the child runs the block while the parent goes
 *   ...                       on; "wait NAME" reaps it.  The child's output
 *   }                         is printed before the parent's output since
 *                             the spawn (deterministic: the parent's output is
 *                             held back until the wait)
 *   repeat N OP ARG...        does OP N times and prints how many times it
 *                             succeeded (with the range of the values) and
 *                             failed with each errno (data is not printed)
 *
 * Arguments
 *   "text"      a string with C escapes (\n \t \r \0 \\ \" \xHH); pieces can
 *               be repeated and joined: "a/"+"x"*300+"/b".  In paths (and
 *               symlink targets) "$BASE" and "$TOP" are replaced by the
 *               absolute paths, "$PID" by the process ID; in data they
 *               are not.
 *   NULL        a null pointer (a path, an offset pointer, a times array)
 *   numbers     decimal, 0octal, 0xhex, negative; ~0 is all ones
 *   names       flags and constants joined with |: O_CREAT|O_WRONLY,
 *               AT_FDCWD, SEEK_HOLE, RENAME_NOREPLACE, S_IFIFO, F_GETFL, ...
 *               (the table "syms" below); BASE; variables set with "->"
 *   times       SEC or SEC:NSEC (utimensat; USEC for utime/utimes/futimesat),
 *               NOW or OMIT (UTIME_NOW, UTIME_OMIT)
 *
 * Output
 *   case NAME
 *   <source line> = RET                  success
 *   <source line> = -1 ENAME             failure, errno by name
 *   <source line> = RET <data>           with data: bytes read ("..." with
 *               escapes; over 256 bytes: <N bytes fnv=HASH>), directory
 *               listings (sorted name:type), stat fields, paths
 *   Lines of a forked child are prefixed "child: ".
 *
 * Printed stat fields: file type, permission bits (07777), nlink, uid, gid,
 * size, blocks, blksize, rdev (devices only), atime and mtime.  Times within
 * a day of the clock print as "now", others exactly (cases set them with
 * utimensat & co): that keeps them deterministic.  Never printed: st_dev,
 * st_ino, st_ctime (always "now"), statx's dev, ino and mnt_id, statfs's
 * block counts and fsid.  Paths printed (getcwd, readlink) have the BASE and
 * TOP prefixes replaced by "$BASE" and "$TOP"; their return values are
 * lengths, so run.py gives every run a BASE of the same length.
 *
 * An operation that fails with ELOOP is tried up to 4 more times: the kernel
 * can count a chain's links twice under load (see run_op).
 *
 * Operations (the system call of the same name, through syscall(2)):
 *   open P FLAGS [MODE]   openat D P FLAGS [MODE]   creat P MODE
 *   openat2 D P FLAGS MODE RESOLVE     close FD
 *   read FD N   pread FD N OFF   readv FD N...   preadv FD OFF N...
 *   preadv2 FD OFF FLAGS N...          (data printed: the bytes read)
 *   write FD DATA   pwrite FD DATA OFF   writev FD DATA...
 *   pwritev FD OFF DATA...   pwritev2 FD OFF FLAGS DATA...
 *   lseek FD OFF WHENCE
 *   stat P   lstat P   fstat FD   fstatat D P FLAGS   statx D P FLAGS MASK
 *   access P MODE   faccessat D P MODE   faccessat2 D P MODE FLAGS
 *   getdents FD [BUFSZ]   (getdents64 until 0: entries, sorted)
 *   getdents1 FD BUFSZ    (one call; prints "ok" for a positive result)
 *   mkdir P MODE   mkdirat D P MODE   rmdir P   unlink P   unlinkat D P FLAGS
 *   rename O N   renameat OD O ND N   renameat2 OD O ND N FLAGS
 *   link O N   linkat OD O ND N FLAGS   symlink T L   symlinkat T D L
 *   readlink P [N]   readlinkat D P [N]
 *   chmod P MODE   fchmod FD MODE   fchmodat D P MODE   fchmodat2 D P MODE FLAGS
 *   chown P U G   fchown FD U G   lchown P U G   fchownat D P U G FLAGS
 *   truncate P LEN   ftruncate FD LEN   fsync FD   fdatasync FD   syncfs FD
 *   utimensat D P (NULL | A M) FLAGS   utime P (NULL | A M)
 *   utimes P (NULL | A M)   futimesat D P (NULL | A M)
 *   statfs P   fstatfs FD    (type, bsize, namelen, frsize, flags)
 *   chdir P   fchdir FD   getcwd [N]   chroot P
 *   fallocate FD MODE OFF LEN
 *   name_to_handle_at D P FLAGS   (the handle kept for:)
 *   open_by_handle_at MOUNTFD FLAGS
 *   ioctl FD REQ [ARGS]   the requests every file system answers:
 *               FIONREAD, FIGETBSZ, FIOQSIZE (the value printed), FIONBIO V,
 *               FIOASYNC V, FIOCLEX, FIONCLEX, FICLONE SRC,
 *               FICLONERANGE SRC OFF LEN DOFF, FIDEDUPERANGE OFF LEN,
 *               FS_IOC_RESVSP64|FS_IOC_UNRESVSP64|FS_IOC_ZERO_RANGE
 *               WHENCE START LEN
 *   setxattr P NAME VALUE FLAGS (and lsetxattr; fsetxattr FD ...)
 *   getxattr P NAME N (lgetxattr, fgetxattr)   listxattr P N (l-, f-)
 *   removexattr P NAME (l-, f-)
 *   setxattrat D P ATFLAGS NAME VALUE FLAGS   getxattrat D P ATFLAGS NAME N
 *   listxattrat D P ATFLAGS N   removexattrat D P ATFLAGS NAME
 *   mknod P MODE DEV   mknodat D P MODE DEV
 *   copy_file_range IN (NULL|OFF) OUT (NULL|OFF) LEN FLAGS
 *   sendfile OUT IN (NULL|OFF) COUNT   (offsets after the call are printed)
 *   setresuid R E S, setresgid R E S, setfsuid ID   (raw: this thread only)
 *   flock FD OP
 *   fcntl FD F_DUPFD|F_DUPFD_CLOEXEC N    fcntl FD F_GETFD|F_GETFL
 *   fcntl FD F_SETFD|F_SETFL ARG
 *   fcntl FD F_SETLK|F_SETLKW|F_OFD_SETLK|F_OFD_SETLKW TYPE START LEN
 *   fcntl FD F_GETLK|F_OFD_GETLK TYPE START LEN   (prints the answer; its
 *               pid as self, parent, child, other, 0 or -1)
 *   dup FD   dup2 FD FD   dup3 FD FD FLAGS   close_range FIRST LAST FLAGS
 * Helpers (several calls, descriptor table unchanged afterwards):
 *   cat P       open O_RDONLY, read all, close: the contents
 *   hist P      the same, but prints how many of each byte the file holds
 *   ls P        open O_RDONLY|O_DIRECTORY, getdents64 until 0, close
 *   sleep MS    umask MASK
 *
 * --break=errno prints ENOENT as ENOTDIR, --break=tree creates BASE/.broken
 * at exit: run.py --self-test uses them to prove that it notices.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif
#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x20
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif
#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x2000U
#endif
#ifndef AT_STATX_SYNC_AS_STAT
#define AT_STATX_SYNC_AS_STAT 0
#endif

#define K_O_LARGEFILE 0100000	/* the kernel's; glibc's is 0 on x86-64 */

struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

/* ------------------------------------------------------------------ */
/* Output.  The first process writes its lines to stdout.  A forked child
 * writes its lines into memory shared with its parent (no descriptor, so
 * close_range and dup2 in the child cannot touch it), and the parent copies
 * them into its own output when it reaps the child: the order of the lines
 * never depends on scheduling. */

struct shout {
	size_t len;
	char data[];
};

#define SHOUT_SIZE (4u << 20)

static char *obuf;
static size_t olen, ocap = 16 << 20;
static struct shout *shared;	/* in a child: where its lines go */
static int quiet;	/* repeat: results are tallied, nothing is printed */

static void oflush(void)
{
	size_t off = 0;

	if (shared)
		return;
	while (off < olen) {
		ssize_t n = write(1, obuf + off, olen - off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			_exit(3);
		}
		off += (size_t)n;
	}
	olen = 0;
}

static void ovput(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(obuf + olen, ocap - olen, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (size_t)n >= ocap - olen) {
		static const char msg[] = "fsops: output buffer full\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(3);
	}
	olen += (size_t)n;
	if (shared)
		shared->len = olen;
}

static void out(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	ovput(fmt, ap);
	va_end(ap);
}

/* A growable string for an operation's data. */
struct sb {
	char *s;
	size_t len, cap;
};

static void sbput(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (b->s && (size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n + 64;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	b->len += (size_t)n;
}

static void sbmem(struct sb *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = 0;
}

/* ------------------------------------------------------------------ */

static const char *base;	/* absolute BASE */
static char top[4096];		/* its parent */
static size_t baselen, toplen;
static const char *casefile;
static int lineno;		/* line being run, for messages */
static const char *breakmode = "";
static int depth;		/* fork nesting: "child: " prefixes */

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	oflush();
	fprintf(stderr, "fsops: %s:%d: ", casefile, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(2);
}

/* Data, quoted with escapes; long data as its length and a hash. */
static void sbdata(struct sb *b, const char *p, size_t n)
{
	if (n > 256) {
		uint32_t h = 2166136261u;

		for (size_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)p[i]) * 16777619u;
		sbput(b, "<%zu bytes fnv=%08x>", n, h);
		return;
	}
	sbput(b, "\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"' || c == '\\')
			sbput(b, "\\%c", c);
		else if (c == '\n')
			sbput(b, "\\n");
		else if (c == '\t')
			sbput(b, "\\t");
		else if (c == 0)
			sbput(b, "\\0");
		else if (c < 32 || c >= 127)
			sbput(b, "\\x%02x", c);
		else
			sbput(b, "%c", c);
	}
	sbput(b, "\"");
}

/* A path, with the BASE or TOP prefix replaced by its name. */
static void sbpath(struct sb *b, const char *p, size_t n)
{
	struct sb t = {0};

	if (n >= baselen && !memcmp(p, base, baselen) && (n == baselen || p[baselen] == '/')) {
		sbput(&t, "$BASE");
		sbmem(&t, p + baselen, n - baselen);
	} else if (n >= toplen && !memcmp(p, top, toplen) && (n == toplen || p[toplen] == '/')) {
		sbput(&t, "$TOP");
		sbmem(&t, p + toplen, n - toplen);
	} else {
		sbmem(&t, p, n);
	}
	sbdata(b, t.s, t.len);
	free(t.s);
}

/* ------------------------------------------------------------------ */
/* Names */

/* FS_IOC_RESVSP64's argument (the kernel's struct space_resv, which no
   header of user space carries) and the request numbers. */
struct space_resv_ {
	int16_t l_type, l_whence;
	int64_t l_start, l_len;
	int32_t l_sysid;
	uint32_t l_pid;
	int32_t l_pad[4];
};
#define FS_IOC_RESVSP64_ _IOW('X', 42, struct space_resv_)
#define FS_IOC_UNRESVSP64_ _IOW('X', 43, struct space_resv_)
#define FS_IOC_ZERO_RANGE_ _IOW('X', 57, struct space_resv_)

struct sym {
	const char *name;
	long long val;
};

#define S(x) { #x, (long long)(x) }
static const struct sym syms[] = {
	S(AT_FDCWD), S(AT_SYMLINK_NOFOLLOW), S(AT_SYMLINK_FOLLOW), S(AT_REMOVEDIR),
	S(AT_EMPTY_PATH), S(AT_NO_AUTOMOUNT), S(AT_EACCESS), S(AT_STATX_SYNC_AS_STAT),
	S(AT_STATX_FORCE_SYNC), S(AT_STATX_DONT_SYNC),
	S(O_RDONLY), S(O_WRONLY), S(O_RDWR), S(O_ACCMODE), S(O_CREAT), S(O_EXCL),
	S(O_NOCTTY), S(O_TRUNC), S(O_APPEND), S(O_NONBLOCK), S(O_DSYNC), S(O_SYNC),
	S(O_RSYNC), S(O_DIRECT), {"O_LARGEFILE", K_O_LARGEFILE}, S(O_DIRECTORY),
	S(O_NOFOLLOW), S(O_NOATIME), S(O_CLOEXEC), S(O_PATH), S(O_TMPFILE), S(O_ASYNC),
	S(SEEK_SET), S(SEEK_CUR), S(SEEK_END), S(SEEK_DATA), S(SEEK_HOLE),
	S(RENAME_NOREPLACE), S(RENAME_EXCHANGE), S(RENAME_WHITEOUT),
	S(S_IFREG), S(S_IFDIR), S(S_IFIFO), S(S_IFCHR), S(S_IFBLK), S(S_IFLNK), S(S_IFSOCK),
	S(F_DUPFD), S(F_DUPFD_CLOEXEC), S(F_GETFD), S(F_SETFD), S(F_GETFL), S(F_SETFL),
	S(F_GETLK), S(F_SETLK), S(F_SETLKW), S(F_OFD_GETLK), S(F_OFD_SETLK), S(F_OFD_SETLKW),
	S(FD_CLOEXEC), S(F_RDLCK), S(F_WRLCK), S(F_UNLCK),
	S(R_OK), S(W_OK), S(X_OK), S(F_OK),
	S(LOCK_SH), S(LOCK_EX), S(LOCK_UN), S(LOCK_NB),
	S(FALLOC_FL_KEEP_SIZE), S(FALLOC_FL_PUNCH_HOLE), S(FALLOC_FL_ZERO_RANGE),
	S(FALLOC_FL_COLLAPSE_RANGE), S(FALLOC_FL_INSERT_RANGE),
	S(RESOLVE_NO_XDEV), S(RESOLVE_NO_MAGICLINKS), S(RESOLVE_NO_SYMLINKS),
	S(RESOLVE_BENEATH), S(RESOLVE_IN_ROOT), S(RESOLVE_CACHED),
	S(STATX_TYPE), S(STATX_MODE), S(STATX_NLINK), S(STATX_UID), S(STATX_GID),
	S(STATX_ATIME), S(STATX_MTIME), S(STATX_CTIME), S(STATX_INO), S(STATX_SIZE),
	S(STATX_BLOCKS), S(STATX_BASIC_STATS), S(STATX_BTIME), S(STATX_MNT_ID),
	S(STATX_DIOALIGN),
	S(XATTR_CREATE), S(XATTR_REPLACE),
	{"AT_HANDLE_FID", 0x200},
	S(RWF_HIPRI), S(RWF_DSYNC), S(RWF_SYNC), S(RWF_NOWAIT), S(RWF_APPEND), S(RWF_NOAPPEND),
	S(CLOSE_RANGE_UNSHARE), S(CLOSE_RANGE_CLOEXEC),
	S(UTIME_NOW), S(UTIME_OMIT),
	S(FIONREAD), S(FIGETBSZ), S(FIOQSIZE), S(FIONBIO), S(FIOASYNC), S(FIOCLEX),
	S(FIONCLEX), S(FICLONE), S(FICLONERANGE), S(FIDEDUPERANGE),
	{"FS_IOC_RESVSP64", (long long)FS_IOC_RESVSP64_},
	{"FS_IOC_UNRESVSP64", (long long)FS_IOC_UNRESVSP64_},
	{"FS_IOC_ZERO_RANGE", (long long)FS_IOC_ZERO_RANGE_},
};
#undef S

#define MAXVARS 256
static struct {
	char name[64];
	long long val;
} vars[MAXVARS];
static int nvars;

static int lookup(const char *name, size_t n, long long *v)
{
	for (int i = 0; i < nvars; i++)
		if (strlen(vars[i].name) == n && !memcmp(vars[i].name, name, n)) {
			*v = vars[i].val;
			return 1;
		}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		if (strlen(syms[i].name) == n && !memcmp(syms[i].name, name, n)) {
			*v = syms[i].val;
			return 1;
		}
	return 0;
}

static void setvar(const char *name, long long val)
{
	for (int i = 0; i < nvars; i++)
		if (!strcmp(vars[i].name, name)) {
			vars[i].val = val;
			return;
		}
	if (nvars == MAXVARS || strlen(name) >= sizeof(vars[0].name))
		die("too many variables or name too long");
	snprintf(vars[nvars].name, sizeof(vars[nvars].name), "%s", name);
	vars[nvars++].val = val;
}

/* ------------------------------------------------------------------ */
/* Tokens */

enum { T_WORD, T_STR, T_NULL };

struct tok {
	int kind;
	char *s;	/* NUL-terminated; T_STR may contain NULs too */
	size_t len;
};

#define MAXTOK 64

struct line {
	int lineno;
	char *text;		/* the source line, trimmed */
	int ntok;
	struct tok tok[MAXTOK];
};

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* Parses "..."[*N][+"..."[*N]]... at *pp. */
static void parse_string(const char **pp, struct tok *t)
{
	const char *p = *pp;
	struct sb b = {0};

	sbput(&b, "%s", "");
	for (;;) {
		struct sb piece = {0};
		long rep = 1;

		sbput(&piece, "%s", "");
		if (*p != '"')
			die("expected a string");
		p++;
		while (*p && *p != '"') {
			char c = *p++;

			if (c == '\\') {
				c = *p++;
				switch (c) {
				case 'n': c = '\n'; break;
				case 't': c = '\t'; break;
				case 'r': c = '\r'; break;
				case '0': c = 0; break;
				case '\\': case '"': break;
				case 'x':
					if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
						die("bad \\x escape");
					c = (char)(hexval(p[0]) * 16 + hexval(p[1]));
					p += 2;
					break;
				default:
					die("bad escape \\%c", c);
				}
			}
			sbmem(&piece, &c, 1);
		}
		if (*p != '"')
			die("unterminated string");
		p++;
		if (*p == '*') {
			char *end;

			rep = strtol(p + 1, &end, 10);
			if (end == p + 1 || rep < 0)
				die("bad repeat count");
			p = end;
		}
		for (long i = 0; i < rep; i++)
			sbmem(&b, piece.s, piece.len);
		free(piece.s);
		if (*p == '+' && p[1] == '"') {
			p++;
			continue;
		}
		break;
	}
	t->kind = T_STR;
	t->s = b.s;
	t->len = b.len;
	*pp = p;
}

static void tokenize(struct line *l, const char *text)
{
	const char *p = text;

	l->ntok = 0;
	for (;;) {
		struct tok *t;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '\n')
			break;
		if (l->ntok == MAXTOK)
			die("too many tokens");
		t = &l->tok[l->ntok++];
		if (*p == '"') {
			parse_string(&p, t);
		} else {
			const char *s = p;

			while (*p && *p != ' ' && *p != '\t' && *p != '\n')
				p++;
			t->kind = T_WORD;
			t->len = (size_t)(p - s);
			t->s = strndup(s, t->len);
			if (!strcmp(t->s, "NULL"))
				t->kind = T_NULL;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Arguments of the operation being run */

static struct tok *args;
static int nargs;

static long long num(int i)
{
	const char *s, *e;
	long long v = 0;

	if (i >= nargs)
		die("missing argument %d", i + 1);
	if (args[i].kind != T_WORD)
		die("argument %d: expected a number or name", i + 1);
	s = args[i].s;
	for (;;) {
		long long x;

		e = strchr(s, '|');
		if (!e)
			e = s + strlen(s);
		if (e - s == 2 && !memcmp(s, "~0", 2)) {
			x = -1;
		} else if (isdigit((unsigned char)*s) || *s == '-') {
			char *end;

			errno = 0;
			x = strtoll(s, &end, 0);
			if (end != e || errno)
				die("bad number '%.*s'", (int)(e - s), s);
		} else if (!lookup(s, (size_t)(e - s), &x)) {
			die("unknown name '%.*s'", (int)(e - s), s);
		}
		v |= x;
		if (!*e)
			break;
		s = e + 1;
	}
	return v;
}

static int isnull(int i)
{
	if (i >= nargs)
		die("missing argument %d", i + 1);
	return args[i].kind == T_NULL;
}

/* A string argument as data (no substitution). */
static const char *data(int i, size_t *len)
{
	if (i >= nargs)
		die("missing argument %d", i + 1);
	if (args[i].kind != T_STR)
		die("argument %d: expected a string", i + 1);
	*len = args[i].len;
	return args[i].s;
}

/* The paths one operation made (path()), freed once it is done, so that
   the sanitizer build's leak check runs clean. */
static char *made[16];
static int nmade;

static void paths_free(void)
{
	while (nmade > 0)
		free(made[--nmade]);
}

/* A path argument: $BASE, $TOP and $PID substituted; NULL allowed.  Valid until
   the operation is done (paths_free). */
static const char *path(int i)
{
	struct sb b = {0};
	const char *s;
	size_t n;

	if (isnull(i))
		return NULL;
	s = data(i, &n);
	sbput(&b, "%s", "");
	for (size_t k = 0; k < n;) {
		if (!strncmp(s + k, "$BASE", 5)) {
			sbput(&b, "%s", base);
			k += 5;
		} else if (!strncmp(s + k, "$TOP", 4)) {
			sbput(&b, "%s", top);
			k += 4;
		} else if (!strncmp(s + k, "$PID", 4)) {
			sbput(&b, "%d", (int)getpid());
			k += 4;
		} else {
			sbmem(&b, s + k, 1);
			k++;
		}
	}
	if (nmade == (int)(sizeof(made) / sizeof(made[0])))
		die("too many paths in one operation");
	made[nmade++] = b.s;
	return b.s;
}

static const char *word(int i)
{
	if (i >= nargs || args[i].kind != T_WORD)
		die("argument %d: expected a word", i + 1);
	return args[i].s;
}

static void nargs_between(int lo, int hi)
{
	if (nargs < lo || nargs > hi)
		die("expected %d to %d arguments, got %d", lo, hi, nargs);
}

/* ------------------------------------------------------------------ */
/* Formatting results */

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFSOCK: return "sock";
	}
	return "?";
}

static void sbtime(struct sb *b, const char *name, long long sec, long nsec)
{
	long long now = (long long)time(NULL);

	if (sec > now - 86400 && sec < now + 86400)
		sbput(b, " %s=now", name);
	else
		sbput(b, " %s=%lld:%ld", name, sec, nsec);
}

static void sbstat(struct sb *b, const struct stat *st)
{
	sbput(b, "{%s %04o nlink=%lu uid=%u gid=%u size=%lld blocks=%lld blksize=%ld",
	      type_name(st->st_mode), (unsigned)(st->st_mode & 07777),
	      (unsigned long)st->st_nlink, st->st_uid, st->st_gid,
	      (long long)st->st_size, (long long)st->st_blocks, (long)st->st_blksize);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		sbput(b, " rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	sbtime(b, "atime", st->st_atim.tv_sec, st->st_atim.tv_nsec);
	sbtime(b, "mtime", st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	sbput(b, "}");
}

static void sbflags(struct sb *b, unsigned long long v, const struct sym *names, int n)
{
	int first = 1;

	for (int i = 0; i < n; i++)
		if (names[i].val && (v & (unsigned long long)names[i].val) == (unsigned long long)names[i].val) {
			sbput(b, "%s%s", first ? "" : "|", names[i].name);
			v &= ~(unsigned long long)names[i].val;
			first = 0;
		}
	if (v || first)
		sbput(b, "%s0x%llx", first ? "" : "|", v);
}

static void sbstatx(struct sb *b, const struct statx *sx)
{
	static const struct sym mask[] = {
		{"TYPE", STATX_TYPE}, {"MODE", STATX_MODE}, {"NLINK", STATX_NLINK},
		{"UID", STATX_UID}, {"GID", STATX_GID}, {"ATIME", STATX_ATIME},
		{"MTIME", STATX_MTIME}, {"CTIME", STATX_CTIME}, {"INO", STATX_INO},
		{"SIZE", STATX_SIZE}, {"BLOCKS", STATX_BLOCKS}, {"BTIME", STATX_BTIME},
		{"MNT_ID", STATX_MNT_ID}, {"DIOALIGN", STATX_DIOALIGN},
	};

	sbput(b, "{mask=");
	sbflags(b, sx->stx_mask, mask, sizeof(mask) / sizeof(mask[0]));
	sbput(b, " %s %04o nlink=%u uid=%u gid=%u size=%llu blocks=%llu blksize=%u"
	      " attr=0x%llx attrmask=0x%llx",
	      type_name(sx->stx_mode), sx->stx_mode & 07777, sx->stx_nlink,
	      sx->stx_uid, sx->stx_gid, (unsigned long long)sx->stx_size,
	      (unsigned long long)sx->stx_blocks, sx->stx_blksize,
	      (unsigned long long)sx->stx_attributes,
	      (unsigned long long)sx->stx_attributes_mask);
	if (S_ISCHR(sx->stx_mode) || S_ISBLK(sx->stx_mode))
		sbput(b, " rdev=%u:%u", sx->stx_rdev_major, sx->stx_rdev_minor);
	if (sx->stx_mask & STATX_ATIME)
		sbtime(b, "atime", sx->stx_atime.tv_sec, sx->stx_atime.tv_nsec);
	if (sx->stx_mask & STATX_MTIME)
		sbtime(b, "mtime", sx->stx_mtime.tv_sec, sx->stx_mtime.tv_nsec);
	if (sx->stx_mask & STATX_BTIME)
		sbtime(b, "btime", sx->stx_btime.tv_sec, sx->stx_btime.tv_nsec);
	sbput(b, "}");
}

static void sbopenflags(struct sb *b, long v)
{
	static const char *acc[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
	static const struct sym fl[] = {
		{"O_CREAT", O_CREAT}, {"O_EXCL", O_EXCL}, {"O_NOCTTY", O_NOCTTY},
		{"O_TRUNC", O_TRUNC}, {"O_APPEND", O_APPEND}, {"O_NONBLOCK", O_NONBLOCK},
		{"O_SYNC", O_SYNC}, {"O_DSYNC", O_DSYNC}, {"O_ASYNC", O_ASYNC},
		{"O_DIRECT", O_DIRECT}, {"O_LARGEFILE", K_O_LARGEFILE},
		{"O_TMPFILE", O_TMPFILE}, {"O_DIRECTORY", O_DIRECTORY},
		{"O_NOFOLLOW", O_NOFOLLOW}, {"O_NOATIME", O_NOATIME}, {"O_CLOEXEC", O_CLOEXEC},
		{"O_PATH", O_PATH},
	};
	unsigned long long rest = (unsigned long long)v & ~(unsigned long long)O_ACCMODE;

	sbput(b, "{%s", acc[v & O_ACCMODE]);
	if (rest) {
		sbput(b, "|");
		sbflags(b, rest, fl, sizeof(fl) / sizeof(fl[0]));
	}
	sbput(b, "}");
}

static int namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ------------------------------------------------------------------ */
/* Operations: each sets ret (and errno on failure) and may add data. */

static long ret;
static struct sb xd;	/* data printed after the result */

#define SC(...) (ret = syscall(__VA_ARGS__))

static void do_open(void)
{
	nargs_between(2, 3);
	SC(SYS_open, path(0), (int)num(1), nargs > 2 ? (mode_t)num(2) : 0);
}

static void do_openat(void)
{
	nargs_between(3, 4);
	SC(SYS_openat, (int)num(0), path(1), (int)num(2), nargs > 3 ? (mode_t)num(3) : 0);
}

static void do_openat2(void)
{
	struct open_how how = {0};

	nargs_between(5, 5);
	how.flags = (unsigned long long)num(2);
	how.mode = (unsigned long long)num(3);
	how.resolve = (unsigned long long)num(4);
	/*
	 * With RESOLVE_BENEATH or RESOLVE_IN_ROOT, a ".." fails with EAGAIN
	 * when a mount or rename happened anywhere meanwhile (other tests
	 * mount beside us), and the caller is to try again, as a careful
	 * program does.  RESOLVE_CACHED's EAGAIN is an answer, not a race.
	 */
	for (int tries = 0; tries < 1000; tries++) {
		SC(SYS_openat2, (int)num(0), path(1), &how, sizeof(how));
		if (ret >= 0 || errno != EAGAIN || (how.resolve & RESOLVE_CACHED) ||
		    !(how.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)))
			break;
	}
}

static void do_creat(void)
{
	nargs_between(2, 2);
	SC(SYS_creat, path(0), (mode_t)num(1));
}

static void do_close(void)
{
	nargs_between(1, 1);
	SC(SYS_close, (int)num(0));
}

static char *xalloc(size_t n)
{
	char *p = calloc(1, n ? n : 1);

	if (!p)
		die("out of memory");
	return p;
}

static void readdata(const char *buf)
{
	if (ret > 0) {
		sbput(&xd, " ");
		sbdata(&xd, buf, (size_t)ret);
	}
}

static void do_read(void)
{
	size_t n;
	char *buf;

	nargs_between(2, 2);
	n = (size_t)num(1);
	buf = xalloc(n);
	SC(SYS_read, (int)num(0), buf, n);
	readdata(buf);
	free(buf);
}

static void do_pread(void)
{
	size_t n;
	char *buf;

	nargs_between(3, 3);
	n = (size_t)num(1);
	buf = xalloc(n);
	SC(SYS_pread64, (int)num(0), buf, n, (off_t)num(2));
	readdata(buf);
	free(buf);
}

/* iovecs for reads: sizes from argument `from` on; one buffer behind them */
static int mkiov_read(int from, struct iovec *iov, char **bufp)
{
	int cnt = nargs - from;
	size_t total = 0;
	char *buf;

	if (cnt > 16)
		die("at most 16 iovecs");
	for (int i = 0; i < cnt; i++)
		total += (size_t)num(from + i);
	buf = xalloc(total);
	total = 0;
	for (int i = 0; i < cnt; i++) {
		iov[i].iov_base = buf + total;
		iov[i].iov_len = (size_t)num(from + i);
		total += iov[i].iov_len;
	}
	*bufp = buf;
	return cnt;
}

static int mkiov_write(int from, struct iovec *iov)
{
	int cnt = nargs - from;

	if (cnt > 16)
		die("at most 16 iovecs");
	for (int i = 0; i < cnt; i++) {
		size_t n;

		iov[i].iov_base = (void *)data(from + i, &n);
		iov[i].iov_len = n;
	}
	return cnt;
}

static void do_readv(void)
{
	struct iovec iov[16];
	char *buf;
	int cnt;

	nargs_between(1, 17);
	cnt = mkiov_read(1, iov, &buf);
	SC(SYS_readv, (int)num(0), iov, cnt);
	readdata(buf);
	free(buf);
}

static void do_preadv(void)
{
	struct iovec iov[16];
	char *buf;
	int cnt;

	nargs_between(2, 18);
	cnt = mkiov_read(2, iov, &buf);
	SC(SYS_preadv, (int)num(0), iov, cnt, (unsigned long)num(1), 0UL);
	readdata(buf);
	free(buf);
}

static void do_preadv2(void)
{
	struct iovec iov[16];
	char *buf;
	int cnt;

	nargs_between(3, 19);
	cnt = mkiov_read(3, iov, &buf);
	SC(SYS_preadv2, (int)num(0), iov, cnt, (unsigned long)num(1), 0UL, (int)num(2));
	readdata(buf);
	free(buf);
}

static void do_write(void)
{
	size_t n;
	const char *d;

	nargs_between(2, 2);
	d = data(1, &n);
	SC(SYS_write, (int)num(0), d, n);
}

static void do_pwrite(void)
{
	size_t n;
	const char *d;

	nargs_between(3, 3);
	d = data(1, &n);
	SC(SYS_pwrite64, (int)num(0), d, n, (off_t)num(2));
}

static void do_writev(void)
{
	struct iovec iov[16];
	int cnt;

	nargs_between(1, 17);
	cnt = mkiov_write(1, iov);
	SC(SYS_writev, (int)num(0), iov, cnt);
}

static void do_pwritev(void)
{
	struct iovec iov[16];
	int cnt;

	nargs_between(2, 18);
	cnt = mkiov_write(2, iov);
	SC(SYS_pwritev, (int)num(0), iov, cnt, (unsigned long)num(1), 0UL);
}

static void do_pwritev2(void)
{
	struct iovec iov[16];
	int cnt;

	nargs_between(3, 19);
	cnt = mkiov_write(3, iov);
	SC(SYS_pwritev2, (int)num(0), iov, cnt, (unsigned long)num(1), 0UL, (int)num(2));
}

static void do_lseek(void)
{
	nargs_between(3, 3);
	SC(SYS_lseek, (int)num(0), (off_t)num(1), (int)num(2));
}

static void statdata(const struct stat *st)
{
	if (ret == 0) {
		sbput(&xd, " ");
		sbstat(&xd, st);
	}
}

static void do_stat(void)
{
	struct stat st;

	nargs_between(1, 1);
	SC(SYS_stat, path(0), &st);
	statdata(&st);
}

static void do_lstat(void)
{
	struct stat st;

	nargs_between(1, 1);
	SC(SYS_lstat, path(0), &st);
	statdata(&st);
}

static void do_fstat(void)
{
	struct stat st;

	nargs_between(1, 1);
	SC(SYS_fstat, (int)num(0), &st);
	statdata(&st);
}

static void do_fstatat(void)
{
	struct stat st;

	nargs_between(3, 3);
	SC(SYS_newfstatat, (int)num(0), path(1), &st, (int)num(2));
	statdata(&st);
}

static void do_statx(void)
{
	struct statx sx;

	nargs_between(4, 4);
	memset(&sx, 0, sizeof(sx));
	SC(SYS_statx, (int)num(0), path(1), (int)num(2), (unsigned)num(3), &sx);
	if (ret == 0) {
		sbput(&xd, " ");
		sbstatx(&xd, &sx);
	}
}

static void do_access(void)
{
	nargs_between(2, 2);
	SC(SYS_access, path(0), (int)num(1));
}

static void do_faccessat(void)
{
	nargs_between(3, 3);
	SC(SYS_faccessat, (int)num(0), path(1), (int)num(2));
}

static void do_faccessat2(void)
{
	nargs_between(4, 4);
	SC(SYS_faccessat2, (int)num(0), path(1), (int)num(2), (int)num(3));
}

/* getdents64 until 0; ret: entries seen; data: sorted name:type. */
static void getdents_all(int fd, size_t bufsz)
{
	char *buf = xalloc(bufsz);
	char **names = NULL;
	size_t n = 0, cap = 0;
	long r;

	for (;;) {
		r = syscall(SYS_getdents64, fd, buf, bufsz);
		if (r <= 0)
			break;
		for (long off = 0; off < r;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			static const char *tn[] = {
				[DT_UNKNOWN] = "unknown", [DT_FIFO] = "fifo", [DT_CHR] = "chr",
				[DT_DIR] = "dir", [DT_BLK] = "blk", [DT_REG] = "reg",
				[DT_LNK] = "lnk", [DT_SOCK] = "sock", [DT_WHT] = "wht",
			};
			const char *t = d->type < sizeof(tn) / sizeof(tn[0]) && tn[d->type] ? tn[d->type] : "?";

			if (n == cap) {
				cap = cap * 2 + 16;
				names = realloc(names, cap * sizeof(*names));
			}
			{
				struct sb e = {0};

				sbput(&e, "%s", "");
				for (const unsigned char *c = (const unsigned char *)d->name; *c; c++)
					if (*c <= ' ' || *c >= 127 || *c == '\\' || *c == ':')
						sbput(&e, "\\x%02x", *c);
					else
						sbmem(&e, (const char *)c, 1);
				sbput(&e, ":%s", t);
				names[n++] = e.s;
			}
			off += d->reclen;
		}
	}
	if (r < 0 && n == 0) {
		ret = -1;
	} else {
		int e = errno;

		if (n)	/* names is NULL then, which qsort may not get */
			qsort(names, n, sizeof(*names), namecmp);
		sbput(&xd, " [");
		if (n <= 40) {
			for (size_t i = 0; i < n; i++)
				sbput(&xd, "%s%s", i ? " " : "", names[i]);
		} else {
			/* long listings: the ends and a hash of all */
			uint32_t h = 2166136261u;

			for (size_t i = 0; i < n; i++)
				for (const char *c = names[i]; ; c++) {
					h = (h ^ (unsigned char)*c) * 16777619u;
					if (!*c)
						break;
				}
			for (size_t i = 0; i < 4; i++)
				sbput(&xd, "%s ", names[i]);
			sbput(&xd, "... fnv=%08x ...", h);
			for (size_t i = n - 4; i < n; i++)
				sbput(&xd, " %s", names[i]);
		}
		sbput(&xd, "]");
		if (r < 0)
			sbput(&xd, " then %s", strerrorname_np(e));
		ret = (long)n;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(buf);
}

static void do_getdents(void)
{
	nargs_between(1, 2);
	getdents_all((int)num(0), nargs > 1 ? (size_t)num(1) : 32768);
}

static void do_getdents1(void)
{
	char *buf;
	size_t n;

	nargs_between(2, 2);
	n = (size_t)num(1);
	buf = xalloc(n);
	SC(SYS_getdents64, (int)num(0), buf, n);
	if (ret > 0) {
		ret = 0;
		sbput(&xd, " ok");	/* how much fits depends on the order */
	}
	free(buf);
}

static void do_ls(void)
{
	int fd;

	nargs_between(1, 1);
	fd = (int)syscall(SYS_openat, AT_FDCWD, path(0), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -1;
		return;
	}
	getdents_all(fd, 32768);
	int e = errno;
	syscall(SYS_close, fd);
	errno = e;
}

static void do_cat(void)
{
	struct sb b = {0};
	char buf[65536];
	long r;
	int fd;

	nargs_between(1, 1);
	fd = (int)syscall(SYS_openat, AT_FDCWD, path(0), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -1;
		return;
	}
	sbput(&b, "%s", "");
	while ((r = syscall(SYS_read, fd, buf, sizeof(buf))) > 0)
		sbmem(&b, buf, (size_t)r);
	int e = errno;
	syscall(SYS_close, fd);
	if (r < 0) {
		errno = e;
		ret = -1;
	} else {
		ret = (long)b.len;
		sbput(&xd, " ");
		sbdata(&xd, b.s, b.len);
	}
	free(b.s);
}

/* cat, but prints how many of each byte value the file holds. */
static void do_hist(void)
{
	unsigned long long count[256] = {0};
	char buf[65536];
	long r;
	int fd;

	nargs_between(1, 1);
	fd = (int)syscall(SYS_openat, AT_FDCWD, path(0), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -1;
		return;
	}
	ret = 0;
	while ((r = syscall(SYS_read, fd, buf, sizeof(buf))) > 0) {
		for (long i = 0; i < r; i++)
			count[(unsigned char)buf[i]]++;
		ret += r;
	}
	int e = errno;
	syscall(SYS_close, fd);
	if (r < 0) {
		errno = e;
		ret = -1;
		return;
	}
	sbput(&xd, " {");
	for (int c = 0, first = 1; c < 256; c++)
		if (count[c]) {
			sbput(&xd, isgraph(c) ? "%s%c:%llu" : "%s\\x%02x:%llu", first ? "" : " ", c, count[c]);
			first = 0;
		}
	sbput(&xd, "}");
}

static void do_mkdir(void)
{
	nargs_between(2, 2);
	SC(SYS_mkdir, path(0), (mode_t)num(1));
}

static void do_mkdirat(void)
{
	nargs_between(3, 3);
	SC(SYS_mkdirat, (int)num(0), path(1), (mode_t)num(2));
}

static void do_rmdir(void)
{
	nargs_between(1, 1);
	SC(SYS_rmdir, path(0));
}

static void do_unlink(void)
{
	nargs_between(1, 1);
	SC(SYS_unlink, path(0));
}

static void do_unlinkat(void)
{
	nargs_between(3, 3);
	SC(SYS_unlinkat, (int)num(0), path(1), (int)num(2));
}

static void do_rename(void)
{
	nargs_between(2, 2);
	SC(SYS_rename, path(0), path(1));
}

static void do_renameat(void)
{
	nargs_between(4, 4);
	SC(SYS_renameat, (int)num(0), path(1), (int)num(2), path(3));
}

static void do_renameat2(void)
{
	nargs_between(5, 5);
	SC(SYS_renameat2, (int)num(0), path(1), (int)num(2), path(3), (unsigned)num(4));
}

static void do_link(void)
{
	nargs_between(2, 2);
	SC(SYS_link, path(0), path(1));
}

static void do_linkat(void)
{
	nargs_between(5, 5);
	SC(SYS_linkat, (int)num(0), path(1), (int)num(2), path(3), (int)num(4));
}

static void do_symlink(void)
{
	nargs_between(2, 2);
	SC(SYS_symlink, path(0), path(1));
}

static void do_symlinkat(void)
{
	nargs_between(3, 3);
	SC(SYS_symlinkat, path(0), (int)num(1), path(2));
}

static void linkdata(const char *buf)
{
	if (ret >= 0) {
		sbput(&xd, " ");
		sbpath(&xd, buf, (size_t)ret);
	}
}

static void do_readlink(void)
{
	size_t n;
	char *buf;

	nargs_between(1, 2);
	n = nargs > 1 ? (size_t)num(1) : 4096;
	buf = xalloc(n < 65536 ? n : 65536);	/* sizes over it are errors */
	SC(SYS_readlink, path(0), buf, n);
	linkdata(buf);
	free(buf);
}

static void do_readlinkat(void)
{
	size_t n;
	char *buf;

	nargs_between(2, 3);
	n = nargs > 2 ? (size_t)num(2) : 4096;
	buf = xalloc(n < 65536 ? n : 65536);
	SC(SYS_readlinkat, (int)num(0), path(1), buf, n);
	linkdata(buf);
	free(buf);
}

/* The last handle name_to_handle_at made, for open_by_handle_at. */
static struct {
	struct file_handle h;
	unsigned char bytes[MAX_HANDLE_SZ];
} handle;

static void do_name_to_handle_at(void)
{
	int mnt = -1;

	nargs_between(3, 3);
	handle.h.handle_bytes = MAX_HANDLE_SZ;
	SC(SYS_name_to_handle_at, (int)num(0), path(1), &handle.h, &mnt, (int)num(2));
}

static void do_open_by_handle_at(void)
{
	nargs_between(2, 2);
	SC(SYS_open_by_handle_at, (int)num(0), &handle.h, (int)num(1));
}

static void do_chmod(void)
{
	nargs_between(2, 2);
	SC(SYS_chmod, path(0), (mode_t)num(1));
}

static void do_fchmod(void)
{
	nargs_between(2, 2);
	SC(SYS_fchmod, (int)num(0), (mode_t)num(1));
}

static void do_fchmodat(void)
{
	nargs_between(3, 3);
	SC(SYS_fchmodat, (int)num(0), path(1), (mode_t)num(2));
}

static void do_fchmodat2(void)
{
	nargs_between(4, 4);
	SC(SYS_fchmodat2, (int)num(0), path(1), (mode_t)num(2), (int)num(3));
}

static void do_chown(void)
{
	nargs_between(3, 3);
	SC(SYS_chown, path(0), (uid_t)num(1), (gid_t)num(2));
}

static void do_lchown(void)
{
	nargs_between(3, 3);
	SC(SYS_lchown, path(0), (uid_t)num(1), (gid_t)num(2));
}

static void do_fchown(void)
{
	nargs_between(3, 3);
	SC(SYS_fchown, (int)num(0), (uid_t)num(1), (gid_t)num(2));
}

static void do_fchownat(void)
{
	nargs_between(5, 5);
	SC(SYS_fchownat, (int)num(0), path(1), (uid_t)num(2), (gid_t)num(3), (int)num(4));
}

static void do_truncate(void)
{
	nargs_between(2, 2);
	SC(SYS_truncate, path(0), (off_t)num(1));
}

static void do_ftruncate(void)
{
	nargs_between(2, 2);
	SC(SYS_ftruncate, (int)num(0), (off_t)num(1));
}

static void do_fsync(void)
{
	nargs_between(1, 1);
	SC(SYS_fsync, (int)num(0));
}

static void do_fdatasync(void)
{
	nargs_between(1, 1);
	SC(SYS_fdatasync, (int)num(0));
}

static void do_syncfs(void)
{
	nargs_between(1, 1);
	SC(SYS_syncfs, (int)num(0));
}

/* A time argument: SEC[:FRAC], NOW or OMIT. */
static void timearg(int i, long long *sec, long *frac)
{
	const char *s = word(i), *c;
	char *end;

	if (!strcmp(s, "NOW")) {
		*sec = 0;
		*frac = UTIME_NOW;
		return;
	}
	if (!strcmp(s, "OMIT")) {
		*sec = 0;
		*frac = UTIME_OMIT;
		return;
	}
	*sec = strtoll(s, &end, 10);
	*frac = 0;
	c = end;
	if (*c == ':')
		*frac = strtol(c + 1, &end, 10);
	if (*end)
		die("bad time '%s'", s);
}

/* Times at args i, i+1 (or NULL at i): returns the index after them. */
static int timespecs(int i, struct timespec ts[2], struct timespec **p)
{
	if (isnull(i)) {
		*p = NULL;
		return i + 1;
	}
	for (int k = 0; k < 2; k++) {
		long long s;
		long f;

		timearg(i + k, &s, &f);
		ts[k].tv_sec = (time_t)s;
		ts[k].tv_nsec = f;
	}
	*p = ts;
	return i + 2;
}

static int timevals(int i, struct timeval tv[2], struct timeval **p)
{
	if (isnull(i)) {
		*p = NULL;
		return i + 1;
	}
	for (int k = 0; k < 2; k++) {
		long long s;
		long f;

		timearg(i + k, &s, &f);
		tv[k].tv_sec = (time_t)s;
		tv[k].tv_usec = f;
	}
	*p = tv;
	return i + 2;
}

static void do_utimensat(void)
{
	struct timespec ts[2], *p;
	int i;

	nargs_between(4, 5);
	i = timespecs(2, ts, &p);
	if (i != nargs - 1)
		die("utimensat D P (NULL | A M) FLAGS");
	SC(SYS_utimensat, (int)num(0), path(1), p, (int)num(i));
}

static void do_utime(void)
{
	struct utimbuf {
		time_t actime, modtime;
	} u, *up = NULL;
	struct timeval tv[2], *p;

	nargs_between(2, 3);
	if (timevals(1, tv, &p) != nargs)
		die("utime P (NULL | A M)");
	if (p) {
		u.actime = tv[0].tv_sec;
		u.modtime = tv[1].tv_sec;
		up = &u;
	}
	SC(SYS_utime, path(0), up);
}

static void do_utimes(void)
{
	struct timeval tv[2], *p;

	nargs_between(2, 3);
	if (timevals(1, tv, &p) != nargs)
		die("utimes P (NULL | A M)");
	SC(SYS_utimes, path(0), p);
}

static void do_futimesat(void)
{
	struct timeval tv[2], *p;

	nargs_between(3, 4);
	if (timevals(2, tv, &p) != nargs)
		die("futimesat D P (NULL | A M)");
	SC(SYS_futimesat, (int)num(0), path(1), p);
}

static void statfsdata(const struct statfs *s)
{
	if (ret == 0)
		sbput(&xd, " {type=0x%lx bsize=%ld namelen=%ld frsize=%ld flags=0x%lx}",
		      (unsigned long)s->f_type, (long)s->f_bsize, (long)s->f_namelen,
		      (long)s->f_frsize, (unsigned long)s->f_flags);
}

static void do_statfs(void)
{
	struct statfs s;

	nargs_between(1, 1);
	SC(SYS_statfs, path(0), &s);
	statfsdata(&s);
}

static void do_fstatfs(void)
{
	struct statfs s;

	nargs_between(1, 1);
	SC(SYS_fstatfs, (int)num(0), &s);
	statfsdata(&s);
}

static void do_chdir(void)
{
	nargs_between(1, 1);
	SC(SYS_chdir, path(0));
}

static void do_fchdir(void)
{
	nargs_between(1, 1);
	SC(SYS_fchdir, (int)num(0));
}

static void do_chroot(void)
{
	nargs_between(1, 1);
	SC(SYS_chroot, path(0));
}

static void do_getcwd(void)
{
	size_t n;
	char *buf;

	nargs_between(0, 1);
	n = nargs ? (size_t)num(0) : 4096;
	buf = xalloc(n + 1);
	SC(SYS_getcwd, buf, n);
	if (ret > 0) {
		sbput(&xd, " ");
		sbpath(&xd, buf, strnlen(buf, (size_t)ret));
	}
	free(buf);
}

static void do_fallocate(void)
{
	nargs_between(4, 4);
	SC(SYS_fallocate, (int)num(0), (int)num(1), (off_t)num(2), (off_t)num(3));
}

/* The ioctls of fs/ioctl.c (see the list above). */
static void do_ioctl(void)
{
	unsigned long req;
	int fd, v = 0;

	if (nargs < 2)
		die("ioctl FD REQ [ARGS]");
	fd = (int)num(0);
	req = (unsigned long)num(1);
	switch (req) {
	case FIONREAD:
	case FIGETBSZ:
		nargs_between(2, 2);
		SC(SYS_ioctl, fd, req, &v);
		if (ret == 0)
			sbput(&xd, " %d", v);
		break;
	case FIOQSIZE: {
		long long q = 0;

		nargs_between(2, 2);
		SC(SYS_ioctl, fd, req, &q);
		if (ret == 0)
			sbput(&xd, " %lld", q);
		break;
	}
	case FIONBIO:
	case FIOASYNC:
		nargs_between(3, 3);
		v = (int)num(2);
		SC(SYS_ioctl, fd, req, &v);
		break;
	case FIOCLEX:
	case FIONCLEX:
		nargs_between(2, 2);
		SC(SYS_ioctl, fd, req, 0);
		break;
	case FICLONE:
		nargs_between(3, 3);
		SC(SYS_ioctl, fd, req, (int)num(2));
		break;
	case FICLONERANGE: {
		struct file_clone_range r;

		nargs_between(6, 6);
		r.src_fd = num(2);
		r.src_offset = num(3);
		r.src_length = num(4);
		r.dest_offset = num(5);
		SC(SYS_ioctl, fd, req, &r);
		break;
	}
	case FIDEDUPERANGE: {
		struct file_dedupe_range r = { 0 };

		nargs_between(4, 4);
		r.src_offset = num(2);
		r.src_length = num(3);
		SC(SYS_ioctl, fd, req, &r);
		break;
	}
	case FS_IOC_RESVSP64_:
	case FS_IOC_UNRESVSP64_:
	case FS_IOC_ZERO_RANGE_: {
		struct space_resv_ sr = { 0 };

		nargs_between(5, 5);
		sr.l_whence = (int16_t)num(2);
		sr.l_start = num(3);
		sr.l_len = num(4);
		SC(SYS_ioctl, fd, req, &sr);
		break;
	}
	default:
		die("ioctl: request %#lx not known here", req);
	}
}

/* xattrs: the name is a string, the value data */
static const char *xname(int i)
{
	size_t n;

	return data(i, &n);
}

static void do_setxattr_common(long nr, int isfd)
{
	size_t n;
	const char *v;

	nargs_between(4, 4);
	v = data(2, &n);
	if (isfd)
		SC(nr, (int)num(0), xname(1), v, n, (int)num(3));
	else
		SC(nr, path(0), xname(1), v, n, (int)num(3));
}

static void do_setxattr(void) { do_setxattr_common(SYS_setxattr, 0); }
static void do_lsetxattr(void) { do_setxattr_common(SYS_lsetxattr, 0); }
static void do_fsetxattr(void) { do_setxattr_common(SYS_fsetxattr, 1); }

static void xattrvalue(const char *buf, size_t n)
{
	if (ret > 0 && n > 0) {
		sbput(&xd, " ");
		sbdata(&xd, buf, (size_t)ret);
	}
}

static void do_getxattr_common(long nr, int isfd)
{
	size_t n;
	char *buf;

	nargs_between(3, 3);
	n = (size_t)num(2);
	buf = xalloc(n);
	if (isfd)
		SC(nr, (int)num(0), xname(1), n ? buf : NULL, n);
	else
		SC(nr, path(0), xname(1), n ? buf : NULL, n);
	xattrvalue(buf, n);
	free(buf);
}

static void do_getxattr(void) { do_getxattr_common(SYS_getxattr, 0); }
static void do_lgetxattr(void) { do_getxattr_common(SYS_lgetxattr, 0); }
static void do_fgetxattr(void) { do_getxattr_common(SYS_fgetxattr, 1); }

/* A list of names, sorted; names other than user.* and trusted.* are
 * dropped (security.* labels are the host's business). */
static void xattrlist(const char *buf, size_t n)
{
	char *names[1024];
	int cnt = 0;

	if (ret <= 0 || n == 0)
		return;
	for (size_t off = 0; off < (size_t)ret && cnt < 1024;) {
		const char *s = buf + off;

		if (!strncmp(s, "user.", 5) || !strncmp(s, "trusted.", 8))
			names[cnt++] = (char *)s;
		off += strlen(s) + 1;
	}
	qsort(names, (size_t)cnt, sizeof(names[0]), namecmp);
	sbput(&xd, " [");
	for (int i = 0; i < cnt; i++)
		sbput(&xd, "%s%s", i ? " " : "", names[i]);
	sbput(&xd, "]");
}

static void do_listxattr_common(long nr, int isfd)
{
	size_t n;
	char *buf;

	nargs_between(2, 2);
	n = (size_t)num(1);
	buf = xalloc(n + 1);
	if (isfd)
		SC(nr, (int)num(0), n ? buf : NULL, n);
	else
		SC(nr, path(0), n ? buf : NULL, n);
	xattrlist(buf, n);
	free(buf);
}

static void do_listxattr(void) { do_listxattr_common(SYS_listxattr, 0); }
static void do_llistxattr(void) { do_listxattr_common(SYS_llistxattr, 0); }
static void do_flistxattr(void) { do_listxattr_common(SYS_flistxattr, 1); }

static void do_removexattr(void)
{
	nargs_between(2, 2);
	SC(SYS_removexattr, path(0), xname(1));
}

static void do_lremovexattr(void)
{
	nargs_between(2, 2);
	SC(SYS_lremovexattr, path(0), xname(1));
}

static void do_fremovexattr(void)
{
	nargs_between(2, 2);
	SC(SYS_fremovexattr, (int)num(0), xname(1));
}

static void do_setxattrat(void)
{
	struct xattr_args_v0 a = {0};
	size_t n;
	const char *v;

	nargs_between(6, 6);
	v = data(4, &n);
	a.value = (uint64_t)(uintptr_t)v;
	a.size = (uint32_t)n;
	a.flags = (uint32_t)num(5);
	SC(SYS_setxattrat, (int)num(0), path(1), (unsigned)num(2), xname(3), &a, sizeof(a));
}

static void do_getxattrat(void)
{
	struct xattr_args_v0 a = {0};
	size_t n;
	char *buf;

	nargs_between(5, 5);
	n = (size_t)num(4);
	buf = xalloc(n);
	a.value = n ? (uint64_t)(uintptr_t)buf : 0;
	a.size = (uint32_t)n;
	SC(SYS_getxattrat, (int)num(0), path(1), (unsigned)num(2), xname(3), &a, sizeof(a));
	xattrvalue(buf, n);
	free(buf);
}

static void do_listxattrat(void)
{
	size_t n;
	char *buf;

	nargs_between(4, 4);
	n = (size_t)num(3);
	buf = xalloc(n + 1);
	SC(SYS_listxattrat, (int)num(0), path(1), (unsigned)num(2), n ? buf : NULL, n);
	xattrlist(buf, n);
	free(buf);
}

static void do_removexattrat(void)
{
	nargs_between(4, 4);
	SC(SYS_removexattrat, (int)num(0), path(1), (unsigned)num(2), xname(3));
}

static void do_mknod(void)
{
	nargs_between(3, 3);
	SC(SYS_mknod, path(0), (mode_t)num(1), (dev_t)num(2));
}

static void do_mknodat(void)
{
	nargs_between(4, 4);
	SC(SYS_mknodat, (int)num(0), path(1), (mode_t)num(2), (dev_t)num(3));
}

static void do_copy_file_range(void)
{
	loff_t oin = 0, oout = 0, *pin = NULL, *pout = NULL;

	nargs_between(6, 6);
	if (!isnull(1)) {
		oin = (loff_t)num(1);
		pin = &oin;
	}
	if (!isnull(3)) {
		oout = (loff_t)num(3);
		pout = &oout;
	}
	SC(SYS_copy_file_range, (int)num(0), pin, (int)num(2), pout, (size_t)num(4), (unsigned)num(5));
	if (pin)
		sbput(&xd, " off_in=%lld", (long long)oin);
	if (pout)
		sbput(&xd, " off_out=%lld", (long long)oout);
}

static void do_sendfile(void)
{
	off_t off = 0, *p = NULL;

	nargs_between(4, 4);
	if (!isnull(2)) {
		off = (off_t)num(2);
		p = &off;
	}
	SC(SYS_sendfile, (int)num(0), (int)num(1), p, (size_t)num(3));
	if (p)
		sbput(&xd, " off=%lld", (long long)off);
}

/* Raw setresuid/setresgid: this thread's IDs only (glibc's wrappers would
   make every thread change, which fsops does not need). */
static void do_setresuid(void)
{
	nargs_between(3, 3);
	SC(SYS_setresuid, (uid_t)num(0), (uid_t)num(1), (uid_t)num(2));
}

static void do_setresgid(void)
{
	nargs_between(3, 3);
	SC(SYS_setresgid, (gid_t)num(0), (gid_t)num(1), (gid_t)num(2));
}

static void do_setfsuid(void)
{
	nargs_between(1, 1);
	SC(SYS_setfsuid, (uid_t)num(0));
}

static void do_flock(void)
{
	nargs_between(2, 2);
	SC(SYS_flock, (int)num(0), (int)num(1));
}

static pid_t lastchild;

static void sbpid(struct sb *b, pid_t pid)
{
	if (pid == 0 || pid == -1)
		sbput(b, "%d", pid);
	else if (pid == getpid())
		sbput(b, "self");
	else if (pid == getppid())
		sbput(b, "parent");
	else if (pid == lastchild)
		sbput(b, "child");
	else
		sbput(b, "other");
}

static void do_fcntl(void)
{
	int fd, cmd;

	nargs_between(2, 5);
	fd = (int)num(0);
	cmd = (int)num(1);
	switch (cmd) {
	case F_GETFD:
	case F_GETFL:
		nargs_between(2, 2);
		SC(SYS_fcntl, fd, cmd);
		if (ret >= 0 && cmd == F_GETFL) {
			sbput(&xd, " ");
			sbopenflags(&xd, ret);
			ret = 0;
		}
		break;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
	case F_SETFD:
	case F_SETFL:
		nargs_between(3, 3);
		SC(SYS_fcntl, fd, cmd, (long)num(2));
		break;
	case F_SETLK:
	case F_SETLKW:
	case F_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
	case F_OFD_GETLK: {
		struct flock fl = {0};

		nargs_between(5, 5);
		fl.l_type = (short)num(2);
		fl.l_whence = SEEK_SET;
		fl.l_start = (off_t)num(3);
		fl.l_len = (off_t)num(4);
		SC(SYS_fcntl, fd, cmd, &fl);
		if (ret == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK)) {
			static const char *tn[] = {"F_RDLCK", "F_WRLCK", "F_UNLCK"};

			sbput(&xd, " {%s", fl.l_type >= 0 && fl.l_type <= 2 ? tn[fl.l_type] : "?");
			if (fl.l_type != F_UNLCK) {
				sbput(&xd, " start=%lld len=%lld pid=", (long long)fl.l_start,
				      (long long)fl.l_len);
				sbpid(&xd, fl.l_pid);
			}
			sbput(&xd, "}");
		}
		break;
	}
	default:
		die("fcntl: command not supported here");
	}
}

static void do_dup(void)
{
	nargs_between(1, 1);
	SC(SYS_dup, (int)num(0));
}

static void do_dup2(void)
{
	nargs_between(2, 2);
	SC(SYS_dup2, (int)num(0), (int)num(1));
}

static void do_dup3(void)
{
	nargs_between(3, 3);
	SC(SYS_dup3, (int)num(0), (int)num(1), (int)num(2));
}

static void do_close_range(void)
{
	nargs_between(3, 3);
	SC(SYS_close_range, (unsigned)num(0), (unsigned)num(1), (unsigned)num(2));
}

static void do_sleep(void)
{
	struct timespec ts;
	long long ms;

	nargs_between(1, 1);
	ms = num(0);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	ret = 0;
}

static void do_umask(void)
{
	nargs_between(1, 1);
	ret = (long)umask((mode_t)num(0));
	sbput(&xd, " (was %04lo)", ret);
	ret = 0;
}

struct op {
	const char *name;
	void (*fn)(void);
};

static const struct op ops[] = {
	{"open", do_open}, {"openat", do_openat}, {"openat2", do_openat2},
	{"creat", do_creat}, {"close", do_close},
	{"read", do_read}, {"pread", do_pread}, {"readv", do_readv},
	{"preadv", do_preadv}, {"preadv2", do_preadv2},
	{"write", do_write}, {"pwrite", do_pwrite}, {"writev", do_writev},
	{"pwritev", do_pwritev}, {"pwritev2", do_pwritev2}, {"lseek", do_lseek},
	{"stat", do_stat}, {"lstat", do_lstat}, {"fstat", do_fstat},
	{"fstatat", do_fstatat}, {"statx", do_statx},
	{"access", do_access}, {"faccessat", do_faccessat}, {"faccessat2", do_faccessat2},
	{"getdents", do_getdents}, {"getdents1", do_getdents1}, {"ls", do_ls}, {"cat", do_cat}, {"hist", do_hist},
	{"mkdir", do_mkdir}, {"mkdirat", do_mkdirat}, {"rmdir", do_rmdir},
	{"unlink", do_unlink}, {"unlinkat", do_unlinkat},
	{"rename", do_rename}, {"renameat", do_renameat}, {"renameat2", do_renameat2},
	{"link", do_link}, {"linkat", do_linkat}, {"symlink", do_symlink},
	{"symlinkat", do_symlinkat}, {"readlink", do_readlink}, {"readlinkat", do_readlinkat},
	{"chmod", do_chmod}, {"fchmod", do_fchmod}, {"fchmodat", do_fchmodat},
	{"fchmodat2", do_fchmodat2}, {"chown", do_chown}, {"fchown", do_fchown},
	{"lchown", do_lchown}, {"fchownat", do_fchownat},
	{"truncate", do_truncate}, {"ftruncate", do_ftruncate}, {"fsync", do_fsync},
	{"fdatasync", do_fdatasync}, {"syncfs", do_syncfs},
	{"utimensat", do_utimensat}, {"utime", do_utime}, {"utimes", do_utimes},
	{"futimesat", do_futimesat}, {"statfs", do_statfs}, {"fstatfs", do_fstatfs},
	{"chdir", do_chdir}, {"fchdir", do_fchdir}, {"getcwd", do_getcwd},
	{"chroot", do_chroot},
	{"fallocate", do_fallocate}, {"ioctl", do_ioctl},
	{"name_to_handle_at", do_name_to_handle_at},
	{"open_by_handle_at", do_open_by_handle_at},
	{"setxattr", do_setxattr}, {"lsetxattr", do_lsetxattr}, {"fsetxattr", do_fsetxattr},
	{"getxattr", do_getxattr}, {"lgetxattr", do_lgetxattr}, {"fgetxattr", do_fgetxattr},
	{"listxattr", do_listxattr}, {"llistxattr", do_llistxattr},
	{"flistxattr", do_flistxattr}, {"removexattr", do_removexattr},
	{"lremovexattr", do_lremovexattr}, {"fremovexattr", do_fremovexattr},
	{"setxattrat", do_setxattrat}, {"getxattrat", do_getxattrat},
	{"listxattrat", do_listxattrat}, {"removexattrat", do_removexattrat},
	{"mknod", do_mknod}, {"mknodat", do_mknodat},
	{"copy_file_range", do_copy_file_range}, {"sendfile", do_sendfile},
	{"flock", do_flock}, {"fcntl", do_fcntl},
	{"setresuid", do_setresuid}, {"setresgid", do_setresgid}, {"setfsuid", do_setfsuid},
	{"dup", do_dup}, {"dup2", do_dup2}, {"dup3", do_dup3}, {"close_range", do_close_range},
	{"sleep", do_sleep}, {"umask", do_umask},
};

static const struct op *findop(const char *name)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].name, name))
			return &ops[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Running a case */

static struct line *lines;
static int nlines;

static struct {
	char name[64];
	pid_t pid;
	struct shout *sh;
	int waited;
} spawns[64];
static int nspawns;

static void prefix(void)
{
	for (int i = 0; i < depth; i++)
		out("child: ");
}

static const char *errname(int e)
{
	if (e == ENOENT && !strcmp(breakmode, "errno"))
		e = ENOTDIR;
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* The index of the "}" closing the block that starts after line i. */
static int block_end(int i, int end)
{
	int level = 1;

	for (int k = i + 1; k < end; k++) {
		struct line *l = &lines[k];

		if (l->ntok && l->tok[l->ntok - 1].kind == T_WORD &&
		    !strcmp(l->tok[l->ntok - 1].s, "{"))
			level++;
		else if (l->ntok == 1 && !strcmp(l->tok[0].s, "}") && --level == 0)
			return k;
	}
	lineno = lines[i].lineno;
	die("block not closed");
}

static void reap_status(int status)
{
	if (WIFEXITED(status))
		out(" = exit %d\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		out(" = signal %s\n", sigabbrev_np(WTERMSIG(status)) ?: "?");
	else
		out(" = status 0x%x\n", status);
}

static void run_lines(int from, int to);

/* Reaps a child and appends the lines it left in shared memory. */
static void reap(pid_t pid, struct shout *sh, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	if (sh->len > SHOUT_SIZE - sizeof(*sh))
		die("child output too long");
	if (sh->len)
		out("%.*s", (int)sh->len, sh->data);
	munmap(sh, SHOUT_SIZE);
}

static void wait_spawns(int report)
{
	for (int i = 0; i < nspawns; i++)
		if (!spawns[i].waited) {
			int st;

			reap(spawns[i].pid, spawns[i].sh, &st);
			spawns[i].waited = 1;
			if (report) {
				prefix();
				out("(spawn %s not waited for)", spawns[i].name);
				reap_status(st);
			}
		}
}

static void run_fork(int i, int end, const char *spawnname)
{
	int close_at = block_end(i, end);
	struct shout *sh;
	pid_t pid;

	prefix();
	out("%s\n", lines[i].text);
	oflush();
	sh = mmap(NULL, SHOUT_SIZE, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	sh->len = 0;
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		shared = sh;
		obuf = sh->data;
		olen = 0;
		ocap = SHOUT_SIZE - sizeof(*sh);
		depth++;
		nspawns = 0;
		alarm(30);
		run_lines(i + 1, close_at);
		wait_spawns(1);
		_exit(0);
	}
	lastchild = pid;
	if (spawnname) {
		if (nspawns == 64)
			die("too many spawns");
		snprintf(spawns[nspawns].name, sizeof(spawns[nspawns].name), "%s", spawnname);
		spawns[nspawns].pid = pid;
		spawns[nspawns].sh = sh;
		spawns[nspawns++].waited = 0;
	} else {
		int st;

		reap(pid, sh, &st);
		prefix();
		out("}");
		reap_status(st);
	}
}

static void run_wait(const char *name, const char *text)
{
	for (int i = 0; i < nspawns; i++)
		if (!strcmp(spawns[i].name, name) && !spawns[i].waited) {
			int st;

			reap(spawns[i].pid, spawns[i].sh, &st);
			spawns[i].waited = 1;
			prefix();
			out("%s", text);
			reap_status(st);
			return;
		}
	die("no spawn named %s", name);
}

static void run_op(struct line *l, int t0)
{
	const struct op *op;
	const char *bind = NULL;
	int n = l->ntok;

	if (n - t0 >= 3 && l->tok[n - 2].kind == T_WORD && !strcmp(l->tok[n - 2].s, "->")) {
		bind = l->tok[n - 1].s;
		n -= 2;
	}
	op = findop(l->tok[t0].s);
	if (!op)
		die("unknown operation '%s'", l->tok[t0].s);
	args = &l->tok[t0 + 1];
	nargs = n - t0 - 1;
	/*
	 * A lookup can say ELOOP for a chain shorter than the kernel's limit
	 * of 40 links: when an RCU-walk gives up half-way (another task
	 * changed the dcache, common on a busy machine), the walk starts
	 * again by references but keeps the links it had already counted
	 * (nameidata's total_link_count), natively as through any mount.
	 * ELOOP is found while resolving a path, before the call changes
	 * anything, so a try again is safe; a true ELOOP says so each time.
	 */
	for (int tries = 0; tries < 5; tries++) {
		free(xd.s);
		memset(&xd, 0, sizeof(xd));
		ret = 0;
		errno = 0;
		op->fn();
		if (ret >= 0 || errno != ELOOP)
			break;
	}
	if (bind)
		setvar(bind, ret);
}

static void run_line(struct line *l)
{
	int e;

	if (!strcmp(l->tok[0].s, "repeat")) {
		/* results by errno (0: success, with the range of values) */
		struct { int err; long long count; long lo, hi; } tally[16];
		long long times;
		int ntally = 0;

		args = &l->tok[1];
		nargs = l->ntok - 1;
		times = num(0);
		if (l->ntok < 3)
			die("repeat N OP ARG...");
		for (long long k = 0; k < times; k++) {
			int t;

			run_op(l, 2);
			e = ret < 0 ? errno : 0;
			paths_free();
			for (t = 0; t < ntally; t++)
				if (tally[t].err == e)
					break;
			if (t == ntally) {
				if (ntally == 16)
					die("repeat: too many different results");
				tally[ntally].err = e;
				tally[ntally].lo = tally[ntally].hi = ret;
				tally[ntally++].count = 0;
			}
			tally[t].count++;
			if (ret < tally[t].lo)
				tally[t].lo = ret;
			if (ret > tally[t].hi)
				tally[t].hi = ret;
		}
		prefix();
		out("%s =", l->text);
		for (int t = 0; t < ntally; t++) {
			if (tally[t].err)
				out(" %lldx(-1 %s)", tally[t].count, errname(tally[t].err));
			else if (tally[t].lo == tally[t].hi)
				out(" %lldx(%ld)", tally[t].count, tally[t].lo);
			else
				out(" %lldx(%ld..%ld)", tally[t].count, tally[t].lo, tally[t].hi);
		}
		out("\n");
		return;
	}
	run_op(l, 0);
	e = errno;
	paths_free();
	prefix();
	if (ret < 0)
		out("%s = %ld %s%.*s\n", l->text, ret, errname(e), (int)xd.len, xd.s ? xd.s : "");
	else
		out("%s = %ld%.*s\n", l->text, ret, (int)xd.len, xd.s ? xd.s : "");
}

static void run_lines(int from, int to)
{
	for (int i = from; i < to; i++) {
		struct line *l = &lines[i];

		lineno = l->lineno;
		if (l->ntok && l->tok[l->ntok - 1].kind == T_WORD && !strcmp(l->tok[l->ntok - 1].s, "{")) {
			if (!strcmp(l->tok[0].s, "fork") && l->ntok == 2) {
				run_fork(i, to, NULL);
			} else if (!strcmp(l->tok[0].s, "spawn") && l->ntok == 3) {
				run_fork(i, to, l->tok[1].s);
			} else {
				die("only \"fork {\" and \"spawn NAME {\" open blocks");
			}
			i = block_end(i, to);
			continue;
		}
		if (!strcmp(l->tok[0].s, "}"))
			die("unmatched }");
		if (!strcmp(l->tok[0].s, "wait")) {
			if (l->ntok != 2)
				die("wait NAME");
			run_wait(l->tok[1].s, l->text);
			continue;
		}
		run_line(l);
		oflush();
	}
}

/* Loads the lines of case `name` from `file`. */
static void load_case(const char *file, const char *name)
{
	FILE *f = fopen(file, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int ln = 0, in = 0, found = 0;

	if (!f) {
		fprintf(stderr, "fsops: %s: %s\n", file, strerror(errno));
		exit(2);
	}
	while ((n = getline(&buf, &cap, f)) >= 0) {
		char *s = buf, *e;

		ln++;
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = 0;
		if (!*s || *s == '#')
			continue;
		if (!strncmp(s, "case ", 5)) {
			char *nm = s + 5;

			while (*nm == ' ')
				nm++;
			in = !strcmp(nm, name);
			if (in) {
				if (found) {
					fprintf(stderr, "fsops: %s: case %s twice\n", file, name);
					exit(2);
				}
				found = 1;
			}
			continue;
		}
		if (!in || *s == '@')
			continue;
		lines = realloc(lines, (size_t)(nlines + 1) * sizeof(*lines));
		lineno = ln;
		lines[nlines].lineno = ln;
		lines[nlines].text = strdup(s);
		tokenize(&lines[nlines], s);
		nlines++;
	}
	free(buf);
	fclose(f);
	if (!found) {
		fprintf(stderr, "fsops: %s: no case %s\n", file, name);
		exit(2);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
	out("TIMEOUT\n");
	oflush();
	_exit(4);
}

static int brkfd = -1;	/* --break=tree: BASE, for after a chroot */

int main(int argc, char **argv)
{
	int fd;
	char *slash;

	if (argc > 1 && !strncmp(argv[1], "--break=", 8)) {
		breakmode = argv[1] + 8;
		argv++;
		argc--;
	}
	if (argc != 4 || argv[1][0] != '/') {
		fprintf(stderr, "usage: fsops [--break=errno|tree] /ABSOLUTE/BASE CASEFILE CASENAME\n");
		return 2;
	}
	base = argv[1];
	casefile = argv[2];
	baselen = strlen(base);
	snprintf(top, sizeof(top), "%s", base);
	slash = strrchr(top, '/');
	if (slash == top)
		slash[1] = 0;
	else
		*slash = 0;
	toplen = strlen(top);

	obuf = malloc(ocap);
	if (!obuf)
		return 3;
	umask(022);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm(30);
	load_case(casefile, argv[3]);

	out("case %s\n", argv[3]);
	if (syscall(SYS_chdir, base)) {
		out("chdir BASE = -1 %s\n", errname(errno));
		oflush();
		return 1;
	}
	fd = (int)syscall(SYS_openat, AT_FDCWD, base, O_RDONLY | O_DIRECTORY);
	if (fd < 0)	/* the case goes on: its own lines show the rest */
		out("BASE = -1 %s\n", errname(errno));
	else
		out("BASE = %d\n", fd);
	setvar("BASE", fd);
	/* BASE by a descriptor too, far from the case's numbers, for a case
	   that leaves BASE's path behind (chroot) */
	if (!strcmp(breakmode, "tree")) {
		int b = (int)syscall(SYS_open, base, O_PATH | O_DIRECTORY | O_CLOEXEC);

		brkfd = b < 0 ? -1 : fcntl(b, F_DUPFD_CLOEXEC, 700);
		if (b >= 0)
			close(b);
	}

	run_lines(0, nlines);
	wait_spawns(1);
	if (!strcmp(breakmode, "tree")) {
		char p[4200];

		snprintf(p, sizeof(p), "%s/.broken", base);
		if (syscall(SYS_mkdir, p, 0755) && brkfd >= 0)
			syscall(SYS_mkdirat, brkfd, ".broken", 0755);
	}
	out("end\n");
	oflush();
	return 0;
}
