#!/usr/bin/env bash
# The benchmark suite (`just bench`): every service's benchmark three times and the 2017 replay
# once, on a release build, then bench/results.json and bench/results.md — each figure's median
# beside its same-run baseline, the ratio and the target, with the commit — so results compare
# across commits. Run it with nothing else running: the machine's own limit is measured in the
# same run, but a busy machine still moves the ratios.
#   deploy/bench.sh                 everything (the full year takes minutes)
#   deploy/bench.sh --no-year       the services' benchmarks only
#   deploy/bench.sh --runs 1        one run of each instead of three
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
year=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --no-year) year=no ;;
    --runs) runs="$2"; shift ;;
    *) echo "deploy/bench.sh: unknown argument $1 (--no-year, --runs N)" >&2; exit 64 ;;
  esac
  shift
done
deploy/deps.sh
cargo build --release -q --bins
mkdir -p bench
export MOTCUA_BENCH_RESULTS="$PWD/bench/runs.jsonl"
: > "$MOTCUA_BENCH_RESULTS"
cargo bench -q -p motcua-calendar 2>&1 | tail -n 20
# A benchmark that fails is named and the others still run; the suite then fails.
failed=""
for run in $(seq "$runs"); do
  for b in intake workflow lookup notification reporting; do
    echo "• $b, run $run of $runs"
    target/release/motcua-bench "$b" || failed="$failed $b"
  done
done
if [ "$year" = yes ]; then
  echo "• the tq2017 year"
  target/release/motcua-bench sim --profile tq2017 --seed 2017 | tail -n 30 || failed="$failed sim"
fi
python3 deploy/bench/summarise.py "$MOTCUA_BENCH_RESULTS" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" bench/results.json bench/results.md
cat bench/results.md
if [ -n "$failed" ]; then
  echo "deploy/bench.sh: failed:$failed" >&2
  exit 1
fi
