"""The progress counter of a long fit (tqdm), shown only where someone can see it."""

from __future__ import annotations

import sys

__all__ = ["Progress"]


class Progress:
    """A tqdm counter of evaluations; shown after a second, or at once when asked."""

    def __init__(self, progress):
        self.bar = None
        if progress is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return
        if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
            return
        self.bar = tqdm(desc="Minimizing", unit=" evals", delay=0.0 if progress else 1.0, leave=False)

    def update(self, f):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"objective: {f:.6g}", refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()
