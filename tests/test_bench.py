"""The benchmark harness: its arithmetic, and one small end-to-end run."""

import json
import re
import subprocess
import sys

import pytest

from tf_rnn_mnist import bench
from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.variants import get_variant


def test_schedule_and_windows():
  timing = bench.make_timing(steps=200, windows=5)
  assert (timing.warmup, timing.window, timing.windows, timing.total) == (80, 40, 5, 280)
  with pytest.raises(ConfigError, match=re.escape("--steps=3 must be at least --windows=5")):
    bench.make_timing(steps=3, windows=5)


def test_windowed_throughput_drops_warmup_and_takes_the_median():
  timing = bench.Timing(warmup=2, window=2, windows=3)
  # Warm-up steps are slow; windows take 0.2 s, 0.4 s (an outlier) and 0.25 s.
  seconds = [5.0, 5.0, 0.1, 0.1, 0.3, 0.1, 0.125, 0.125]
  assert bench.windowed_throughput(seconds, batch_size=10, timing=timing) == pytest.approx(80.0)


def test_recurrent_flops_by_hand():
  # static_lstm: 28 steps x [x(28), h(128)] @ (156, 512), x2 for multiply-add, x3 for training.
  assert bench.recurrent_flops_per_example(get_variant("static_lstm")) == 3 * 2 * 28 * 156 * 512
  # static_gru: 3 gate blocks; multilayer: 3 layers, the upper ones fed 256 units.
  assert bench.recurrent_flops_per_example(get_variant("static_gru"), training=False) == (
      2 * 28 * 156 * 384)
  assert bench.recurrent_flops_per_example(get_variant("multilayer"), training=False) == (
      2 * 28 * (284 * 1024 + 2 * 512 * 1024))


def test_bench_end_to_end(small_idx_dir, tmp_path):
  out = tmp_path / "bench.json"
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.bench", "--variants=static_gru,torch_lstm",
       "--steps=4", "--windows=2", "--data_source=idx", f"--data_dir={small_idx_dir}",
       "--noverify_digests", f"--json={out}"], capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  rows = json.loads(out.read_text())
  assert [r["variant"] for r in rows] == ["static_gru", "torch_lstm"]
  gru, torch_row = rows
  assert gru["ratio_vs_tf1"] == pytest.approx(
      gru["keras_examples_per_second"] / gru["tf1_examples_per_second"])
  if "torch_examples_per_second" in torch_row:  # PyTorch installed
    assert torch_row["ratio_vs_torch"] == pytest.approx(
        torch_row["keras_examples_per_second"] / torch_row["torch_examples_per_second"])
  for row in rows:
    assert row["device"].startswith("CPU: ") and row["peak_gflops"] > 0
    assert row["timing"] == {"warmup_steps": 20, "window_steps": 2, "windows": 2,
                             "statistic": "median"}
  assert "| static_gru |" in done.stdout and "| torch_lstm |" in done.stdout


def test_bench_mixed_precision_needs_a_gpu(small_idx_dir):
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.bench", "--variants=static_gru", "--mixed_precision",
       "--data_source=idx", f"--data_dir={small_idx_dir}", "--noverify_digests"],
      capture_output=True, text=True, timeout=300)
  assert done.returncode == 1
  assert "error: --mixed_precision needs a GPU: float16 is slower than float32 on CPUs." in (
      done.stderr)
  assert "Traceback" not in done.stderr
