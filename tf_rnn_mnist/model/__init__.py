"""The model's building blocks: models builds each variant's Keras 3 model from its row of the
variant table, out of layers (SequenceLSTM and the tutorials' cells), initializers, losses and
optimizers (TF1's and PyTorch's Adam, bit-faithful); wavefront is multilayer's faster training
step, the same function to the bit; weight_maps moves the tutorials' TF1 and PyTorch weights
into these models and back. Nothing here knows about a run, a flag or a file of its own.

May import: migrate, the variant table, plumbing, data, base.
"""
