#!/usr/bin/env bash
# A 4-node OCR network across network namespaces, with latency, jitter and
# loss added in user space by netem-relay (this kernel has no netem qdisc).
#
#   ocr-n0..ocr-n3   one namespace per node, address 10.77.0.(I+1)/24 on eth0
#   ocr-sw           a namespace holding the bridge the nodes' veths plug into
#
# In each node's namespace, netem-relay listens on :9000 and forwards to the
# node's QUIC socket on :9100; every peer address points at a relay, so every
# datagram between two nodes crosses one relay (each pair has one QUIC
# connection, dialled at the relay of the node with the larger peer id) and
# gets delay ± jitter and loss in each direction.
#
# Checks: every node commits >= MIN_OUTCOMES outcomes; after SIGKILL of node
# KILL_NODE the other three commit >= MORE_OUTCOMES more; the restarted node's
# ocr_committed_seq_nr passes the others' highest at the restart (so restoring
# its own storage is not enough) and comes within CATCHUP_GAP of them. Each has
# PHASE_TIMEOUT seconds. Prints one JSON line and exits 0, or says which check
# failed, shows each node's last log lines and exits 1. Exit 2: cannot run
# (not root, no ip, binaries not built).
#
# Environment (defaults): DELAY_MS=20 JITTER_MS=5 LOSS=0.01 SEED=1 KILL_NODE=1
# MIN_OUTCOMES=20 MORE_OUTCOMES=10 CATCHUP_GAP=20 PHASE_TIMEOUT=60
# DELTA_ROUND_MS (ocr-node network init's default) KEEP_WORK=0 (keep the work
# directory even on success; it is always kept on failure) LOG_LINES=15
# OCR_NODE / NETEM_RELAY (default: $CARGO_TARGET_DIR/release/<name>).
set -euo pipefail

DELAY_MS=${DELAY_MS:-20}
JITTER_MS=${JITTER_MS:-5}
LOSS=${LOSS:-0.01}
SEED=${SEED:-1}
KILL_NODE=${KILL_NODE:-1}
MIN_OUTCOMES=${MIN_OUTCOMES:-20}
MORE_OUTCOMES=${MORE_OUTCOMES:-10}
CATCHUP_GAP=${CATCHUP_GAP:-20}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-60}
DELTA_ROUND_MS=${DELTA_ROUND_MS:-}
KEEP_WORK=${KEEP_WORK:-0}
LOG_LINES=${LOG_LINES:-15}

NODES=4
SUBNET=10.77.0
RELAY_PORT=9000
QUIC_PORT=9100
METRICS_PORT=9200
SWITCH_NS=ocr-sw
BRIDGE=br0

die() {
    echo "netns-test: $*" >&2
    exit 2
}

[[ ${EUID} -eq 0 ]] || die "must run as root (network namespaces need CAP_NET_ADMIN)"
command -v ip >/dev/null || die "'ip' (iproute2) not found"
command -v curl >/dev/null || die "'curl' not found"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OCR_NODE=${OCR_NODE:-$TARGET/release/ocr-node}
NETEM_RELAY=${NETEM_RELAY:-$TARGET/release/netem-relay}

[[ -x $OCR_NODE ]] || die "$OCR_NODE not found: cargo build --release -p ocr-node (or set OCR_NODE)"
[[ -x $NETEM_RELAY ]] || die "$NETEM_RELAY not found: cargo build --release -p netem-relay (or set NETEM_RELAY)"
[[ $KILL_NODE =~ ^[0-3]$ ]] || die "KILL_NODE must be 0..3"
for v in DELAY_MS JITTER_MS SEED MIN_OUTCOMES MORE_OUTCOMES CATCHUP_GAP PHASE_TIMEOUT LOG_LINES; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, not '${!v}'"
done
[[ -z $DELTA_ROUND_MS || $DELTA_ROUND_MS =~ ^[0-9]+$ ]] || die "DELTA_ROUND_MS must be an integer"

ns() { echo "ocr-n$1"; }
addr() { echo "$SUBNET.$(($1 + 1))"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

WORK=$(mktemp -d /tmp/ocr-netns.XXXXXX)
declare -a NODE_PID=() RELAY_PID=()
PASSED=0

kill_pid() { # pid signal
    [[ -n ${1:-} ]] && kill "-$2" "$1" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${NODE_PID[@]}" "${RELAY_PID[@]}"; do kill_pid "$pid" TERM; done
    sleep 0.5
    for pid in "${NODE_PID[@]}" "${RELAY_PID[@]}"; do kill_pid "$pid" KILL; done
    wait 2>/dev/null || true
    delete_topology
    if [[ $PASSED -eq 1 && $KEEP_WORK != 1 ]]; then
        rm -rf "$WORK"
    else
        echo "netns-test: logs and configs kept in $WORK" >&2
    fi
    exit "$rc"
}

delete_topology() {
    local i
    for i in $(seq 0 $((NODES - 1))); do
        ip netns del "$(ns "$i")" 2>/dev/null || true
        ip link del "ocr-v$i" 2>/dev/null || true # a veth still in the root namespace
    done
    ip netns del "$SWITCH_NS" 2>/dev/null || true
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- topology
delete_topology # leftovers of an earlier run that was killed
ip netns add "$SWITCH_NS"
ip -n "$SWITCH_NS" link add "$BRIDGE" type bridge
ip -n "$SWITCH_NS" link set "$BRIDGE" up
for i in $(seq 0 $((NODES - 1))); do
    n=$(ns "$i")
    ip netns add "$n"
    ip link add "ocr-v$i" type veth peer name "ocr-b$i"
    ip link set "ocr-v$i" netns "$n"
    ip link set "ocr-b$i" netns "$SWITCH_NS"
    ip -n "$SWITCH_NS" link set "ocr-b$i" master "$BRIDGE" up
    ip -n "$n" link set "ocr-v$i" name eth0
    ip -n "$n" addr add "$(addr "$i")/24" dev eth0
    ip -n "$n" link set eth0 up
    ip -n "$n" link set lo up
done

# ---------------------------------------------------------------- binaries
# Hard links (or copies), so a rebuild during the run does not swap them.
mkdir -p "$WORK/bin"
for b in "$OCR_NODE" "$NETEM_RELAY"; do
    ln -f "$b" "$WORK/bin/" 2>/dev/null || cp "$b" "$WORK/bin/"
done
NODE_BIN=$WORK/bin/$(basename "$OCR_NODE")
RELAY_BIN=$WORK/bin/$(basename "$NETEM_RELAY")

# ---------------------------------------------------------------- configs
init_args=(network init --nodes "$NODES" --out "$WORK/net")
[[ -n $DELTA_ROUND_MS ]] && init_args+=(--delta-round-ms "$DELTA_ROUND_MS")
# The original path: init finds the median plugin relative to the binary.
"$OCR_NODE" "${init_args[@]}" >"$WORK/init.log"

declare -a OLD_LISTEN=()
for i in $(seq 0 $((NODES - 1))); do
    OLD_LISTEN[i]=$(sed -nE 's/^listen = "([^"]+)"/\1/p' "$WORK/net/node-$i/node.toml")
    [[ -n ${OLD_LISTEN[i]} ]] || die "no listen address in node-$i/node.toml"
done
for i in $(seq 0 $((NODES - 1))); do
    toml=$WORK/net/node-$i/node.toml
    sed -i -E \
        -e "s/^listen = .*/listen = \"$(addr "$i"):$QUIC_PORT\"/" \
        -e "s/^metrics_listen = .*/metrics_listen = \"$(addr "$i"):$METRICS_PORT\"/" \
        -e '/^admin_listen = /d' -e '/^admin_token_file = /d' \
        "$toml"
    for j in $(seq 0 $((NODES - 1))); do
        [[ $j -eq $i ]] && continue
        old=${OLD_LISTEN[j]//./\\.}
        sed -i -E "s/= \"$old\"/= \"$(addr "$j"):$RELAY_PORT\"/" "$toml"
    done
    if grep -q '127\.0\.0\.1' "$toml"; then
        die "node-$i/node.toml still has a loopback address after rewriting"
    fi
    [[ $(grep -c ":$RELAY_PORT\"" "$toml") -eq $((NODES - 1)) ]] || die "node-$i: expected $((NODES - 1)) peers at relays"
done

# (The admin API, on loopback, is dropped: this test does not use it.)

# ---------------------------------------------------------------- processes
start_relay() {
    local i=$1
    ip netns exec "$(ns "$i")" "$RELAY_BIN" \
        --listen "$(addr "$i"):$RELAY_PORT" --forward "$(addr "$i"):$QUIC_PORT" \
        --delay-ms "$DELAY_MS" --jitter-ms "$JITTER_MS" --loss "$LOSS" --seed $((SEED * 100 + i)) \
        >"$WORK/relay-$i.json" 2>"$WORK/relay-$i.log" &
    RELAY_PID[i]=$!
}

start_node() {
    local i=$1
    echo "=== started $(date -u +%FT%TZ)" >>"$WORK/node-$i.log"
    ip netns exec "$(ns "$i")" env NO_COLOR=1 "$NODE_BIN" run --config "$WORK/net/node-$i/node.toml" \
        >>"$WORK/node-$i.log" 2>&1 &
    NODE_PID[i]=$!
}

# metric NODE NAME: the value, or empty if the node does not answer.
metric() {
    ip netns exec "$(ns "$1")" curl -sf --max-time 2 "http://$(addr "$1"):$METRICS_PORT/metrics" 2>/dev/null |
        awk -v name="$2" '$1 == name { printf "%d", $2; exit }' || true
}

declare -a OUT=() SEQ=()
sample() {
    local i
    for i in $(seq 0 $((NODES - 1))); do
        OUT[i]=$(metric "$i" ocr_outcomes_total)
        SEQ[i]=$(metric "$i" ocr_committed_seq_nr)
    done
}

json_array() { # values...; an empty one (no answer) becomes null
    local out="" v
    for v in "$@"; do out+="${out:+,}${v:-null}"; done
    echo "[$out]"
}

fail() {
    local check=$1
    echo "netns-test: FAILED: $check" >&2
    echo "netns-test: outcomes $(json_array "${OUT[@]}") committed_seq_nr $(json_array "${SEQ[@]}")" >&2
    local i
    for i in $(seq 0 $((NODES - 1))); do
        echo "--- node $i ($(ns "$i"), $(addr "$i")), last $LOG_LINES lines of $WORK/node-$i.log" >&2
        tail -n "$LOG_LINES" "$WORK/node-$i.log" 2>/dev/null | sed -E 's/\x1b\[[0-9;]*m//g' >&2 || true
    done
    printf '{"result":"fail","check":"%s","outcomes":%s,"committed_seq_nr":%s,"delay_ms":%s,"jitter_ms":%s,"loss":%s,"seconds":%s}\n' \
        "$check" "$(json_array "${OUT[@]}")" "$(json_array "${SEQ[@]}")" "$DELAY_MS" "$JITTER_MS" "$LOSS" "$(since "$T0")"
    exit 1
}

# wait_until DESCRIPTION PREDICATE: polls PREDICATE (after sample) every
# second for PHASE_TIMEOUT seconds; fails the test if it never holds.
wait_until() {
    local what=$1 predicate=$2 deadline
    deadline=$(($(date +%s) + PHASE_TIMEOUT))
    while :; do
        sample
        if $predicate; then return 0; fi
        if [[ $(date +%s) -ge $deadline ]]; then fail "$what (within ${PHASE_TIMEOUT}s)"; fi
        sleep 1
    done
}

# A number, or -1 for a node that did not answer.
num() { echo "${1:--1}"; }

T0=$(now)
for i in $(seq 0 $((NODES - 1))); do start_relay "$i"; done
sleep 0.3
for i in $(seq 0 $((NODES - 1))); do
    if ! kill -0 "${RELAY_PID[i]}" 2>/dev/null; then
        cat "$WORK/relay-$i.log" >&2
        die "netem-relay of node $i did not start (bad DELAY_MS/JITTER_MS/LOSS?)"
    fi
done
for i in $(seq 0 $((NODES - 1))); do start_node "$i"; done

# ---------------------------------------------------------------- check 1
all_committed() {
    local i
    for i in $(seq 0 $((NODES - 1))); do
        [[ $(num "${OUT[i]}") -ge $MIN_OUTCOMES ]] || return 1
    done
}
wait_until "every node reaches $MIN_OUTCOMES outcomes" all_committed
T_FIRST=$(since "$T0")

# ---------------------------------------------------------------- check 2
kill -KILL "${NODE_PID[KILL_NODE]}"
wait "${NODE_PID[KILL_NODE]}" 2>/dev/null || true
NODE_PID[KILL_NODE]=
T1=$(now)
sample
declare -a BASE=()
for i in $(seq 0 $((NODES - 1))); do BASE[i]=$(num "${OUT[i]}"); done
survivors_commit() {
    local i
    for i in $(seq 0 $((NODES - 1))); do
        [[ $i -eq $KILL_NODE ]] && continue
        [[ $(num "${OUT[i]}") -ge $((BASE[i] + MORE_OUTCOMES)) ]] || return 1
    done
}
wait_until "the $((NODES - 1)) nodes left commit $MORE_OUTCOMES more outcomes after node $KILL_NODE is killed" survivors_commit
T_KILL=$(since "$T1")

# ---------------------------------------------------------------- check 3
# The survivors' highest committed seq-nr.
top_seq() {
    local i top=-1 s
    for i in $(seq 0 $((NODES - 1))); do
        [[ $i -eq $KILL_NODE ]] && continue
        s=$(num "${SEQ[i]}")
        [[ $s -gt $top ]] && top=$s
    done
    echo "$top"
}
sample
TOP_AT_RESTART=$(top_seq)
T2=$(now)
start_node "$KILL_NODE"
# Within CATCHUP_GAP of the others, and past where they were at the restart:
# the seq-nr the node restores from its own storage alone does not count.
caught_up() {
    local top s
    top=$(top_seq)
    s=$(num "${SEQ[KILL_NODE]}")
    [[ $s -gt $TOP_AT_RESTART && $((top - s)) -le $CATCHUP_GAP ]]
}
wait_until "restarted node $KILL_NODE commits past seq-nr $TOP_AT_RESTART and comes within $CATCHUP_GAP of the others" caught_up
T_CATCHUP=$(since "$T2")

# ---------------------------------------------------------------- summary
sample
# Stop the relays first: each prints its counters as one JSON line.
for i in $(seq 0 $((NODES - 1))); do kill_pid "${RELAY_PID[i]}" TERM; done
for i in $(seq 0 $((NODES - 1))); do
    wait "${RELAY_PID[i]}" 2>/dev/null || true
    RELAY_PID[i]=
done
relay_total() { # field
    cat "$WORK"/relay-*.json 2>/dev/null | sed -nE "s/.*\"$1\":([0-9]+).*/\1/p" | awk '{ s += $1 } END { printf "%d", s }'
}
from_clients=$(relay_total from_clients)
from_upstream=$(relay_total from_upstream)
lost=$(relay_total lost)
observed=$(awk -v l="$lost" -v n="$((from_clients + from_upstream))" 'BEGIN { printf "%.4f", n ? l / n : 0 }')

PASSED=1
printf '{"result":"pass","nodes":%d,"outcomes":%s,"committed_seq_nr":%s,"killed_node":%d,"delay_ms":%s,"jitter_ms":%s,"loss":%s,"seconds":{"total":%s,"first_%d_outcomes":%s,"survivors_%d_more":%s,"catch_up":%s},"relay":{"datagrams":%d,"lost":%d,"observed_loss":%s}}\n' \
    "$NODES" "$(json_array "${OUT[@]}")" "$(json_array "${SEQ[@]}")" "$KILL_NODE" "$DELAY_MS" "$JITTER_MS" "$LOSS" \
    "$(since "$T0")" "$MIN_OUTCOMES" "$T_FIRST" "$MORE_OUTCOMES" "$T_KILL" "$T_CATCHUP" \
    "$((from_clients + from_upstream))" "$lost" "$observed"
