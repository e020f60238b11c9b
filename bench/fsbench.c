/* fsbench: file-system micro workloads timed inside one process.
 *
 *   fsbench meta    DIR [N]      create, stat, open+close, access, chmod and
 *                                unlink of N files (default 10000)
 *   fsbench readdir DIR [N] [P]  P passes (default 5) of opendir/readdir/
 *                                closedir over a directory of N entries
 *   fsbench small   DIR [N] [S]  write then read N files (default 4096) of
 *                                S bytes (default 14129)
 *   fsbench large   DIR [MIB] [REQ_KIB]
 *                                write then read one file of MIB MiB (default
 *                                128) in requests of REQ_KIB KiB (default 1024)
 *
 * DIR must exist; the workload works in a fresh subdirectory of it and
 * removes it afterwards (untimed).  Results go to stdout as KEY=VALUE lines:
 * ns per operation (create_ns, stat_ns, open_ns, access_ns, chmod_ns,
 * unlink_ns, readdir_ns per entry), us per file (small_write_us,
 * small_read_us), MB/s (large_write_mbs, large_read_mbs; 1 MB = 1e6 bytes)
 * with the elapsed time beside them (large_write_ms, large_read_ms).
 * Writes are not followed by fsync: the figures are interface costs on the
 * page cache.  Exit status 0 on success, 1 with a message on any error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "fsbench: %s %s: %s\n", what, path ? path : "",
            strerror(errno));
    exit(1);
}

static char workdir[4096];

static void make_workdir(const char *dir, const char *tag)
{
    snprintf(workdir, sizeof workdir, "%s/fsbench-%s-%d", dir, tag,
             (int)getpid());
    if (mkdir(workdir, 0755) != 0)
        die("mkdir", workdir);
}

static void remove_workdir(void)
{
    DIR *d = opendir(workdir);
    if (!d)
        die("opendir", workdir);
    struct dirent *e;
    char p[4400];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", workdir, e->d_name);
        if (unlink(p) != 0)
            die("unlink", p);
    }
    closedir(d);
    if (rmdir(workdir) != 0)
        die("rmdir", workdir);
}

/* Full paths, made before the clock starts. */
static char **make_names(long n)
{
    char **v = malloc(n * sizeof *v);
    if (!v)
        die("malloc", NULL);
    for (long i = 0; i < n; i++) {
        if (asprintf(&v[i], "%s/f%06ld", workdir, i) < 0)
            die("asprintf", NULL);
    }
    return v;
}

static void free_names(char **v, long n)
{
    for (long i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int cmd_meta(const char *dir, long n)
{
    make_workdir(dir, "meta");
    char **names = make_names(n);
    struct stat st;
    double t0, t;

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(names[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            die("create", names[i]);
        close(fd);
    }
    t = now_ns();
    printf("create_ns=%.1f\n", (t - t0) / n);

    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (stat(names[i], &st) != 0)
            die("stat", names[i]);
    t = now_ns();
    printf("stat_ns=%.1f\n", (t - t0) / n);

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(names[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("open", names[i]);
        close(fd);
    }
    t = now_ns();
    printf("open_ns=%.1f\n", (t - t0) / n);

    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (access(names[i], R_OK | W_OK) != 0)
            die("access", names[i]);
    t = now_ns();
    printf("access_ns=%.1f\n", (t - t0) / n);

    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (chmod(names[i], (i & 1) ? 0600 : 0640) != 0)
            die("chmod", names[i]);
    t = now_ns();
    printf("chmod_ns=%.1f\n", (t - t0) / n);

    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (unlink(names[i]) != 0)
            die("unlink", names[i]);
    t = now_ns();
    printf("unlink_ns=%.1f\n", (t - t0) / n);

    free_names(names, n);
    remove_workdir();
    return 0;
}

static int cmd_readdir(const char *dir, long n, long passes)
{
    make_workdir(dir, "readdir");
    char **names = make_names(n);
    for (long i = 0; i < n; i++) {
        int fd = open(names[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            die("create", names[i]);
        close(fd);
    }
    long seen = 0;
    double t0 = now_ns();
    for (long p = 0; p < passes; p++) {
        DIR *d = opendir(workdir);
        if (!d)
            die("opendir", workdir);
        errno = 0;
        while (readdir(d))
            seen++;
        if (errno)
            die("readdir", workdir);
        closedir(d);
    }
    double t = now_ns();
    if (seen != passes * (n + 2)) {
        fprintf(stderr, "fsbench: readdir saw %ld entries, expected %ld\n",
                seen, passes * (n + 2));
        return 1;
    }
    printf("readdir_ns=%.1f\n", (t - t0) / seen);
    free_names(names, n);
    remove_workdir();
    return 0;
}

static void write_all(int fd, const char *buf, size_t len, const char *path)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write", path);
        }
        buf += w;
        len -= (size_t)w;
    }
}

static size_t read_all(int fd, char *buf, size_t len, const char *path)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read", path);
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static int cmd_small(const char *dir, long n, long size)
{
    make_workdir(dir, "small");
    char **names = make_names(n);
    char *buf = malloc(size + 1), *in = malloc(size + 1);
    if (!buf || !in)
        die("malloc", NULL);
    for (long i = 0; i < size; i++)
        buf[i] = (char)('a' + i % 26);

    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(names[i], O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            die("create", names[i]);
        write_all(fd, buf, size, names[i]);
        if (close(fd) != 0)
            die("close", names[i]);
    }
    double t = now_ns();
    printf("small_write_us=%.3f\n", (t - t0) / n / 1e3);

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(names[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("open", names[i]);
        /* Ask for one byte more than the size to see end of file. */
        size_t got = read_all(fd, in, size + 1, names[i]);
        close(fd);
        if (got != (size_t)size) {
            fprintf(stderr, "fsbench: %s: read %zu bytes, expected %ld\n",
                    names[i], got, size);
            return 1;
        }
    }
    t = now_ns();
    printf("small_read_us=%.3f\n", (t - t0) / n / 1e3);
    if (memcmp(buf, in, size) != 0) {
        fprintf(stderr, "fsbench: small files: data differ\n");
        return 1;
    }
    free(buf);
    free(in);
    free_names(names, n);
    remove_workdir();
    return 0;
}

static int cmd_large(const char *dir, long mib, long req_kib)
{
    make_workdir(dir, "large");
    size_t req = (size_t)req_kib * 1024, total = (size_t)mib << 20;
    char *buf = malloc(req);
    if (!buf)
        die("malloc", NULL);
    for (size_t i = 0; i < req; i++)
        buf[i] = (char)(i * 7 + 1);
    char path[4400];
    snprintf(path, sizeof path, "%s/large", workdir);

    double t0 = now_ns();
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    for (size_t off = 0; off < total; off += req)
        write_all(fd, buf, req, path);
    if (close(fd) != 0)
        die("close", path);
    double t = now_ns();
    printf("large_write_mbs=%.1f\nlarge_write_ms=%.3f\n",
           total / ((t - t0) / 1e9) / 1e6, (t - t0) / 1e6);

    t0 = now_ns();
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf, req);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read", path);
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    t = now_ns();
    if (got != total) {
        fprintf(stderr, "fsbench: %s: read %zu bytes, expected %zu\n", path,
                got, total);
        return 1;
    }
    printf("large_read_mbs=%.1f\nlarge_read_ms=%.3f\n",
           total / ((t - t0) / 1e9) / 1e6, (t - t0) / 1e6);
    free(buf);
    remove_workdir();
    return 0;
}

static long arg(int argc, char **argv, int i, long dflt)
{
    if (argc <= i)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v <= 0) {
        fprintf(stderr, "fsbench: bad number '%s'\n", argv[i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: fsbench meta DIR [N] | readdir DIR [N] [PASSES] |\n"
                "       small DIR [N] [SIZE] | large DIR [MIB] [REQ_KIB]\n");
        return 2;
    }
    const char *cmd = argv[1], *dir = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(cmd, "meta"))
        return cmd_meta(dir, arg(argc, argv, 3, 10000));
    if (!strcmp(cmd, "readdir"))
        return cmd_readdir(dir, arg(argc, argv, 3, 10000),
                           arg(argc, argv, 4, 5));
    if (!strcmp(cmd, "small"))
        return cmd_small(dir, arg(argc, argv, 3, 4096),
                         arg(argc, argv, 4, 14129));
    if (!strcmp(cmd, "large"))
        return cmd_large(dir, arg(argc, argv, 3, 128), arg(argc, argv, 4, 1024));
    fprintf(stderr, "fsbench: unknown workload '%s'\n", cmd);
    return 2;
}
