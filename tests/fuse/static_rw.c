/*
 * static_rw: file work on one directory, built with -static so that DEFUSE
 * could not capture it even if it tried; static.py runs it on a FUSE mount.
 *
 *     static_rw DIR
 *
 * DIR must hold in.txt = "from backing\n".  Prints one line per failed
 * check and exits 1 on any.  Leaves out2.txt ("0123456789ABCDEF", mode
 * 0600) and nothing else new, which static.py checks in the backing
 * directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int bad;

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("FAIL %s (errno %s)\n", what, strerror(errno));
		bad = 1;
	}
}

static int file_is(const char *path, const char *want)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n);
}

int main(int argc, char **argv)
{
	struct stat st;
	char buf[64];
	int fd, seen = 0;
	DIR *d;
	struct dirent *e;
	void *map;

	if (argc != 2 || chdir(argv[1])) {
		fprintf(stderr, "usage: static_rw DIR\n");
		return 2;
	}
	check(file_is("in.txt", "from backing\n"), "read in.txt made in the backing directory");

	fd = open("out.txt", O_CREAT | O_EXCL | O_RDWR, 0640);
	check(fd >= 0, "create out.txt");
	check(write(fd, "0123456789", 10) == 10, "write");
	check(pwrite(fd, "ABCDEF", 6, 10) == 6, "pwrite");
	check(pread(fd, buf, 4, 8) == 4 && !memcmp(buf, "89AB", 4), "pread");
	check(fstat(fd, &st) == 0 && st.st_size == 16 && (st.st_mode & 0777) == 0640,
	      "fstat size and mode");
	map = mmap(NULL, 16, PROT_READ, MAP_SHARED, fd, 0);
	check(map != MAP_FAILED && !memcmp(map, "0123456789ABCDEF", 16), "mmap read");
	if (map != MAP_FAILED)
		munmap(map, 16);
	check(close(fd) == 0, "close");

	fd = open("out.txt", O_WRONLY | O_APPEND);
	check(fd >= 0 && write(fd, "+tail\n", 6) == 6 && close(fd) == 0, "append");
	check(file_is("out.txt", "0123456789ABCDEF+tail\n"), "contents after append");
	check(rename("out.txt", "out2.txt") == 0, "rename");
	check(access("out.txt", F_OK) < 0 && errno == ENOENT, "old name gone");

	check(mkdir("sub", 0755) == 0, "mkdir");
	fd = open("sub/x", O_CREAT | O_WRONLY, 0644);
	check(fd >= 0 && close(fd) == 0, "create in subdirectory");
	check(symlink("out2.txt", "link") == 0 && readlink("link", buf, sizeof(buf)) == 8 &&
	      !memcmp(buf, "out2.txt", 8), "symlink, readlink");
	check(link("out2.txt", "hard") == 0 && stat("hard", &st) == 0 && st.st_nlink == 2,
	      "hard link");
	d = opendir(".");
	check(d != NULL, "opendir");
	while (d && (e = readdir(d)))
		seen += !strcmp(e->d_name, "out2.txt") + !strcmp(e->d_name, "sub") +
			!strcmp(e->d_name, "in.txt");
	if (d)
		closedir(d);
	check(seen == 3, "readdir lists in.txt, out2.txt, sub");

	check(unlink("sub/x") == 0 && rmdir("sub") == 0, "unlink, rmdir");
	check(unlink("link") == 0 && unlink("hard") == 0, "unlink links");
	check(truncate("out2.txt", 16) == 0 && stat("out2.txt", &st) == 0 && st.st_size == 16,
	      "truncate");
	check(chmod("out2.txt", 0600) == 0 && stat("out2.txt", &st) == 0 &&
	      (st.st_mode & 0777) == 0600, "chmod");
	if (!bad)
		printf("static_rw: all checks passed\n");
	return bad;
}
