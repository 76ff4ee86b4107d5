// The `local` chain with its four validators (Alice, Bob, Charlie, Dave) as four real opg-node
// processes on loopback (fast-runtime build: 2 s slots). GRANDPA needs more than 2/3 of the
// voters, so the network must keep finalizing after one validator is killed with SIGKILL; the
// killed node, restarted on its base path, must still hold its blocks and catch up.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpgNode, stopAll, waitForHeader } from './lib/node.mjs';

const VALIDATORS = ['alice', 'bob', 'charlie', 'dave'];
const nodes = {};

async function finalizedNumber(api) {
  const hash = await api.rpc.chain.getFinalizedHead();
  return (await api.rpc.chain.getHeader(hash)).number.toNumber();
}

before(async () => {
  // Alice is the bootnode of the others.
  nodes.alice = await new OpgNode('alice', ['--chain', 'local', '--alice']).start();
  const bootnode = nodes.alice.bootnode;
  for (const name of VALIDATORS.slice(1)) {
    // Each validator's session keys come from its dev seed (`--bob` etc. insert them).
    nodes[name] = await new OpgNode(name, ['--chain', 'local', `--${name}`, '--bootnodes', bootnode]).start();
  }
});

after(async () => {
  await stopAll();
});

test('four validators produce and finalize blocks', async () => {
  const api = await nodes.alice.api();
  assert.equal((await api.rpc.system.chain()).toString(), 'OPG Local Testnet');
  const authorities = await api.query.babe.authorities();
  assert.equal(authorities.length, 4);
  const grandpa = await api.call.grandpaApi.grandpaAuthorities();
  assert.equal(grandpa.length, 4);

  const header = await waitForHeader(api, { finalized: true, timeoutMs: 120_000 }, (h) => h.number.toNumber() >= 5);
  assert.ok(header.number.toNumber() >= 5);
  const health = await api.rpc.system.health();
  assert.equal(health.peers.toNumber(), 3, 'Alice sees the three other validators');

  // Blocks come from more than one author: BABE assigns slots to all four.
  const authors = new Set();
  for (let n = 1; n <= header.number.toNumber(); n += 1) {
    const hash = await api.rpc.chain.getBlockHash(n);
    const digest = (await api.rpc.chain.getHeader(hash)).digest.logs.find((l) => l.isPreRuntime);
    const preDigest = api.registry.createType('RawBabePreDigest', digest.asPreRuntime[1]);
    authors.add(preDigest.value.authorityIndex.toNumber());
  }
  assert.ok(authors.size >= 2, `blocks authored by ${authors.size} validators`);
});

test('finality continues with one of four validators killed, and the killed node recovers', async () => {
  const alice = await nodes.alice.api();
  const dave = await nodes.dave.api();

  // Dave has synced; remember a block he holds.
  const daveBest = await waitForHeader(dave, { finalized: true, timeoutMs: 60_000 }, (h) => h.number.toNumber() >= 3);
  const heldNumber = daveBest.number.toNumber();
  const heldHash = daveBest.hash.toHex();

  await nodes.dave.kill('SIGKILL');
  const finalizedAtKill = await finalizedNumber(alice);

  // Three of four voters are more than two thirds: finality must advance by several blocks.
  const target = finalizedAtKill + 5;
  const advanced = await waitForHeader(alice, { finalized: true, timeoutMs: 120_000 }, (h) => h.number.toNumber() >= target);
  assert.ok(advanced.number.toNumber() >= target, 'finality advanced without Dave');

  // Restart Dave on the same base path: his database still has the blocks he had.
  nodes.dave = await new OpgNode('dave-restarted', nodes.dave.extraArgs, { basePath: nodes.dave.basePath }).start();
  const daveAgain = await nodes.dave.api();
  assert.equal((await daveAgain.rpc.chain.getBlockHash(heldNumber)).toHex(), heldHash, 'Dave kept his blocks');

  // And he catches up with the network's finalized chain.
  const networkFinalized = await finalizedNumber(alice);
  const caughtUp = await waitForHeader(daveAgain, { finalized: true, timeoutMs: 120_000 }, (h) => h.number.toNumber() >= networkFinalized);
  const n = caughtUp.number.toNumber();
  assert.equal(
    (await daveAgain.rpc.chain.getBlockHash(n)).toHex(),
    (await alice.rpc.chain.getBlockHash(n)).toHex(),
    'Dave and Alice agree on the finalized chain',
  );
});
