"""A seccomp-BPF deny list for the code sandbox, compiled to the raw `struct sock_filter[]` that bwrap loads.

No libseccomp: the program is small enough to write out. It is x86_64 only (`SUPPORTED_ARCH`); on another
architecture `build_filter` raises, and the sandbox treats that as weaker isolation (see sandbox.py).

What it denies (errno EPERM unless noted), for every process in the sandbox, harness included:
- reaching another process's memory or file descriptors: ptrace, process_vm_readv/writev, pidfd_getfd, kcmp
  (the harness and the candidate share a uid inside the sandbox; this is what keeps the harness's memory,
  and so the tests, out of the candidate's reach);
- new namespaces and mounts: unshare, setns, clone with any CLONE_NEW* flag, mount and the new mount API,
  pivot_root, chroot; clone3 fails with ENOSYS so that glibc falls back to clone, whose flags we can see;
- kernel attack surface a test never needs: bpf, perf_event_open, userfaultfd, io_uring, keyrings, module
  loading, kexec, reboot, swap, clock setting, quotas, syslog, iopl/ioperm, modify_ldt, personality,
  open_by_handle_at, fanotify, memfd_secret;
- sockets other than AF_UNIX (EAFNOSUPPORT): the network namespace already has no route out, and this also
  closes AF_VSOCK (not namespaced; on a VM it reaches the hypervisor), AF_NETLINK and AF_PACKET;
- x32 system calls (numbers with bit 30 set), and any other architecture's calls (the process is killed).
"""

from __future__ import annotations

import platform
import struct

__all__ = ["DENIED_X86_64", "SUPPORTED_ARCH", "build_filter"]

SUPPORTED_ARCH = "x86_64"

# System call numbers from the kernel's arch/x86/entry/syscalls/syscall_64.tbl (checked against
# <asm/unistd_64.h> by tests/verifiers/test_code_sandbox.py when the header is installed).
DENIED_X86_64: dict[str, int] = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438, "kcmp": 312,
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "keyctl": 250, "add_key": 248, "request_key": 249, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "swapon": 167,
    "swapoff": 168, "acct": 163, "quotactl": 179, "quotactl_fd": 443, "syslog": 103, "iopl": 172,
    "ioperm": 173, "modify_ldt": 154, "personality": 135, "settimeofday": 164, "clock_settime": 227,
    "clock_adjtime": 305, "adjtimex": 159, "open_by_handle_at": 304, "name_to_handle_at": 303,
    "fanotify_init": 300, "lookup_dcookie": 212, "vhangup": 153, "uselib": 134, "_sysctl": 156,
    "ustat": 136, "sysfs": 139, "memfd_secret": 447,
}
_NR_CLONE, _NR_CLONE3, _NR_SOCKET = 56, 435, 41

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
# | CLONE_NEWNET
_CLONE_NEW_MASK = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 \
    | 0x40000000
_AF_UNIX = 1
_EPERM, _ENOSYS, _EAFNOSUPPORT = 1, 38, 97

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_RET_KILL_PROCESS = 0x80000000

# offsets in struct seccomp_data (little-endian): nr, arch, instruction_pointer, args[6]
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LO = 0, 4, 16


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF)


def build_filter() -> bytes:
    """The filter program for this machine's architecture; `ValueError` on an unsupported one."""
    machine = platform.machine()
    if machine != SUPPORTED_ARCH:
        raise ValueError(f"the sandbox's seccomp filter is written for {SUPPORTED_ARCH}, this machine is {machine}")
    deny_nrs = sorted(set(DENIED_X86_64.values()))
    # Layout (indices): 0 ld arch; 1 jeq arch; 2 kill; 3 ld nr; 4 jge x32 -> deny; then one jeq per denied nr
    # -> deny; then clone, clone3 and socket checks; then allow; the shared return blocks sit at the end.
    prog: list[tuple[int, int, int, int]] = []
    prog.append((_LD_W_ABS, 0, 0, _OFF_ARCH))
    prog.append((_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64))  # -> skip the kill
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_KILL_PROCESS))
    prog.append((_LD_W_ABS, 0, 0, _OFF_NR))
    fixups: list[tuple[int, str]] = []  # (instruction index, label its jt jumps to)
    fixups.append((len(prog), "deny"))
    prog.append((_JGE_K, 0, 0, _X32_SYSCALL_BIT))
    for nr in deny_nrs:
        fixups.append((len(prog), "deny"))
        prog.append((_JEQ_K, 0, 0, nr))
    fixups.append((len(prog), "clone"))
    prog.append((_JEQ_K, 0, 0, _NR_CLONE))
    fixups.append((len(prog), "enosys"))
    prog.append((_JEQ_K, 0, 0, _NR_CLONE3))
    fixups.append((len(prog), "socket"))
    prog.append((_JEQ_K, 0, 0, _NR_SOCKET))
    labels: dict[str, int] = {}
    labels["allow"] = len(prog)
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    labels["clone"] = len(prog)  # clone(flags, ...): deny if any CLONE_NEW* bit is set
    prog.append((_LD_W_ABS, 0, 0, _OFF_ARG0_LO))
    prog.append((_JSET_K, 1, 0, _CLONE_NEW_MASK))
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _EPERM))
    labels["socket"] = len(prog)  # socket(domain, ...): AF_UNIX only
    prog.append((_LD_W_ABS, 0, 0, _OFF_ARG0_LO))
    prog.append((_JEQ_K, 0, 1, _AF_UNIX))
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _EAFNOSUPPORT))
    labels["enosys"] = len(prog)
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _ENOSYS))
    labels["deny"] = len(prog)
    prog.append((_RET_K, 0, 0, _SECCOMP_RET_ERRNO | _EPERM))
    for index, label in fixups:
        code, _, jf, k = prog[index]
        offset = labels[label] - index - 1
        if not 0 <= offset <= 255:
            raise AssertionError(f"seccomp jump of {offset} does not fit in a byte")
        prog[index] = (code, offset, jf, k)
    return b"".join(_insn(*i) for i in prog)
