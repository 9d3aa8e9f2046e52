"""migrate from every form a TF1 model ships in (a checkpoint with its .meta, a frozen
GraphDef as .pb and .pbtxt, a TF1 SavedModel), each made from one program as users make them
(tests/tf1_programs.py --forms: convert_variables_to_constants, write_graph, simple_save);
and from a training graph (tensorflow/nmt's TRAIN-mode checkpoint, dropout built in), proved
against the graph with its dropouts bypassed and, independently, against the program's
EVAL-mode graph restored from the same checkpoint."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.migrate import graph_ops, graph_proof, sources, verify, whole_model, wrappers
from tf_rnn_mnist.migrate.graph import tensor_name

PROGRAMS = pathlib.Path(__file__).with_name("tf1_programs.py")
NAMES = ("bi_classifier", "nmt_training", "char_rnn_dropout", "deepspeech_fused", "crnn_ocr",
         "sequence_tagging_chars")
# Models that ship frozen: speech (DeepSpeech's output_graph.pb: BlockLSTM), OCR (CRNN: conv,
# batch norm, bidirectional LSTMs), a sequence tagger (char and word BiLSTMs)
FROZEN = ("deepspeech_fused", "crnn_ocr", "sequence_tagging_chars")
TRAINING = {  # program -> the dropouts (by scope) built into its training graph
    "nmt_training": [f"dynamic_seq2seq/{part}/while/{scope}/multi_rnn_cell/cell_{k}/dropout"
                     for part, scope in (("encoder/rnn", "rnn"), ("decoder/decoder", "decoder"))
                     for k in (0, 1)],
    "char_rnn_dropout": ["dropout", "dropout_1"] + [  # tf.nn.dropout, tf.layers.dropout
        f"rnnlm_1/while/rnnlm/multi_rnn_cell/cell_{k}/dropout{suffix}"  # in, out keep prob
        for k in (0, 1) for suffix in ("", "_1")]}


def _quiet_run(*args, **kwargs):
  return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900,
                        **kwargs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  out = tmp_path_factory.mktemp("forms")
  done = _quiet_run(str(PROGRAMS), str(out), *NAMES)
  assert done.returncode == 0, done.stderr[-3000:]
  done = _quiet_run(str(PROGRAMS), "--forms", str(out), "bi_classifier", *FROZEN)
  assert done.returncode == 0, done.stderr[-3000:]
  return out


def _spec(corpus, name):
  return json.loads((corpus / name / "program.json").read_text())


def _interface(spec):
  return whole_model.Interface([tensor_name(t) for t in spec["inputs"]],
                               [tensor_name(t) for t in spec["outputs"]],
                               {tensor_name(k): v for k, v in spec["feed"].items()})


def _migrate(*args):
  return _quiet_run("-m", "tf_rnn_mnist.migrate", *args)


def _flags(spec, interface=True):
  feed = [f"--feed={k}={v}" for k, v in spec["feed"].items()]
  if not interface:
    return feed
  return [f"--inputs={','.join(spec['inputs'])}", f"--outputs={','.join(spec['outputs'])}",
          *feed]


def _table(stdout):
  """The verify table's rows: tensor, verdict (the differences themselves may differ by
  TensorFlow's rounding of a frozen graph's constant-folded ops)."""
  rows = re.findall(r"^  (\S+) +max \|diff\| (\S+)  bound (\S+) .*  (ok|FAIL.*)$", stdout, re.M)
  return [(tensor, float(diff), bound, said) for tensor, diff, bound, said in rows]


def _weights(path):
  """{layer name: its weights} (Keras numbers its variables' paths per process)."""
  model = verify.load_model(str(path))
  return {layer.name: [np.asarray(w) for w in layer.weights] for layer in model.layers}


def test_every_form_gives_the_same_model_and_the_same_verify_table(corpus, tmp_path):
  """bi_classifier as a checkpoint + .meta, a frozen .pb, a frozen .pbtxt and a SavedModel
  (its signature's tensors the default --inputs/--outputs): each converted and proved against
  its own form; the four .keras files hold the same weights bit for bit, and their verify
  tables the same outputs, bounds and verdicts."""
  spec, base = _spec(corpus, "bi_classifier"), corpus / "bi_classifier"
  forms = {"checkpoint": (base / "model.ckpt", True), "frozen .pb": (base / "frozen.pb", True),
           "frozen .pbtxt": (base / "frozen.pbtxt", True),
           "SavedModel": (base / "saved_model", False)}
  tables, weights = {}, {}
  for form, (path, named) in forms.items():
    out = tmp_path / f"{form.replace(' ', '_')}.keras"
    done = _migrate("to-keras", str(path), *_flags(spec, named), f"--output={out}")
    assert done.returncode == 0, (form, done.stdout[-2000:], done.stderr[-2000:])
    assert f"PASS: proved against the program's own graph {form.split()[0]}" in done.stdout
    tables[form], weights[form] = _table(done.stdout), _weights(out)
  first = tables["checkpoint"]
  assert [(t, b, s) for t, _, b, s in first] == [("output/scores:0", "1.0e-05", "ok")]
  for form in forms:
    assert [(t, b, s) for t, _, b, s in tables[form]] == [(t, b, s) for t, _, b, s in first]
    assert abs(tables[form][0][1] - first[0][1]) <= 1e-7, (form, tables[form])
    assert weights[form].keys() == weights["checkpoint"].keys()
    for key, values in weights["checkpoint"].items():
      assert len(weights[form][key]) == len(values), (form, key)
      for ours, theirs in zip(weights[form][key], values):
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{form} {key}")


def test_frozen_weights_are_recognised_by_the_cell_kinds(corpus):
  """The frozen constants become variables of the same names: the same cells as the
  checkpoint's, the same values."""
  frozen = sources.resolve(str(corpus / "bi_classifier" / "frozen.pb"))
  checkpoint = sources.resolve(str(corpus / "bi_classifier" / "model.ckpt"))
  assert isinstance(frozen, sources.FrozenSource) and frozen.checkpoint is None
  thawed, held = frozen.variables(), checkpoint.variables()
  cell = "bidirectional_rnn/fw/lstm_cell/kernel"
  assert sorted(thawed) == ["W", "bidirectional_rnn/bw/lstm_cell/bias",
                            "bidirectional_rnn/bw/lstm_cell/kernel",
                            "bidirectional_rnn/fw/lstm_cell/bias", cell, "embedding/W", "output/b"]
  for name, value in thawed.items():
    np.testing.assert_array_equal(value, held[name], err_msg=name)
  assert frozen.graph.nodes[cell].op == "VariableV2"
  assert frozen.frozen.nodes[cell].op == "Const"  # (the reference runs the file as it is)


def _converted(source, interface):
  arrays = source.variables()
  return whole_model.convert(source.graph, {n: a.shape for n, a in arrays.items()}, arrays,
                             interface).model


@pytest.mark.parametrize("name", FROZEN)
@pytest.mark.parametrize("form", ["frozen.pb", "optimized.pb"])
def test_frozen_models_convert_as_their_checkpoints(corpus, name, form):
  """Each frozen as freeze_graph does (and then optimize_for_inference: no /read Identities,
  none in the loops either), converted from the .pb alone and proved against it; from the
  frozen graph the Keras model's weights are the checkpoint conversion's, bit for bit."""
  interface = _interface(_spec(corpus, name))
  frozen = sources.resolve(str(corpus / name / form))
  model = _converted(frozen, interface)
  lines, status = graph_proof.prove_source(frozen, interface, model, 3, 6)
  assert status == graph_proof.PROVED, "\n".join(lines)
  if form == "optimized.pb":
    return
  checkpoint = sources.resolve(str(corpus / name / "model.ckpt"))
  expected = _converted(checkpoint, interface)
  assert [l.name for l in model.layers] == [l.name for l in expected.layers]
  for ours, theirs in zip(model.weights, expected.weights):
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=ours.path)


def test_mutation_frozen_constants_read_in_the_wrong_gate_order_fail(corpus, monkeypatch):
  """A reader of frozen constants that took TF1's i, j, f, o blocks of the LSTM kernel in
  another order: verify against the frozen graph itself says FAIL."""
  original = sources.thaw

  def swapped(g):
    thawed, weights = original(g)
    for name, value in weights.items():
      if name.endswith("lstm_cell/kernel"):
        i, j, f, o = np.split(value, 4, axis=1)
        weights[name] = np.concatenate([j, i, f, o], axis=1)
    return thawed, weights
  monkeypatch.setattr(sources, "thaw", swapped)
  spec = _spec(corpus, "bi_classifier")
  source = sources.resolve(str(corpus / "bi_classifier" / "frozen.pb"))
  interface = _interface(spec)
  arrays = source.variables()
  model = whole_model.convert(source.graph, {n: a.shape for n, a in arrays.items()}, arrays,
                              interface).model
  lines, status = graph_proof.prove_source(source, interface, model, 5, 6)
  assert status == graph_proof.WRONG, "\n".join(lines)
  monkeypatch.setattr(sources, "thaw", original)
  source = sources.resolve(str(corpus / "bi_classifier" / "frozen.pb"))
  arrays = source.variables()
  model = whole_model.convert(source.graph, {n: a.shape for n, a in arrays.items()}, arrays,
                              interface).model
  assert graph_proof.prove_source(source, interface, model, 5, 6)[1] == graph_proof.PROVED


def test_saved_model_written_back_is_served_by_tensorflow_alone(corpus, tmp_path):
  """to-tf1 of a model converted from a SavedModel writes a SavedModel (the original's graph
  and signature, the model's variables), proved in-process; a process that never imports
  this package loads both with tf.compat.v1.saved_model.loader and runs their signatures on
  the same inputs: equal to 1e-5 * max(1, max|ref|)."""
  spec, base = _spec(corpus, "bi_classifier"), corpus / "bi_classifier"
  model = tmp_path / "m.keras"
  done = _migrate("to-keras", str(base / "saved_model"), *_flags(spec, False),
                  f"--output={model}")
  assert done.returncode == 0, done.stderr[-2000:]
  back = tmp_path / "served"
  done = _migrate("to-tf1", str(model), f"--graph={base / 'saved_model'}", f"--output={back}",
                  *_flags(spec, False))
  assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
  assert f"wrote {back}: a SavedModel" in done.stdout
  assert "PASS: proved against the program's own graph SavedModel" in done.stdout
  assert sorted(os.listdir(back)) == ["saved_model.pb", "variables"]
  served = _quiet_run("-c", SERVE, str(base / "saved_model"), str(back))
  assert served.returncode == 0, served.stderr[-2000:]
  assert served.stdout.strip().startswith("equal"), served.stdout
  again = _migrate("to-tf1", str(model), f"--graph={base / 'saved_model'}", f"--output={back}",
                   *_flags(spec, False))
  assert again.returncode == 1 and "exists; to-tf1 writes a SavedModel into a new" in \
      again.stderr


SERVE = """
import sys, numpy as np, tensorflow.compat.v1 as tf
assert "tf_rnn_mnist" not in sys.modules
tf.disable_eager_execution()
outs = []
for d in sys.argv[1:]:
  with tf.Graph().as_default(), tf.Session() as s:
    meta = tf.saved_model.loader.load(s, ["serve"], d)
    sig = meta.signature_def["serving_default"]
    rng = np.random.default_rng(0)
    feed = {sig.inputs["in0"].name: rng.integers(0, 30, (4, 6)),
            sig.inputs["in1"].name: np.array([6, 3, 1, 5]),
            "dropout_keep_prob:0": 1.0}
    outs.append(s.run(sig.outputs["out0"].name, feed))
bound = 1e-5 * max(1.0, float(np.abs(outs[0]).max()))
diff = float(np.abs(outs[0] - outs[1]).max())
print("equal" if diff <= bound else "differ", diff, "tf_rnn_mnist" in sys.modules)
"""


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "nothing", "nothing: no such file, directory or checkpoint prefix; SOURCE is"),
    (lambda d: d, "is a directory without a `checkpoint` file or saved_model.pb"),
    (lambda d: _write(d / "x.pb", b"\x00\x01not a graph"), "x.pb is not a GraphDef"),
    (lambda d: _write(d / "notes.txt", b"hello"), "notes.txt is a file, not a checkpoint prefix"),
])
def test_a_source_of_no_accepted_form_is_named(tmp_path, make, message):
  with pytest.raises(ConfigError, match=re.escape(message)) as caught:
    sources.resolve(str(make(tmp_path)))
  assert "\n" not in str(caught.value)


def _write(path, data):
  path.write_bytes(data)
  return path


def test_saved_model_tags_signatures_and_tf2_models_are_checked(corpus, tmp_path):
  saved = str(corpus / "bi_classifier" / "saved_model")
  with pytest.raises(ConfigError, match=re.escape("no meta graph tagged 'train' (its tag sets: "
                                                  "[['serve']]); choose one with --tag")):
    sources.resolve(saved, tag="train")
  with pytest.raises(ConfigError, match=re.escape("no signature 'predict' (its signatures: "
                                                  "serving_default); choose one with")):
    sources.resolve(saved, signature="predict")
  assert sources.resolve(saved + "/saved_model.pb").path == saved  # (the file: its directory)
  with pytest.raises(ConfigError, match="--graph=x.meta with a SavedModel source"):
    sources.resolve(saved, graph_flag="x.meta")
  with pytest.raises(ConfigError, match="frozen graph is the whole source"):
    sources.resolve(str(corpus / "bi_classifier" / "frozen.pb"), graph_flag="x.meta")
  with pytest.raises(ConfigError, match=re.escape("frozen.pb has no variables to restore ")):
    sources.resolve(str(corpus / "bi_classifier" / "model.ckpt"),
                    graph_flag=str(corpus / "bi_classifier" / "frozen.pb"))
  with pytest.raises(ConfigError, match="is a graph with variables, not a frozen one"):
    sources.resolve(_meta_as_graph_def(corpus, tmp_path))
  import tensorflow as tf
  module = tf.Module()
  module.f = tf.function(lambda x: {"y": x * 2.0},
                         input_signature=[tf.TensorSpec([None, 3], tf.float32)])
  tf.saved_model.save(module, str(tmp_path / "tf2"), signatures=module.f)
  with pytest.raises(ConfigError, match="is a TF2 SavedModel .* converts TF1 SavedModels"):
    sources.resolve(str(tmp_path / "tf2"))


def _meta_as_graph_def(corpus, tmp_path):
  from tf_rnn_mnist.migrate import graph as graph_lib
  g = graph_lib.load(str(corpus / "bi_classifier" / "model.ckpt.meta"))
  path = tmp_path / "with_variables.pb"
  path.write_bytes(g.graph_def.SerializeToString())
  return str(path)


# ---------------------------------------------------------------------------------------------
# A training graph: tensorflow/nmt's TRAIN-mode checkpoint and .meta, dropout 0.2 built in.

def _training(corpus, name):
  from tf_rnn_mnist.migrate import graph as graph_lib
  spec = _spec(corpus, name)
  prefix = str(corpus / name / "model.ckpt")
  source = sources.CheckpointSource(prefix, graph_lib.load(prefix + ".meta"), prefix)
  interface = _interface(spec)
  arrays = source.variables()
  conversion = whole_model.convert(source.graph, {n: a.shape for n, a in arrays.items()},
                                   arrays, interface)
  return source, interface, conversion


@pytest.mark.parametrize("name", sorted(TRAINING))
def test_training_graph_converts_with_its_dropouts_bypassed(corpus, tmp_path, name):
  """The CLI on a training checkpoint: every built-in dropout is identity in the Keras model,
  the same dropouts are bypassed in the program's graph (said, one line each), PASS. (A
  dropout right after another, char-rnn's output then next input keep probability, is
  bypassed to the first one's input.)"""
  spec = _spec(corpus, name)
  done = _migrate("to-keras", str(corpus / name / "model.ckpt"), *_flags(spec),
                  f"--output={tmp_path / 'm.keras'}")
  assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-2000:])
  bypassed = re.findall(r"^dropout (\S+) \(its rate built in: a training graph\): bypassed in "
                        r"the program's graph, (\S+) rerouted to (\S+) \(its inference\)$",
                        done.stdout, re.M)
  assert sorted(where for where, _, _ in bypassed) == sorted(TRAINING[name])
  outs = {out for _, out, _ in bypassed}
  assert not outs & {data for _, _, data in bypassed}, bypassed  # (never to another dropout)
  identity = re.findall(r"(?:DropoutWrapper|dropout) (\S+): identity in the Keras model",
                        done.stdout)
  assert sorted(identity) == sorted(TRAINING[name])
  assert "PASS: proved against the program's own graph checkpoint" in done.stdout


@pytest.mark.parametrize("name", sorted(TRAINING))
def test_training_graph_conversion_matches_the_programs_eval_graph(corpus, tmp_path, name):
  """An independent check: the program's inference graph (no dropout at all: nmt's EVAL mode,
  char-rnn's training=False), built apart and restored from the same training checkpoint,
  on the same inputs."""
  from tf_rnn_mnist.migrate import user_graph
  source, interface, conversion = _training(corpus, name)
  inputs, *_ = user_graph.graph_reference(source.reference(), source.graph, interface, 4, 6)
  np.savez(tmp_path / "in.npz", **inputs)
  done = _quiet_run(str(PROGRAMS), "--eval", str(corpus), name, str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz"))
  assert done.returncode == 0, done.stderr[-3000:]
  ordered = [inputs[t] for t in interface.inputs]
  ours = conversion.model(ordered if len(ordered) > 1 else ordered[0])
  ours = ours if isinstance(ours, (list, tuple)) else [ours]
  with np.load(tmp_path / "out.npz") as eval_graph:
    for tensor, mine in zip(interface.outputs, ours):
      ref = eval_graph[tensor]
      np.testing.assert_allclose(np.asarray(mine), ref, rtol=0,
                                 atol=1e-5 * max(1.0, float(np.abs(ref).max())), err_msg=tensor)


def test_mutation_dropout_left_in_the_reference_fails(corpus, monkeypatch):
  """The Keras model without dropout, the reference with it (nothing bypassed): FAIL, the
  graph random."""
  source, interface, conversion = _training(corpus, "nmt_training")
  monkeypatch.setattr(wrappers, "built_in_dropouts", lambda *args: [])
  lines, status = graph_proof.prove_source(source, interface, conversion.model, 5, 6)
  assert status == graph_proof.WRONG
  assert "FAIL: the graph gives other values on the same inputs" in "\n".join(lines)


def test_mutation_dropout_kept_in_the_keras_model_fails(corpus):
  """The reference bypassed, the Keras model still scaling by the dropout's 1 / keep (0.8)
  on the encoder's input: FAIL."""
  source, interface, conversion = _training(corpus, "nmt_training")
  model = conversion.model
  layer = next(l for l in model.layers if isinstance(l, graph_ops.TF1Embedding)
               and "embedding_encoder" in l.tf1_name)
  layer.set_weights([w / 0.8 for w in layer.get_weights()])
  lines, status = graph_proof.prove_source(source, interface, model, 5, 6)
  assert status == graph_proof.WRONG, "\n".join(lines)
  assert lines[0].startswith("dropout dynamic_seq2seq/")  # (bypassed: not what failed)


def test_to_keras_writes_through_a_symbolic_link_and_says_a_full_disk(corpus, tmp_path):
  """--output a symbolic link: its target is replaced, the link kept (as train and convert
  do); a file size limit on the way: one line, exit 1, nothing written."""
  import resource
  spec, base = _spec(corpus, "bi_classifier"), corpus / "bi_classifier"
  (tmp_path / "real.keras").write_text("old")
  (tmp_path / "link.keras").symlink_to(tmp_path / "real.keras")
  done = _migrate("to-keras", str(base / "saved_model"), *_flags(spec, False),
                  f"--output={tmp_path / 'link.keras'}", "--noverify")
  assert done.returncode == 0, done.stderr[-2000:]
  assert (tmp_path / "link.keras").is_symlink()
  assert verify.load_model(str(tmp_path / "real.keras")).inputs
  limited = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.migrate", "to-keras", str(base / "saved_model"),
       *_flags(spec, False), f"--output={tmp_path / 'small.keras'}", "--noverify"],
      capture_output=True, text=True, timeout=300,
      preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000)))
  assert limited.returncode == 1 and "Traceback" not in limited.stderr, limited.stderr[-2000:]
  assert limited.stderr.strip().splitlines()[-1] == (
      f"error: Could not write {tmp_path / 'small.keras'} (File too large); nothing was "
      "written."), limited.stderr[-2000:]
  assert sorted(p.name for p in tmp_path.iterdir()) == ["link.keras", "real.keras"]
