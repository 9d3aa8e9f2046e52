"""Operations under fire (issue 25): nothing lost whatever fails, one run per directory,
signals, ranges, the image's entrypoint, and quiet tools.

Each test failed on the code before the issue's change; in-process where the behaviour is a
function's, as a subprocess where it is the process's (exit status, signals, what it prints).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_train import ONE_DEVICE, config, tiny_datasets
from tf_rnn_mnist.training import checkpoints, loop
from tf_rnn_mnist.plumbing import cli, outputs
from tf_rnn_mnist.tools import compare, convert
from tf_rnn_mnist import train
from tf_rnn_mnist.variants import VARIANTS
from tf_rnn_mnist.errors import ConfigError, Interrupted, OutputError
from tf_rnn_mnist.plumbing.run_lock import LOCK_NAME, RunLock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = ["--data_source=idx", "--noverify_digests"]


def _run(**overrides):
  return train.run(config(**overrides), datasets_override=tiny_datasets(),
                   strategy_override=ONE_DEVICE)


def _no_training(monkeypatch):
  monkeypatch.setattr(loop, "train_model", lambda *a, **k: pytest.fail("training started"))


def _quiet_env():
  """The environment a user has: no TF_CPP_MIN_LOG_LEVEL (conftest sets one for the tests)."""
  return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


# 1. Nothing is lost ----------------------------------------------------------------------------


@pytest.mark.parametrize("flags,message", [
    (dict(export="{d}/x.keras", results_json="{d}/x.keras"),
     "--export={d}/x.keras is the same path as --results_json: one output would overwrite the "
     "other. Pass different paths."),
    (dict(export="{d}/x.keras", init_from="{d}/x.keras"),
     "--export={d}/x.keras is the same path as the input --init_from: writing it would destroy "
     "the input. Pass another output path."),
    (dict(model_dir="{d}/m", tensorboard_dir="{d}/m/../m"),
     "--tensorboard_dir={d}/m/../m is the same path as --model_dir: one output would overwrite "
     "the other. Pass different paths."),
    (dict(export="{d}/model.h5"),
     "--export={d}/model.h5: a model is exported as a Keras file (a path ending in .keras, "
     "lower case) or as a SavedModel directory (a path without a file suffix); '.h5' is "
     "neither."),
    (dict(export="{d}/UP.KERAS"),
     "--export={d}/UP.KERAS: a model is exported as a Keras file (a path ending in .keras, "
     "lower case) or as a SavedModel directory (a path without a file suffix); '.KERAS' is "
     "neither."),
])
def test_outputs_on_one_path_or_of_the_wrong_kind_are_refused_first(flags, message, tmp_path,
                                                                    monkeypatch):
  _no_training(monkeypatch)
  (tmp_path / "x.keras").write_text("the user's model")
  with pytest.raises(ConfigError) as raised:
    _run(**{k: v.format(d=tmp_path) for k, v in flags.items()})
  assert str(raised.value) == message.format(d=tmp_path)
  assert (tmp_path / "x.keras").read_text() == "the user's model"


@pytest.mark.parametrize("make,message", [
    (lambda d: (d / "checkpoints").write_text(""),
     "--model_dir={d}: {d}/checkpoints is a file where the run's checkpoint directory goes; "
     "move it away or pass another --model_dir."),
    (lambda d: (d / "checkpoints" / "checkpoint").mkdir(parents=True),
     "--model_dir={d}: {d}/checkpoints/checkpoint is a directory where TensorFlow keeps its "
     "checkpoint state file; move it away or pass another --model_dir."),
    (lambda d: (d / "tensorboard").write_text(""),
     "--tensorboard_dir={d}/tensorboard is an existing file, not a directory."),
])
def test_model_dir_contents_of_the_wrong_kind_are_refused_first(make, message, tmp_path,
                                                                monkeypatch):
  _no_training(monkeypatch)
  make(tmp_path)
  with pytest.raises(ConfigError) as raised:
    _run(model_dir=str(tmp_path))
  assert str(raised.value) == message.format(d=tmp_path)


def test_a_failed_final_checkpoint_still_writes_results_and_export(tmp_path, monkeypatch):
  real_save = checkpoints.RunCheckpoints.save

  def full_disk_at_the_end(self, step, progress):
    if step == 6:
      raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
    return real_save(self, step, progress)
  monkeypatch.setattr(checkpoints.RunCheckpoints, "save", full_disk_at_the_end)
  model_dir, results, export = tmp_path / "m", tmp_path / "r.json", tmp_path / "e.keras"
  with pytest.raises(OutputError) as raised:
    _run(model_dir=str(model_dir), checkpoint_every=4, results_json=str(results),
         export=str(export))
  kept = checkpoints.candidates(checkpoints.directory_of(str(model_dir)))
  assert [os.path.basename(p) for p in kept] == ["ckpt-4"]
  assert str(raised.value) == (
      f"The checkpoint after update 6 could not be saved in {model_dir}/checkpoints "
      "(ResourceExhaustedError: No space left on device). Kept: the checkpoint "
      f"{kept[0]} (after update 4); the model in {export}; the results in {results}.")
  assert json.loads(results.read_text())["steps"] == 6
  assert keras.saving.load_model(export).count_params() > 0


def test_an_export_that_fails_leaves_the_old_file_whole(tmp_path, monkeypatch):
  old = tmp_path / "m.keras"
  old.write_bytes(b"the model of yesterday")

  def half_written_then_full(self, path, *args, **kwargs):
    with open(path, "wb") as f:
      f.write(b"PK\x03\x04 half")
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(keras.Model, "save", half_written_then_full)  # the fallback's too
  made = set(os.listdir(tempfile.gettempdir()))
  with pytest.raises(OutputError) as raised:
    _run(export=str(old))
  assert old.read_bytes() == b"the model of yesterday"
  assert str(raised.value) == (
      f"Could not export the model to {old} ([Errno 28] No space left on device) (what was "
      "there is unchanged), nor to the temp directory ([Errno 28] No space left on device).")
  assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # no staged file left
  # (nor a truncated fallback, which would look like a model)
  assert not [n for n in set(os.listdir(tempfile.gettempdir())) - made if n.endswith(".keras")]


def test_convert_never_writes_over_its_input(tmp_path):
  (tmp_path / "t.keras").write_text("the user's model")
  with pytest.raises(ConfigError) as raised:
    convert.convert(VARIANTS["torch_lstm"], keras_model=str(tmp_path / "t.keras"),
                    output=str(tmp_path / "t.keras"))
  assert str(raised.value) == (f"--output={tmp_path}/t.keras: converting torch_lstm back "
                               "writes a PyTorch state_dict; pass a path ending in .pt.")
  with pytest.raises(ConfigError) as raised:
    convert.convert(VARIANTS["static_gru"], keras_model=str(tmp_path / "t.keras"),
                    output=str(tmp_path / "t.keras"))
  assert str(raised.value) == (f"--output={tmp_path}/t.keras is the same path as the input "
                               "--keras_model: writing it would destroy the input. Pass another "
                               "output path.")
  assert (tmp_path / "t.keras").read_text() == "the user's model"


def test_a_file_output_ending_in_a_separator_is_refused(tmp_path):
  with pytest.raises(ConfigError) as raised:
    outputs.check_writable_file("output", f"{tmp_path}/new/", "a checkpoint prefix")
  assert str(raised.value) == (f"--output={tmp_path}/new/ ends in '/', a directory; pass a "
                               "checkpoint prefix.")


# 2. One run per directory ----------------------------------------------------------------------


def test_deleting_the_lock_file_does_not_free_the_directory(tmp_path):
  with RunLock(str(tmp_path), "model_dir"):
    os.remove(tmp_path / LOCK_NAME)
    with pytest.raises(ConfigError, match=re.escape(
        f"--model_dir={tmp_path} is in use by another run (its description file was "
        "removed).")):
      RunLock(str(tmp_path), "model_dir").acquire()


def test_a_run_stops_writing_into_a_replaced_directory(tmp_path):
  directory = tmp_path / "run"
  lock = RunLock(str(directory), "model_dir").acquire()
  try:
    lock.check()
    os.rename(directory, tmp_path / "moved")
    directory.mkdir()
    with pytest.raises(ConfigError, match="was removed or replaced during the run"):
      lock.check()
  finally:
    lock.release()


def test_a_deleted_description_is_written_again_before_a_save(tmp_path):
  with RunLock(str(tmp_path), "model_dir") as lock:
    os.remove(tmp_path / LOCK_NAME)
    lock.check()
    assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid {os.getpid()} ")


def test_legacy_checkpoint_dir_is_one_run_at_a_time(tmp_path, small_idx_dir):
  with RunLock(str(tmp_path), "checkpoint_dir"):
    done = subprocess.run(
        [sys.executable, "-m", "legacy_tf1.static_rnn", "--cell=gru", "--train_steps=2",
         f"--checkpoint_dir={tmp_path}", *DATA, f"--data_dir={small_idx_dir}"],
        capture_output=True, text=True, timeout=300)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert f"error: --checkpoint_dir={tmp_path} is in use by another run (pid {os.getpid()}" \
      in done.stderr
  assert not list(tmp_path.glob("model.ckpt*"))


# 3. Signals ------------------------------------------------------------------------------------


def test_sighup_checkpoints_and_exits_129(tmp_path, small_idx_dir):
  process = subprocess.Popen(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=5000",
       "--batch_size=20", f"--model_dir={tmp_path}", "--noprogress", *DATA,
       f"--data_dir={small_idx_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)
  for line in process.stdout:
    if line.startswith("Iter "):
      break
  process.send_signal(signal.SIGHUP)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 129, stderr[-2000:]
  stopped = re.search(r"Stopped by SIGHUP after update (\d+) of 5000\. Checkpoint \S+ckpt-\1: "
                      r"run the same command to resume\.", stderr)
  assert stopped, stderr[-2000:]
  assert checkpoints.candidates(checkpoints.directory_of(str(tmp_path)))


def test_sigterm_during_the_final_evaluation_still_writes_the_outputs(tmp_path, monkeypatch,
                                                                     capsys):
  from tf_rnn_mnist.training.trainer import Trainer
  real_eval = Trainer.correct_per_example

  def signalled_during_the_full_evaluation(self, num_examples):
    if num_examples == 64:  # the final one, over the whole (tiny) test set
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(0.2)  # the handler records it; the evaluation goes on
    return real_eval(self, num_examples)
  monkeypatch.setattr(Trainer, "correct_per_example", signalled_during_the_full_evaluation)
  before = signal.getsignal(signal.SIGTERM)
  results, export = tmp_path / "r.json", tmp_path / "m.keras"
  # The run had finished: nothing to resume, status 0 (a supervisor must not rerun it).
  _run(variant="static_gru", model_dir=str(tmp_path / "m"), results_json=str(results),
       export=str(export), eval_every=0)
  assert capsys.readouterr().err.strip().splitlines()[-1] == (
      "Stopped by SIGTERM after the last update: the run had finished, and its outputs were "
      f"written (the checkpoint {tmp_path}/m/checkpoints/ckpt-6 (after update 6); the model in "
      f"{export}; the results in {results}); exit status 0.")
  assert json.loads(results.read_text())["steps"] == 6 and export.exists()
  assert signal.getsignal(signal.SIGTERM) is before


CHILD = """
import signal, sys, time
def stop(signum, frame):
    open(sys.argv[1], "w").write(signal.Signals(signum).name)
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1], "w").write("started")
time.sleep(60)
"""


def test_a_stop_signal_reaches_the_child_and_is_waited_for(tmp_path):
  said = tmp_path / "said"
  threading.Thread(target=lambda: (_wait_for(said), os.kill(os.getpid(), signal.SIGTERM)),
                   daemon=True).start()
  with pytest.raises(Interrupted) as raised:
    cli.run_child([sys.executable, "-c", CHILD, str(said)])
  assert raised.value.exit_code == 143
  assert said.read_text() == "SIGTERM"  # it got the signal, and ended before run_child did


def _wait_for(path, seconds=60):
  deadline = time.monotonic() + seconds
  while not path.exists() and time.monotonic() < deadline:
    time.sleep(0.05)


def test_compare_stopped_keeps_its_finished_runs(tmp_path):
  from test_compare import FakeRunner
  fake = FakeRunner()

  def stopped_at_the_third(command, stdout, stderr):
    if len(fake.calls) == 2:
      raise Interrupted(signal.SIGTERM, "Stopped by SIGTERM.")
    return fake(command, stdout, stderr)
  out = str(tmp_path / "cmp")
  with pytest.raises(Interrupted) as raised:
    compare.compare(["static_gru"], 2, out, runner=stopped_at_the_third, say=lambda *_: None)
  assert str(raised.value) == (f"Stopped by SIGTERM. [3/4] static_gru seed 1 v1 was stopped; "
                               f"the 2 finished runs are kept in {out}, and the same command "
                               "reuses them.")
  again = FakeRunner()
  compare.compare(["static_gru"], 2, out, runner=again, say=lambda *_: None)
  assert again.calls == [("static_gru", 1, "v1"), ("static_gru", 1, "v2")]


def test_ctrl_c_while_a_legacy_script_loads_is_one_line():
  process = subprocess.Popen([sys.executable, "-m", "legacy_tf1.static_rnn", "--cell=gru"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(1.5)  # inside TensorFlow's import
  process.send_signal(signal.SIGINT)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 130, stderr[-2000:]
  assert stderr.strip().splitlines()[-1] == "Stopped by SIGINT." and "Traceback" not in stderr


# 4. Values and waiting -------------------------------------------------------------------------


def test_a_bad_flag_is_refused_before_tensorflow_loads():
  probe = ("import sys; sys.argv = ['train', '--learning_rate=nan']\n"
           "from tf_rnn_mnist import train\n"
           "try:\n    train.run_main()\nexcept SystemExit as e:\n"
           "    print(e.code, 'tensorflow' in sys.modules)")
  done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                        timeout=120)
  assert done.stdout.strip() == ("error: --learning_rate=nan: a finite number is expected. "
                                 "(--help lists the flags.) False")


def test_a_multi_worker_start_says_who_it_waits_for_and_gives_up(tmp_path, small_idx_dir):
  ports = []
  for _ in range(2):
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      ports.append(s.getsockname()[1])
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster,
                                               "task": {"type": "worker", "index": 0}}))
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--strategy=multi_worker", "--train_steps=2",
       "--worker_timeout=4", *DATA, f"--data_dir={small_idx_dir}"],
      capture_output=True, text=True, timeout=300, env=env)
  assert done.returncode != 0
  assert (f"Waiting for worker 1 (127.0.0.1:{ports[1]}) to start (1 s of 4 s, "
          "--worker_timeout; Ctrl-C ends the wait).") in done.stderr
  assert (f"error: --strategy=multi_worker: worker 1 (127.0.0.1:{ports[1]}) did not join "
          "within 4 s (--worker_timeout).") in done.stderr


# 5. The image ----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv,module,args", [
    (["--variant=multilayer"], "tf_rnn_mnist.train", ["--variant=multilayer"]),
    (["compare", "--seeds=2"], "tf_rnn_mnist.tools.compare", ["--seeds=2"]),
    (["migrate", "inspect", "x"], "tf_rnn_mnist.migrate", ["inspect", "x"]),
    (["legacy", "static_rnn", "--cell=gru"], "legacy_tf1.static_rnn", ["--cell=gru"]),
    (["legacy", "mnist_lstm"], "legacy_torch.mnist_lstm", []),
])
def test_one_entrypoint_for_every_tool(argv, module, args):
  from tf_rnn_mnist import __main__ as entry
  assert entry.module_and_args(argv) == (module, args)


@pytest.mark.parametrize("argv", [[], ["--help"], ["legacy", "--help"]])
def test_the_dispatcher_without_a_tool_prints_its_usage_and_exits_0(argv):
  """Typed to see what it does, `python -m tf_rnn_mnist` trains nothing: it lists the tools,
  one line each, and the main job's command; `legacy --help` lists the tutorials' programs."""
  done = subprocess.run([sys.executable, "-m", "tf_rnn_mnist", *argv], capture_output=True,
                        text=True, timeout=60, cwd=ROOT)
  assert done.returncode == 0 and done.stderr == ""
  lines = done.stdout.splitlines()
  if argv[:1] == ["legacy"]:
    assert lines[0] == "usage: python -m tf_rnn_mnist legacy SCRIPT [FLAGS...]: a tutorial's own program"
    assert [line.split()[0] for line in lines[1:-1]] == [
        "basic_lstm", "multilayer_lstm", "static_rnn", "mnist_lstm"]
    return
  assert lines[0] == "usage: python -m tf_rnn_mnist TOOL [FLAGS...]   (a flag first: train)"
  assert [line.split()[0] for line in lines[2:10]] == [
      "train", "compare", "bench", "migrate", "convert", "data", "profile", "legacy"]
  assert "The main job: python -m tf_rnn_mnist train --variant=multilayer" in lines


def test_an_unknown_tool_names_the_tools():
  from tf_rnn_mnist import __main__ as entry
  with pytest.raises(SystemExit) as raised:
    entry.module_and_args(["legacy", "rnn_graph"])
  assert str(raised.value) == ("error: legacy needs a script name ('rnn_graph' is not one): "
                               "basic_lstm, multilayer_lstm, static_rnn, mnist_lstm.")


def test_the_dependency_layer_needs_neither_the_readme_nor_the_network():
  lines = [l.strip() for l in open(os.path.join(ROOT, "Dockerfile")) if l.strip()]
  dependencies = next(i for i, l in enumerate(lines) if '".${EXTRA:+[$EXTRA]}"' in l)
  copies = [l for l in lines[:dependencies] if l.startswith("COPY")]
  assert copies == ["COPY setup.cfg pyproject.toml ./"]  # a README edit keeps the layer
  assert "pip install --no-deps --no-build-isolation ." in " ".join(lines[dependencies:])
  assert lines[[l.startswith("ENTRYPOINT") for l in lines].index(True)] == (
      'ENTRYPOINT ["/usr/bin/tini", "--", "python", "-m", "tf_rnn_mnist"]')


# 6. Quiet, and --help --------------------------------------------------------------------------

NATIVE_NOTICES = re.compile(r"absl::InitializeLog|oneDNN|cuInit|cuda drivers|Sharding callback"
                            r"|cpu_feature_guard|rebuild TensorFlow")


def test_a_run_prints_only_its_own_lines(tmp_path, small_idx_dir):
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=2",
       f"--model_dir={tmp_path}", "--noprogress", *DATA, f"--data_dir={small_idx_dir}"],
      capture_output=True, text=True, timeout=300, env=_quiet_env())
  assert done.returncode == 0, done.stderr[-2000:]
  lines = (done.stderr + done.stdout).splitlines()[:40]
  assert not [l for l in lines if NATIVE_NOTICES.search(l)], lines
  verbose = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=2",
       "--verbose", "--noprogress", *DATA, f"--data_dir={small_idx_dir}"],
      capture_output=True, text=True, timeout=300, env=_quiet_env())
  assert NATIVE_NOTICES.search(verbose.stderr)  # --verbose shows them


def test_the_test_suite_prints_no_notices_after_its_summary():
  """pytest with its two workers (setup.cfg's addopts) on one quick test: its output ends with
  the summary; TensorFlow's C++ notices from loading conftest used to follow it."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  done = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "1",
       "tests/test_layout.py::test_the_layering_test_catches_an_upward_import"],
      capture_output=True, text=True, timeout=300, cwd=root, env=_quiet_env())
  assert done.returncode == 0, done.stdout[-2000:]
  output = (done.stdout + done.stderr).splitlines()
  assert not [l for l in output if NATIVE_NOTICES.search(l)], output
  assert re.fullmatch(r"1 passed in [\d.]+s", output[-1]), output


@pytest.mark.parametrize("command,flag", [
    (["-m", "tf_rnn_mnist.train"], "--variant"),
    (["-m", "tf_rnn_mnist", "compare"], "--seeds"),
    (["-m", "tf_rnn_mnist", "bench"], "--window"),
    (["-m", "tf_rnn_mnist", "convert"], "--tf1_checkpoint"),
    (["-m", "tf_rnn_mnist", "data"], "--data_source"),
    (["-m", "tf_rnn_mnist", "migrate"], "--inputs"),
    (["tf-rnn-mnist-train"], "--checkpoint_every"),
    (["tf-rnn-mnist-data"], "--data_source"),
    (["-m", "tf_rnn_mnist", "legacy", "static_rnn"], "--cell"),
    (["-m", "tf_rnn_mnist", "legacy", "multilayer_lstm"], "--checkpoint_dir"),
])
def test_help_lists_the_tools_own_flags_and_exits_0(command, flag):
  """Only the tool's flags: none of those TensorFlow's modules define on import (the legacy
  scripts' help listed --hbm_oom_exit, --tt_check_filter, ...)."""
  if not command[0].startswith("-"):
    command = [os.path.join(os.path.dirname(sys.executable), command[0]), *command[1:]]
  else:
    command = [sys.executable, *command]
  done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr[-2000:]
  assert re.search(rf"^  {flag}: ", done.stdout, re.M), done.stdout[-2000:]
  foreign = re.findall(r"^  --(?:\[no\])?(hbm_oom_exit|tt_check_filter|delta_threshold|"
                       r"op_conversion_fallback_to_while_loop|runtime_oom_exit)\b",
                       done.stdout, re.M)
  assert foreign == []


# 7. What a hostile user found next ---------------------------------------------------------


def test_a_closed_stdout_does_not_lose_the_run(tmp_path, small_idx_dir):
  """`trainer | head -1`: the reader leaves, the run still checkpoints and writes its outputs."""
  process = subprocess.Popen(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=60",
       "--batch_size=20", f"--model_dir={tmp_path}/m", f"--results_json={tmp_path}/r.json",
       "--noprogress", *DATA, f"--data_dir={small_idx_dir}"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert process.stdout.readline().startswith("(the tutorial's lines: Iter ")  # the legend
  process.stdout.close()  # as head does after its line
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 0, stderr[-2000:]
  assert json.loads((tmp_path / "r.json").read_text())["steps"] == 60


@pytest.mark.parametrize("overrides,message", [
    (lambda d: dict(data_dir=str(d / "idx"), results_json=str(d / "idx" / "r.json")),
     "--results_json={d}/idx/r.json is inside the input --data_dir={d}/idx: writing it would "
     "destroy the input. Pass another output path."),
    (lambda d: dict(init_from=str(d / "ckpt"), results_json=str(d / "ckpt.index")),
     "--results_json={d}/ckpt.index is inside the input --init_from={d}/ckpt: writing it would "
     "destroy the input. Pass another output path."),
    (lambda d: dict(model_dir=str(d / "m"), results_json=str(d / "m" / "checkpoints" / "a")),
     "--results_json={d}/m/checkpoints/a is inside {d}/m/checkpoints, where the run's "
     "checkpoints go: it would be overwritten, or break it. Pass another output path."),
    (lambda d: dict(model_dir=str(d / "run[1]")),
     "--model_dir={d}/run[1]: TensorFlow reads checkpoint paths as glob patterns, so a path "
     "with any of *?[] could never be resumed from; pass a path without them."),
    (lambda d: dict(results_json=str(d / "fifo")),
     "--results_json={d}/fifo is not a regular file (a device, FIFO or socket); pass a .json "
     "file path."),
])
def test_outputs_inside_inputs_or_of_other_kinds_are_refused(overrides, message, tmp_path,
                                                             monkeypatch):
  _no_training(monkeypatch)
  (tmp_path / "idx").mkdir()
  (tmp_path / "ckpt.index").write_text("a checkpoint's index")
  os.mkfifo(tmp_path / "fifo")
  with pytest.raises(ConfigError) as raised:
    _run(**overrides(tmp_path))
  assert str(raised.value) == message.format(d=tmp_path)
  assert (tmp_path / "ckpt.index").read_text() == "a checkpoint's index"


def test_a_symlinked_lock_description_is_refused_and_its_target_untouched(tmp_path):
  (tmp_path / "victim.txt").write_text("the user's file")
  (tmp_path / "run").mkdir()
  os.symlink("../victim.txt", tmp_path / "run" / LOCK_NAME)
  with pytest.raises(ConfigError, match=re.escape(
      f"--model_dir={tmp_path}/run: {tmp_path}/run/{LOCK_NAME} is a symbolic link, not this "
      "project's lock description; remove it.")):
    RunLock(str(tmp_path / "run"), "model_dir").acquire()
  assert (tmp_path / "victim.txt").read_text() == "the user's file"


def test_a_replaced_model_dir_still_gets_results_and_export(tmp_path, monkeypatch):
  calls = []

  def replaced_after_the_first_save(self):
    calls.append(1)
    if len(calls) > 1:
      raise ConfigError(f"--model_dir={tmp_path}/m: its lock was removed or replaced")
  monkeypatch.setattr(RunLock, "check", replaced_after_the_first_save)
  with pytest.raises(OutputError) as raised:
    _run(model_dir=str(tmp_path / "m"), checkpoint_every=3, results_json=str(tmp_path / "r.json"),
         export=str(tmp_path / "e.keras"))
  assert str(raised.value).startswith(
      f"The checkpoint after update 6 was not saved: --model_dir={tmp_path}/m: its lock was "
      f"removed or replaced Kept: the checkpoint {tmp_path}/m/checkpoints/ckpt-3 (after update "
      "3);")
  assert json.loads((tmp_path / "r.json").read_text())["steps"] == 6
  assert (tmp_path / "e.keras").exists()


def test_a_stop_is_not_an_exception_a_library_may_swallow():
  """A broad `except Exception` inside TensorFlow's start swallowed SIGTERM's Interrupted."""
  try:
    try:
      raise Interrupted(signal.SIGTERM, "Stopped by SIGTERM.")
    except Exception:  # pylint: disable=broad-except
      pytest.fail("a library's except Exception caught the stop")
  except Interrupted as e:
    assert e.exit_code == 143


def test_flag_errors_and_odd_help_spellings():
  bad = subprocess.run([sys.executable, "-m", "tf_rnn_mnist.tools.compare", "--seeds=0",
                        "--out=/tmp/x"], capture_output=True, text=True, timeout=60)
  assert bad.returncode == 1
  assert bad.stderr.strip().splitlines() == [
      "error: flag --seeds=0: 0 is not a positive integer. (--help lists the flags.)"]
  for spelling in ("--help=True", "-help", "--helpxml"):
    done = subprocess.run([sys.executable, "-m", "tf_rnn_mnist.tools.compare", spelling],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--seeds" in done.stdout, spelling


def test_legacy_outputs_numpy_renames_are_compared_as_written(tmp_path, small_idx_dir):
  done = subprocess.run(
      [sys.executable, "-m", "legacy_tf1.static_rnn", "--cell=gru", "--train_steps=2",
       f"--save_test_outputs={tmp_path}/o", f"--results_json={tmp_path}/o.npz", *DATA,
       f"--data_dir={small_idx_dir}"], capture_output=True, text=True, timeout=300)
  assert done.returncode == 1 and "Traceback" not in done.stderr
  assert (f"error: --save_test_outputs={tmp_path}/o.npz is the same path as --results_json: "
          "one output would overwrite the other.") in done.stderr  # numpy would write o.npz
