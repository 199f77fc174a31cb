"""Prints the README's library example: the first ```python block under "The library".

Usage: ``python .ci/readme_example.py README.md > example.py``. The heading may be of any
level; it fails, naming what it looked for, when the README has no such heading or no
Python block under it, so that the example cannot silently stop being run.
"""

import re
import sys

HEADING = re.compile(r"^#{1,6}\s+The library\b", re.MULTILINE)
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def example(readme: str) -> str:
  heading = HEADING.search(readme)
  if heading is None:
    raise SystemExit("readme_example: no heading 'The library' in the README")
  block = BLOCK.search(readme, heading.end())
  if block is None:
    raise SystemExit("readme_example: no ```python block after the heading 'The library'")
  return block.group(1)


if __name__ == "__main__":
  if len(sys.argv) != 2:
    raise SystemExit(__doc__)
  with open(sys.argv[1], encoding="utf-8") as f:
    sys.stdout.write(example(f.read()))
