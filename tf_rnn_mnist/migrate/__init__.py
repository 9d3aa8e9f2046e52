"""Migrating any TF1 RNN checkpoint to Keras 3 and back (`python -m tf_rnn_mnist.migrate`):
structures.py recognises what a checkpoint holds, cell_maps.py moves one cell's weights,
keras_side.py builds the Keras model (keras_cells.py: TF1's LSTMCell where Keras has none),
verify.py runs both sides (the TF1 side: legacy_tf1/rnn_graph.py)."""
