"""Keras layers this project needs that Keras does not have as is."""

import functools
import inspect
import warnings

import keras
from keras import ops
import tensorflow as tf


def _keras_internals():
  """(keras.src.backend.rnn, None), or (None, why not): ProjectedGRU and SequenceLSTM override
  keras.layers.RNN.inner_loop and call keras.src.backend.rnn, which have no public alias and
  may change in any Keras release; checked once here, so that a changed Keras falls back to
  its own loop (same results, slower) instead of failing inside a model."""
  try:
    from keras.src import backend as keras_backend
    loop = keras_backend.rnn
  except (ImportError, AttributeError):
    return None, "keras.src.backend.rnn is gone"
  wanted = ["step_function", "inputs", "initial_states"]
  params = list(inspect.signature(loop).parameters)
  if params[:3] != wanted or not {"unroll", "input_length", "return_all_outputs"} <= set(params):
    return None, f"keras.src.backend.rnn takes ({', '.join(params)})"
  inner = getattr(keras.layers.RNN, "inner_loop", None)
  inner_params = list(inspect.signature(inner).parameters) if inner else []
  if inner_params[:5] != ["self", "sequences", "initial_state", "mask", "training"]:
    return None, "keras.layers.RNN.inner_loop is gone or takes other arguments"
  return loop, None


KERAS_RNN, KERAS_INTERNALS_MISSING = _keras_internals()
if KERAS_INTERNALS_MISSING:
  warnings.warn(f"tf_rnn_mnist.model.layers: {KERAS_INTERNALS_MISSING} in Keras "
                f"{keras.__version__} "
                "(tested: 3.15); SequenceLSTM and ProjectedGRU run Keras's own loop instead "
                "(the same results, slower).", RuntimeWarning, stacklevel=2)


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class ReplicaDropout(keras.layers.Dropout):
  """keras.layers.Dropout whose masks differ between tf.distribute replicas.

  Keras's Dropout draws from a seed generator whose state is mirrored, so under
  MirroredStrategy every replica draws the same mask for its own slice of the global batch:
  measured, two replicas' masks were identical. Each replica other than the first folds its id
  into the seed; on one device (replica 0) this is exactly Keras's Dropout.
  """

  def call(self, inputs, training=False):
    if not training or self.rate == 0:
      return inputs
    # As Keras's TensorFlow backend: the generator's int64 state as an int32 stateless seed.
    seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    if not (isinstance(replica, int) and replica == 0):
      seed = tf.where(tf.equal(replica, 0), seed,
                      tf.random.experimental.stateless_fold_in(seed, replica))
    return tf.nn.experimental.stateless_dropout(inputs, rate=self.rate, seed=seed,
                                                noise_shape=self.noise_shape)


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class ProjectedGRU(keras.layers.GRU):
  """keras.layers.GRU(reset_after=False), with its input projection out of the loop.

  Keras's GRUCell computes `x_t @ W + b` inside the loop, one small matmul per step, and slices
  its recurrent kernel into the gate and candidate blocks on every step; each slice's gradient
  is a full-size StridedSliceGrad per step, the top op of static_gru's profile
  (docs/benchmarks.md). This layer projects the whole sequence with one matmul before the loop
  and slices the kernel and splits the projection once; the loop keeps `h @ U` and the gate
  arithmetic in GRUCell's order, so the outputs are bitwise Keras's and gradients agree to
  float32 rounding (tests/test_models.py). Same weights and
  variable paths as keras.layers.GRU (checkpoints unchanged); exports hold the plain layer
  (models.portable_copy). The loop is keras.src.backend.rnn, the one Keras's RNN layers run
  (it has no public alias). (LSTMs: this projection alone measured no gain; SequenceLSTM
  batches the backward's matmuls too.)
  """

  def inner_loop(self, sequences, initial_state, mask, training=False):
    cell, units = self.cell, self.cell.units
    # Keras's loop for what this one does not cover (a time axis of unknown length included:
    # keras.src.backend.rnn reads it off a single input tensor, this loop feeds three).
    if (KERAS_RNN is None or mask is not None or self.go_backwards or cell.reset_after
        or self.use_cudnn is True
        or sequences.shape[1] is None
        or (training and (cell.dropout or cell.recurrent_dropout))):
      return super().inner_loop(sequences, initial_state, mask, training)
    batch, steps, size = ops.shape(sequences)
    projected = ops.reshape(ops.matmul(ops.reshape(sequences, (-1, size)), cell.kernel),
                            (batch, steps, 3 * units))
    if cell.use_bias:  # GRUCell: (x W) + b, then split
      projected = ops.add(projected, cell.bias)
    gates_kernel = cell.recurrent_kernel[:, :2 * units]
    candidate_kernel = cell.recurrent_kernel[:, 2 * units:]

    def step(x, states):
      h = states[0]
      x_z, x_r, x_h = x
      h_z, h_r = ops.split(ops.matmul(h, gates_kernel), 2, axis=-1)  # split: no StridedSliceGrad
      z = cell.recurrent_activation(x_z + h_z)
      r = cell.recurrent_activation(x_r + h_r)
      hh = cell.activation(x_h + ops.matmul(r * h, candidate_kernel))
      h = z * h + (1 - z) * hh
      return h, [h]

    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    # Split once for the whole sequence: a split per step costs a ConcatV2 per step backwards.
    by_gate = tuple(ops.split(projected, 3, axis=-1))
    return KERAS_RNN(step, by_gate, states, unroll=self.unroll,
                     input_length=sequences.shape[1], return_all_outputs=self.return_sequences)


# Batch sizes the kernel check tries when the graph's batch is unknown (the trainer's is).
_CHECKED_BATCHES = (1, 50, 64, 100, 128, 256)


@functools.cache
def batched_matmul_is_matmul(rows, inner, cols):
  """Whether BatchMatMulV2(a, b^T, adj_y=True) is bitwise MatMul(a, b) for a (rows, inner) and
  b (inner, cols) on this CPU. oneDNN runs the two with different kernels (brgemm, sgemm); on
  the Intel Xeon measured their sums agree to the bit, elsewhere they need not. Checked once per
  shape, eagerly on random operands, so that SequenceLSTM takes the faster kernel only where
  its outputs stay Keras's to the bit."""
  with tf.init_scope():
    a = tf.random.stateless_uniform((rows, inner), seed=(1, 2), minval=-1.0, maxval=1.0)
    b = tf.random.stateless_uniform((inner, cols), seed=(3, 4), minval=-1.0, maxval=1.0)
    batched = tf.raw_ops.BatchMatMulV2(x=a, y=tf.transpose(b), adj_y=True)
    return bool(tf.reduce_all(tf.equal(tf.matmul(a, b), batched)))


@functools.cache
def stepwise_matmuls_are_whole(rows, steps, inner, cols):
  """Whether a layer's input matmuls computed one step at a time give, to the bit, the rows of
  the same matmuls over all steps at once on this CPU: forward MatMul(a, W) of (rows, inner)
  slices and backward BatchMatMulV2(dz, W, adj_y=True) of (rows, cols) slices, against the
  (steps * rows)-row products SequenceLSTM runs. The wavefront (wavefront.py) computes per step
  what the stacked layers compute over the whole sequence; checked once per shape, eagerly,
  so that it takes over only where no bit changes."""
  with tf.init_scope():
    a = tf.random.stateless_uniform((steps * rows, inner), seed=(5, 6), minval=-1, maxval=1)
    d = tf.random.stateless_uniform((steps * rows, cols), seed=(7, 8), minval=-1, maxval=1)
    w = tf.random.stateless_uniform((inner, cols), seed=(9, 10), minval=-1, maxval=1)
    backward = functools.partial(tf.raw_ops.BatchMatMulV2, y=w, adj_y=True)
    for product, operand in ((lambda m: tf.matmul(m, w), a), (lambda m: backward(x=m), d)):
      stepwise = tf.concat([product(part) for part in tf.split(operand, steps)], axis=0)
      if not bool(tf.reduce_all(tf.equal(product(operand), stepwise))):
        return False
    return True


def recurrent_matmul(batch, recurrent_kernel):
  """h -> h @ U: as BatchMatMulV2 against U's transpose (transposed once, not per step) where
  that is bitwise MatMul's product at these shapes (batched_matmul_is_matmul): oneDNN's batched
  kernel runs multilayer's 100x256 @ 256x1024 1.2-1.8x faster than MatMul's sgemm on the Intel
  Xeon (docs/benchmarks.md). `batch`: the static batch size, or None."""
  units, gates = recurrent_kernel.shape
  if all(batched_matmul_is_matmul(rows, units, gates)
         for rows in ((batch,) if batch else _CHECKED_BATCHES)):
    recurrent_kernel_t = tf.transpose(recurrent_kernel)
    return lambda h: tf.raw_ops.BatchMatMulV2(x=h, y=recurrent_kernel_t, adj_y=True)
  return lambda h: tf.matmul(h, recurrent_kernel)


def lstm_step(xw, h, c, recurrent, bias):
  """One step of Keras LSTMCell's function (implementation 2, gates i, f, c, o) from the step's
  input projection `xw`: (h, c, what lstm_step_gradient needs)."""
  z = tf.add(tf.add(xw, recurrent(h)), bias)
  z_i, z_f, z_c, z_o = tf.split(z, 4, axis=1)
  i, f, g, o = tf.sigmoid(z_i), tf.sigmoid(z_f), tf.tanh(z_c), tf.sigmoid(z_o)
  c_next = f * c + i * g
  tanh_c = tf.tanh(c_next)
  return o * tanh_c, c_next, (h, c, i, f, g, o, tanh_c)


def lstm_step_gradient(saved, dh, dc, recurrent_kernel):
  """lstm_step's backward: the gate pre-activations' gradient dz and the previous step's dh,
  dc. dh includes the gradient reaching this step's output from above."""
  _, c_prev, i, f, g, o, tanh_c = saved
  dc = dc + tf.raw_ops.TanhGrad(y=tanh_c, dy=dh * o)
  dz = tf.concat([tf.raw_ops.SigmoidGrad(y=i, dy=dc * g),
                  tf.raw_ops.SigmoidGrad(y=f, dy=dc * c_prev),
                  tf.raw_ops.TanhGrad(y=g, dy=dc * i),
                  tf.raw_ops.SigmoidGrad(y=o, dy=dh * tanh_c)], axis=1)
  # BatchMatMulV2(adj_y) rather than matmul(U, transpose_b=True) or a transposed copy
  # (Grappler folds that back into transpose_b): oneDNN runs MatMul's transpose_b at half
  # the speed for these shapes (docs/benchmarks.md).
  return dz, tf.raw_ops.BatchMatMulV2(x=dz, y=recurrent_kernel, adj_y=True), dc * f


def weight_gradients(inputs, saved, dz):
  """(dW, dU, db) of one layer from all its steps at once: `inputs` (steps * batch, input)
  and `dz` (steps * batch, 4 units), time-major, `saved` lstm_step's per step."""
  h_prevs = tf.concat([s[0] for s in saved], axis=0)
  return (tf.matmul(inputs, dz, transpose_a=True), tf.matmul(h_prevs, dz, transpose_a=True),
          tf.raw_ops.BiasAddGrad(out_backprop=dz))


def _lstm_over_sequence(x, h0, c0, kernel, recurrent_kernel, bias, return_sequences):
  """Keras LSTMCell's function over a whole (batch, steps, input) sequence, with its own gradient.

  Returns (outputs (batch, steps, units) or None, h, c). Forward: `x @ W` for every step in one
  matmul, then per step `(xw_t + h @ U) + b` and the gates in LSTMCell's order (so the outputs
  are bitwise Keras's). Backward: per step only the gate derivatives and `dz @ U^T`; the weight,
  bias and input gradients are one matmul each over all steps (cuDNN's and oneDNN's RNN
  backward does the same), where autodiff of the loop runs four small matmuls per step.
  (`h @ U` runs as BatchMatMulV2 where that is bitwise MatMul's product on this CPU, checked
  once per shape: recurrent_matmul.)
  """
  steps = x.shape[1]

  @tf.custom_gradient
  def run(x, h0, c0, kernel, recurrent_kernel, bias):
    batch, size = tf.shape(x)[0], tf.shape(x)[2]
    # Time-major inside: a step's slice is then contiguous, and unstack along axis 0 shares
    # its buffer instead of copying strided rows (faster on multilayer: docs/benchmarks.md).
    x_by_time = tf.reshape(tf.transpose(x, (1, 0, 2)), (-1, size))
    projected = tf.reshape(tf.matmul(x_by_time, kernel), (steps, batch, -1))
    recurrent = recurrent_matmul(x.shape[0], recurrent_kernel)
    h, c, saved = h0, c0, []  # saved: per step what the backward needs
    for xw in tf.unstack(projected):
      h, c, step = lstm_step(xw, h, c, recurrent, bias)
      saved.append(step)

    def gradient(*upstream):  # TensorFlow passes zeros, not None, for an output left unused
      d_outputs = tf.unstack(tf.transpose(upstream[0], (1, 0, 2))) if return_sequences else None
      dh, dc = upstream[-2:]
      dz_by_step = [None] * steps
      for t in reversed(range(steps)):
        if d_outputs is not None:
          dh = dh + d_outputs[t]
        dz_by_step[t], dh, dc = lstm_step_gradient(saved[t], dh, dc, recurrent_kernel)
      dz = tf.concat(dz_by_step, axis=0)  # (steps * batch, 4 units), time-major
      dx = tf.reshape(tf.raw_ops.BatchMatMulV2(x=dz, y=kernel, adj_y=True), (steps, batch, size))
      return (tf.transpose(dx, (1, 0, 2)), dh, dc,
              *weight_gradients(x_by_time, saved, dz))

    results = ((tf.stack([s[0] for s in saved[1:]] + [h], axis=1), h, c) if return_sequences
               else (h, c))
    return results, gradient

  result = run(x, h0, c0, kernel, recurrent_kernel, bias)
  return result if return_sequences else (None, *result)


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class SequenceLSTM(keras.layers.LSTM):
  """keras.layers.LSTM whose weight matmuls run once over the whole sequence, forward and back.

  Autodiff of Keras's loop runs four small matmuls per step backwards (dh, dx, dW, dU), dh's
  and dx's with MatMul's transpose_b, which oneDNN runs at half speed for these shapes; 3 x
  LSTM(256) spent 68% of its op time in matmuls (docs/benchmarks.md). This layer keeps one
  matmul per step each way (`h @ U`, `dz @ U^T`) and does the rest over all steps at once
  (_lstm_over_sequence). Outputs are bitwise Keras's, gradients agree to float32 rounding
  (tests/test_models.py); same weights and variable paths (checkpoints unchanged); exports hold
  the plain layer (models.portable_copy). The 28 steps are unrolled in Python either way.
  (Keras's .weights.h5 files key layers by class name, so those do not cross to a plain LSTM;
  tf.train.Checkpoint, which the trainer uses, does.)

  Keras's own path runs what this one does not cover: a GPU (cuDNN), masks, go_backwards,
  dropout or recurrent dropout, other activations, no bias, another dtype, a time axis of
  unknown length, and LSTMCell's implementation=1 (its bias is added in another order).
  (Measured slower than Keras's loop for the small single layers: variants.Variant's
  sequence_matmuls says which variants use it.)
  """

  def runs_its_own_loop(self, mask=None, training=False, steps=None):
    """Whether inner_loop computes the layer itself (the conditions above) rather than
    leaving it to Keras's loop; `steps`: the time axis' static length (None: unknown)."""
    cell = self.cell
    return not (
        KERAS_RNN is None or mask is not None or self.go_backwards or steps is None
        or self.compute_dtype != "float32" or not cell.use_bias or cell.implementation != 2
        or cell.activation is not keras.activations.tanh
        or cell.recurrent_activation is not keras.activations.sigmoid
        or (training and (cell.dropout or cell.recurrent_dropout))
        or self.use_cudnn is True or tf.config.list_logical_devices("GPU"))

  def inner_loop(self, sequences, initial_state, mask, training=False):
    cell = self.cell
    if (sequences.dtype != tf.float32
        or not self.runs_its_own_loop(mask, training, sequences.shape[1])):
      return super().inner_loop(sequences, initial_state, mask, training)
    # Read as tensors here: custom_gradient would otherwise see the variables read inside.
    weights = [tf.convert_to_tensor(w.value)
               for w in (cell.kernel, cell.recurrent_kernel, cell.bias)]
    outputs, h, c = _lstm_over_sequence(sequences, *initial_state, *weights,
                                        return_sequences=self.return_sequences)
    return h, (outputs if self.return_sequences else ops.expand_dims(h, 1)), [h, c]
