/*
 * defuse_dispatch: where every captured system call arrives.
 *
 * The common case (a call DEFUSE has nothing to say about, no trace) costs a
 * TLS load, two compares and the forward through the gate.  Calls that need
 * care even when nothing is traced are marked in special[]: those that could
 * take SIGSYS away from DEFUSE, those that replace the process image, those
 * that could close DEFUSE's own descriptors or ask for the descriptor limit
 * (reserved_fd.c), and mappings of new code.
 */
#include <errno.h>
#include <sys/mman.h>
#include <linux/sched.h>
#include "capture/capture.h"
#include "kernel/sys.h"
#include "core/entry.h"
#include "trace/trace.h"
#include "common/exec_layout.h"

#define NR_SPECIAL 512

enum special_kind {
	SP_NONE,
	SP_SIGACTION,
	SP_SIGPROCMASK,
	SP_SIGMASKED_WAIT,
	SP_SIGPENDING,
	SP_EXEC,
	SP_FDGUARD,
	SP_MMAP,
	SP_PRCTL,
	SP_NORETURN,
	SP_FDRECV,
	SP_SETID,
	SP_FDLIMIT,
	SP_UMASK,
	SP_PAGER,
};

/* Which calls need more than forwarding.  Constant, so that no start
   writes it: a table filled at start-up was one more page of .bss
   faulted in by every exec (issue 11). */
static const unsigned char special[NR_SPECIAL] = {
	[SYS_rt_sigaction] = SP_SIGACTION,
	[SYS_rt_sigprocmask] = SP_SIGPROCMASK,
	[SYS_rt_sigsuspend] = SP_SIGMASKED_WAIT,
	[SYS_rt_sigpending] = SP_SIGPENDING,
	[SYS_ppoll] = SP_SIGMASKED_WAIT,
	[SYS_pselect6] = SP_SIGMASKED_WAIT,
	[SYS_epoll_pwait] = SP_SIGMASKED_WAIT,
	[SYS_epoll_pwait2] = SP_SIGMASKED_WAIT,
	[SYS_execve] = SP_EXEC,
	[SYS_execveat] = SP_EXEC,
	[SYS_close] = SP_FDGUARD,
	[SYS_dup2] = SP_FDGUARD,
	[SYS_dup3] = SP_FDGUARD,
	[SYS_close_range] = SP_FDGUARD,
	[SYS_getrlimit] = SP_FDLIMIT,
	[SYS_setrlimit] = SP_FDLIMIT,
	[SYS_prlimit64] = SP_FDLIMIT,
	[SYS_mmap] = SP_MMAP,
	[SYS_mprotect] = SP_MMAP,
	[SYS_pkey_mprotect] = SP_MMAP,
	[SYS_shmat] = SP_MMAP,
	[SYS_prctl] = SP_PRCTL,
	[SYS_exit] = SP_NORETURN,
	[SYS_exit_group] = SP_NORETURN,
	[SYS_recvmsg] = SP_FDRECV,
	[SYS_recvmmsg] = SP_FDRECV,
	[SYS_pidfd_getfd] = SP_FDRECV,
	[SYS_setuid] = SP_SETID,
	[SYS_setgid] = SP_SETID,
	[SYS_setreuid] = SP_SETID,
	[SYS_setregid] = SP_SETID,
	[SYS_setresuid] = SP_SETID,
	[SYS_setresgid] = SP_SETID,
	[SYS_setfsuid] = SP_SETID,
	[SYS_setfsgid] = SP_SETID,
	[SYS_umask] = SP_UMASK,
	/* The core's only while it has mappings of emulated files (one
	   load): written pages go back, its records follow. */
	[SYS_munmap] = SP_PAGER,
	[SYS_mremap] = SP_PAGER,
	[SYS_msync] = SP_PAGER,
	[SYS_madvise] = SP_PAGER,
};

static long own(const struct defuse_syscall *sc)
{
	return defuse_gate_own(sc->nr, sc->a[0], sc->a[1], sc->a[2],
			       sc->a[3], sc->a[4], sc->a[5]);
}

/* capture.h says what this is for. */
long defuse_call_cold(long (*fn)(void *), void *arg)
{
	char was = defuse_self.in_defuse;
	uintptr_t stack = 0;
	int program_errno = errno;
	long r;

	if (!was) {
		/* From the program's stack to DEFUSE's own (cold_stack.c). */
		defuse_self.prog_sp = (uintptr_t)__builtin_frame_address(0);
		stack = defuse_cold_stack();
	}
	defuse_self.in_defuse = 1;
	r = defuse_call_xsaved(fn, arg, stack);
	defuse_self.in_defuse = was;
	/* A system call leaves errno alone; the libc calls of DEFUSE's and of
	   modules (libnfs's EAGAIN behind a getdents that succeeded) must
	   too: a program may read errno after a call that succeeded (readdir
	   tells its end from an error so).  The program's libc sets it from
	   the result when the call fails. */
	if (!was)
		errno = program_errno;
	if (unlikely(defuse_self.sig_deferred) && !was)
		defuse_sig_flush();
	return r;
}

/* A library's code was mapped: patch it. */
void defuse_objects_mapped(long addr, long len, long prot, long fd, long off)
{
	long args[5] = { addr, len, prot, fd, off };

	defuse_call_cold(defuse_objects_mapped_cold, args);
}

/*
 * New executable memory: a library being loaded gets patched; code that
 * cannot be patched arms the net (net.c) before it can run.
 */
static long do_mmap(struct defuse_syscall *sc)
{
	long r;

	/* Over a mapping of an emulated file: its written pages go back
	   first; a read-only one stays so (the core's pager). */
	if (unlikely(__atomic_load_n(&core_pager_nmaps, __ATOMIC_RELAXED)) &&
	    ((sc->nr == SYS_mmap && (sc->a[3] & MAP_FIXED)) || sc->nr == SYS_mprotect ||
	     sc->nr == SYS_pkey_mprotect) &&
	    (r = defuse_call_cold(core_pager_call, sc)) < 0)
		return r;
	r = defuse_forward(sc);

	if (sys_failed(r))
		return r;
	if (sc->nr == SYS_mmap && (sc->a[2] & PROT_EXEC) &&
	    !(sc->a[3] & MAP_ANONYMOUS) && (int)sc->a[4] >= 0)
		defuse_objects_mapped(r, sc->a[1], sc->a[2], sc->a[4], sc->a[5]);
	defuse_net_watch(sc, r);
	return r;
}

/*
 * DEFUSE owns Syscall User Dispatch for the whole process; a program that
 * arms its own would silently switch DEFUSE's net off.
 */
static long do_prctl(struct defuse_syscall *sc)
{
	if (sc->a[0] == PR_SET_SYSCALL_USER_DISPATCH) {
		if (defuse_g.debug)
			defuse_log("refused the program's PR_SET_SYSCALL_USER_DISPATCH",
				   NULL, NULL);
		return -EBUSY;
	}
	return defuse_forward(sc);
}

/*
 * Descriptors that arrive from another process (SCM_RIGHTS, pidfd_getfd)
 * may be emulated files' placeholders: the core adopts them at once, so
 * that even calls the kernel would answer for the placeholder itself
 * (fstat, F_GETFL) see the file.  Only when mounts exist and descriptors
 * actually arrived.
 */
static long fd_received(struct defuse_syscall *sc)
{
	struct { void *name; unsigned len; } m;	/* struct msghdr's start */
	long cap = -1, r;

	/* A sender's name may be a mount's backing path (core/sockets.c):
	   the size of the program's buffer for it, before the kernel says
	   how long the name is. */
	if (sc->nr == SYS_recvmsg && unlikely(core_nmounts) &&
	    __atomic_load_n(&core_sock_named, __ATOMIC_RELAXED) &&
	    defuse_probe_read(&m, (const void *)sc->a[1], sizeof(m)) == 0 && m.name)
		cap = m.len;
	r = defuse_forward(sc);
	long args[3] = { sc->nr, r, sc->a[1] };

	if (sys_failed(r) || !core_nmounts)
		return r;
	if (cap >= 0) {
		long named[2] = { sc->a[1], cap };

		defuse_call_cold(core_sock_msg_received, named);
	}
	if (sc->nr == SYS_recvmsg && !core_received_rights((const void *)sc->a[1]))
		return r;
	if (sc->nr == SYS_recvmmsg && r <= 0)
		return r;
	defuse_call_cold(core_fds_received, args);
	return r;
}

/*
 * Handlers may rewrite arguments (a sanitised signal mask, a new envp), so
 * they get a copy: the trampoline restores the program's registers from sc,
 * and a `syscall` instruction leaves them as they were.
 */
EXEC_PATH static long do_special(const struct defuse_syscall *orig, int kind)
{
	struct defuse_syscall copy = *orig, *sc = &copy;

	switch (kind) {
	case SP_SIGACTION:
		return defuse_sig_action(sc);
	case SP_SIGPROCMASK:
		return defuse_sig_procmask(sc);
	case SP_SIGMASKED_WAIT:
		return defuse_sig_masked_wait(sc);
	case SP_SIGPENDING:
		return defuse_sig_pending(sc);
	case SP_EXEC:
		return defuse_exec(sc);
	case SP_FDGUARD:
		return defuse_fd_guard(sc);
	case SP_FDLIMIT:
		return defuse_fd_limit_call(sc);
	case SP_MMAP:
		return do_mmap(sc);
	case SP_FDRECV:
		return fd_received(sc);
	case SP_PRCTL:
		return do_prctl(sc);
	case SP_NORETURN:
		if (sc->nr == SYS_exit) {
			defuse_cold_stack_exit();	/* the thread ends */
			defuse_sig_thread_exit();
		} else if (unlikely(core_nmounts)) {
			/* The process ends: pages written through mappings of
			   emulated files go back; through exit(3), the mounts
			   end too (module.h: destroy). */
			defuse_call_cold(core_pager_exit, NULL);
			defuse_call_cold(core_fini, NULL);
		}
		return defuse_forward(sc);
	case SP_PAGER:
		if (unlikely(__atomic_load_n(&core_pager_nmaps, __ATOMIC_RELAXED)))
			return defuse_call_cold(core_pager_call, sc);
		return defuse_forward(sc);
	case SP_UMASK: {
		/* The core applies the umask to modes it hands modules. A
		   vfork child's umask is its own, its memory the parent's. */
		long r = defuse_forward(sc);

		if (!defuse_self.vfork_child)
			defuse_g.umask = sc->a[0] & 0777;
		return r;
	}
	case SP_SETID: {
		/* This thread's IDs may change: forget what modules were told
		   (core/creds.c). */
		long r = defuse_forward(sc);

		defuse_self.ids_known = 0;
		return r;
	}
	default:
		return defuse_forward(sc);
	}
}

/*
 * A call that may concern a mount goes to the core (ordinary C); handlers
 * may rewrite arguments, so the core gets a copy.  Code the core mapped
 * from an emulated file cannot have been patched: the net is armed for it.
 */
static long core_call(const struct defuse_syscall *sc)
{
	struct defuse_syscall copy = *sc;
	long r = defuse_call_cold(core_handle, &copy);

	if (sc->nr == SYS_mmap && (sc->a[2] & PROT_EXEC) && !sys_failed(r))
		defuse_net_want("code mapped from an emulated file");
	/* A mapping of an emulated file: its written pages must not die
	   with the process. */
	if (sc->nr == SYS_mmap && !sys_failed(r) &&
	    __atomic_load_n(&core_pager_nmaps, __ATOMIC_RELAXED))
		defuse_sig_catch_fatal();
	return r;
}

/*
 * The kernel refused a descriptor the core did not know: it may be an
 * emulated file's placeholder that came by SCM_RIGHTS or pidfd_getfd.  If
 * so the core adopts it and serves the call; otherwise the EBADF stands.
 */
static long adopt_and_retry(const struct defuse_syscall *sc)
{
	struct defuse_syscall copy = *sc;

	return defuse_call_cold(core_adopt_and_handle, &copy);
}

/*
 * The kernel's answer to a call the core did not want, looked at again
 * while mounts exist: an EBADF may be a received placeholder's (above),
 * and a path call's answer may show that a kernel symbolic link led its
 * path into a mount, where the core serves it (docs/core.md, "Kernel
 * symbolic links into a mount").  Hot: no system call after a call that
 * succeeded but an O_DIRECTORY open (one fstat), one after a failed path
 * call (ENOENT, ENOTDIR: an openat2).
 */
static long kernel_answer(const struct defuse_syscall *sc, long r)
{
	if (unlikely(r == -EBADF) && core_routes(sc->nr))
		return adopt_and_retry(sc);
	if (unlikely(core_kernel_may_suspect(sc->nr, r)) && core_kernel_suspect(sc, r)) {
		struct core_answered again = { *sc, r };

		return defuse_call_cold(core_look_again, &again);
	}
	return r;
}

/* The call to the kernel, and its answer looked at. */
static long to_kernel(const struct defuse_syscall *sc)
{
	long r = defuse_forward(sc);

	if (unlikely(core_nmounts))
		return kernel_answer(sc, r);
	return r;
}

static inline int for_core(const struct defuse_syscall *sc)
{
	return core_wants(sc);
}

static inline int special_kind(unsigned long nr)
{
	return nr < NR_SPECIAL ? special[nr] : SP_NONE;
}

static long traced(struct defuse_syscall *sc, int kind)
{
	uint64_t t0;
	long r;

	trace_count(sc->nr);
	if (kind == SP_NORETURN) {
		trace_record(sc, 0, 0, 0);
		return do_special(sc, kind);
	}
	if (kind == SP_EXEC) {
		trace_record(sc, 0, 0, 0);
		t0 = trace_now();
		r = do_special(sc, kind);	/* a copy: exec rewrites envp */
		trace_record_exec_failed(sc, r, trace_now() - t0);
		return r;
	}
	t0 = trace_now();
	r = for_core(sc) ? core_call(sc) : kind ? do_special(sc, kind) : to_kernel(sc);
	trace_record(sc, r, trace_now() - t0, 1);
	return r;
}

/* A sharer's exit, which sharers.c forwards itself: counted as any. */
void defuse_exit_traced(const struct defuse_syscall *sc)
{
	if (unlikely(defuse_self.tracing)) {
		trace_count(sc->nr);
		trace_record(sc, 0, 0, 0);
	}
}

EXEC_PATH long defuse_dispatch(struct defuse_syscall *sc)
{
	struct defuse_thread *self = &defuse_self;
	int kind;

	/* One test for both rare cases: inside DEFUSE, or on a TLS block
	   another thread may share (sharers.c). */
	if (unlikely(self->in_defuse | self->tls_shared)) {
		if (self->tls_shared && !defuse_tls_mine())
			return defuse_sharer_call(defuse_dispatch, sc);
		if (self->in_defuse)
			return own(sc);
	}
	defuse_net_check();
	kind = special_kind(sc->nr);
	if (unlikely(self->tracing))
		return traced(sc, kind);
	if (unlikely(kind == SP_EXEC))
		return do_special(sc, kind);	/* the core has its say there */
	if (for_core(sc))
		return core_call(sc);
	if (likely(kind == SP_NONE))
		return to_kernel(sc);
	return do_special(sc, kind);
}

/*
 * The clone family runs inline in the trampoline (the child must come back
 * on its own stack, which C cannot do); these hooks run around it.
 */
static int shares_parent_memory(const struct defuse_syscall *sc);
static int is_forked_process(const struct defuse_syscall *sc);
static unsigned long clone_flags(const struct defuse_syscall *sc);

/* This thread's fork in flight ran the pager's hook (it runs again in the
   parent afterwards). */
static __thread char pager_forking __attribute__((tls_model("initial-exec")));

/* Does the child run on our thread pointer while we run on (a raw
   CLONE_VM without CLONE_SETTLS; a vfork parent waits, so is left out)? */
static int shares_tls(const struct defuse_syscall *sc)
{
	unsigned long flags = clone_flags(sc);

	return (flags & CLONE_VM) && !(flags & (CLONE_SETTLS | CLONE_VFORK));
}

static long clone_before_here(struct defuse_syscall *sc)
{
	struct defuse_thread *self = &defuse_self;

	/* First: the donor that makes (pthread_create) runs these hooks
	   itself, over the clone_* fields below. */
	self->clone_shares_tls = shares_tls(sc);
	if (unlikely(self->clone_shares_tls)) {
		struct defuse_thread *prog = defuse_program_self();

		if (!prog->tls_shared) {
			prog->tls_owner = sys0(SYS_gettid);
			__atomic_store_n(&prog->tls_shared, 1, __ATOMIC_RELEASE);
		}
		defuse_call_cold(defuse_sharers_prepare, NULL);
		self->clone_shares_tls = 1;
	}
	/* Armed before the clone: a vfork child shares this TLS. */
	defuse_net_check();
	self->clone_nr = sc->nr;
	self->clone_in_defuse = self->in_defuse;
	self->clone_sig_deferred = self->sig_deferred;
	/* A child sharing our memory would make its chdir ours. */
	if (unlikely(core_nmounts) && shares_parent_memory(sc))
		self->cwd_saved = defuse_call_cold(core_cwd_save, NULL);
	/* The pager: the child shares the tree's page caches, and its
	   mappings are whole and registered before its program runs. */
	if (unlikely(core_nmounts) && is_forked_process(sc)) {
		defuse_call_cold(core_pager_before_fork, NULL);
		pager_forking = 1;
	}
	/* A new process shares our emulated files' descriptions: those in
	   the table, and (the count) any another thread is making now. */
	if (unlikely(core_nmounts) && !(clone_flags(sc) & (CLONE_FILES | CLONE_THREAD))) {
		__atomic_add_fetch(&core_forks_running, 1, __ATOMIC_SEQ_CST);
		self->clone_counted = 1;
		if (core_nfds)
			defuse_call_cold(core_before_fork, NULL);
	}
	if (self->tracing) {
		trace_count(sc->nr);
		self->clone_t0 = trace_now();
	}
	return sc->nr;
}

long defuse_clone_before(struct defuse_syscall *sc)
{
	if (defuse_on_foreign_tls())
		return defuse_sharer_call(clone_before_here, sc);
	return clone_before_here(sc);
}

static long clone_parent_here(struct defuse_syscall *sc)
{
	struct defuse_thread *self = &defuse_self;
	long r = sc->nr;	/* the trampoline passes the result in %rax */

	if (unlikely(self->clone_shares_tls) && sys_failed(r))
		defuse_sharers_unwanted();
	self->clone_shares_tls = 0;

	/*
	 * A vfork child shares this TLS and may have left it changed: its
	 * pid, and, when it exec'd from inside DEFUSE (a file in a mount, or
	 * any exec with mounts: capture/exec.c), in_defuse set and maybe
	 * signals of its own deferred.  Ours are what they were before.
	 */
	self->in_defuse = self->clone_in_defuse;
	self->sig_deferred = self->clone_sig_deferred;
	if (self->clone_counted) {
		self->clone_counted = 0;
		__atomic_add_fetch(&core_forks, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&core_forks_running, 1, __ATOMIC_SEQ_CST);
	}
	defuse_usermem_refresh_pid();
	self->vfork_child = 0;
	if (pager_forking) {
		pager_forking = 0;
		defuse_call_cold(core_pager_after_fork_parent, NULL);
	}
	if (self->cwd_saved) {
		defuse_call_cold(core_cwd_restore, (void *)self->cwd_saved);
		self->cwd_saved = 0;
	}
	if (self->tracing && !self->in_defuse) {
		struct defuse_syscall call = *sc;

		call.nr = self->clone_nr;
		trace_record(&call, r, trace_now() - self->clone_t0, 1);
	}
	return r;
}

long defuse_clone_parent(struct defuse_syscall *sc)
{
	if (defuse_on_foreign_tls())
		return defuse_sharer_call(clone_parent_here, sc);
	return clone_parent_here(sc);
}

/*
 * The clone flags of a clone-family call, as clone(2) would take them:
 * fork is CLONE_nothing, vfork CLONE_VM | CLONE_VFORK.  In a trampoline's
 * child %rax, and so sc->nr, is 0 (the result); the call is in the TLS,
 * copied or shared (a new thread has neither: 0, a thread's flags).
 */
static unsigned long clone_flags(const struct defuse_syscall *sc)
{
	unsigned long flags = CLONE_VM | CLONE_THREAD;

	switch (sc->nr ? sc->nr : defuse_self.clone_nr) {
	case SYS_fork:
		return 0;
	case SYS_vfork:
		return CLONE_VM | CLONE_VFORK;
	case SYS_clone:
		return sc->a[0];
	case SYS_clone3:
		if (defuse_copy_in(&flags, (void *)sc->a[0], sizeof(flags)))
			return CLONE_VM | CLONE_THREAD;
		return flags;
	}
	return flags;
}

/* Does the child share the parent's memory as a vfork child does (its own
   descriptor table, the parent's heap)? */
static int shares_parent_memory(const struct defuse_syscall *sc)
{
	unsigned long flags = clone_flags(sc);

	return (flags & CLONE_VM) && !(flags & CLONE_FILES) && !(flags & CLONE_THREAD);
}

/* Is the child a new process with its own memory (fork)? */
static int is_forked_process(const struct defuse_syscall *sc)
{
	return !(clone_flags(sc) & (CLONE_VM | CLONE_THREAD));
}

/*
 * First code a new thread or process runs.  SUD is not inherited by a clone
 * child, so the net is armed again before the program's code runs.
 */
EXEC_PATH static long clone_child_here(struct defuse_syscall *sc)
{
	struct defuse_thread *self = &defuse_self;

	self->sud_selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	self->tracing = trace_follows();
	self->vfork_child = shares_parent_memory(sc);
	self->sig_deferred = 0;
	self->sig_interruptible = 0;
	defuse_usermem_refresh_pid();
	self->net_armed = 0;	/* SUD is not inherited */
	defuse_net_catch_up();
	if (is_forked_process(sc)) {
		defuse_fd_after_fork();
		/* No clone of ours is under way in the child (a vfork child
		   leaves the count to the parent, whose memory it is). */
		self->clone_counted = 0;
		__atomic_store_n(&core_forks_running, 0, __ATOMIC_RELAXED);
	}
	/* The pager's mappings registered again, its thread made again. */
	if (unlikely(core_nmounts) && is_forked_process(sc)) {
		pager_forking = 0;
		defuse_call_cold(core_pager_after_fork_child, NULL);
	}
	/* Modules recreate their per-process resources (module.h). */
	if (unlikely(core_nmounts) && is_forked_process(sc))
		defuse_call_cold(core_after_fork_child, NULL);
	return sc->nr;
}

EXEC_PATH long defuse_clone_child(struct defuse_syscall *sc)
{
	if (unlikely(defuse_self.tls_shared)) {
		/* A new process has its own memory: its one thread owns the
		   block, and the parent's donors are not in it. */
		if (is_forked_process(sc))
			defuse_sharers_after_fork();
		else if (!defuse_tls_mine())	/* the child of a sharing clone */
			return defuse_sharer_call(clone_child_here, sc);
	}
	return clone_child_here(sc);
}

long defuse_sigreturn_hook(struct defuse_syscall *sc)
{
	if (defuse_self.tracing) {
		trace_count(sc->nr);
		trace_record(sc, 0, 0, 0);
	}
	return sc->nr;
}
