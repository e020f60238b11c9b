/*
 * rpcping: the round trip of one NFS call with nothing of DEFUSE around it.
 *
 *   rpcping SERVER EXPORT COUNT
 *
 * Mounts the export with libnfs's own synchronous API and times COUNT
 * stats of its root (each one GETATTR: libnfs looks up no component for
 * "/"), one at a time.  Prints "getattr_us X" (per call, the median of 5
 * runs of COUNT): the floor under every in-process operation that must
 * ask the server (docs/nfs.md, Performance).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <nfsc/libnfs.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct nfs_context *nfs;
	struct nfs_stat_64 st;
	double per[5];
	long n;

	if (argc != 4 || (n = atol(argv[3])) < 1) {
		fprintf(stderr, "usage: rpcping SERVER EXPORT COUNT\n");
		return 2;
	}
	if (!(nfs = nfs_init_context()) || nfs_set_version(nfs, 3) < 0 ||
	    nfs_mount(nfs, argv[1], argv[2]) < 0) {
		fprintf(stderr, "rpcping: mount %s:%s: %s\n", argv[1], argv[2],
			nfs ? nfs_get_error(nfs) : "out of memory");
		return 1;
	}
	for (int r = 0; r < 5; r++) {
		double t0 = now_us();

		for (long i = 0; i < n; i++)
			if (nfs_stat64(nfs, "/", &st) < 0) {
				fprintf(stderr, "rpcping: stat: %s\n", nfs_get_error(nfs));
				return 1;
			}
		per[r] = (now_us() - t0) / n;
	}
	qsort(per, 5, sizeof(per[0]), cmp);
	printf("getattr_us %.1f (min %.1f max %.1f, 5 runs of %ld)\n", per[2], per[0], per[4], n);
	nfs_destroy_context(nfs);
	return 0;
}
