"""Progress in the terminal for long commands (demo and benchmark loads, catalog import, claim export): tqdm's
bar with the rate and the time left, on stderr, and nothing at all when stderr is not a terminal (logs, CI)."""

from collections.abc import Iterable

from tqdm import tqdm


def progress_bar(iterable: Iterable | None = None, *, total: int | None, desc: str, unit: str = "rows") -> tqdm:
    scale = total is not None and total >= 10_000  # 1.00M rows, not 1000000
    return tqdm(iterable, total=total, desc=desc, unit=f" {unit}", unit_scale=scale, disable=None, dynamic_ncols=True)
