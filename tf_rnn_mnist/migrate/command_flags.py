"""The flags of `python -m tf_rnn_mnist.migrate` (its __main__ holds the commands)."""

import math

from absl import flags


def define_flags():
  flags.DEFINE_string("graph", None, "The program's graph for a checkpoint SOURCE: a .meta "
                      "(MetaGraphDef, what Saver writes beside each checkpoint; CKPT.meta is "
                      "used by default), .pb or .pbtxt (GraphDef with variables). to-tf1: "
                      "also a SavedModel directory, written back as a SavedModel.")
  flags.DEFINE_string("tag", "serve", "A SavedModel SOURCE: the tag of its meta graph.")
  flags.DEFINE_string("signature", "serving_default", "A SavedModel SOURCE: the signature "
                      "whose inputs and outputs are the defaults of --inputs / --outputs (in "
                      "the order of its keys).")
  flags.DEFINE_list("inputs", None, "to-keras/verify: the graph tensors (name:0) that become "
                    "the Keras model's inputs, in order.")
  flags.DEFINE_list("outputs", None, "to-keras/verify: the graph tensors (name:0) the Keras "
                    "model computes, in order.")
  flags.DEFINE_list("feed", [], "to-keras/verify: placeholders fixed to constants, "
                    "T=VALUE,... (keep probabilities 1.0, is_training false).")
  flags.DEFINE_string("output", None, "to-keras: the .keras file to write; to-tf1: the "
                      "checkpoint prefix to write (DIR/name).")
  flags.DEFINE_list("scope", None, "to-keras/verify: the recurrent network(s) to convert, by "
                    "scope as `inspect` lists them; several run one after the other.")
  flags.DEFINE_string("head", "auto", "to-keras/verify: the dense layer on the last output: "
                      "auto (the one dense layer whose input fits, if exactly one), none, a "
                      "scope (SCOPE/kernel + SCOPE/bias), or KERNEL,BIAS variable names.")
  flags.DEFINE_float("forget_bias", 1.0, "The forget_bias the TF1 LSTM cells were built with.")
  flags.DEFINE_float("cell_clip", None, "The cell_clip of the TF1 LSTMCell / LSTMBlockCell.")
  flags.DEFINE_float("proj_clip", None, "The proj_clip of the TF1 LSTMCell with num_proj.")
  flags.DEFINE_integer("timesteps", 28, "verify: sequence length of the random inputs.",
                       lower_bound=1)
  flags.DEFINE_integer("batch", 8, "verify: batch size of the random inputs.", lower_bound=1)
  flags.DEFINE_bool("verify", True, "to-keras: run verify on what was written.")
  flags.DEFINE_enum("cell", None, ["BasicLSTMCell", "LSTMCell", "LSTMBlockCell",
                                   "LSTMBlockFusedCell", "keras"],
                    "to-tf1: the TF1 class of the LSTM layers (GRU layers become GRUCell); "
                    "keras: tf.keras's own names. Not needed where the model says it: GRUs "
                    "only (GRUCell), an LSTM with peepholes or a projection (LSTMCell).")
  flags.DEFINE_string("prefix", None, "to-tf1: the scope of the network's variables (default "
                      "rnn, bidirectional_rnn or stack_bidirectional_rnn, as TF1's calls).")
  flags.DEFINE_string("head_scope", "dense", "to-tf1: the scope of the dense head's variables.")
  flags.register_validator("forget_bias", math.isfinite, "--forget_bias must be a finite number.")
  for clip in ("cell_clip", "proj_clip"):
    flags.register_validator(clip, lambda v: v is None or (math.isfinite(v) and v >= 0),
                             f"--{clip} must be a finite number >= 0 (TF1 clips to "
                             f"[-{clip}, {clip}]), or left out for no clipping.")
