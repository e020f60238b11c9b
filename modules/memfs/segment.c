/*
 * The shared segment: a file under /dev/shm named after the mount's NAME,
 * created by the first process that mounts it, mapped MAP_SHARED by every
 * process, and its lock.
 */
#include "memfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Lays out an empty file system: header, then the root directory. */
static int seg_format(struct memfs *m, uint64_t size)
{
	struct seg_hdr *h = m->h;
	pthread_mutexattr_t a;
	struct cred c;
	uint64_t root;

	memset(h, 0, sizeof *h);
	h->size = size;
	h->version = MEMFS_VERSION;
	h->brk = (sizeof *h + 63) & ~63ULL;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	/* A process killed inside an operation must not hang the others. */
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (pthread_mutex_init(&h->lock, &a) != 0)
		return -ENOLCK;
	pthread_mutexattr_destroy(&a);
	cred_get(&c);
	root = node_new(m, &c, NULL, S_IFDIR | 0777 | S_ISVTX);
	if (!root)
		return -ENOSPC;
	N(m, root)->parent = root;
	N(m, root)->nlink = 2;
	h->root = root;
	/* Last: the magic tells later mounts the layout is complete. */
	__atomic_store_n(&h->magic, MEMFS_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

int seg_open(struct memfs *m, const char *name, uint64_t size, char *why, size_t why_len)
{
	struct stat st;
	void *p;
	int fd, r;

	snprintf(m->shm_path, sizeof m->shm_path, "/dev/shm/defuse-memfs.%s", name);
	fd = open(m->shm_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(why, why_len, "memfs: %s: %s", m->shm_path, strerror(errno));
		return r;
	}
	/* The first mount formats under flock, so one at a time does it and a
	   formatter that dies leaves the lock (and an empty file) behind. */
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (st.st_size == 0) {
		if (ftruncate(fd, (off_t)size) < 0)
			goto fail;
		st.st_size = (off_t)size;
	}
	if ((uint64_t)st.st_size < MEMFS_PAGE * 4) {
		errno = EINVAL;
		goto fail;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	m->base = p;
	m->h = p;
	m->size = (uint64_t)st.st_size;
	/* The header's pages, before any is touched: on a full /dev/shm the
	   first touch would be SIGBUS (alloc.c, reserve). */
	if (madvise(p, sizeof(struct seg_hdr), MADV_POPULATE_WRITE) < 0 && errno != EINVAL) {
		munmap(p, m->size);
		errno = ENOSPC;
		goto fail;
	}
	if (__atomic_load_n(&m->h->magic, __ATOMIC_ACQUIRE) != MEMFS_MAGIC) {
		if ((r = seg_format(m, m->size)) < 0) {
			errno = -r;
			munmap(p, m->size);
			goto fail;
		}
	} else if (m->h->version != MEMFS_VERSION || m->h->size != m->size) {
		/* Another layout (or a damaged header): refused, never
		   reformatted, since its files may still be wanted. */
		snprintf(why, why_len, "memfs: %s is a segment of memfs layout %u, size %llu "
			 "(this memfs: layout %u, size %llu); remove it to start afresh",
			 m->shm_path, m->h->version, (unsigned long long)m->h->size,
			 MEMFS_VERSION, (unsigned long long)m->size);
		munmap(p, m->size);
		flock(fd, LOCK_UN);
		close(fd);
		return -EPROTO;
	}
	flock(fd, LOCK_UN);
	close(fd);	/* the mapping keeps the segment */
	return 0;
fail:
	r = -errno;
	snprintf(why, why_len, "memfs: %s: %s", m->shm_path, strerror(errno));
	close(fd);
	return r;
}

void seg_close(struct memfs *m)
{
	if (m->base)
		munmap(m->base, m->size);
	m->base = NULL;
	m->h = NULL;
}

void seg_lock(struct memfs *m)
{
	int r = pthread_mutex_lock(&m->h->lock);

	/* The holder died mid-operation: what it changed stays as far as it
	   got (docs/memfs.md), but the lock must go on working. */
	if (r == EOWNERDEAD)
		pthread_mutex_consistent(&m->h->lock);
}

void seg_unlock(struct memfs *m)
{
	pthread_mutex_unlock(&m->h->lock);
}
