"""The array layouts of TF1's cells against Keras 3's (the cell kinds in cells/ use them).

- TF1 LSTM cells: one kernel `[in + out, 4U]` over `concat([x, h])`, gate columns i, j, f, o;
  TF1 adds `forget_bias` to the f gate at run time, it is never stored. Keras: kernel `[in, 4U]`
  and recurrent kernel `[out, 4U]`, gates i, f, c(=j), o, the forget bias inside the bias's f
  block. Peepholes (w_i_diag, w_f_diag, w_o_diag) and the projection kernel carry over as they
  are (keras_cells.TF1LSTMCell holds them); contrib's LSTMBlockCell and BlockLSTM use LSTMCell's
  layout.
- TF1 GRUCell: `gates/kernel [in + U, 2U]` columns r, u and `candidate/kernel [in + U, U]`;
  Keras GRU(reset_after=False): columns z(=u), r, h(=candidate).
- tf.keras (Keras 2) layers: Keras 3 has the same layout; nothing moves.

Folding the forget bias is float32 addition: `b + 1.0` rounds away bits of b below 2**-24, so
TF1 -> Keras -> TF1 returns that block to within one rounding (every other array exactly), and
Keras -> TF1 -> Keras is exact whenever the Keras f bias lies in [0.5, 2] (Sterbenz).
"""

import numpy as np


def lstm_columns(w):
  """TF1's i, j, f, o -> Keras's i, f, c, o; swapping the middle blocks is its own inverse."""
  i, j, f, o = np.split(w, 4, axis=-1)
  return np.concatenate([i, f, j, o], axis=-1)


def lstm_to_keras(kernel, bias, input_size, forget_bias):
  """[kernel, recurrent_kernel, bias] of a Keras LSTM from a TF1 LSTM cell's kernel and bias."""
  full = lstm_columns(kernel)
  bias = lstm_columns(bias).copy()
  units = bias.shape[0] // 4
  bias[units:2 * units] += np.float32(forget_bias)
  return [full[:input_size], full[input_size:], bias]


def lstm_to_tf1(kernel, recurrent, bias, forget_bias):
  """(kernel, bias) of a TF1 LSTM cell from a Keras LSTM's three arrays."""
  bias = bias.copy()
  units = bias.shape[0] // 4
  bias[units:2 * units] -= np.float32(forget_bias)
  return lstm_columns(np.concatenate([kernel, recurrent], axis=0)), lstm_columns(bias)


def gru_to_keras(gates, gates_bias, candidate, candidate_bias, input_size):
  """[kernel, recurrent_kernel, bias] of a Keras GRU(reset_after=False) from a TF1 GRUCell."""
  r, u = np.split(gates, 2, axis=-1)
  r_bias, u_bias = np.split(gates_bias, 2)
  full = np.concatenate([u, r, candidate], axis=-1)
  return [full[:input_size], full[input_size:], np.concatenate([u_bias, r_bias, candidate_bias])]


def gru_to_tf1(kernel, recurrent, bias):
  """(gates/kernel, gates/bias, candidate/kernel, candidate/bias) of a TF1 GRUCell."""
  z, r, h = np.split(np.concatenate([kernel, recurrent], axis=0), 3, axis=-1)
  z_bias, r_bias, h_bias = np.split(bias, 3)
  return (np.concatenate([r, z], axis=-1), np.concatenate([r_bias, z_bias]), h, h_bias)
