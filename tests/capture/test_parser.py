#!/usr/bin/env python3
"""Unit tests of the oracle in strace_compare.py, on hand-written logs.

The capture tests are only as good as the rule that turns S.log into expected
counts, so the rule is tested here on its own, without strace or DEFUSE.  The
last test also checks the line parser on a real strace log, where strace is
installed, against strace's own summary of that same run.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import strace_compare as sc  # noqa: E402


def log(text):
    """A hand-written S.log: its non-blank lines, unindented."""
    return [l.strip() for l in text.splitlines() if l.strip()]


# Addresses used by the hand-written logs.  Own gate of image A: [0xa000,
# 0xa040); forward gate of A: [0xa100, 0xa140).  Image B (another exec, other
# ASLR layout): own [0xb000, 0xb040), forward [0xb100, 0xb140).
MARK_A = 'syscall_0xdef(0xa000, 0xa040, 0xa100, 0xa140, 0, 0) = -1 ENOSYS (Function not implemented)'
MARK_B = 'syscall_0xdef(0xb000, 0xb040, 0xb100, 0xb140, 0, 0) = -1 ENOSYS (Function not implemented)'
OWN_A = '[000000000000a010]'        # a syscall instruction inside A's own gate
FWD_A = '[000000000000a110]'
OWN_B = '[000000000000b010]'
FWD_B = '[000000000000b110]'
LIBC = '[00007f0000001234]'

# The CLI (100) starts, forks the child (101) that execs the program.
PROLOGUE = f'''
    100   [00007f0000000001] execve("/defuse", ["defuse", "trace"], 0x7ffc /* 5 vars */) = 0
    100   [00007f0000000002] openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
    100   [00007f0000000003] clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f00) = 101
    101   [00007f0000000004] set_robust_list(0x7f0000, 24) = 0
    100   [00007f0000000005] wait4(101,  <unfinished ...>
    101   [00007f0000000006] execve("/prog", ["prog"], 0x7ffc /* 6 vars */) = 0
    101   [00007f0000000007] openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
    101   [00007f0000000008] mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f12f167d000
    101   {OWN_A} mprotect(0x7f00, 4096, PROT_READ|PROT_EXEC) = 0
    101   {OWN_A} {MARK_A}
'''
EPILOGUE = '''
    100   [00007f0000000005] <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 101
    100   [00007f0000000005] --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=101, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---
    100   [00007f0000000009] exit_group(0)  = ?
'''


def program(body):
    return log(PROLOGUE + body + EPILOGUE)


class ParseLine(unittest.TestCase):
    def test_complete_call_with_padding(self):
        ln = sc.parse_line('3442  [00007f12f16a6c47] brk(NULL)      = 0x5595bbe9e000')
        self.assertEqual((ln.tid, ln.ip, ln.kind, ln.name), (3442, 0x7f12f16a6c47, 'call', 'brk'))
        self.assertEqual(ln.result, '0x5595bbe9e000')
        self.assertEqual(ln.int_result(), 0x5595bbe9e000)

    def test_error_result(self):
        ln = sc.parse_line('7  [0000000000401000] access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)')
        self.assertEqual(ln.int_result(), -1)
        self.assertEqual(ln.errno_name(), 'ENOENT')

    def test_restart_result(self):
        ln = sc.parse_line('7  [0000000000401000] <... wait4 resumed>0x7ffd, 0, NULL) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)')
        self.assertEqual((ln.kind, ln.name, ln.result), ('resumed', 'wait4', '?'))
        self.assertIsNone(ln.int_result())
        self.assertEqual(ln.errno_name(), 'ERESTARTSYS')

    def test_unfinished_and_resumed(self):
        u = sc.parse_line('3442  [00007f12f15988d9] clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x7f12f1674000, stack_size=0x9000}, 88 <unfinished ...>')
        self.assertEqual((u.kind, u.name, u.result), ('unfinished', 'clone3', None))
        r = sc.parse_line('3442  [00007f12f15988d9] <... clone3 resumed> => {parent_tid=[3443]}, 88) = 3443')
        self.assertEqual((r.kind, r.name, r.int_result()), ('resumed', 'clone3', 3443))

    def test_unfinished_no_args(self):
        u = sc.parse_line('3443  [00007f12f15644f7] getppid( <unfinished ...>')
        self.assertEqual((u.kind, u.name), ('unfinished', 'getppid'))

    def test_signal_and_exit_lines(self):
        s = sc.parse_line('3442  [00007f12f1562c17] --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3445} ---')
        self.assertEqual(s.kind, 'signal')
        e = sc.parse_line('3996  [????????????????] +++ exited with 0 +++')
        self.assertEqual((e.kind, e.ip), ('exit', None))
        k = sc.parse_line('3996  +++ killed by SIGPIPE +++')
        self.assertEqual(k.kind, 'exit')

    def test_strings_that_look_like_syntax(self):
        ln = sc.parse_line('9  [0000000000401000] write(1, ") = 5 <unfinished ...>", 22) = 22')
        self.assertEqual((ln.kind, ln.name, ln.int_result()), ('call', 'write', 22))
        ln = sc.parse_line('9  [0000000000401000] write(1, "x = 7\\n", 6 <unfinished ...>')
        self.assertEqual(ln.kind, 'unfinished')
        ln = sc.parse_line('9  [0000000000401000] poll([{fd=3, events=POLLIN}], 1, -1) = 1 ([{fd=3, revents=POLLIN}])')
        self.assertEqual(ln.int_result(), 1)

    def test_exit_without_return(self):
        ln = sc.parse_line('3443  [00007f12f1518226] exit(0)        = ?')
        self.assertEqual((ln.kind, ln.result), ('call', '?'))
        ln = sc.parse_line('3443  [00007f12f1518226] <... futex resumed> <unfinished ...>) = ?')
        self.assertEqual((ln.kind, ln.name), ('resumed', 'futex'))

    def test_marker_line(self):
        ln = sc.parse_line('5  [00007f0000001002] syscall_0xdef(0x7f0000001000, 0x7f0000001010, 0x7f0000002000, 0x7f0000002040, 0, 0) = -1 ENOSYS (Function not implemented)')
        self.assertEqual(ln.name, 'syscall_0xdef')
        self.assertEqual(sc.parse_marker_args(ln),
                         ((0x7f0000001000, 0x7f0000001010), (0x7f0000002000, 0x7f0000002040)))
        u = sc.parse_line('5  [00007f0000001002] syscall_0xdef(0x10, 0x20, 0x30, 0x40, 0, 0 <unfinished ...>')
        self.assertEqual(sc.parse_marker_args(u), ((0x10, 0x20), (0x30, 0x40)))

    def test_bad_marker(self):
        ln = sc.parse_line('5  [0000000000001002] syscall_0xdef(0x20, 0x10, 0x30, 0x40, 0, 0) = -1 ENOSYS (Function not implemented)')
        with self.assertRaises(sc.LogError):
            sc.parse_marker_args(ln)
        ln = sc.parse_line('5  [0000000000001002] syscall_0xdef(0x10, 0x20) = -1 ENOSYS (Function not implemented)')
        with self.assertRaises(sc.LogError):
            sc.parse_marker_args(ln)

    def test_blank_and_malformed(self):
        self.assertIsNone(sc.parse_line('   \n'))
        for bad in ('openat(AT_FDCWD, "x", O_RDONLY) = 3',          # no tid (no -f)
                    '12  [0000000000001000] what is this',
                    '12  [0000000000001000] openat(AT_FDCWD, "x", O_RDONLY)'):  # no result
            with self.assertRaises(sc.LogError, msg=bad):
                sc.parse_line(bad)


class InsnRange(unittest.TestCase):
    def test_ip_is_after_the_instruction(self):
        own = [(0x1000, 0x1010)]
        self.assertTrue(sc.insn_in(0x1002, own))    # syscall at the first byte
        self.assertTrue(sc.insn_in(0x1010, own))    # syscall is the last instruction
        self.assertFalse(sc.insn_in(0x1000, own))   # syscall just before the block
        self.assertTrue(sc.insn_in(0x1011, own))
        self.assertFalse(sc.insn_in(0x1012, own))
        self.assertFalse(sc.insn_in(None, own))


class Counting(unittest.TestCase):
    def test_basic_program(self):
        a = sc.analyse(program(f'''
            101   {FWD_A} openat(AT_FDCWD, "/dev/null", O_WRONLY) = 3
            101   {FWD_A} write(3, "x", 1) = 1
            101   {OWN_A} rt_sigprocmask(SIG_SETMASK, [], NULL, 8) = 0
            101   {LIBC} getppid()      = 100
            101   {FWD_A} close(3)       = 0
            101   {FWD_A} exit_group(0)  = ?
        '''))
        self.assertEqual(dict(a.counts), {'openat': 1, 'write': 1, 'getppid': 1,
                                          'close': 1, 'exit_group': 1})
        self.assertEqual(len(a.markers), 1)
        self.assertEqual(a.own_ranges, {(0xa000, 0xa040)})
        self.assertEqual(a.forward_ranges, {(0xa100, 0xa140)})
        self.assertEqual(dict(a.outside_forward), {'getppid': 1})
        self.assertEqual([im.tid for im in a.images], [101])
        self.assertEqual(a.unmarked_images(), [])
        # The loader's calls, the CLI's calls and DEFUSE's own are excluded.
        self.assertEqual([w for w, _ in a.excluded['openat']], ['pre', 'pre'])
        self.assertEqual([w for w, _ in a.excluded['rt_sigprocmask']], ['own'])
        self.assertEqual([w for w, _ in a.excluded['syscall_0xdef']], ['own'])

    def test_child_lines_before_parent_resumed_inherit_post(self):
        a = sc.analyse(program(f'''
            101   {FWD_A} clone3({{flags=CLONE_VM|CLONE_THREAD, exit_signal=0, stack=0x7f, stack_size=0x7fff80, tls=0x7f}} <unfinished ...>
            102   {FWD_A} rseq(0x7f12f148bfe0, 0x20, 0, 0x53053053 <unfinished ...>
            101   {FWD_A} <... clone3 resumed> => {{parent_tid=[102]}}, 88) = 102
            102   {FWD_A} <... rseq resumed>) = 0
            102   {OWN_A} prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0xa000, 0x40, 0x7f00) = 0
            102   {FWD_A} getppid()      = 100
            102   {FWD_A} exit(0)        = ?
            101   {FWD_A} futex(0x7f, FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, 102, NULL, FUTEX_BITSET_MATCH_ANY) = 0
            101   {FWD_A} exit_group(0)  = ?
        '''))
        self.assertEqual(dict(a.counts), {'clone3': 1, 'rseq': 1, 'getppid': 1, 'exit': 1,
                                          'futex': 1, 'exit_group': 1})
        self.assertEqual([w for w, _ in a.excluded['prctl']], ['own'])

    def test_fork_before_the_marker_stays_pre(self):
        # The CLI's child (101) was forked by a pre tid: until its exec and
        # its marker, nothing in it counts.
        a = sc.analyse(program(''))
        self.assertEqual(dict(a.counts), {})
        self.assertEqual([w for w, _ in a.excluded['set_robust_list']], ['pre'])

    def test_exec_resets_to_pre_until_the_next_marker(self):
        a = sc.analyse(program(f'''
            101   {FWD_A} execve("/nonexistent", ["x"], 0x7ffc /* 0 vars */) = -1 ENOENT (No such file or directory)
            101   {FWD_A} execve("/prog2", ["prog2"], 0x7ffc /* 0 vars */) = 0
            101   [00007f0000000010] brk(NULL)      = 0x5595bbe9e000
            101   {OWN_B} {MARK_B}
            101   {OWN_B} getpid()       = 101
            101   {OWN_A} getuid()       = 0
            101   {FWD_B} brk(0x5595bbebf000) = 0x5595bbebf000
            101   {FWD_B} exit_group(0)  = ?
        '''))
        # Both execve calls came from image A, after its marker; the brk of
        # the loader does not count, the later one does; own calls of either
        # image are excluded wherever they appear.
        self.assertEqual(dict(a.counts), {'execve': 2, 'brk': 1, 'exit_group': 1})
        self.assertEqual(a.own_ranges, {(0xa000, 0xa040), (0xb000, 0xb040)})
        self.assertEqual(len(a.images), 2)
        self.assertEqual(a.unmarked_images(), [])

    def test_unfinished_execve(self):
        a = sc.analyse(program(f'''
            101   {FWD_A} execve("/prog2", ["prog2"], 0x7ffc /* 0 vars */ <unfinished ...>
            101   [00007f0000000020] <... execve resumed>) = 0
            101   [00007f0000000010] brk(NULL)      = 0x5595bbe9e000
        '''))
        self.assertEqual(dict(a.counts), {'execve': 1})
        self.assertEqual(len(a.unmarked_images()), 1)
        self.assertEqual(a.unmarked_images()[0].exec_line.name, 'execve')

    def test_vfork_child_execs_before_parent_resumes(self):
        a = sc.analyse(program(f'''
            101   {FWD_A} vfork( <unfinished ...>
            103   {FWD_A} execve("/bin/true", ["true"], 0x7ffe /* 6 vars */ <unfinished ...>
            101   {FWD_A} <... vfork resumed>) = 103
            101   {FWD_A} wait4(103,  <unfinished ...>
            103   [00007fe395a60b70] <... execve resumed>) = 0
            103   [00007fe395a65c47] brk(NULL)      = 0x5573d1c9a000
            103   {OWN_B} {MARK_B}
            103   {FWD_B} exit_group(0)  = ?
            101   {FWD_A} <... wait4 resumed>NULL, 0, NULL) = 103
            101   {FWD_A} --- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=103}} ---
            101   {FWD_A} exit_group(0)  = ?
        '''))
        self.assertEqual(dict(a.counts), {'vfork': 1, 'execve': 1, 'wait4': 1,
                                          'exit_group': 2})
        self.assertEqual(a.unmarked_images(), [])

    def test_exec_from_a_non_leader_thread(self):
        # strace reports the exec's end in the thread-group leader.
        a = sc.analyse(program(f'''
            101   {FWD_A} clone3({{flags=CLONE_VM|CLONE_THREAD}}, 88) = 102
            102   {FWD_A} execve("/prog2", ["prog2"], 0x7ffc /* 0 vars */ <unfinished ...>
            101   [????????????????] +++ superseded by execve in pid 102 +++
            101   [00007f0000000020] <... execve resumed>) = 0
            101   [00007f0000000010] brk(NULL)      = 0x5595bbe9e000
            101   {OWN_B} {MARK_B}
            101   {FWD_B} exit_group(0)  = ?
        '''))
        self.assertEqual(dict(a.counts), {'clone3': 1, 'execve': 1, 'exit_group': 1})
        self.assertEqual(a.unmarked_images(), [])

    def test_unfinished_marker(self):
        a = sc.analyse(log(f'''
            1   [0000000000000001] execve("/defuse", ["defuse"], 0x7ffc /* 5 vars */) = 0
            1   [0000000000000002] clone(child_stack=NULL, flags=SIGCHLD) = 2
            2   [0000000000000003] execve("/prog", ["prog"], 0x7ffc /* 6 vars */) = 0
            2   {OWN_A} syscall_0xdef(0xa000, 0xa040, 0xa100, 0xa140, 0, 0 <unfinished ...>
            2   {OWN_A} <... syscall_0xdef resumed>) = -1 ENOSYS (Function not implemented)
            2   {FWD_A} getppid()      = 1
        '''))
        self.assertEqual(dict(a.counts), {'getppid': 1})

    def test_signals_and_resumed_lines_are_not_calls(self):
        a = sc.analyse(program(f'''
            101   {FWD_A} rt_sigaction(SIGUSR1, {{sa_handler=0x40}}, NULL, 8) = 0
            101   {FWD_A} kill(101, SIGUSR1) = 0
            101   {FWD_A} --- SIGUSR1 {{si_signo=SIGUSR1, si_code=SI_USER, si_pid=101, si_uid=0}} ---
            101   {FWD_A} --- SIGSYS {{si_signo=SIGSYS, si_code=SYS_USER_DISPATCH, si_call_addr=0x401000, si_syscall=__NR_getpid, si_arch=AUDIT_ARCH_X86_64}} ---
            101   {FWD_A} rt_sigreturn({{mask=[]}}) = 0
            101   {FWD_A} read(0,  <unfinished ...>
            101   {FWD_A} <... read resumed>"", 4096) = 0
        '''))
        self.assertEqual(dict(a.counts), {'rt_sigaction': 1, 'kill': 1,
                                          'rt_sigreturn': 1, 'read': 1})

    def test_restarted_calls_are_flagged(self):
        a = sc.analyse(program(f'''
            101   {FWD_A} wait4(-1,  <unfinished ...>
            101   {FWD_A} <... wait4 resumed>0x7ffd, 0, NULL) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)
            101   {FWD_A} nanosleep({{tv_sec=1, tv_nsec=0}}, 0x7ffd) = ? ERESTART_RESTARTBLOCK (Interrupted by signal)
            101   {FWD_A} restart_syscall(<... resuming interrupted nanosleep ...>) = 0
        '''))
        self.assertEqual(dict(a.counts), {'wait4': 1, 'nanosleep': 1, 'restart_syscall': 1})
        self.assertEqual(dict(a.restarted), {'nanosleep': 1})

    def test_emulated_calls_are_counted_from_their_note(self):
        # rt_sigaction(SIGSYS) is answered by DEFUSE; the note 0xdee(13) from
        # the own gate stands for it.  A note from anywhere else is no note.
        a = sc.analyse(program(f'''
            101   {OWN_A} syscall_0xdee(0xd, 0, 0, 0, 0, 0) = -1 ENOSYS (Function not implemented)
            101   {FWD_A} rt_sigaction(SIGINT, NULL, {{sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}}, 8) = 0
            101   {OWN_A} syscall_0xdee(0x9d, 0, 0, 0, 0, 0 <unfinished ...>
            101   {OWN_A} <... syscall_0xdee resumed>) = -1 ENOSYS (Function not implemented)
            101   {LIBC} syscall_0xdee(0xd, 0, 0, 0, 0, 0) = -1 ENOSYS (Function not implemented)
        '''))
        self.assertEqual(dict(a.counts), {'rt_sigaction': 2, 'prctl': 1, 'syscall_0xdee': 1})

    def test_emulated_note_before_the_marker_is_not_counted(self):
        lines = program('')
        at = next(i for i, l in enumerate(lines) if 'syscall_0xdef' in l)
        lines.insert(at, f'101   {OWN_A} syscall_0xdee(0xd, 0, 0, 0, 0, 0) = -1 ENOSYS (Function not implemented)')
        self.assertEqual(dict(sc.analyse(lines).counts), {})

    def test_emulated_note_unreadable(self):
        with self.assertRaises(sc.LogError):
            sc.analyse(program(f'''
                101   {OWN_A} syscall_0xdee(what, 0, 0, 0, 0, 0) = -1 ENOSYS (Function not implemented)
            '''))

    def test_defuse_helper_processes_are_not_the_program(self):
        # DEFUSE forks its planner from the own gate, after the marker: the
        # helper, its exec and everything it and its children do are DEFUSE's.
        a = sc.analyse(program(f'''
            101   {OWN_A} clone(child_stack=NULL, flags=0 <unfinished ...>
            101   {OWN_A} <... clone resumed>) = 105
            105   {OWN_A} execve("/build/src/defuse-planner", ["defuse-planner"], 0x7ffd /* 0 vars */ <unfinished ...>
            105   [00007f4b2350ab70] <... execve resumed>) = 0
            105   [00007f4b2350ab80] openat(AT_FDCWD, "/proc/self/fd/7", O_RDONLY) = 3
            105   [00007f4b2350ab90] clone(child_stack=NULL, flags=SIGCHLD) = 106
            106   [00007f4b2350ab90] write(1, "x", 1) = 1
            105   [00007f4b2350ab90] exit_group(0)  = ?
            101   {OWN_A} wait4(105, NULL, __WALL, NULL) = 105
            101   {FWD_A} getppid()      = 100
        '''))
        self.assertEqual(dict(a.counts), {'getppid': 1})
        self.assertEqual(a.unmarked_images(), [])
        self.assertEqual([im.tid for im in a.images], [101])

    def test_unknown_tid_is_an_error(self):
        with self.assertRaisesRegex(sc.LogError, 'without a clone'):
            sc.analyse(program(f'''
                999   {FWD_A} getpid()       = 999
            '''))

    def test_tid_reuse_is_an_error(self):
        with self.assertRaisesRegex(sc.LogError, 'tid reuse'):
            sc.analyse(program(f'''
                101   {FWD_A} clone(child_stack=NULL, flags=SIGCHLD) = 101
            '''))

    def test_empty_log_is_an_error(self):
        with self.assertRaises(sc.LogError):
            sc.analyse([])


SUMMARY = '''\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 70.18    0.002826         942         3           wait4
 15.47    0.000623           4       132           rt_sigaction
  0.25    0.000010           3         3         3 access
  0.00    0.000000           0         1           vfork
------ ----------- ----------- --------- --------- ----------------
100.00    0.004027          14       139         3 total
'''


class Summary(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(sc.parse_summary(SUMMARY),
                         {'wait4': 3, 'rt_sigaction': 132, 'access': 3, 'vfork': 1})

    def test_empty_table(self):
        text = '\n'.join(SUMMARY.splitlines()[:2] + SUMMARY.splitlines()[-2:])
        text = text.replace('139         3', '  0         0')
        self.assertEqual(sc.parse_summary(text), {})

    def test_bad_total(self):
        with self.assertRaisesRegex(sc.LogError, 'total'):
            sc.parse_summary(SUMMARY.replace('139', '140'))

    def test_bad_layouts(self):
        lines = SUMMARY.splitlines()
        for bad in ('', 'nothing here\n',
                    '\n'.join(lines[1:]),                 # no header
                    '\n'.join(lines[:1] + lines[2:]),     # no dashes
                    '\n'.join(lines[:-2]),                # no total
                    SUMMARY + 'trailing junk\n',
                    SUMMARY.replace('942', 'x'),
                    SUMMARY.replace('vfork', 'wait4'),    # listed twice
                    SUMMARY + SUMMARY):
            with self.assertRaises(sc.LogError, msg=bad):
                sc.parse_summary(bad)


class Check(unittest.TestCase):
    BODY = f'''
        101   {FWD_A} getppid()      = 100
        101   {FWD_A} getppid()      = 100
        101   {FWD_A} exit_group(0)  = ?
    '''

    def test_compare(self):
        self.assertEqual(sc.compare({'a': 1, 'b': 2}, {'a': 1, 'b': 2}), [])
        self.assertEqual(sc.compare({'a': 1, 'b': 2}, {'b': 3, 'c': 1}),
                         [('a', 1, 0), ('b', 2, 3), ('c', 0, 1)])

    def test_pass(self):
        a = sc.analyse(program(self.BODY))
        problems, diff = sc.check(a, {'getppid': 2, 'exit_group': 1},
                                  expects=[('getppid', 2)])
        self.assertEqual((problems, diff), ([], []))

    def test_mismatch(self):
        a = sc.analyse(program(self.BODY))
        problems, diff = sc.check(a, {'getppid': 1, 'exit_group': 1})
        self.assertEqual(diff, [('getppid', 2, 1)])
        self.assertEqual(len(problems), 1)
        self.assertIn('getppid', sc.format_table(a.counts, {'getppid': 1}, only_diff=True))
        self.assertIn('exit_group', sc.explain(a, "exit_group", 0))

    def test_expect_minimum(self):
        a = sc.analyse(program(self.BODY))
        problems, _ = sc.check(a, {'getppid': 2, 'exit_group': 1},
                               expects=[('getppid', 3)])
        self.assertEqual(len(problems), 1)

    def test_expected_escapes(self):
        a = sc.analyse(program(self.BODY))
        ok = sc.check(a, {'getppid': 0, 'exit_group': 1}, escapes=['getppid'])
        self.assertEqual(ok, ([], []))
        for defuse in ({'getppid': 2, 'exit_group': 1},     # nothing escaped
                       {'getppid': 0, 'exit_group': 0},     # more than expected
                       {'getppid': 3, 'exit_group': 1}):    # defuse saw more
            problems, _ = sc.check(a, defuse, escapes=['getppid'])
            self.assertEqual(len(problems), 1, defuse)

    def test_vacuous_runs_fail(self):
        # No marker at all: nothing counted, an empty summary "matches".
        lines = [l for l in program(self.BODY) if 'syscall_0xdef' not in l]
        a = sc.analyse(lines)
        problems, diff = sc.check(a, {})
        self.assertEqual(diff, [])
        self.assertTrue(any('no marker' in p for p in problems))
        self.assertTrue(any('unmarked' in p or 'has no marker' in p for p in problems))
        self.assertTrue(any('vacuous' in p for p in problems))
        problems, _ = sc.check(a, {}, allow_unmarked=True)
        self.assertFalse(any('has no marker' in p for p in problems))

    def test_marker_outside_its_own_range(self):
        lines = [l.replace(f'{OWN_A} syscall_0xdef', f'{LIBC} syscall_0xdef')
                 for l in program(self.BODY)]
        a = sc.analyse(lines)
        problems, diff = sc.check(a, {'getppid': 2, 'exit_group': 1})
        self.assertTrue(any('outside the own range' in p for p in problems))
        self.assertEqual(diff, [('syscall_0xdef', 1, 0)])


class RealStraceLog(unittest.TestCase):
    """The line parser on a real log: counting every call line of a run must
    give what strace's own summary (-C) of the same run says."""

    # Calls that never return, which strace's summary leaves out.
    NO_RETURN = {'exit', 'exit_group'}

    @unittest.skipIf(shutil.which('strace') is None, 'strace is not installed')
    def test_against_strace_summary(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'S.log')
            script = ('ls -l / | sort | head -3 > %s/x; cat %s/x > /dev/null; '
                      'f() { echo $(( $1 + 1 )); }; f 1 > /dev/null; '
                      'sh -c "true" & wait' % (tmp, tmp))
            p = subprocess.run(['strace', '-C', '-f', '-i', '-qq', '-o', path,
                                '--', 'sh', '-c', script],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               universal_newlines=True)
            if p.returncode != 0 and 'ptrace' in p.stderr:
                self.skipTest('strace cannot trace here: ' + p.stderr.strip())
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(path) as f:
                text = f.read()
        cut = text.index('% time')
        body, summary = text[:cut].splitlines(), text[cut:]
        counts = {}
        for n, l in enumerate(body, 1):
            ln = sc.parse_line(l, n)
            if ln is not None and ln.kind in ('call', 'unfinished') \
                    and ln.name not in self.NO_RETURN:
                counts[ln.name] = counts.get(ln.name, 0) + 1
        self.assertEqual(counts, sc.parse_summary(summary))
        # The whole log goes through the rule without a LogError; with no
        # marker in it, nothing counts.
        a = sc.analyse(body)
        self.assertEqual(sum(a.counts.values()), 0)
        self.assertGreaterEqual(len(a.images), 4)     # ls, sort, head, cat, sh


if __name__ == '__main__':
    unittest.main(verbosity=2)
