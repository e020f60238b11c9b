/*
 * The libfuse 2 stand-in's picture of libfuse 2's ABI (modules/fuse/fuse2.h)
 * against Debian's libfuse-dev headers: every member of fuse_operations,
 * fuse_file_info and fuse_conn_info at the same place, the bit fields at
 * the same bits.  Prints one line per difference; exit status 1 if any.
 */
#define FUSE_USE_VERSION 29
#include <fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "fuse2.h"

static int bad;

#define SAME(real, ours, m)                                                       \
	do {                                                                      \
		if (offsetof(struct real, m) != offsetof(struct ours, m)) {       \
			printf("%s.%s: at %zu, stand-in at %zu\n", #real, #m,     \
			       offsetof(struct real, m), offsetof(struct ours, m)); \
			bad = 1;                                                  \
		}                                                                 \
	} while (0)

#define SIZE(real, ours)                                                          \
	do {                                                                      \
		if (sizeof(struct real) != sizeof(struct ours)) {                 \
			printf("%s: %zu bytes, stand-in %zu\n", #real,            \
			       sizeof(struct real), sizeof(struct ours));         \
			bad = 1;                                                  \
		}                                                                 \
	} while (0)

/* A bit field: set it alone in one, the same bytes must set it in the other. */
#define BIT(real, ours, m)                                                        \
	do {                                                                      \
		struct real r_;                                                   \
		struct ours o_;                                                   \
		memset(&r_, 0, sizeof(r_));                                       \
		r_.m = 1;                                                         \
		memcpy(&o_, &r_, sizeof(o_));                                     \
		if (o_.m != 1) {                                                  \
			printf("%s.%s: another bit in the stand-in\n", #real, #m); \
			bad = 1;                                                  \
		}                                                                 \
	} while (0)

int main(void)
{
	SIZE(fuse_file_info, fuse2_file_info);
	SAME(fuse_file_info, fuse2_file_info, flags);
	SAME(fuse_file_info, fuse2_file_info, fh_old);
	SAME(fuse_file_info, fuse2_file_info, writepage);
	SAME(fuse_file_info, fuse2_file_info, fh);
	SAME(fuse_file_info, fuse2_file_info, lock_owner);
	BIT(fuse_file_info, fuse2_file_info, direct_io);
	BIT(fuse_file_info, fuse2_file_info, keep_cache);
	BIT(fuse_file_info, fuse2_file_info, flush);
	BIT(fuse_file_info, fuse2_file_info, nonseekable);
	BIT(fuse_file_info, fuse2_file_info, flock_release);

	SIZE(fuse_conn_info, fuse2_conn_info);
	SAME(fuse_conn_info, fuse2_conn_info, proto_major);
	SAME(fuse_conn_info, fuse2_conn_info, proto_minor);
	SAME(fuse_conn_info, fuse2_conn_info, async_read);
	SAME(fuse_conn_info, fuse2_conn_info, max_write);
	SAME(fuse_conn_info, fuse2_conn_info, max_readahead);
	SAME(fuse_conn_info, fuse2_conn_info, capable);
	SAME(fuse_conn_info, fuse2_conn_info, want);
	SAME(fuse_conn_info, fuse2_conn_info, max_background);
	SAME(fuse_conn_info, fuse2_conn_info, congestion_threshold);
	if (FUSE_CAP_BIG_WRITES != FUSE2_CAP_BIG_WRITES) {
		printf("FUSE_CAP_BIG_WRITES: 0x%x, stand-in 0x%x\n", FUSE_CAP_BIG_WRITES,
		       FUSE2_CAP_BIG_WRITES);
		bad = 1;
	}

	SIZE(fuse_operations, fuse2_operations);
#define OP(m) SAME(fuse_operations, fuse2_operations, m)
	OP(getattr); OP(readlink); OP(getdir); OP(mknod); OP(mkdir); OP(unlink);
	OP(rmdir); OP(symlink); OP(rename); OP(link); OP(chmod); OP(chown);
	OP(truncate); OP(utime); OP(open); OP(read); OP(write); OP(statfs);
	OP(flush); OP(release); OP(fsync); OP(setxattr); OP(getxattr);
	OP(listxattr); OP(removexattr); OP(opendir); OP(readdir); OP(releasedir);
	OP(fsyncdir); OP(init); OP(destroy); OP(access); OP(create); OP(ftruncate);
	OP(fgetattr); OP(lock); OP(utimens); OP(bmap); OP(ioctl); OP(poll);
	OP(write_buf); OP(read_buf); OP(flock); OP(fallocate);
	BIT(fuse_operations, fuse2_operations, flag_nullpath_ok);
	BIT(fuse_operations, fuse2_operations, flag_nopath);
	BIT(fuse_operations, fuse2_operations, flag_utime_omit_ok);

	printf("%s\n", bad ? "FAIL: the stand-in's libfuse 2 layout differs" :
			     "ok   libfuse 2's layout: fuse_operations, fuse_file_info, "
			     "fuse_conn_info");
	return bad;
}
