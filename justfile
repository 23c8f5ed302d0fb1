# The front door: CI runs these same recipes. Each recipe is a thin call to a script under deploy/
# or to cargo, so everything also works where `just` is not installed.

# start PostgreSQL, NATS and motcua (all services), print addresses and a development token
up:
    deploy/up.sh

# stop motcua
down:
    deploy/down.sh

# the whole test suite
test *ARGS:
    deploy/test.sh {{ARGS}}

# formatting, clippy with warnings denied, protobuf lint and breaking-change check against main
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    deploy/buf.sh
    deploy/k8s-check.sh

fmt:
    cargo fmt --all

# the benchmark suite: every service's benchmark three times and the 2017 replay, medians in
# bench/results.json and bench/results.md (deploy/bench.sh --no-year / --runs N)
bench *ARGS:
    deploy/bench.sh {{ARGS}}

bench-intake *ARGS:
    cargo run --release --bin motcua-bench -- intake {{ARGS}}

bench-workflow *ARGS:
    cargo run --release --bin motcua-bench -- workflow {{ARGS}}

bench-lookup *ARGS:
    cargo run --release --bin motcua-bench -- lookup {{ARGS}}

bench-notification *ARGS:
    cargo run --release --bin motcua-bench -- notification {{ARGS}}

bench-reporting *ARGS:
    cargo run --release --bin motcua-bench -- reporting {{ARGS}}
