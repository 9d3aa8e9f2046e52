"""One cell's weights between TF1's layout and Keras 3's.

- TF1 LSTM cells: one kernel `[in + out, 4U]` over `concat([x, h])`, gate columns i, j, f, o;
  TF1 adds `forget_bias` to the f gate at run time, it is never stored. Keras: kernel `[in, 4U]`
  and recurrent kernel `[out, 4U]`, gates i, f, c(=j), o, the forget bias inside the bias's f
  block. Peepholes (w_i_diag, w_f_diag, w_o_diag) and the projection kernel carry over as they
  are (keras_cells.TF1LSTMCell holds them).
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


def tf1_shapes(cell):
  """{checkpoint name: shape} of a TF1 cell's variables (structures.Cell)."""
  rows, units = cell.input_size + cell.output_size, cell.units
  if cell.kind == "tf1_gru":
    shapes = {"gates/kernel": (rows, 2 * units), "gates/bias": (2 * units,),
              "candidate/kernel": (rows, units), "candidate/bias": (units,)}
  elif cell.kind == "tf1_lstm":
    shapes = {"kernel": (rows, 4 * units), "bias": (4 * units,),
              **{d: (units,) for d in ("w_i_diag", "w_f_diag", "w_o_diag")},
              "projection/kernel": (units, cell.num_proj)}
  else:
    gates = 4 if cell.is_lstm else 3
    shapes = {"kernel": (cell.input_size, gates * units),
              "recurrent_kernel": (units, gates * units),
              "bias": (2, gates * units) if cell.reset_after else (gates * units,)}
  return {name: shapes[role] for role, name in cell.variables().items()}


def keras_weight_count(cell):
  """How many arrays `cell` has in Keras: kernel, recurrent kernel, bias, [peepholes],
  [projection]."""
  return 3 + bool(cell.peepholes) + bool(cell.num_proj)


def to_keras(cell, arrays, forget_bias):
  """The Keras weights of `cell` (structures.Cell) from {role: array} of the checkpoint."""
  if cell.kind.startswith("keras"):
    return [arrays["kernel"], arrays["recurrent_kernel"], arrays["bias"]]
  if cell.kind == "tf1_gru":
    return gru_to_keras(arrays["gates/kernel"], arrays["gates/bias"], arrays["candidate/kernel"],
                        arrays["candidate/bias"], cell.input_size)
  weights = lstm_to_keras(arrays["kernel"], arrays["bias"], cell.input_size, forget_bias)
  if cell.peepholes:
    weights.append(np.stack([arrays["w_i_diag"], arrays["w_f_diag"], arrays["w_o_diag"]]))
  if cell.num_proj:
    weights.append(arrays["projection/kernel"])
  return weights


def to_tf1(cell, weights, forget_bias):
  """{role: array} of `cell` in the checkpoint from its Keras weights (the inverse)."""
  if cell.kind.startswith("keras"):
    return dict(zip(["kernel", "recurrent_kernel", "bias"], weights))
  if cell.kind == "tf1_gru":
    return dict(zip(["gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias"],
                    gru_to_tf1(*weights)))
  kernel, bias = lstm_to_tf1(*weights[:3], forget_bias)
  arrays = {"kernel": kernel, "bias": bias}
  rest = list(weights[3:])
  if cell.peepholes:
    arrays.update(zip(["w_i_diag", "w_f_diag", "w_o_diag"], rest.pop(0)))
  if cell.num_proj:
    arrays["projection/kernel"] = rest.pop(0)
  return arrays
