/*
 * fuse_buf: libfuse's generic buffers (memory, or a descriptor with or
 * without a position), as read_buf and write_buf exchange them.  No
 * splicing: every copy goes through memory.
 */
#include "fc.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

FC_EXPORT size_t fuse_buf_size(const struct fuse_bufvec *bufv)
{
	size_t size = 0;

	for (size_t i = 0; i < bufv->count; i++) {
		if (bufv->buf[i].size == SIZE_MAX)
			return SIZE_MAX;
		size += bufv->buf[i].size;
	}
	return size;
}

/* Reads or writes len bytes of buffer b at off, into or from mem:
   the count done (short only at the end of the data), or -errno. */
static ssize_t fd_io(const struct fuse_buf *b, size_t off, void *mem, size_t len, int writing)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r;
		char *p = (char *)mem + done;

		if (b->flags & FUSE_BUF_FD_SEEK)
			r = writing ? pwrite(b->fd, p, len - done, b->pos + off + done) :
				      pread(b->fd, p, len - done, b->pos + off + done);
		else
			r = writing ? write(b->fd, p, len - done) : read(b->fd, p, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return done ? (ssize_t)done : -errno;
		if (r == 0)
			break;
		done += r;
		if (!(b->flags & FUSE_BUF_FD_RETRY))
			break;
	}
	return done;
}

/* One piece of a copy: at most len bytes from s at soff to d at doff. */
static ssize_t copy_piece(const struct fuse_buf *d, size_t doff, const struct fuse_buf *s,
			  size_t soff, size_t len)
{
	int dfd = d->flags & FUSE_BUF_IS_FD, sfd = s->flags & FUSE_BUF_IS_FD;
	char bounce[16384];
	ssize_t total = 0;

	if (!dfd && !sfd) {
		memmove((char *)d->mem + doff, (const char *)s->mem + soff, len);
		return len;
	}
	if (!dfd)
		return fd_io(s, soff, (char *)d->mem + doff, len, 0);
	if (!sfd)
		return fd_io(d, doff, (char *)s->mem + soff, len, 1);
	while ((size_t)total < len) {
		size_t n = len - total < sizeof(bounce) ? len - total : sizeof(bounce);
		ssize_t r = fd_io(s, soff + total, bounce, n, 0), w;

		if (r <= 0)
			return total ? total : r;
		w = fd_io(d, doff + total, bounce, r, 1);
		if (w < 0)
			return total ? total : w;
		total += w;
		if (w < r || (size_t)r < n)
			break;
	}
	return total;
}

static const struct fuse_buf *cur(const struct fuse_bufvec *v)
{
	return v->idx < v->count ? &v->buf[v->idx] : NULL;
}

static void advance(struct fuse_bufvec *v, size_t n)
{
	v->off += n;
	if (v->idx < v->count && v->off >= v->buf[v->idx].size) {
		v->idx++;
		v->off = 0;
	}
}

FC_EXPORT ssize_t fuse_buf_copy(struct fuse_bufvec *dstv, struct fuse_bufvec *srcv,
				enum fuse_buf_copy_flags flags)
{
	ssize_t copied = 0;

	(void)flags;
	for (;;) {
		const struct fuse_buf *d, *s;
		size_t len;
		ssize_t r;

		/* Buffers with nothing (left) in them are passed over. */
		while ((d = cur(dstv)) && dstv->off >= d->size)
			dstv->idx++, dstv->off = 0;
		while ((s = cur(srcv)) && srcv->off >= s->size)
			srcv->idx++, srcv->off = 0;
		if (!d || !s)
			break;
		len = d->size - dstv->off;
		if (s->size - srcv->off < len)
			len = s->size - srcv->off;
		r = copy_piece(d, dstv->off, s, srcv->off, len);
		if (r < 0)
			return copied ? copied : r;
		advance(dstv, r);
		advance(srcv, r);
		copied += r;
		if ((size_t)r < len)
			break;
	}
	return copied;
}
