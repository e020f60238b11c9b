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
 *   fsbench growing DIR [N] [MIB]
 *                                write then read N files (default 2048) of
 *                                linearly growing sizes that sum to MIB MiB
 *                                (default 128), one call per file
 *   fsbench mmap    DIR [MIB]    map a file of MIB MiB (default 128, written
 *                                untimed) read-only and touch one byte per KiB
 *   fsbench mmaprand DIR [MIB] [N]
 *                                map a file of MIB MiB (default 1024, written
 *                                untimed) read-only and copy N (default
 *                                20000) random page-aligned 4 KiB blocks out
 *   fsbench mmapwrite DIR [MIB]  map a file of MIB MiB (default 256, written
 *                                untimed) MAP_SHARED, write one byte into
 *                                every page, msync(MS_SYNC)
 *   fsbench mmapfault DIR [MIB]  map a file of MIB MiB (default 256, written
 *                                untimed) and touch one page per 256 KiB:
 *                                each touch a first-touch fault
 *
 * DIR must exist; the workload works in a fresh subdirectory of it and
 * removes it afterwards (untimed).  Results go to stdout as KEY=VALUE lines:
 * ns per operation (create_ns, stat_ns, open_ns, access_ns, chmod_ns,
 * unlink_ns, readdir_ns per entry), us per file (small_write_us,
 * small_read_us), MB/s (large_write_mbs, large_read_mbs; 1 MB = 1e6 bytes)
 * with the elapsed time beside them (large_write_ms, large_read_ms), ms for
 * the whole set (grow_write_ms, grow_read_ms, mmap_ms, mmapwrite_ms), us
 * per random read (mmaprand_us, the mapping's set-up included) and per
 * first-touch fault (mmapfault_us).
 * Each timed phase also prints the context switches it caused: PHASE_vcs and
 * PHASE_ivcs (voluntary, involuntary) of this process, and its CPU time
 * (PHASE_cpu_ms, user + system); when the environment names a file-system
 * daemon (FSBENCH_DAEMON_PID=PID), the same for all of that process's
 * threads as PHASE_dvcs, PHASE_divcs and PHASE_dcpu_ms (read from /proc
 * between phases, outside the timed part; CPU time in clock ticks).  PHASE is the time key
 * without its unit suffix (create, small_write, grow_read, mmap, ...).
 * Small and growing files are written with one write() and read with one
 * read() per file, as the paper measures them; larger requests loop.
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
#include <sys/mman.h>
#include <sys/resource.h>
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

/* Context switches of this process and of the daemon, taken between phases. */
struct ctxsw {
    long vcs, ivcs, dvcs, divcs;
    double cpu_ms, dcpu_ms; /* user + system time */
};

static long daemon_pid = -1;

/* Sum over the daemon's threads: a FUSE daemon serves from several. */
static void daemon_ctxsw(long *v, long *iv)
{
    char path[64], line[256], tpath[128];
    *v = *iv = 0;
    snprintf(path, sizeof path, "/proc/%ld/task", daemon_pid);
    DIR *d = opendir(path);
    if (!d)
        die("opendir (is FSBENCH_DAEMON_PID alive?)", path);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(tpath, sizeof tpath, "%s/%.32s/status", path, e->d_name);
        FILE *f = fopen(tpath, "re");
        if (!f)
            continue; /* the thread ended meanwhile */
        while (fgets(line, sizeof line, f)) {
            long n;
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
                *v += n;
            else if (sscanf(line, "nonvoluntary_ctxt_switches: %ld", &n) == 1)
                *iv += n;
        }
        fclose(f);
    }
    closedir(d);
}

/* The whole daemon's CPU time, exited threads included (/proc/PID/stat
 * fields 14 and 15, in clock ticks). */
static double daemon_cpu_ms(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", daemon_pid);
    FILE *f = fopen(path, "re");
    if (!f)
        die("fopen (is FSBENCH_DAEMON_PID alive?)", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: skip past the last ')'. */
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                     &ut, &st) != 2) {
        fprintf(stderr, "fsbench: cannot parse %s\n", path);
        exit(1);
    }
    return (ut + st) * 1e3 / sysconf(_SC_CLK_TCK);
}

static struct ctxsw ctx_now(void)
{
    struct rusage ru;
    struct ctxsw c = {0, 0, 0, 0, 0, 0};
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        die("getrusage", NULL);
    c.vcs = ru.ru_nvcsw;
    c.ivcs = ru.ru_nivcsw;
    c.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    if (daemon_pid > 0) {
        daemon_ctxsw(&c.dvcs, &c.divcs);
        c.dcpu_ms = daemon_cpu_ms();
    }
    return c;
}

static void ctx_print(const char *phase, struct ctxsw a)
{
    struct ctxsw b = ctx_now();
    printf("%s_vcs=%ld\n%s_ivcs=%ld\n%s_cpu_ms=%.3f\n", phase, b.vcs - a.vcs,
           phase, b.ivcs - a.ivcs, phase, b.cpu_ms - a.cpu_ms);
    if (daemon_pid > 0)
        printf("%s_dvcs=%ld\n%s_divcs=%ld\n%s_dcpu_ms=%.1f\n", phase,
               b.dvcs - a.dvcs, phase, b.divcs - a.divcs, phase,
               b.dcpu_ms - a.dcpu_ms);
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
    struct ctxsw c;

    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(names[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            die("create", names[i]);
        close(fd);
    }
    t = now_ns();
    printf("create_ns=%.1f\n", (t - t0) / n);
    ctx_print("create", c);

    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (stat(names[i], &st) != 0)
            die("stat", names[i]);
    t = now_ns();
    printf("stat_ns=%.1f\n", (t - t0) / n);
    ctx_print("stat", c);

    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(names[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("open", names[i]);
        close(fd);
    }
    t = now_ns();
    printf("open_ns=%.1f\n", (t - t0) / n);
    ctx_print("open", c);

    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (access(names[i], R_OK | W_OK) != 0)
            die("access", names[i]);
    t = now_ns();
    printf("access_ns=%.1f\n", (t - t0) / n);
    ctx_print("access", c);

    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (chmod(names[i], (i & 1) ? 0600 : 0640) != 0)
            die("chmod", names[i]);
    t = now_ns();
    printf("chmod_ns=%.1f\n", (t - t0) / n);
    ctx_print("chmod", c);

    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (unlink(names[i]) != 0)
            die("unlink", names[i]);
    t = now_ns();
    printf("unlink_ns=%.1f\n", (t - t0) / n);
    ctx_print("unlink", c);

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
    struct ctxsw c = ctx_now();
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
    ctx_print("readdir", c);
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

/* Reads exactly len bytes: one read() for a regular file, as the
 * paper's "one call per file"; a short read is an error, not end of file. */
static void read_exact(int fd, char *buf, size_t len, const char *path)
{
    if (read_all(fd, buf, len, path) != len) {
        fprintf(stderr, "fsbench: %s: file shorter than %zu bytes\n", path,
                len);
        exit(1);
    }
}

static void write_file(const char *path, const char *buf, size_t len)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    write_all(fd, buf, len, path);
    if (close(fd) != 0)
        die("close", path);
}

static void read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    read_exact(fd, buf, len, path);
    close(fd);
}

static char *pattern(size_t len)
{
    char *buf = malloc(len ? len : 1);
    if (!buf)
        die("malloc", NULL);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + i % 26);
    return buf;
}

static int cmd_small(const char *dir, long n, long size)
{
    make_workdir(dir, "small");
    char **names = make_names(n);
    char *buf = pattern(size), *in = malloc(size);
    if (!in)
        die("malloc", NULL);

    struct ctxsw c = ctx_now();
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        write_file(names[i], buf, size);
    double t = now_ns();
    printf("small_write_us=%.3f\n", (t - t0) / n / 1e3);
    ctx_print("small_write", c);

    int differ = 0;
    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        read_file(names[i], in, size);
        differ |= in[size - 1] != buf[size - 1];
    }
    t = now_ns();
    printf("small_read_us=%.3f\n", (t - t0) / n / 1e3);
    ctx_print("small_read", c);
    if (differ || memcmp(buf, in, size) != 0) {
        fprintf(stderr, "fsbench: small files: data differ\n");
        return 1;
    }
    free(buf);
    free(in);
    free_names(names, n);
    remove_workdir();
    return 0;
}

/* Sizes grow linearly (size i proportional to i + 1) and sum to total. */
static size_t grow_size(long i, long n, size_t total)
{
    unsigned __int128 a = (unsigned __int128)total * (unsigned long)i
                          * (unsigned long)(i + 1);
    unsigned __int128 b = (unsigned __int128)total * (unsigned long)(i + 1)
                          * (unsigned long)(i + 2);
    unsigned long d = (unsigned long)n * (unsigned long)(n + 1);
    return (size_t)(b / d - a / d);
}

static int cmd_growing(const char *dir, long n, long mib)
{
    make_workdir(dir, "growing");
    char **names = make_names(n);
    size_t total = (size_t)mib << 20, max = 0, sum = 0;
    for (long i = 0; i < n; i++) {
        size_t sz = grow_size(i, n, total);
        sum += sz;
        if (sz > max)
            max = sz;
    }
    if (sum != total) {
        fprintf(stderr, "fsbench: growing sizes sum to %zu, not %zu\n", sum,
                total);
        return 1;
    }
    char *buf = pattern(max), *in = malloc(max ? max : 1);
    if (!in)
        die("malloc", NULL);

    struct ctxsw c = ctx_now();
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        write_file(names[i], buf, grow_size(i, n, total));
    double t = now_ns();
    printf("grow_write_ms=%.3f\n", (t - t0) / 1e6);
    ctx_print("grow_write", c);

    c = ctx_now();
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        read_file(names[i], in, grow_size(i, n, total));
    t = now_ns();
    printf("grow_read_ms=%.3f\n", (t - t0) / 1e6);
    ctx_print("grow_read", c);
    if (memcmp(buf, in, grow_size(n - 1, n, total)) != 0) {
        fprintf(stderr, "fsbench: growing files: data differ\n");
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
    size_t total = (size_t)mib << 20, req = (size_t)req_kib * 1024;
    if (req > total)
        req = total;
    char *buf = malloc(req);
    if (!buf)
        die("malloc", NULL);
    for (size_t i = 0; i < req; i++)
        buf[i] = (char)(i * 7 + 1);
    char path[4400];
    snprintf(path, sizeof path, "%s/large", workdir);

    struct ctxsw c = ctx_now();
    double t0 = now_ns();
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    for (size_t off = 0; off < total; off += req)
        write_all(fd, buf, req < total - off ? req : total - off, path);
    if (close(fd) != 0)
        die("close", path);
    double t = now_ns();
    printf("large_write_mbs=%.1f\nlarge_write_ms=%.3f\n",
           total / ((t - t0) / 1e9) / 1e6, (t - t0) / 1e6);
    ctx_print("large_write", c);

    c = ctx_now();
    t0 = now_ns();
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    for (size_t off = 0; off < total; off += req)
        read_exact(fd, buf, req < total - off ? req : total - off, path);
    close(fd);
    t = now_ns();
    printf("large_read_mbs=%.1f\nlarge_read_ms=%.3f\n",
           total / ((t - t0) / 1e9) / 1e6, (t - t0) / 1e6);
    ctx_print("large_read", c);
    for (size_t i = 0; i < req; i += 4096)
        if (buf[i] != (char)(i * 7 + 1)) {
            fprintf(stderr, "fsbench: %s: data differ\n", path);
            return 1;
        }
    free(buf);
    remove_workdir();
    return 0;
}

/* MAP_PRIVATE and read-only, so that every system can serve it (emulated
 * files give private mappings a snapshot; shared ones are not there yet). */
static int cmd_mmap(const char *dir, long mib)
{
    make_workdir(dir, "mmap");
    size_t total = (size_t)mib << 20, chunk = 1 << 20;
    char *buf = malloc(chunk);
    if (!buf)
        die("malloc", NULL);
    for (size_t i = 0; i < chunk; i++)
        buf[i] = (char)(i >> 10);
    char path[4400];
    snprintf(path, sizeof path, "%s/mapped", workdir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    for (size_t off = 0; off < total; off += chunk)
        write_all(fd, buf, chunk, path);
    if (close(fd) != 0)
        die("close", path);

    unsigned long sum = 0;
    struct ctxsw c = ctx_now();
    double t0 = now_ns();
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    const volatile unsigned char *m =
        mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        die("mmap", path);
    for (size_t off = 0; off < total; off += 1024)
        sum += m[off];
    munmap((void *)m, total);
    close(fd);
    double t = now_ns();
    printf("mmap_ms=%.3f\n", (t - t0) / 1e6);
    ctx_print("mmap", c);
    /* Byte k KiB into every MiB holds k (mod 256): 4 * (0 + ... + 255). */
    unsigned long want = (unsigned long)mib * 4 * (255 * 256 / 2);
    if (sum != want) {
        fprintf(stderr, "fsbench: mmap scan summed %lu, expected %lu\n", sum,
                want);
        return 1;
    }
    free(buf);
    remove_workdir();
    return 0;
}

/* A file of mib MiB written with a pattern (untimed); its path. */
static const char *mapped_file(const char *dir, const char *name, long mib)
{
    static char path[4400];
    size_t total = (size_t)mib << 20, chunk = 1 << 20;
    char *buf = malloc(chunk);

    if (!buf)
        die("malloc", NULL);
    make_workdir(dir, name);
    for (size_t i = 0; i < chunk; i++)
        buf[i] = (char)(i >> 10);
    snprintf(path, sizeof path, "%s/mapped", workdir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    for (size_t off = 0; off < total; off += chunk)
        write_all(fd, buf, chunk, path);
    if (close(fd) != 0)
        die("close", path);
    free(buf);
    return path;
}

/* Random 4 KiB blocks read through a mapping: the page-cache lookup (or
 * the user-space pager's fill) per block, as a database or git's pack
 * access does. */
static int cmd_mmaprand(const char *dir, long mib, long n)
{
    const char *path = mapped_file(dir, "mmaprand", mib);
    size_t total = (size_t)mib << 20, pages = total / 4096;
    unsigned long x = 88172645463325252UL, sum = 0, want = 0;
    char block[4096];

    struct ctxsw c = ctx_now();
    double t0 = now_ns();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    const char *m = mmap(NULL, total, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("mmap", path);
    for (long i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t pg = x % pages;
        memcpy(block, m + pg * 4096, 4096);
        sum += (unsigned char)block[1024 + (i & 1023)];
        want += (unsigned char)(((pg * 4096) % (1 << 20) + 1024) >> 10);
    }
    munmap((void *)m, total);
    close(fd);
    double t = now_ns();
    printf("mmaprand_us=%.3f\n", (t - t0) / 1e3 / n);
    ctx_print("mmaprand", c);
    if (sum != want) {
        fprintf(stderr, "fsbench: mmaprand summed %lu, expected %lu\n", sum, want);
        return 1;
    }
    remove_workdir();
    return 0;
}

/* Every page of a shared mapping written, then msync: the first write's
 * fault per page and the write-back of all of them. */
static int cmd_mmapwrite(const char *dir, long mib)
{
    const char *path = mapped_file(dir, "mmapwrite", mib);
    size_t total = (size_t)mib << 20;

    struct ctxsw c = ctx_now();
    double t0 = now_ns();
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    volatile char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("mmap", path);
    for (size_t off = 0; off < total; off += 4096)
        m[off + 7] = (char)(off >> 12);
    if (msync((void *)m, total, MS_SYNC))
        die("msync", path);
    munmap((void *)m, total);
    close(fd);
    double t = now_ns();
    printf("mmapwrite_ms=%.3f\n", (t - t0) / 1e6);
    ctx_print("mmapwrite", c);
    /* What was written is in the file. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    for (size_t off = 0; off < total; off += 4096 * 97) {
        char b;
        if (pread(fd, &b, 1, off + 7) != 1 || b != (char)(off >> 12)) {
            fprintf(stderr, "fsbench: mmapwrite: byte %zu not written\n", off + 7);
            return 1;
        }
    }
    close(fd);
    remove_workdir();
    return 0;
}

/* The cost of one first-touch fault: one touch per 256 KiB, so that no
 * touch finds its page mapped by an earlier one's fault-around. */
static int cmd_mmapfault(const char *dir, long mib)
{
    const char *path = mapped_file(dir, "mmapfault", mib);
    size_t total = (size_t)mib << 20, stride = 256 * 1024;
    unsigned long sum = 0, want = 0;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open", path);
    const volatile unsigned char *m = mmap(NULL, total, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        die("mmap", path);
    struct ctxsw c = ctx_now();
    double t0 = now_ns();
    for (size_t off = 0; off < total; off += stride)
        sum += m[off + 5 * 1024];
    double t = now_ns();
    printf("mmapfault_us=%.3f\n", (t - t0) / 1e3 / (total / stride));
    ctx_print("mmapfault", c);
    for (size_t off = 0; off < total; off += stride)
        want += 5;
    munmap((void *)m, total);
    close(fd);
    if (sum != want) {
        fprintf(stderr, "fsbench: mmapfault summed %lu, expected %lu\n", sum, want);
        return 1;
    }
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
                "       small DIR [N] [SIZE] | large DIR [MIB] [REQ_KIB] |\n"
                "       growing DIR [N] [MIB] | mmap DIR [MIB] |\n"
                "       mmaprand DIR [MIB] [N] | mmapwrite DIR [MIB] | mmapfault DIR [MIB]\n");
        return 2;
    }
    const char *cmd = argv[1], *dir = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *dp = getenv("FSBENCH_DAEMON_PID");
    if (dp && *dp) {
        char *end;
        daemon_pid = strtol(dp, &end, 10);
        if (*end || daemon_pid <= 0) {
            fprintf(stderr, "fsbench: bad FSBENCH_DAEMON_PID '%s'\n", dp);
            return 2;
        }
    }
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
    if (!strcmp(cmd, "growing"))
        return cmd_growing(dir, arg(argc, argv, 3, 2048),
                           arg(argc, argv, 4, 128));
    if (!strcmp(cmd, "mmap"))
        return cmd_mmap(dir, arg(argc, argv, 3, 128));
    if (!strcmp(cmd, "mmaprand"))
        return cmd_mmaprand(dir, arg(argc, argv, 3, 1024), arg(argc, argv, 4, 20000));
    if (!strcmp(cmd, "mmapwrite"))
        return cmd_mmapwrite(dir, arg(argc, argv, 3, 256));
    if (!strcmp(cmd, "mmapfault"))
        return cmd_mmapfault(dir, arg(argc, argv, 3, 256));
    fprintf(stderr, "fsbench: unknown workload '%s'\n", cmd);
    return 2;
}
