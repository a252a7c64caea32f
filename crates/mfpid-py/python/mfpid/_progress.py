"""Progress reporting for long runs: ``progress=True`` shows a tqdm bar when tqdm is installed,
otherwise a one-line text bar on stderr; ``progress=callable`` receives the fraction done."""

import sys
from typing import Any, Callable, Optional


class _TextBar:
    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.last = -1

    def __call__(self, fraction: float) -> None:
        pct = int(100 * fraction)
        if pct != self.last:
            self.last = pct
            filled = pct // 4
            sys.stderr.write(f"\r{self.desc} [{'#' * filled}{'.' * (25 - filled)}] {pct:3d}%")
            if pct >= 100:
                sys.stderr.write("\n")
            sys.stderr.flush()

    def close(self) -> None:
        if 0 <= self.last < 100:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _TqdmBar:
    def __init__(self, tqdm: Any, desc: str) -> None:
        self.bar = tqdm(total=1000, desc=desc, unit="‰", leave=True)

    def __call__(self, fraction: float) -> None:
        n = int(1000 * fraction)
        if n > self.bar.n:
            self.bar.update(n - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class reporter:
    """Context manager giving the callable passed to the native layer (or None)."""

    def __init__(self, progress: Any, desc: str) -> None:
        self.progress = progress
        self.desc = desc
        self.bar: Optional[Any] = None

    def __enter__(self) -> Optional[Callable[[float], None]]:
        p = self.progress
        if p is None or p is False:
            return None
        if callable(p):
            return p
        try:
            from tqdm.auto import tqdm  # type: ignore

            self.bar = _TqdmBar(tqdm, self.desc)
        except ImportError:
            self.bar = _TextBar(self.desc)
        return self.bar

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
