#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while, then minimises what it found
# back into the repo's corpus directories.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS (default 600) is the time per target; TARGETs (default: all of
# decode_message, decode_storage, decode_stream, parse_config) pick some. One fuzzer
# process at a time. Each target fuzzes a scratch corpus outside the repo
# ($FUZZ_WORK/<target>, seeded from the repo corpus) so libFuzzer's
# thousands of files never land in the tree; afterwards `-merge=1` keeps the
# inputs that add coverage in a fresh directory that replaces the repo
# corpus. Hand-written seeds (files not named by a 40-hex sha1, as libFuzzer
# names its own) are always kept. If the merge keeps more than
# FUZZ_MAX_FILES files (default 300) it is redone counting edges only, not
# hit counts. FUZZ_MERGE=0 skips the merge, and so does a crash.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). On a stable
# toolchain RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly flags
# (-Zsanitizer=address, sancov); this script sets it.
#
# Environment: FUZZ_TARGET_DIR (cargo target dir of the fuzz builds,
# default $HOME/.cache/ocr3-wasm/fuzz-target, apart from the main one since
# the instrumented flags differ), FUZZ_WORK (scratch corpora and logs,
# default ${TMPDIR:-/tmp}/ocr3-fuzz), FUZZ_ARGS (more libFuzzer flags).
# Exits 1 if any target crashed; the crashing input is in
# host/<crate>/fuzz/artifacts/<target>/ and the log in $FUZZ_WORK/logs/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-600}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]  (SECONDS a positive integer, default 600)" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cat >&2 <<'EOF'
error: cargo-fuzz is missing (`cargo fuzz` does not run).
Install it from crates.io with:

    cargo install cargo-fuzz --locked

then run this script again. A stable toolchain is enough: the script sets
RUSTC_BOOTSTRAP=1 for cargo-fuzz's nightly flags.
EOF
    exit 1
fi

export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/ocr3-wasm/fuzz-target}"
work="${FUZZ_WORK:-${TMPDIR:-/tmp}/ocr3-fuzz}"
mkdir -p "$work/logs"
max_files="${FUZZ_MAX_FILES:-300}"
triple="$(rustc -vV | sed -n 's/^host: //p')"

# target -> fuzz crate directory
declare -A crate=(
    [decode_message]="host/core/fuzz"
    [decode_storage]="host/core/fuzz"
    [decode_stream]="host/net/fuzz"
    [parse_config]="host/node/fuzz"
)
all=(decode_message decode_storage decode_stream parse_config)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
    [ -n "${crate[$t]:-}" ] || { echo "unknown target $t (known: ${all[*]})" >&2; exit 2; }
done

crashed=()
summary=()
for t in "${targets[@]}"; do
    dir="$root/${crate[$t]}"
    corpus="$dir/corpus/$t"
    scratch="$work/$t"
    log="$work/logs/$t.log"
    mkdir -p "$corpus" "$scratch"
    echo "=== $t: building (${crate[$t]})"
    (cd "$dir" && cargo fuzz build --target-dir "$target_dir" "$t")
    echo "=== $t: fuzzing for ${seconds}s, scratch corpus $scratch, log $log"
    # One process: no -jobs/-workers (with -jobs libFuzzer forks a child and
    # writes its output to fuzz-N.log in the current directory instead).
    # shellcheck disable=SC2086
    if (cd "$dir" && cargo fuzz run --target-dir "$target_dir" "$t" "$scratch" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 ${FUZZ_ARGS:-}) >"$log" 2>&1; then
        status="no crash"
    else
        status="CRASH (exit $?, see $log and ${crate[$t]}/artifacts/$t/)"
        crashed+=("$t")
    fi
    grep -E '^(#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)|Done [0-9]+ runs|stat::)' "$log" | tail -8 || true
    if [ "${FUZZ_MERGE:-1}" != 0 ] && [ "$status" = "no crash" ]; then
        fresh="$work/$t.merged"
        rm -rf "$fresh"
        mkdir -p "$fresh"
        # Hand-written seeds first, so the merge keeps them.
        find "$corpus" -maxdepth 1 -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$fresh/" \;
        binary="$target_dir/$triple/release/$t"
        "$binary" -merge=1 "$fresh" "$scratch" "$corpus" >"$work/logs/$t.merge.log" 2>&1
        if [ "$(find "$fresh" -type f | wc -l)" -gt "$max_files" ]; then
            # Too many files: keep one input per new edge instead of one per
            # new hit-count bucket. Every covered edge stays covered.
            find "$fresh" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
            "$binary" -merge=1 -use_counters=0 "$fresh" "$scratch" "$corpus" >"$work/logs/$t.merge.log" 2>&1
        fi
        rm -rf "$corpus"
        mv "$fresh" "$corpus"
    fi
    files=$(find "$corpus" -type f | wc -l)
    size=$(du -sh "$corpus" | cut -f1)
    line="$t: $status; ${crate[$t]}/corpus/$t: $files files, $size"
    echo "=== $line"
    summary+=("$line")
done

echo
echo "=== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#crashed[@]} -gt 0 ]; then
    echo "crashed: ${crashed[*]}" >&2
    exit 1
fi
