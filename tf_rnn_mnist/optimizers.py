"""PyTorch's Adam in Keras: the same update, with epsilon where torch.optim.Adam puts it.

TF1's AdamOptimizer and Keras's Adam add epsilon to sqrt(v) (the "epsilon hat" form); PyTorch
adds it to sqrt(v) / sqrt(1 - beta2^t). With lr * sqrt(1 - beta2^t) / (1 - beta1^t) factored
out as Keras does, that is Keras's update with epsilon * sqrt(1 - beta2^t). Early in training,
when sqrt(1 - beta2^t) is small, the two differ by whole steps on weights whose gradients are
tiny (pixels that are almost always 0), so torch_lstm needs this form to follow PyTorch.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class TorchAdam(keras.optimizers.Adam):
  """torch.optim.Adam (no weight decay, no amsgrad) as a Keras optimizer."""

  def update_step(self, gradient, variable, learning_rate):
    lr = ops.cast(learning_rate, variable.dtype)
    gradient = ops.cast(gradient, variable.dtype)
    local_step = ops.cast(self.iterations + 1, variable.dtype)
    beta_1_power = ops.power(ops.cast(self.beta_1, variable.dtype), local_step)
    beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
    m = self._momentums[self._get_variable_index(variable)]
    v = self._velocities[self._get_variable_index(variable)]
    alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
    self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
    self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
    epsilon = ops.multiply(ops.cast(self.epsilon, variable.dtype), ops.sqrt(1 - beta_2_power))
    self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), epsilon)))
