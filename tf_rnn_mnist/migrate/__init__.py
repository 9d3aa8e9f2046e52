"""Migrating TF1 recurrent models to Keras 3 and back (`python -m tf_rnn_mnist.migrate`).

Two registries hold what is known of TF1, one entry per thing (after tf2onnx's handlers):
- ops/: one handler per TF1 op type (its attributes, outputs, computation in keras.ops, numpy
  folding and static shape);
- cells/: one class per TF1 cell kind (recognition by variable names, its step matched in a
  graph, the Keras cell it becomes, its weights both ways, TF1's own cell for the check).

The source (sources.py) is resolved once from the command line: a checkpoint and its graph, a
frozen GraphDef (its weight constants thawed into variables) or a TF1 SavedModel.

Whole models, from the program's own graph: graph.py reads and indexes it; the kinds match
each cell's step (cell_steps.py holds what they share), wrappers.py the Dropout/
ResidualWrappers around it, rnn_calls.py chains them into dynamic_rnn / static_rnn calls
(one rewriter per loop or call form: static_lengths.py, while_v2.py, keras_loops.py, sharing
loop_parts.py; conds.py takes conds fixed at conversion, v1 and v2);
whole_model.py translates the subgraph between the named inputs and outputs into Keras layers
(graph_ops.py runs the ops' handlers) and says what it did (conversion_notes.py); user_graph.py
runs the program's graph (a training graph's dropouts bypassed) and graph_proof.py proves the
Keras model against it, never waiving the bound; back_to_tf1.py gives the weights back under
the program's names.

Cells only, from a checkpoint's names: recognise.py asks the kinds (structures.py holds what
it finds), keras_side.py builds the model, verify.py checks it against TF1 cells rebuilt from
those names (legacy_tf1/rnn_graph.py). tf1_checkpoints.py reads and writes TF1 checkpoints for
both, and for the tutorials' conversions (weight_maps.py, which depends on migrate, never the
reverse).

May import: the variant table, plumbing, data, base.
"""
