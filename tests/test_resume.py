"""Exact resume from --model_dir checkpoints, refusals, and the non-finite-loss stop."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tf_rnn_mnist.training import checkpoints
from tf_rnn_mnist import train
from tf_rnn_mnist.errors import ConfigError, TrainingError
from test_train import ONE_DEVICE, config, tiny_datasets


def run(**overrides):
  return train.run(config(**overrides), datasets_override=tiny_datasets(),
                   strategy_override=ONE_DEVICE)


def checkpoint_tensors(model_dir, step):
  """Every saved tensor of the model and optimizers (not the iterator, step or timings)."""
  reader = tf.train.load_checkpoint(os.path.join(model_dir, "checkpoints", f"ckpt-{step}"))
  return {name: reader.get_tensor(name) for name, dtype in reader.get_variable_to_dtype_map()
          .items() if name.startswith(("model_variables/", "optimizers/"))}


def assert_same_tensors(a, b):
  assert a.keys() == b.keys() and len(a) > 10
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def without_timings(results):
  """What a resumed run must share with an unbroken one (not its timings, nor how many of
  the updates this process ran)."""
  return {k: v for k, v in results.items()
          if k not in ("train_seconds", "total_seconds", "examples_per_second",
                       "updates_this_run")}


# multilayer: dropout, whose random state must resume too; torch_lstm: a shuffled, repeating
# input pipeline and two Adams; static_gru: the TF1 next_batch order.
@pytest.mark.parametrize("variant,batch", [("multilayer", 16), ("torch_lstm", 24),
                                           ("static_gru", 32)])
def test_a_stopped_run_resumes_exactly(variant, batch, tmp_path):
  common = dict(variant=variant, batch_size=batch, eval_every=5, checkpoint_every=4)
  whole = run(train_steps=14, model_dir=str(tmp_path / "whole"), **common)
  run(train_steps=6, model_dir=str(tmp_path / "resumed"), **common)  # checkpoints 4 and 6
  resumed = run(train_steps=14, model_dir=str(tmp_path / "resumed"), **common)
  assert without_timings(resumed) == without_timings(whole)
  assert (resumed["updates_this_run"], whole["updates_this_run"]) == (8, 14)
  assert_same_tensors(checkpoint_tensors(tmp_path / "resumed", 14),
                      checkpoint_tensors(tmp_path / "whole", 14))
  assert sorted(os.listdir(tmp_path / "whole" / "checkpoints")) == [
      "checkpoint"] + [f"ckpt-{s}.{ext}" for s in (12, 14, 8) for ext in
                       ("data-00000-of-00001", "index")]


def test_resume_logs_where_it_continues(tmp_path, capsys):
  model_dir = str(tmp_path / "run")
  run(train_steps=4, model_dir=model_dir, checkpoint_every=2)
  capsys.readouterr()
  run(train_steps=6, model_dir=model_dir, checkpoint_every=2)
  assert capsys.readouterr().out.splitlines()[0] == (
      f"Resuming from {model_dir}/checkpoints/ckpt-4 after 4 of 6 updates.")


def test_a_finished_run_restarted_trains_no_more(tmp_path, capsys):
  """Run again, a finished run's model_dir trains nothing and says so (not "Resuming"), and
  its results say 0 updates in this run."""
  model_dir = str(tmp_path / "run")
  first = run(model_dir=model_dir)
  capsys.readouterr()
  again = run(model_dir=model_dir)
  assert without_timings(again) == without_timings(first)
  assert (first["updates_this_run"], again["updates_this_run"]) == (6, 0)
  assert capsys.readouterr().out.splitlines()[0] == (
      f"The run in {model_dir} had finished ({model_dir}/checkpoints/ckpt-6: all 6 updates): "
      "nothing to train; its accuracy follows.")


@pytest.mark.parametrize("overrides,difference", [
    (dict(variant="static_gru"), "--variant=static_lstm there, static_gru here"),
    (dict(seed=4), "--seed=3 there, 4 here"),
    (dict(batch_size=16, learning_rate=0.01),
     "--batch_size=32 there, 16 here; --learning_rate=0.001 there, 0.01 here"),
])
def test_a_checkpoint_of_another_run_is_refused(overrides, difference, tmp_path):
  model_dir = str(tmp_path / "run")
  run(model_dir=model_dir)
  with pytest.raises(ConfigError, match=re.escape(
      f"--model_dir={model_dir} holds a checkpoint of a different run (ckpt-6): {difference}. "
      "Pass the same flags to resume it, or a new --model_dir.")):
    run(model_dir=model_dir, **overrides)


def test_a_checkpoint_past_the_schedule_is_refused(tmp_path):
  model_dir = str(tmp_path / "run")
  run(model_dir=model_dir)
  with pytest.raises(ConfigError, match=re.escape(
      f"--model_dir={model_dir} holds a checkpoint after 6 updates, more than this run's 3.")):
    run(model_dir=model_dir, train_steps=3)


def _flip_bytes(path):
  content = bytearray(open(path, "rb").read())
  middle = len(content) // 2
  content[middle:middle + 8] = bytes(b ^ 0xFF for b in content[middle:middle + 8])
  open(path, "wb").write(bytes(content))


def _truncate(path):
  os.truncate(path, os.path.getsize(path) // 2)


CORRUPTIONS = {
    "flipped bytes": lambda prefix: _flip_bytes(prefix + ".data-00000-of-00001"),
    "truncated data": lambda prefix: _truncate(prefix + ".data-00000-of-00001"),
    "index without data": lambda prefix: os.remove(prefix + ".data-00000-of-00001"),
    "truncated index": lambda prefix: _truncate(prefix + ".index"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupt_latest_checkpoint_is_never_used(corruption, tmp_path, caplog):
  whole = run(train_steps=6, model_dir=str(tmp_path / "whole"), checkpoint_every=2)
  model_dir = str(tmp_path / "run")
  run(train_steps=6, model_dir=model_dir, checkpoint_every=2)
  CORRUPTIONS[corruption](os.path.join(model_dir, "checkpoints", "ckpt-6"))
  resumed = run(train_steps=6, model_dir=model_dir, checkpoint_every=2)
  assert f"Not resuming from {model_dir}/checkpoints/ckpt-6: " in caplog.text
  assert without_timings(resumed) == without_timings(whole)
  assert (resumed["updates_this_run"], whole["updates_this_run"]) == (2, 6)  # resumed from ckpt-4
  assert_same_tensors(checkpoint_tensors(model_dir, 6), checkpoint_tensors(tmp_path / "whole", 6))


def test_no_readable_checkpoint_is_refused_not_overwritten(tmp_path):
  model_dir = str(tmp_path / "run")
  run(train_steps=2, model_dir=model_dir)
  _flip_bytes(os.path.join(model_dir, "checkpoints", "ckpt-2.data-00000-of-00001"))
  with pytest.raises(ConfigError, match=re.escape(
      f"--model_dir={model_dir} holds no readable checkpoint: ckpt-2 (")) as e:
    run(train_steps=2, model_dir=model_dir)
  assert str(e.value).endswith(f"Delete {model_dir}/checkpoints to start over.")


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  data = tiny_datasets()
  data.train_images[7] = np.nan
  order = np.tile(np.arange(8, 40), (10, 1))  # batches without example 7...
  order[5, 0] = 7  # ... but the sixth
  np.save(tmp_path / "order.npy", order)
  model_dir = str(tmp_path / "run")
  # (The advice changed with issue 14: resuming in the same --model_dir repeats the same
  # updates; the message now says what the checkpoint holds and how to start from it.)
  prefix = f"{model_dir}/checkpoints/ckpt-4"
  with pytest.raises(TrainingError, match=re.escape(
      f"The training loss became nan at update 6; stopped. The last checkpoint, {prefix} "
      "(after update 4; finite weights, the largest |w| = ") + r"[0-9.e+-]+" + re.escape(
          "), is kept. Resuming in this --model_dir would repeat the same updates; to try "
          f"other settings, start a new run from it: --model_dir=NEW_DIR --init_from={prefix} "
          "and, e.g., a lower --learning_rate.")):
    train.run(config(train_steps=10, checkpoint_every=2, model_dir=model_dir,
                     batch_indices=str(tmp_path / "order.npy")),
              datasets_override=data, strategy_override=ONE_DEVICE)
  assert checkpoints.candidates(os.path.join(model_dir, "checkpoints")) == [
      f"{model_dir}/checkpoints/ckpt-{s}" for s in (4, 2)]
  assert checkpoints.unreadable(f"{model_dir}/checkpoints/ckpt-4") is None
  assert all(np.isfinite(t).all() for t in checkpoint_tensors(model_dir, 4).values())


def test_a_non_finite_loss_without_checkpoints_says_so():
  data = tiny_datasets()
  data.train_images[:] = np.inf
  with pytest.raises(TrainingError, match=re.escape(
      "The training loss became nan at update 1; stopped. No checkpoint was written before it "
      "(--model_dir with --checkpoint_every keeps one).")):
    train.run(config(), datasets_override=data, strategy_override=ONE_DEVICE)


def test_a_killed_cli_run_restarted_ends_with_the_uninterrupted_weights(small_idx_dir,
                                                                         tmp_path):
  """SIGKILL part-way (possibly mid-save), restart with the same flags: bit-identical end.
  (static_gru: what is under test is the kill and the restart, the same for every variant;
  test_a_stopped_run_resumes_exactly covers each variant's exact resume.)"""
  def command(model_dir, results):
    return [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru",
            "--data_source=idx", f"--data_dir={small_idx_dir}", "--noverify_digests",
            "--noprogress", "--train_steps=300", "--batch_size=16", "--eval_every=0",
            "--checkpoint_every=20", "--steps_per_loop=10", f"--model_dir={model_dir}",
            f"--results_json={results}"]

  killed_dir = tmp_path / "killed"
  job = subprocess.Popen(command(killed_dir, tmp_path / "killed.json"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  deadline = time.monotonic() + 240
  # The first checkpoint: the kill lands with most of the run still to go, however slow the
  # machine (static_gru's updates take milliseconds).
  while not os.path.exists(killed_dir / "checkpoints" / "ckpt-20.index"):
    assert job.poll() is None, job.stderr.read().decode()[-3000:]
    assert time.monotonic() < deadline
    time.sleep(0.01)
  job.send_signal(signal.SIGKILL)
  job.wait()
  left = checkpoints.candidates(str(killed_dir / "checkpoints"))
  assert left and not os.path.exists(tmp_path / "killed.json")
  assert 20 <= int(left[0].rsplit("-", 1)[1]) < 300  # killed part-way

  restarted = subprocess.run(command(killed_dir, tmp_path / "killed.json"),
                             capture_output=True, text=True, timeout=300)
  assert restarted.returncode == 0, restarted.stderr[-3000:]
  assert re.search(r"^Resuming from .*/ckpt-(\d+) after \1 of 300 updates\.$",
                   restarted.stdout, re.M)
  whole = subprocess.run(command(tmp_path / "whole", tmp_path / "whole.json"),
                         capture_output=True, text=True, timeout=300)
  assert whole.returncode == 0, whole.stderr[-3000:]
  assert_same_tensors(checkpoint_tensors(killed_dir, 300),
                      checkpoint_tensors(tmp_path / "whole", 300))
  results = [json.loads((tmp_path / name).read_text()) for name in ("killed.json", "whole.json")]
  assert without_timings(results[0]) == without_timings(results[1])


def test_cli_non_finite_loss_exits_1_with_the_message(small_idx_dir, tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_lstm", "--data_source=idx",
       f"--data_dir={small_idx_dir}", "--noverify_digests", "--noprogress", "--train_steps=50",
       "--learning_rate=1e38", "--checkpoint_every=1", f"--model_dir={tmp_path}"],
      capture_output=True, text=True, timeout=300)
  assert done.returncode == 1
  # lr 1e38: the weights after update 1 are finite but huge, and the message says so.
  assert re.search(r"^error: The training loss became (nan|inf) at update (\d+); stopped\. The "
                   r"last checkpoint, .*/ckpt-(\d+) \(after update \3; finite weights, the "
                   r"largest \|w\| = 1e\+38: weights this large mean the run was already "
                   r"diverging; an earlier checkpoint may be the better start\), is kept",
                   done.stderr, re.M), done.stderr[-2000:]
  assert "Traceback" not in done.stderr


def test_checkpoint_every_without_model_dir_is_refused():
  with pytest.raises(ConfigError, match=re.escape(
      "--checkpoint_every needs --model_dir (where the checkpoints go).")):
    run(checkpoint_every=2)
