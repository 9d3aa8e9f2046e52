"""The tools besides the trainer, one module a command: a user's (`python -m tf_rnn_mnist
TOOL`) compare (v1 against v2 over many random seeds, with its statistics in equivalence and
its tables in compare_report, compare_results keeping a full comparison), bench (training
speed against the other sides, bench_sides running each side in its own process, bench_stats
its intervals and targets, bench_report its tables), profile, convert (the tutorials'
checkpoints <-> Keras weights) and data (fetch and check MNIST); a maintainer's (`python -m
tf_rnn_mnist.tools.X`) compare_results and readme_tables (the README's generated tables).
Nothing below imports a tool.

May import: training, model, migrate, the variant table, plumbing, data, base.
"""
