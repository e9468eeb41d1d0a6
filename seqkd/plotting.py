"""matplotlib for the plots seqkd writes: the Agg backend, its caches kept inside the folder
the user named, and figures written atomically."""

from __future__ import annotations

import logging
import os
from pathlib import Path

#: the resolution plots are drawn and saved at (labels are placed as drawn at it)
DPI = 120


def pyplot(folder: Path):
    """``matplotlib.pyplot`` on the Agg backend. matplotlib keeps a font cache in ~/.cache
    and ~/.config unless told otherwise; the first plot of a process keeps it in
    ``folder/.matplotlib`` instead (matplotlib reads the setting once)."""
    os.environ.setdefault("MPLCONFIGDIR", str(Path(folder) / ".matplotlib"))
    # its font cache, built once a folder, is said at INFO ("generated new fontManager"):
    # not seqkd's news
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` under a temporary name, rename it, and free it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=DPI)
    plt.close(fig)
    os.replace(tmp, path)
