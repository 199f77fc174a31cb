"""experiments/analysis/sensitivity.py on the example suite's kept result: the suite's own
verdicts reproduced, then the two checks the example's README quotes."""

import json
import pathlib

import pytest

from experiments.analysis import sensitivity

RESULT = (pathlib.Path(__file__).resolve().parent.parent / "examples" / "own_workload"
          / "results" / "suite.json")


@pytest.fixture(scope="module")
def document():
  return json.loads(RESULT.read_text())


def test_at_the_suites_level_on_every_seed_it_gives_the_suites_verdicts(document):
  found = sensitivity.verdicts(document)
  for workload in document["workloads"]:
    stored = workload["comparisons"]
    assert list(found[workload["name"]]) == list(stored)
    for optimizer, comparison in found[workload["name"]].items():
      assert comparison["corrected_verdict"] == stored[optimizer]["corrected_verdict"]
      assert comparison["p_equivalent_holm"] == pytest.approx(
          stored[optimizer]["p_equivalent_holm"], rel=1e-12)


def test_the_two_checks_the_example_quotes(document):
  halved = sensitivity.verdicts(document, alpha=0.025)  # two looks, one alpha
  for name, rows in sensitivity.verdicts(document).items():
    assert [c["corrected_verdict"] for c in halved[name].values()] == [
        c["corrected_verdict"] for c in rows.values()]
  fresh = sensitivity.verdicts(document, from_seed=3)  # the seeds added after the look
  table = fresh["breast_cancer_mlp"]
  assert {c["n"] for c in table.values()} == {7}
  assert table["tuned adam"]["corrected_verdict"] == "inconclusive"
  assert table["tuned optax.adamw"]["p_equivalent_holm"] == pytest.approx(0.0788, abs=5e-5)
  assert fresh["colored_digits_resnet"]["tuned sgd"]["corrected_verdict"] == "better"


@pytest.mark.parametrize("argv, message", [
    (["absent.json"], "error: suite file 'absent.json': not a finished suite's suite.json"),
    ([str(RESULT), "--alpha", "0.7"], "error: --alpha: must be in (0, 0.5), got 0.7"),
    ([str(RESULT), "--from-seed", "9"], "error: --from-seed: must leave at least two of the "
     "10 seeds, got 9"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
  assert sensitivity.main(argv) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(message), lines


def test_the_command_prints_one_row_per_comparison(capsys):
  assert sensitivity.main([str(RESULT), "--from-seed", "3"]) == 0
  rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
  assert len(rows) == 1 + 10  # the header and 5 comparisons on each of 2 workloads
  assert "| breast_cancer_mlp | tuned adam | inconclusive | 7 | 0.0788 |" in "\n".join(rows)
