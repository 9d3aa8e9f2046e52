"""migrate: every supported TF1 RNN kind is recognised, converted to Keras 3 and back, and
proved to compute what TF1's own cells compute from the checkpoint.

The checkpoints come from real TF1 graphs (tests/tf1_rnn_checkpoints.py, in its own process),
with every variable drawn from N(0, 0.5): a swapped gate block, a forgotten forget bias, a
peephole on the wrong state or a bw layer run forwards all move the outputs by far more than
1e-5, so verify's tolerance catches each (test_verify_catches_a_wrong_run_time_setting shows
one such failure end to end).
"""

import glob
import os
import pathlib
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from tf_rnn_mnist.migrate import keras_side, verify
from tf_rnn_mnist.migrate import spec as spec_io
from tf_rnn_mnist.migrate.recognise import inspect
from tf_rnn_mnist.migrate.structures import RunOptions
from tf_rnn_mnist.model.weight_maps import (open_tf1_checkpoint, read_tf1_checkpoint,
                                            write_tf1_checkpoint)

GENERATOR = pathlib.Path(__file__).with_name("tf1_rnn_checkpoints.py")

# kind -> (the line `inspect` prints for it, --scope, --head, run-time options)
KINDS = {
    "basic_lstm": ("rnn/basic_lstm_cell: LSTM(5), input 3, output 5 [BasicLSTMCell]",
                   None, "auto", RunOptions()),
    "multilayer": ("rnn/multi_rnn_cell/cell_{0,1,2}/basic_lstm_cell: 3 x LSTM(8), input 3, "
                   "output 8 [BasicLSTMCell]", None, "auto", RunOptions()),
    # A MultiRNNCell of one cell: the rebuilt graph must name it multi_rnn_cell/cell_0 too
    # (it was rebuilt as a bare cell, and the restore failed).
    "one_cell_multi": ("rnn/multi_rnn_cell/cell_0/basic_lstm_cell: LSTM(5), input 3, output 5 "
                       "[BasicLSTMCell]", None, "auto", RunOptions()),
    "lstm_stack": ("rnn/multi_rnn_cell/cell_{0,1}/lstm_cell: LSTM(4) -> LSTM(6), input 3, "
                   "output 6 [LSTMCell or contrib LSTMBlockCell]", None, "auto", RunOptions()),
    "peephole_projection": ("rnn/lstm_cell: LSTM(6, peepholes, projection 4), input 3, output 4 "
                            "[LSTMCell]", None, "auto", RunOptions(1.0, 0.5, 0.3)),
    "gru": ("rnn/gru_cell: GRU(7), input 3, output 7 [GRUCell]", None, "auto", RunOptions()),
    "gru_stack": ("rnn/multi_rnn_cell/cell_{0,1}/gru_cell: GRU(4) -> GRU(5), input 3, output 5 "
                  "[GRUCell]", None, "auto", RunOptions()),
    "bidirectional": ("bidirectional_rnn/{fw,bw}/lstm_cell: bidirectional (LSTM(4) + LSTM(4)), "
                      "input 3, output 8 [LSTMCell or contrib LSTMBlockCell]", None, "auto",
                      RunOptions()),
    "bidirectional_multi": (
        "bidirectional_rnn/{fw,bw}/multi_rnn_cell/cell_{0,1}/{lstm_cell,gru_cell,"
        "basic_lstm_cell}: bidirectional (LSTM(4) -> GRU(5) + GRU(3) -> LSTM(2)), input 3, "
        "output 7 [BasicLSTMCell, GRUCell, LSTMCell or contrib LSTMBlockCell]", None, "auto",
        RunOptions()),
    "stack_bidirectional": (
        "stack_bidirectional_rnn/cell_{0,1}/bidirectional_rnn/{fw,bw}/lstm_cell: 2 x "
        "bidirectional (LSTM(4) + LSTM(4)), input 3, output 8 [LSTMCell or contrib "
        "LSTMBlockCell]", None, "auto", RunOptions()),
    "stack_bidirectional_gru": (
        "stack_bidirectional_rnn/cell_{0,1,2}/bidirectional_rnn/{fw,bw}/gru_cell: 3 x "
        "bidirectional (GRU(3) + GRU(3)), input 3, output 6 [GRUCell]", None, "auto",
        RunOptions()),
    "keras_layers": ("lstm/lstm_cell: LSTM(4), input 3, output 4 [tf.keras LSTM layer]",
                     ["lstm", "bidirectional", "gru_1"], "auto", RunOptions()),
    "tutorial_style": ("rnn/basic_lstm_cell: LSTM(5), input 3, output 5 [BasicLSTMCell]", None,
                   "Variable,Variable_1", RunOptions()),
    "block": ("rnn/lstm_cell: LSTM(6, peepholes), input 3, output 6 [LSTMCell or contrib "
              "LSTMBlockCell]", None, "auto", RunOptions(1.0, 0.7)),
    "fused": ("lstm_fused_cell: LSTM(4, peepholes), input 3, output 4 [LSTMBlockFusedCell]",
              None, "auto", RunOptions()),
    # contrib's GRUBlockCell (V1 names): a kind of its own, checked against the GRUBlockCell
    # op itself (the TF1 side rebuilds it on that op).
    "gru_block": ("rnn/gru_cell: GRU(5), input 3, output 5 [contrib GRUBlockCell]", None,
                  "auto", RunOptions()),
    "basic_rnn": ("rnn/multi_rnn_cell/cell_{0,1}/basic_rnn_cell: SimpleRNN(4) -> SimpleRNN(3), "
                  "input 3, output 3 [BasicRNNCell]", None, "auto", RunOptions()),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
  out = tmp_path_factory.mktemp("tf1_rnn")
  done = subprocess.run([sys.executable, str(GENERATOR), str(out)], capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return out


def _ckpt(checkpoints, kind):
  return str(checkpoints / kind / "model.ckpt")


def _converted(checkpoints, kind, tmp_path):
  """(checkpoint, chosen structures, head, options, written .keras path) as to-keras makes them."""
  _, scopes, head_flag, options = KINDS[kind]
  reader = open_tf1_checkpoint(_ckpt(checkpoints, kind))
  inspection = inspect(reader.get_variable_to_shape_map())
  chosen = inspection.choose(scopes, kind)
  head = inspection.choose_head(chosen[-1], head_flag)
  arrays = {n: reader.get_tensor(n) for n in inspection.shapes}
  path = str(tmp_path / f"{kind}.keras")
  keras_side.build_model(chosen, head, arrays, options).save(path)
  return _ckpt(checkpoints, kind), chosen, head, options, path


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_inspect_names_the_structure(checkpoints, kind):
  shapes = open_tf1_checkpoint(_ckpt(checkpoints, kind)).get_variable_to_shape_map()
  report = inspect(shapes).report()
  assert f"  {KINDS[kind][0]}\n" in report + "\n"
  assert "not recognised" not in report or kind == "tutorial_style"


@pytest.fixture(scope="module")
def tf1_runs(checkpoints, tmp_path_factory):
  """Every kind converted to .keras, and its TF1 graph run on random inputs: all the graphs in
  one process (what `verify` runs one at a time)."""
  workdir = tmp_path_factory.mktemp("verify")
  runs, specs = {}, []
  for kind in sorted(KINDS):
    ckpt, chosen, head, options, path = _converted(checkpoints, kind, workdir)
    x = verify.random_inputs(chosen, batch=4, timesteps=7)
    np.save(workdir / f"{kind}.npy", x)
    specs.append(spec_io.GraphSpec(tuple(chosen), head, options, ckpt,
                                   str(workdir / f"{kind}.npy"), str(workdir / f"{kind}.npz")))
    runs[kind] = (path, chosen, head, x)
  outputs = verify.tf1_outputs(specs, str(workdir))
  return {kind: (*run, tf1) for (kind, run), tf1 in zip(runs.items(), outputs)}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_converted_model_computes_what_tf1_computes(tf1_runs, kind):
  """Outputs, every cell's final h and c, and the head's logits within 1e-5 of TF1's own cells
  restored from the checkpoint, on the reloaded .keras file (TF1LSTMCell included)."""
  path, chosen, head, x, tf1 = tf1_runs[kind]
  rows = verify.differences(verify.load_checked(path, chosen), chosen, head, x, tf1)
  cells = sum(len(s.cells) for s in chosen)
  assert len(rows) == 1 + sum(len(c.kind.states) for s in chosen for c in s.cells) + bool(head)
  assert cells >= 1
  assert max(d for _, d in rows) <= verify.TOLERANCE, rows


@pytest.mark.parametrize("kind", ["block", "fused"])
def test_contrib_block_kernels_match_the_converted_model(checkpoints, kind, tmp_path):
  """contrib's LSTMBlockCell / BlockLSTM kernels (what LSTMBlockCell and LSTMBlockFusedCell
  ran), recorded by the generator, against the Keras model: not only against TF1's LSTMCell."""
  _, _, _, _, path = _converted(checkpoints, kind, tmp_path)
  reference = np.load(checkpoints / kind / "reference.npz")
  model = keras.models.load_model(path)
  sequence, (h, c), _ = keras_side.run_with_states(model, reference["inputs"])
  for ours, theirs in ((sequence, reference["output"]), (h, reference["h"]),
                       (c, reference["c"])):
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind,cell", [
    ("multilayer", "BasicLSTMCell"), ("lstm_stack", "LSTMCell"), ("gru_stack", "LSTMCell"),
    ("peephole_projection", "LSTMCell"), ("bidirectional", "LSTMCell"),
    # (bidirectional_multi mixes BasicLSTMCell and LSTMCell: one --cell cannot name both)
    ("stack_bidirectional", "LSTMCell"),
    ("stack_bidirectional_gru", "LSTMCell"), ("fused", "LSTMBlockFusedCell")])
@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_to_tf1_gives_back_the_checkpoint(checkpoints, kind, cell, forget_bias, tmp_path):
  """TF1 -> Keras -> TF1: the same names, every array bit for bit; with a forget bias folded in,
  the LSTM biases' f blocks come back within one float32 rounding of 1 + b (2**-23)."""
  kind_ckpt = _ckpt(checkpoints, kind)
  reader = open_tf1_checkpoint(kind_ckpt)
  original = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
  options = RunOptions(forget_bias)
  inspection = inspect(reader.get_variable_to_shape_map())
  head = inspection.choose_head(inspection.structures[0], "auto")
  model = keras_side.build_model(list(inspection.structures), head, original, options)
  structure, placed = keras_side.tf1_structure(model, cell)
  back = keras_side.tf1_arrays(placed, options)
  back.update(keras_side.head_arrays(model)[0])
  assert sorted(back) == sorted(original)
  lstm_biases = {c.variables()["bias"] for c in structure.cells if c.kind.layer == "LSTM"}
  for name, value in original.items():
    if forget_bias and name in lstm_biases:
      units = value.shape[0] // 4
      f = slice(2 * units, 3 * units)  # TF1's i, j, f, o
      np.testing.assert_array_equal(np.delete(back[name], np.r_[f]), np.delete(value, np.r_[f]))
      assert np.abs(back[name][f] - value[f]).max() <= 2.0 ** -23
      assert np.abs(back[name][f] - value[f]).max() > 0  # the rounding is real: stated honestly
    else:
      np.testing.assert_array_equal(back[name], value, err_msg=name)


@pytest.mark.parametrize("kind,implied", [
    ("gru_stack", "GRUCell"), ("stack_bidirectional_gru", "GRUCell"),
    ("peephole_projection", "LSTMCell"), ("multilayer", None), ("bidirectional", None)])
def test_to_tf1_takes_the_cell_class_the_model_implies(checkpoints, kind, implied):
  """Without --cell, to-tf1 uses what the model says: GRUs are TF1's GRUCell, an LSTM with
  peepholes or a projection is LSTMCell; a plain LSTM leaves the class open (BasicLSTMCell
  and LSTMCell name their variables otherwise). The implied class gives back the checkpoint's
  names and arrays."""
  reader = open_tf1_checkpoint(_ckpt(checkpoints, kind))
  original = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
  inspection = inspect(reader.get_variable_to_shape_map())
  head = inspection.choose_head(inspection.structures[0], "auto")
  model = keras_side.build_model(list(inspection.structures), head, original, RunOptions(0.0))
  assert keras_side.implied_cell_class(model) == implied
  if implied:
    _, placed = keras_side.tf1_structure(model, implied)
    back = {**keras_side.tf1_arrays(placed, RunOptions(0.0)), **keras_side.head_arrays(model)[0]}
    assert sorted(back) == sorted(original)


def _migrate(*args, env=None):
  return subprocess.run([sys.executable, "-m", "tf_rnn_mnist.migrate", *args],
                        capture_output=True, text=True, timeout=300, env=env)


def test_cli_to_keras_verifies_and_to_tf1_restores_in_tf1(checkpoints, tmp_path):
  """The commands as a user runs them: to-keras prints verify's table, says the cell-level
  check proves nothing about the program and exits 3 (no graph was saved); the Keras
  model reloaded in a process that only imported keras and the cell module gives the same
  logits; to-tf1's checkpoint passes verify against the same model."""
  model = tmp_path / "m.keras"
  done = _migrate("to-keras", _ckpt(checkpoints, "multilayer"), f"--output={model}")
  assert done.returncode == 3, done.stderr[-2000:]
  assert "cell-level check only: the model is not proved" in done.stdout
  assert "built: input [batch, time, 3] -> [batch, 10] (the dense head on the last step)" in (
      done.stdout)
  assert done.stdout.strip().splitlines()[-1] == f"wrote {model}"
  assert "head logits" in done.stdout and "PASS: largest difference" in done.stdout
  back = tmp_path / "back" / "model"
  done = _migrate("to-tf1", str(model), f"--output={back}")  # LSTMs: the class is the user's
  assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
      "error: to-tf1: the model's LSTM layers can be written under BasicLSTMCell's, LSTMCell's "
      "or LSTMBlockCell's variable names; pass --cell=CLASS, the class the TF1 program builds "
      "(or --cell=keras for tf.keras's names).")
  assert not back.parent.exists()
  done = _migrate("to-tf1", str(model), f"--output={back}", "--cell=BasicLSTMCell")
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.strip() == (
      f"wrote {back}: rnn/multi_rnn_cell/cell_{{0,1,2}}/basic_lstm_cell: 3 x LSTM(8), input 3, "
      "output 8 [BasicLSTMCell]")
  done = _migrate("verify", str(back), str(model), "--timesteps=3", "--batch=2")
  assert done.returncode == 3, done.stderr[-2000:]
  assert "verify: TF1 graph vs Keras model on random inputs [2, 3, ...]" in done.stdout


def test_verify_catches_a_wrong_run_time_setting(checkpoints, tmp_path):
  """The peephole cell was built with cell_clip=0.5: a model converted without it differs from
  the TF1 graph built with it, and verify says so and exits 1."""
  model = tmp_path / "unclipped.keras"
  done = _migrate("to-keras", _ckpt(checkpoints, "peephole_projection"), f"--output={model}",
                  "--noverify")
  assert done.returncode == 0, done.stderr[-2000:]
  done = _migrate("verify", _ckpt(checkpoints, "peephole_projection"), str(model),
                  "--cell_clip=0.5", "--proj_clip=0.3")
  assert done.returncode == 1
  assert "FAIL: largest difference" in done.stdout
  assert done.stderr.strip().splitlines()[-1] == (
      f"error: {model} differs from {_ckpt(checkpoints, 'peephole_projection')} by more than "
      "1e-05 (table above).")


def test_unsupported_cells_are_listed_not_guessed(checkpoints):
  done = _migrate("inspect", _ckpt(checkpoints, "unsupported"))
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.splitlines() == [
      "recognised:",
      "  gru_net/gru_cell: GRU(3), input 3, output 3 [GRUCell]",
      "not recognised:",
      "  rnn/ugrnn_cell: a recurrent cell not recognised by its variables' names (those of "
      "BasicLSTMCell, BasicRNNCell, GRUCell, LSTMBlockFusedCell, LSTMCell, contrib GRUBlockCell, "
      "tf.keras GRU, tf.keras LSTM are); whole-model to-keras (--inputs/--outputs) reads what "
      "the graph runs instead",
      f"graph: none ({_ckpt(checkpoints, 'unsupported')}.meta not found; --graph=FILE reads "
      "one): only the checkpoint's cells can be converted, and only checked cell by cell."]


def test_no_rnn_and_wrong_scope_say_what_exists(checkpoints, tmp_path):
  out = f"--output={tmp_path / 'x.keras'}"
  done = _migrate("to-keras", _ckpt(checkpoints, "no_rnn"), out)
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-4:] == [
      f"error: {_ckpt(checkpoints, 'no_rnn')} holds no recurrent network this tool recognises.",
      "recognised: no recurrent network (no LSTM or GRU variables).",
      "not recognised:",
      "  dense: a dense layer [3, 4], not on a recognised network's output"]
  done = _migrate("to-keras", _ckpt(checkpoints, "keras_layers"), out, "--scope=encoder")
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == (
      "error: --scope=encoder: no recurrent network there; the checkpoint has: bidirectional, "
      "gru_1, lstm.")
  assert not os.path.exists(tmp_path / "x.keras")


def test_tutorial_checkpoint_head_is_suggested_not_taken(checkpoints):
  report = inspect(open_tf1_checkpoint(_ckpt(checkpoints, "tutorial_style"))
                   .get_variable_to_shape_map()).report()
  assert ("  Variable: shape [5, 10]: not a variable of an LSTM, GRU or dense layer; if it and "
          "Variable_1 are a dense layer on the last output, pass --head=Variable,Variable_1"
          in report.splitlines())


def test_cli_refuses_unknown_commands_and_a_model_of_another_network(checkpoints, tmp_path):
  done = _migrate("convert", "x")
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1].startswith(
      "error: unknown command convert; usage: python -m tf_rnn_mnist.migrate inspect SOURCE")
  model = tmp_path / "gru.keras"
  assert _migrate("to-keras", _ckpt(checkpoints, "gru_stack"), f"--output={model}",
                  "--noverify").returncode == 0
  done = _migrate("verify", _ckpt(checkpoints, "keras_layers"), str(model),
                  "--scope=bidirectional")
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == (
      f"error: {model} takes inputs of size 3; the checkpoint's network takes 4.")


def test_hostile_inputs_end_in_clear_errors_and_keep_earlier_outputs(checkpoints, tmp_path):
  """Found by outside reviews: a truncated checkpoint ended in IndexError from TF's reader
  (to-keras) or in a line of the TF1 side's traceback (verify);
  --forget_bias=nan was accepted (to-tf1 wrote NaN biases and exited 0); a to-keras whose verify
  failed had already replaced the existing .keras file; to-tf1 repointed the directory's
  `checkpoint` state file to its output; a refused to-tf1 left its output directory behind."""
  source = _ckpt(checkpoints, "multilayer")
  corrupt = tmp_path / "corrupt"
  corrupt.mkdir()
  for path in glob.glob(source + ".*"):
    shutil.copy(path, corrupt)
  data = corrupt / (os.path.basename(source) + ".data-00000-of-00001")
  os.truncate(data, 200)
  # verify too: it read only the names, and the TF1 side's restore ended in a traceback line
  model = tmp_path / "m.keras"
  assert _migrate("to-keras", source, f"--output={model}", "--noverify").returncode == 0
  for args in (("to-keras", f"--output={tmp_path / 'c.keras'}"), ("verify", str(model))):
    done = _migrate(args[0], str(corrupt / os.path.basename(source)), *args[1:])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.search(r"^error: \S+ is not a readable TF checkpoint: variable \S+ cannot be "
                     r"read \(.+\)\.$", done.stderr.strip().splitlines()[-1]), done.stderr[-500:]

  for command, path in (("to-keras", source), ("to-tf1", str(model))):
    done = _migrate(command, path, f"--output={tmp_path / 'x'}", "--cell=LSTMCell",
                    "--forget_bias=nan")
    assert done.returncode == 1
    assert "--forget_bias must be a finite number." in done.stderr, done.stderr[-500:]
  done = _migrate("to-keras", source, f"--output={model}", "--cell_clip=-1")
  assert done.returncode == 1 and "--cell_clip must be a finite number >= 0" in done.stderr
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(model).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0600

  # A head kernel of 1e8 turns float32 rounding in the LSTM outputs into logit differences far
  # above the tolerance: a checkpoint whose verify fails for a reason no flag fixes.
  arrays = read_tf1_checkpoint(source)
  arrays["dense/kernel"] = arrays["dense/kernel"] * np.float32(1e8)
  huge = str(tmp_path / "huge" / "model.ckpt")
  write_tf1_checkpoint(arrays, huge)
  before = model.read_bytes()
  done = _migrate("to-keras", huge, f"--output={model}")
  assert done.returncode == 1 and "FAIL: largest difference" in done.stdout
  assert done.stderr.strip().splitlines()[-1] == (
      f"error: {model} differs from {huge} by more than 1e-05 (table above). {model} was not "
      "written (--noverify writes it unchecked).")
  assert model.read_bytes() == before
  assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["m.keras"]  # no staged file left

  original = shutil.copytree(os.path.dirname(source), tmp_path / "original")
  state = original / "checkpoint"
  state.write_text('model_checkpoint_path: "model.ckpt"\n')
  done = _migrate("to-tf1", str(model), f"--output={original / 'back'}", "--cell=BasicLSTMCell")
  assert done.returncode == 0, done.stderr[-2000:]
  assert state.read_text() == 'model_checkpoint_path: "model.ckpt"\n'
  assert (original / "back.index").exists()

  done = _migrate("to-tf1", str(corrupt / "nothing.keras"), f"--output={tmp_path / 'new' / 'm'}",
                  "--cell=LSTMCell")
  assert done.returncode == 1 and "is not a readable Keras model" in done.stderr
  assert not (tmp_path / "new").exists()
