"""Initial-weight distributions of the tutorials, in Keras terms.

TF1 cells keep one kernel [in + U, k*U] initialised by tf.get_variable's default,
glorot_uniform over that whole matrix: limit sqrt(6 / (in + U + k*U)). Keras splits it into a
kernel (in, k*U) and a recurrent kernel (U, k*U), whose own glorot limits would differ, so the
limits are computed here from the TF1 shapes. TF1's GRUCell has two such matrices (gates, k=2;
candidate, k=1) with different limits, which no Keras initializer expresses: hence the column
block initializer. PyTorch draws two LSTM biases that Keras keeps as one sum: hence the sum of
uniforms. Both are registered so that exported `.keras` models reload.

Every weight gets its own initializer object. A Keras 3 initializer created without a seed
fixes one when it is constructed, so two weights sharing one object receive the same numbers:
measured, a shared object made `kernel == recurrent_kernel[:in]` and the Dense bias equal to the
kernel's first row. The objects below are created per call, one per weight, and their seeds
come from `keras.utils.set_random_seed`, so a run's `--seed` still fixes every draw.
"""

import math

import keras


def tf1_lstm_limit(input_size, units):
  """glorot_uniform limit of TF1's LSTM kernel [in + U, 4U]."""
  return math.sqrt(6.0 / (input_size + units + 4 * units))


def tf1_gru_limits(input_size, units):
  """glorot_uniform limits of TF1 GRUCell's gates kernel [in+U, 2U] and candidate [in+U, U]."""
  return (math.sqrt(6.0 / (input_size + units + 2 * units)),
          math.sqrt(6.0 / (input_size + units + units)))


def _draws(seed):
  """What to pass as `seed` to several keras.random calls that must be independent: an int
  seed would repeat the same numbers in each call, so it seeds one generator that they share
  (the same seed still gives the same result); None draws from Keras's global generator."""
  return None if seed is None else keras.random.SeedGenerator(seed)


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class ColumnBlocksUniform(keras.initializers.Initializer):
  """Uniform(-limit_k, limit_k) on consecutive column blocks of `widths[k]` columns."""

  def __init__(self, limits, widths, seed=None):
    self.limits, self.widths = [float(x) for x in limits], [int(w) for w in widths]
    self.seed = seed

  def __call__(self, shape, dtype=None):
    if shape[-1] != sum(self.widths):
      raise ValueError(f"ColumnBlocksUniform: {shape[-1]} columns, blocks sum to "
                       f"{sum(self.widths)}")
    seed = _draws(self.seed)
    blocks = [keras.random.uniform((*shape[:-1], w), -limit, limit, dtype=dtype, seed=seed)
              for limit, w in zip(self.limits, self.widths)]
    return keras.ops.concatenate(blocks, axis=-1)

  def get_config(self):
    return {"limits": self.limits, "widths": self.widths, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class SumOfUniforms(keras.initializers.Initializer):
  """The sum of `count` independent Uniform(-limit, limit) draws (PyTorch's b_ih + b_hh)."""

  def __init__(self, limit, count=2, seed=None):
    self.limit, self.count, self.seed = float(limit), int(count), seed

  def __call__(self, shape, dtype=None):
    seed = _draws(self.seed)
    draws = [keras.random.uniform(shape, -self.limit, self.limit, dtype=dtype, seed=seed)
             for _ in range(self.count)]
    return sum(draws[1:], draws[0])

  def get_config(self):
    return {"limit": self.limit, "count": self.count, "seed": self.seed}


def _uniform(limit):
  """A new U(-limit, limit) initializer object: one per weight (see the module docstring)."""
  return keras.initializers.RandomUniform(-limit, limit)


def tf1_lstm(input_size, units):
  """Keras LSTM initializers reproducing TF1 BasicLSTMCell/LSTMCell (forget_bias=1.0).

  TF1 adds forget_bias at run time to a zero bias; Keras holds it in the bias's f-block from
  the start (unit_forget_bias=True). The function and the gradients are the same.
  """
  limit = tf1_lstm_limit(input_size, units)
  # TF1 draws the fused [in + U, 4U] kernel at once: its two row blocks are independent.
  return dict(kernel_initializer=_uniform(limit), recurrent_initializer=_uniform(limit),
              bias_initializer="zeros", unit_forget_bias=True)


def tf1_gru(input_size, units):
  """Keras GRU(reset_after=False) initializers reproducing TF1 GRUCell.

  Keras columns are z, r, h: z and r come from TF1's gates kernel (bias init 1.0), h from its
  candidate kernel (bias init 0.0).
  """
  gates, candidate = tf1_gru_limits(input_size, units)
  def blocks():
    return ColumnBlocksUniform([gates, candidate], [2 * units, units])
  bias = keras.initializers.Constant([1.0] * (2 * units) + [0.0] * units)
  return dict(kernel_initializer=blocks(), recurrent_initializer=blocks(), bias_initializer=bias)


def torch_lstm(units):
  """Keras LSTM initializers reproducing torch.nn.LSTM: everything U(+-1/sqrt(H))."""
  limit = 1.0 / math.sqrt(units)
  return dict(kernel_initializer=_uniform(limit), recurrent_initializer=_uniform(limit),
              bias_initializer=SumOfUniforms(limit, 2), unit_forget_bias=False)


def torch_linear(input_size):
  """Keras Dense initializers reproducing torch.nn.Linear: weight and bias U(+-1/sqrt(in))."""
  limit = 1.0 / math.sqrt(input_size)
  return dict(kernel_initializer=_uniform(limit), bias_initializer=_uniform(limit))
