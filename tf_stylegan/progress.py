"""Progress of long-running loops, readable both on a terminal and in a log file.

On a terminal (a stream whose `isatty()` is True) a bar is redrawn in place with carriage
returns. Anywhere else (a log file, a pipe, a cluster job's output) such redraws pile up into
megabytes of one unreadable line, so plain complete lines are written instead: at most one
every `interval` seconds (a minute by default) with the count, total, rate and time left, and
one when the loop ends, in the manner of stylegan2-ada-pytorch's logs (one plain status line per
tick, `training/training_loop.py`).

Every command that runs for long reports through this module: building a dataset, training
ticks, metrics, projection, exports. Standard library only, so that every part may import it.

Example:
    >>> for seed in track(seeds, desc="images", unit="img"):
    ...     render(seed)
    >>> with Progress(total=1000, desc="fakes", unit="img") as bar:
    ...     bar.update(50)
"""

from __future__ import annotations

import shutil
import sys
import time

__all__ = ["Progress", "format_duration", "track", "write"]

# Seconds between two redraws of a terminal bar (a redraw per step would cost more than the
# step for fast loops).
REDRAW_SECONDS = 0.1
BAR_WIDTH = 24

_active: list[Progress] = []  # open terminal bars, cleared and redrawn around `write`


def format_duration(seconds: float) -> str:
    """A duration the way a person reads it: '42s', '3m 05s', '2h 07m 00s', '3d 04h 05m'."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h {s % 3600 // 60:02d}m"


def _figure(x: float) -> str:
    """Three significant digits, without an exponent: '3.33', '40.7', '10300'."""
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """Counts the steps of a loop and reports them on `stream`.

    Args:
        total: int or None. Expected number of steps (None: unknown; no percentage or time
            left then).
        desc: str. What is counted, printed first ("fakes", "tick 3").
        unit: str. Unit of a step ("img", "step").
        enabled: bool. False writes nothing at all.
        stream: text stream, default `sys.stderr` as it is when the bar is made.
        leave: bool. On a terminal, keep the finished bar on screen (False erases it).
        summary: bool. Off a terminal, write a closing line when done; False when the caller
            prints its own line right after (the training loop's tick status line).
        interval: float. Off a terminal, the least number of seconds between two lines.
        scale: float. Steps per `unit` shown (1e6 counts bytes and shows MB with unit "MB").
        clock: callable returning seconds (monotonic); tests pass a fake one.
    """

    def __init__(self, total=None, desc="", unit="it", *, enabled=True, stream=None, leave=True,
                 summary=True, interval=60.0, scale=1, clock=time.monotonic):
        self.total = None if total is None else int(total)
        self.desc, self.unit = desc, unit
        self.enabled = bool(enabled)
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.enabled and _is_tty(self.stream)
        self.leave, self.summary, self.interval = leave, summary, float(interval)
        self.scale, self.clock = scale, clock
        self.n = 0
        self.postfix = ""
        self.closed = not self.enabled
        self.start = self._last = clock()
        self._drawn = 0  # characters of the bar now on screen
        if self.tty:
            _active.append(self)
            self._draw()

    # --- Counting ---

    def update(self, n=1) -> None:
        """Adds `n` steps; writes a line or redraws the bar when it is time to."""
        if self.closed:
            return
        self.n += n
        now = self.clock()
        if self.tty:
            if now - self._last >= REDRAW_SECONDS:
                self._last = now
                self._draw()
        elif now - self._last >= self.interval and (self.total is None or self.n < self.total):
            self._last = now
            self._line(self.status(now))

    def set_postfix(self, **values) -> None:
        """Extra figures shown after the count (`dist=0.1234`, `skipped=2`)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        """Ends the report: the final bar (or none) on a terminal, the closing line elsewhere."""
        if self.closed:
            return
        self.closed = True
        if self.tty:
            _active.remove(self)
            if self.leave:  # one write, so that a tee dropping redraws drops it whole
                self._draw(end="\n")
            else:
                self._erase()
            self.stream.flush()
        elif self.summary:
            self._line(self.summary_line(self.clock()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- Text ---

    def _rate(self, elapsed):
        """(steps per second or None, its text)."""
        if self.n <= 0 or elapsed <= 0:
            return None, f"? {self.unit}/s"
        rate = self.n / elapsed  # steps per second
        shown = rate / self.scale
        if shown >= 1:
            return rate, f"{_figure(shown)} {self.unit}/s"
        return rate, f"{_figure(1 / shown)} s/{self.unit}"

    def _count(self):
        def number(steps):
            return f"{steps}" if self.scale == 1 else f"{steps / self.scale:.1f}"

        if self.total is None:
            return f"{number(self.n)} {self.unit}"
        return f"{number(self.n)}/{number(self.total)} {self.unit}"

    def status(self, now) -> str:
        """The line written between two steps off a terminal:
        'fakes: 600/1000 img (60%), 9.93 img/s, 1m 00s elapsed, 40s left'."""
        elapsed = now - self.start
        rate, rate_text = self._rate(elapsed)
        parts = [self._count()]
        if self.total:
            parts[0] += f" ({100 * self.n // self.total}%)"
        parts += [rate_text, f"{format_duration(elapsed)} elapsed"]
        if self.total is not None and rate:
            parts.append(f"{format_duration((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        return f"{self.desc}: " + ", ".join(parts)

    def summary_line(self, now) -> str:
        """The closing line off a terminal: 'fakes: 1000/1000 img in 1m 40s (10 img/s)'."""
        elapsed = now - self.start
        _, rate_text = self._rate(elapsed)
        extra = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {self._count()} in {format_duration(elapsed)} ({rate_text}){extra}"

    def bar_text(self, now) -> str:
        """The terminal bar: 'fakes  60%|##############          | 600/1000 img [1m 00s<40s,
        9.93 img/s]'."""
        elapsed = now - self.start
        rate, rate_text = self._rate(elapsed)
        if self.total:
            frac = min(self.n / self.total, 1.0)
            filled = int(frac * BAR_WIDTH)
            head = f"{self.desc} {int(100 * frac):3d}%|{'#' * filled}{' ' * (BAR_WIDTH - filled)}|"
            left = format_duration((self.total - self.n) / rate) if rate else "?"
            timing = f"[{format_duration(elapsed)}<{left}, {rate_text}"
        else:
            head = f"{self.desc}:"
            timing = f"[{format_duration(elapsed)}, {rate_text}"
        extra = f", {self.postfix}" if self.postfix else ""
        return f"{head} {self._count()} {timing}{extra}]"

    # --- Output ---

    def _line(self, text):
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self, end=""):
        width = shutil.get_terminal_size((80, 24)).columns - 1
        text = self.bar_text(self.clock())[:width]
        self.stream.write("\r" + text + " " * max(self._drawn - len(text), 0) + end)
        self.stream.flush()
        self._drawn = len(text)

    def _erase(self):
        self.stream.write("\r" + " " * self._drawn + "\r")
        self._drawn = 0


def track(iterable, total=None, **kwargs):
    """Yields the items of `iterable`, counting each one with a `Progress` (same keyword
    arguments; `total` defaults to `len(iterable)` when it has one)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with Progress(total, **kwargs) as bar:
        for item in iterable:
            yield item
            bar.update(1)


def write(text: str, stream=None) -> None:
    """Writes one line to `stream` (default `sys.stdout`, as `print`) without breaking the
    open terminal bars, which share the screen whatever their stream: they are erased, the line
    written, and they are drawn again below it."""
    stream = sys.stdout if stream is None else stream
    bars = list(_active)
    for bar in bars:
        bar._erase()
        bar.stream.flush()
    stream.write(text + "\n")
    stream.flush()
    for bar in bars:
        bar._draw()
