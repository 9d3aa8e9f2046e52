#!/usr/bin/env bash
# Stops of the image on a busy machine, measured (opt-in; not part of CI):
#   scripts/image_stops.sh TAG [STOPS=10] [BUSY_LOOPS=2] [DATA_DIR]
# Starts BUSY_LOOPS busy loops (the load), then STOPS times: a static_gru run with --model_dir,
# `stop` with docker's default grace (10 s) once it trains, and prints the seconds `stop` took,
# the exit status, and the seconds from the signal to the "Stopped by" line (the checkpoint is
# written before that line). Exit status 143 within the grace is the target; 137 means the
# engine had to SIGKILL it. MNIST comes from DATA_DIR (the IDX files), read-only, no network:
# by default the project's own cache, where any tool puts MNIST the first time it runs
# ($XDG_CACHE_HOME/tf_rnn_mnist, else ~/.cache/tf_rnn_mnist; `python -m tf_rnn_mnist data`
# fills it).
set -euo pipefail
TAG=${1:?usage: image_stops.sh TAG [STOPS] [BUSY_LOOPS] [DATA_DIR]}
STOPS=${2:-10}
BUSY=${3:-2}
DATA=${4:-${XDG_CACHE_HOME:-$HOME/.cache}/tf_rnn_mnist}
for file in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
            t10k-labels-idx1-ubyte; do
  if [[ ! -e "$DATA/$file" && ! -e "$DATA/$file.gz" ]]; then
    echo "error: $DATA holds no $file(.gz): pass the MNIST IDX directory as DATA_DIR, or fill" \
         "the cache first with: python -m tf_rnn_mnist data" >&2
    exit 1
  fi
done
ENGINE=""
for candidate in docker podman; do
  if command -v "$candidate" > /dev/null && "$candidate" info > /dev/null 2>&1; then
    ENGINE=$(command -v "$candidate"); break
  fi
done
[[ -n "$ENGINE" ]] || { echo "error: neither docker nor podman is installed and working" >&2; exit 1; }
WORK=$(mktemp -d)
chmod 0777 "$WORK"
NAME=tf-rnn-mnist-stops-$$
busy=()
cleanup() {
  for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$ENGINE" rm -f -v "$NAME" > /dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq "$BUSY"); do (while :; do :; done) & busy+=($!); done
echo "engine: $ENGINE; image: $TAG; $BUSY busy loops on $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "stop | seconds of stop | exit status | signal to 'Stopped by' line (s) | load average"
for i in $(seq "$STOPS"); do
  "$ENGINE" run -d --name "$NAME" --network=none -v "$DATA:/data:ro" -v "$WORK:/runs" "$TAG" \
    --variant=static_gru --train_steps=100000 --batch_size=20 --data_source=idx \
    --data_dir=/data --model_dir="/runs/run$i" > /dev/null
  for _ in $(seq 600); do
    "$ENGINE" logs "$NAME" 2>/dev/null | grep -q '^Iter ' && break
    sleep 0.5
  done
  t0=$(date +%s.%N)
  "$ENGINE" stop "$NAME" > /dev/null
  t1=$(date +%s.%N)
  code=$("$ENGINE" inspect "$NAME" --format '{{.State.ExitCode}}')
  stopped=$("$ENGINE" logs -t "$NAME" 2>&1 | grep 'Stopped by' | head -1 || true)
  line_at=$(python3 - "$t0" "$stopped" <<'PY'
import datetime, sys
t0, line = float(sys.argv[1]), sys.argv[2]
try:
    stamp = line.split()[0]
    when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00" if "Z" in stamp else stamp[:32])
    print(f"{when.timestamp() - t0:.2f}")
except Exception:
    print("-")
PY
)
  printf '%d | %.1f | %s | %s | %s\n' "$i" "$(echo "$t1 - $t0" | bc)" "$code" "$line_at" "$(cut -d' ' -f1 /proc/loadavg)"
  "$ENGINE" rm -v "$NAME" > /dev/null  # (-v: the image's anonymous volumes too)
done
