/*
 * defuse_fs_ids_are_real and defuse_fs_ids (module.h): this thread's
 * file-system IDs, and whether they are its real IDs, for modules that
 * check permissions themselves.  Asking the kernel takes four system calls
 * (getuid, getgid and the two setfs*id(-1) probes); the answers are kept
 * in the thread's state and only asked again after the thread made a
 * set*id call (dispatch.c, SP_SETID): IDs are per thread in Linux, and
 * glibc's setuid() makes every thread call the kernel itself.
 */
#include "kernel/sys.h"
#include "core/core.h"

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
