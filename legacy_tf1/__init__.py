"""The tutorials' TF1 graphs, runnable today on TensorFlow 2.21 through tf.compat.v1.

Run each as `python -m legacy_tf1.<script>`; each sets TF_USE_LEGACY_KERAS=1 before importing
TensorFlow (tf.compat.v1.nn.rnn_cell and tf.compat.v1.layers need tf-keras).
"""
