"""What every benchmark case measures with: its JSON line, peak memory, and a timed loop.

A case prints one JSON object per line on stdout (`emit`); the driver (`bench/run.py`) collects
them. Peak RSS is the kernel's VmHWM, reset before a case through /proc/self/clear_refs (Linux >=
4.0), so each case reports its own peak. `timed_calls` times a loop of calls after a warm-up
(the first call traces, and compiles under XLA), with no host work inside the timed window but
the Python loop and one sync at its end.
"""

from __future__ import annotations

import json
import time

__all__ = ["emit", "reset_peak", "timed_calls", "vm_hwm_mb"]


def vm_hwm_mb() -> float:
    """The process's peak resident set size in MB (VmHWM), NaN where /proc has none."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak() -> bool:
    """Resets VmHWM to the current RSS, so the next case gets its own peak; False where the
    kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def emit(record: dict) -> None:
    """Prints one result as a JSON line."""
    print(json.dumps(record), flush=True)


def timed_calls(call, warmup: int, steps: int, sync, mark=None) -> tuple:
    """(warm-up seconds, timed seconds, `mark()` or None): `call(i)` for i in 0 .. warmup-1,
    `sync()`, `mark()` (e.g. a trace count, read between the two loops), then `call(warmup +
    i)` for i in 0 .. steps-1 and `sync()` inside the timed window."""
    t0 = time.perf_counter()
    for i in range(warmup):
        call(i)
    sync()
    warm = time.perf_counter() - t0
    marked = mark() if mark is not None else None
    t0 = time.perf_counter()
    for i in range(steps):
        call(warmup + i)
    sync()
    return warm, time.perf_counter() - t0, marked
