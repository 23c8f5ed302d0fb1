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

# benchmarks: the calendar, intake's submissions, workflow's transitions and lookup's answers
bench:
    cargo bench -p motcua-calendar
    cargo run --release --bin motcua-bench -- intake
    cargo run --release --bin motcua-bench -- workflow
    cargo run --release --bin motcua-bench -- lookup
    cargo run --release --bin motcua-bench -- notification
    cargo run --release --bin motcua-bench -- reporting

# the year replay through all five services in simulated time (deploy/sim.sh --help)
sim *ARGS:
    deploy/sim.sh {{ARGS}}

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
