"""Keras layers this project needs that Keras does not have as is."""

import keras
from keras import ops
from keras.src import backend as keras_backend
import tensorflow as tf


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
  (it has no public alias). (LSTM: the same projection measured no gain, so LSTMs stay plain.)
  """

  def inner_loop(self, sequences, initial_state, mask, training=False):
    cell, units = self.cell, self.cell.units
    # Keras's loop for what this one does not cover (a time axis of unknown length included:
    # keras.src.backend.rnn reads it off a single input tensor, this loop feeds three).
    if (mask is not None or self.go_backwards or cell.reset_after or self.use_cudnn is True
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
    return keras_backend.rnn(step, by_gate, states, unroll=self.unroll,
                             input_length=sequences.shape[1],
                             return_all_outputs=self.return_sequences)
