"""The training run behind `python -m tf_rnn_mnist.train`: plan resolves a variant and the
flags into one Plan; loop runs it (the schedule, evaluation, checkpoints and resume, the
summary); trainer holds one update (a replica's step under tf.distribute); distribute and
worker_wait choose and start the strategy; preemption turns a stop signal into a checkpoint;
checkpoints, exports and tutorial_log write what a run leaves behind.

May import: model, migrate, the variant table, plumbing, data, base.
"""
