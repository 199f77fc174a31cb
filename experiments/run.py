"""Train one model from a config: ``dualprocess-run [CONFIG] [--set K=V] [--out DIR]``.

Config in, metrics out: ``config.yaml``, ``metrics.jsonl``, ``summary.json``,
``curves.png`` and ``checkpoints/`` in the output folder. Running again with
the same ``--out`` resumes from the newest complete checkpoint.
"""

from __future__ import annotations

from . import cli

# JAX, Optax, Flax (models, training), Orbax (checkpoints) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.


def main(argv=None) -> int:
  args = cli.parse("run", __doc__, argv)
  with cli.guarded() as stop:
    from . import api

    out = cli.out_folder(args, "run")
    summary = api.run(args.config, args.overrides, out, force=args.force, stop=stop)
    print(f"{out}: test_accuracy={summary['test_accuracy']:.4f} "
          f"test_loss={summary['test_loss']:.4f} steps={summary['steps']} "
          f"wall_time_s={summary['wall_time_s']:.1f}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
