"""Progress bars: tqdm on stderr when asked for, a silent stand-in (tqdm not imported) when not."""

from __future__ import annotations

from typing import Any


class _Silent:
    """What a disabled bar needs to answer; importing tqdm costs ~0.1-0.2 s of start-up."""

    def update(self, n: float = 1) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    total: int | None, desc: str, enabled: bool = True, unit: str = "step", initial: int = 0
) -> Any:
    """A tqdm bar (an ETA once a step is done), or a silent one; usable in a ``with`` block.

    Parameters
    ----------
    total : int or None
        Steps expected (None: unknown, no ETA).
    desc : str
        The bar's label.
    enabled : bool
        False gives the silent bar.
    unit : str
        What a step is ("fold", "sample", "round", ...).
    initial : int
        Steps already done (a resumed run).
    """
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit)
