/*
 * format.c: strace-style lines for realistic calls.
 *
 * The expected texts were checked against strace 6.1 on the same calls.
 * The traced program's memory is this test's own, read through the stub of
 * defuse_read_user() below, which can be told to fail: a bad pointer must
 * print as hex, never be dereferenced.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <sys/syscall.h>

#include "trace/format.h"

/* Reads that start in [bad_lo, bad_hi) fail; reads running into it are short. */
static uintptr_t bad_lo, bad_hi;
static unsigned long reads;

/*
 * Not instrumented by AddressSanitizer: string reads run to the end of the
 * page, past the string literal they start in, as process_vm_readv may.
 */
__attribute__((no_sanitize_address))
long defuse_read_user(void *dst, const void *src, unsigned long n)
{
	uintptr_t a = (uintptr_t)src;
	unsigned char *d = dst;
	const unsigned char *s = src;

	reads++;
	if (a < 4096 || (a >= bad_lo && a < bad_hi))
		return -EFAULT;
	if (a < bad_lo && n > bad_lo - a)
		n = bad_lo - a;		/* as process_vm_readv at a page edge */
	for (unsigned long i = 0; i < n; i++)
		d[i] = s[i];
	return (long)n;
}

#define BAD_PTR 0xdead0000L

static char out[16384];

static int setup(void **state)
{
	(void)state;
	bad_lo = (uintptr_t)BAD_PTR;
	bad_hi = (uintptr_t)BAD_PTR + 0x10000;
	reads = 0;
	return 0;
}

static const char *format(long nr, const long arg[6], long ret, int finished)
{
	struct fmt f;
	size_t n;

	fmt_init(&f, out, sizeof(out));
	n = trace_format_call(&f, nr, arg, ret, finished);
	assert_int_equal(n, f.len);
	assert_false(f.truncated);
	return fmt_cstr(&f);
}

#define CALL(nr, ret, ...)	format((nr), (const long[6]){ __VA_ARGS__ }, (ret), 1)
#define UNFINISHED(nr, ...)	format((nr), (const long[6]){ __VA_ARGS__ }, 0, 0)
#define P(x)			((long)(uintptr_t)(x))

/* "left = right" with strace's alignment of " = " at column 39. */
static const char *line(const char *left, const char *right)
{
	static char buf[16384];
	int pad = 39 - (int)strlen(left);

	snprintf(buf, sizeof(buf), "%s%*s = %s", left, pad > 0 ? pad : 0, "", right);
	return buf;
}

/* A pointer as format.c prints it. */
static const char *hex(const void *p)
{
	static char buf[4][32];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%#lx", (unsigned long)(uintptr_t)p);
	return buf[i];
}

/* ------------------------------------------------------------------ */

static void test_openat(void **state)
{
	(void)state;
	assert_string_equal(
		CALL(__NR_openat, 3, -100, P("/etc/passwd"), 02000000),
		"openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3");
	assert_string_equal(
		CALL(__NR_openat, 4, 5, P("out.txt"), 01 | 0100 | 01000, 0644),
		"openat(5, \"out.txt\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 4");
	assert_string_equal(
		CALL(__NR_openat, -ENOENT, -100, P("/nonexistent/file"), 0),
		"openat(AT_FDCWD, \"/nonexistent/file\", O_RDONLY) = -1 ENOENT (No such file or directory)");
	/* O_TMPFILE takes a mode too; a set O_SYNC hides O_DSYNC. */
	assert_string_equal(
		CALL(__NR_openat, 3, -100, P("/tmp"), 02 | 020200000 | 04010000, 0600),
		"openat(AT_FDCWD, \"/tmp\", O_RDWR|O_SYNC|O_TMPFILE, 0600) = 3");
	assert_string_equal(
		CALL(__NR_open, 3, P("/dev/null"), 02 | 04000 | 0100000 | 0x40000000),
		line("open(\"/dev/null\", O_RDWR|O_NONBLOCK|O_LARGEFILE|0x40000000)", "3"));
}

static void test_read_write_data(void **state)
{
	static const char passwd[] = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1";
	char ptr[32];

	(void)state;
	assert_string_equal(
		CALL(__NR_read, 1234, 3, P(passwd), 4096),
		"read(3, \"root:x:0:0:root:/root:/bin/bash\\n\"..., 4096) = 1234");
	assert_string_equal(
		CALL(__NR_write, 14, 1, P("hello\n\t\"q\\\001\0012\377"), 14),
		"write(1, \"hello\\n\\t\\\"q\\\\\\1\\0012\\377\", 14) = 14");
	/* Exactly 32 bytes: no ellipsis; 33: one. */
	assert_string_equal(
		CALL(__NR_write, 32, 1, P("0123456789abcdef0123456789ABCDEF!"), 32),
		line("write(1, \"0123456789abcdef0123456789ABCDEF\", 32)", "32"));
	assert_string_equal(
		CALL(__NR_write, 33, 1, P("0123456789abcdef0123456789ABCDEF!"), 33),
		line("write(1, \"0123456789abcdef0123456789ABCDEF\"..., 33)", "33"));
	/* A read that failed, or has not returned, filled nothing. */
	snprintf(ptr, sizeof(ptr), "read(3, %s, 10)", hex(passwd));
	assert_string_equal(CALL(__NR_read, -EAGAIN, 3, P(passwd), 10),
			    line(ptr, "-1 EAGAIN (Resource temporarily unavailable)"));
	assert_string_equal(UNFINISHED(__NR_read, 3, P(passwd), 10), line(ptr, "?"));
	assert_string_equal(CALL(__NR_read, 0, 3, P(passwd), 10),
			    line("read(3, \"\", 10)", "0"));
	assert_string_equal(
		CALL(__NR_pread64, 5, 3, P("llo\n\t"), 5, 2),
		line("pread64(3, \"llo\\n\\t\", 5, 2)", "5"));
	assert_string_equal(
		CALL(__NR_pwrite64, 2, 3, P("ok"), 2, 1L << 40),
		line("pwrite64(3, \"ok\", 2, 1099511627776)", "2"));
}

static void test_stat_family(void **state)
{
	unsigned char st[144] = { 0 };
	uint32_t mode = 0100644;
	int64_t size = 1221;
	char left[64];

	(void)state;
	memcpy(st + 24, &mode, 4);
	memcpy(st + 48, &size, 8);
	assert_string_equal(
		CALL(__NR_newfstatat, 0, -100, P("/etc/passwd"), P(st), 0),
		"newfstatat(AT_FDCWD, \"/etc/passwd\", {st_mode=S_IFREG|0644, st_size=1221, ...}, 0) = 0");
	snprintf(left, sizeof(left), "stat(\"/nope\", %s)", hex(st));
	assert_string_equal(CALL(__NR_stat, -ENOENT, P("/nope"), P(st)),
			    line(left, "-1 ENOENT (No such file or directory)"));

	/* Devices show st_rdev; set-id bits print by name. */
	uint32_t chr = 020620;
	uint64_t rdev = (136 << 8) | 3;
	memcpy(st + 24, &chr, 4);
	memcpy(st + 40, &rdev, 8);
	assert_string_equal(
		CALL(__NR_fstat, 0, 1, P(st)),
		line("fstat(1, {st_mode=S_IFCHR|0620, st_rdev=makedev(0x88, 0x3), ...})", "0"));
	uint32_t dir = 041777;
	memcpy(st + 24, &dir, 4);
	assert_string_equal(
		CALL(__NR_newfstatat, 0, 3, P(""), P(st), 0x1000),
		"newfstatat(3, \"\", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=1221, ...}, AT_EMPTY_PATH) = 0");
}

static void test_exit_group_unfinished(void **state)
{
	(void)state;
	/* Padding with literal spaces: the alignment itself under test. */
	assert_string_equal(UNFINISHED(__NR_exit_group, 0),
			    "exit_group(0)                           = ?");
	assert_string_equal(CALL(__NR_close, 0, 3),
			    "close(3)                                = 0");
}

/* The column counts from the line start, so a pid prefix shifts nothing. */
static void test_alignment_counts_prefix(void **state)
{
	const long arg[6] = { 3 };
	struct fmt f;

	(void)state;
	fmt_init(&f, out, sizeof(out));
	fmt_str(&f, "[pid  4025] ");
	trace_format_call(&f, __NR_close, arg, 0, 1);
	assert_string_equal(fmt_cstr(&f), "[pid  4025] close(3)                    = 0");

	fmt_init(&f, out, sizeof(out));
	fmt_str(&f, "first line\n");
	trace_format_call(&f, __NR_close, arg, 0, 1);
	assert_string_equal(fmt_cstr(&f), "first line\nclose(3)                                = 0");
}

static void test_mmap_family(void **state)
{
	(void)state;
	assert_string_equal(
		CALL(__NR_mmap, 0x7f1234560000, 0, 8192, 3, 0x22, -1, 0),
		"mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1234560000");
	assert_string_equal(
		CALL(__NR_mmap, 0x7f12b8ec0000, 0x7f12b8ec0000, 110592, 5, 0x812, 3, 0x7000),
		"mmap(0x7f12b8ec0000, 110592, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x7000) = 0x7f12b8ec0000");
	assert_string_equal(
		CALL(__NR_mmap, -ENOMEM, 0, 1L << 46, 0, 0x4022, -1, 0),
		"mmap(NULL, 70368744177664, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0) = -1 ENOMEM (Cannot allocate memory)");
	assert_string_equal(
		CALL(__NR_mprotect, 0, 0x7f12b8ea6000, 16384, 1),
		"mprotect(0x7f12b8ea6000, 16384, PROT_READ) = 0");
	assert_string_equal(CALL(__NR_brk, 0x55a940f70000, 0),
			    line("brk(NULL)", "0x55a940f70000"));
	assert_string_equal(CALL(__NR_munmap, 0, 0x7f0000000000, 45555),
			    line("munmap(0x7f0000000000, 45555)", "0"));
}

static void test_access_and_at_flags(void **state)
{
	(void)state;
	assert_string_equal(CALL(__NR_access, 0, P("/"), 0),
			    line("access(\"/\", F_OK)", "0"));
	assert_string_equal(CALL(__NR_access, -EACCES, P("/etc/shadow"), 6),
			    line("access(\"/etc/shadow\", R_OK|W_OK)",
				 "-1 EACCES (Permission denied)"));
	assert_string_equal(
		CALL(__NR_unlinkat, 0, -100, P("dir"), 0x200),
		line("unlinkat(AT_FDCWD, \"dir\", AT_REMOVEDIR)", "0"));
	assert_string_equal(
		CALL(__NR_faccessat2, 0, -100, P("/etc"), 2, 0x300),
		"faccessat2(AT_FDCWD, \"/etc\", W_OK, AT_SYMLINK_NOFOLLOW|AT_EACCESS) = 0");
}

static void test_path_calls(void **state)
{
	(void)state;
	assert_string_equal(CALL(__NR_mkdir, 0, P("/tmp/d"), 0755),
			    line("mkdir(\"/tmp/d\", 0755)", "0"));
	assert_string_equal(CALL(__NR_mkdir, 0, P("/tmp/d"), 0),
			    line("mkdir(\"/tmp/d\", 000)", "0"));
	assert_string_equal(CALL(__NR_chmod, 0, P("x"), 04755),
			    line("chmod(\"x\", 04755)", "0"));
	assert_string_equal(
		CALL(__NR_rename, -EXDEV, P("/a"), P("/mnt/b")),
		line("rename(\"/a\", \"/mnt/b\")", "-1 EXDEV (Invalid cross-device link)"));
	assert_string_equal(CALL(__NR_unlink, 0, P("/tmp/y")),
			    line("unlink(\"/tmp/y\")", "0"));
	assert_string_equal(CALL(__NR_chdir, -ENOENT, P("/nope")),
			    line("chdir(\"/nope\")", "-1 ENOENT (No such file or directory)"));
	assert_string_equal(CALL(__NR_readlink, 5, P("/tmp/lnk"), P("x.txtGARBAGE"), 200),
			    line("readlink(\"/tmp/lnk\", \"x.txt\", 200)", "5"));
	assert_string_equal(CALL(__NR_getcwd, 13, P("/tmp/harness"), 200),
			    line("getcwd(\"/tmp/harness\", 200)", "13"));
	assert_string_equal(
		CALL(__NR_renameat2, 0, -100, P("a"), 4, P("b"), 1),
		line("renameat2(AT_FDCWD, \"a\", 4, \"b\", RENAME_NOREPLACE)", "0"));
}

/* The point of defuse_read_user: bad pointers print as addresses. */
static void test_bad_pointers(void **state)
{
	(void)state;
	assert_string_equal(
		CALL(__NR_openat, -EFAULT, -100, BAD_PTR, 0),
		line("openat(AT_FDCWD, 0xdead0000, O_RDONLY)", "-1 EFAULT (Bad address)"));
	assert_string_equal(CALL(__NR_stat, -EFAULT, 1, BAD_PTR),
			    line("stat(0x1, 0xdead0000)", "-1 EFAULT (Bad address)"));
	assert_string_equal(CALL(__NR_write, -EFAULT, 1, BAD_PTR, 10),
			    line("write(1, 0xdead0000, 10)", "-1 EFAULT (Bad address)"));
	/* Even when the call claims success, unreadable output stays hex. */
	assert_string_equal(CALL(__NR_read, 10, 3, BAD_PTR, 10),
			    line("read(3, 0xdead0000, 10)", "10"));
	assert_string_equal(CALL(__NR_fstat, 0, 3, BAD_PTR),
			    line("fstat(3, 0xdead0000)", "0"));
	assert_string_equal(
		CALL(__NR_execve, -EFAULT, P("/bin/ls"), BAD_PTR, BAD_PTR),
		line("execve(\"/bin/ls\", 0xdead0000, 0xdead0000)", "-1 EFAULT (Bad address)"));
	assert_string_equal(CALL(__NR_unlink, -EFAULT, 0),
			    line("unlink(NULL)", "-1 EFAULT (Bad address)"));
	assert_true(reads > 0);
}

/* A string that runs into an unreadable page without a terminator. */
static void test_path_runs_into_bad_page(void **state)
{
	static char page[8192];
	char *s = page + 4000;
	char left[64];

	(void)state;
	memset(page, 'a', sizeof(page));
	bad_lo = (uintptr_t)(page + 4096);
	bad_hi = bad_lo + 4096;
	snprintf(left, sizeof(left), "unlink(%s)", hex(s));
	assert_string_equal(CALL(__NR_unlink, -EFAULT, P(s)),
			    line(left, "-1 EFAULT (Bad address)"));

	/* Terminated on the last readable byte: fine, nothing past it read. */
	page[4095] = '\0';
	assert_string_equal(CALL(__NR_unlink, 0, P(page + 4090)),
			    line("unlink(\"aaaaa\")", "0"));
}

/* Paths show up to PATH_MAX - 1 bytes, other strings 32. */
static void test_long_strings(void **state)
{
	static char path[6000];
	static char want[8192];

	(void)state;
	memset(path, 'p', sizeof(path) - 1);
	snprintf(want, sizeof(want), "unlink(\"%.4095s\"...) = 0", path);
	assert_string_equal(CALL(__NR_unlink, 0, P(path)), want);

	path[4095] = '\0';	/* exactly 4095: all of it, no ellipsis */
	snprintf(want, sizeof(want), "unlink(\"%s\") = 0", path);
	assert_string_equal(CALL(__NR_unlink, 0, P(path)), want);

	assert_string_equal(
		CALL(__NR_memfd_create, 3, P("a-rather-long-memfd-name-over-32-chars"), 1),
		"memfd_create(\"a-rather-long-memfd-name-over-32\"..., MFD_CLOEXEC) = 3");
}

static void test_execve(void **state)
{
	const char *argv[] = { "ls", "-l", "a file\twith tab", NULL };
	const char *envp[] = { "A=1", "PATH=/bin", NULL };
	char left[256];

	(void)state;
	snprintf(left, sizeof(left),
		 "execve(\"/bin/ls\", [\"ls\", \"-l\", \"a file\\twith tab\"], %s /* 2 vars */)",
		 hex(envp));
	assert_string_equal(CALL(__NR_execve, 0, P("/bin/ls"), P(argv), P(envp)),
			    line(left, "0"));
	assert_string_equal(CALL(__NR_execve, -ENOENT, P("/nope"), 0, 0),
			    line("execve(\"/nope\", NULL, NULL)",
				 "-1 ENOENT (No such file or directory)"));
}

/* More than 32 arguments: strace stops at 32 and prints "...". */
static void test_execve_many_args(void **state)
{
	static const char *argv[40];
	static char want[1024];
	size_t n;

	(void)state;
	for (int i = 0; i < 39; i++)
		argv[i] = "x";
	n = (size_t)snprintf(want, sizeof(want), "execve(\"/bin/true\", [");
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "\"x\", ");
	snprintf(want + n, sizeof(want) - n, "...], NULL) = 0");
	assert_string_equal(CALL(__NR_execve, 0, P("/bin/true"), P(argv), 0), want);
}

static void test_unknown_and_undecoded(void **state)
{
	(void)state;
	assert_string_equal(
		CALL(500, -ENOSYS, 1, 2, 0, 0, 0x7ff951ec16d0, 1),
		"syscall_0x1f4(0x1, 0x2, 0, 0, 0x7ff951ec16d0, 0x1) = -1 ENOSYS (Function not implemented)");
	assert_string_equal(CALL(__NR_getpid, 4242),
			    line("getpid()", "4242"));
	assert_string_equal(CALL(__NR_sysinfo, 0, 0x7ffd1000),
			    line("sysinfo(0x7ffd1000)", "0"));
	/* A known call without a decoder prints as many args as it takes. */
	assert_string_equal(CALL(__NR_timer_settime, 0, 1, 0, 0x1000, 0),
			    line("timer_settime(0x1, 0, 0x1000, 0)", "0"));
}

static void test_errors(void **state)
{
	(void)state;
	assert_string_equal(CALL(__NR_close, -EBADF, 99),
			    line("close(99)", "-1 EBADF (Bad file descriptor)"));
	assert_string_equal(CALL(__NR_close, -300, 3),
			    line("close(3)", "-1 ERRNO_300 (Unknown error 300)"));
	assert_string_equal(CALL(__NR_pause, -514),
			    line("pause()", "? ERESTARTNOHAND (To be restarted if no handler)"));
	assert_string_equal(CALL(__NR_close, -EHWPOISON, 3),
			    line("close(3)", "-1 EHWPOISON (Memory page has hardware error)"));
	/* -4096 is not an error: it is an address-like value. */
	assert_string_equal(CALL(__NR_lseek, -4096, 3, 0, 1),
			    line("lseek(3, 0, SEEK_CUR)", "-4096"));
}

static void test_restart_errors(void **state)
{
	char left[64];

	(void)state;
	snprintf(left, sizeof(left), "read(0, %s, 1)", hex("x"));
	assert_string_equal(CALL(__NR_read, -512, 0, P("x"), 1),
			    line(left, "? ERESTARTSYS (To be restarted if SA_RESTART is set)"));
}

static void test_fcntl(void **state)
{
	(void)state;
	assert_string_equal(CALL(__NR_fcntl, 1, 3, 1),
			    line("fcntl(3, F_GETFD)", "0x1 (flags FD_CLOEXEC)"));
	assert_string_equal(CALL(__NR_fcntl, 0, 3, 1),
			    line("fcntl(3, F_GETFD)", "0"));
	assert_string_equal(CALL(__NR_fcntl, 0, 3, 2, 1),
			    line("fcntl(3, F_SETFD, FD_CLOEXEC)", "0"));
	assert_string_equal(CALL(__NR_fcntl, 0x8002, 3, 3),
			    line("fcntl(3, F_GETFL)", "0x8002 (flags O_RDWR|O_LARGEFILE)"));
	assert_string_equal(CALL(__NR_fcntl, 0, 3, 4, 04000),
			    line("fcntl(3, F_SETFL, O_RDONLY|O_NONBLOCK)", "0"));
	assert_string_equal(CALL(__NR_fcntl, 11, 3, 1030, 10),
			    line("fcntl(3, F_DUPFD_CLOEXEC, 10)", "11"));
	assert_string_equal(CALL(__NR_fcntl, -EINVAL, 3, 999, 7),
			    line("fcntl(3, 0x3e7 /* F_??? */, 0x7)", "-1 EINVAL (Invalid argument)"));
}

static void test_lseek_and_whence(void **state)
{
	(void)state;
	assert_string_equal(CALL(__NR_lseek, 183, 3, 3, 2),
			    line("lseek(3, 3, SEEK_END)", "183"));
	assert_string_equal(CALL(__NR_lseek, -EINVAL, 3, -1, 7),
			    line("lseek(3, -1, 0x7 /* SEEK_??? */)", "-1 EINVAL (Invalid argument)"));
}

static void test_signals(void **state)
{
	uint64_t all_but_rt01 = ~((1ULL << 31) | (1ULL << 32));
	uint64_t int_term = (1ULL << 1) | (1ULL << 14);
	uint64_t none = 0;

	(void)state;
	assert_string_equal(CALL(__NR_kill, -ESRCH, 999999, 15),
			    line("kill(999999, SIGTERM)", "-1 ESRCH (No such process)"));
	assert_string_equal(CALL(__NR_kill, 0, 1, 34),
			    line("kill(1, SIGRT_2)", "0"));
	assert_string_equal(CALL(__NR_kill, 0, 1, 0),
			    line("kill(1, 0)", "0"));
	assert_string_equal(
		CALL(__NR_rt_sigprocmask, 0, 0, P(&all_but_rt01), P(&none), 8),
		"rt_sigprocmask(SIG_BLOCK, ~[RTMIN RT_1], [], 8) = 0");
	assert_string_equal(
		CALL(__NR_rt_sigprocmask, 0, 2, P(&int_term), 0, 8),
		"rt_sigprocmask(SIG_SETMASK, [INT TERM], NULL, 8) = 0");
}

static void test_sigaction(void **state)
{
	/* The kernel's layout: handler, flags, restorer, mask. */
	unsigned long act[4] = { 0x555555566dc0, 0x04000000 | 0x10000000,
				 0x7ffff7e0e050, 1UL << 16 };
	unsigned long old[4] = { 1, 0, 0, 0 };

	(void)state;
	assert_string_equal(
		CALL(__NR_rt_sigaction, 0, 17, P(act), P(old), 8),
		"rt_sigaction(SIGCHLD, {sa_handler=0x555555566dc0, sa_mask=[CHLD], "
		"sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7ffff7e0e050}, "
		"{sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, 8) = 0");
}

static void test_descriptors(void **state)
{
	int fds[2] = { 3, 4 };

	(void)state;
	assert_string_equal(CALL(__NR_pipe2, 0, P(fds), 02000000),
			    line("pipe2([3, 4], O_CLOEXEC)", "0"));
	assert_string_equal(CALL(__NR_pipe2, 0, P(fds), 0),
			    line("pipe2([3, 4], 0)", "0"));
	assert_string_equal(CALL(__NR_dup3, 21, 0, 21, 02000000),
			    line("dup3(0, 21, O_CLOEXEC)", "21"));
	assert_string_equal(CALL(__NR_umask, 022, 0),
			    line("umask(000)", "022"));
	assert_string_equal(
		CALL(__NR_socket, 3, 1, 1 | 02000000 | 04000, 0),
		"socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3");
	assert_string_equal(CALL(__NR_socket, 12, 2, 2, 0),
			    line("socket(AF_INET, SOCK_DGRAM, IPPROTO_IP)", "12"));
}

static void test_sockaddr(void **state)
{
	unsigned char un[110] = { 1, 0 };
	unsigned char in[16] = { 2, 0, 0, 9, 127, 0, 0, 1 };

	(void)state;
	strcpy((char *)un + 2, "/var/run/nscd/socket");
	assert_string_equal(
		CALL(__NR_connect, -ENOENT, 3, P(un), 110),
		"connect(3, {sa_family=AF_UNIX, sun_path=\"/var/run/nscd/socket\"}, 110) = -1 ENOENT (No such file or directory)");
	assert_string_equal(
		CALL(__NR_sendto, 4, 12, P("ping"), 4, 0, P(in), 16),
		"sendto(12, \"ping\", 4, 0, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 4");
}

static void test_directories_and_iovecs(void **state)
{
	/* Three dirents of 24, 24 and 32 bytes; d_reclen at offset 16. */
	unsigned char dents[80] = { 0 };
	struct { const void *base; unsigned long len; } iov[3] = {
		{ "ab", 2 }, { "cd\n", 3 }, { "", 0 },
	};
	char left[128];

	(void)state;
	dents[16] = 24;
	dents[24 + 16] = 24;
	dents[48 + 16] = 32;
	snprintf(left, sizeof(left), "getdents64(3, %s /* 3 entries */, 32768)", hex(dents));
	assert_string_equal(CALL(__NR_getdents64, 80, 3, P(dents), 32768), line(left, "80"));
	assert_string_equal(
		CALL(__NR_writev, 5, 1, P(iov), 3),
		"writev(1, [{iov_base=\"ab\", iov_len=2}, {iov_base=\"cd\\n\", iov_len=3}, "
		"{iov_base=\"\", iov_len=0}], 3) = 5");
	/* readv shows only what the call returned. */
	assert_string_equal(
		CALL(__NR_readv, 3, 1, P(iov), 2),
		"readv(1, [{iov_base=\"ab\", iov_len=2}, {iov_base=\"c\", iov_len=3}], 2) = 3");
}

static void test_processes(void **state)
{
	int exited = 3 << 8, killed = 9 | 0x80;

	(void)state;
	assert_string_equal(
		CALL(__NR_clone, 30466, 0x1200011, 0, 0, 0x7ffff7dcfa10, 0),
		"clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
		"child_tidptr=0x7ffff7dcfa10) = 30466");
	assert_string_equal(
		CALL(__NR_wait4, 30466, 30466, P(&exited), 0, 0),
		"wait4(30466, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 30466");
	assert_string_equal(
		CALL(__NR_wait4, 12, -1, P(&killed), 1, 0),
		"wait4(-1, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL && WCOREDUMP(s)}], WNOHANG, NULL) = 12");
	assert_string_equal(UNFINISHED(__NR_exit, 3),
			    line("exit(3)", "?"));
}

static void test_time_and_futex(void **state)
{
	long ts[2] = { 0, 1000 };

	(void)state;
	assert_string_equal(
		CALL(__NR_clock_nanosleep, 0, 0, 0, P(ts), 0),
		"clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1000}, NULL) = 0");
	assert_string_equal(
		CALL(__NR_clock_gettime, 0, 1, P(ts)),
		line("clock_gettime(CLOCK_MONOTONIC, {tv_sec=0, tv_nsec=1000})", "0"));
	assert_string_equal(
		CALL(__NR_futex, 1, 0x7f0000001000, 129, 2147483647),
		"futex(0x7f0000001000, FUTEX_WAKE_PRIVATE, 2147483647) = 1");
	assert_string_equal(
		CALL(__NR_futex, -EAGAIN, 0x7f0000001000, 9 | 128 | 256, 0, 0, 0, 0xffffffff),
		"futex(0x7f0000001000, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, "
		"FUTEX_BITSET_MATCH_ANY) = -1 EAGAIN (Resource temporarily unavailable)");
}

static void test_resources(void **state)
{
	unsigned long rl[2] = { 8192 * 1024, ~0UL };

	(void)state;
	assert_string_equal(
		CALL(__NR_prlimit64, 0, 0, 3, 0, P(rl)),
		"prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0");
	assert_string_equal(
		CALL(__NR_arch_prctl, 0, 0x1002, 0x7ffff7d8b740),
		"arch_prctl(ARCH_SET_FS, 0x7ffff7d8b740) = 0");
	assert_string_equal(
		CALL(__NR_arch_prctl, -EINVAL, 0x3001, 0x7ffd0000),
		"arch_prctl(0x3001 /* ARCH_??? */, 0x7ffd0000) = -1 EINVAL (Invalid argument)");
	assert_string_equal(
		CALL(__NR_getrandom, 8, P("\x66\xaf\x76\xf5\x8e\x5e\x74\xf9"), 8, 1),
		"getrandom(\"\\x66\\xaf\\x76\\xf5\\x8e\\x5e\\x74\\xf9\", 8, GRND_NONBLOCK) = 8");
}

/* A full buffer never overflows and says it was cut. */
static void test_small_buffer(void **state)
{
	char small[40];
	struct fmt f;
	const long arg[6] = { -100, P("/a/rather/long/path/that/will/not/fit"), 0 };

	(void)state;
	memset(small, 'X', sizeof(small));
	fmt_init(&f, small, 32);
	trace_format_call(&f, __NR_openat, arg, 3, 1);
	assert_true(f.truncated);
	assert_int_equal(f.len, 31);
	assert_string_equal(fmt_cstr(&f), "openat(AT_FDCWD, \"/a/rather/lon");
	for (size_t i = 32; i < sizeof(small); i++)
		assert_int_equal(small[i], 'X');
}

/* The two halves give the same line as the whole. */
static void test_split_halves(void **state)
{
	const char *argv[] = { "true", NULL };
	const long arg[6] = { P("/bin/true"), P(argv), 0 };
	struct fmt f;
	size_t a, b;

	(void)state;
	fmt_init(&f, out, sizeof(out));
	a = trace_format_args(&f, __NR_execve, arg, 0, 0);
	b = trace_format_result(&f, __NR_execve, arg, 0, 1);
	assert_int_equal(a + b, f.len);
	assert_string_equal(fmt_cstr(&f),
			    line("execve(\"/bin/true\", [\"true\"], NULL)", "0"));
}

#define T(fn) cmocka_unit_test_setup(fn, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_openat),
		T(test_read_write_data),
		T(test_stat_family),
		T(test_exit_group_unfinished),
		T(test_alignment_counts_prefix),
		T(test_mmap_family),
		T(test_access_and_at_flags),
		T(test_path_calls),
		T(test_bad_pointers),
		T(test_path_runs_into_bad_page),
		T(test_long_strings),
		T(test_execve),
		T(test_execve_many_args),
		T(test_unknown_and_undecoded),
		T(test_errors),
		T(test_restart_errors),
		T(test_fcntl),
		T(test_lseek_and_whence),
		T(test_signals),
		T(test_sigaction),
		T(test_descriptors),
		T(test_sockaddr),
		T(test_directories_and_iovecs),
		T(test_processes),
		T(test_time_and_futex),
		T(test_resources),
		T(test_small_buffer),
		T(test_split_halves),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
