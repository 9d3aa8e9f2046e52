"""The TF1 side of `tf_rnn_mnist.migrate verify`: rebuilds a checkpoint's recurrent network
with TF1's own cells under tf.compat.v1, restores the checkpoint into it, and saves its outputs.

Run in its own process (TF1's cells need TF_USE_LEGACY_KERAS before TensorFlow is imported):

    python -m legacy_tf1.rnn_graph SPEC.json [SPEC2.json ...]

SPEC.json (written by tf_rnn_mnist.migrate.verify): the structures and head (as recognised),
the run-time options, the checkpoint, the inputs (.npy) and where to write the outputs (.npz:
`output`, the top sequence; `state_K`, every cell's final h then c, in Keras's order; `logits`).
Variables are created under the names the structure's TF1 API call creates, so restoring also
proves the recognised names: a name that differs fails the restore.
"""

import sys

import numpy as np

from legacy_tf1 import common

tf = common.import_tf1()
import tf_keras  # noqa: E402  (tf.keras of TF 2.21 in graph mode: needs TF_USE_LEGACY_KERAS)

from tf_rnn_mnist.migrate import spec as spec_io  # noqa: E402


def _cell(cell, options):
  return cell.kind.tf1_cell(tf, cell, options)


def _stack(cells, options):
  made = [_cell(c, options) for c in cells]
  # A one-cell MultiRNNCell names its cell multi_rnn_cell/cell_0/...: rebuilt as one too.
  in_multi = "/multi_rnn_cell/cell_0/" in f"/{cells[0].scope}/"
  return made[0] if len(made) == 1 and not in_multi else tf.nn.rnn_cell.MultiRNNCell(made)


def _flat_states(state):
  """A TF1 state (LSTMStateTuple(c, h), a GRU's h, or tuples of them) as [h, c, h, ...]."""
  if isinstance(state, tf.nn.rnn_cell.LSTMStateTuple):
    return [state.h, state.c]
  if isinstance(state, (tuple, list)):
    return [s for part in state for s in _flat_states(part)]
  return [state]


def _keras_layer(cells, go_backwards=False):
  cell, = cells
  return cell.kind.tf1_layer(tf_keras, cell, return_sequences=True, return_state=True,
                             go_backwards=go_backwards)


def _keras(structure, x, restore):
  """tf.keras (Keras 2) layers; their variables are restored by order, as tf.keras names them
  differently across versions (lstm/kernel, lstm/lstm_cell/kernel)."""
  layer = structure.layers[0]
  if layer.bw:
    made = tf_keras.layers.Bidirectional(_keras_layer(layer.fw), backward_layer=_keras_layer(
        layer.bw, go_backwards=True))
  else:
    made = _keras_layer(layer.fw)
  sequence, *states = made(x)
  names = [name for c in layer.cells for name in c.variables().values()]
  restore.update(zip(names, made.weights))
  return sequence, states


def _structure(structure, x, options, restore):
  if structure.naming == "keras":
    return _keras(structure, x, restore)
  layers, states = structure.layers, []
  if len(structure.cells) == 1 and structure.cells[0].kind.whole_sequence:
    cell = structure.cells[0]
    return cell.kind.tf1_sequence(tf, cell, x, options)
  if structure.naming == "dynamic_rnn":
    sequence, state = tf.nn.dynamic_rnn(_stack(layers[0].fw, options), x, dtype=tf.float32,
                                        scope=structure.scope)
    return sequence, _flat_states(state)
  if structure.naming == "bidirectional":
    (fw, bw), (fw_state, bw_state) = tf.nn.bidirectional_dynamic_rnn(
        _stack(layers[0].fw, options), _stack(layers[0].bw, options), x, dtype=tf.float32,
        scope=structure.scope)
    return tf.concat([fw, bw], 2), _flat_states(fw_state) + _flat_states(bw_state)
  sequence = x  # stack_bidirectional_dynamic_rnn, as contrib wrote it
  for index, layer in enumerate(layers):
    with tf.variable_scope(f"{structure.scope}/cell_{index}"):
      (fw, bw), (fw_state, bw_state) = tf.nn.bidirectional_dynamic_rnn(
          _stack(layer.fw, options), _stack(layer.bw, options), sequence, dtype=tf.float32,
          scope="bidirectional_rnn")
    sequence = tf.concat([fw, bw], 2)
    states += _flat_states(fw_state) + _flat_states(bw_state)
  return sequence, states


def run(spec):
  """Builds `spec`'s graph in a graph of its own, restores, runs and saves its outputs."""
  inputs = np.load(spec.inputs)
  x = tf.placeholder(tf.float32, [None, None, inputs.shape[-1]])
  sequence, states, restore = x, [], {}
  for structure in spec.structures:
    sequence, more = _structure(structure, sequence, spec.options, restore)
    states += more
  fetches = {"output": sequence, **{f"state_{k}": s for k, s in enumerate(states)}}
  if spec.head:
    kernel = tf.get_variable("head/kernel", [spec.head.inputs, spec.head.outputs])
    bias = tf.get_variable("head/bias", [spec.head.outputs])
    restore.update({spec.head.kernel: kernel, spec.head.bias: bias})
    fetches["logits"] = tf.matmul(sequence[:, -1, :], kernel) + bias
  named = {v.op.name: v for v in tf.global_variables() if v not in restore.values()}
  saver = tf.train.Saver({**named, **restore})
  with tf.Session() as sess:
    try:
      saver.restore(sess, spec.checkpoint)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
      # TF's message opens with a paragraph of advice; the missing key is further down.
      lines = [l.strip() for l in e.message.splitlines() if l.strip()]
      key = next((l for l in lines if "not found in checkpoint" in l), lines[0])
      sys.exit(f"error: the TF1 graph rebuilt from the recognised structure does not restore "
               f"from {spec.checkpoint}: {key}")
    except tf.errors.OpError as e:  # a damaged data file: OutOfRange, DataLoss
      sys.exit(f"error: {spec.checkpoint} cannot be restored ({type(e).__name__}).")
    np.savez(spec.output, **sess.run(fetches, {x: inputs}))


def main(paths):
  for path in paths:  # several specs share one process start (the tests')
    with tf.Graph().as_default():
      run(spec_io.read(path))


if __name__ == "__main__":
  main(sys.argv[1:])
