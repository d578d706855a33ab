#!/usr/bin/env bash
# Shows that the simulator's checks can fail. Each patch in
# scripts/injected-bugs/ plants one bug in the consensus core (a quorum one
# too small, a Commit sent before its lock is persisted, certificate or
# report signatures left unchecked). For each, on a scratch worktree of HEAD
# (the checkout itself is never touched), this builds ocr-sim with the bug
# and runs it over every fault class; the bug is caught when the run fails
# and every failure shows the violation the patch's "Expect:" line names.
# Prints, per bug, the first violation and how many scenarios failed, and
# exits non-zero if any bug went unnoticed.
#
#   scripts/inject-bugs.sh            # SEEDS=20 per class, n = 4 and 7
#   SEEDS=100 scripts/inject-bugs.sh quorum-one-too-small   # only the bugs named
#   BUILD_ONLY=1 scripts/inject-bugs.sh   # each patch still applies and compiles (CI)
set -euo pipefail

root=$(git rev-parse --show-toplevel)
seeds=${SEEDS:-20}
target=${CARGO_TARGET_DIR:-$root/target}/injected-bugs
work=$(mktemp -d)
cleanup() {
    git -C "$root" worktree remove --force "$work/tree" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
git -C "$root" worktree add --quiet --detach "$work/tree" HEAD

missed=0
patches=("$root"/scripts/injected-bugs/*.patch)
if [ $# -gt 0 ]; then
    patches=()
    for name in "$@"; do patches+=("$root/scripts/injected-bugs/$name.patch"); done
fi
for patch in "${patches[@]}"; do
    name=$(basename "$patch" .patch)
    git -C "$work/tree" checkout --quiet -- .
    git -C "$work/tree" apply "$patch"
    if [[ ${BUILD_ONLY:-0} == 1 ]]; then
        CARGO_TARGET_DIR=$target cargo check --quiet --release -p ocr-sim --manifest-path "$work/tree/Cargo.toml"
        echo "$name: applies to HEAD and compiles"
        continue
    fi
    CARGO_TARGET_DIR=$target cargo build --quiet --release -p ocr-sim --manifest-path "$work/tree/Cargo.toml"
    started=$(date +%s)
    if "$target/release/ocr-sim" --seeds "$seeds" --nodes 4,7 --faults all >"$work/$name.out" 2>"$work/$name.err"; then
        echo "$name: NOT caught ($(tail -n 1 "$work/$name.out"))"
        missed=1
    else
        # Caught by the check the bug defeats, not by anything else: the
        # patch's "Expect:" line names the violation every failure must show.
        expect=$(sed -n 's/^Expect: //p' "$patch")
        failed=$(grep -c '^FAILED' "$work/$name.err" || true)
        expected=$(grep '^FAILED' "$work/$name.err" | grep -c -- "\"$expect" || true)
        first=$(grep -m 1 '^FAILED' "$work/$name.err" | cut -c 1-300)
        if [ "$failed" -eq 0 ] || [ "$expected" -ne "$failed" ]; then
            echo "$name: failed, but not (only) by \"$expect\" violations ($expected of $failed): $first"
            missed=1
        else
            echo "$name: caught in $(($(date +%s) - started)) s by \"$expect\" violations in $failed scenarios; first: $first"
        fi
        grep -E '^[a-z]+ +[0-9]+ +[0-9]+ ' "$work/$name.out" | awk '$3 > 0 { printf "    %s: %s of %s scenarios failed\n", $1, $3, $2 }'
    fi
done
exit $missed
