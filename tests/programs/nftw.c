/* nftw over a small tree it creates, then nftw(FTW_DEPTH) to remove it. */
#include "prog.h"
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static int nfiles, ndirs, nlinks;

static int count(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path; (void)st; (void)ftw;
	if (type == FTW_F)
		nfiles++;
	else if (type == FTW_D)
		ndirs++;
	else if (type == FTW_SL)
		nlinks++;
	else
		return 1;
	return 0;
}

static int rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	return remove(path);
}

int main(void)
{
	char *root = prog_mkdtemp("nftw");
	char path[4096];

	/* root/{d0,d1,d2}/{sub}/{f0,f1,f2} and root/{d0,d1,d2}/g */
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/d%d", root, i);
		CHECK(mkdir(path, 0755) == 0);
		snprintf(path, sizeof path, "%s/d%d/sub", root, i);
		CHECK(mkdir(path, 0755) == 0);
		for (int j = 0; j < 3; j++) {
			snprintf(path, sizeof path, "%s/d%d/sub/f%d", root, i, j);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			CHECK(fd >= 0);
			CHECK(write(fd, "x", 1) == 1);
			CHECK(close(fd) == 0);
		}
		snprintf(path, sizeof path, "%s/d%d/g", root, i);
		CHECK(symlink("sub/f0", path) == 0);
	}

	CHECK(nftw(root, count, 8, 0) == 0);
	CHECK(nfiles == 12 && ndirs == 7);	/* the symlinks resolve to files */

	/* Physical walk, changing directory as it goes (fchdir/chdir). */
	nfiles = ndirs = 0;
	CHECK(nftw(root, count, 8, FTW_PHYS | FTW_CHDIR) == 0);
	CHECK(nfiles == 9 && ndirs == 7 && nlinks == 3);

	CHECK(nftw(root, rm, 8, FTW_DEPTH | FTW_PHYS) == 0);
	CHECK(access(root, F_OK) != 0 && errno == ENOENT);
	free(root);
	return 0;
}
