"""The last exec of a container process goes through a sealed in-memory trampoline.

Until it executes the user's program, a container process is a fork of the engine's Python,
so /proc/self/exe is the host's interpreter. A program whose interpreter line is
`#!/proc/self/exe` (the door of CVE-2019-5736) would make the kernel load that interpreter
into the container, where the container could hold on to it and write it once nothing runs
it. So the fork first executes a tiny static program from a sealed memfd (runc executes
itself from a sealed memfd for the same reason), which then executes the user's program:
during that exec /proc/self/exe is the sealed memfd, which nobody can write.

The trampoline takes argv = [name, report_fd as one byte, path, argv0, args...]. It marks
the report descriptor close-on-exec, calls execve(path, &argv[3], envp) and, when that
fails, writes `{"t":"error","message":"exec failed: errno NNN"}` to the report descriptor
(the runtime's message pipe) and exits with 127. Its code (x86_64 only; elsewhere the fork
executes the program directly) is the assembly below, assembled with GNU as:

    mov rbx, [rsp+16]; movzx r12d, byte ptr [rbx]           # the report fd
    mov edi, r12d; mov esi, 2; mov edx, 1; mov eax, 72; syscall   # fcntl F_SETFD CLOEXEC
    mov rdi, [rsp+24]; lea rsi, [rsp+32]; mov rax, [rsp]
    lea rdx, [rsp+rax*8+16]; mov eax, 59; syscall           # execve(argv[2], argv+3, envp)
    neg eax; sub rsp, 16; mov ecx, 10                       # errno as three digits
    (xor edx, edx; div ecx; add dl, 48; mov [rsp+i], dl) for i = 2, 1, 0
    write(fd, prefix, 43); write(fd, rsp, 3); write(fd, suffix, 3)
    mov edi, 127; mov eax, 231; syscall                     # exit_group(127)
    prefix: .ascii "{\"t\":\"error\",\"message\":\"exec failed: errno "
    suffix: .ascii "\"}\n"
"""

from __future__ import annotations

import errno
import fcntl
import os
import platform
import struct

_CODE_X86_64 = bytes.fromhex(
    "488b5c2410440fb6234489e7be02000000ba01000000b8480000000f05488b7c2418488d742420"
    "488b0424488d54c410b83b0000000f05f7d84883ec10b90a00000031d2f7f180c2308854240231"
    "d2f7f180c2308854240131d2f7f180c2308814244489e7488d3540000000ba2b000000b8010000"
    "000f054489e74889e6ba03000000b8010000000f054489e7488d3543000000ba03000000b80100"
    "00000f05bf7f000000b8e70000000f057b2274223a226572726f72222c226d657373616765223a"
    "2265786563206661696c65643a206572726e6f20227d0a"
)
_BASE = 0x400000
_EHDR = 64
_PHDR = 56
_MFD_EXEC = 0x10
_F_SEAL_EXEC = 0x20


def _elf(code: bytes) -> bytes:
    """A static ELF64 executable of one R+X segment holding `code` after the headers."""
    size = _EHDR + _PHDR + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr = struct.pack(
        "<16sHHIQQQIHHHHHH",
        ident,
        2,  # ET_EXEC
        0x3E,  # EM_X86_64
        1,
        _BASE + _EHDR + _PHDR,  # entry
        _EHDR,  # program headers right after this header
        0,
        0,
        _EHDR,
        _PHDR,
        1,
        0,
        0,
        0,
    )
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)  # PT_LOAD R+X
    return ehdr + phdr + code


def available() -> bool:
    return platform.machine() in ("x86_64", "AMD64")


def sealed_trampoline() -> int | None:
    """A close-on-exec memfd holding the trampoline, sealed against writes, resizing and
    mode changes; None where there is no trampoline for this architecture or the kernel
    refuses executable memfds (vm.memfd_noexec=2)."""
    if not available():
        return None
    base = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("dockyard-exec", base | _MFD_EXEC)
    except OSError as e:
        if e.errno != errno.EINVAL:  # EACCES: executable memfds are forbidden here
            return None
        fd = os.memfd_create("dockyard-exec", base)  # a kernel older than MFD_EXEC
    try:
        data = _elf(_CODE_X86_64)
        os.write(fd, data)
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        try:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals | _F_SEAL_EXEC)
        except OSError:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_format(path: str) -> None:
    """Refuse, with execve's own error, a file the kernel could not execute: the trampoline
    can only report a bare errno, so the common mistake is caught here with its path."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return  # execute-only, or gone: the exec itself will tell
    try:
        head = os.pread(fd, 4, 0)
    finally:
        os.close(fd)
    if head[:4] != b"\x7fELF" and head[:2] != b"#!":
        raise OSError(errno.ENOEXEC, os.strerror(errno.ENOEXEC), path)


def execute(trampoline: int, report_fd: int, path: str, args: list[str], env: dict[str, str]):
    """Execute `path` through the trampoline; `report_fd` (1..255) gets an exec failure."""
    if not 0 < report_fd < 256:
        raise ValueError(f"report descriptor {report_fd} out of range for the trampoline")
    os.set_inheritable(report_fd, True)  # the trampoline closes it on its own exec
    # the descriptor as one raw byte: chr() would be encoded, two bytes from 128 on
    os.execve(trampoline, [b"dockyard-exec", bytes([report_fd]), path, *args], env)
