"""Process settings for the patching loops: a paused cyclic collector and a heap kept between forwards.

A patching loop (ACDC, exact edge patching) runs hundreds of forwards that each allocate and free the
same few megabytes of tensors. Two process-wide defaults make that dearer than the arithmetic:

- Python's cyclic garbage collector, triggered by the many small objects a forward creates, walks
  the whole object graph of the process (about 0.5 M objects with TransformerLens loaded): 4-6 % of a
  medium ACDC run (perf). The loops make no cyclic garbage; reference counting frees everything.
- glibc's malloc returns freed memory at the top of the heap to the system once more than its trim
  threshold (2x a dynamic mmap threshold) is free, which a forward's freed tensors exceed: the next
  forward faults the same pages back in, zeroed by the kernel (measured 4,000-6,000 minor faults and
  4-10 ms of system time per small-model ACDC run of about 0.1 s, 134,000 faults per medium run).
  Inside a loop the trim threshold is raised (1 GiB) and the mmap threshold fixed (32 MiB, the most
  glibc's own rule reaches), so freed blocks are reused instead. Setting them ends glibc's dynamic
  adjustment for the process; on exit the trim threshold is put at 64 MiB, the value that rule reaches
  for 32 MiB blocks. Only on glibc (Linux); elsewhere, or with ``HOLD_HEAP = False``, nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

#: False leaves malloc's thresholds alone (see the module docstring)
HOLD_HEAP = True

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
LOOP_TRIM_BYTES = 1 << 30
LOOP_MMAP_BYTES = 32 << 20
AFTER_TRIM_BYTES = 64 << 20


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (re-enabled after, unless the caller had disabled it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@lru_cache(maxsize=1)
def _glibc() -> Any | None:
    """glibc's ``mallopt`` when the process runs on glibc, else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        version = libc.gnu_get_libc_version  # glibc only: musl and macOS libc lack it
        version.restype = ctypes.c_char_p
        version()
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


_depth = 0  # nesting of held_heap blocks (ACDC's loop holds run_masks' loops): only the outermost sets


@contextlib.contextmanager
def held_heap() -> Iterator[bool]:
    """Keep freed heap memory for reuse while the block runs (see the module docstring); yields whether
    the thresholds are held."""
    global _depth
    mallopt = _glibc() if HOLD_HEAP else None
    outer = _depth == 0
    held = bool(mallopt) and (not outer or bool(mallopt(_M_MMAP_THRESHOLD, LOOP_MMAP_BYTES)
                                                and mallopt(_M_TRIM_THRESHOLD, LOOP_TRIM_BYTES)))
    _depth += 1
    try:
        yield held
    finally:
        _depth -= 1
        if outer and held and mallopt is not None:
            mallopt(_M_TRIM_THRESHOLD, AFTER_TRIM_BYTES)


@contextlib.contextmanager
def patching_loop() -> Iterator[None]:
    """Both settings for one patching loop."""
    with paused_gc(), held_heap():
        yield
