"""A plain-text progress bar with ETA for long profiling runs (stderr, no extra package)."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f'{h}:{m:02d}:{s:02d}' if h else f'{m}:{s:02d}'


class Progress:
    """``[#####.....] 5/10  50%  elapsed 0:20  eta 0:20  <label>``.

    Redraws one line on a terminal; prints one line per step otherwise (logs, CI). The ETA
    is the mean time of the steps done so far times the steps left.
    """

    def __init__(self, total: int, what: str = 'designs', stream: TextIO | None = None,
                 width: int = 24) -> None:
        self.total = max(0, total)
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self.start = time.monotonic()
        self._tty = bool(getattr(self.stream, 'isatty', lambda: False)())

    def line(self, label: str = '') -> str:
        elapsed = time.monotonic() - self.start
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        eta = (elapsed / self.done * (self.total - self.done)) if self.done else None
        eta_text = fmt_seconds(eta) if eta is not None else '?'
        return (f'[{"#" * filled}{"." * (self.width - filled)}] {self.done}/{self.total} '
                f'{self.what} {frac * 100:3.0f}%  elapsed {fmt_seconds(elapsed)}  eta '
                f'{eta_text}  {label}').rstrip()

    def show(self, label: str = '') -> None:
        text = self.line(label)
        if self._tty:
            self.stream.write('\r\x1b[2K' + text)
        else:
            self.stream.write(text + '\n')
        self.stream.flush()

    def step(self, label: str = '') -> None:
        self.done = min(self.total, self.done + 1)
        self.show(label)

    def finish(self) -> None:
        if self._tty:
            self.stream.write('\n')
            self.stream.flush()
