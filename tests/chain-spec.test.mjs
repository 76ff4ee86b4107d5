// The committed chain-specs/local.json is what `opg-node export-chain-spec --chain local` prints
// now; a test fails as soon as the runtime's preset changes without the spec being regenerated
// (`scripts/gen-chain-specs.sh`).
//
// The wasm `code` is compared as "present" only: its bytes depend on build features
// (`fast-runtime`) and paths, so the committed spec carries the production runtime's code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runNodeCommand } from './lib/node.mjs';

function withoutCode(spec) {
  const copy = structuredClone(spec);
  const code = copy.genesis?.runtimeGenesis?.code;
  // A wasm module (`\0asm`) or one compressed by sp-maybe-compressed-blob (its zstd magic prefix).
  assert.ok(/^0x(0061736d|52bc537646db8e05)/i.test(code ?? ''), 'spec carries a wasm runtime');
  delete copy.genesis.runtimeGenesis.code;
  return copy;
}

test('chain-specs/local.json is up to date with the local_testnet preset', () => {
  const exported = JSON.parse(runNodeCommand(['export-chain-spec', '--chain', 'local']));
  const committed = JSON.parse(readFileSync(join(REPO_ROOT, 'chain-specs', 'local.json'), 'utf8'));
  assert.deepEqual(
    withoutCode(committed),
    withoutCode(exported),
    'chain-specs/local.json is stale: run scripts/gen-chain-specs.sh and commit the result',
  );
});

test('exported specs advertise OPG, 18 decimals, ss58 42', () => {
  for (const chain of ['local', 'dev']) {
    const spec = JSON.parse(runNodeCommand(['export-chain-spec', '--chain', chain]));
    assert.deepEqual(spec.properties, { ss58Format: 42, tokenDecimals: 18, tokenSymbol: 'OPG' }, chain);
  }
  const local = JSON.parse(runNodeCommand(['export-chain-spec', '--chain', 'local']));
  const patch = local.genesis.runtimeGenesis.patch;
  assert.equal(patch.babe.authorities.length, 4, 'four BABE authorities');
  assert.equal(patch.grandpa.authorities.length, 4, 'four GRANDPA authorities');
});
