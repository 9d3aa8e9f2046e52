"""What every command shares with the others and with the legacy scripts: cli (absl's app
with one-line errors, quiet native logs via native_logs, signals), outputs and run_lock (every
output checked before the work starts; one run per directory), atomic (writes that are whole
or absent), results (the results JSON and the summary line every side prints) and bench_gate
(the benchmark's timed windows).

May import: data, base.
"""
