"""tf_stylegan/progress.py: a bar on a terminal, plain complete lines in a file (at most one a
minute, plus one at the end), with a fake clock."""

import io
import re

import pytest

from tf_stylegan.progress import Progress, format_duration, track, write


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_format_duration():
    assert [format_duration(s) for s in (0, 42.4, 60, 185, 7620, 273900)] == \
        ["0s", "42s", "1m 00s", "3m 05s", "2h 07m 00s", "3d 04h 05m"]


def test_file_gets_at_most_one_line_a_minute_and_one_at_the_end():
    clock, out = Clock(), io.StringIO()
    with Progress(1000, "fakes", "img", stream=out, clock=clock) as bar:
        for _ in range(200):  # 200 steps of 5 images, 1.5 s each: 300 s in all
            clock.now += 1.5
            bar.update(5)
    text = out.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    # One line at each minute passed while running (60, 120, 180, 240 s), none at 300 s (the
    # end), then the closing line.
    assert len(lines) == 5, lines
    assert lines[0] == "fakes: 200/1000 img (20%), 3.33 img/s, 1m 00s elapsed, 4m 00s left"
    assert lines[3].startswith("fakes: 800/1000 img (80%)")
    assert lines[-1] == "fakes: 1000/1000 img in 5m 00s (3.33 img/s)"


def test_file_lines_are_spaced_by_the_interval_not_by_the_steps():
    """Steps of uneven length: a line only once a full interval has passed since the last."""
    clock, out = Clock(), io.StringIO()
    bar = Progress(None, "reals", "img", stream=out, clock=clock, interval=60)
    # Steps end at 30, 60.5 (line), 119.5, 120.5 (line), 150.5, 181.5 (line), 381.5 (line) and
    # 382.7 s (no line: 1.2 s after the last).
    for dt in (30, 30.5, 59, 1, 30, 31, 200, 1.2):
        clock.now += dt
        bar.update(1)
    lines = out.getvalue().splitlines()
    assert [line.split(", ")[0] for line in lines] == \
        ["reals: 2 img", "reals: 4 img", "reals: 6 img", "reals: 7 img"]
    bar.close()
    assert out.getvalue().splitlines()[-1].startswith("reals: 8 img in 6m 23s")


def test_fast_rates_have_no_exponent():
    clock, out = Clock(), io.StringIO()
    with Progress(5000, "demo", "img", stream=out, clock=clock) as bar:
        clock.now += 0.485
        bar.update(5000)
    assert out.getvalue() == "demo: 5000/5000 img in 0s (10309 img/s)\n"


def test_file_without_summary_and_disabled():
    clock, out = Clock(), io.StringIO()
    with Progress(10, "tick 1", "img", stream=out, clock=clock, summary=False) as bar:
        clock.now += 30
        bar.update(10)
    assert out.getvalue() == ""  # the caller's status line closes the tick
    with Progress(10, "x", stream=out, clock=clock, enabled=False) as bar:
        clock.now += 600
        bar.update(5)
    assert out.getvalue() == ""


def test_terminal_gets_a_bar_redrawn_in_place():
    clock, out = Clock(), Terminal()
    with Progress(100, "tick 3", "img", stream=out, clock=clock) as bar:
        for _ in range(10):
            clock.now += 1
            bar.update(10)
    text = out.getvalue()
    draws = text.split("\r")[1:]
    assert len(draws) == 12  # the empty bar, ten redraws, the final one
    assert text.count("\n") == 1 and text.endswith("\n")  # leave=True: the final bar stays
    assert re.match(r"tick 3 100%\|#{24}\| 100/100 img \[10s<0s, 10 img/s\]", draws[-1])
    assert "tick 3  50%|############            | 50/100 img" in text


def test_terminal_bar_is_erased_with_leave_false_and_throttled():
    clock, out = Clock(), Terminal()
    bar = Progress(1000, "reals", "img", stream=out, clock=clock, leave=False)
    for _ in range(1000):
        clock.now += 0.001  # 1000 fast steps in 1 s: about ten redraws, not a thousand
        bar.update(1)
    assert 10 <= out.getvalue().count("\r") <= 12
    bar.close()
    assert "\n" not in out.getvalue()
    assert out.getvalue().endswith("\r")  # erased: the cursor is back at the line's start
    assert out.getvalue().rsplit("\r", 2)[1].strip() == ""


def test_write_puts_a_line_above_the_bar():
    clock, term = Clock(), Terminal()
    bar = Progress(10, "fakes", stream=term, clock=clock)
    write("a note", stream=term)
    text = term.getvalue()
    before, after = text.split("a note\n")
    assert re.fullmatch(r"\rfakes .*\r +\r", before)  # the bar was erased first
    assert after == "\r" + before.split("\r")[1]  # and drawn again below
    bar.close()
    closed = term.getvalue()
    write("after", stream=term)  # a closed bar is neither erased nor drawn again
    assert term.getvalue() == closed + "after\n"


def test_track_wraps_an_iterable():
    clock, out = Clock(), io.StringIO()

    def items():
        for i in range(3):
            clock.now += 100
            yield i

    assert list(track(items(), total=3, desc="rows", unit="row", stream=out, clock=clock)) \
        == [0, 1, 2]
    lines = out.getvalue().splitlines()
    assert lines == ["rows: 1/3 row (33%), 100 s/row, 1m 40s elapsed, 3m 20s left",
                     "rows: 2/3 row (66%), 100 s/row, 3m 20s elapsed, 1m 40s left",
                     "rows: 3/3 row in 5m 00s (100 s/row)"]


def test_scaled_counts_bytes_as_megabytes():
    clock, out = Clock(), io.StringIO()
    with Progress(3_000_000, "ffhq.pkl", "MB", scale=1e6, stream=out, clock=clock) as bar:
        clock.now += 61
        bar.update(1_220_000)
        clock.now += 61
        bar.update(1_780_000)
    assert out.getvalue().splitlines() == [
        # 61 s / 1.22 MB = 50 s per MB; 1.78 MB left at 0.02 MB/s: 89 s
        "ffhq.pkl: 1.2/3.0 MB (40%), 50 s/MB, 1m 01s elapsed, 1m 29s left",
        "ffhq.pkl: 3.0/3.0 MB in 2m 02s (40.7 s/MB)"]


@pytest.mark.parametrize("tty", [False, True])
def test_stream_is_the_stderr_of_the_moment(tty, monkeypatch):
    out = Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    with Progress(2, "x") as bar:
        bar.update(2)
    assert ("\r" in out.getvalue()) == tty and out.getvalue().endswith("\n")
