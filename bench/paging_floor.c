/*
 * The floor under the user-space pager's mmap scan (issue 10, docs/paging.md
 * "Costs"): what any pager that copies must pay, measured beside the native
 * scan it is compared with.
 *
 *   paging_floor FILE [MIB] [RUNS]
 *
 * FILE (at least MIB MiB, default 128) is on the native file system, in its
 * page cache.  Each run measures, in milliseconds:
 *
 *   scan   a MAP_PRIVATE read-only mapping of FILE touched once per KiB, then
 *          unmapped: bench/fsbench.c's mmap scan, natively
 *   read   FILE read through a 256 KiB buffer: the module's read of every
 *          page (the pager's first copy; a module without a kernel file
 *          copies as much from its own memory)
 *   fill   a new memfd of MIB MiB written from a 256 KiB buffer: a new
 *          page for every page of the cache, allocated and copied into
 *          (the pager's UFFDIO_COPY pays at least this)
 *   both   read and fill interleaved per 256 KiB: the least a copying pager
 *          does for the scan, with nothing else (no fault, no mapping)
 *   back   FILE written over with its own bytes through a 256 KiB buffer
 *          (read first, so one copy more than a write-back makes): about
 *          what sending every page back to the module costs, which
 *          writing every page of a MAP_SHARED mapping then msync adds
 *
 * and prints the medians with both/scan, the ratio no copying pager can go
 * below on this machine (FILE must be writable; its bytes stay the same).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: paging_floor FILE [MIB] [RUNS]\n");
        return 2;
    }
    size_t total = (size_t)(argc > 2 ? atol(argv[2]) : 128) << 20;
    int runs = argc > 3 ? atoi(argv[3]) : 7;
    double (*t)[5] = calloc(runs, sizeof(*t));
    char *buf = malloc(CHUNK);
    int fd = open(argv[1], O_RDWR | O_CLOEXEC);

    if (!t || !buf)
        die("malloc");
    if (fd < 0)
        die(argv[1]);
    memset(buf, 1, CHUNK);
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        const volatile unsigned char *m = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
        unsigned long sum = 0;

        if (m == MAP_FAILED)
            die("mmap");
        for (size_t off = 0; off < total; off += 1024)
            sum += m[off];
        munmap((void *)m, total);
        t[r][0] = now_ms() - t0;

        t0 = now_ms();
        for (size_t off = 0; off < total; off += CHUNK)
            if (pread(fd, buf, CHUNK, off) != CHUNK)
                die("pread");
        t[r][1] = now_ms() - t0;

        for (int both = 0; both < 2; both++) {
            int mfd = memfd_create("paging-floor", MFD_CLOEXEC);

            if (mfd < 0 || ftruncate(mfd, total) != 0)
                die("memfd");
            t0 = now_ms();
            for (size_t off = 0; off < total; off += CHUNK) {
                if (both && pread(fd, buf, CHUNK, off) != CHUNK)
                    die("pread");
                if (pwrite(mfd, buf, CHUNK, off) != CHUNK)
                    die("pwrite");
            }
            t[r][2 + both] = now_ms() - t0;
            close(mfd);
        }
        t0 = now_ms();
        for (size_t off = 0; off < total; off += CHUNK)
            if (pread(fd, buf, CHUNK, off) != CHUNK || pwrite(fd, buf, CHUNK, off) != CHUNK)
                die("write back");
        t[r][4] = now_ms() - t0;
        (void)sum;
    }
    double med[5];
    for (int k = 0; k < 5; k++) {
        double v[runs];

        for (int r = 0; r < runs; r++)
            v[r] = t[r][k];
        med[k] = median(v, runs);
    }
    printf("scan_ms=%.2f read_ms=%.2f fill_ms=%.2f both_ms=%.2f back_ms=%.2f "
           "both/scan=%.2fx\n", med[0], med[1], med[2], med[3], med[4], med[3] / med[0]);
    return 0;
}
