"""Writes the files a docs page shows as captioned code blocks into a folder.

Usage: ``python .ci/tutorial_files.py PAGE FOLDER``. A MyST block
```` ```{code-block} python ```` with ``:caption: NAME`` becomes the file ``FOLDER/NAME``:
docs/own_workload.md's model, optimizer, data script and config, so that CI
(.ci/wheel_check.sh, tests/test_user_code.py) runs the tutorial exactly as written.
"""

from __future__ import annotations

import pathlib
import re
import sys

BLOCK = re.compile(r"```\{code-block\} \w+\n:caption: (\S+)\n\n(.*?)```", re.S)


def files(page_text: str) -> dict[str, str]:
  """``{file name: text}`` of the page's captioned code blocks."""
  return dict(BLOCK.findall(page_text))


def main(argv: list[str]) -> int:
  if len(argv) != 2:
    raise SystemExit(__doc__)
  page, folder = pathlib.Path(argv[0]), pathlib.Path(argv[1])
  folder.mkdir(parents=True, exist_ok=True)
  for name, text in files(page.read_text()).items():
    (folder / name).write_text(text)
    print(f"tutorial_files: {folder / name}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main(sys.argv[1:]))
