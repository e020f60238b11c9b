/*
 * defuse_fs_ids_are_real and defuse_fs_ids (module.h): this thread's
 * file-system IDs, and whether they are its real IDs, for modules that
 * check permissions themselves.  Asking the kernel takes four system calls
 * (getuid, getgid and the two setfs*id(-1) probes); the answers are kept
 * in the thread's state and only asked again after the thread made a
 * set*id call (dispatch.c, SP_SETID): IDs are per thread in Linux, and
 * glibc's setuid() makes every thread call the kernel itself.
 *
 * core_capable: whether the calling thread has a capability, for the
 * calls whose kernel check the core must make itself (an ioctl or a
 * chroot the kernel never sees).
 */
#include <linux/capability.h>
#include "kernel/sys.h"
#include "core/core.h"

int core_capable(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (sys_failed(sys2(SYS_capget, &h, d)))
		return 0;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

static struct defuse_thread *ids_asked(void)
{
	struct defuse_thread *self = &defuse_self;

	if (!self->ids_known) {
		long fsuid = sys1(SYS_setfsuid, -1), fsgid = sys1(SYS_setfsgid, -1);

		self->fsuid = (unsigned int)fsuid;
		self->fsgid = (unsigned int)fsgid;
		self->ids_known = fsuid == sys0(SYS_getuid) && fsgid == sys0(SYS_getgid) ? 1 : 2;
	}
	return self;
}

__attribute__((visibility("default"))) int defuse_fs_ids_are_real(void)
{
	return ids_asked()->ids_known == 1;
}

__attribute__((visibility("default"))) void defuse_fs_ids(uid_t *uid, gid_t *gid)
{
	const struct defuse_thread *self = ids_asked();

	*uid = self->fsuid;
	*gid = self->fsgid;
}
