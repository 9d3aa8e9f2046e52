"""tf_rnn_mnist: a faithful TensorFlow 2 / Keras 3 port of the classic RNN-on-MNIST tutorials."""

__version__ = "0.1.0"
