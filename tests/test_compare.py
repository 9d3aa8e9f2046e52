"""The comparison tool: statistics, resume, failures, matched mode, bad input."""

import json
import os
import re
import subprocess

import numpy as np
import pytest

from tf_rnn_mnist.tools import compare
from tf_rnn_mnist.tools import equivalence
from tf_rnn_mnist import variants
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.errors import ConfigError


def test_welch_interval_against_hand_computed_values():
  # v1 = .90 .92 .94, v2 = .91 .93 .95: each sd .02, se = sqrt(2 * .0004 / 3) = .0163299,
  # Welch df = 4, t(.975, 4) = 2.776445, half-width .0453393.
  difference, (low, high) = equivalence.welch([0.90, 0.92, 0.94], [0.91, 0.93, 0.95])
  assert difference == pytest.approx(0.01)
  assert (low, high) == pytest.approx((0.01 - 0.0453393, 0.01 + 0.0453393), abs=1e-6)
  # Unequal variances: v1 var 2e-6 (n=2), v2 var 1e-4 (n=3). se^2 = 1e-6 + 3.3333e-5;
  # Welch df = (3.4333e-5)^2 / ((1e-6)^2 / 1 + (3.3333e-5)^2 / 2) = 2.11799;
  # t(.975, 2.11799) = 4.08093 (a t table, interpolated); half-width .0239121.
  difference, (low, high) = equivalence.welch([0.950, 0.952], [0.95, 0.96, 0.97])
  assert difference == pytest.approx(0.009)
  assert (low, high) == pytest.approx((0.009 - 0.0239121, 0.009 + 0.0239121), abs=1e-6)
  assert equivalence.welch([0.9], [0.91]) == (pytest.approx(0.01), None)  # one run: no interval


def test_tost_and_t_test_p_values_against_closed_forms():
  # v1 = .950 .951, v2 = .952 .953: d = .002, se = sqrt(5e-7) = 7.0711e-4, Welch df = 2, where
  # the t law has a closed form: P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2.
  sf2 = lambda t: (1 - t / np.sqrt(t * t + 2)) / 2
  se = np.sqrt(5e-7)
  p_tost, p_diff = equivalence.p_values([0.950, 0.951], [0.952, 0.953])
  # TOST: the larger of P(T > (d + m) / se) and P(T < (d - m) / se).
  assert p_tost == pytest.approx(max(sf2(0.012 / se), sf2(0.008 / se)), rel=1e-6)
  assert p_tost == pytest.approx(0.0038611, rel=1e-4)  # (1 - 11.3137 / sqrt(130)) / 2
  assert p_diff == pytest.approx(2 * sf2(0.002 / se), rel=1e-6)  # 0.10557
  # Equivalent (TOST rejects a one-point difference) although the t-test cannot tell them apart.
  assert equivalence.verdict(p_tost, p_diff) == "equivalent"
  # The 90% interval (TOST at alpha .05) lies inside +-0.01 exactly when TOST's p < .05.
  low, high = equivalence.welch([0.950, 0.951], [0.952, 0.953], confidence=0.90)[1]
  assert -0.01 < low and high < 0.01
  # Tight and apart: differs. Wide around 0: inconclusive. One run a side: inconclusive.
  assert equivalence.verdict(*equivalence.p_values([0.900, 0.901], [0.950, 0.951])) == "differs"
  assert equivalence.verdict(*equivalence.p_values([0.90, 0.92, 0.94], [0.91, 0.93, 0.95])) == (
      "inconclusive")
  assert equivalence.p_values([0.9], [0.91]) == (None, None)
  assert equivalence.verdict(None, None) == "inconclusive"


def _fake_results(variant, seed, side, accuracy):
  return {"variant": variant, "framework": "keras" if side == "v2" else "tf1-graph",
          "seed": seed, "steps": 20, "batch_size": 128, "learning_rate": 1e-3,
          "test_accuracy": accuracy, "test_examples": 10000, "tutorial_protocol_accuracy": accuracy,
          "tutorial_protocol_examples": 128,
          "history": [{"step": 10, "train_loss": 1.0, "train_accuracy": 0.5},
                      {"step": 20, "train_loss": 0.5, "train_accuracy": accuracy}],
          "train_seconds": 2.0 if side == "v2" else 3.0, "total_seconds": 4.0,
          "examples_per_second": 1000.0, "strategy": "x", "replicas": 1, "devices": ["/cpu:0"],
          "versions": {}}


class FakeRunner:
  """Stands in for subprocess.run: writes a results JSON, or fails for the runs in `fail`."""

  def __init__(self, fail=()):
    self.fail, self.calls = set(fail), []

  def __call__(self, command, stdout, stderr):
    arg = lambda name: next(a.split("=", 1)[1] for a in command if a.startswith(f"--{name}="))
    results_path, seed = arg("results_json"), int(arg("seed"))
    side = "v2" if "tf_rnn_mnist.train" in command else "v1"
    variant = arg("variant") if side == "v2" else os.path.basename(os.path.dirname(
        os.path.dirname(results_path)))
    self.calls.append((variant, seed, side))
    if (variant, seed, side) in self.fail:
      stdout.write("some output\nerror: the graph exploded\n")
      return subprocess.CompletedProcess(command, 1)
    accuracy = 0.95 + 0.001 * seed + (0.0005 if side == "v2" else 0.0)
    with open(results_path, "w") as f:
      json.dump(_fake_results(variant, seed, side, accuracy), f)
    return subprocess.CompletedProcess(command, 0)


def test_failing_run_is_reported_and_the_rest_go_on_then_resume_reuses(tmp_path):
  out, said = str(tmp_path / "cmp"), []
  runner = FakeRunner(fail={("static_gru", 1, "v1")})
  report = compare.compare(["static_lstm", "static_gru"], 2, out, runner=runner, say=said.append)
  assert len(runner.calls) == 8  # every run was attempted
  log = os.path.join(out, "runs", "static_gru", "seed1", "v1.log")
  assert report["failures"] == [
      f"static_gru seed 1 v1: exit 1: error: the graph exploded (log: {log})"]
  assert said[6] == f"[7/8] static_gru seed 1 v1: FAILED exit 1: error: the graph exploded (log: {log})"
  by_variant = {s["variant"]: s for s in report["summaries"]}
  assert (by_variant["static_gru"]["v1_runs"], by_variant["static_gru"]["v2_runs"]) == (1, 2)
  assert by_variant["static_lstm"]["v1_mean"] == pytest.approx(0.9505)
  assert by_variant["static_lstm"]["speed_ratio"] == pytest.approx(1.5)
  for name in ("compare.md", "compare.json", "compare.png"):
    assert os.path.getsize(os.path.join(out, name)) > 0
  markdown = open(os.path.join(out, "compare.md")).read()
  assert "## Failed runs" in markdown and "static_gru seed 1 v1: exit 1" in markdown
  assert re.search(r"\| static_lstm \| 0\.9453125 on the first 128 test images \| "
                   r"0\.9505 \+- 0\.0007 \(n=2\) \| 0\.9510 \+- 0\.0007 \(n=2\) \| \+0\.0005 "
                   r"\[[-+]\d\.\d{4}, [-+]\d\.\d{4}\] \| 0\.00\d+ \| 0\.\d+ \| equivalent \| 3\.0 \| "
                   r"2\.0 \| 1\.50x \|",
                   markdown)
  # Rerun: the seven finished runs are reused, the failed one is run again.
  again = FakeRunner()
  report = compare.compare(["static_lstm", "static_gru"], 2, out, runner=again, say=said.append)
  assert again.calls == [("static_gru", 1, "v1")]
  assert report["failures"] == []


def test_a_code_change_makes_that_sides_runs_stale(tmp_path, monkeypatch):
  """Found while checking this round's SequenceLSTM: the spec held the package's version, which
  a code change leaves as it is, so a rerun reused results the old code computed. A change of
  the port's code reruns the v2 runs and says why; the v1 runs, whose code did not change, are
  reused."""
  out, said = str(tmp_path / "cmp"), []
  compare.compare(["static_lstm"], 2, out, runner=FakeRunner(), say=said.append)
  real = compare.code_digest
  monkeypatch.setattr(compare, "code_digest", lambda packages: (
      "0123456789abcdef" if packages == ("tf_rnn_mnist",) else real(packages)))
  again = FakeRunner()
  compare.compare(["static_lstm"], 2, out, runner=again, say=said.append)
  assert again.calls == [("static_lstm", 0, "v2"), ("static_lstm", 1, "v2")]
  old = real(("tf_rnn_mnist",))
  assert (f"[2/4] static_lstm seed 0 v2: not reusing its earlier result (code {old!r} there, "
          "'0123456789abcdef' now); running it again") in said


def test_code_digest_follows_every_source_file(tmp_path, monkeypatch):
  package = tmp_path / "somepkg"
  (package / "sub").mkdir(parents=True)
  (package / "__init__.py").write_text("")
  (package / "sub" / "cell.py").write_text("GATE = 1\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  first = compare.code_digest(["somepkg"])
  assert compare.code_digest(["somepkg"]) == first and len(first) == 16
  (package / "sub" / "cell.py").write_text("GATE = 2\n")
  second = compare.code_digest(["somepkg"])
  (package / "sub" / "extra.py").write_text("")
  assert len({first, second, compare.code_digest(["somepkg"])}) == 3
  assert variants.VARIANTS["static_gru"].legacy.code == ("legacy_tf1", "tf_rnn_mnist.data",
                                                         "tf_rnn_mnist.plumbing")
  assert variants.VARIANTS["torch_lstm"].legacy.code == ("legacy_torch", "tf_rnn_mnist.data",
                                                         "tf_rnn_mnist.plumbing")


def test_half_written_results_are_not_reused(tmp_path):
  out = str(tmp_path / "cmp")
  compare.compare(["static_lstm"], 1, out, runner=FakeRunner(), say=lambda line: None)
  path = compare.Run("static_lstm", 0, "v2").results_path(out)
  with open(path, "w") as f:
    f.write('{"variant": "static_lstm", "test_acc')  # a run killed mid-write
  runner = FakeRunner()
  compare.compare(["static_lstm"], 1, out, runner=runner, say=lambda line: None)
  assert runner.calls == [("static_lstm", 0, "v2")]


def test_matched_mode_end_to_end(small_idx_dir, tmp_path):
  """Real runs on small data: both sides start from the graph's initial weights and batches."""
  out = str(tmp_path / "cmp")
  data = DataOptions("idx", small_idx_dir, verify_digests=False)
  report = compare.compare(["static_gru"], 1, out, train_steps=4, mode="matched", data=data,
                           say=lambda line: None)
  assert report["failures"] == []
  run_dir = os.path.join(out, "runs", "static_gru", "seed0")
  assert os.path.exists(os.path.join(run_dir, "initial.ckpt.index"))
  order = np.load(os.path.join(run_dir, "order.npy"))
  assert order.shape == (4, 128) and order.max() < 300
  v1, v2 = (json.load(open(os.path.join(run_dir, f"{side}.json"))) for side in ("v1", "v2"))
  # Same weights, same batches, 4 steps: the same predictions on the 40 test images.
  assert v1["test_accuracy"] == pytest.approx(v2["test_accuracy"], abs=1e-6)
  assert report["matched_curves"]["static_gru"]["0"]["final_difference"] == pytest.approx(
      0, abs=1e-6)
  assert sorted(os.listdir(os.path.join(out, "tb", "static_gru"))) == ["v1_seed0", "v2_seed0"]


@pytest.mark.parametrize("call,message", [
    (lambda out: variants.parse_names("static_lstm,lstm9"),
     f"Unknown variant 'lstm9'; choose one of {', '.join(variants.NAMES)}."),
    (lambda out: compare.compare(["static_lstm"], 0, out), "--seeds must be at least 1, got 0."),
    (lambda out: compare.compare(["static_lstm"], 1, os.path.join(out, "file", "sub")),
     "is not a writable directory: [Errno 20] Not a directory"),
])
def test_bad_input(call, message, tmp_path):
  (tmp_path / "file").write_text("")
  with pytest.raises(ConfigError, match=re.escape(message)):
    call(str(tmp_path))


def test_cli_bad_input_exits_1(tmp_path):
  import sys
  done = subprocess.run([sys.executable, "-m", "tf_rnn_mnist.tools.compare", "--variants=nope",
                         f"--out={tmp_path}"], capture_output=True, text=True, timeout=120)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert "error: Unknown variant 'nope'; choose one of" in done.stderr


def test_a_comparison_with_failed_runs_ends_with_status_1(tmp_path):
  """Its reports are written, then one line and status 1 (it once exited 0 with every v2 run
  failed)."""
  from tf_rnn_mnist.errors import TrainingError
  out, said = str(tmp_path / "cmp"), []
  report = compare.compare(["static_gru"], 1, out, runner=FakeRunner(
      fail={("static_gru", 0, "v2")}), say=said.append)
  with pytest.raises(TrainingError, match=re.escape(
      f"1 of 2 runs failed (listed above and in {out}/compare.md); the same command reruns "
      "only those, reusing the others.")):
    compare.check_failures(report, out)
  assert os.path.exists(os.path.join(out, "compare.md"))
  compare.check_failures({"failures": [], "runs": {}}, out)


def _kept_copy(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  copy = tmp_path / "compare_results.json"
  copy.write_text(open(os.path.join(root, "docs", "compare_results.json")).read())
  return root, copy


def _keep(compare_json, results):
  import sys
  return subprocess.run([sys.executable, "-m", "tf_rnn_mnist.tools.compare_results",
                         f"--keep={compare_json}", f"--results={results}"],
                        capture_output=True, text=True, timeout=120)


def test_the_readmes_variants_table_is_generated_from_the_table_and_the_kept_results():
  """README's variants block = compare_results.readme_table(variants.py, the kept file): a
  figure edited by hand, a variant added to variants.py, or a kept result not regenerated,
  fails here (`python -m tf_rnn_mnist.tools.readme_tables --readme=README.md` fixes it)."""
  from tf_rnn_mnist.tools import compare_results, readme_tables
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  readme = open(os.path.join(root, "README.md")).read()
  assert ("variants-table", compare_results.KEPT) in readme_tables.blocks(readme)
  assert readme_tables.regenerate(readme, root) == readme
  kept = json.load(open(os.path.join(root, compare_results.KEPT)))
  table = compare_results.readme_table(kept, compare_results.KEPT)
  rows = table.splitlines()[2:2 + len(variants.NAMES)]
  assert [row.split(" | ")[0][3:-1] for row in rows] == list(variants.NAMES)
  assert ("| `multilayer` | 3 x [BasicLSTMCell(256) + DropoutWrapper(output_keep_prob=0.5)]; "
          "last step -> W, b logits | 0.001, 100, 2001 updates | Test 500 0.9595; ~0.98 after "
          "2000 steps | 0.9821 / 0.9825 (5 / 5 seeds, equivalent, 2026-11-28) |") in table
  assert "| 0.01, 64, 1 epoch (938 updates) |" in table
  assert "| 0.0001, 50, 6 epochs (6600 updates) |" in table


def test_a_full_comparison_is_kept_and_replaces_its_variants_figures(tmp_path):
  from tf_rnn_mnist.tools import compare_results
  root, copy = _kept_copy(tmp_path)
  before = compare_results.readme_table(json.loads(copy.read_text()), "k.json").splitlines()
  out, said = str(tmp_path / "cmp"), []
  compare.compare(["static_lstm"], 3, out, runner=FakeRunner(), say=said.append)
  assert said[-1] == ("To keep these figures as the README's: python -m "
                      f"tf_rnn_mnist.tools.compare_results --keep={out}/compare.json")
  done = _keep(f"{out}/compare.json", copy)
  assert done.returncode == 0, done.stderr
  kept = json.loads(copy.read_text())
  entry = kept["variants"]["static_lstm"]
  assert entry["per_seed"] == {"v1": {"0": 0.95, "1": 0.951, "2": 0.952},  # FakeRunner's
                               "v2": {"0": 0.95 + 0.0005, "1": 0.951 + 0.0005,
                                      "2": 0.95 + 0.002 + 0.0005}}
  after = compare_results.readme_table(kept, "k.json").splitlines()
  changed = [(a, b) for a, b in zip(before, after) if a != b]
  assert len(changed) == 1 and changed[0][1].endswith(
      f"| 0.9515 / 0.9510 (3 / 3 seeds, equivalent, {entry['measured']}) |")
  assert entry["measured"] == json.load(open(f"{out}/compare.json"))["finished_utc"][:10]


def test_a_shortened_or_matched_comparison_is_not_kept(tmp_path):
  root, copy = _kept_copy(tmp_path)
  original = copy.read_text()
  out = str(tmp_path / "cmp")
  compare.compare(["static_lstm"], 2, out, train_steps=4, runner=FakeRunner(), say=lambda s: 0)
  done = _keep(f"{out}/compare.json", copy)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert done.stderr.strip() == (
      f"error: {out}/compare.json: its runs were cut to 4 updates (--train_steps); only full "
      "schedules of independent runs are kept.")
  assert copy.read_text() == original
  done = _keep(f"{tmp_path}/nothing.json", copy)
  assert (done.returncode, done.stderr) == (
      1, f"error: cannot read {tmp_path}/nothing.json: No such file or directory.\n")


@pytest.mark.parametrize("change,message", [
    (lambda r: r["failures"].append("static_lstm seed 2 v1: exit 1: error: x"),
     "1 of its runs failed (the first: static_lstm seed 2 v1: exit 1: error: x); rerun the "
     "same compare command, which reruns them, then keep it."),
    (lambda r: r["summaries"][0].update(variant="nope"), "'nope' is not a variant of "
     "variants.py"),
    (lambda r: r["summaries"].clear(), "compares no variant."),
    (lambda r: r["summaries"][0].update(v1_runs=1), "static_lstm has 1 v1 and 3 v2 runs; at "
     "least 2 a side are kept."),
    (lambda r: r.update(mode="matched"), "its runs are matched (--mode); only full schedules"),
])
def test_keep_refuses_what_would_put_a_wrong_figure_in_the_readme(tmp_path, change, message):
  from tf_rnn_mnist.tools import compare_results
  report = compare.compare(["static_lstm"], 3, str(tmp_path / "cmp"), runner=FakeRunner(),
                           say=lambda s: 0)
  change(report)
  with pytest.raises(ConfigError, match=re.escape(message)):
    compare_results.entries_of(report, "c.json")


@pytest.mark.parametrize("kept,message", [
    ({"variants": {}}, "k.json keeps no comparison."),
    ({"variants": {"nope": {}}}, "k.json: 'nope' is not a variant of variants.py."),
    ({"variants": {"static_lstm": {"v1_mean": 0.9, "v1_runs": 2, "v2_runs": 2,
                                   "verdict": "equivalent", "measured": "2026-12-05"}}},
     "k.json: static_lstm's entry has no v2_mean."),
    ({"variants": {"static_lstm": {"v1_mean": 0.9, "v2_mean": "0.95", "v1_runs": 2,
                                   "v2_runs": 2, "verdict": "equivalent",
                                   "measured": "2026-12-05"}}},
     "k.json: static_lstm's v2_mean is '0.95', not a number."),
])
def test_the_variants_table_refuses_a_kept_file_it_cannot_read_right(kept, message):
  from tf_rnn_mnist.tools import compare_results
  with pytest.raises(ConfigError, match=re.escape(message)):
    compare_results.readme_table(kept, "k.json")
