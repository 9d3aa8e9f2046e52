"""TF1Adam and TorchAdam: the tutorials' Adam updates, in TensorFlow's fused Adam kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_rnn_mnist.model.optimizers import TF1Adam, TorchAdam


def _reference(initial, gradients, lr, epsilon, torch):
  """The tutorials' Adam in numpy, float64: TF1's AdamOptimizer (epsilon added to sqrt(v)) or
  torch.optim.Adam (epsilon added to sqrt(v / (1 - beta2^t)))."""
  var, m, v = initial.astype(np.float64), 0.0, 0.0
  for t, g in enumerate(gradients, start=1):
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g * g
    if torch:
      var = var - lr / (1 - 0.9 ** t) * m / (np.sqrt(v / (1 - 0.999 ** t)) + epsilon)
    else:
      var = var - lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + epsilon)
  return var


@pytest.mark.parametrize("adam_class, torch", [(TF1Adam, False), (TorchAdam, True)])
def test_fused_adam_is_the_tutorials_update_in_one_op_per_variable(adam_class, torch):
  """Five steps with gradients from 1e-9 to 1 (where the epsilon forms differ by whole steps)
  match the float64 reference to float32 rounding, and the other form does not; the update
  is one ResourceApplyAdam per variable (the fused kernel, not Keras's elementwise ops)."""
  rng = np.random.default_rng(0)
  initial = rng.normal(size=(4, 50)).astype(np.float32)
  scales = 10.0 ** rng.integers(-9, 1, size=(4, 50))
  gradients = [(rng.normal(size=(4, 50)) * scales).astype(np.float32) for _ in range(5)]
  variables = [keras.Variable(initial[:2]), keras.Variable(initial[2:])]
  optimizer = adam_class(1e-3, epsilon=1e-8)
  optimizer.build(variables)
  step = tf.function(lambda g: optimizer.apply_gradients(zip(tf.split(g, 2), variables)))
  for g in gradients:
    step(tf.constant(g))
  result = np.concatenate([v.numpy() for v in variables])
  np.testing.assert_allclose(result, _reference(initial, gradients, 1e-3, 1e-8, torch),
                             rtol=1e-6, atol=1e-7)
  other = _reference(initial, gradients, 1e-3, 1e-8, not torch)
  assert np.max(np.abs(result - other)) > 1e-4
  graph = step.get_concrete_function(tf.constant(gradients[0])).graph
  ops = [op for op in graph.get_operations()]
  assert [op.type for op in ops].count("ResourceApplyAdam") == 2
  # Keras's own update computes sqrt(v), a tensor the variable's size, as an op of its own.
  assert not [op for op in ops if op.type == "Sqrt" and op.outputs[0].shape.rank]


def test_amsgrad_and_sparse_gradients_keep_keras_adam_results():
  """Found by review: amsgrad=True was accepted and silently ignored. TF1Adam's AMSGrad is
  Keras's own update, bitwise; TorchAdam refuses it; a sparse (IndexedSlices) gradient is
  applied densely, as Keras's update applies it."""
  rng = np.random.default_rng(1)
  initial = rng.normal(size=(6, 5)).astype(np.float32)
  gradients = [10.0 * np.ones((6, 5), np.float32)] + [
      rng.normal(size=(6, 5)).astype(np.float32) * 0.01 for _ in range(4)]

  def run(optimizer, sparse=False):
    variable = keras.Variable(initial)
    optimizer.build([variable])
    for g in gradients:
      g = tf.constant(g)
      if sparse:
        g = tf.IndexedSlices(g[1:4], tf.constant([1, 2, 3]), tf.constant([6, 5]))
      optimizer.apply_gradients([(g, variable)])
    return variable.numpy()

  np.testing.assert_array_equal(run(TF1Adam(1e-3, epsilon=1e-8, amsgrad=True)),
                                run(keras.optimizers.Adam(1e-3, epsilon=1e-8, amsgrad=True)))
  assert not np.allclose(run(TF1Adam(1e-3, epsilon=1e-8, amsgrad=True)),
                         run(TF1Adam(1e-3, epsilon=1e-8)))
  np.testing.assert_allclose(run(TF1Adam(1e-3, epsilon=1e-8), sparse=True),
                             run(keras.optimizers.Adam(1e-3, epsilon=1e-8), sparse=True),
                             rtol=1e-6)
  with pytest.raises(ValueError) as e:
    TorchAdam(1e-3, amsgrad=True)
  assert str(e.value) == ("TorchAdam: amsgrad=True is not implemented (only torch.optim.Adam's "
                          "default form is); use amsgrad=False")
