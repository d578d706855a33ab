#!/usr/bin/env python3
"""Where a node's CPU time goes, from `perf script` output of a profile
recorded with call graphs (`perf record --call-graph dwarf`).

Each sample is put in the first category (in the order below) that any frame
of its stack matches, so a sample in memcpy called from quinn counts as QUIC,
and a sample in Ed25519 arithmetic counts as signatures whatever called it.
Samples matching nothing are "core logic and runtime". Prints one JSON line:
{"bench": "cpu_profile", "samples": N, "categories": {name: share, ...}},
with the shares in percent, plus any extra fields given as key=value
arguments (numbers stay numbers).

    perf script -i perf.data | scripts/bench/profile-breakdown.py nodes=4
"""

import json
import re
import sys
from collections import Counter

CATEGORIES = [
    ("signatures (Ed25519)", r"curve25519|ed25519|ocr_core::signing"),
    ("signatures (secp256k1 reports)", r"k256|ecdsa|ocr_core::onchain|primeorder"),
    ("plugin calls (wasmtime)", r"wasmtime|cranelift|ocr_plugin_host|plugin_worker|plugin_call|wasm\["),
    ("storage (sled, fsync)", r"sled::|ocr_node::storage|fdatasync|sync_file_range|ext4_"),
    ("encoding (wire codec)", r"ocr_core::wire|ocr_core::payload|sha2::"),
    ("QUIC and TLS (quinn, rustls, UDP)", r"quinn|rustls|ring::|aws_lc|udp_|sendmsg|recvmsg|ocr_net::"),
    ("key decryption at startup (scrypt)", r"scrypt"),
    ("scheduling and wakeups (tokio, futex)", r"futex|try_to_wake_up|finish_task_switch|__schedule|epoll|tokio::runtime|parking_lot|std::sync::mpmc"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]
OTHER = "core logic and runtime"
# Generic arguments (`run<ocr_node::storage::SledStorage>`) name types, not
# the code running: they are removed before matching, innermost first.
GENERIC_ARGUMENTS = re.compile(r"(?<=[\w}])<[^<>]*>")


def code_of(frame):
    while True:
        stripped = GENERIC_ARGUMENTS.sub("", frame)
        if stripped == frame:
            return frame
        frame = stripped


def categorize(stack):
    for name, pattern in COMPILED:
        if any(pattern.search(frame) for frame in stack):
            return name
    return OTHER


def main():
    counts = Counter()
    stack = []
    for line in sys.stdin:
        if line[:1] in (" ", "\t") and line.strip():
            stack.append(code_of(line.strip()))
            continue
        if stack:
            counts[categorize(stack)] += 1
        stack = []
    if stack:
        counts[categorize(stack)] += 1
    total = sum(counts.values())
    if total == 0:
        sys.exit("profile-breakdown: no samples with call stacks on standard input")
    line = {"bench": "cpu_profile", "samples": total}
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        try:
            line[key] = json.loads(value)
        except ValueError:
            line[key] = value
    line["categories"] = {
        name: round(100.0 * count / total, 1) for name, count in counts.most_common()
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
