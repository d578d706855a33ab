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
    scripts/bench/profile-breakdown.py --self-test
"""

import json
import re
import sys
from collections import Counter

CATEGORIES = [
    ("signatures (Ed25519)", r"curve25519|ed25519|ocr_core::signing"),
    ("signatures (secp256k1 reports)", r"k256|ecdsa|secp256k1|ocr_core::onchain|primeorder"),
    ("plugin calls (wasmtime)", r"wasmtime|cranelift|ocr_plugin_host|plugin_worker|plugin_call|wasm\["),
    ("storage (sled, fsync)", r"sled::|ocr_node::storage|fdatasync|sync_file_range|ext4_"),
    ("encoding (wire codec)", r"ocr_core::wire|ocr_core::payload|sha2::"),
    ("QUIC and TLS (quinn, rustls, UDP)", r"quinn|rustls|ring::|aws_lc|udp_|sendmsg|recvmsg|ocr_net::"),
    ("key decryption at startup (scrypt)", r"scrypt"),
    # Parking and waking threads and tasks, not the tasks' own work: every
    # stack has tokio's runtime at its root.
    (
        "scheduling and wakeups (tokio, futex)",
        r"futex|try_to_wake_up|finish_task_switch|__schedule|epoll|parking_lot|std::sync::mpmc"
        r"|tokio::runtime::(park|scheduler::multi_thread::(park|idle))|park_internal|Unparker|tokio::runtime::task::waker",
    ),
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


def breakdown(lines):
    """Samples per category, from `perf script` lines."""
    counts = Counter()
    stack = []
    for line in lines:
        if line[:1] in (" ", "\t") and line.strip():
            stack.append(code_of(line.strip()))
            continue
        if stack:
            counts[categorize(stack)] += 1
        stack = []
    if stack:
        counts[categorize(stack)] += 1
    return counts


SELF_TEST = """\
node 1 1.0: 1 cpu-clock:
\t1 <&curve25519_dalek::field::FieldElement as Mul>::mul (ocr-node)
\t2 ocr_core::signing::verify (ocr-node)
\t3 ocr_node::driver::Running<ocr_node::storage::SledStorage, ocr_net::network::InstanceSender>::perform (ocr-node)

node 1 2.0: 1 cpu-clock:
\t1 __memmove_avx_unaligned (libc.so.6)
\t2 ocr_node::driver::Running<ocr_node::storage::SledStorage, ocr_net::network::InstanceSender>::perform (ocr-node)
\t3 tokio::runtime::task::harness::poll (ocr-node)

node 1 3.0: 1 cpu-clock:
\t1 ext4_sync_file ([kernel.kallsyms])
\t2 ocr_node::storage::SledStorage::sync_files (ocr-node)

node 1 4.0: 1 cpu-clock:
\t1 core::ptr::drop_in_place<alloc::vec::Vec<u8>> (ocr-node)

node 1 5.0: 1 cpu-clock:
\t1 futex_wait ([kernel.kallsyms])
\t2 tokio::runtime::scheduler::multi_thread::worker::Context::park_internal (ocr-node)
\t3 tokio::runtime::task::harness::poll (ocr-node)
"""


def self_test():
    counts = breakdown(SELF_TEST.splitlines(keepends=True))
    # Generic arguments naming SledStorage do not make driver code storage,
    # and the runtime at the root of every stack does not make it scheduling.
    expected = {
        "signatures (Ed25519)": 1,
        "scheduling and wakeups (tokio, futex)": 1,
        "storage (sled, fsync)": 1,
        OTHER: 2,
    }
    assert dict(counts) == expected, dict(counts)
    print("profile-breakdown self-test passed")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    counts = breakdown(sys.stdin)
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
