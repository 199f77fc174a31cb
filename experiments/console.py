"""What a command prints besides its results: progress bars ended before a message.

A message printed while a tqdm bar is drawn would be glued to the bar's end, so every
one-line message (an error, a stop) first ends the bars. tqdm is only consulted where a
bar can exist; nothing here imports it.
"""

from __future__ import annotations

import sys

__all__ = ["end_progress_bars"]


def end_progress_bars() -> None:
  """Closes every open tqdm bar, so that the next line starts on a line of its own."""
  std = sys.modules.get("tqdm.std")  # only if a bar can exist
  if std is not None:
    for bar in list(getattr(std.tqdm, "_instances", ())):
      bar.close()
