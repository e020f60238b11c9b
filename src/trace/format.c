/*
 * strace-style formatting of one system call (see format.h).
 *
 * Each system call that is decoded has a signature: one kind per argument
 * and a kind for its result.  Calls without a signature print their
 * arguments in hex, as many as the kernel takes (syscall_names.c); unknown
 * numbers print as syscall_0x1c8(...) with six, as strace does.  The
 * layout follows strace 6.1 with its default options (-s 32, -a 40, no -v).
 *
 * The traced program's memory is read only through defuse_read_user(), a
 * page at a time for strings, so an argument that is not readable prints as
 * its address instead of crashing the program.
 */
#include "trace/format.h"

#include <stdint.h>
#include <sys/syscall.h>

#include "common/util.h"
#include "trace/syscall_names.h"

/* Calls newer than the installed kernel headers. */
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define PAGE_SIZE	4096UL
#define PATH_MAX_SHOWN	4095	/* strace shows paths up to PATH_MAX - 1 */
#define ARRAY_MAX_SHOWN	32	/* strace shows argv and iovecs up to -s */

/* What is being formatted, shared by every argument printer. */
struct call {
	struct fmt *out;
	long nr;
	const long *arg;
	long ret;
	int ok;		/* returned successfully: output arguments are valid */
};

/* ------------------------------------------------------------------ */
/* Symbolic names                                                      */
/* ------------------------------------------------------------------ */

/*
 * The names are arrays, not pointers, here and in the tables below: a
 * table of pointers is relocated by the loader in every process that
 * loads DEFUSE (about 900 relocations, 6 pages copied on write per exec,
 * measured), while these are plain read-only data, touched only when a
 * call is traced.
 */
struct xlat {
	unsigned long val;
	char name[56];
};

/* In strace's order, which is the order names print in. */
static const struct xlat open_flags[] = {
	{ 0100, "O_CREAT" },		{ 0200, "O_EXCL" },
	{ 0400, "O_NOCTTY" },		{ 01000, "O_TRUNC" },
	{ 02000, "O_APPEND" },		{ 04000, "O_NONBLOCK" },
	{ 04010000, "O_SYNC" },		{ 04000000, "__O_SYNC" },
	{ 010000, "O_DSYNC" },		{ 040000, "O_DIRECT" },
	{ 0100000, "O_LARGEFILE" },	{ 0400000, "O_NOFOLLOW" },
	{ 01000000, "O_NOATIME" },	{ 02000000, "O_CLOEXEC" },
	{ 010000000, "O_PATH" },	{ 020200000, "O_TMPFILE" },
	{ 020000000, "__O_TMPFILE" },	{ 0200000, "O_DIRECTORY" },
	{ 020000, "FASYNC" },
};
#define O_ACCMODE_	03
#define O_CREAT_	0100
#define O_TMPFILE_	020000000

static const char *const access_modes[] = {
	"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE",
};

static const struct xlat prot_flags[] = {
	{ 0x1, "PROT_READ" },		{ 0x2, "PROT_WRITE" },
	{ 0x4, "PROT_EXEC" },		{ 0x8, "PROT_SEM" },
	{ 0x1000000, "PROT_GROWSDOWN" },	{ 0x2000000, "PROT_GROWSUP" },
};

#define MAP_TYPE_	0xf
static const struct xlat map_types[] = {
	{ 0x1, "MAP_SHARED" },		{ 0x2, "MAP_PRIVATE" },
	{ 0x3, "MAP_SHARED_VALIDATE" },	{ 0x8, "MAP_DROPPABLE" },
};

static const struct xlat map_flags[] = {
	{ 0x10, "MAP_FIXED" },		{ 0x20, "MAP_ANONYMOUS" },
	{ 0x40, "MAP_32BIT" },		{ 0x80, "MAP_ABOVE4G" },
	{ 0x4000, "MAP_NORESERVE" },	{ 0x8000, "MAP_POPULATE" },
	{ 0x10000, "MAP_NONBLOCK" },	{ 0x100, "MAP_GROWSDOWN" },
	{ 0x800, "MAP_DENYWRITE" },	{ 0x1000, "MAP_EXECUTABLE" },
	{ 0x2000, "MAP_LOCKED" },	{ 0x20000, "MAP_STACK" },
	{ 0x40000, "MAP_HUGETLB" },	{ 0x80000, "MAP_SYNC" },
	{ 0x4000000, "MAP_UNINITIALIZED" },
	{ 0x100000, "MAP_FIXED_NOREPLACE" },
};

static const struct xlat access_flags[] = {
	{ 4, "R_OK" }, { 2, "W_OK" }, { 1, "X_OK" },
};

/* 0x200 means AT_REMOVEDIR to unlinkat and AT_EACCESS to faccessat2. */
static const struct xlat at_flags[] = {
	{ 0x100, "AT_SYMLINK_NOFOLLOW" },	{ 0x200, "AT_REMOVEDIR" },
	{ 0x400, "AT_SYMLINK_FOLLOW" },		{ 0x800, "AT_NO_AUTOMOUNT" },
	{ 0x1000, "AT_EMPTY_PATH" },		{ 0x2000, "AT_STATX_FORCE_SYNC" },
	{ 0x4000, "AT_STATX_DONT_SYNC" },	{ 0x8000, "AT_RECURSIVE" },
};

static const struct xlat at_flags_eaccess[] = {
	{ 0x100, "AT_SYMLINK_NOFOLLOW" },	{ 0x200, "AT_EACCESS" },
	{ 0x1000, "AT_EMPTY_PATH" },
};

#define AT_STATX_SYNC_TYPE_	0x6000
static const struct xlat statx_masks[] = {
	{ 0xfff, "STATX_ALL" },		{ 0x7ff, "STATX_BASIC_STATS" },
	{ 0x1, "STATX_TYPE" },		{ 0x2, "STATX_MODE" },
	{ 0x4, "STATX_NLINK" },		{ 0x8, "STATX_UID" },
	{ 0x10, "STATX_GID" },		{ 0x20, "STATX_ATIME" },
	{ 0x40, "STATX_MTIME" },	{ 0x80, "STATX_CTIME" },
	{ 0x100, "STATX_INO" },		{ 0x200, "STATX_SIZE" },
	{ 0x400, "STATX_BLOCKS" },	{ 0x800, "STATX_BTIME" },
	{ 0x1000, "STATX_MNT_ID" },	{ 0x2000, "STATX_DIOALIGN" },
	{ 0x4000, "STATX_MNT_ID_UNIQUE" },
};

static const struct xlat statx_attrs[] = {
	{ 0x4, "STATX_ATTR_COMPRESSED" },	{ 0x10, "STATX_ATTR_IMMUTABLE" },
	{ 0x20, "STATX_ATTR_APPEND" },		{ 0x40, "STATX_ATTR_NODUMP" },
	{ 0x800, "STATX_ATTR_ENCRYPTED" },	{ 0x1000, "STATX_ATTR_AUTOMOUNT" },
	{ 0x2000, "STATX_ATTR_MOUNT_ROOT" },	{ 0x100000, "STATX_ATTR_VERITY" },
	{ 0x200000, "STATX_ATTR_DAX" },
};

static const struct xlat seek_whences[] = {
	{ 0, "SEEK_SET" }, { 1, "SEEK_CUR" }, { 2, "SEEK_END" },
	{ 3, "SEEK_DATA" }, { 4, "SEEK_HOLE" },
};

static const struct xlat clock_ids[] = {
	{ 0, "CLOCK_REALTIME" },	{ 1, "CLOCK_MONOTONIC" },
	{ 2, "CLOCK_PROCESS_CPUTIME_ID" },	{ 3, "CLOCK_THREAD_CPUTIME_ID" },
	{ 4, "CLOCK_MONOTONIC_RAW" },	{ 5, "CLOCK_REALTIME_COARSE" },
	{ 6, "CLOCK_MONOTONIC_COARSE" },	{ 7, "CLOCK_BOOTTIME" },
	{ 8, "CLOCK_REALTIME_ALARM" },	{ 9, "CLOCK_BOOTTIME_ALARM" },
	{ 11, "CLOCK_TAI" },
};

static const struct xlat sigprocmask_hows[] = {
	{ 0, "SIG_BLOCK" }, { 1, "SIG_UNBLOCK" }, { 2, "SIG_SETMASK" },
};

static const struct xlat socket_families[] = {
	{ 0, "AF_UNSPEC" },	{ 1, "AF_UNIX" },	{ 2, "AF_INET" },
	{ 10, "AF_INET6" },	{ 16, "AF_NETLINK" },	{ 17, "AF_PACKET" },
};

#define SOCK_TYPE_MASK_	0xf
static const struct xlat socket_types[] = {
	{ 1, "SOCK_STREAM" },	{ 2, "SOCK_DGRAM" },	{ 3, "SOCK_RAW" },
	{ 4, "SOCK_RDM" },	{ 5, "SOCK_SEQPACKET" },	{ 6, "SOCK_DCCP" },
	{ 10, "SOCK_PACKET" },
};

static const struct xlat ip_protocols[] = {
	{ 0, "IPPROTO_IP" },	{ 1, "IPPROTO_ICMP" },	{ 6, "IPPROTO_TCP" },
	{ 17, "IPPROTO_UDP" },	{ 41, "IPPROTO_IPV6" },	{ 58, "IPPROTO_ICMPV6" },
	{ 132, "IPPROTO_SCTP" },	{ 255, "IPPROTO_RAW" },
};

static const struct xlat socket_flags[] = {
	{ 02000000, "SOCK_CLOEXEC" }, { 04000, "SOCK_NONBLOCK" },
};

static const struct xlat arch_prctl_codes[] = {
	{ 0x1001, "ARCH_SET_GS" },	{ 0x1002, "ARCH_SET_FS" },
	{ 0x1003, "ARCH_GET_FS" },	{ 0x1004, "ARCH_GET_GS" },
	{ 0x1011, "ARCH_GET_CPUID" },	{ 0x1012, "ARCH_SET_CPUID" },
	{ 0x1021, "ARCH_GET_XCOMP_SUPP" },	{ 0x1022, "ARCH_GET_XCOMP_PERM" },
	{ 0x1023, "ARCH_REQ_XCOMP_PERM" },
	{ 0x1024, "ARCH_GET_XCOMP_GUEST_PERM" },
	{ 0x1025, "ARCH_REQ_XCOMP_GUEST_PERM" },
	{ 0x2001, "ARCH_MAP_VDSO_X32" },	{ 0x2002, "ARCH_MAP_VDSO_32" },
	{ 0x2003, "ARCH_MAP_VDSO_64" },
};

static const struct xlat rlimit_resources[] = {
	{ 0, "RLIMIT_CPU" },	{ 1, "RLIMIT_FSIZE" },	{ 2, "RLIMIT_DATA" },
	{ 3, "RLIMIT_STACK" },	{ 4, "RLIMIT_CORE" },	{ 5, "RLIMIT_RSS" },
	{ 6, "RLIMIT_NPROC" },	{ 7, "RLIMIT_NOFILE" },	{ 8, "RLIMIT_MEMLOCK" },
	{ 9, "RLIMIT_AS" },	{ 10, "RLIMIT_LOCKS" },	{ 11, "RLIMIT_SIGPENDING" },
	{ 12, "RLIMIT_MSGQUEUE" },	{ 13, "RLIMIT_NICE" },
	{ 14, "RLIMIT_RTPRIO" },	{ 15, "RLIMIT_RTTIME" },
};

static const struct xlat madvise_advice[] = {
	{ 0, "MADV_NORMAL" },	{ 1, "MADV_RANDOM" },	{ 2, "MADV_SEQUENTIAL" },
	{ 3, "MADV_WILLNEED" },	{ 4, "MADV_DONTNEED" },	{ 8, "MADV_FREE" },
	{ 9, "MADV_REMOVE" },	{ 10, "MADV_DONTFORK" },	{ 11, "MADV_DOFORK" },
	{ 12, "MADV_MERGEABLE" },	{ 13, "MADV_UNMERGEABLE" },
	{ 14, "MADV_HUGEPAGE" },	{ 15, "MADV_NOHUGEPAGE" },
	{ 16, "MADV_DONTDUMP" },	{ 17, "MADV_DODUMP" },
	{ 18, "MADV_WIPEONFORK" },	{ 19, "MADV_KEEPONFORK" },
	{ 20, "MADV_COLD" },	{ 21, "MADV_PAGEOUT" },
	{ 22, "MADV_POPULATE_READ" },	{ 23, "MADV_POPULATE_WRITE" },
	{ 24, "MADV_DONTNEED_LOCKED" },	{ 25, "MADV_COLLAPSE" },
	{ 100, "MADV_HWPOISON" },	{ 101, "MADV_SOFT_OFFLINE" },
};

static const struct xlat fadvise_advice[] = {
	{ 0, "POSIX_FADV_NORMAL" },	{ 1, "POSIX_FADV_RANDOM" },
	{ 2, "POSIX_FADV_SEQUENTIAL" },	{ 3, "POSIX_FADV_WILLNEED" },
	{ 4, "POSIX_FADV_DONTNEED" },	{ 5, "POSIX_FADV_NOREUSE" },
};

#define SA_RESTORER_	0x04000000
static const struct xlat sigaction_flags[] = {
	{ 0x04000000, "SA_RESTORER" },	{ 0x08000000, "SA_ONSTACK" },
	{ 0x10000000, "SA_RESTART" },	{ 0x40000000, "SA_NODEFER" },
	{ 0x80000000, "SA_RESETHAND" },	{ 0x4, "SA_SIGINFO" },
	{ 0x1, "SA_NOCLDSTOP" },	{ 0x2, "SA_NOCLDWAIT" },
	{ 0x400, "SA_UNSUPPORTED" },	{ 0x800, "SA_EXPOSE_TAGBITS" },
};

static const struct xlat wait_options[] = {
	{ 1, "WNOHANG" },		{ 2, "WSTOPPED" },
	{ 4, "WEXITED" },		{ 8, "WCONTINUED" },
	{ 0x1000000, "WNOWAIT" },	{ 0x20000000, "__WNOTHREAD" },
	{ 0x40000000, "__WALL" },	{ 0x80000000, "__WCLONE" },
};

static const struct xlat timer_flags[] = {
	{ 1, "TIMER_ABSTIME" },
};

static const struct xlat rename_flags[] = {
	{ 1, "RENAME_NOREPLACE" }, { 2, "RENAME_EXCHANGE" }, { 4, "RENAME_WHITEOUT" },
};

static const struct xlat flock_ops[] = {
	{ 1, "LOCK_SH" }, { 2, "LOCK_EX" }, { 4, "LOCK_NB" }, { 8, "LOCK_UN" },
	{ 32, "LOCK_MAND" }, { 64, "LOCK_READ" }, { 128, "LOCK_WRITE" },
};

static const struct xlat getrandom_flags[] = {
	{ 1, "GRND_NONBLOCK" }, { 2, "GRND_RANDOM" }, { 4, "GRND_INSECURE" },
};

static const struct xlat memfd_flags[] = {
	{ 1, "MFD_CLOEXEC" },	{ 2, "MFD_ALLOW_SEALING" },
	{ 4, "MFD_HUGETLB" },	{ 8, "MFD_NOEXEC_SEAL" },	{ 16, "MFD_EXEC" },
};

static const struct xlat epoll_ops[] = {
	{ 1, "EPOLL_CTL_ADD" }, { 2, "EPOLL_CTL_DEL" }, { 3, "EPOLL_CTL_MOD" },
};

static const struct xlat epoll_flags[] = {
	{ 02000000, "EPOLL_CLOEXEC" },
};

static const struct xlat epoll_events[] = {
	{ 0x1, "EPOLLIN" },		{ 0x2, "EPOLLPRI" },
	{ 0x4, "EPOLLOUT" },		{ 0x8, "EPOLLERR" },
	{ 0x10, "EPOLLHUP" },		{ 0x20, "EPOLLNVAL" },
	{ 0x40, "EPOLLRDNORM" },	{ 0x80, "EPOLLRDBAND" },
	{ 0x100, "EPOLLWRNORM" },	{ 0x200, "EPOLLWRBAND" },
	{ 0x400, "EPOLLMSG" },		{ 0x2000, "EPOLLRDHUP" },
	{ 1u << 28, "EPOLLEXCLUSIVE" },	{ 1u << 29, "EPOLLWAKEUP" },
	{ 1u << 30, "EPOLLONESHOT" },	{ 1u << 31, "EPOLLET" },
};

static const struct xlat eventfd_flags[] = {
	{ 1, "EFD_SEMAPHORE" }, { 02000000, "EFD_CLOEXEC" }, { 04000, "EFD_NONBLOCK" },
};

#define CSIGNAL_			0xff
#define CLONE_PARENT_SETTID_	0x100000
#define CLONE_SETTLS_		0x80000
#define CLONE_CHILD_TID_	(0x200000 | 0x1000000)
static const struct xlat clone_flags[] = {
	{ 0x100, "CLONE_VM" },			{ 0x200, "CLONE_FS" },
	{ 0x400, "CLONE_FILES" },		{ 0x800, "CLONE_SIGHAND" },
	{ 0x1000, "CLONE_PIDFD" },		{ 0x2000, "CLONE_PTRACE" },
	{ 0x4000, "CLONE_VFORK" },		{ 0x8000, "CLONE_PARENT" },
	{ 0x10000, "CLONE_THREAD" },		{ 0x20000, "CLONE_NEWNS" },
	{ 0x40000, "CLONE_SYSVSEM" },		{ 0x80000, "CLONE_SETTLS" },
	{ 0x100000, "CLONE_PARENT_SETTID" },	{ 0x200000, "CLONE_CHILD_CLEARTID" },
	{ 0x400000, "CLONE_DETACHED" },		{ 0x800000, "CLONE_UNTRACED" },
	{ 0x1000000, "CLONE_CHILD_SETTID" },	{ 0x2000000, "CLONE_NEWCGROUP" },
	{ 0x4000000, "CLONE_NEWUTS" },		{ 0x8000000, "CLONE_NEWIPC" },
	{ 0x10000000, "CLONE_NEWUSER" },	{ 0x20000000, "CLONE_NEWPID" },
	{ 0x40000000, "CLONE_NEWNET" },		{ 0x80000000, "CLONE_IO" },
};

static const struct xlat fd_flags[] = {
	{ 1, "FD_CLOEXEC" },
};

static const struct xlat ioctl_requests[] = {
	{ 0x5401, "TCGETS" },		{ 0x5402, "TCSETS" },
	{ 0x5403, "TCSETSW" },		{ 0x5404, "TCSETSF" },
	{ 0x540e, "TIOCSCTTY" },	{ 0x540f, "TIOCGPGRP" },
	{ 0x5410, "TIOCSPGRP" },	{ 0x5413, "TIOCGWINSZ" },
	{ 0x5414, "TIOCSWINSZ" },	{ 0x541b, "FIONREAD" },
	{ 0x5421, "FIONBIO" },		{ 0x5422, "TIOCNOTTY" },
	{ 0x5450, "FIONCLEX" },		{ 0x5451, "FIOCLEX" },
	{ 0x5452, "FIOASYNC" },		{ 0x80045430, "TIOCGPTN" },
	{ 0x40045431, "TIOCSPTLCK" },
};

/* fcntl commands, with what their third argument is. */
enum fcntl_arg { FA_NONE, FA_INT, FA_FDFLAGS, FA_OFLAGS, FA_PTR, FA_HEX };

struct fcntl_cmd {
	int cmd;
	unsigned char arg;
	char name[18];
};

static const struct fcntl_cmd fcntl_cmds[] = {
	{ 0, FA_INT, "F_DUPFD" },		{ 1, FA_NONE, "F_GETFD" },
	{ 2, FA_FDFLAGS, "F_SETFD" },		{ 3, FA_NONE, "F_GETFL" },
	{ 4, FA_OFLAGS, "F_SETFL" },		{ 5, FA_PTR, "F_GETLK" },
	{ 6, FA_PTR, "F_SETLK" },		{ 7, FA_PTR, "F_SETLKW" },
	{ 8, FA_INT, "F_SETOWN" },		{ 9, FA_NONE, "F_GETOWN" },
	{ 10, FA_INT, "F_SETSIG" },		{ 11, FA_NONE, "F_GETSIG" },
	{ 15, FA_PTR, "F_SETOWN_EX" },		{ 16, FA_PTR, "F_GETOWN_EX" },
	{ 36, FA_PTR, "F_OFD_GETLK" },		{ 37, FA_PTR, "F_OFD_SETLK" },
	{ 38, FA_PTR, "F_OFD_SETLKW" },		{ 1024, FA_INT, "F_SETLEASE" },
	{ 1025, FA_NONE, "F_GETLEASE" },	{ 1026, FA_HEX, "F_NOTIFY" },
	{ 1030, FA_INT, "F_DUPFD_CLOEXEC" },	{ 1031, FA_INT, "F_SETPIPE_SZ" },
	{ 1032, FA_NONE, "F_GETPIPE_SZ" },	{ 1033, FA_HEX, "F_ADD_SEALS" },
	{ 1034, FA_NONE, "F_GET_SEALS" },
};
#define F_GETFD_	1
#define F_GETFL_	3

static const char *const futex_cmds[] = {
	"FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE",
	"FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP", "FUTEX_LOCK_PI",
	"FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET",
	"FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI",
	"FUTEX_LOCK_PI2",
};
#define FUTEX_WAIT_		0
#define FUTEX_WAKE_		1
#define FUTEX_WAIT_BITSET_	9
#define FUTEX_WAKE_BITSET_	10
#define FUTEX_PRIVATE_FLAG_	128
#define FUTEX_CLOCK_REALTIME_	256

/* Without the "SIG" prefix, which signal sets omit. */
static const char *const signal_names[32] = {
	NULL, "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE",
	"KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT",
	"CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
	"VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
};
#define SIGRTMIN_	32
#define SIGRTMAX_	64

struct errno_entry {
	char name[16];
	char text[56];	/* glibc's strerror(), which strace prints */
};

/* Where two names share a number, strace's choice (EAGAIN, EDEADLK, EOPNOTSUPP). */
static const struct errno_entry errnos[] = {
	[1] = { "EPERM", "Operation not permitted" },
	[2] = { "ENOENT", "No such file or directory" },
	[3] = { "ESRCH", "No such process" },
	[4] = { "EINTR", "Interrupted system call" },
	[5] = { "EIO", "Input/output error" },
	[6] = { "ENXIO", "No such device or address" },
	[7] = { "E2BIG", "Argument list too long" },
	[8] = { "ENOEXEC", "Exec format error" },
	[9] = { "EBADF", "Bad file descriptor" },
	[10] = { "ECHILD", "No child processes" },
	[11] = { "EAGAIN", "Resource temporarily unavailable" },
	[12] = { "ENOMEM", "Cannot allocate memory" },
	[13] = { "EACCES", "Permission denied" },
	[14] = { "EFAULT", "Bad address" },
	[15] = { "ENOTBLK", "Block device required" },
	[16] = { "EBUSY", "Device or resource busy" },
	[17] = { "EEXIST", "File exists" },
	[18] = { "EXDEV", "Invalid cross-device link" },
	[19] = { "ENODEV", "No such device" },
	[20] = { "ENOTDIR", "Not a directory" },
	[21] = { "EISDIR", "Is a directory" },
	[22] = { "EINVAL", "Invalid argument" },
	[23] = { "ENFILE", "Too many open files in system" },
	[24] = { "EMFILE", "Too many open files" },
	[25] = { "ENOTTY", "Inappropriate ioctl for device" },
	[26] = { "ETXTBSY", "Text file busy" },
	[27] = { "EFBIG", "File too large" },
	[28] = { "ENOSPC", "No space left on device" },
	[29] = { "ESPIPE", "Illegal seek" },
	[30] = { "EROFS", "Read-only file system" },
	[31] = { "EMLINK", "Too many links" },
	[32] = { "EPIPE", "Broken pipe" },
	[33] = { "EDOM", "Numerical argument out of domain" },
	[34] = { "ERANGE", "Numerical result out of range" },
	[35] = { "EDEADLK", "Resource deadlock avoided" },
	[36] = { "ENAMETOOLONG", "File name too long" },
	[37] = { "ENOLCK", "No locks available" },
	[38] = { "ENOSYS", "Function not implemented" },
	[39] = { "ENOTEMPTY", "Directory not empty" },
	[40] = { "ELOOP", "Too many levels of symbolic links" },
	[42] = { "ENOMSG", "No message of desired type" },
	[43] = { "EIDRM", "Identifier removed" },
	[44] = { "ECHRNG", "Channel number out of range" },
	[45] = { "EL2NSYNC", "Level 2 not synchronized" },
	[46] = { "EL3HLT", "Level 3 halted" },
	[47] = { "EL3RST", "Level 3 reset" },
	[48] = { "ELNRNG", "Link number out of range" },
	[49] = { "EUNATCH", "Protocol driver not attached" },
	[50] = { "ENOCSI", "No CSI structure available" },
	[51] = { "EL2HLT", "Level 2 halted" },
	[52] = { "EBADE", "Invalid exchange" },
	[53] = { "EBADR", "Invalid request descriptor" },
	[54] = { "EXFULL", "Exchange full" },
	[55] = { "ENOANO", "No anode" },
	[56] = { "EBADRQC", "Invalid request code" },
	[57] = { "EBADSLT", "Invalid slot" },
	[59] = { "EBFONT", "Bad font file format" },
	[60] = { "ENOSTR", "Device not a stream" },
	[61] = { "ENODATA", "No data available" },
	[62] = { "ETIME", "Timer expired" },
	[63] = { "ENOSR", "Out of streams resources" },
	[64] = { "ENONET", "Machine is not on the network" },
	[65] = { "ENOPKG", "Package not installed" },
	[66] = { "EREMOTE", "Object is remote" },
	[67] = { "ENOLINK", "Link has been severed" },
	[68] = { "EADV", "Advertise error" },
	[69] = { "ESRMNT", "Srmount error" },
	[70] = { "ECOMM", "Communication error on send" },
	[71] = { "EPROTO", "Protocol error" },
	[72] = { "EMULTIHOP", "Multihop attempted" },
	[73] = { "EDOTDOT", "RFS specific error" },
	[74] = { "EBADMSG", "Bad message" },
	[75] = { "EOVERFLOW", "Value too large for defined data type" },
	[76] = { "ENOTUNIQ", "Name not unique on network" },
	[77] = { "EBADFD", "File descriptor in bad state" },
	[78] = { "EREMCHG", "Remote address changed" },
	[79] = { "ELIBACC", "Can not access a needed shared library" },
	[80] = { "ELIBBAD", "Accessing a corrupted shared library" },
	[81] = { "ELIBSCN", ".lib section in a.out corrupted" },
	[82] = { "ELIBMAX", "Attempting to link in too many shared libraries" },
	[83] = { "ELIBEXEC", "Cannot exec a shared library directly" },
	[84] = { "EILSEQ", "Invalid or incomplete multibyte or wide character" },
	[85] = { "ERESTART", "Interrupted system call should be restarted" },
	[86] = { "ESTRPIPE", "Streams pipe error" },
	[87] = { "EUSERS", "Too many users" },
	[88] = { "ENOTSOCK", "Socket operation on non-socket" },
	[89] = { "EDESTADDRREQ", "Destination address required" },
	[90] = { "EMSGSIZE", "Message too long" },
	[91] = { "EPROTOTYPE", "Protocol wrong type for socket" },
	[92] = { "ENOPROTOOPT", "Protocol not available" },
	[93] = { "EPROTONOSUPPORT", "Protocol not supported" },
	[94] = { "ESOCKTNOSUPPORT", "Socket type not supported" },
	[95] = { "EOPNOTSUPP", "Operation not supported" },
	[96] = { "EPFNOSUPPORT", "Protocol family not supported" },
	[97] = { "EAFNOSUPPORT", "Address family not supported by protocol" },
	[98] = { "EADDRINUSE", "Address already in use" },
	[99] = { "EADDRNOTAVAIL", "Cannot assign requested address" },
	[100] = { "ENETDOWN", "Network is down" },
	[101] = { "ENETUNREACH", "Network is unreachable" },
	[102] = { "ENETRESET", "Network dropped connection on reset" },
	[103] = { "ECONNABORTED", "Software caused connection abort" },
	[104] = { "ECONNRESET", "Connection reset by peer" },
	[105] = { "ENOBUFS", "No buffer space available" },
	[106] = { "EISCONN", "Transport endpoint is already connected" },
	[107] = { "ENOTCONN", "Transport endpoint is not connected" },
	[108] = { "ESHUTDOWN", "Cannot send after transport endpoint shutdown" },
	[109] = { "ETOOMANYREFS", "Too many references: cannot splice" },
	[110] = { "ETIMEDOUT", "Connection timed out" },
	[111] = { "ECONNREFUSED", "Connection refused" },
	[112] = { "EHOSTDOWN", "Host is down" },
	[113] = { "EHOSTUNREACH", "No route to host" },
	[114] = { "EALREADY", "Operation already in progress" },
	[115] = { "EINPROGRESS", "Operation now in progress" },
	[116] = { "ESTALE", "Stale file handle" },
	[117] = { "EUCLEAN", "Structure needs cleaning" },
	[118] = { "ENOTNAM", "Not a XENIX named type file" },
	[119] = { "ENAVAIL", "No XENIX semaphores available" },
	[120] = { "EISNAM", "Is a named type file" },
	[121] = { "EREMOTEIO", "Remote I/O error" },
	[122] = { "EDQUOT", "Disk quota exceeded" },
	[123] = { "ENOMEDIUM", "No medium found" },
	[124] = { "EMEDIUMTYPE", "Wrong medium type" },
	[125] = { "ECANCELED", "Operation canceled" },
	[126] = { "ENOKEY", "Required key not available" },
	[127] = { "EKEYEXPIRED", "Key has expired" },
	[128] = { "EKEYREVOKED", "Key has been revoked" },
	[129] = { "EKEYREJECTED", "Key was rejected by service" },
	[130] = { "EOWNERDEAD", "Owner died" },
	[131] = { "ENOTRECOVERABLE", "State not recoverable" },
	[132] = { "ERFKILL", "Operation not possible due to RF-kill" },
	[133] = { "EHWPOISON", "Memory page has hardware error" },
};

/* Kernel-internal codes a system call can end with when a signal arrives. */
static const struct xlat restart_errnos[] = {
	{ 512, "ERESTARTSYS (To be restarted if SA_RESTART is set)" },
	{ 513, "ERESTARTNOINTR (To be restarted)" },
	{ 514, "ERESTARTNOHAND (To be restarted if no handler)" },
	{ 516, "ERESTART_RESTARTBLOCK (Interrupted by signal)" },
};

/* ------------------------------------------------------------------ */
/* Generic printers                                                    */
/* ------------------------------------------------------------------ */

static const char *xlat_find(const struct xlat *t, size_t n, unsigned long v)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].val == v)
			return t[i].name;
	}
	return NULL;
}

/*
 * Names of the bits of v joined by '|', in table order, each entry taking
 * its bits away; bits left over print in hex at the end.  0 prints as "0".
 */
static void put_flags(struct fmt *f, const struct xlat *t, size_t n,
		      unsigned long v)
{
	int any = 0;

	for (size_t i = 0; i < n; i++) {
		if (!t[i].val || (v & t[i].val) != t[i].val)
			continue;
		if (any)
			fmt_char(f, '|');
		fmt_str(f, t[i].name);
		v &= ~t[i].val;
		any = 1;
	}
	if (v || !any) {
		if (any)
			fmt_char(f, '|');
		fmt_hex(f, v);
	}
}

/* A value's name, or as strace prints an unknown one: 0x5, then SEEK_??? in a comment. */
static void put_value(struct fmt *f, const struct xlat *t, size_t n,
		      unsigned long v, const char *unknown)
{
	const char *name = xlat_find(t, n, v);

	if (name) {
		fmt_str(f, name);
		return;
	}
	fmt_hex(f, v);
	fmt_str(f, " /* ");
	fmt_str(f, unknown);
	fmt_str(f, " */");
}

#define FLAGS(f, table, v)	put_flags((f), (table), ARRAY_SIZE(table), (v))
#define VALUE(f, table, v, unk)	put_value((f), (table), ARRAY_SIZE(table), (v), (unk))

static void put_ptr(struct fmt *f, unsigned long v)
{
	if (v)
		fmt_hex(f, v);
	else
		fmt_str(f, "NULL");
}

static void put_signal(struct fmt *f, int sig)
{
	if (sig > 0 && sig < SIGRTMIN_) {
		fmt_str(f, "SIG");
		fmt_str(f, signal_names[sig]);
	} else if (sig == SIGRTMIN_) {
		fmt_str(f, "SIGRTMIN");
	} else if (sig > SIGRTMIN_ && sig <= SIGRTMAX_) {
		fmt_str(f, "SIGRT_");
		fmt_dec(f, sig - SIGRTMIN_);
	} else {
		fmt_dec(f, sig);
	}
}

/* A signal's name inside a set: "INT", "RTMIN", "RT_3". */
static void put_set_member(struct fmt *f, int sig)
{
	if (sig < SIGRTMIN_) {
		fmt_str(f, signal_names[sig]);
	} else if (sig == SIGRTMIN_) {
		fmt_str(f, "RTMIN");
	} else {
		fmt_str(f, "RT_");
		fmt_dec(f, sig - SIGRTMIN_);
	}
}

/* Open-coded: __builtin_popcount may become a call into libgcc. */
static int count_bits(uint64_t v)
{
	int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* [INT TERM], or ~[...] listing the absent ones when most are present. */
static void put_sigset(struct fmt *f, uint64_t set)
{
	int count = count_bits(set);
	int first = 1;

	if (count > 32) {
		fmt_char(f, '~');
		set = ~set;
	}
	fmt_char(f, '[');
	for (int sig = 1; sig <= SIGRTMAX_; sig++) {
		if (!(set & (1ULL << (sig - 1))))
			continue;
		if (!first)
			fmt_char(f, ' ');
		put_set_member(f, sig);
		first = 0;
	}
	fmt_char(f, ']');
}

/* A mode as strace prints it, "%#03o": 0644, 04755, 000, 005. */
static void put_mode(struct fmt *f, unsigned long mode)
{
	if (mode < 010) {
		fmt_str(f, "00");
		fmt_char(f, (char)('0' + mode));
	} else {
		fmt_oct(f, mode);
	}
}

/* File type and permission bits as strace prints st_mode. */
static void put_st_mode(struct fmt *f, unsigned mode)
{
	static const struct xlat types[] = {
		{ 0140000, "S_IFSOCK" },	{ 0120000, "S_IFLNK" },
		{ 0100000, "S_IFREG" },		{ 0060000, "S_IFBLK" },
		{ 0040000, "S_IFDIR" },		{ 0020000, "S_IFCHR" },
		{ 0010000, "S_IFIFO" },
	};
	static const struct xlat special[] = {
		{ 04000, "S_ISUID" }, { 02000, "S_ISGID" }, { 01000, "S_ISVTX" },
	};
	const char *type = xlat_find(types, ARRAY_SIZE(types), mode & 0170000);

	if (type) {
		fmt_str(f, type);
		fmt_char(f, '|');
	} else if (mode & 0170000) {
		fmt_oct(f, mode & 0170000);
		fmt_char(f, '|');
	}
	for (size_t i = 0; i < ARRAY_SIZE(special); i++) {
		if (mode & special[i].val) {
			fmt_str(f, special[i].name);
			fmt_char(f, '|');
		}
	}
	put_mode(f, mode & 0777);
}

static void put_open_flags(struct fmt *f, unsigned long flags)
{
	unsigned long rest = flags & ~(unsigned long)O_ACCMODE_;

	fmt_str(f, access_modes[flags & O_ACCMODE_]);
	if (rest) {
		fmt_char(f, '|');
		FLAGS(f, open_flags, rest);
	}
}

static void put_mmap_flags(struct fmt *f, unsigned long flags)
{
	unsigned long rest = flags & ~(unsigned long)MAP_TYPE_;
	const char *type = xlat_find(map_types, ARRAY_SIZE(map_types),
				     flags & MAP_TYPE_);

	if (type)
		fmt_str(f, type);
	else
		fmt_hex(f, flags & MAP_TYPE_);
	if (rest) {
		fmt_char(f, '|');
		FLAGS(f, map_flags, rest);
	}
}

static void put_socket_type(struct fmt *f, unsigned long type)
{
	unsigned long rest = type & ~(unsigned long)SOCK_TYPE_MASK_;

	VALUE(f, socket_types, type & SOCK_TYPE_MASK_, "SOCK_???");
	if (rest) {
		fmt_char(f, '|');
		FLAGS(f, socket_flags, rest);
	}
}

/* statx's flags: a sync type (AT_STATX_SYNC_AS_STAT is 0), then AT_ flags. */
static void put_statx_flags(struct fmt *f, unsigned long flags)
{
	if (flags & AT_STATX_SYNC_TYPE_) {
		FLAGS(f, at_flags, flags);
		return;
	}
	fmt_str(f, "AT_STATX_SYNC_AS_STAT");
	if (flags) {
		fmt_char(f, '|');
		FLAGS(f, at_flags, flags);
	}
}

/* ------------------------------------------------------------------ */
/* The traced program's memory                                         */
/* ------------------------------------------------------------------ */

static int read_exact(void *dst, unsigned long addr, size_t n)
{
	return defuse_read_user(dst, (const void *)addr, n) == (long)n ? 0 : -1;
}

static uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t load32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Escapes one byte whose escape depends on the byte after it. */
static void put_pending(struct fmt *f, int pending, int next)
{
	char c = (char)pending;

	if (pending >= 0)
		fmt_escaped(f, &c, 1, next);
}

/*
 * Streams the NUL-terminated string at addr into f, quoted.  No read
 * crosses a page boundary, so a string that ends just before an unmapped
 * page reads fine, and the stack buffer stays small however long the path.
 * Longer than max: cut, with "..." after the quote.  Returns -1 when the
 * string is unreadable (f then holds a partial string the caller drops).
 */
static int stream_cstr(struct fmt *f, unsigned long addr, size_t max)
{
	char buf[128];
	size_t total = 0;
	int pending = -1, cut = 0;
	const char *nul;

	fmt_char(f, '"');
	do {
		size_t to_page_end = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
		size_t want = min_size(min_size(sizeof(buf), to_page_end),
				       max + 1 - total);
		long got = defuse_read_user(buf, (const void *)addr, want);
		size_t n;

		if (got <= 0)
			return -1;
		nul = d_memchr(buf, 0, (size_t)got);
		n = nul ? (size_t)(nul - buf) : (size_t)got;
		if (total + n > max) {
			n = max - total;
			cut = 1;
		}
		put_pending(f, pending, n ? (unsigned char)buf[0] : -1);
		pending = n ? (unsigned char)buf[n - 1] : -1;
		if (n > 1)
			fmt_escaped(f, buf, n - 1, pending);
		total += n;
		addr += (unsigned long)got;
	} while (!nul && !cut && !f->truncated);
	put_pending(f, pending, -1);
	fmt_char(f, '"');
	if (cut)
		fmt_str(f, "...");
	return 0;
}

/* A string argument: quoted, NULL, or its address when unreadable. */
static void put_cstr(struct fmt *f, unsigned long addr, size_t max)
{
	struct fmt before = *f;

	if (!addr) {
		fmt_str(f, "NULL");
		return;
	}
	if (stream_cstr(f, addr, max) < 0) {
		*f = before;	/* drop the half-printed string */
		fmt_hex(f, addr);
	}
}

/* len bytes of data at addr, the first TRACE_STRLEN of them shown. */
static void put_data(struct fmt *f, unsigned long addr, unsigned long len,
		     int hex)
{
	char buf[TRACE_STRLEN];
	size_t n = min_size(len, sizeof(buf));

	if (!addr) {
		fmt_str(f, "NULL");
		return;
	}
	if (read_exact(buf, addr, n) < 0) {
		fmt_hex(f, addr);
		return;
	}
	if (hex)
		fmt_quoted_hex(f, buf, len, TRACE_STRLEN);
	else
		fmt_quoted(f, buf, len, TRACE_STRLEN);
}

/* ------------------------------------------------------------------ */
/* Structures                                                          */
/* ------------------------------------------------------------------ */

/* struct stat on x86-64: st_mode at 24, st_rdev at 40, st_size at 48. */
static void put_stat(struct fmt *f, unsigned long addr)
{
	unsigned char st[56];
	uint32_t mode;
	uint64_t rdev;

	if (read_exact(st, addr, sizeof(st)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	mode = load32(st + 24);
	rdev = load64(st + 40);
	fmt_str(f, "{st_mode=");
	put_st_mode(f, mode);
	if ((mode & 0170000) == 0020000 || (mode & 0170000) == 0060000) {
		fmt_str(f, ", st_rdev=makedev(");
		fmt_hex(f, ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffULL));
		fmt_str(f, ", ");
		fmt_hex(f, (rdev & 0xff) | ((rdev >> 12) & ~0xffULL));
		fmt_char(f, ')');
	} else {
		fmt_str(f, ", st_size=");
		fmt_dec(f, (long)load64(st + 48));
	}
	fmt_str(f, ", ...}");
}

/*
 * struct statx: stx_mask at 0, stx_attributes at 8, stx_mode at 28,
 * stx_size at 40.
 */
static void put_statx(struct fmt *f, unsigned long addr)
{
	unsigned char stx[48];

	if (read_exact(stx, addr, sizeof(stx)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	fmt_str(f, "{stx_mask=");
	FLAGS(f, statx_masks, load32(stx));
	fmt_str(f, ", stx_attributes=");
	FLAGS(f, statx_attrs, load64(stx + 8));
	fmt_str(f, ", stx_mode=");
	put_st_mode(f, load32(stx + 28) & 0xffff);
	fmt_str(f, ", stx_size=");
	fmt_udec(f, load64(stx + 40));
	fmt_str(f, ", ...}");
}

/* A resource limit as strace shows it: 8192*1024, RLIM64_INFINITY. */
static void put_rlim(struct fmt *f, uint64_t v)
{
	if (v == ~0ULL) {
		fmt_str(f, "RLIM64_INFINITY");
	} else if (v > 0 && v % 1024 == 0) {
		fmt_udec(f, v / 1024);
		fmt_str(f, "*1024");
	} else {
		fmt_udec(f, v);
	}
}

static void put_rlimit(struct fmt *f, unsigned long addr)
{
	unsigned char rl[16];

	if (read_exact(rl, addr, sizeof(rl)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	fmt_str(f, "{rlim_cur=");
	put_rlim(f, load64(rl));
	fmt_str(f, ", rlim_max=");
	put_rlim(f, load64(rl + 8));
	fmt_char(f, '}');
}

/* AF_UNIX: the path, or "@name" for the abstract namespace. */
static void put_sockaddr_un(struct fmt *f, const char *sa, size_t len)
{
	const char *path = sa + 2;
	size_t n = len > 2 ? len - 2 : 0;

	fmt_str(f, ", sun_path=");
	if (n && path[0] == '\0') {
		fmt_char(f, '@');
		fmt_quoted(f, path + 1, n - 1, n - 1);
	} else {
		fmt_quoted(f, path, d_strnlen(path, n), n);
	}
}

/* AF_INET: htons(port) and the dotted address. */
static void put_sockaddr_in(struct fmt *f, const unsigned char *sa)
{
	fmt_str(f, ", sin_port=htons(");
	fmt_udec(f, (unsigned)sa[2] << 8 | sa[3]);
	fmt_str(f, "), sin_addr=inet_addr(\"");
	for (int i = 4; i < 8; i++) {
		fmt_udec(f, sa[i]);
		if (i < 7)
			fmt_char(f, '.');
	}
	fmt_str(f, "\")");
}

/* A socket address of len bytes; families other than these print as "...". */
static void put_sockaddr(struct fmt *f, unsigned long addr, unsigned long len)
{
	unsigned char sa[110];
	unsigned family;

	if (len < 2 || len > sizeof(sa) || read_exact(sa, addr, len) < 0) {
		put_ptr(f, addr);
		return;
	}
	family = (unsigned)(sa[0] | sa[1] << 8);
	fmt_str(f, "{sa_family=");
	VALUE(f, socket_families, family, "AF_???");
	if (family == 1)
		put_sockaddr_un(f, (const char *)sa, len);
	else if (family == 2 && len >= 8)
		put_sockaddr_in(f, sa);
	else
		fmt_str(f, ", ...");
	fmt_char(f, '}');
}

static void put_sighandler(struct fmt *f, unsigned long h)
{
	if (h == 0)
		fmt_str(f, "SIG_DFL");
	else if (h == 1)
		fmt_str(f, "SIG_IGN");
	else if (h == ~0UL)
		fmt_str(f, "SIG_ERR");
	else
		fmt_hex(f, h);
}

/*
 * The kernel's struct sigaction on x86-64: handler at 0, flags at 8,
 * restorer at 16, mask at 24.
 */
static void put_sigaction(struct fmt *f, unsigned long addr)
{
	unsigned char sa[32];
	uint64_t flags;

	if (read_exact(sa, addr, sizeof(sa)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	flags = load64(sa + 8);
	fmt_str(f, "{sa_handler=");
	put_sighandler(f, load64(sa));
	fmt_str(f, ", sa_mask=");
	put_sigset(f, load64(sa + 24));
	fmt_str(f, ", sa_flags=");
	FLAGS(f, sigaction_flags, flags);
	if (flags & SA_RESTORER_) {
		fmt_str(f, ", sa_restorer=");
		put_ptr(f, load64(sa + 16));
	}
	fmt_char(f, '}');
}

/* struct utsname: 65-byte fields; strace shows the first two. */
static void put_utsname(struct fmt *f, unsigned long addr)
{
	char uts[130];

	if (read_exact(uts, addr, sizeof(uts)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	fmt_str(f, "{sysname=");
	fmt_quoted(f, uts, d_strnlen(uts, 65), 65);
	fmt_str(f, ", nodename=");
	fmt_quoted(f, uts + 65, d_strnlen(uts + 65, 65), 65);
	fmt_str(f, ", ...}");
}

/* struct epoll_event, packed on x86-64: events at 0, data at 4. */
static void put_epoll_event(struct fmt *f, unsigned long addr)
{
	unsigned char ev[12];
	uint64_t data;

	if (read_exact(ev, addr, sizeof(ev)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	data = load64(ev + 4);
	fmt_str(f, "{events=");
	FLAGS(f, epoll_events, load32(ev));
	fmt_str(f, ", data={u32=");
	fmt_udec(f, (uint32_t)data);
	fmt_str(f, ", u64=");
	fmt_udec(f, data);
	fmt_str(f, "}}");
}

static void put_timespec(struct fmt *f, unsigned long addr)
{
	unsigned char ts[16];

	if (read_exact(ts, addr, sizeof(ts)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	fmt_str(f, "{tv_sec=");
	fmt_dec(f, (long)load64(ts));
	fmt_str(f, ", tv_nsec=");
	fmt_dec(f, (long)load64(ts + 8));
	fmt_char(f, '}');
}

static void put_sigset_at(struct fmt *f, unsigned long addr)
{
	unsigned char set[8];

	if (read_exact(set, addr, sizeof(set)) < 0)
		fmt_hex(f, addr);
	else
		put_sigset(f, load64(set));
}

/* pipe's and socketpair's two descriptors: [3, 4]. */
static void put_fd_pair(struct fmt *f, unsigned long addr)
{
	unsigned char fds[8];

	if (read_exact(fds, addr, sizeof(fds)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	fmt_char(f, '[');
	fmt_dec(f, (int)load32(fds));
	fmt_str(f, ", ");
	fmt_dec(f, (int)load32(fds + 4));
	fmt_char(f, ']');
}

/* wait4's status: [{WIFEXITED(s) && WEXITSTATUS(s) == 0}]. */
static void put_wait_status(struct fmt *f, unsigned long addr)
{
	unsigned char buf[4];
	unsigned s;

	if (read_exact(buf, addr, sizeof(buf)) < 0) {
		fmt_hex(f, addr);
		return;
	}
	s = load32(buf);
	if ((s & 0x7f) == 0) {
		fmt_str(f, "[{WIFEXITED(s) && WEXITSTATUS(s) == ");
		fmt_dec(f, (s >> 8) & 0xff);
	} else if ((s & 0xff) == 0x7f) {
		fmt_str(f, "[{WIFSTOPPED(s) && WSTOPSIG(s) == ");
		put_signal(f, (int)((s >> 8) & 0xff));
	} else if (s == 0xffff) {
		fmt_str(f, "[{WIFCONTINUED(s)");
	} else {
		fmt_str(f, "[{WIFSIGNALED(s) && WTERMSIG(s) == ");
		put_signal(f, (int)(s & 0x7f));
		if (s & 0x80)
			fmt_str(f, " && WCOREDUMP(s)");
	}
	fmt_str(f, "}]");
}

/* getdents64's buffer: its address and how many entries came back. */
static void put_dirents(struct fmt *f, unsigned long addr, long len)
{
	unsigned long count = 0;
	long off = 0;

	fmt_hex(f, addr);
	while (off < len) {
		unsigned char reclen[2];
		unsigned short n;

		/* d_reclen sits at offset 16 in both dirent layouts. */
		if (read_exact(reclen, addr + (unsigned long)off + 16, 2) < 0)
			return;
		n = (unsigned short)(reclen[0] | reclen[1] << 8);
		if (n == 0)
			return;
		off += n;
		count++;
	}
	fmt_str(f, " /* ");
	fmt_udec(f, count);
	fmt_str(f, " entries */");
}

/*
 * An iovec array: [{iov_base="...", iov_len=5}, ...].  `data` bounds the
 * bytes shown over all buffers: the result for readv, everything for writev.
 */
static void put_iovec(struct fmt *f, unsigned long addr, long count,
		      unsigned long data)
{
	if (count <= 0) {
		fmt_str(f, "[]");
		return;
	}
	for (long i = 0; i < count; i++) {
		unsigned char iov[16];
		unsigned long len;

		if (i == ARRAY_MAX_SHOWN) {
			fmt_str(f, ", ...");
			break;
		}
		if (read_exact(iov, addr + (unsigned long)i * 16, 16) < 0) {
			if (i == 0) {
				fmt_hex(f, addr);
				return;
			}
			fmt_str(f, ", ...");
			break;
		}
		len = load64(iov + 8);
		fmt_str(f, i ? ", {iov_base=" : "[{iov_base=");
		put_data(f, load64(iov), min_size(len, data), 0);
		data -= min_size(len, data);
		fmt_str(f, ", iov_len=");
		fmt_udec(f, len);
		fmt_char(f, '}');
	}
	fmt_char(f, ']');
}

/* execve's argv: ["ls", "-l"], cut after ARRAY_MAX_SHOWN strings. */
static void put_argv(struct fmt *f, unsigned long addr)
{
	unsigned char p[8];

	if (read_exact(p, addr, 8) < 0) {
		put_ptr(f, addr);
		return;
	}
	fmt_char(f, '[');
	for (unsigned long i = 0; load64(p); i++) {
		if (i)
			fmt_str(f, ", ");
		if (i == ARRAY_MAX_SHOWN) {
			fmt_str(f, "...");
			break;
		}
		put_cstr(f, load64(p), TRACE_STRLEN);
		if (read_exact(p, addr + (i + 1) * 8, 8) < 0) {
			fmt_str(f, ", ...");
			break;
		}
	}
	fmt_char(f, ']');
}

/*
 * Entries before the NULL that ends a pointer array, or -1 if it cannot be
 * read; a chunk of pointers per read, as environments run to hundreds.
 */
static long count_pointers(unsigned long addr)
{
	unsigned char buf[256];
	long n = 0;

	for (int chunk = 0; chunk < 4096; chunk++) {
		size_t to_page_end = PAGE_SIZE - (addr & (PAGE_SIZE - 1));
		long got = defuse_read_user(buf, (const void *)addr,
					    min_size(sizeof(buf), to_page_end));

		if (got < 8)
			return -1;
		for (long off = 0; off + 8 <= got; off += 8, n++) {
			if (!load64(buf + off))
				return n;
		}
		addr += (unsigned long)got & ~7UL;
	}
	return -1;
}

/* execve's envp as strace shows it without -v: the address, a count. */
static void put_envp(struct fmt *f, unsigned long addr)
{
	long n = addr ? count_pointers(addr) : -1;

	put_ptr(f, addr);
	if (n < 0)
		return;
	fmt_str(f, " /* ");
	fmt_dec(f, n);
	fmt_str(f, " vars */");
}

/* ------------------------------------------------------------------ */
/* Signatures                                                          */
/* ------------------------------------------------------------------ */

enum arg_kind {
	A_END,		/* no more arguments */
	A_INT,		/* int in decimal: descriptors, pids, counts */
	A_UINT,		/* unsigned int in decimal */
	A_ULONG,	/* size_t in decimal */
	A_LONG,		/* off_t in decimal */
	A_PTR,		/* NULL or hex */
	A_HEX,		/* undecoded: hex, 0 as "0" */
	A_DIRFD,	/* AT_FDCWD or a descriptor */
	A_PATH,		/* file name, shown up to PATH_MAX */
	A_STR,		/* other string, shown up to TRACE_STRLEN */
	A_OFLAGS,	/* open flags, access mode included */
	A_FDFLAGS,	/* O_CLOEXEC|O_NONBLOCK of pipe2, dup3 */
	A_CMODE,	/* mode, printed only if the flags before it create */
	A_MODE,		/* permission bits, %#03o */
	A_FMODE,	/* file type and permissions (mknod) */
	A_INBUF,	/* data read by the call; length in the next argument */
	A_OUTBUF,	/* data written by the call; length is the result */
	A_OUTBUF_HEX,	/* the same, binary data (getrandom) */
	A_PROT,		/* PROT_* */
	A_MAPFLAGS,	/* MAP_* */
	A_ACCESS,	/* F_OK, R_OK|W_OK... */
	A_WHENCE,	/* SEEK_* */
	A_ATFLAGS,	/* AT_* */
	A_ATFLAGS_EA,	/* AT_* where 0x200 is AT_EACCESS */
	A_STATXFLAGS,	/* AT_STATX_SYNC_AS_STAT|AT_* */
	A_STATXMASK,	/* STATX_* */
	A_STAT,		/* struct stat, filled by the call */
	A_STATX,	/* struct statx, filled by the call */
	A_RLIM_IN,	/* struct rlimit given to the call */
	A_RLIM_OUT,	/* struct rlimit filled by the call */
	A_SOCKADDR,	/* socket address; its length in the next argument */
	A_ARGV,		/* execve argv */
	A_ENVP,		/* execve envp */
	A_SIGNAL,	/* SIGTERM */
	A_CWD,		/* getcwd's buffer */
	A_TS_IN,	/* struct timespec given to the call */
	A_TS_OUT,	/* struct timespec filled by the call */
	A_CLOCK,	/* CLOCK_* */
	A_SIGHOW,	/* SIG_BLOCK... */
	A_SIGSET_IN,	/* sigset_t given to the call */
	A_SIGSET_OUT,	/* sigset_t filled by the call */
	A_FDPAIR,	/* int[2] filled by the call */
	A_IOCTL,	/* ioctl request */
	A_DIRENTS,	/* getdents buffer */
	A_FAMILY,	/* AF_* */
	A_SOCKTYPE,	/* SOCK_STREAM|SOCK_CLOEXEC */
	A_SOCKFLAGS,	/* SOCK_CLOEXEC|SOCK_NONBLOCK */
	A_SOCKPROTO,	/* protocol, named for AF_INET and AF_INET6 */
	A_EPOLLEVENT,	/* struct epoll_event given to the call */
	A_ARCHPRCTL,	/* ARCH_* */
	A_RLIMIT,	/* RLIMIT_* */
	A_MADVISE,	/* MADV_* */
	A_FADVISE,	/* POSIX_FADV_* */
	A_SIGACT_IN,	/* struct sigaction given to the call */
	A_SIGACT_OUT,	/* struct sigaction filled by the call */
	A_UTSNAME,	/* struct utsname filled by the call */
	A_WSTATUS,	/* wait status filled by the call */
	A_WOPTIONS,	/* WNOHANG... */
	A_TIMERFLAGS,	/* TIMER_ABSTIME */
	A_RENAMEFLAGS,	/* RENAME_* */
	A_FLOCKOP,	/* LOCK_* */
	A_GRNDFLAGS,	/* GRND_* */
	A_MFDFLAGS,	/* MFD_* */
	A_EPOLLOP,	/* EPOLL_CTL_* */
	A_EPOLLFLAGS,	/* EPOLL_CLOEXEC */
	A_EFDFLAGS,	/* EFD_* */
	A_IOV_IN,	/* iovec array read by the call; count in the next argument */
	A_IOV_OUT,	/* iovec array filled by the call, up to the result */
};

enum ret_kind {
	R_DEC,		/* most calls */
	R_HEX,		/* addresses: mmap, brk */
	R_OCT,		/* umask */
	R_FCNTL,	/* F_GETFD and F_GETFL flags */
};

struct signature {
	unsigned char ret;
	unsigned char arg[6];
};

#define SIG(nr, r, ...)	[nr] = { r, { __VA_ARGS__ } }

static const struct signature signatures[SYSCALL_NR_LIMIT] = {
	SIG(__NR_read, R_DEC, A_INT, A_OUTBUF, A_ULONG),
	SIG(__NR_write, R_DEC, A_INT, A_INBUF, A_ULONG),
	SIG(__NR_open, R_DEC, A_PATH, A_OFLAGS, A_CMODE),
	SIG(__NR_close, R_DEC, A_INT),
	SIG(__NR_stat, R_DEC, A_PATH, A_STAT),
	SIG(__NR_fstat, R_DEC, A_INT, A_STAT),
	SIG(__NR_lstat, R_DEC, A_PATH, A_STAT),
	SIG(__NR_poll, R_DEC, A_PTR, A_UINT, A_INT),
	SIG(__NR_lseek, R_DEC, A_INT, A_LONG, A_WHENCE),
	SIG(__NR_mmap, R_HEX, A_PTR, A_ULONG, A_PROT, A_MAPFLAGS, A_INT, A_HEX),
	SIG(__NR_mprotect, R_DEC, A_PTR, A_ULONG, A_PROT),
	SIG(__NR_munmap, R_DEC, A_PTR, A_ULONG),
	SIG(__NR_brk, R_HEX, A_PTR),
	SIG(__NR_rt_sigaction, R_DEC, A_SIGNAL, A_SIGACT_IN, A_SIGACT_OUT, A_ULONG),
	SIG(__NR_rt_sigprocmask, R_DEC, A_SIGHOW, A_SIGSET_IN, A_SIGSET_OUT, A_ULONG),
	SIG(__NR_ioctl, R_DEC, A_INT, A_IOCTL, A_PTR),
	SIG(__NR_pread64, R_DEC, A_INT, A_OUTBUF, A_ULONG, A_LONG),
	SIG(__NR_pwrite64, R_DEC, A_INT, A_INBUF, A_ULONG, A_LONG),
	SIG(__NR_readv, R_DEC, A_INT, A_IOV_OUT, A_INT),
	SIG(__NR_writev, R_DEC, A_INT, A_IOV_IN, A_INT),
	SIG(__NR_access, R_DEC, A_PATH, A_ACCESS),
	SIG(__NR_pipe, R_DEC, A_FDPAIR),
	SIG(__NR_mremap, R_HEX, A_PTR, A_ULONG, A_ULONG, A_HEX, A_PTR),
	SIG(__NR_msync, R_DEC, A_PTR, A_ULONG, A_HEX),
	SIG(__NR_madvise, R_DEC, A_PTR, A_ULONG, A_MADVISE),
	SIG(__NR_dup, R_DEC, A_INT),
	SIG(__NR_dup2, R_DEC, A_INT, A_INT),
	SIG(__NR_nanosleep, R_DEC, A_TS_IN, A_PTR),
	SIG(__NR_alarm, R_DEC, A_UINT),
	SIG(__NR_sendfile, R_DEC, A_INT, A_INT, A_PTR, A_ULONG),
	SIG(__NR_socket, R_DEC, A_FAMILY, A_SOCKTYPE, A_SOCKPROTO),
	SIG(__NR_connect, R_DEC, A_INT, A_SOCKADDR, A_INT),
	SIG(__NR_accept, R_DEC, A_INT, A_PTR, A_PTR),
	SIG(__NR_sendto, R_DEC, A_INT, A_INBUF, A_ULONG, A_HEX, A_SOCKADDR, A_INT),
	SIG(__NR_recvfrom, R_DEC, A_INT, A_OUTBUF, A_ULONG, A_HEX, A_PTR, A_PTR),
	SIG(__NR_sendmsg, R_DEC, A_INT, A_PTR, A_HEX),
	SIG(__NR_recvmsg, R_DEC, A_INT, A_PTR, A_HEX),
	SIG(__NR_shutdown, R_DEC, A_INT, A_INT),
	SIG(__NR_bind, R_DEC, A_INT, A_SOCKADDR, A_INT),
	SIG(__NR_listen, R_DEC, A_INT, A_INT),
	SIG(__NR_getsockname, R_DEC, A_INT, A_PTR, A_PTR),
	SIG(__NR_getpeername, R_DEC, A_INT, A_PTR, A_PTR),
	SIG(__NR_socketpair, R_DEC, A_FAMILY, A_SOCKTYPE, A_SOCKPROTO, A_FDPAIR),
	SIG(__NR_setsockopt, R_DEC, A_INT, A_INT, A_INT, A_PTR, A_INT),
	SIG(__NR_getsockopt, R_DEC, A_INT, A_INT, A_INT, A_PTR, A_PTR),
	SIG(__NR_execve, R_DEC, A_PATH, A_ARGV, A_ENVP),
	SIG(__NR_exit, R_DEC, A_INT),
	SIG(__NR_wait4, R_DEC, A_INT, A_WSTATUS, A_WOPTIONS, A_PTR),
	SIG(__NR_kill, R_DEC, A_INT, A_SIGNAL),
	SIG(__NR_uname, R_DEC, A_UTSNAME),
	SIG(__NR_fcntl, R_FCNTL, A_INT),	/* the rest: put_fcntl_args */
	SIG(__NR_flock, R_DEC, A_INT, A_FLOCKOP),
	SIG(__NR_fsync, R_DEC, A_INT),
	SIG(__NR_fdatasync, R_DEC, A_INT),
	SIG(__NR_truncate, R_DEC, A_PATH, A_LONG),
	SIG(__NR_ftruncate, R_DEC, A_INT, A_LONG),
	SIG(__NR_getdents, R_DEC, A_INT, A_DIRENTS, A_UINT),
	SIG(__NR_getcwd, R_DEC, A_CWD, A_ULONG),
	SIG(__NR_chdir, R_DEC, A_PATH),
	SIG(__NR_fchdir, R_DEC, A_INT),
	SIG(__NR_rename, R_DEC, A_PATH, A_PATH),
	SIG(__NR_mkdir, R_DEC, A_PATH, A_MODE),
	SIG(__NR_rmdir, R_DEC, A_PATH),
	SIG(__NR_creat, R_DEC, A_PATH, A_MODE),
	SIG(__NR_link, R_DEC, A_PATH, A_PATH),
	SIG(__NR_unlink, R_DEC, A_PATH),
	SIG(__NR_symlink, R_DEC, A_PATH, A_PATH),
	SIG(__NR_readlink, R_DEC, A_PATH, A_OUTBUF, A_ULONG),
	SIG(__NR_chmod, R_DEC, A_PATH, A_MODE),
	SIG(__NR_fchmod, R_DEC, A_INT, A_MODE),
	SIG(__NR_chown, R_DEC, A_PATH, A_INT, A_INT),
	SIG(__NR_fchown, R_DEC, A_INT, A_INT, A_INT),
	SIG(__NR_lchown, R_DEC, A_PATH, A_INT, A_INT),
	SIG(__NR_umask, R_OCT, A_MODE),
	SIG(__NR_getrlimit, R_DEC, A_RLIMIT, A_RLIM_OUT),
	SIG(__NR_setuid, R_DEC, A_INT),
	SIG(__NR_setgid, R_DEC, A_INT),
	SIG(__NR_setpgid, R_DEC, A_INT, A_INT),
	SIG(__NR_getpgid, R_DEC, A_INT),
	SIG(__NR_getsid, R_DEC, A_INT),
	SIG(__NR_rt_sigsuspend, R_DEC, A_SIGSET_IN, A_ULONG),
	SIG(__NR_mknod, R_DEC, A_PATH, A_FMODE, A_HEX),
	SIG(__NR_statfs, R_DEC, A_PATH, A_PTR),
	SIG(__NR_fstatfs, R_DEC, A_INT, A_PTR),
	SIG(__NR_mlock, R_DEC, A_PTR, A_ULONG),
	SIG(__NR_munlock, R_DEC, A_PTR, A_ULONG),
	SIG(__NR_arch_prctl, R_DEC, A_ARCHPRCTL, A_PTR),
	SIG(__NR_setrlimit, R_DEC, A_RLIMIT, A_RLIM_IN),
	SIG(__NR_chroot, R_DEC, A_PATH),
	SIG(__NR_mount, R_DEC, A_PATH, A_PATH, A_STR, A_HEX, A_PTR),
	SIG(__NR_umount2, R_DEC, A_PATH, A_HEX),
	SIG(__NR_readahead, R_DEC, A_INT, A_LONG, A_ULONG),
	SIG(__NR_setxattr, R_DEC, A_PATH, A_STR, A_PTR, A_ULONG, A_HEX),
	SIG(__NR_lsetxattr, R_DEC, A_PATH, A_STR, A_PTR, A_ULONG, A_HEX),
	SIG(__NR_fsetxattr, R_DEC, A_INT, A_STR, A_PTR, A_ULONG, A_HEX),
	SIG(__NR_getxattr, R_DEC, A_PATH, A_STR, A_PTR, A_ULONG),
	SIG(__NR_lgetxattr, R_DEC, A_PATH, A_STR, A_PTR, A_ULONG),
	SIG(__NR_fgetxattr, R_DEC, A_INT, A_STR, A_PTR, A_ULONG),
	SIG(__NR_listxattr, R_DEC, A_PATH, A_PTR, A_ULONG),
	SIG(__NR_llistxattr, R_DEC, A_PATH, A_PTR, A_ULONG),
	SIG(__NR_flistxattr, R_DEC, A_INT, A_PTR, A_ULONG),
	SIG(__NR_removexattr, R_DEC, A_PATH, A_STR),
	SIG(__NR_lremovexattr, R_DEC, A_PATH, A_STR),
	SIG(__NR_fremovexattr, R_DEC, A_INT, A_STR),
	SIG(__NR_tkill, R_DEC, A_INT, A_SIGNAL),
	SIG(__NR_time, R_DEC, A_PTR),
	SIG(__NR_futex, R_DEC, A_PTR),		/* the rest: put_futex_args */
	SIG(__NR_getdents64, R_DEC, A_INT, A_DIRENTS, A_UINT),
	SIG(__NR_set_tid_address, R_DEC, A_PTR),
	SIG(__NR_fadvise64, R_DEC, A_INT, A_LONG, A_LONG, A_FADVISE),
	SIG(__NR_clock_gettime, R_DEC, A_CLOCK, A_TS_OUT),
	SIG(__NR_clock_getres, R_DEC, A_CLOCK, A_TS_OUT),
	SIG(__NR_clock_nanosleep, R_DEC, A_CLOCK, A_TIMERFLAGS, A_TS_IN, A_PTR),
	SIG(__NR_exit_group, R_DEC, A_INT),
	SIG(__NR_epoll_wait, R_DEC, A_INT, A_PTR, A_INT, A_INT),
	SIG(__NR_epoll_ctl, R_DEC, A_INT, A_EPOLLOP, A_INT, A_EPOLLEVENT),
	SIG(__NR_tgkill, R_DEC, A_INT, A_INT, A_SIGNAL),
	SIG(__NR_waitid, R_DEC, A_INT, A_INT, A_PTR, A_WOPTIONS, A_PTR),
	SIG(__NR_inotify_add_watch, R_DEC, A_INT, A_PATH, A_HEX),
	SIG(__NR_inotify_rm_watch, R_DEC, A_INT, A_INT),
	SIG(__NR_openat, R_DEC, A_DIRFD, A_PATH, A_OFLAGS, A_CMODE),
	SIG(__NR_mkdirat, R_DEC, A_DIRFD, A_PATH, A_MODE),
	SIG(__NR_mknodat, R_DEC, A_DIRFD, A_PATH, A_FMODE, A_HEX),
	SIG(__NR_fchownat, R_DEC, A_DIRFD, A_PATH, A_INT, A_INT, A_ATFLAGS),
	SIG(__NR_newfstatat, R_DEC, A_DIRFD, A_PATH, A_STAT, A_ATFLAGS),
	SIG(__NR_unlinkat, R_DEC, A_DIRFD, A_PATH, A_ATFLAGS),
	SIG(__NR_renameat, R_DEC, A_DIRFD, A_PATH, A_DIRFD, A_PATH),
	SIG(__NR_linkat, R_DEC, A_DIRFD, A_PATH, A_DIRFD, A_PATH, A_ATFLAGS),
	SIG(__NR_symlinkat, R_DEC, A_PATH, A_DIRFD, A_PATH),
	SIG(__NR_readlinkat, R_DEC, A_DIRFD, A_PATH, A_OUTBUF, A_ULONG),
	SIG(__NR_fchmodat, R_DEC, A_DIRFD, A_PATH, A_MODE),
	SIG(__NR_faccessat, R_DEC, A_DIRFD, A_PATH, A_ACCESS),
	SIG(__NR_set_robust_list, R_DEC, A_PTR, A_ULONG),
	SIG(__NR_utimensat, R_DEC, A_DIRFD, A_PATH, A_PTR, A_ATFLAGS),
	SIG(__NR_epoll_pwait, R_DEC, A_INT, A_PTR, A_INT, A_INT, A_PTR, A_ULONG),
	SIG(__NR_eventfd, R_DEC, A_UINT),
	SIG(__NR_fallocate, R_DEC, A_INT, A_HEX, A_LONG, A_LONG),
	SIG(__NR_accept4, R_DEC, A_INT, A_PTR, A_PTR, A_SOCKFLAGS),
	SIG(__NR_eventfd2, R_DEC, A_UINT, A_EFDFLAGS),
	SIG(__NR_epoll_create, R_DEC, A_INT),
	SIG(__NR_epoll_create1, R_DEC, A_EPOLLFLAGS),
	SIG(__NR_dup3, R_DEC, A_INT, A_INT, A_FDFLAGS),
	SIG(__NR_pipe2, R_DEC, A_FDPAIR, A_FDFLAGS),
	SIG(__NR_prlimit64, R_DEC, A_INT, A_RLIMIT, A_RLIM_IN, A_RLIM_OUT),
	SIG(__NR_syncfs, R_DEC, A_INT),
	SIG(__NR_renameat2, R_DEC, A_DIRFD, A_PATH, A_DIRFD, A_PATH, A_RENAMEFLAGS),
	SIG(__NR_getrandom, R_DEC, A_OUTBUF_HEX, A_ULONG, A_GRNDFLAGS),
	SIG(__NR_memfd_create, R_DEC, A_STR, A_MFDFLAGS),
	SIG(__NR_copy_file_range, R_DEC, A_INT, A_PTR, A_INT, A_PTR, A_ULONG, A_HEX),
	SIG(__NR_statx, R_DEC, A_DIRFD, A_PATH, A_STATXFLAGS, A_STATXMASK, A_STATX),
	SIG(__NR_rseq, R_DEC, A_PTR, A_HEX, A_INT, A_HEX),
	SIG(__NR_clone3, R_DEC, A_PTR, A_ULONG),
	SIG(__NR_close_range, R_DEC, A_UINT, A_UINT, A_HEX),
	SIG(__NR_openat2, R_DEC, A_DIRFD, A_PATH, A_PTR, A_ULONG),
	SIG(__NR_faccessat2, R_DEC, A_DIRFD, A_PATH, A_ACCESS, A_ATFLAGS_EA),
	SIG(__NR_fchmodat2, R_DEC, A_DIRFD, A_PATH, A_MODE, A_ATFLAGS),
};

/* ------------------------------------------------------------------ */
/* Arguments                                                           */
/* ------------------------------------------------------------------ */

static void put_path(struct fmt *f, unsigned long v)
{
	put_cstr(f, v, PATH_MAX_SHOWN);
}

static void put_dirfd(struct fmt *f, long v)
{
	if ((int)v == -100)
		fmt_str(f, "AT_FDCWD");
	else
		fmt_dec(f, (int)v);
}

static void put_access(struct fmt *f, unsigned long v)
{
	if (v)
		FLAGS(f, access_flags, v);
	else
		fmt_str(f, "F_OK");
}

static void put_prot(struct fmt *f, unsigned long v)
{
	if (v)
		FLAGS(f, prot_flags, v);
	else
		fmt_str(f, "PROT_NONE");
}

/* strace decodes ioctl numbers it does not know into _IOC(...); hex will do. */
static void put_ioctl(struct fmt *f, unsigned long v)
{
	const char *name = xlat_find(ioctl_requests, ARRAY_SIZE(ioctl_requests), v);

	if (name)
		fmt_str(f, name);
	else
		fmt_hex(f, v);
}

/* Kinds that are a number, a name, or a set of flags. */
static int put_scalar(struct fmt *f, int kind, long v)
{
	unsigned long u = (unsigned long)v;

	switch (kind) {
	case A_INT:		fmt_dec(f, (int)v); break;
	case A_UINT:		fmt_udec(f, (unsigned)v); break;
	case A_ULONG:		fmt_udec(f, u); break;
	case A_LONG:		fmt_dec(f, v); break;
	case A_PTR:		put_ptr(f, u); break;
	case A_HEX:		fmt_hex(f, u); break;
	case A_DIRFD:		put_dirfd(f, v); break;
	case A_MODE:		put_mode(f, u); break;
	case A_FMODE:		put_st_mode(f, (unsigned)u); break;
	case A_OFLAGS:		put_open_flags(f, u); break;
	case A_FDFLAGS:		FLAGS(f, open_flags, u); break;
	case A_PROT:		put_prot(f, u); break;
	case A_MAPFLAGS:	put_mmap_flags(f, u); break;
	case A_ACCESS:		put_access(f, u); break;
	case A_WHENCE:		VALUE(f, seek_whences, u, "SEEK_???"); break;
	case A_ATFLAGS:		FLAGS(f, at_flags, u); break;
	case A_ATFLAGS_EA:	FLAGS(f, at_flags_eaccess, u); break;
	case A_STATXFLAGS:	put_statx_flags(f, u); break;
	case A_STATXMASK:	FLAGS(f, statx_masks, (unsigned)u); break;
	case A_SIGNAL:		put_signal(f, (int)v); break;
	case A_CLOCK:		VALUE(f, clock_ids, u, "CLOCK_???"); break;
	case A_SIGHOW:		VALUE(f, sigprocmask_hows, u, "SIG_???"); break;
	case A_IOCTL:		put_ioctl(f, (unsigned)u); break;
	case A_FAMILY:		VALUE(f, socket_families, u, "AF_???"); break;
	case A_SOCKTYPE:	put_socket_type(f, u); break;
	case A_SOCKFLAGS:	FLAGS(f, socket_flags, u); break;
	case A_ARCHPRCTL:	VALUE(f, arch_prctl_codes, u, "ARCH_???"); break;
	case A_RLIMIT:		VALUE(f, rlimit_resources, u, "RLIMIT_???"); break;
	case A_MADVISE:		VALUE(f, madvise_advice, u, "MADV_???"); break;
	case A_FADVISE:		VALUE(f, fadvise_advice, u, "POSIX_FADV_???"); break;
	case A_WOPTIONS:	FLAGS(f, wait_options, u); break;
	case A_TIMERFLAGS:	FLAGS(f, timer_flags, u); break;
	case A_RENAMEFLAGS:	FLAGS(f, rename_flags, u); break;
	case A_FLOCKOP:		FLAGS(f, flock_ops, u); break;
	case A_GRNDFLAGS:	FLAGS(f, getrandom_flags, u); break;
	case A_MFDFLAGS:	FLAGS(f, memfd_flags, u); break;
	case A_EPOLLOP:		VALUE(f, epoll_ops, u, "EPOLL_CTL_???"); break;
	case A_EPOLLFLAGS:	FLAGS(f, epoll_flags, u); break;
	case A_EFDFLAGS:	FLAGS(f, eventfd_flags, u); break;
	default:		return 0;
	}
	return 1;
}

/*
 * Kinds the call fills in: shown only once it has, as a pointer before.
 * (A wait status is filled only when a child was reaped.)
 */
static void put_output(struct call *c, int kind, int i)
{
	struct fmt *f = c->out;
	unsigned long v = (unsigned long)c->arg[i];
	unsigned long ret = (unsigned long)c->ret;

	if (!c->ok || !v || (kind == A_WSTATUS && c->ret == 0)) {
		put_ptr(f, v);
		return;
	}
	switch (kind) {
	case A_OUTBUF:		put_data(f, v, ret, 0); break;
	case A_OUTBUF_HEX:	put_data(f, v, ret, 1); break;
	case A_STAT:		put_stat(f, v); break;
	case A_STATX:		put_statx(f, v); break;
	case A_SIGACT_OUT:	put_sigaction(f, v); break;
	case A_UTSNAME:		put_utsname(f, v); break;
	case A_RLIM_OUT:	put_rlimit(f, v); break;
	case A_CWD:		put_path(f, v); break;
	case A_TS_OUT:		put_timespec(f, v); break;
	case A_SIGSET_OUT:	put_sigset_at(f, v); break;
	case A_FDPAIR:		put_fd_pair(f, v); break;
	case A_DIRENTS:		put_dirents(f, v, c->ret); break;
	case A_WSTATUS:		put_wait_status(f, v); break;
	case A_IOV_OUT:		put_iovec(f, v, (int)c->arg[i + 1], ret); break;
	default:		fmt_hex(f, v); break;
	}
}

/* The protocol argument of socket(): named where the family gives it names. */
static void put_sock_proto(struct call *c, int i)
{
	int family = (int)c->arg[0];

	if (family == 2 || family == 10)
		VALUE(c->out, ip_protocols, (unsigned long)c->arg[i], "IPPROTO_???");
	else
		fmt_dec(c->out, (int)c->arg[i]);
}

/* Kinds that read the program's memory. */
static void put_memory(struct call *c, int kind, int i)
{
	struct fmt *f = c->out;
	unsigned long v = (unsigned long)c->arg[i];

	switch (kind) {
	case A_PATH:		put_path(f, v); break;
	case A_STR:		put_cstr(f, v, TRACE_STRLEN); break;
	case A_INBUF:		put_data(f, v, (unsigned long)c->arg[i + 1], 0); break;
	case A_ARGV:		put_argv(f, v); break;
	case A_ENVP:		put_envp(f, v); break;
	case A_TS_IN:		v ? put_timespec(f, v) : put_ptr(f, v); break;
	case A_SIGSET_IN:	v ? put_sigset_at(f, v) : put_ptr(f, v); break;
	case A_RLIM_IN:		v ? put_rlimit(f, v) : put_ptr(f, v); break;
	case A_EPOLLEVENT:	v ? put_epoll_event(f, v) : put_ptr(f, v); break;
	case A_SIGACT_IN:	v ? put_sigaction(f, v) : put_ptr(f, v); break;
	case A_SOCKADDR:	put_sockaddr(f, v, (unsigned long)c->arg[i + 1]); break;
	case A_IOV_IN:		put_iovec(f, v, (int)c->arg[i + 1], ~0UL); break;
	case A_SOCKPROTO:	put_sock_proto(c, i); break;
	default:		put_output(c, kind, i); break;
	}
}

static void put_arg(struct call *c, int kind, int i)
{
	if (kind == A_CMODE)
		kind = A_MODE;
	if (!put_scalar(c->out, kind, c->arg[i]))
		put_memory(c, kind, i);
}

static void put_args(struct call *c, const struct signature *s)
{
	for (int i = 0; i < 6 && s->arg[i] != A_END; i++) {
		/* open's mode means something only when it creates. */
		if (s->arg[i] == A_CMODE &&
		    !(c->arg[i - 1] & (O_CREAT_ | O_TMPFILE_)))
			continue;
		if (i)
			fmt_str(c->out, ", ");
		put_arg(c, s->arg[i], i);
	}
}

static void put_hex_args(struct call *c, int n)
{
	for (int i = 0; i < n; i++) {
		if (i)
			fmt_str(c->out, ", ");
		fmt_hex(c->out, (unsigned long)c->arg[i]);
	}
}

static const struct fcntl_cmd *find_fcntl(long cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(fcntl_cmds); i++) {
		if (fcntl_cmds[i].cmd == (int)cmd)
			return &fcntl_cmds[i];
	}
	return NULL;
}

/* fcntl's third argument depends on the command, and is often absent. */
static void put_fcntl_args(struct call *c)
{
	struct fmt *f = c->out;
	const struct fcntl_cmd *fc = find_fcntl(c->arg[1]);
	unsigned long v = (unsigned long)c->arg[2];

	fmt_dec(f, (int)c->arg[0]);
	fmt_str(f, ", ");
	if (!fc) {
		put_value(f, NULL, 0, (unsigned)c->arg[1], "F_???");
		fmt_str(f, ", ");
		fmt_hex(f, v);
		return;
	}
	fmt_str(f, fc->name);
	if (fc->arg != FA_NONE)
		fmt_str(f, ", ");
	switch (fc->arg) {
	case FA_INT:		fmt_dec(f, (int)v); break;
	case FA_FDFLAGS:	FLAGS(f, fd_flags, v); break;
	case FA_OFLAGS:		put_open_flags(f, v); break;
	case FA_PTR:		put_ptr(f, v); break;
	case FA_HEX:		fmt_hex(f, v); break;
	}
}

static void put_futex_op(struct fmt *f, unsigned op)
{
	unsigned cmd = op & ~(unsigned)(FUTEX_PRIVATE_FLAG_ | FUTEX_CLOCK_REALTIME_);

	if (cmd >= ARRAY_SIZE(futex_cmds)) {
		fmt_hex(f, op);
		return;
	}
	fmt_str(f, futex_cmds[cmd]);
	if (op & FUTEX_PRIVATE_FLAG_)
		fmt_str(f, "_PRIVATE");
	if (op & FUTEX_CLOCK_REALTIME_)
		fmt_str(f, "|FUTEX_CLOCK_REALTIME");
}

static void put_futex_bitset(struct fmt *f, long v)
{
	if ((unsigned)v == 0xffffffffu)
		fmt_str(f, "FUTEX_BITSET_MATCH_ANY");
	else
		fmt_hex(f, (unsigned)v);
}

/* futex's arguments after the third depend on the operation. */
static void put_futex_args(struct call *c)
{
	struct fmt *f = c->out;
	unsigned op = (unsigned)c->arg[1];
	unsigned cmd = op & ~(unsigned)(FUTEX_PRIVATE_FLAG_ | FUTEX_CLOCK_REALTIME_);
	unsigned long timeout = (unsigned long)c->arg[3];

	put_ptr(f, (unsigned long)c->arg[0]);
	fmt_str(f, ", ");
	put_futex_op(f, op);
	fmt_str(f, ", ");
	fmt_udec(f, (unsigned)c->arg[2]);
	if (cmd == FUTEX_WAKE_)
		return;
	fmt_str(f, ", ");
	if (cmd == FUTEX_WAKE_BITSET_) {
		put_futex_bitset(f, c->arg[5]);
	} else if (cmd == FUTEX_WAIT_ || cmd == FUTEX_WAIT_BITSET_) {
		timeout ? put_timespec(f, timeout) : put_ptr(f, timeout);
		if (cmd == FUTEX_WAIT_BITSET_) {
			fmt_str(f, ", ");
			put_futex_bitset(f, c->arg[5]);
		}
	} else {
		for (int i = 3; i < 6; i++) {
			fmt_hex(f, (unsigned long)c->arg[i]);
			if (i < 5)
				fmt_str(f, ", ");
		}
	}
}

/*
 * clone(flags, stack, parent_tid, child_tid, tls) on x86-64, printed the
 * way strace does: named fields, the tid and tls pointers only when the
 * flags make the kernel use them.
 */
static void put_clone_args(struct call *c)
{
	struct fmt *f = c->out;
	unsigned long flags = (unsigned long)c->arg[0];

	fmt_str(f, "child_stack=");
	put_ptr(f, (unsigned long)c->arg[1]);
	fmt_str(f, ", flags=");
	if (flags & ~(unsigned long)CSIGNAL_) {
		FLAGS(f, clone_flags, flags & ~(unsigned long)CSIGNAL_);
		if (flags & CSIGNAL_)
			fmt_char(f, '|');
	}
	if (flags & CSIGNAL_ || !flags)
		put_signal(f, (int)(flags & CSIGNAL_));
	if (flags & CLONE_PARENT_SETTID_) {
		fmt_str(f, ", parent_tid=");
		put_ptr(f, (unsigned long)c->arg[2]);
	}
	if (flags & CLONE_SETTLS_) {
		fmt_str(f, ", tls=");
		put_ptr(f, (unsigned long)c->arg[4]);
	}
	if (flags & CLONE_CHILD_TID_) {
		fmt_str(f, ", child_tidptr=");
		put_ptr(f, (unsigned long)c->arg[3]);
	}
}

static void put_call_args(struct call *c)
{
	const struct signature *s;

	if (!syscall_name(c->nr)) {
		put_hex_args(c, 6);
		return;
	}
	if (c->nr == __NR_fcntl) {
		put_fcntl_args(c);
		return;
	}
	if (c->nr == __NR_futex) {
		put_futex_args(c);
		return;
	}
	if (c->nr == __NR_clone) {
		put_clone_args(c);
		return;
	}
	s = &signatures[c->nr];
	if (s->arg[0] != A_END)
		put_args(c, s);
	else
		put_hex_args(c, syscall_nargs(c->nr));
}

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

static int is_error(long ret)
{
	return (unsigned long)ret > -4096UL;
}

static void put_error(struct fmt *f, long err)
{
	const char *restart = xlat_find(restart_errnos, ARRAY_SIZE(restart_errnos),
					(unsigned long)err);

	if (restart) {
		fmt_str(f, "? ");
		fmt_str(f, restart);
		return;
	}
	fmt_str(f, "-1 ");
	if (err < (long)ARRAY_SIZE(errnos) && errnos[err].name[0]) {
		fmt_str(f, errnos[err].name);
		fmt_str(f, " (");
		fmt_str(f, errnos[err].text);
	} else {
		fmt_str(f, "ERRNO_");
		fmt_dec(f, err);
		fmt_str(f, " (Unknown error ");
		fmt_dec(f, err);
	}
	fmt_char(f, ')');
}

/* F_GETFD and F_GETFL return flags, which strace names after the value. */
static void put_fcntl_result(struct fmt *f, const long arg[6], long ret)
{
	int cmd = (int)arg[1];

	if ((cmd != F_GETFD_ && cmd != F_GETFL_) || (cmd == F_GETFD_ && !ret)) {
		fmt_dec(f, ret);
		return;
	}
	fmt_hex(f, (unsigned long)ret);
	fmt_str(f, " (flags ");
	if (cmd == F_GETFD_)
		FLAGS(f, fd_flags, (unsigned long)ret);
	else
		put_open_flags(f, (unsigned long)ret);
	fmt_char(f, ')');
}

static void put_result(struct fmt *f, long nr, const long arg[6], long ret)
{
	int kind = syscall_name(nr) ? signatures[nr].ret : R_DEC;

	if (is_error(ret)) {
		put_error(f, -ret);
		return;
	}
	switch (kind) {
	case R_HEX:	fmt_hex(f, (unsigned long)ret); break;
	case R_OCT:	fmt_oct(f, (unsigned long)ret); break;
	case R_FCNTL:	put_fcntl_result(f, arg, ret); break;
	default:	fmt_dec(f, ret); break;
	}
}

/* Columns used so far on the line being written. */
static size_t line_column(const struct fmt *f)
{
	size_t i = f->len;

	while (i > 0 && f->buf[i - 1] != '\n')
		i--;
	return f->len - i;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

size_t trace_format_args(struct fmt *out, long nr, const long arg[6], long ret,
			 int finished)
{
	size_t start = out->len;
	struct call c = { out, nr, arg, ret, finished && !is_error(ret) };
	const char *name = syscall_name(nr);

	if (name) {
		fmt_str(out, name);
	} else {
		fmt_str(out, "syscall_");
		fmt_hex(out, (unsigned long)nr);
	}
	fmt_char(out, '(');
	put_call_args(&c);
	fmt_char(out, ')');
	return out->len - start;
}

size_t trace_format_result(struct fmt *out, long nr, const long arg[6], long ret,
			   int finished)
{
	size_t start = out->len;
	size_t col = line_column(out);

	if (col < TRACE_RESULT_COLUMN)
		fmt_repeat(out, ' ', TRACE_RESULT_COLUMN - col);
	fmt_str(out, " = ");
	if (finished)
		put_result(out, nr, arg, ret);
	else
		fmt_char(out, '?');
	return out->len - start;
}

size_t trace_format_call(struct fmt *out, long nr, const long arg[6], long ret,
			 int finished)
{
	size_t n = trace_format_args(out, nr, arg, ret, finished);

	return n + trace_format_result(out, nr, arg, ret, finished);
}
