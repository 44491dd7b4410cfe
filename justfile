# Huddle's everyday commands. `just --list` shows them.

# Start the server on the embedded SQLite database (./huddle.db).
run:
    cargo run --release

# Start the server on the local PostgreSQL.
run-pg db="huddle":
    psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname = '{{db}}'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -c "create database {{db}}"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/{{db}} cargo run --release

# The whole test suite, SQLite and PostgreSQL (PostgreSQL tests skip loudly when it is down).
# Arguments go to cargo test: `just test -p huddle-domain --lib`.
test *args:
    cargo test --workspace {{args}}

# The suite with PostgreSQL, Redis and Chromium required, as CI runs it.
test-pg *args:
    CI=true cargo test --workspace {{args}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs, in a fresh clone of what is committed.
ci:
    bash .ci/run

# The standard benchmark set (BENCHMARKS.md) against PostgreSQL on 127.0.0.1:5432 (and Redis on
# 127.0.0.1:6379 for scale-out): fan-out and latency against the bare broadcast server,
# Socket.IO against the native socket, two nodes against one, store against the naive baseline,
# history and the room list, message search over 1,000,000 messages, files, idle memory, then
# store, history and the room list again on a fresh SQLite file. About
# 10 minutes after the build;
# the JSON line also lands in target/bench.json.
# Arguments pick a scenario and its options: `just bench fanout --duration 5`.
bench *args="all":
    cargo build --release -p huddle-server -p huddle-bench
    "${CARGO_TARGET_DIR:-target}/release/huddle-bench" --json-out target/bench.json {{args}}

# Criterion benchmarks of the hot paths (serialisation, fan-out, JWT, validation).
bench-micro:
    cargo bench -p huddle-bench --bench hot_paths
