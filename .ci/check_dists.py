"""Checks what the built sdist and wheel hold, against the checkout they came from.

Usage: ``python .ci/check_dists.py DIST_DIR`` (one ``*.tar.gz`` and one ``*.whl`` in it).

The wheel: every module of ``dualprocess/`` and of ``experiments/`` (as
``dualprocess_experiments/``), every shipped config as
``dualprocess_experiments/configs/NAME.yaml``, and no other top-level entry: no
``experiments`` package that would collide with a user's own folder, no ``tests/``,
``configs/``, ``docs/`` or ``benchmarks/``. The sdist: the same sources and every shipped
config, so that a wheel built from it (as pip does) holds them too.
"""

import pathlib
import sys
import tarfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def sources(folder: str, prefix: str) -> set[str]:
  """Paths of the checkout's modules and configs under ``folder``, renamed to ``prefix``."""
  base = ROOT / folder
  found = {f"{prefix}/{p.relative_to(base).as_posix()}" for p in base.rglob("*.py")
           if "__pycache__" not in p.parts}
  found |= {f"{prefix}/configs/{p.name}" for p in (base / "configs").glob("*.yaml")}
  return found


def main(argv: list[str]) -> int:
  if len(argv) != 1:
    raise SystemExit(__doc__)
  dist = pathlib.Path(argv[0])
  (wheel,), (sdist,) = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
  problems = []
  configs = sorted((ROOT / "experiments" / "configs").glob("*.yaml"))
  if not configs:
    problems.append("the checkout has no experiments/configs/*.yaml")

  names = set(zipfile.ZipFile(wheel).namelist())
  want = sources("dualprocess", "dualprocess") | sources("experiments", "dualprocess_experiments")
  problems += [f"wheel: missing {name}" for name in sorted(want - names)]
  tops = {name.split("/")[0] for name in names}
  allowed = {"dualprocess", "dualprocess_experiments"}
  problems += [f"wheel: unexpected top-level entry {top!r}" for top in sorted(tops)
               if top not in allowed and not top.endswith(".dist-info")]

  with tarfile.open(sdist) as tar:
    members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
  want = sources("dualprocess", "dualprocess") | sources("experiments", "experiments")
  problems += [f"sdist: missing {name}" for name in sorted(want - members)]

  print(f"check_dists: {wheel.name}: {len(names)} files, top level {sorted(tops)}; "
        f"{sdist.name}: {len(members)} files; {len(configs)} shipped configs in each")
  for problem in problems:
    print(f"check_dists: {problem}")
  return 1 if problems else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
