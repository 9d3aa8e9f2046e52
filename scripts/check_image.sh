#!/usr/bin/env bash
# Builds the image and proves it from the outside (opt-in; not part of CI):
#   scripts/check_image.sh [BASE_IMAGE] [EXTRA] [TAG]
#   scripts/check_image.sh python:3.11-slim "" tf-rnn-mnist:cpu     # a CPU image
#   scripts/check_image.sh localhost/python:3.11-slim gpu tf-rnn-mnist:gpu
# Uses docker or podman, whichever is present (podman on machines without a Docker daemon, where a locally built base image stands in
# for python:3.11-slim: docs/container.md). Checks: the default user
# is uid 1000; a 20-step static_gru run exits 0; with --user and bind mounts, checkpoints and
# results land on the host owned by the caller and readable; `IMAGE compare` runs inside (TF1
# side included), `IMAGE legacy static_rnn` and `IMAGE --help` too; `stop` with docker's
# default 10 s grace ends a running trainer with a checkpoint that resumes to the same weights
# as an uninterrupted run. scripts/image_stops.sh measures stops on a busy machine.
set -euo pipefail

BASE_IMAGE=${1:-python:3.11-slim}
EXTRA=${2-gpu}
TAG=${3:-tf-rnn-mnist:check}
ENGINE=""
for candidate in docker podman; do  # the first that answers (a docker CLI without a daemon does not)
  if command -v "$candidate" > /dev/null && "$candidate" info > /dev/null 2>&1; then
    ENGINE=$(command -v "$candidate"); break
  fi
done
[[ -n "$ENGINE" ]] || { echo "error: neither docker nor podman is installed and working" >&2; exit 1; }
# Use the local base image as it is: podman would otherwise try a registry.
PULL=(); [[ "$(basename "$ENGINE")" == podman ]] && PULL=(--pull=never)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
NAME=tf-rnn-mnist-check-$$
trap '"$ENGINE" rm -f -v "$NAME" >/dev/null 2>&1 || true' EXIT
ME="$(id -u):$(id -g)"
# As root, ownership would prove nothing: run as another user, as a CI user would be.
[[ "$(id -u)" == 0 ]] && ME="1234:1234"
mkdir -p "$WORK/cache" "$WORK/runs"
chmod 0777 "$WORK/cache" "$WORK/runs"  # the image's own uid 1000 writes here in check 2
ok() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; exit 1; }
run() { "$ENGINE" run --rm -v "$WORK/cache:/cache" -v "$WORK/runs:/runs" "$@"; }  # (--rm: its volumes too)
sha() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["weights_sha256"])' "$1"; }

echo "engine: $ENGINE; base: $BASE_IMAGE; extra: '${EXTRA}'; tag: $TAG"
start=$(date +%s)
"$ENGINE" build "${PULL[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "EXTRA=$EXTRA" \
  -t "$TAG" "$ROOT" > "$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; fail "build"; }
ok "build: $(( $(date +%s) - start )) s; image size $("$ENGINE" image inspect "$TAG" --format '{{.Size}}' | awk '{printf "%.2f GB", $1 / 1e9}')"

uid=$("$ENGINE" run --rm --entrypoint id "$TAG" -u)
[[ "$uid" == 1000 ]] && ok "default user is uid 1000" || fail "default user is uid $uid"

run "$TAG" --variant=static_gru --train_steps=20 > "$WORK/quick.log" 2>&1 \
  && ok "20-step static_gru run exits 0: $(tail -1 "$WORK/quick.log")" \
  || { tail -5 "$WORK/quick.log"; fail "20-step static_gru run"; }

run --user "$ME" "$TAG" --variant=static_gru --train_steps=20 --model_dir=/runs/mine \
  --results_json=/runs/mine.json > "$WORK/mine.log" 2>&1 || { tail -5 "$WORK/mine.log"; fail "--user run"; }
owner=$(stat -c '%u:%g' "$WORK/runs/mine.json" "$WORK/runs/mine/checkpoints/checkpoint" | sort -u)
[[ "$owner" == "$ME" && -r "$WORK/runs/mine.json" ]] \
  && ok "--user $ME: results and checkpoints owned by the caller, mode $(stat -c %a "$WORK/runs/mine.json")" \
  || fail "--user $ME: files owned by $owner"

run --user "$ME" "$TAG" compare --variants=static_gru \
  --seeds=1 --train_steps=20 --out=/runs/compare > "$WORK/compare.log" 2>&1 \
  && grep -q '| static_gru |' "$WORK/runs/compare/compare.md" \
  && ok "compare runs inside (v1 TF1 graph and v2 Keras): $(grep -c 'test accuracy' "$WORK/compare.log") runs" \
  || { tail -5 "$WORK/compare.log"; fail "compare inside the image"; }

"$ENGINE" run --rm "$TAG" legacy static_rnn --cell=gru --help > "$WORK/legacy.log" 2>&1 \
  && grep -q -- '--cell' "$WORK/legacy.log" && ok "IMAGE legacy static_rnn --help lists its flags" \
  || { tail -5 "$WORK/legacy.log"; fail "IMAGE legacy static_rnn --help"; }
lines=$(run "$TAG" --variant=static_gru --train_steps=20 2>&1 | grep -c -E 'absl::InitializeLog|oneDNN|cuInit|cuda drivers|Sharding callback' || true)
[[ "$lines" == 0 ]] && ok "a run prints none of TensorFlow's native notices" \
  || fail "a run printed $lines of TensorFlow's native notices"

steps=3000
run --user "$ME" "$TAG" --variant=static_gru --train_steps=$steps --batch_size=20 \
  --results_json=/runs/whole.json > "$WORK/whole.log" 2>&1 || fail "uninterrupted run"
"$ENGINE" run -d --name "$NAME" --user "$ME" -v "$WORK/cache:/cache" -v "$WORK/runs:/runs" \
  "$TAG" --variant=static_gru --train_steps=$steps --batch_size=20 --model_dir=/runs/stopped \
  --results_json=/runs/stopped.json > /dev/null
for _ in $(seq 600); do  # up to 5 minutes for the first log line
  "$ENGINE" logs "$NAME" 2>/dev/null | grep -q '^Iter ' && break
  [[ "$("$ENGINE" inspect "$NAME" --format '{{.State.Running}}')" == true ]] || fail "the run ended early"
  sleep 0.5
done
t0=$(date +%s.%N)
"$ENGINE" stop "$NAME" > /dev/null  # docker's default grace: 10 s
seconds=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
code=$("$ENGINE" inspect "$NAME" --format '{{.State.ExitCode}}')
stopped=$("$ENGINE" logs "$NAME" 2>&1 | grep '^Stopped by' || true)
[[ "$code" == 143 && -n "$stopped" ]] && ok "stop: exit 143 in $seconds s: $stopped" \
  || fail "stop: exit $code in $seconds s"
"$ENGINE" rm -v "$NAME" > /dev/null  # (-v: the image's anonymous volumes too)
run --user "$ME" "$TAG" --variant=static_gru --train_steps=$steps --batch_size=20 \
  --model_dir=/runs/stopped --results_json=/runs/stopped.json > "$WORK/resumed.log" 2>&1 \
  || fail "resume"
[[ "$(sha "$WORK/runs/stopped.json")" == "$(sha "$WORK/runs/whole.json")" ]] \
  && ok "resumed after stop: the same weights_sha256 as an uninterrupted run ($(sha "$WORK/runs/whole.json" | cut -c1-16))" \
  || fail "resumed run's weights differ"
echo "all checks passed; logs in $WORK"
