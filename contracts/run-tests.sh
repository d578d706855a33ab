#!/usr/bin/env bash
# Runs the contract checks from a fresh clone; needs only node and npm.
#   1. npm ci (pinned solc-js 0.8.30, forge/anvil 1.7.1) if node_modules is missing
#   2. forge test --offline, with the gas report and the transmit gas logs
#   3. node tools/build-artifacts.js --check (committed artifact == sources)
# Extra arguments go to forge test (e.g. ./run-tests.sh --match-test vector).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() {
    echo "run-tests.sh: error: $*" >&2
    exit 1
}

command -v node >/dev/null 2>&1 || die "node is not installed (needed for solc-js and the artifact build)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (needed to install the pinned toolchain)"
case "$(uname -s)/$(uname -m)" in
    Linux/x86_64 | Linux/amd64) ;;
    *) die "the pinned forge/anvil packages are linux-amd64 only; this is $(uname -s)/$(uname -m)" ;;
esac

FORGE=node_modules/@foundry-rs/forge-linux-amd64/bin/forge
ANVIL=node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil

if [ ! -d node_modules ] || [ ! -f "$FORGE" ] || [ ! -f node_modules/solc/package.json ]; then
    echo "run-tests.sh: installing pinned npm packages (npm ci)..."
    npm ci --no-audit --no-fund ||
        die "npm ci failed: could not install solc@0.8.30 and @foundry-rs/{forge,anvil}-linux-amd64@1.7.1 from package-lock.json (is the npm registry reachable?)"
fi
# npm does not run install scripts here and may drop the executable bits.
chmod +x "$FORGE" "$ANVIL" tools/solc tools/build-artifacts.js
"$FORGE" --version >/dev/null 2>&1 || die "$FORGE does not run on this machine"
tools/solc --version | grep -q '^Version: 0\.8\.30+commit\.73712a01' ||
    die "tools/solc does not report solc 0.8.30 (node_modules/solc broken? try: rm -rf node_modules && npm ci)"

echo "run-tests.sh: forge test"
"$FORGE" test --offline --gas-report -vv "$@" || die "forge test failed"

echo "run-tests.sh: artifact check"
node tools/build-artifacts.js --check || die "artifact check failed"

echo "run-tests.sh: all contract checks passed"
