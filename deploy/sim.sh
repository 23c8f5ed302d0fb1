#!/usr/bin/env bash
# The year replay: builds the simulator (release) and runs it with the given arguments, e.g.
#   deploy/sim.sh --profile tq2017 --seed 2017          the full 2017 year, every check
#   deploy/sim.sh --profile tq2017 --scale 0.01         a hundredth of it
# The five services run in the simulator's process on a fresh database and stream prefix of
# MOTCUA_DATABASE_URL / MOTCUA_NATS_URL (removed afterwards), their clocks on the simulated time.
# The last line printed is `sim: <dossiers> dossiers, <wall> s, <mismatches> mismatches`; the exit
# status is non-zero on any mismatch. Profiles: deploy/sim/*.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/deps.sh
cargo build --release -q --bin motcua-bench
exec target/release/motcua-bench sim "$@"
