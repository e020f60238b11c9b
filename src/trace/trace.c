/*
 * The in-process half of `defuse trace` (see trace.h).
 *
 * Counting is a few atomic adds into the table the whole tree shares.
 * Lines are formatted on the stack and written with one write(2) each to
 * a descriptor opened with O_APPEND, so lines of different processes never
 * interleave within a line.  Time comes from the vDSO: no system call.
 */
#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include "common/fmt.h"
#include "kernel/sys.h"
#include "common/exec_layout.h"
#include "common/util.h"
#include "trace/counters.h"
#include "trace/format.h"
#include "trace/trace.h"

static struct trace_table *table;
static int out_fd = -1;
static int attached EXEC_DATA;	/* a table or output is attached */
static int follow EXEC_DATA;	/* -f: children and threads too */
static int (*vdso_clock_gettime)(clockid_t, struct timespec *);

static long parse_field(const char *spec, const char *name, long dflt)
{
	for (const char *p = spec; p && *p;) {
		const char *n = name;
		const char *q = p;

		while (*n && *q == *n)
			q++, n++;
		if (!*n && *q == '=') {
			long v = 0, sign = 1;

			q++;
			if (*q == '-')
				sign = -1, q++;
			while (*q >= '0' && *q <= '9')
				v = v * 10 + (*q++ - '0');
			return sign * v;
		}
		while (*p && *p != ',')
			p++;
		if (*p == ',')
			p++;
	}
	return dflt;
}

/* Opens descriptor `fd` of process `pid` anew through /proc. */
static long open_peer_fd(long pid, long fd, int flags)
{
	char path[64], a[24], b[24];
	struct fmt f;

	fmt_init(&f, path, sizeof(path));
	fmt_str(&f, "/proc/");
	fmt_str(&f, defuse_ltoa(pid, a));
	fmt_str(&f, "/fd/");
	fmt_str(&f, defuse_ltoa(fd, b));
	fmt_cstr(&f);
	return sys3(SYS_open, path, flags | O_CLOEXEC, 0);
}

/* Finds __vdso_clock_gettime by walking the vDSO's dynamic symbols. */
static void find_vdso_clock(void)
{
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Phdr *ph;
	const Elf64_Dyn *dyn = NULL;
	const Elf64_Sym *sym = NULL;
	const char *str = NULL;
	const uint32_t *hash = NULL;
	uintptr_t bias = 0;

	if (!eh)
		return;
	ph = (const void *)((const char *)eh + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			bias = (uintptr_t)eh - ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const void *)ph[i].p_vaddr;
	}
	if (!dyn)
		return;
	dyn = (const void *)((uintptr_t)dyn + bias);
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SYMTAB)
			sym = (const void *)(dyn->d_un.d_ptr + bias);
		else if (dyn->d_tag == DT_STRTAB)
			str = (const void *)(dyn->d_un.d_ptr + bias);
		else if (dyn->d_tag == DT_HASH)
			hash = (const void *)(dyn->d_un.d_ptr + bias);
	}
	if (!sym || !str || !hash)
		return;
	for (uint32_t i = 0; i < hash[1]; i++) {
		if (!d_strcmp(str + sym[i].st_name, "__vdso_clock_gettime") &&
		    sym[i].st_value) {
			vdso_clock_gettime = (void *)(sym[i].st_value + bias);
			return;
		}
	}
}

uint64_t trace_now(void)
{
	struct timespec ts;

	if (!vdso_clock_gettime || vdso_clock_gettime(CLOCK_MONOTONIC, &ts))
		sys2(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int trace_init(const char *spec)
{
	long pid, tfd, ofd, root;

	if (!spec || !*spec)
		return 0;
	pid = parse_field(spec, "pid", -1);
	tfd = parse_field(spec, "table", -1);
	ofd = parse_field(spec, "out", -1);
	root = parse_field(spec, "root", -1);
	follow = parse_field(spec, "follow", 0) != 0;
	if (pid <= 0)
		return 0;
	find_vdso_clock();
	if (tfd >= 0) {
		long fd = open_peer_fd(pid, tfd, O_RDWR);
		long p;

		if (sys_failed(fd))
			return 0;	/* the tracer is gone: nothing to report to */
		p = sys6(SYS_mmap, 0, sizeof(struct trace_table), PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		sys1(SYS_close, fd);
		if (sys_failed(p))
			return 0;
		table = (struct trace_table *)p;
		if (table->magic != TRACE_MAGIC) {
			sys2(SYS_munmap, p, sizeof(struct trace_table));
			table = NULL;
			return 0;
		}
		__atomic_add_fetch(&table->processes, 1, __ATOMIC_RELAXED);
	}
	if (ofd >= 0) {
		long fd = open_peer_fd(pid, ofd, O_WRONLY | O_APPEND);

		if (!sys_failed(fd)) {
			out_fd = defuse_fd_reserve(fd);
			if (out_fd < 0)
				out_fd = fd;
		}
	}
	if (!table && out_fd < 0)
		return 0;
	attached = 1;
	return follow || sys0(SYS_getpid) == root;
}

EXEC_PATH int trace_follows(void)
{
	return attached && follow;
}

static void write_line(const struct defuse_syscall *sc, long ret, int finished)
{
	char buf[1024], n[24];
	struct fmt f;

	fmt_init(&f, buf, sizeof(buf));
	fmt_str(&f, defuse_ltoa(sys0(SYS_gettid), n));
	fmt_char(&f, ' ');
	trace_format_call(&f, sc->nr, sc->a, ret, finished);
	if (f.truncated)
		f.len = f.cap > 1 ? f.cap - 2 : 0;
	buf[f.len++] = '\n';
	sys3(SYS_write, out_fd, buf, f.len);
}

static struct trace_row *row(long nr)
{
	return &table->row[(unsigned long)nr < TRACE_NR_MAX ? nr : TRACE_NR_MAX - 1];
}

void trace_count(long nr)
{
	if (table)
		__atomic_add_fetch(&row(nr)->calls, 1, __ATOMIC_RELAXED);
}

void trace_record(const struct defuse_syscall *sc, long ret, uint64_t ns, int finished)
{
	if (table) {
		struct trace_row *r = row(sc->nr);

		if (finished && sys_failed(ret))
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
		if (ns)
			__atomic_add_fetch(&r->nsec, ns, __ATOMIC_RELAXED);
	}
	if (out_fd >= 0)
		write_line(sc, ret, finished);
}

void trace_record_exec_failed(const struct defuse_syscall *sc, long ret, uint64_t ns)
{
	if (table) {
		if (sys_failed(ret))
			__atomic_add_fetch(&row(sc->nr)->errors, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&row(sc->nr)->nsec, ns, __ATOMIC_RELAXED);
	}
	if (out_fd >= 0)
		write_line(sc, ret, 1);
}
