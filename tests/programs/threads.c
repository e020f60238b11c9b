/* 8 threads, each writing, reading back and removing a file of its own. */
#include "prog.h"
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#define NTHREADS 8
#define NBLOCKS 16

static char *dir;

static void *worker(void *arg)
{
	long id = (long)arg;
	char path[4096], block[4096], back[4096];
	int fd;

	snprintf(path, sizeof path, "%s/t%ld", dir, id);
	memset(block, 'a' + (int)id, sizeof block);

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	for (int i = 0; i < NBLOCKS; i++)
		CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	for (int i = 0; i < NBLOCKS; i++) {
		CHECK(read(fd, back, sizeof back) == (ssize_t)sizeof back);
		CHECK(memcmp(back, block, sizeof back) == 0);
	}
	CHECK(pread(fd, back, 10, 4096 * 3 + 7) == 10);
	CHECK(fsync(fd) == 0);
	CHECK(close(fd) == 0);
	CHECK(unlink(path) == 0);
	return (void *)id;
}

int main(void)
{
	pthread_t t[NTHREADS];
	void *ret;

	dir = prog_mkdtemp("threads");
	for (long i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (long i = 0; i < NTHREADS; i++) {
		CHECK(pthread_join(t[i], &ret) == 0);
		CHECK(ret == (void *)i);
	}
	CHECK(rmdir(dir) == 0);
	free(dir);
	return 0;
}
