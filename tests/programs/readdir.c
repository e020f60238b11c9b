/* opendir/readdir/closedir over a directory of 20 files it creates. */
#include "prog.h"
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#define NFILES 20

int main(void)
{
	char *dir = prog_mkdtemp("readdir");
	char path[4096];
	struct dirent *de;
	int seen = 0, dots = 0;
	DIR *d;

	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof path, "%s/file%02d", dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		CHECK(fd >= 0);
		CHECK(close(fd) == 0);
	}

	d = opendir(dir);
	CHECK(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			dots++;
		else if (!strncmp(de->d_name, "file", 4))
			seen++;
		errno = 0;
	}
	CHECK(errno == 0);
	CHECK(seen == NFILES && dots == 2);

	/* Read it once more after a rewind, through the dirfd this time. */
	rewinddir(d);
	seen = 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			CHECK(unlinkat(dirfd(d), de->d_name, 0) == 0);
			seen++;
		}
	CHECK(seen == NFILES);
	CHECK(closedir(d) == 0);

	CHECK(rmdir(dir) == 0);
	free(dir);
	return 0;
}
