"""Migrating TF1 recurrent models to Keras 3 and back (`python -m tf_rnn_mnist.migrate`).

Whole models, from the program's own graph: graph.py reads and indexes it; cell_steps.py
matches each cell's step, wrappers.py the Dropout/ResidualWrappers around it, rnn_calls.py
chains them into dynamic_rnn / static_rnn calls; whole_model.py translates the subgraph
between the named inputs and outputs into Keras layers (graph_ops.py; what each TF1 op
computes: tf1_ops.py; their shapes on JAX/PyTorch: static_specs.py) and says what it did
(conversion_notes.py); verify.py runs the program's graph beside the Keras model;
back_to_tf1.py gives the weights back under the program's names.

Cells only, from a checkpoint's names: recognise.py (structures.py holds what it finds),
keras_side.py builds the model, verify.py checks it against TF1 cells rebuilt from those names
(legacy_tf1/rnn_graph.py). cell_maps.py moves one cell's weights for both, and for the
tutorials' conversions (weight_maps.py).
"""
