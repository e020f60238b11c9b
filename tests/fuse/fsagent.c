/*
 * fsagent: does file-system operations read from stdin, one per line, and
 * answers each on stdout, so that coherence.py can drive two processes at
 * once (one under `defuse run`, one on the FUSE mount) step by step.
 *
 *   write P DATA   (O_CREAT|O_TRUNC)   append P DATA   cat P   stat P
 *   rename A B     unlink P   mkdir P  ls D (sorted names)
 *   hold P         (opens P O_RDONLY and keeps it)     pread-held
 *   release-held   fstype P (statfs's f_type in hex)
 *   appendn P N TAG   (N writes of "TAG i\n" through one O_APPEND descriptor)
 *
 * Answers: "ok [DATA]" or "err ENAME".  DATA in commands and answers has
 * no spaces or newlines (the driver uses none).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* strerrorname_np */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static int held = -1;

static void answer_errno(void)
{
	printf("err %s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
}

static void write_file(const char *p, const char *data, int flags)
{
	int fd = open(p, O_WRONLY | O_CREAT | flags, 0644);
	size_t n = strlen(data);

	if (fd < 0 || write(fd, data, n) != (ssize_t)n) {
		answer_errno();
	} else {
		printf("ok\n");
	}
	if (fd >= 0)
		close(fd);
}

static void cat_fd(int fd, int positioned)
{
	char buf[4096];
	ssize_t n = positioned ? pread(fd, buf, sizeof(buf) - 1, 0) : read(fd, buf, sizeof(buf) - 1);

	if (n < 0) {
		answer_errno();
		return;
	}
	buf[n] = 0;
	printf("ok %s\n", buf);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *p)
{
	DIR *d = opendir(p);
	char *names[1024];
	int n = 0;
	struct dirent *e;

	if (!d) {
		answer_errno();
		return;
	}
	while ((e = readdir(d)) && n < 1024)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp);
	printf("ok");
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void appendn(const char *p, long n, const char *tag)
{
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT, 0644);
	char line[128];

	if (fd < 0) {
		answer_errno();
		return;
	}
	for (long i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "%s %ld\n", tag, i);

		if (write(fd, line, (size_t)len) != len) {
			answer_errno();
			close(fd);
			return;
		}
	}
	close(fd);
	printf("ok\n");
}

int main(void)
{
	char line[8192];

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		char *op = strtok(line, " \n"), *a = strtok(NULL, " \n"), *b = strtok(NULL, " \n");
		char *c = strtok(NULL, " \n");
		struct stat st;
		struct statfs sf;

		if (!op)
			continue;
		errno = 0;
		if (!strcmp(op, "write") && a && b) {
			write_file(a, b, O_TRUNC);
		} else if (!strcmp(op, "append") && a && b) {
			write_file(a, b, O_APPEND);
		} else if (!strcmp(op, "cat") && a) {
			int fd = open(a, O_RDONLY);

			if (fd < 0) {
				answer_errno();
			} else {
				cat_fd(fd, 0);
				close(fd);
			}
		} else if (!strcmp(op, "stat") && a) {
			if (stat(a, &st))
				answer_errno();
			else
				printf("ok size=%lld\n", (long long)st.st_size);
		} else if (!strcmp(op, "rename") && a && b) {
			rename(a, b) ? answer_errno() : (void)printf("ok\n");
		} else if (!strcmp(op, "unlink") && a) {
			unlink(a) ? answer_errno() : (void)printf("ok\n");
		} else if (!strcmp(op, "mkdir") && a) {
			mkdir(a, 0755) ? answer_errno() : (void)printf("ok\n");
		} else if (!strcmp(op, "ls") && a) {
			list(a);
		} else if (!strcmp(op, "hold") && a) {
			held = open(a, O_RDONLY);
			held < 0 ? answer_errno() : (void)printf("ok\n");
		} else if (!strcmp(op, "pread-held")) {
			cat_fd(held, 1);
		} else if (!strcmp(op, "release-held")) {
			close(held) ? answer_errno() : (void)printf("ok\n");
			held = -1;
		} else if (!strcmp(op, "fstype") && a) {
			if (statfs(a, &sf))
				answer_errno();
			else
				printf("ok %lx\n", (unsigned long)sf.f_type);
		} else if (!strcmp(op, "appendn") && a && b && c) {
			appendn(a, strtol(b, NULL, 10), c);
		} else {
			printf("err bad-command\n");
		}
	}
	return 0;
}
