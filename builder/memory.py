"""How much memory this machine really has: `--max-memory` is never trusted beyond it.

    usable = min(physical RAM, the cgroup's memory.max when one is set)

Physical RAM is `sysconf(SC_PHYS_PAGES) · sysconf(SC_PAGE_SIZE)`; a container's cgroup v2
limit (`/sys/fs/cgroup/memory.max`, or v1's `memory.limit_in_bytes`) is where the kernel
kills the process, so it counts as the machine's size. `MemAvailable` (/proc/meminfo) is
not used: it is a snapshot that moves with the page cache and other processes, so the
same command would be accepted or refused from one minute to the next; a run planned
within physical memory may still swap when other programs hold most of it.
"""

from __future__ import annotations

import os

_CGROUP_LIMITS = (
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
)


def usable_memory() -> int | None:
    """Bytes of memory this process can ever have, or None when it cannot be told."""
    found: list[int] = []
    try:
        found.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in _CGROUP_LIMITS:
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**62:  # "max" or v1's huge sentinel: no limit
            found.append(int(text))
    positive = [size for size in found if size > 0]
    return min(positive) if positive else None
