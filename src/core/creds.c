/*
 * defuse_fs_ids_are_real (module.h): whether this thread's file-system IDs
 * are its real IDs, for modules answering access(2).  Asking the kernel
 * takes four system calls (getuid, getgid and the two setfs*id(-1) probes);
 * the answer is kept in the thread's state and only asked again after the
 * thread made a set*id call (dispatch.c, SP_SETID): IDs are per thread in
 * Linux, and glibc's setuid() makes every thread call the kernel itself.
 */
#include "kernel/sys.h"
#include "core/core.h"

__attribute__((visibility("default"))) int defuse_fs_ids_are_real(void)
{
	struct defuse_thread *self = &defuse_self;

	if (!self->ids_known) {
		long fsuid = sys1(SYS_setfsuid, -1), fsgid = sys1(SYS_setfsgid, -1);

		self->ids_known = fsuid == sys0(SYS_getuid) && fsgid == sys0(SYS_getgid) ? 1 : 2;
	}
	return self->ids_known == 1;
}
