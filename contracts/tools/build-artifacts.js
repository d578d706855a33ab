#!/usr/bin/env node
// Deterministic build of the committed artifact artifacts/OCR3MedianAggregator.json
// with solc-js (npm `solc`, pinned in package-lock.json) and fixed settings.
//
//   node tools/build-artifacts.js           write the artifact
//   node tools/build-artifacts.js --check   recompile, exit 1 if the committed
//                                           artifact differs from the sources
//
// The settings match foundry.toml (optimizer on, 200 runs, evmVersion cancun),
// so the bytecode the Foundry tests exercise is the one committed (forge's
// build produces byte-identical code; test/Artifact.t.sol checks that and runs
// the evm.json vectors against the committed bytecode).
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const ROOT = path.resolve(__dirname, '..');
const ARTIFACT = path.join(ROOT, 'artifacts', 'OCR3MedianAggregator.json');
const CONTRACT = { source: 'src/OCR3MedianAggregator.sol', name: 'OCR3MedianAggregator' };
const COMPILER = '0.8.30';
const COMPILER_LONG = '0.8.30+commit.73712a01';
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  viaIR: false,
  metadata: { bytecodeHash: 'ipfs', appendCBOR: true },
  remappings: [],
  libraries: {},
};

function die(msg) {
  process.stderr.write('build-artifacts: ' + msg + '\n');
  process.exit(1);
}

let solc;
try {
  solc = require(path.join(ROOT, 'node_modules', 'solc'));
} catch (e) {
  die('cannot load solc-js from contracts/node_modules (run `npm ci` in contracts/): ' + e.message);
}
if (!solc.version().startsWith(COMPILER_LONG + '.')) {
  die('expected solc ' + COMPILER_LONG + ', found ' + solc.version() + ' (run `npm ci`)');
}

// All sources under src/, sorted, with '/'-separated relative names.
function listSources(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(p));
    else if (entry.name.endsWith('.sol')) out.push(p);
  }
  return out;
}
const sourceFiles = listSources(path.join(ROOT, 'src'))
  .map((p) => path.relative(ROOT, p).split(path.sep).join('/'))
  .sort();

const sources = {};
const sourceHashes = {};
for (const name of sourceFiles) {
  // Normalise line endings so a CRLF checkout builds the same bytes.
  const content = fs.readFileSync(path.join(ROOT, name), 'utf8').replace(/\r\n/g, '\n');
  sources[name] = { content };
  sourceHashes[name] = 'sha256:' + crypto.createHash('sha256').update(content, 'utf8').digest('hex');
}

const input = {
  language: 'Solidity',
  sources,
  settings: Object.assign({}, SETTINGS, {
    outputSelection: {
      [CONTRACT.source]: {
        [CONTRACT.name]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object',
          'evm.deployedBytecode.immutableReferences'],
      },
    },
  }),
};

// solc-js may print notes with console.log; keep them off stdout.
console.log = (...a) => process.stderr.write(a.join(' ') + '\n');
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) {
  process.stderr.write(e.formattedMessage || e.message);
}
if (errors.length > 0) die('compilation failed');

const c = output.contracts[CONTRACT.source][CONTRACT.name];
const artifact = {
  contractName: CONTRACT.name,
  sourceName: CONTRACT.source,
  compiler: COMPILER,
  compilerVersion: COMPILER_LONG,
  settings: SETTINGS,
  sources: sourceHashes,
  abi: c.abi,
  bytecode: '0x' + c.evm.bytecode.object,
  deployedBytecode: '0x' + c.evm.deployedBytecode.object,
  // Offsets of immutables (owner, decimals) in deployedBytecode: zero there,
  // filled in by the constructor at deployment.
  immutableReferences: c.evm.deployedBytecode.immutableReferences,
};
const text = JSON.stringify(artifact, null, 2) + '\n';

if (process.argv.includes('--check')) {
  let committed;
  try {
    committed = fs.readFileSync(ARTIFACT, 'utf8').replace(/\r\n/g, '\n');
  } catch (e) {
    die('--check: ' + path.relative(ROOT, ARTIFACT) + ' is missing; run `node tools/build-artifacts.js`');
  }
  if (committed !== text) {
    let differing = [];
    try {
      const old = JSON.parse(committed);
      differing = Object.keys(artifact).filter(
        (k) => JSON.stringify(old[k]) !== JSON.stringify(artifact[k]));
    } catch (_) {
      differing = ['(unparseable JSON)'];
    }
    die('--check: ' + path.relative(ROOT, ARTIFACT) + ' is out of date (differs in: ' +
      (differing.join(', ') || 'formatting') + '); run `node tools/build-artifacts.js` and commit it');
  }
  process.stdout.write('build-artifacts: ' + path.relative(ROOT, ARTIFACT) + ' matches the sources (solc ' +
    COMPILER_LONG + ', ' + sourceFiles.length + ' sources, runtime ' +
    (artifact.deployedBytecode.length - 2) / 2 + ' bytes)\n');
} else {
  fs.mkdirSync(path.dirname(ARTIFACT), { recursive: true });
  fs.writeFileSync(ARTIFACT, text);
  process.stdout.write('build-artifacts: wrote ' + path.relative(ROOT, ARTIFACT) + ' (runtime ' +
    (artifact.deployedBytecode.length - 2) / 2 + ' bytes)\n');
}
