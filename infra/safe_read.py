"""Bounded reads of files a user or a client names, and the folders a Celery task may read.

Every file read of untrusted input goes through `read_limited` (or `open_regular` for a
stream): only a regular file is read, never a device, FIFO or socket (`/dev/zero` would
stream for ever, a FIFO would block the open), its size is checked before reading, and
the read stops at the limit + 1 byte, so a file that grows, or lies about its size
(`/proc`), is refused too. Errors are coded and name the path, never the content.

Celery tasks run on a worker host, for clients that may not read its disk: a path in a
task argument is read only inside the folders the worker's operator lists in
`VIGIL_TASK_FILE_ROOTS` (none by default, so tasks take bytes), after symlinks and
`..` are resolved (`allowed_path`), and the opened file is checked again (`roots=`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from io import FileIO
from pathlib import Path

from vigil.schemas.errors import ErrorCode, VigilError

MIB = 1024 * 1024
IMAGE_LIMIT = 50 * MIB  # a picture file (or picture bytes) of any accepted format
CONFIG_LIMIT = 1 * MIB  # a pipeline configuration (YAML/JSON)
FEATURE_LIMIT = 1 * MIB  # a Feature JSON file (about 1 KB in practice)
TASK_ROOTS_ENV = "VIGIL_TASK_FILE_ROOTS"
CHUNK = 1 * MIB

PathLike = str | os.PathLike[str]
KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


def kind_of(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "not a file")


def not_regular(path: PathLike, mode: int) -> VigilError:
    if stat.S_ISDIR(mode):  # as before: a folder is no file to read
        return VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: is a directory, not a file")
    return VigilError(
        ErrorCode.NOT_A_REGULAR_FILE,
        f"{path}: {kind_of(mode)}, not a regular file; refused before reading",
    )


def too_large(path: PathLike, size: int | None, limit: int, what: str) -> VigilError:
    """FILE_TOO_LARGE; `size` None: the file turned out larger than it said when read."""
    if size is None:
        message = f"over the limit of {limit:,} bytes for a {what} once read (it grew, or"
        message += " its size was misreported)"
    else:
        message = f"{size:,} bytes, over the limit of {limit:,} bytes for a {what}"
    return VigilError(ErrorCode.FILE_TOO_LARGE, f"{path}: {message}")


def os_error(path: PathLike, exc: OSError) -> VigilError:
    if isinstance(exc, FileNotFoundError):
        return VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: no such file")
    if exc.errno == errno.ENXIO:  # a socket, or a device without its driver
        return VigilError(ErrorCode.NOT_A_REGULAR_FILE, f"{path}: not a regular file")
    return VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: cannot read ({exc.strerror or exc})")


def inside(real: str, roots: Sequence[str]) -> bool:
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def opened_path(fd: int, fallback: PathLike) -> str:
    """Where an open file really is (Linux: /proc/self/fd), whatever was swapped since."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(fallback)


@contextmanager
def open_regular(
    path: PathLike, roots: Sequence[str] | None = None
) -> Iterator[tuple[FileIO, int]]:
    """(binary file, size) of a regular file; refuses anything else without blocking.

    `roots`: the file must lie inside one of these folders (real paths) once opened.
    """
    try:
        before = os.stat(path)  # refuse devices before opening them at all
    except OSError as exc:
        raise os_error(path, exc) from None
    if not stat.S_ISREG(before.st_mode):
        raise not_regular(path, before.st_mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO swapped in since the stat never blocks
    except OSError as exc:
        raise os_error(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular(path, info.st_mode)
        if roots is not None and not inside(opened_path(fd, path), roots):
            raise outside(path)
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle, info.st_size


def read_limited(
    path: PathLike, limit: int, *, what: str = "file", roots: Sequence[str] | None = None
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or a coded VigilError.

    The size is checked before reading and the read stops at `limit` + 1 bytes, so
    memory stays bounded even for a file that grows or reports a wrong size.
    """
    with open_regular(path, roots) as (handle, size):
        if size > limit:
            raise too_large(path, size, limit, what)
        data = bytearray()
        while len(data) <= limit:
            chunk = handle.read(min(CHUNK, limit + 1 - len(data)))
            if not chunk:
                return bytes(data)
            data += chunk
    raise too_large(path, None, limit, what)


# -- what a Celery task may read ------------------------------------------------------------


def task_roots(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The folders a task may read (real paths), from VIGIL_TASK_FILE_ROOTS (os.pathsep)."""
    raw = (os.environ if environ is None else environ).get(TASK_ROOTS_ENV, "")
    return tuple(os.path.realpath(part) for part in raw.split(os.pathsep) if part.strip())


def shown(path: object) -> str:
    text = repr(str(path))
    return text if len(text) <= 200 else text[:197] + "..."


def outside(path: object, setting: str = TASK_ROOTS_ENV) -> VigilError:
    return VigilError(
        ErrorCode.PATH_NOT_ALLOWED,
        f"{shown(path)} is outside the folders this process may read ({setting})",
    )


def allowed_path(
    path: object, roots: Sequence[str], what: str = "file", setting: str = TASK_ROOTS_ENV
) -> Path:
    """The real path of `path` if it lies inside `roots`; PATH_NOT_ALLOWED otherwise.

    Symlinks and `..` are resolved first, so neither can lead outside; relative paths
    and NUL characters are refused. Nothing is read or created here. `setting` names
    where the operator lists the roots (a Celery worker's VIGIL_TASK_FILE_ROOTS, `vigil
    serve --source-dir`), for the message.
    """
    if not roots:
        raise VigilError(
            ErrorCode.PATH_NOT_ALLOWED,
            f"this process takes no {what} paths ({shown(path)}): send the bytes, or have its"
            f" operator list the folders it may read in {setting}",
        )
    if not isinstance(path, str) or "\x00" in path or not os.path.isabs(path):
        raise VigilError(
            ErrorCode.PATH_NOT_ALLOWED, f"{shown(path)}: a {what} path must be absolute"
        )
    real = os.path.realpath(path)
    if not inside(real, roots):
        raise outside(path, setting)
    return Path(real)


def read_task_file(path: object, limit: int, what: str = "picture") -> bytes:
    """A task's file argument, read inside VIGIL_TASK_FILE_ROOTS only, bounded."""
    roots = task_roots()
    real = allowed_path(path, roots, what)
    return read_limited(real, limit, what=what, roots=roots)


def is_local(task: object) -> bool:
    """Whether a Celery task runs in its caller's process (eager), not on a worker."""
    return bool(getattr(getattr(task, "request", None), "is_eager", False))


def task_input(value: object, *, local: bool, limit: int = IMAGE_LIMIT, what: str = "picture"):
    """A task's picture argument, ready for the library: a path becomes its bytes.

    `local`: the task runs in its caller's process (eager Celery, `vigil demo`), whose
    paths are its own, as in the library; a path is then passed on unchanged. A worker
    reads it inside VIGIL_TASK_FILE_ROOTS only. Bytes and Feature dicts pass unchanged.
    """
    if isinstance(value, str) and not local:
        return read_task_file(value, limit, what)
    return value
