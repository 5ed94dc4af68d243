#!/usr/bin/env bash
# Two `sallyport serve` nodes on one PostgreSQL database, and `sallyport-bench relay` with the
# senders on the first and the receivers on the second (bench/README.md, "PostgreSQL: one node and
# two"). Usage: bench/two-nodes.sh POSTGRES_URL [relay options…]
# POSTGRES_URL names an empty database (the nodes migrate it). Needs the release build.
set -euo pipefail
db=${1:?usage: bench/two-nodes.sh POSTGRES_URL [relay options…]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/sallyport
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ready() {
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "node on port $1 did not become ready; its log:" >&2
    cat "$work/$1.log" >&2
    return 1
}

for n in 1 2; do
    p=$(port)
    mkdir -p "$work/data$n"
    "$bin" serve --listen "127.0.0.1:$p" --metrics-listen 127.0.0.1:0 --data-dir "$work/data$n" \
        --database-url "$db" --queue-quota 100000000 >"$work/$p.log" 2>&1 &
    pids+=($!)
    ready "$p"
    ports[$n]=$p
done
"$root/target/release/sallyport-bench" --url "http://127.0.0.1:${ports[1]}" --server-pid "${pids[0]}" \
    --database-url "$db" relay --receivers-url "http://127.0.0.1:${ports[2]}" --receivers-pid "${pids[1]}" "$@"
