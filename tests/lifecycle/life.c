/*
 * Process lifecycle cases (issue 4), one per promise:
 *
 *     life CASE DIR
 *
 * DIR is an empty scratch directory: natively a plain directory, under
 * DEFUSE a mount point (run.py runs both and compares).  Each case prints
 * only what must be the same everywhere (no pids, no paths, no timings) and
 * exits 0; any unexpected result is printed as "FAIL ..." with exit 1.
 * Cases that exec re-run this program (/proc/self/exe) in a child role,
 * named with a leading '-'.  Every loop is bounded; nothing waits on time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *dir;

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %s)\n", strerrorname_np(errno) ? strerrorname_np(errno) : "0");
	fflush(stdout);
	exit(1);
}

#define CHECK(x) do { if (!(x)) fail("%s:%d: %s", __FILE__, __LINE__, #x); } while (0)

/* Per thread: the threads case calls it from eight at once. */
static char *at(const char *name)
{
	static __thread char buf[8][4096];
	static __thread int i;
	char *b = buf[i++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", dir, name);
	return b;
}

static int mkfile(const char *name, const char *data, int flags)
{
	int fd = open(at(name), O_RDWR | O_CREAT | O_TRUNC | flags, 0644);

	CHECK(fd >= 0);
	if (data)
		CHECK(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
	return fd;
}

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static ssize_t readn(int fd, char *buf, size_t n)
{
	ssize_t r = read(fd, buf, n);

	if (r >= 0)
		buf[r] = 0;
	return r;
}

static int reap(pid_t pid)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Re-runs this program as ROLE with the given arguments. */
static void exec_self(const char *role, char *const extra[], char **envp)
{
	char *argv[16] = { "life", (char *)role, (char *)dir };
	int n = 3;

	for (; extra && *extra && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	execve("/proc/self/exe", argv, envp ? envp : environ);
	fail("exec");
}

static char *num(int v)
{
	static __thread char buf[8][16];
	static __thread int i;
	char *b = buf[i++ % 8];

	snprintf(b, sizeof(buf[0]), "%d", v);
	return b;
}

/* ---- fork ------------------------------------------------------------- */

/* Parent and child move one offset, reading and writing, turn by turn. */
static int case_fork_offsets(void)
{
	int fd = mkfile("f", "0123456789abcdefghij", 0), go[2], back[2];
	char buf[64];
	pid_t pid;

	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(pipe(go) == 0 && pipe(back) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(back[0]);
		CHECK(read(go[0], buf, 1) == 1);
		CHECK(readn(fd, buf, 4) == 4);
		say("child read %s at %ld\n", buf, (long)lseek(fd, 0, SEEK_CUR));
		CHECK(write(fd, "CH", 2) == 2);
		CHECK(fcntl(fd, F_SETFL, O_APPEND) == 0);
		CHECK(write(back[1], "x", 1) == 1);
		CHECK(read(go[0], buf, 1) == 1);
		CHECK(readn(fd, buf, 3) == 3);
		say("child read %s\n", buf);
		close(fd);
		_exit(0);
	}
	close(go[0]);
	close(back[1]);
	CHECK(readn(fd, buf, 3) == 3);
	say("parent read %s\n", buf);
	CHECK(write(go[1], "x", 1) == 1);
	CHECK(read(back[0], buf, 1) == 1);
	say("parent sees offset %ld, flags append %d\n", (long)lseek(fd, 0, SEEK_CUR),
	    !!(fcntl(fd, F_GETFL) & O_APPEND));
	CHECK(write(fd, "PA", 2) == 2);	/* appends: the child set O_APPEND */
	CHECK(lseek(fd, 12, SEEK_SET) == 12);
	CHECK(write(go[1], "x", 1) == 1);
	CHECK(reap(pid) == 0);
	say("parent offset after child %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	ssize_t n = pread(fd, buf, 63, 0);

	CHECK(n > 0);
	buf[n] = 0;
	say("file %s\n", buf);
	close(fd);
	return 0;
}

/* O_APPEND from parent and child, in turns and at once. */
static int case_fork_append(void)
{
	int fd = mkfile("log", "", O_APPEND), sync[2];
	char buf[8192];
	pid_t pid;
	int n = 200, p = 0, c = 0;	/* p: 1000 per P1 line */

	CHECK(pipe(sync) == 0);
	CHECK(write(fd, "P0\n", 3) == 3);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(sync[0]);
		CHECK(write(fd, "C0\n", 3) == 3);
		CHECK(write(sync[1], "x", 1) == 1);
		for (int i = 0; i < n; i++)
			CHECK(write(fd, "cc\n", 3) == 3);
		_exit(0);
	}
	close(sync[1]);
	CHECK(read(sync[0], buf, 1) == 1);
	CHECK(write(fd, "P1\n", 3) == 3);
	for (int i = 0; i < n; i++)
		CHECK(write(fd, "pp\n", 3) == 3);
	CHECK(reap(pid) == 0);
	CHECK(pread(fd, buf, 6, 0) == 6);
	buf[6] = 0;
	say("first lines %s", buf);
	ssize_t len = pread(fd, buf, sizeof(buf), 0);
	CHECK(len > 0);
	for (ssize_t i = 6; i + 3 <= len; i += 3) {
		if (!memcmp(buf + i, "P1\n", 3))
			p += 1000;
		else if (!memcmp(buf + i, "pp\n", 3))
			p++;
		else if (!memcmp(buf + i, "cc\n", 3))
			c++;
		else
			fail("torn record at %zd", i);
	}
	say("size %zd, parent records %d, child records %d\n", len, p, c);
	say("offset %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	close(fd);
	CHECK(unlink(at("log")) == 0);	/* its order differs run to run */
	return 0;
}

/* ---- exec ------------------------------------------------------------- */

/* dup'ed descriptors share one description across exec. */
static int case_dup_exec(void)
{
	int fd = mkfile("f", "abcdefghijklmnop", 0);

	CHECK(dup2(fd, 7) == 7 && dup2(fd, 9) == 9);
	close(fd);
	CHECK(lseek(7, 2, SEEK_SET) == 2);
	{
		/* fexecve this time: the image by descriptor */
		char *argv[] = { "life", "-dup-exec", (char *)dir, NULL };
		int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

		CHECK(self >= 0);
		fexecve(self, argv, environ);
		fail("fexecve");
	}
	return 1;
}

static int role_dup_exec(void)
{
	char buf[32];		/* readn(..., 20) and its NUL */

	CHECK(readn(7, buf, 3) == 3);
	say("read 7: %s\n", buf);
	CHECK(readn(9, buf, 3) == 3);
	say("read 9 continues: %s\n", buf);
	CHECK(write(7, "XY", 2) == 2);
	say("offset 9: %ld\n", (long)lseek(9, 0, SEEK_CUR));
	close(7);
	CHECK(readn(9, buf, 20) == 6);
	say("after close 7, read 9: %s\n", buf);
	return 0;
}

/* Close-on-exec is honoured and a reused number is never misrouted. */
static int case_cloexec_exec(void)
{
	int a = mkfile("a", "AAAA", O_CLOEXEC), b = mkfile("b", "BBBB", 0);
	int c = mkfile("c", "CCCC", 0);

	CHECK(dup2(a, 20) == 20 && fcntl(20, F_SETFD, FD_CLOEXEC) == 0);
	CHECK(dup2(b, 21) == 21 && dup3(a, 22, O_CLOEXEC) == 22);
	CHECK(fcntl(c, F_SETFD, FD_CLOEXEC) == 0);
	close(a);
	close(b);
	close(c);
	/* numbers 20 and 22 close at exec; 21 survives */
	exec_self("-cloexec-exec", NULL, NULL);
	return 1;
}

static int role_cloexec_exec(void)
{
	char buf[16];
	int fd;

	say("20 open %d, 22 open %d, 21 open %d\n", fcntl(20, F_GETFD) >= 0,
	    fcntl(22, F_GETFD) >= 0, fcntl(21, F_GETFD) >= 0);
	CHECK(lseek(21, 0, SEEK_SET) == 0 && readn(21, buf, 8) == 4);
	say("21 reads %s\n", buf);
	CHECK(read(20, buf, 1) < 0 && errno == EBADF);
	/* The lowest free numbers are reused by new opens. */
	CHECK(dup2(21, 19) == 19);
	for (int i = 3; i < 19; i++)
		if (fcntl(i, F_GETFD) < 0)
			CHECK(dup2(21, i) == i);
	fd = open(at("c"), O_RDONLY);
	CHECK(fd == 20);
	CHECK(readn(fd, buf, 8) == 4);
	say("reused 20 reads %s\n", buf);
	fd = mkfile("d", "DDDD", 0);
	CHECK(fd == 22);
	CHECK(pread(22, buf, 8, 0) == 4);
	say("reused 22 is d: %.4s\n", buf);
	return 0;
}

/* posix_spawn, system and popen children read inherited descriptors. */
static int case_spawn(void)
{
	int fd = mkfile("f", "line one\nline two\nline three\n", 0);
	char cmd[256], buf[256], *argv[] = { "life", "-read-fd", (char *)dir, NULL, NULL };
	pid_t pid;
	FILE *p;

	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	argv[3] = num(fd);
	CHECK(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) == 0);
	CHECK(reap(pid) == 0);
	say("parent offset after spawn %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	snprintf(cmd, sizeof(cmd), "/proc/%d/exe -read-fd %s %d", getpid(), dir, fd);
	CHECK(system(cmd) == 0);
	say("parent offset after system %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	p = popen(cmd, "r");
	CHECK(p);
	while (fgets(buf, sizeof(buf), p))
		say("popen: %s", buf);
	CHECK(pclose(p) == 0);
	say("parent offset after popen %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	return 0;
}

/* One line from the inherited descriptor argv[3]. */
static int role_read_fd(int fd)
{
	char buf[64];
	int n = 0;

	while (n < 63 && read(fd, buf + n, 1) == 1 && buf[n] != '\n')
		n++;
	buf[n] = 0;
	say("child read '%s'\n", buf);
	return 0;
}

/* `env -i`: an exec with an empty environment keeps DEFUSE and the fds. */
static int case_env_i(void)
{
	int fd = mkfile("f", "kept across env -i\n", 0);
	char *extra[] = { num(fd), NULL }, *empty[] = { NULL, NULL };
	char *asan = getenv("ASAN_OPTIONS");

	/* A sanitized build cannot start without its runtime's settings
	   (run.py --sanitized); everything else goes. */
	if (asan)
		empty[0] = asan - strlen("ASAN_OPTIONS=");

	CHECK(lseek(fd, 5, SEEK_SET) == 5);
	exec_self("-env-i", extra, empty);
	return 1;
}

static int role_env_i(int fd)
{
	char buf[64];
	int f;

	say("environment empty: %d\n", environ[0] == NULL ||
	    (!strncmp(environ[0], "ASAN_OPTIONS=", 13) && environ[1] == NULL));
	CHECK(readn(fd, buf, 63) > 0);
	say("inherited: %s", buf);
	f = open(at("f"), O_RDONLY);
	CHECK(f >= 0 && readn(f, buf, 4) == 4);
	say("by path: %s\n", buf);
	return 0;
}

/* Runs fn in a forked child and waits: a change by another process,
   which this one's DEFUSE hears nothing of. */
static void in_child(void (*fn)(void))
{
	int st;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void move_a_to_b(void)
{
	if (rename(at("a"), at("b")))
		_exit(1);
}

static void remove_c(void)
{
	if (rmdir(at("c")))
		_exit(1);
}

/* The current directory renamed and then removed by another process: the
   cwd is the directory, whatever its name (getcwd, relative creates and
   stat "." follow it, as the kernel's cwd does). */
static int case_cwd_moved(void)
{
	char cwd[4096];
	size_t n = strlen(dir);
	struct stat st;
	int fd;

	CHECK(mkdir(at("a"), 0755) == 0);
	CHECK(chdir(at("a")) == 0);
	in_child(move_a_to_b);
	CHECK(getcwd(cwd, sizeof(cwd)));
	say("renamed: cwd %s\n", strncmp(cwd, dir, n) ? "outside" : cwd + n);
	fd = open("f", O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	close(fd);
	say("relative create lands in b: %s\n", access(at("b/f"), F_OK) ? "no" : "yes");
	CHECK(mkdir(at("c"), 0755) == 0);
	CHECK(chdir(at("c")) == 0);
	in_child(remove_c);
	say("removed: getcwd %s\n", getcwd(cwd, sizeof(cwd)) ? "names it" :
	    strerrorname_np(errno));
	say("stat \".\": %s", stat(".", &st) ? strerrorname_np(errno) : "ok");
	say(", nlink %d\n", (int)st.st_nlink);
	fd = open("g", O_CREAT | O_WRONLY, 0644);
	say("create in it: %s\n", fd >= 0 ? "made" : strerrorname_np(errno));
	return 0;
}

/* exec from a current directory inside the mount. */
static int case_cwd_exec(void)
{
	int fd;

	CHECK(mkdir(at("sub"), 0755) == 0);
	CHECK(mkdir(at("sub/deeper"), 0755) == 0);
	fd = mkfile("sub/deeper/rel", "relative\n", 0);
	close(fd);
	CHECK(chdir(at("sub/deeper")) == 0);
	exec_self("-cwd-exec", NULL, NULL);
	return 1;
}

static int role_cwd_exec(void)
{
	char cwd[4096], buf[64];
	size_t n = strlen(dir);
	int fd;

	CHECK(getcwd(cwd, sizeof(cwd)));
	say("cwd %s\n", strncmp(cwd, dir, n) ? "outside" : cwd + n);
	fd = open("rel", O_RDONLY);
	CHECK(fd >= 0 && readn(fd, buf, 63) > 0);
	say("rel: %s", buf);
	CHECK(chdir("..") == 0);
	fd = open("deeper/rel", O_RDONLY);
	CHECK(fd >= 0);
	CHECK(mkfile("sub/new", "made from inside\n", 0) >= 0);
	return 0;
}

/*
 * "#!" scripts in the directory, run by relative and absolute path, from a
 * shell and by a direct execve: the interpreter gets the name the program
 * used ($0), the one argument of the "#!" line, and the script's own
 * arguments; one that is not executable is refused (EACCES); one whose
 * interpreter does not exist gives ENOENT.
 */
static int case_script_exec(void)
{
	char *argv[] = { "./s.sh", "one", "two words", NULL };
	int status, fd;
	pid_t pid;

	fd = mkfile("s.sh", "#!/bin/sh\necho \"0=$0 1=$1 2=$2\"\n", 0);
	CHECK(fd >= 0 && fchmod(fd, 0755) == 0);
	close(fd);
	fd = mkfile("arg.sh", "#! /bin/sh -e  \necho \"arg 0=$0\"; false; echo not reached\n", 0);
	CHECK(fd >= 0 && fchmod(fd, 0755) == 0);
	close(fd);
	fd = mkfile("noexec.sh", "#!/bin/sh\necho never\n", 0);
	close(fd);
	fd = mkfile("lost.sh", "#!/nonexistent/interpreter\n", 0);
	CHECK(fd >= 0 && fchmod(fd, 0755) == 0);
	close(fd);
	CHECK(chdir(dir) == 0);
	fflush(stdout);
	CHECK(system("./s.sh a b; ./arg.sh; echo \"arg exit $?\"") != -1);
	fd = mkfile("where.sh", "#!/bin/sh\ncase $0 in /*/where.sh) echo \"0 absolute $1\";; "
			       "?*/where.sh) echo \"0 relative $1\";; *) echo \"0=$0\";; esac\n", 0);
	CHECK(fd >= 0 && fchmod(fd, 0755) == 0);
	close(fd);
	CHECK(system("\"$PWD/where.sh\" here; sh -c 'cd .. && exec \"$0\"/where.sh up' "
		     "\"$(basename \"$PWD\")\"") != -1);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execv("./s.sh", argv);
		_exit(99);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	say("direct exit %d\n", WEXITSTATUS(status));
	errno = 0;
	say("noexec: %s\n", execv("./noexec.sh", argv) < 0 ? strerror(errno) : "ran");
	say("lost: %s\n", execv("./lost.sh", argv) < 0 ? strerror(errno) : "ran");
	return 0;
}

/* vfork + exec: the child's exec inherits the description. */
static int case_vfork_exec(void)
{
	int fd = mkfile("f", "vfork data here\n", 0);
	char *argv[] = { "life", "-read-fd", (char *)dir, num(fd), NULL };
	pid_t pid;

	CHECK(lseek(fd, 6, SEEK_SET) == 6);
	pid = vfork();
	if (pid == 0) {
		execve("/proc/self/exe", argv, environ);
		_exit(127);
	}
	CHECK(pid > 0);
	CHECK(reap(pid) == 0);
	say("parent offset %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	CHECK(write(fd, "!", 1) == 1);
	return 0;
}

/*
 * Children that share the parent's memory (vfork, posix_spawn) and change
 * directory before exec: the parent's cwd stays its own.
 */
static int case_vfork_chdir(void)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "life", "-where", (char *)dir, NULL };
	char cwd[4096];
	size_t n = strlen(dir);
	pid_t pid;

	CHECK(mkdir(at("sub"), 0755) == 0);
	CHECK(mkdir(at("other"), 0755) == 0);
	CHECK(chdir(at("sub")) == 0);
	pid = vfork();
	if (pid == 0) {
		if (chdir("../other") != 0)
			_exit(126);
		execve("/proc/self/exe", argv, environ);
		_exit(127);
	}
	CHECK(pid > 0);
	CHECK(reap(pid) == 0);
	CHECK(getcwd(cwd, sizeof(cwd)));
	say("parent after vfork: %s\n", strncmp(cwd, dir, n) ? "outside" : cwd + n);
	CHECK(posix_spawn_file_actions_init(&fa) == 0);
	CHECK(posix_spawn_file_actions_addchdir_np(&fa, "../other") == 0);
	CHECK(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ) == 0);
	CHECK(reap(pid) == 0);
	posix_spawn_file_actions_destroy(&fa);
	CHECK(getcwd(cwd, sizeof(cwd)));
	say("parent after posix_spawn: %s\n", strncmp(cwd, dir, n) ? "outside" : cwd + n);
	CHECK(access("../other", F_OK) == 0 && access("../sub", F_OK) == 0);
	return 0;
}

/* The first bytes of file name in the directory, said. */
static void say_file(const char *name)
{
	char buf[256];
	int fd = open(at(name), O_RDONLY), n;

	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	say("%s: %s", name, buf);
}

/*
 * Files a child that shares the parent's memory opens before its exec:
 * posix_spawn's addopen (the child closes the number, opens, and dup2s
 * when the kernel gave another) and a raw vfork child's open.  The new
 * image reads and writes them; the parent sees what it wrote.
 */
static int case_spawn_open(void)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "life", "-copy-io", (char *)dir, NULL };
	int fd, status;
	pid_t pid;

	fd = mkfile("in", "spawned input\n", 0);
	CHECK(fd >= 0);
	close(fd);
	CHECK(posix_spawn_file_actions_init(&fa) == 0);
	CHECK(posix_spawn_file_actions_addopen(&fa, 0, at("in"), O_RDONLY, 0) == 0);
	CHECK(posix_spawn_file_actions_addopen(&fa, 1, at("out"), O_WRONLY | O_CREAT | O_TRUNC,
					       0640) == 0);
	/* a number the kernel would not give first: opened, then moved */
	CHECK(posix_spawn_file_actions_addopen(&fa, 9, at("in"), O_RDONLY, 0) == 0);
	fflush(stdout);
	CHECK(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ) == 0);
	posix_spawn_file_actions_destroy(&fa);
	CHECK(waitpid(pid, &status, 0) == pid);
	say("posix_spawn child: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	say_file("out");
	pid = vfork();
	if (pid == 0) {
		int in = open(at("in"), O_RDONLY), out = open(at("out"), O_WRONLY | O_APPEND);
		int in9 = open(at("in"), O_RDONLY);

		if (in < 0 || out < 0 || in9 < 0 || dup2(in, 0) != 0 || dup2(out, 1) != 1 ||
		    dup2(in9, 9) != 9)
			_exit(126);
		close(in);
		close(out);
		close(in9);
		execve("/proc/self/exe", argv, environ);
		_exit(127);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	say("vfork child: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	say_file("out");
	return 0;
}

/* -copy-io: stdin to stdout, then descriptor 9's first line. */
static int role_copy_io(void)
{
	char buf[256];
	int n;

	while ((n = read(0, buf, sizeof(buf))) > 0)
		CHECK(write(1, buf, n) == n);
	CHECK(n == 0);
	n = read(9, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK(write(1, "9: ", 3) == 3 && write(1, buf, n) == n);
	return 0;
}

static int role_where(void)
{
	char cwd[4096];
	size_t n = strlen(dir);

	CHECK(getcwd(cwd, sizeof(cwd)));
	say("child: %s\n", strncmp(cwd, dir, n) ? "outside" : cwd + n);
	return 0;
}

/*
 * The cwd under threads: one thread changes directory back and forth
 * between two directories that both hold a file f (by chdir and by
 * fchdir), while others open "f" and ask getcwd again and again.  Each call
 * sees one cwd or the other, never something in between: natively no open
 * fails and getcwd always names one of the two.  The counts are printed,
 * not asserted, so that a difference shows how many.
 */
#define RACE_OPENERS 4
#define RACE_OPENS 200000	/* in all */

static int race_stop;
static char race_dir[2][4096];

static void *race_chdir(void *unused)
{
	int fd[2] = { open(race_dir[0], O_RDONLY | O_DIRECTORY),
		      open(race_dir[1], O_RDONLY | O_DIRECTORY) };
	long bad = 0;

	(void)unused;
	CHECK(fd[0] >= 0 && fd[1] >= 0);
	for (unsigned i = 0; !__atomic_load_n(&race_stop, __ATOMIC_RELAXED); i++)
		bad += (i & 2 ? fchdir(fd[i & 1]) : chdir(race_dir[i & 1])) != 0;
	close(fd[0]);
	close(fd[1]);
	return (void *)bad;
}

/* Failed opens, and getcwd answers that are neither directory. */
struct race_count {
	long open_failed, cwd_wrong;
	int first_errno;
};

static void *race_open(void *arg)
{
	struct race_count *c = arg;
	char buf[4096];

	for (int i = 0; i < RACE_OPENS / RACE_OPENERS; i++) {
		int fd = open("f", O_RDONLY);

		if (fd < 0) {
			if (!c->open_failed++)
				c->first_errno = errno;
		} else {
			close(fd);
		}
		if (i % 16 == 0 && (!getcwd(buf, sizeof(buf)) ||
				    (strcmp(buf, race_dir[0]) && strcmp(buf, race_dir[1]))))
			c->cwd_wrong++;
	}
	return NULL;
}

static int case_cwd_race(void)
{
	pthread_t mover, t[RACE_OPENERS];
	struct race_count c[RACE_OPENERS] = { 0 };
	long open_failed = 0, cwd_wrong = 0;
	void *chdir_failed;

	for (int i = 0; i < 2; i++) {
		CHECK(mkdir(at(i ? "b" : "a"), 0755) == 0);
		close(mkfile(i ? "b/f" : "a/f", "f\n", 0));
		/* getcwd's own spelling of the directory, to compare with. */
		CHECK(chdir(at(i ? "b" : "a")) == 0);
		CHECK(getcwd(race_dir[i], sizeof(race_dir[i])));
	}
	CHECK(pthread_create(&mover, NULL, race_chdir, NULL) == 0);
	for (int i = 0; i < RACE_OPENERS; i++)
		CHECK(pthread_create(&t[i], NULL, race_open, &c[i]) == 0);
	for (int i = 0; i < RACE_OPENERS; i++) {
		pthread_join(t[i], NULL);
		open_failed += c[i].open_failed;
		cwd_wrong += c[i].cwd_wrong;
		if (c[i].open_failed)
			fprintf(stderr, "cwd-race: opens failed with %s\n",
				strerrorname_np(c[i].first_errno));
	}
	__atomic_store_n(&race_stop, 1, __ATOMIC_RELAXED);
	pthread_join(mover, &chdir_failed);
	say("%d opens of \"f\" failed: %ld\n", RACE_OPENS / RACE_OPENERS * RACE_OPENERS,
	    open_failed);
	say("getcwd naming neither directory: %ld\n", cwd_wrong);
	say("chdir or fchdir failed: %ld\n", (long)chdir_failed);
	CHECK(chdir("/") == 0);
	return 0;
}

/*
 * Locks outlive exec: a flock taken before exec is still held by the new
 * image (through the descriptor and its dup), against another process.
 */
static int case_flock_exec(void)
{
	int fd = mkfile("lk", "x", 0), d;

	CHECK(flock(fd, LOCK_EX) == 0);
	d = dup(fd);
	CHECK(d >= 0);
	exec_self("-flock-held", (char *[]){ num(fd), num(d), NULL }, NULL);
	return 1;
}

/* Another process tries the lock: prints what it got. */
static void other_tries(const char *when)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int o = open(at("lk"), O_RDONLY);

		if (o < 0)
			_exit(3);
		if (flock(o, LOCK_EX | LOCK_NB) == 0)
			say("%s: other process got the lock\n", when);
		else
			say("%s: other process: %s\n", when,
			    errno == EWOULDBLOCK ? "EWOULDBLOCK" : strerror(errno));
		_exit(0);
	}
	CHECK(reap(pid) == 0);
}

static int role_flock_held(int fd, int d)
{
	other_tries("after exec");	/* before this image touches the lock */
	CHECK(flock(d, LOCK_EX | LOCK_NB) == 0);	/* the same description */
	CHECK(flock(fd, LOCK_UN) == 0);
	other_tries("after unlock");
	return 0;
}

/*
 * Many emulated descriptors through exec, each used for the first time in
 * the new image (DEFUSE adopts an inherited one then: docs/core.md), in
 * every way a program uses one, or never: dups, a flock held, a file
 * removed and one renamed while open, positions, status flags, dup2,
 * close of untouched ones, a directory as dirfd, close-on-exec set in the
 * new image, a fork, and an exec again with some never touched.
 */
#define LAZY_N 40

static int lazy_fd[LAZY_N], lazy_dup, lazy_lock, lazy_lock2, lazy_gone, lazy_moved, lazy_dir;

static void lazy_parse(char **argv)
{
	char *p = argv[0];

	for (int i = 0; i < LAZY_N; i++)
		lazy_fd[i] = (int)strtol(p, &p, 10), p += *p == ',';
	lazy_dup = atoi(argv[1]);
	lazy_lock = atoi(argv[2]);
	lazy_lock2 = atoi(argv[3]);
	lazy_gone = atoi(argv[4]);
	lazy_moved = atoi(argv[5]);
	lazy_dir = atoi(argv[6]);
}

static char **lazy_args(void)
{
	static char list[LAZY_N * 8];
	static char *args[8];
	int n = 0;

	for (int i = 0; i < LAZY_N; i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%d", i ? "," : "", lazy_fd[i]);
	args[0] = list;
	args[1] = num(lazy_dup);
	args[2] = num(lazy_lock);
	args[3] = num(lazy_lock2);
	args[4] = num(lazy_gone);
	args[5] = num(lazy_moved);
	args[6] = num(lazy_dir);
	args[7] = NULL;
	return args;
}

/* Another process tries an exclusive flock of name. */
static void lazy_other_flock(const char *name, const char *when)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int o = open(at(name), O_RDONLY);

		if (o < 0)
			_exit(3);
		say("%s: flock %s by another process: %s\n", when, name,
		    flock(o, LOCK_EX | LOCK_NB) == 0 ? "got it"
		    : errno == EWOULDBLOCK ? "EWOULDBLOCK" : strerror(errno));
		_exit(0);
	}
	CHECK(reap(pid) == 0);
}

static int case_lazy_exec(void)
{
	char name[32], data[64];
	int c;

	for (int i = 0; i < LAZY_N; i++) {
		snprintf(name, sizeof(name), "z%02d", i);
		snprintf(data, sizeof(data), "file %02d: 0123456789abcdef", i);
		lazy_fd[i] = mkfile(name, data, i % 9 == 8 ? O_CLOEXEC : 0);
		/* odd ones reopened read-only or append, at a position */
		if (i % 3 == 1) {
			close(lazy_fd[i]);
			lazy_fd[i] = open(at(name), i % 2 ? O_RDONLY : O_WRONLY | O_APPEND);
			CHECK(lazy_fd[i] >= 0);
		}
		CHECK(lseek(lazy_fd[i], i % 7, SEEK_SET) == i % 7);
	}
	lazy_dup = dup(lazy_fd[0]);
	CHECK(lazy_dup >= 0);
	CHECK(dup2(lazy_fd[1], 150) == 150);
	lazy_lock = mkfile("lk", "x", 0);
	CHECK(flock(lazy_lock, LOCK_EX) == 0);
	lazy_lock2 = mkfile("lk2", "y", 0);
	CHECK(flock(lazy_lock2, LOCK_EX) == 0);
	lazy_gone = mkfile("gone", "removed while open", 0);
	CHECK(lseek(lazy_gone, 2, SEEK_SET) == 2);
	CHECK(unlink(at("gone")) == 0);
	lazy_moved = mkfile("old", "renamed while open", 0);
	CHECK(lseek(lazy_moved, 0, SEEK_SET) == 0);
	CHECK(rename(at("old"), at("new")) == 0);
	CHECK(mkdir(at("sub"), 0755) == 0);
	c = mkfile("sub/inner", "inside", 0);
	close(c);
	lazy_dir = open(at("sub"), O_RDONLY | O_DIRECTORY);
	CHECK(lazy_dir >= 0);
	exec_self("-lazy-1", lazy_args(), NULL);
	return 1;
}

static void lazy_show_fd(const char *what, int fd)
{
	char buf[64];
	struct stat st;
	off_t at0 = lseek(fd, 0, SEEK_CUR);
	int fl = fcntl(fd, F_GETFL);

	CHECK(fstat(fd, &st) == 0);
	CHECK(fl >= 0);
	if ((fl & O_ACCMODE) == O_WRONLY) {
		say("%s: at %ld, size %ld, nlink %ld, %s%s\n", what, (long)at0, (long)st.st_size,
		    (long)st.st_nlink, "write-only", fl & O_APPEND ? " append" : "");
		return;
	}
	CHECK(readn(fd, buf, 8) >= 0);
	say("%s: at %ld, size %ld, nlink %ld, %s, reads \"%s\", then at %ld\n", what, (long)at0,
	    (long)st.st_size, (long)st.st_nlink, (fl & O_ACCMODE) == O_RDONLY ? "read-only" : "read-write",
	    buf, (long)lseek(fd, 0, SEEK_CUR));
}

/* Threads whose first use of one inherited descriptor races. */
static int lazy_race_ok;
static pthread_barrier_t lazy_start;

static void *lazy_racer(void *arg)
{
	char buf[16];
	struct stat st;

	(void)arg;
	pthread_barrier_wait(&lazy_start);
	if (pread(lazy_fd[25], buf, 8, 0) == 8 && !memcmp(buf, "file 25:", 8) &&
	    fstat(lazy_fd[25], &st) == 0 && st.st_size == 25)
		__atomic_add_fetch(&lazy_race_ok, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* A signal handler's first use of another. */
static char lazy_sig_buf[16];
static ssize_t lazy_sig_r;

static void lazy_on_usr1(int sig)
{
	(void)sig;
	lazy_sig_r = pread(lazy_fd[29], lazy_sig_buf, 7, 0);
}

static int role_lazy_1(char **argv)
{
	char buf[64];
	struct stat st;
	pid_t pid;
	int fd;

	lazy_parse(argv);
	/* before anything here touched them */
	lazy_other_flock("lk", "after exec");
	lazy_other_flock("lk2", "after exec");
	for (int i = 8; i < LAZY_N; i += 9)	/* the close-on-exec ones */
		say("z%02d after exec: %s\n", i, fcntl(lazy_fd[i], F_GETFD) < 0 ? "closed" : "open");
	/* first uses, each a different way */
	lazy_show_fd("z02", lazy_fd[2]);
	CHECK(fstat(lazy_fd[3], &st) == 0);
	say("z03 fstat: size %ld, regular %d\n", (long)st.st_size, S_ISREG(st.st_mode));
	say("z04 lseek: %ld\n", (long)lseek(lazy_fd[4], 0, SEEK_CUR));
	say("z05 F_GETFL: %o\n", fcntl(lazy_fd[5], F_GETFL) & (O_ACCMODE | O_APPEND));
	say("z06 F_GETFD: %d\n", fcntl(lazy_fd[6], F_GETFD));
	CHECK(pread(lazy_fd[7], buf, 7, 0) == 7);
	say("z07 pread: %.7s, at %ld\n", buf, (long)lseek(lazy_fd[7], 0, SEEK_CUR));
	/* a dup: the description's position moves for both */
	CHECK(readn(lazy_dup, buf, 4) == 4);
	say("dup of z00 reads \"%s\"; z00 now at %ld\n", buf, (long)lseek(lazy_fd[0], 0, SEEK_CUR));
	CHECK(readn(150, buf, 4) == 4);
	say("150 (z01) reads \"%s\"; z01 now at %ld\n", buf, (long)lseek(lazy_fd[1], 0, SEEK_CUR));
	/* dup2 of an untouched one, then used through the copy */
	CHECK(dup2(lazy_fd[12], 151) == 151);
	CHECK(readn(151, buf, 5) == 5);
	say("151 (z12) reads \"%s\"; z12 now at %ld\n", buf, (long)lseek(lazy_fd[12], 0, SEEK_CUR));
	/* dup2 over an untouched one */
	CHECK(dup2(lazy_fd[2], lazy_fd[11]) == lazy_fd[11]);
	say("z11 is z02 now: at %ld\n", (long)lseek(lazy_fd[11], 0, SEEK_CUR));
	/* removed and renamed while open */
	lazy_show_fd("gone", lazy_gone);
	lazy_show_fd("moved", lazy_moved);
	/* the directory as a dirfd, and read */
	fd = openat(lazy_dir, "inner", O_RDONLY);
	CHECK(fd >= 0 && readn(fd, buf, 10) == 6);
	say("sub/inner via the dirfd: %s\n", buf);
	close(fd);
	CHECK(fchdir(lazy_dir) == 0);
	fd = open("inner", O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	CHECK(chdir(dir) == 0);
	/* a file as a dirfd and fchdir: ENOTDIR */
	errno = 0;
	say("openat(z13, x): %s\n", openat(lazy_fd[13], "x", O_RDONLY) < 0 ? strerrorname_np(errno) : "opened");
	errno = 0;
	say("fchdir(z14): %s\n", fchdir(lazy_fd[14]) < 0 ? strerrorname_np(errno) : "done");
	/* the magic link: a new description of the same file */
	snprintf(buf, sizeof(buf), "/proc/self/fd/%d", lazy_fd[15]);
	fd = open(buf, O_RDONLY);
	CHECK(fd >= 0 && readn(fd, buf, 7) == 7);
	say("/proc/self/fd of z15 reads \"%s\"; z15 still at %ld\n", buf,
	    (long)lseek(lazy_fd[15], 0, SEEK_CUR));
	close(fd);
	/* writes: at the position, and appended */
	CHECK(write(lazy_fd[18], "W", 1) == 1);
	CHECK(write(lazy_fd[16], "A", 1) == 1);	/* 16 % 3 == 1, even: append */
	{
		pthread_t t[6];

		CHECK(pthread_barrier_init(&lazy_start, NULL, 6) == 0);
		for (int i = 0; i < 6; i++)
			CHECK(pthread_create(&t[i], NULL, lazy_racer, NULL) == 0);
		for (int i = 0; i < 6; i++)
			CHECK(pthread_join(t[i], NULL) == 0);
		say("threads whose first use of z25 raced: %d of 6 read it; z25 at %ld\n",
		    lazy_race_ok, (long)lseek(lazy_fd[25], 0, SEEK_CUR));
	}
	CHECK(signal(SIGUSR1, lazy_on_usr1) != SIG_ERR);
	CHECK(raise(SIGUSR1) == 0);
	say("signal handler's pread of z29: %zd \"%.7s\"\n", lazy_sig_r, lazy_sig_buf);
	/* a fork first, then both use one never touched */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(readn(lazy_fd[20], buf, 3) == 3);
		say("child reads z20: %s\n", buf);
		_exit(0);
	}
	CHECK(reap(pid) == 0);
	say("parent: z20 at %ld\n", (long)lseek(lazy_fd[20], 0, SEEK_CUR));
	/* close some never touched */
	for (int i = 21; i < 24; i++) {
		CHECK(close(lazy_fd[i]) == 0);
		lazy_fd[i] = -1;
	}
	/* close-on-exec on the second lock's descriptor: it goes at the exec */
	CHECK(fcntl(lazy_lock2, F_SETFD, FD_CLOEXEC) == 0);
	CHECK(fcntl(lazy_fd[24], F_SETFD, FD_CLOEXEC) == 0);
	exec_self("-lazy-2", lazy_args(), NULL);
	return 1;
}

static int role_lazy_2(char **argv)
{
	char buf[64], name[16];

	lazy_parse(argv);
	lazy_other_flock("lk", "after the second exec");
	lazy_other_flock("lk2", "after the second exec");
	say("z24 after the second exec: %s\n", fcntl(lazy_fd[24], F_GETFD) < 0 ? "closed" : "open");
	for (int i = 0; i < LAZY_N; i++) {
		if (lazy_fd[i] < 0 || i % 9 == 8 || i == 24)
			continue;
		snprintf(name, sizeof(name), "z%02d", i);
		lazy_show_fd(name, lazy_fd[i]);
	}
	lazy_show_fd("gone", lazy_gone);
	lazy_show_fd("moved", lazy_moved);
	CHECK(readn(151, buf, 5) == 5);
	say("151 reads \"%s\"\n", buf);
	{
		/* the directory, first used here by readdir */
		int n = 0;
		DIR *d = fdopendir(lazy_dir);
		struct dirent *e;

		CHECK(d);
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				say("sub has %s\n", e->d_name), n++;
		say("sub: %d names\n", n);
		closedir(d);
	}
	CHECK(flock(lazy_lock, LOCK_UN) == 0);
	lazy_other_flock("lk", "after unlock");
	return 0;
}

/* ---- threads ------------------------------------------------------------ */

#define NTHREADS 8
#define ROUNDS 300

static int shared_fd;
static unsigned char seen[NTHREADS * ROUNDS];
static int victim = -1;

static void *worker(void *arg)
{
	long id = (long)arg;
	char name[32], buf[64], want[64];

	snprintf(name, sizeof(name), "t%ld", id);
	for (int i = 0; i < ROUNDS; i++) {
		int fd, d;

		/* own file: open, write, dup, read back through the dup, close */
		fd = open(at(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0);
		snprintf(want, sizeof(want), "thread %ld round %d\n", id, i);
		CHECK(write(fd, want, strlen(want)) == (ssize_t)strlen(want));
		d = dup(fd);
		CHECK(d >= 0);
		CHECK(lseek(d, 0, SEEK_SET) == 0);
		close(fd);
		CHECK(readn(d, buf, 63) == (ssize_t)strlen(want) && !strcmp(buf, want));
		close(d);
		/* shared description: every record read exactly once */
		{
			unsigned char rec[4];
			ssize_t r = read(shared_fd, rec, 4);

			CHECK(r == 4);
			unsigned idx = rec[0] | rec[1] << 8 | rec[2] << 16;

			CHECK(idx < sizeof(seen));
			__atomic_add_fetch(&seen[idx], 1, __ATOMIC_RELAXED);
		}
		/* positioned writes to our own slice */
		CHECK(pwrite(shared_fd, "w", 1, NTHREADS * ROUNDS * 4 + id * ROUNDS + i) == 1);
		/* a descriptor closed under a reader's feet: data or EBADF */
		if (id == 0 && i % 10 == 0)
			__atomic_store_n(&victim, dup(shared_fd), __ATOMIC_RELEASE);
		if (id == 1) {
			int v = __atomic_exchange_n(&victim, -1, __ATOMIC_ACQUIRE);

			if (v >= 0)
				close(v);
		}
		if (id >= 2) {
			int v = __atomic_load_n(&victim, __ATOMIC_ACQUIRE);
			char c;

			if (v >= 0) {
				ssize_t r = pread(v, &c, 1, 0);

				/* the number may already hold another file (even an
				   empty one): any data is fine, or EBADF */
				CHECK(r >= 0 || errno == EBADF);
			}
		}
	}
	return NULL;
}

static int case_threads(void)
{
	pthread_t t[NTHREADS];
	int fd = mkfile("shared", NULL, 0), ok = 1;
	unsigned char rec[4];

	for (unsigned i = 0; i < NTHREADS * ROUNDS; i++) {
		rec[0] = i, rec[1] = i >> 8, rec[2] = i >> 16, rec[3] = '\n';
		CHECK(write(fd, rec, 4) == 4);
	}
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	shared_fd = fd;
	for (long i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < sizeof(seen); i++)
		ok &= seen[i] == 1;
	say("every record read once: %d\n", ok);
	say("offset %ld, size %ld\n", (long)lseek(fd, 0, SEEK_CUR), (long)lseek(fd, 0, SEEK_END));
	if (victim >= 0)
		close(victim);
	close(fd);
	return 0;
}

/*
 * Two threads dup2 two files onto one number at once: the kernel's last
 * dup2 wins, and DEFUSE's table must say the same file.  Only the last two
 * dup2s of a burst decide, so there are many short bursts (the threads
 * start each together), each followed by checks: the parent reads the file
 * that /proc/self/fdinfo says the number shares its description with, and,
 * every EXEC_EVERY rounds, a new image (exec'd) reads through that number
 * what the parent does.  Each round opens the two files anew and closes
 * them after, so the description that lost is gone at once (its record
 * free for the next open, "c", kept open meanwhile); a new image reading
 * another file than the parent's is data from the wrong file.
 */
#define DUP2_ROUNDS 20000
#define DUP2_BURST 3
#define EXEC_EVERY 400

static struct {
	pthread_barrier_t start, done;
	int from[2], to;
} race;

static void *dup2_racer(void *arg)
{
	long me = (long)arg;

	for (int r = 0; r < DUP2_ROUNDS; r++) {
		pthread_barrier_wait(&race.start);
		for (int i = 0; i < DUP2_BURST; i++)
			if (dup2(race.from[me], race.to) != race.to)
				fail("dup2");
		pthread_barrier_wait(&race.done);
	}
	return NULL;
}

/* The "ino:" of /proc/self/fdinfo/FD: the kernel's, whatever DEFUSE says. */
static unsigned long fdinfo_ino(int fd)
{
	char path[64], buf[512], *p;
	int f;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	CHECK(f >= 0);
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	CHECK(n > 0);
	buf[n] = 0;
	p = strstr(buf, "\nino:");
	CHECK(p);
	return strtoul(p + 5, NULL, 10);
}

/* What a new image reads through fd: its first byte. */
static char exec_reads(int fd)
{
	char theirs[64] = "";
	int p[2];
	pid_t pid;
	ssize_t got;

	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		exec_self("-read-fd", (char *[]){ num(fd), NULL }, NULL);
	}
	close(p[1]);
	got = read(p[0], theirs, sizeof(theirs) - 1);
	close(p[0]);
	CHECK(reap(pid) == 0);
	theirs[got > 0 ? got : 0] = 0;
	return !strncmp(theirs, "child read '", 12) ? theirs[12] : '?';
}

static int case_dup2_race(void)
{
	int n = mkfile("target", "T\n", 0), same_as_kernel = 0, execs = 0, agree = 0;
	pthread_t t[2];

	close(mkfile("a", "A\n", 0));
	close(mkfile("b", "B\n", 0));
	close(mkfile("c", "C\n", 0));
	race.to = n;
	CHECK(pthread_barrier_init(&race.start, NULL, 3) == 0);
	CHECK(pthread_barrier_init(&race.done, NULL, 3) == 0);
	for (long i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, dup2_racer, (void *)i) == 0);
	for (int r = 0; r < DUP2_ROUNDS; r++) {
		char mine[4] = "", kernel;
		unsigned long ino;
		int c;

		race.from[0] = open(at("a"), O_RDONLY);
		race.from[1] = open(at("b"), O_RDONLY);
		CHECK(race.from[0] >= 0 && race.from[1] >= 0);
		pthread_barrier_wait(&race.start);
		pthread_barrier_wait(&race.done);
		CHECK(pread(n, mine, 2, 0) == 2);
		/* The kernel's word: n shares its description (and so its
		   fdinfo inode) with one of the two. */
		ino = fdinfo_ino(n);
		kernel = ino == fdinfo_ino(race.from[0]) ? 'A' :
			 ino == fdinfo_ino(race.from[1]) ? 'B' : '?';
		same_as_kernel += mine[0] == kernel;
		close(race.from[0]);
		close(race.from[1]);
		if (mine[0] != 'A' && mine[0] != 'B')
			fail("round %d: the parent read %.2s", r, mine);
		if (r % EXEC_EVERY)
			continue;
		c = open(at("c"), O_RDONLY);	/* may take the loser's record */
		CHECK(c >= 0);
		execs++;
		agree += exec_reads(n) == mine[0];
		close(c);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	say("%d rounds: the parent read the file the kernel says in %d; %d new images, %d "
	    "read the parent's\n", DUP2_ROUNDS, same_as_kernel, execs, agree);
	close(n);
	return 0;
}

/* ---- signals ------------------------------------------------------------ */

static int sig_fd, sig_dup;
static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	int saved = errno, fd;
	char c;

	(void)sig;
	/* Through the interrupted loop's own description (its lock) ... */
	if (lseek(sig_dup, 0, SEEK_CUR) < 0 || pread(sig_fd, &c, 1, 0) != 1)
		_exit(3);
	/* ... and the descriptor table: open, write, read back, close. */
	fd = open(at("handler"), O_RDWR | O_CREAT, 0644);
	if (fd < 0 || pwrite(fd, "h", 1, 0) != 1 || pread(fd, &c, 1, 0) != 1 || c != 'h')
		_exit(4);
	close(fd);
	handled++;
	errno = saved;
}

static int case_signal_io(void)
{
	char block[512], back[512];
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	pid_t parent = getpid(), pid;
	int st, loops = 0;

	sig_fd = mkfile("sig", "s", 0);
	sig_dup = dup(sig_fd);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 3000; i++) {
			kill(parent, SIGUSR1);
			if (i % 8 == 0)
				sched_yield();
		}
		_exit(0);
	}
	memset(block, 'm', sizeof(block));
	for (;;) {
		int done = waitpid(pid, &st, WNOHANG) == pid;

		CHECK(lseek(sig_fd, 0, SEEK_SET) == 0);
		CHECK(write(sig_fd, block, sizeof(block)) == sizeof(block));
		CHECK(lseek(sig_fd, 0, SEEK_SET) == 0);
		CHECK(read(sig_fd, back, sizeof(back)) == sizeof(back));
		CHECK(!memcmp(block, back, sizeof(back)));
		loops++;
		if (done)
			break;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	raise(SIGUSR1);	/* at least one, whatever the scheduler did */
	say("main loop consistent, handler ran: %d\n", handled > 0);
	return 0;
}

/*
 * A descriptor inherited by a program DEFUSE does not run in (OUTSIDER, a
 * static program) gives the right data or fails loudly, never wrong data.
 */
static int case_outsider(void)
{
	const char *outsider = getenv("LIFE_OUTSIDER");
	char *argv[] = { "outsider", NULL, "outsider data", NULL };
	int fd = mkfile("f", "outsider data", 0), st;
	pid_t pid;
	char out[64];
	int p[2];
	ssize_t n;

	if (!outsider)
		fail("LIFE_OUTSIDER is not set");
	argv[1] = num(fd);
	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		execv(outsider, argv);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	CHECK(waitpid(pid, &st, 0) == pid);
	out[n > 0 ? n : 0] = 0;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!strcmp(out, "loud\n") || !strcmp(out, "right\n"));
	say("never wrong data\n");
	return 0;
}

/* ---- fd passing ------------------------------------------------------- */

/* One byte with fd in SCM_RIGHTS, by sendmsg or (mmsg) by sendmmsg. */
static void send_fd_by(int sock, int fd, int mmsg)
{
	char c = 'F', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct mmsghdr mm = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
					   .msg_controllen = sizeof(cbuf) } };
	struct cmsghdr *h = CMSG_FIRSTHDR(&mm.msg_hdr);

	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof(int));
	if (mmsg)
		CHECK(sendmmsg(sock, &mm, 1, 0) == 1);
	else
		CHECK(sendmsg(sock, &mm.msg_hdr, 0) == 1);
}

static void send_fd(int sock, int fd)
{
	send_fd_by(sock, fd, 0);
}

static int recv_fd(int sock)
{
	char c, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *h;
	int fd;

	CHECK(recvmsg(sock, &m, 0) == 1);
	h = CMSG_FIRSTHDR(&m);
	CHECK(h && h->cmsg_type == SCM_RIGHTS);
	memcpy(&fd, CMSG_DATA(h), sizeof(int));
	return fd;
}

/*
 * SCM_RIGHTS to a process that started before the file was opened (a new
 * image: it never saw the descriptor), both ways; then pidfd_getfd.
 */
static int case_scm_rights(void)
{
	int sv[2], fd, got, pidfd;
	char buf[64], c;
	pid_t pid;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *extra[] = { num(sv[1]), NULL };

		close(sv[0]);
		exec_self("-scm-child", extra, NULL);
	}
	close(sv[1]);
	fd = mkfile("sent", "0123456789", 0);
	CHECK(lseek(fd, 2, SEEK_SET) == 2);
	send_fd(sv[0], fd);
	CHECK(read(sv[0], &c, 1) == 1);
	say("parent offset after child read %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	CHECK(readn(fd, buf, 63) > 0);
	say("parent reads %s\n", buf);
	/* The child's own file, sent back. */
	got = recv_fd(sv[0]);
	CHECK(readn(got, buf, 63) > 0);
	say("parent reads child's file: %s\n", buf);
	/* pidfd_getfd of a number the child names. */
	CHECK(read(sv[0], &c, 1) == 1);
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	CHECK(pidfd >= 0);
	got = syscall(SYS_pidfd_getfd, pidfd, (int)c, 0);
	CHECK(got >= 0);
	{
		struct stat st;

		CHECK(fstat(got, &st) == 0);
		say("pidfd_getfd size %ld\n", (long)st.st_size);
	}
	CHECK(readn(got, buf, 63) > 0);
	say("pidfd_getfd reads %s\n", buf);
	CHECK(write(got, "+P", 2) == 2);
	CHECK(write(sv[0], "k", 1) == 1);
	CHECK(reap(pid) == 0);
	return 0;
}

static int role_scm_child(int sock)
{
	char buf[64];
	int fd = recv_fd(sock), own;
	struct stat st;

	/* The first calls on it are ones the kernel could answer itself. */
	CHECK(fstat(fd, &st) == 0);
	say("child: received size %ld, access mode rdwr %d, append %d\n", (long)st.st_size,
	    (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, !!(fcntl(fd, F_GETFL) & O_APPEND));
	CHECK(readn(fd, buf, 3) == 3);
	say("child reads %s\n", buf);
	CHECK(write(fd, "ab", 2) == 2);
	CHECK(write(sock, "r", 1) == 1);
	own = mkfile("child", "from the child", 0);
	CHECK(lseek(own, 5, SEEK_SET) == 5);
	send_fd(sock, own);
	own = mkfile("child2", "by number", 0);
	CHECK(lseek(own, 3, SEEK_SET) == 3);
	buf[0] = own;
	CHECK(write(sock, buf, 1) == 1);
	CHECK(read(sock, buf, 1) == 1);
	say("child offset after pidfd_getfd use %ld\n", (long)lseek(own, 0, SEEK_CUR));
	return 0;
}

/*
 * A description another process holds stays that file, at its offset,
 * whatever this process closes and opens afterwards: DEFUSE reuses the
 * records of descriptions that never left a process, so each way one
 * leaves (fork, exec, SCM_RIGHTS by sendmsg and by sendmmsg) is tried,
 * with the sender closing its descriptor and opening others before the
 * other process reads.
 */
static int case_record_reuse(void)
{
	int sv[2], go[2], fd, other[4];
	char buf[64], c;
	pid_t pid;

	/* fork: the child holds "forked", the parent closes it. */
	CHECK(pipe(go) == 0);
	fd = mkfile("forked", "F-0123456789", 0);
	CHECK(lseek(fd, 2, SEEK_SET) == 2);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(read(go[0], &c, 1) == 1);
		CHECK(readn(fd, buf, 4) == 4);
		say("fork child reads %s\n", buf);
		_exit(0);
	}
	close(fd);
	for (int i = 0; i < 4; i++)
		other[i] = mkfile(num(i), "other", 0);
	for (int i = 0; i < 4; i++)
		close(other[i]);
	other[0] = mkfile("after-fork", "not this one", 0);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(reap(pid) == 0);
	close(other[0]);

	/* exec: handed down by number. */
	fd = mkfile("execd", "E-0123456789", 0);
	CHECK(lseek(fd, 3, SEEK_SET) == 3);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *extra[] = { num(fd), num(go[0]), NULL };

		exec_self("-reuse-child", extra, NULL);
	}
	close(fd);
	other[0] = mkfile("after-exec", "not this one", 0);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(reap(pid) == 0);
	close(other[0]);

	/* SCM_RIGHTS, by sendmsg and by sendmmsg, to a process that was
	   started before. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *extra[] = { num(-1), num(go[0]), num(sv[1]), NULL };

		close(sv[0]);
		exec_self("-reuse-child", extra, NULL);
	}
	close(sv[1]);
	fd = mkfile("sent", "S-0123456789", 0);
	CHECK(lseek(fd, 4, SEEK_SET) == 4);
	send_fd(sv[0], fd);
	close(fd);
	other[0] = mkfile("after-send", "not this one", 0);
	fd = mkfile("sent-mm", "M-0123456789", 0);
	CHECK(lseek(fd, 5, SEEK_SET) == 5);
	send_fd_by(sv[0], fd, 1);
	close(fd);
	other[1] = mkfile("after-sendmmsg", "not this one", 0);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(reap(pid) == 0);
	close(other[0]);
	close(other[1]);
	return 0;
}

/* The other side of case_record_reuse: reads what it was handed once the
   parent says it has closed and opened again. */
static int role_reuse_child(int fd, int go, int sock)
{
	char buf[64], c;

	if (sock >= 0) {
		int a = recv_fd(sock), b = recv_fd(sock);

		CHECK(read(go, &c, 1) == 1);
		CHECK(readn(a, buf, 4) == 4);
		say("sendmsg receiver reads %s\n", buf);
		CHECK(readn(b, buf, 4) == 4);
		say("sendmmsg receiver reads %s\n", buf);
		return 0;
	}
	CHECK(read(go, &c, 1) == 1);
	CHECK(readn(fd, buf, 4) == 4);
	say("exec'd child reads %s\n", buf);
	return 0;
}

/* ---- locks -------------------------------------------------------------- */

enum { POSIX, OFD, FLOCK };

static int lk(int kind, int fd, int type, int wait)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };

	if (kind == FLOCK)
		return flock(fd, (type == F_UNLCK ? LOCK_UN : type == F_RDLCK ? LOCK_SH : LOCK_EX) |
				 (wait ? 0 : LOCK_NB));
	if (kind == POSIX)
		return fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl);
	return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}

static const char *res(int r)
{
	return r == 0 ? "ok" : errno == EAGAIN || errno == EWOULDBLOCK ? "busy" :
	       strerrorname_np(errno);
}

/* Who holds [0,10) as F_GETLK (or F_OFD_GETLK) sees it. */
static const char *holder(int kind, int fd, pid_t parent)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };

	if (kind == FLOCK)
		return "-";
	CHECK(fcntl(fd, kind == POSIX ? F_GETLK : F_OFD_GETLK, &fl) == 0);
	if (fl.l_type == F_UNLCK)
		return "none";
	return fl.l_pid == -1 ? "ofd" : fl.l_pid == parent ? "parent" :
	       fl.l_pid == getpid() ? "self" : "other";
}

/*
 * Each lock type against another process: contention, F_GETLK, release on
 * close, blocking wait, release on exit.
 */
static int case_lock(int kind)
{
	int fd, p2c[2], c2p[2], st;
	pid_t parent = getpid(), pid;
	char c;

	fd = mkfile("lockme", "0123456789", 0);
	CHECK(pipe(p2c) == 0 && pipe(c2p) == 0);
	say("parent lock: %s\n", res(lk(kind, fd, F_WRLCK, 0)));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int mine = open(at("lockme"), O_RDWR);

		close(p2c[1]);
		close(c2p[0]);
		CHECK(mine >= 0);
		/* 1: contention, and who holds it */
		say("child try: %s, holder %s\n", res(lk(kind, mine, F_WRLCK, 0)),
		    holder(kind, mine, parent));
		if (kind == POSIX)	/* POSIX locks are not inherited */
			say("child try through the inherited fd: %s\n",
			    res(lk(kind, fd, F_WRLCK, 0)));
		else			/* the others belong to the description */
			say("child lock through the inherited fd: %s\n",
			    res(lk(kind, fd, F_WRLCK, 0)));
		close(fd);
		CHECK(write(c2p[1], "1", 1) == 1);
		/* 2: the parent released it by a close */
		CHECK(read(p2c[0], &c, 1) == 1);
		say("child after release by close: %s\n", res(lk(kind, mine, F_WRLCK, 0)));
		CHECK(write(c2p[1], "2", 1) == 1);
		/* 3: the parent waits for it; we exit holding it */
		CHECK(read(p2c[0], &c, 1) == 1);
		_exit(0);
	}
	close(p2c[0]);
	close(c2p[1]);
	CHECK(read(c2p[0], &c, 1) == 1);
	/* Release by close: for POSIX locks any close of the file by the
	   process; for the others the description's last descriptor (the
	   child closed its copy). */
	if (kind == POSIX) {
		int other = open(at("lockme"), O_RDONLY);

		CHECK(other >= 0);
		close(other);
		say("parent holder after closing another fd: %s\n", holder(kind, fd, parent));
	} else {
		close(fd);
		fd = open(at("lockme"), O_RDWR);
		CHECK(fd >= 0);
	}
	CHECK(write(p2c[1], "x", 1) == 1);
	CHECK(read(c2p[0], &c, 1) == 1);
	say("parent while child holds: %s, holder %s\n", res(lk(kind, fd, F_WRLCK, 0)),
	    holder(kind, fd, parent));
	say("parent read lock while child holds: %s\n", res(lk(kind, fd, F_RDLCK, 0)));
	/* The child exits once we are about to wait: its exit releases it. */
	CHECK(write(p2c[1], "x", 1) == 1);
	say("parent waited: %s\n", res(lk(kind, fd, F_WRLCK, 1)));
	CHECK(waitpid(pid, &st, 0) == pid);
	say("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	say("holder seen by a new process: ");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int mine = open(at("lockme"), O_RDONLY);

		say("%s, try read lock %s\n", holder(kind, mine, parent),
		    res(lk(kind, mine, F_RDLCK, 0)));
		_exit(0);
	}
	CHECK(reap(pid) == 0);
	say("parent unlock %s, then a new process may: ", res(lk(kind, fd, F_UNLCK, 0)));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int mine = open(at("lockme"), O_RDWR);

		say("%s\n", res(lk(kind, mine, F_WRLCK, 0)));
		_exit(0);
	}
	CHECK(reap(pid) == 0);
	return 0;
}

/* Locks between threads of one process, each with its own open file. */
static int lk_res[3];

static void *lock_thread(void *arg)
{
	int kind = (long)arg, fd = open(at("lockme"), O_RDWR);

	CHECK(fd >= 0);
	lk_res[kind] = lk(kind, fd, F_WRLCK, 0) == 0 ? 0 : errno;
	close(fd);
	return NULL;
}

static int case_lock_threads(void)
{
	int fd = mkfile("lockme", "0123456789", 0);
	pthread_t t;

	for (int kind = POSIX; kind <= FLOCK; kind++) {
		say("%s held by the main thread: %s\n", kind == POSIX ? "posix" :
		    kind == OFD ? "ofd" : "flock", res(lk(kind, fd, F_WRLCK, 0)));
		CHECK(pthread_create(&t, NULL, lock_thread, (void *)(long)kind) == 0);
		pthread_join(t, NULL);
		errno = lk_res[kind];
		say("  another thread's open: %s\n", res(lk_res[kind] ? -1 : 0));
		lk(kind, fd, F_UNLCK, 0);
	}
	return 0;
}

/*
 * A record lock survives another open of the file by the same process (only
 * a close drops it): an OFD lock of another open conflicts with it, and so
 * does another process.
 */
static int case_lock_reopen(void)
{
	int fd = mkfile("lockme", "0123456789", 0), again;
	pid_t pid;

	say("posix lock: %s\n", res(lk(POSIX, fd, F_WRLCK, 0)));
	again = open(at("lockme"), O_RDWR);
	CHECK(again >= 0);
	say("another open's OFD lock: %s\n", res(lk(OFD, again, F_WRLCK, 0)));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int mine = open(at("lockme"), O_RDWR);

		say("another process: %s\n", res(lk(POSIX, mine, F_WRLCK, 0)));
		_exit(0);
	}
	CHECK(reap(pid) == 0);
	close(again);
	say("after closing the other open, another process: ");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int mine = open(at("lockme"), O_RDWR);

		say("%s\n", res(lk(POSIX, mine, F_WRLCK, 0)));
		_exit(0);
	}
	CHECK(reap(pid) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c;

	if (argc < 3) {
		fprintf(stderr, "usage: life CASE DIR\n");
		return 2;
	}
	c = argv[1];
	dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "fork-offsets")) return case_fork_offsets();
	if (!strcmp(c, "fork-append")) return case_fork_append();
	if (!strcmp(c, "dup-exec")) return case_dup_exec();
	if (!strcmp(c, "-dup-exec")) return role_dup_exec();
	if (!strcmp(c, "cloexec-exec")) return case_cloexec_exec();
	if (!strcmp(c, "-cloexec-exec")) return role_cloexec_exec();
	if (!strcmp(c, "spawn")) return case_spawn();
	if (!strcmp(c, "-read-fd") && argc > 3) return role_read_fd(atoi(argv[3]));
	if (!strcmp(c, "env-i")) return case_env_i();
	if (!strcmp(c, "-env-i") && argc > 3) return role_env_i(atoi(argv[3]));
	if (!strcmp(c, "cwd-moved")) return case_cwd_moved();
	if (!strcmp(c, "cwd-exec")) return case_cwd_exec();
	if (!strcmp(c, "script-exec")) return case_script_exec();
	if (!strcmp(c, "-cwd-exec")) return role_cwd_exec();
	if (!strcmp(c, "vfork-exec")) return case_vfork_exec();
	if (!strcmp(c, "vfork-chdir")) return case_vfork_chdir();
	if (!strcmp(c, "spawn-open")) return case_spawn_open();
	if (!strcmp(c, "flock-exec")) return case_flock_exec();
	if (!strcmp(c, "-flock-held") && argc > 4)
		return role_flock_held(atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(c, "-where")) return role_where();
	if (!strcmp(c, "-copy-io")) return role_copy_io();
	if (!strcmp(c, "lazy-exec")) return case_lazy_exec();
	if (!strcmp(c, "-lazy-1") && argc > 9) return role_lazy_1(argv + 3);
	if (!strcmp(c, "-lazy-2") && argc > 9) return role_lazy_2(argv + 3);
	if (!strcmp(c, "threads")) return case_threads();
	if (!strcmp(c, "dup2-race")) return case_dup2_race();
	if (!strcmp(c, "cwd-race")) return case_cwd_race();
	if (!strcmp(c, "signal-io")) return case_signal_io();
	if (!strcmp(c, "scm-rights")) return case_scm_rights();
	if (!strcmp(c, "record-reuse")) return case_record_reuse();
	if (!strcmp(c, "-reuse-child") && argc > 4)
		return role_reuse_child(atoi(argv[3]), atoi(argv[4]), argc > 5 ? atoi(argv[5]) : -1);
	if (!strcmp(c, "-scm-child") && argc > 3) return role_scm_child(atoi(argv[3]));
	if (!strcmp(c, "lock-posix")) return case_lock(POSIX);
	if (!strcmp(c, "lock-ofd")) return case_lock(OFD);
	if (!strcmp(c, "lock-flock")) return case_lock(FLOCK);
	if (!strcmp(c, "lock-threads")) return case_lock_threads();
	if (!strcmp(c, "lock-reopen")) return case_lock_reopen();
	if (!strcmp(c, "outsider")) return case_outsider();
	fprintf(stderr, "life: unknown case '%s'\n", c);
	return 2;
}
