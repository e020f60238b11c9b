/*
 * Extended attributes: a list per inode, name and value in one object.
 * Namespaces and permissions are ops.c's; this is storage.  Caller holds
 * the lock.
 */
#include "memfs.h"

#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

static uint64_t xa_size(uint32_t nlen, uint32_t vlen)
{
	return sizeof(struct mxattr) + nlen + 1 + vlen;
}

/* The link that points at name's record (or at the list's end). */
static uint64_t *xa_link(struct memfs *m, struct mnode *n, const char *name)
{
	uint64_t *l = &n->xattr;
	size_t len = strlen(name);

	while (*l) {
		struct mxattr *x = P(m, *l);

		if (x->nlen == len && memcmp(x->data, name, len) == 0)
			break;
		l = &x->next;
	}
	return l;
}

ssize_t xa_get(struct memfs *m, struct mnode *n, const char *name, void *value, size_t size)
{
	uint64_t *l = xa_link(m, n, name);
	struct mxattr *x = P(m, *l);

	if (!x)
		return -ENODATA;
	if (size == 0)
		return x->vlen;
	if (size < x->vlen)
		return -ERANGE;
	memcpy(value, x->data + x->nlen + 1, x->vlen);
	return x->vlen;
}

int xa_set(struct memfs *m, struct mnode *n, const char *name, const void *value,
	   size_t size, int xflags)
{
	uint64_t *l = xa_link(m, n, name), off, old = *l;
	uint32_t nlen = (uint32_t)strlen(name);
	struct mxattr *x;

	if (old && (xflags & XATTR_CREATE))
		return -EEXIST;
	if (!old && (xflags & XATTR_REPLACE))
		return -ENODATA;
	if (!(off = mem_alloc(m, xa_size(nlen, (uint32_t)size))))
		return -ENOSPC;
	x = P(m, off);
	x->nlen = nlen;
	x->vlen = (uint32_t)size;
	memcpy(x->data, name, nlen + 1);
	if (size)
		memcpy(x->data + nlen + 1, value, size);
	if (old) {
		struct mxattr *o = P(m, old);

		x->next = o->next;
		mem_free(m, old, xa_size(o->nlen, o->vlen));
	}
	*l = off;
	return 0;
}

ssize_t xa_list(struct memfs *m, struct mnode *n, char *list, size_t size)
{
	size_t total = 0;

	for (uint64_t o = n->xattr; o; o = ((struct mxattr *)P(m, o))->next) {
		struct mxattr *x = P(m, o);

		if (size) {
			if (total + x->nlen + 1 > size)
				return -ERANGE;
			memcpy(list + total, x->data, x->nlen + 1);
		}
		total += x->nlen + 1;
	}
	return (ssize_t)total;
}

int xa_remove(struct memfs *m, struct mnode *n, const char *name)
{
	uint64_t *l = xa_link(m, n, name);
	struct mxattr *x = P(m, *l);
	uint64_t off = *l;

	if (!x)
		return -ENODATA;
	*l = x->next;
	mem_free(m, off, xa_size(x->nlen, x->vlen));
	return 0;
}

void xa_free_all(struct memfs *m, struct mnode *n)
{
	while (n->xattr) {
		struct mxattr *x = P(m, n->xattr);

		xa_remove(m, n, x->data);
	}
}
