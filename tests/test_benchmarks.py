"""Every benchmark runs in smoke mode and prints one JSON line (no timing asserted)."""

import json

import pytest

from benchmarks import (
    epoch_overhead,
    loss_overhead,
    sweep_speedup,
    throughput,
    update_overhead,
)


@pytest.mark.parametrize("module, key", [
    (update_overhead, "ratio"), (loss_overhead, "decomposition_ratio"),
    (loss_overhead, "dual_process_loss_gradient_ratio"),
    (sweep_speedup, "speedup"), (throughput, "ratio"), (epoch_overhead, "ratio")])
def test_smoke(module, key, capsys):
  result = module.main(["--smoke", "--json"])
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert printed[key] == result[key] > 0
  assert printed["machine"]["backend"] == "cpu"
