/*
 * Unix sockets whose path names a file in a mount.  The kernel binds and
 * connects by path, and cannot see into a mount: the path goes to the
 * kernel as the file's backing path (its directory as the module hands it
 * out: a kernel descriptor, or the one behind its handle, read back from
 * /proc/self/fd), so the socket file is made, found and removed in the
 * backing directory, where the mount's stat, chmod, rename and unlink see
 * it.
 *
 * The kernel then keeps that backing path as the socket's name.  The
 * addresses it returns (getsockname, getpeername, accept, recvfrom, and
 * recvmsg's through capture, which also adopts the descriptors received:
 * core_sock_msg_received) are rewritten in this process once it gave such
 * an address (core_sock_named): to the name as this process bound it (a
 * relative one too), else to the path in the mount (a backing path under
 * the mount's backing root, as passthrough lays them out).  A process
 * that never gave one (a peer started outside, or after an exec) sees the
 * backing path.  A module without kernel directories holds the socket's
 * node, and the kernel socket is its stand-in (special.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "kernel/sys.h"
#include "core/core.h"
#include "core/perm.h"
#include "core/resolve.h"
#include "core/syscalls.h"

int core_sock_named;

#define PATH_AT offsetof(struct sockaddr_un, sun_path)
#define SUN_PATH sizeof(((struct sockaddr_un *)0)->sun_path)

/*
 * The names this process bound in mounts, by the backing path the kernel
 * keeps: written once each (a bind), never changed, so readers take no
 * lock; past BOUND_MAX, names come back as the mount's path instead.
 */
#define BOUND_MAX 64
static struct {
	char kernel[SUN_PATH + 1], program[SUN_PATH + 1];
	int ready;
} bound[BOUND_MAX];
static int nbound;

static void remember_bound(const struct sockaddr_un *k, long klen, const struct sockaddr_un *p,
			   long plen)
{
	int i = __atomic_fetch_add(&nbound, 1, __ATOMIC_ACQ_REL);

	if (i >= BOUND_MAX) {
		__atomic_store_n(&nbound, BOUND_MAX, __ATOMIC_RELEASE);
		return;
	}
	/* Not visible until ready: readers skip it meanwhile. */
	memcpy(bound[i].kernel, k->sun_path, klen - PATH_AT);
	bound[i].kernel[klen - PATH_AT] = 0;
	memcpy(bound[i].program, p->sun_path, plen - PATH_AT);
	bound[i].program[plen - PATH_AT] = 0;
	__atomic_store_n(&bound[i].ready, 1, __ATOMIC_RELEASE);
}

/* The name this process bound for backing path kpath, newest first. */
static const char *bound_as(const char *kpath)
{
	int n = __atomic_load_n(&nbound, __ATOMIC_ACQUIRE);

	for (int i = (n > BOUND_MAX ? BOUND_MAX : n) - 1; i >= 0; i--)
		if (__atomic_load_n(&bound[i].ready, __ATOMIC_ACQUIRE) &&
		    !strcmp(bound[i].kernel, kpath))
			return bound[i].program;
	return NULL;
}

/*
 * The kernel's path of what l names in its mount, into out: its directory's
 * kernel path and its name, or, when that does not fit an address (a
 * relative name deep in a backing tree: 107 bytes), the name under the
 * directory's descriptor, "/proc/self/fd/N/NAME", which d keeps open for
 * the call.  -EOPNOTSUPP for a module whose directories have no kernel
 * descriptor.
 */
static int backing_path(const struct core_loc *l, char *out, size_t cap, struct core_kdir *d)
{
	const char *name = strrchr(l->path, '/') + 1;
	char dir[PATH_MAX], kdir[PATH_MAX];
	long n;

	memcpy(dir, l->path, name - l->path);
	dir[name - l->path] = 0;
	if ((n = core_kdir_open(l->mount, dir, d)) < 0)
		return n;
	n = core_fd_kpath(d->kfd, kdir, sizeof(kdir)) <= 0 ? -1 :
	    snprintf(out, cap, "%s/%s", strcmp(kdir, "/") ? kdir : "", name);
	if (n >= 0 && (size_t)n < cap) {
		core_kdir_close(l->mount, d);	/* the path names it */
		return n;
	}
	n = snprintf(out, cap, "/proc/self/fd/%ld/%s", d->kfd, name);
	if (n < 0 || (size_t)n >= cap) {
		core_kdir_close(l->mount, d);
		return -ENAMETOOLONG;
	}
	return n;
}

/*
 * The kernel's address for the program's *un (len bytes): into *k, its
 * length returned; 0 when the program's address stands as it is (not a
 * path in a mount), or -errno.  *standin: the mount whose kernel stand-in
 * (special.c) the address is, its node's path in *l; else -1.
 */
static long kernel_address(const struct core_call *c, const struct sockaddr_un *un, long len,
			   struct sockaddr_un *k, struct core_loc *l_out, int *standin,
			   struct core_kdir *d)
{
	char path[sizeof(un->sun_path) + 1];
	struct core_loc l;
	unsigned res = CORE_RES_STRICT |
		       (c->op == OP_BIND ? CORE_RES_NAME | CORE_RES_CREATE : CORE_RES_FOLLOW);
	long r;
	int n;

	if (len <= (long)PATH_AT || un->sun_family != AF_UNIX || !un->sun_path[0])
		return 0;
	memcpy(path, un->sun_path, len - PATH_AT);
	path[len - PATH_AT] = 0;
	if ((r = core_resolve(AT_FDCWD, path, res, &l)) < 0)
		/* bind: a name that is taken is "in use" */
		return r == -EEXIST && c->op == OP_BIND ? -EADDRINUSE : r;
	if (l.where == CORE_UNTOUCHED)
		return 0;
	if (core_in_mount(&l)) {
		if (!strcmp(l.path, "/"))
			return c->op == OP_BIND ? -EADDRINUSE : -ECONNREFUSED;	/* the root */
		if (core_special_mount(l.mount)) {
			/* bind makes the name: its directory must let the
			   caller (perm.c); a taken name is "in use" */
			if (c->op == OP_BIND && (n = core_perm_make(&l)) < 0)
				return n == -EEXIST ? -EADDRINUSE : n;
			n = c->op == OP_BIND ?
				core_special_bind(l.mount, l.path, k->sun_path, sizeof(k->sun_path)) :
				core_special_connect(&l, k->sun_path, sizeof(k->sun_path));
			if (n < 0)
				return n;
			*standin = l.mount;
			*l_out = l;
		} else if ((n = backing_path(&l, k->sun_path, sizeof(k->sun_path), d)) < 0) {
			return n;
		}
		*l_out = l;
	} else {
		n = snprintf(k->sun_path, sizeof(k->sun_path), "%s", l.path);
	}
	if (n < 0 || n >= (int)sizeof(k->sun_path))
		return -ENAMETOOLONG;	/* the backing path does not fit */
	k->sun_family = AF_UNIX;
	return PATH_AT + n + 1;
}

/* bind, connect, sendto, sendmsg: the address, if it names a file in a
   mount, as its backing path. */
long core_h_sock_addr(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	const struct core_sysdesc *d = c->d;
	struct defuse_syscall k = *sc;
	struct sockaddr_un un, kun;
	struct msghdr msg;
	struct core_loc l;
	struct core_kdir dir = { .kfd = -1 };
	const void *uaddr;
	long len, r;
	int standin = -1;

	if (c->op == OP_SENDMMSG) {
		core_emulated_sending(NULL);
		return defuse_forward(sc);
	}
	if (c->op == OP_SENDMSG) {
		if (defuse_copy_in(&msg, (const void *)sc->a[d->addr], sizeof(msg)))
			return -EFAULT;
		if (msg.msg_controllen)
			core_emulated_sending(&msg);
		uaddr = msg.msg_name;
		len = msg.msg_namelen;
	} else {
		uaddr = (const void *)sc->a[d->addr];
		len = (int)sc->a[d->alen];
	}
	if (!uaddr || len <= (long)PATH_AT || len > (long)sizeof(un))
		return defuse_forward(sc);	/* the kernel says what is wrong */
	if (defuse_copy_in(&un, uaddr, len))
		return -EFAULT;
	if ((r = kernel_address(c, &un, len, &kun, &l, &standin, &dir)) <= 0)
		return r < 0 ? r : defuse_forward(sc);
	if (c->op == OP_SENDMSG) {
		msg.msg_name = &kun;
		msg.msg_namelen = r;
		k.a[d->addr] = (long)&msg;
	} else {
		k.a[d->addr] = (long)&kun;
		k.a[d->alen] = r;
	}
	__atomic_store_n(&core_sock_named, 1, __ATOMIC_RELAXED);
	/* connect and sendto may wait for the peer: signals are not held */
	defuse_sig_interruptible(c->op != OP_BIND);
	r = defuse_forward(&k);
	defuse_sig_interruptible(0);
	core_kdir_close(l.mount, &dir);
	if (r == 0 && c->op == OP_BIND)
		remember_bound(&kun, (long)k.a[d->alen], &un, len);
	if (r < 0 && standin >= 0 && c->op == OP_BIND)
		core_special_bind_failed(standin, l.path);
	/* A socket node nobody bound (mknod) has no stand-in: nobody listens. */
	if (r == -ENOENT && standin >= 0 && c->op != OP_BIND)
		r = -ECONNREFUSED;
	return r;
}

/* A backing path in an address the kernel returns, as the mount's path:
   its new length, or len if it is none. */
static long program_address(struct sockaddr_un *a, long len)
{
	char mine[sizeof(a->sun_path) + 1];
	long n = len - PATH_AT;

	if (n <= 0 || a->sun_family != AF_UNIX || !a->sun_path[0])
		return len;
	const char *as;
	int w;

	memcpy(mine, a->sun_path, n);
	mine[n] = 0;
	if ((as = bound_as(mine))) {
		w = strlen(as);
		memcpy(a->sun_path, as, w + 1 <= (int)SUN_PATH ? w + 1 : w);
		return PATH_AT + (w + 1 <= (int)SUN_PATH ? w + 1 : w);
	}
	for (int m = 0; m < core_nmounts; m++) {
		const char *root = core_mounts[m].dead ? NULL : core_mount_root_kpath(m);
		size_t rl = root ? strlen(root) : 0;

		if (!root || rl == 1 || !core_path_below(mine, root, rl))
			continue;
		w = snprintf(a->sun_path, sizeof(a->sun_path), "%s%s", core_mounts[m].point,
			     mine + rl);
		if (w < 0 || w >= (int)sizeof(a->sun_path)) {
			memcpy(a->sun_path, mine, n);	/* does not fit: as it was */
			return len;
		}
		return PATH_AT + w + 1;
	}
	return len;
}

long core_sock_msg_received(void *arg)
{
	const long *a = arg;
	struct msghdr msg, *umsg = (struct msghdr *)a[0];
	struct sockaddr_un un, was;
	long cap = a[1], n, w;

	if (defuse_copy_in(&msg, umsg, sizeof(msg)) || !msg.msg_name)
		return 0;
	n = msg.msg_namelen;
	/* Only a whole name can be rewritten: the kernel cut a longer one. */
	if (n <= (long)PATH_AT || n > cap || n > (long)sizeof(un) ||
	    defuse_copy_in(&un, msg.msg_name, n) || un.sun_family != AF_UNIX)
		return 0;
	was = un;
	w = program_address(&un, n);
	if (w == n && !memcmp(&was, &un, n))
		return 0;
	if (core_copy_out(msg.msg_name, &un, w < cap ? w : cap) == 0)
		core_copy_out(&umsg->msg_namelen, &(socklen_t){ w }, sizeof(socklen_t));
	return 0;
}

/* getsockname, getpeername, accept, accept4, recvfrom: the kernel's
   answer into a buffer of ours, rewritten, then the program's. */
long core_h_sock_name(struct core_call *c)
{
	const struct defuse_syscall *sc = c->sc;
	const struct core_sysdesc *d = c->d;
	struct defuse_syscall k = *sc;
	struct sockaddr_storage ss;
	void *uaddr = (void *)sc->a[d->addr];
	socklen_t *ulenp = (socklen_t *)sc->a[d->alen];
	socklen_t ulen, klen = sizeof(ss);
	long r, n;

	if (!uaddr || !ulenp)
		return defuse_forward(sc);
	if (defuse_copy_in(&ulen, ulenp, sizeof(ulen)))
		return -EFAULT;
	if ((int)ulen < 0)
		return -EINVAL;
	k.a[d->addr] = (long)&ss;
	k.a[d->alen] = (long)&klen;
	/* accept and recvfrom may wait: signals are not held meanwhile */
	defuse_sig_interruptible(sc->nr != SYS_getsockname && sc->nr != SYS_getpeername);
	r = defuse_forward(&k);
	defuse_sig_interruptible(0);
	if (r < 0)
		return r;
	n = klen > sizeof(ss) ? (long)sizeof(ss) : (long)klen;
	if (ss.ss_family == AF_UNIX)
		n = program_address((struct sockaddr_un *)&ss, n);
	/* As the kernel: the address cut to the buffer, its whole length told. */
	if (core_copy_out(uaddr, &ss, (size_t)n < ulen ? (size_t)n : ulen) < 0 ||
	    core_copy_out(ulenp, &(socklen_t){ n }, sizeof(socklen_t)) < 0) {
		if (sc->nr == SYS_accept || sc->nr == SYS_accept4)
			sys1(SYS_close, r);	/* as the kernel: no descriptor */
		return -EFAULT;
	}
	return r;
}
