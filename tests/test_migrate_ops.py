"""Each op handler of migrate's registry against TensorFlow's own kernel of that op
(tf.raw_ops), on random inputs with the attributes programs use: the handler's computation in
keras.ops must give what the TF1 graph's op gives. A new op is one handler and one row here.
"""

import numpy as np
import pytest
import tensorflow as tf

from tf_rnn_mnist.migrate import ops

RNG = np.random.default_rng(0)


def _f(*shape):
  return RNG.standard_normal(shape).astype(np.float32)


def _block_lstm_inputs():
  """Peepholes, a clip, a nonzero initial cell state, and seq_len_max below the time axis."""
  return dict(seq_len_max=np.int64(4), x=_f(5, 3, 2), cs_prev=_f(3, 4), h_prev=_f(3, 4),
              w=_f(6, 16), wci=_f(4), wcf=_f(4), wco=_f(4), b=_f(16))


# (op, its inputs in order, its attributes): tf.raw_ops.<op>(**inputs, **attributes)
CASES = [
    ("Conv2D", dict(input=_f(2, 7, 6, 3), filter=_f(3, 2, 3, 5)),
     dict(strides=[1, 2, 1, 1], padding="SAME", dilations=[1, 1, 1, 1])),
    ("Conv2D", dict(input=_f(2, 7, 6, 3), filter=_f(2, 2, 3, 4)),
     dict(strides=[1, 1, 1, 1], padding="VALID", dilations=[1, 2, 1, 1])),
    ("DepthwiseConv2dNative", dict(input=_f(2, 6, 6, 3), filter=_f(3, 3, 3, 2)),
     dict(strides=[1, 1, 1, 1], padding="SAME")),
    ("MaxPool", dict(input=_f(2, 7, 5, 3)),
     dict(ksize=[1, 2, 1, 1], strides=[1, 2, 1, 1], padding="VALID")),
    ("AvgPool", dict(value=_f(2, 7, 5, 3)),
     dict(ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME")),
    ("FusedBatchNormV3", dict(x=_f(2, 4, 3, 5), scale=_f(5), offset=_f(5), mean=_f(5),
                              variance=np.abs(_f(5))),
     dict(epsilon=1e-3, is_training=False)),
    ("BiasAdd", dict(value=_f(2, 5, 3, 4), bias=_f(5)), dict(data_format="NCHW")),
    ("LeakyRelu", dict(features=_f(3, 4)), dict(alpha=0.3)),
    ("SquaredDifference", dict(x=_f(3, 4), y=_f(4)), {}),
    ("Erf", dict(x=_f(3, 4)), {}),  # (GELU's, as BERT-era TF1 programs write it)
    # TF1's Select with a rank-1 condition picks rows (here the batch equals the last axis,
    # where a broadcast would pick columns instead)
    ("Select", dict(condition=np.array([True, False, True]), x=_f(3, 3), y=_f(3, 3)), {}),
    ("Select", dict(condition=_f(3, 4) > 0, x=_f(3, 4), y=_f(3, 4)), {}),
    ("Pad", dict(input=_f(2, 3), paddings=np.array([[1, 0], [2, 1]], np.int32)), {}),
    ("MirrorPad", dict(input=_f(3, 4), paddings=np.array([[1, 1], [2, 0]], np.int32)),
     dict(mode="REFLECT")),
    ("GatherNd", dict(params=_f(4, 3, 2), indices=np.array([[3, 0], [1, 2]], np.int32)), {}),
    ("Size", dict(input=_f(3, 4, 2)), dict(out_type=tf.int32)),
    ("BlockLSTM", _block_lstm_inputs(), dict(forget_bias=0.7, cell_clip=0.5, use_peephole=True)),
    ("BlockLSTMV2", _block_lstm_inputs(), dict(cell_clip=0.5, use_peephole=True)),
]


def _attrs_as_graphs_hold_them(op, attrs, inputs):
  """The attributes as `node_attrs` gives them from a NodeDef (the op's defaults included)."""
  graph = tf.Graph()
  with graph.as_default():
    getattr(tf.raw_ops, op)(**{k: tf.constant(v) for k, v in inputs.items()}, **attrs)
  from tf_rnn_mnist.migrate import graph as graph_lib
  g = graph_lib.Graph(graph.as_graph_def(), "test")
  return ops.node_attrs(next(n for n in g.nodes.values() if n.op == op))


@pytest.mark.parametrize("op,inputs,attrs", CASES, ids=[c[0] + str(i) for i, c in
                                                         enumerate(CASES)])
def test_handler_computes_what_tensorflows_kernel_computes(op, inputs, attrs):
  expected = getattr(tf.raw_ops, op)(**inputs, **attrs)
  expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple))
                                      else [expected])]
  node_attrs = _attrs_as_graphs_hold_them(op, attrs, inputs)
  got = ops.run_op(op, node_attrs, list(inputs.values()))
  got = [np.asarray(g) for g in (got if isinstance(got, (list, tuple)) else [got])]
  count = ops.output_count(op, node_attrs)
  # (FusedBatchNorm's further outputs are a training step's statistics: refused if read)
  assert len(got) == count or op.startswith("FusedBatchNorm")
  for k, (ours, theirs) in enumerate(zip(got, expected[:count])):
    assert ours.shape == theirs.shape
    if op.startswith("BlockLSTM") and k not in (1, 6):
      # (TF's kernel sets only cs and h from seq_len_max on; the rest is memory left as is)
      live = int(inputs["seq_len_max"])
      ours, theirs = ours[:live], theirs[:live]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * max(1.0, np.abs(theirs).max()))


@pytest.mark.parametrize("op,attrs,reason", [
    ("FusedBatchNormV3", {"is_training": True}, "is_training=True"),
    ("Conv2D", {"padding": "EXPLICIT"}, "padding 'EXPLICIT'"),
    ("MaxPool", {"padding": "VALID", "ksize": [1, 2, 2, 2], "strides": [1, 2, 2, 2],
                 "data_format": "NHWC"}, "a window over the batch or the channels"),
    ("NoSuchOp", {}, "no Keras translation")])
def test_what_a_handler_does_not_translate_is_refused_by_its_reason(op, attrs, reason):
  assert reason in ops.refusal(op, attrs)


def test_every_handler_declares_its_outputs():
  for op, entry in ops.OPS.items():
    attrs = {"num": 3, "num_split": 2}
    assert entry.outputs(attrs) >= 1, op
