/*
 * ioctl on an emulated file: the requests the kernel answers for every file
 * system in fs/ioctl.c (do_vfs_ioctl, file_ioctl) before a file system's
 * own handler, answered here as the kernel answers them for a file system
 * that has no handler and no fiemap, bmap, freeze or remap operation
 * (tmpfs answers most of them so; kernel FUSE all of them).
 *
 * Why: programs use them on any file.  xfs_io, fsstress and the xfstests
 * reserve and punch space with FS_IOC_RESVSP64 / FS_IOC_UNRESVSP64 (the
 * kernel turns them into fallocate on every file system), cp and filefrag
 * ask FS_IOC_FIEMAP and fall back on EOPNOTSUPP (not on ENOTTY), `cp
 * --reflink=auto` tries FICLONE, FIONREAD and FIONBIO are classics.
 * Before, each was ENOTTY and a reservation or punch simply did not
 * happen: fsstress left other bytes in its files than natively.
 *
 * What goes through the core's own calls (fallocate, lseek, fcntl)
 * inherits their checks and the pager's coherence.  The rest (the file
 * system's own requests: FS_IOC_GETFLAGS, FS_IOC_FSGETXATTR, a FUSE file
 * system's private ones) go to the module's ioctl as kernel FUSE passes
 * them on: the argument's bytes as the request number sizes them
 * (module.h); without one, ENOTTY.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include "core/core.h"
#include "core/syscalls.h"
#include "kernel/sys.h"
#include "module/call.h"

/* struct space_resv of FS_IOC_RESVSP and its kin (uapi/linux/falloc.h has
   only the request numbers' users; the layout is the kernel's). */
struct space_resv_ {
	int16_t l_type;
	int16_t l_whence;
	int64_t l_start;
	int64_t l_len;
	int32_t l_sysid;
	uint32_t l_pid;
	int32_t l_pad[4];
};

/* The request numbers, for headers that predate them. */
#ifndef FS_IOC_RESVSP
#define FS_IOC_RESVSP _IOW('X', 40, struct space_resv_)
#endif
#ifndef FS_IOC_UNRESVSP
#define FS_IOC_UNRESVSP _IOW('X', 41, struct space_resv_)
#endif
#ifndef FS_IOC_RESVSP64
#define FS_IOC_RESVSP64 _IOW('X', 42, struct space_resv_)
#endif
#ifndef FS_IOC_UNRESVSP64
#define FS_IOC_UNRESVSP64 _IOW('X', 43, struct space_resv_)
#endif
#ifndef FS_IOC_ZERO_RANGE
#define FS_IOC_ZERO_RANGE _IOW('X', 57, struct space_resv_)
#endif

/* A call of the core's own on f, as if the program had made it. */
static long own_call(struct core_fd *f, long nr, long a1, long a2, long a3)
{
	struct defuse_syscall sc = { nr, { -1, a1, a2, a3, 0, 0 } };

	return core_emulated_call(&sc, f);
}

static long put_int(long uptr, int v)
{
	return core_copy_out((void *)uptr, &v, sizeof(v));
}

static long get_int(long uptr, int *v)
{
	return defuse_copy_in(v, (const void *)uptr, sizeof(*v)) ? -EFAULT : 0;
}

/* FS_IOC_RESVSP and its kin: fallocate with FALLOC_FL_KEEP_SIZE added,
   the start taken as l_whence says (ioctl_preallocate); size: the file's. */
static long preallocate(struct core_fd *f, int mode, long uptr, off_t size)
{
	struct space_resv_ sr;
	long r;

	if (defuse_copy_in(&sr, (const void *)uptr, sizeof(sr)))
		return -EFAULT;
	switch (sr.l_whence) {
	case SEEK_SET:
		break;
	case SEEK_CUR:
		if ((r = own_call(f, SYS_lseek, 0, SEEK_CUR, 0)) < 0)
			return r;
		sr.l_start += r;
		break;
	case SEEK_END:
		sr.l_start += size;
		break;
	default:
		return -EINVAL;
	}
	return own_call(f, SYS_fallocate, mode | FALLOC_FL_KEEP_SIZE, sr.l_start, sr.l_len);
}

/* FICLONE, FICLONERANGE: as vfs_clone_file_range for a file system with
   no remap operation, after the checks that come first. */
static long clone_range(struct core_fd *dst, const struct stat *dst_st, long srcfd)
{
	struct core_fd *src = core_fd_acquire(srcfd);
	struct stat st;
	int sacc, dacc = dst->open->ofd->flags & O_ACCMODE;
	long r;

	if (!src) {
		/* A kernel file: another file system, unless it is no file
		   the kernel would take (none, or O_PATH). */
		r = sys2(SYS_fcntl, srcfd, F_GETFL);
		if (sys_failed(r) || (r & O_PATH))
			return -EBADF;
		return -EXDEV;
	}
	/* A kernel-backed file (no open file of the core's) is the
	   kernel's: another file system's, or in this mount one that cannot
	   be cloned into an emulated file. */
	if (!src->open) {
		r = src->mount != dst->mount ? -EXDEV : -EOPNOTSUPP;
		goto out;
	}
	if (src->mount != dst->mount || (src->open->ofd->flags & O_PATH)) {
		r = (src->open->ofd->flags & O_PATH) ? -EBADF : -EXDEV;
		goto out;
	}
	if ((r = mod_fgetattr(CORE_REF(src->mount), src->open->fh, src->path, &st)) < 0)
		goto out;
	sacc = src->open->ofd->flags & O_ACCMODE;
	if (S_ISDIR(st.st_mode) || S_ISDIR(dst_st->st_mode))
		r = -EISDIR;
	else if (!S_ISREG(st.st_mode) || !S_ISREG(dst_st->st_mode))
		r = -EINVAL;
	else if (sacc == O_WRONLY || dacc == O_RDONLY || (dst->open->ofd->flags & O_APPEND))
		r = -EBADF;
	else
		r = -EOPNOTSUPP;
out:
	core_fd_release(src);
	return r;
}

/*
 * A request of the file system's own, to the module (module.h, ioctl):
 * its argument's bytes in and out as the request's number says, as
 * kernel FUSE does for a file system's "restricted" ioctls.
 */
static long module_ioctl(struct core_fd *f, unsigned int req, long arg)
{
	/* _IOC_SIZE is at most 16 KiB - 1; the cold stack has room. */
	uint8_t data[1 << _IOC_SIZEBITS];
	unsigned int dir = _IOC_DIR(req);
	size_t size = mod_ioctl_size(req);
	long r;

	memset(data, 0, size);
	if ((dir & _IOC_WRITE) && size && defuse_copy_in(data, (const void *)arg, size))
		return -EFAULT;
	r = mod_ioctl(CORE_REF(f->mount), f->open->fh, req, (unsigned long)arg, data, size);
	if (r >= 0 && (dir & _IOC_READ) && size) {
		long w = core_copy_out((void *)arg, data, size);

		if (w < 0)
			return w;
	}
	return r;
}

long core_emulated_ioctl(const struct defuse_syscall *sc, struct core_fd *f)
{
	unsigned int req = (unsigned int)sc->a[1];
	long arg = sc->a[2], r;
	struct stat st;
	int v;

	switch (req) {
	case FIOCLEX:
	case FIONCLEX:
		/* On the descriptor: the placeholder's flag is the one. */
		return sys3(SYS_fcntl, sc->a[0], F_SETFD, req == FIOCLEX ? FD_CLOEXEC : 0);
	case FIONBIO:
		if ((r = get_int(arg, &v)) < 0 || (r = own_call(f, SYS_fcntl, F_GETFL, 0, 0)) < 0)
			return r;
		return own_call(f, SYS_fcntl, F_SETFL, v ? (r | O_NONBLOCK) : (r & ~O_NONBLOCK), 0);
	case FIOASYNC:
		/* No fasync operation: only a request that changes nothing
		   succeeds. */
		if ((r = get_int(arg, &v)) < 0 || (r = own_call(f, SYS_fcntl, F_GETFL, 0, 0)) < 0)
			return r;
		return !v == !(r & O_ASYNC) ? 0 : -ENOTTY;
	case FIFREEZE:
	case FITHAW:
		return core_capable(CAP_SYS_ADMIN) ? -EOPNOTSUPP : -EPERM;
	}
	if ((r = mod_fgetattr(CORE_REF(f->mount), f->open->fh, f->path, &st)) < 0)
		return r;
	switch (req) {
	case FS_IOC_FIEMAP:
		return -EOPNOTSUPP;
	case FIGETBSZ:
		return put_int(arg, st.st_blksize > 0 ? (int)st.st_blksize : 4096);
	case FIOQSIZE: {
		/* What the file takes: its blocks, as inode_get_bytes. */
		int64_t bytes = (int64_t)st.st_blocks * 512;

		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			return -ENOTTY;
		return core_copy_out((void *)arg, &bytes, sizeof(bytes));
	}
	case FICLONE:
		return clone_range(f, &st, arg);
	case FICLONERANGE: {
		struct file_clone_range fcr;

		if (defuse_copy_in(&fcr, (const void *)arg, sizeof(fcr)))
			return -EFAULT;
		return clone_range(f, &st, fcr.src_fd);
	}
	case FIDEDUPERANGE: {
		struct file_dedupe_range fdr;

		if (defuse_copy_in(&fdr, (const void *)arg, sizeof(fdr)))
			return -EFAULT;
		if (offsetof(struct file_dedupe_range, info) +
		    (size_t)fdr.dest_count * sizeof(struct file_dedupe_range_info) > 4096)
			return -ENOMEM;
		if (fdr.reserved1 || fdr.reserved2)
			return -EINVAL;
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		return S_ISREG(st.st_mode) ? -EOPNOTSUPP : -EINVAL;
	}
	}
	/* The rest of the kernel's are for regular files only. */
	if (!S_ISREG(st.st_mode))
		return module_ioctl(f, req, arg);
	switch (req) {
	case FIONREAD: {
		off_t at = own_call(f, SYS_lseek, 0, SEEK_CUR, 0);

		if (at < 0)
			return at;
		return put_int(arg, (int)(st.st_size - at));
	}
	case FIBMAP:
		/* No block map: bmap fails and the block reads as 0. */
		if (!core_capable(CAP_SYS_RAWIO))
			return -EPERM;
		if ((r = get_int(arg, &v)) < 0)
			return r;
		if (v < 0)
			return -EINVAL;
		return (r = put_int(arg, 0)) < 0 ? r : -EINVAL;
	case FS_IOC_RESVSP:
	case FS_IOC_RESVSP64:
		return preallocate(f, 0, arg, st.st_size);
	case FS_IOC_UNRESVSP:
	case FS_IOC_UNRESVSP64:
		return preallocate(f, FALLOC_FL_PUNCH_HOLE, arg, st.st_size);
	case FS_IOC_ZERO_RANGE:
		return preallocate(f, FALLOC_FL_ZERO_RANGE, arg, st.st_size);
	}
	return module_ioctl(f, req, arg);
}
