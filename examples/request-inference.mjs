// What a dApp does to get an inference from OPG chain: find a model in the registry, request an
// inference (the fee is held in escrow), wait until the validators' nodes have run it and the
// chain has settled the task, and read the result.
//
//   node examples/request-inference.mjs [ws://127.0.0.1:9944]
//
// Every type comes from the chain's metadata: no type definitions here. The requester is `$SURI`,
// by default the development account //Ferdie (funded on the local network).

import { ApiPromise, Keyring, WsProvider } from '@polkadot/api';
import { u8aToHex } from '@polkadot/util';

const url = process.argv[2] ?? 'ws://127.0.0.1:9944';
const suri = process.env.SURI ?? '//Ferdie';

// The demo model classifies 8×8 images of digits: 64 pixels (0..16, scaled to [0, 1]) in, one
// score per digit out. This image is a 7 (sample 7 of scikit-learn's `load_digits`).
const SEVEN = [
  0, 0, 7, 8, 13, 16, 15, 1,
  0, 0, 7, 7, 4, 11, 12, 0,
  0, 0, 0, 0, 8, 13, 1, 0,
  0, 4, 8, 8, 15, 15, 6, 0,
  0, 2, 11, 15, 15, 4, 0, 0,
  0, 0, 0, 16, 5, 0, 0, 0,
  0, 0, 9, 15, 1, 0, 0, 0,
  0, 0, 13, 5, 0, 0, 0, 0,
];

/** `amount` (in the token's smallest unit) in whole tokens, with the chain's own decimals and
 * symbol. */
function tokens(api, amount) {
  const decimals = api.registry.chainDecimals[0];
  const value = Number(BigInt(amount.toString()) * 1_000_000n / 10n ** BigInt(decimals)) / 1_000_000;
  return `${value} ${api.registry.chainTokens[0]}`;
}

/** The id and entry of the active model named `name`. */
async function findModel(api, name) {
  for (const [key, entry] of await api.query.models.models.entries()) {
    const model = entry.unwrap();
    if (model.name.toUtf8() === name && model.status.isActive) return [key.args[0].toNumber(), model];
  }
  throw new Error(`no active model named ${name}: start the network with scripts/start-local.sh, which registers it`);
}

/** Sends the request and resolves with the task id from the `TaskCreated` event of its block. */
function request(api, signer, modelId, input, maxFee) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const tx = api.tx.inference.requestInference(modelId, input, maxFee, null /* the model's redundancy */);
    tx.signAndSend(signer, ({ status, events, dispatchError }) => {
      if (!status.isInBlock) return;
      unsubscribe();
      if (dispatchError) {
        const { section, name } = dispatchError.isModule ? api.registry.findMetaError(dispatchError.asModule) : {};
        return reject(new Error(`request failed: ${section ? `${section}.${name}` : dispatchError}`));
      }
      const created = events.find(({ event }) => api.events.inference.TaskCreated.is(event)).event;
      console.log(`Task ${created.data.taskId} requested in block ${status.asInBlock.toHex()}, ${tokens(api, created.data.fee)} in escrow`);
      return resolve(created.data.taskId.toNumber());
    }).then((u) => { unsubscribe = u; }, reject);
  });
}

/**
 * Resolves with the event that ended task `taskId` (TaskSettled, TaskFailed or TaskCancelled):
 * at every new block, reads the task's status; once it has ended, reads the events of the block
 * it ended in (its status says which).
 */
function waitForEnd(api, taskId, timeoutMs = 5 * 60_000) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    let done = false;
    let last = '';
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`task ${taskId} did not end within ${timeoutMs / 1000} s`)); }, timeoutMs);
    api.rpc.chain.subscribeNewHeads(async (header) => {
      const task = (await api.query.inference.tasks.at(header.hash, taskId)).unwrap();
      if (done) return;
      if (task.status.type !== last) {
        last = task.status.type;
        const deadline = task.status.isCommitting ? `, ${task.executors.length} executors, commit deadline #${task.status.asCommitting.commitDeadline}`
          : task.status.isRevealing ? `, reveal deadline #${task.status.asRevealing.revealDeadline}` : '';
        console.log(`  block #${header.number}: ${last}${deadline}`);
      }
      if (task.status.isQueued || task.status.isCommitting || task.status.isRevealing) return;
      done = true;
      unsubscribe();
      clearTimeout(timer);
      const endedIn = await api.rpc.chain.getBlockHash(task.status.value.at);
      const events = await api.query.system.events.at(endedIn);
      const ended = events.find(({ event }) => event.section === 'inference'
        && ['TaskSettled', 'TaskFailed', 'TaskCancelled'].includes(event.method)
        && event.data.taskId.toNumber() === taskId);
      resolve({ event: ended.event, task });
    }).then((u) => { unsubscribe = u; }, reject);
  });
}

async function main() {
  const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
  const requester = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri(suri);

  // 1. The model: its id, fee, and how many validators run each task.
  const [modelId, model] = await findModel(api, 'demo-mlp');
  console.log(`Model ${modelId} (${model.name.toUtf8()}): ${model.redundancy} executors, ${tokens(api, model.feePerExecutor)} each`);

  // 2. The input: 64 little-endian f32, as hex (raw bytes for a `Vec<u8>` argument).
  const input = u8aToHex(new Uint8Array(Float32Array.from(SEVEN, (p) => p / 16).buffer));

  // 3. The most we pay: the executors' fees plus the protocol fee on top (rounded up).
  const fees = model.feePerExecutor.toBigInt() * model.redundancy.toBigInt();
  const maxFee = fees + (fees * api.consts.inference.protocolFee.toBigInt() + 999_999_999n) / 1_000_000_000n;

  // 4. Request, then wait while the validators' nodes commit and reveal.
  const taskId = await request(api, requester, modelId, input, maxFee);
  const { event, task } = await waitForEnd(api, taskId);

  // 5. The result.
  if (api.events.inference.TaskSettled.is(event)) {
    const bytes = event.data.output.toU8a(true);
    const scores = Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
    // What the quorum attests: the model's `Argmax` rule makes it the class index (a u32).
    const canonical = event.data.canonical.toU8a(true);
    const predicted = new DataView(canonical.buffer, canonical.byteOffset, canonical.length).getUint32(0, true);
    console.log(`\nTask ${taskId} settled by ${task.executors.filter((e) => e.revealed.isSome).length} validators (digest ${event.data.digest.toHex()})`);
    console.log(`Scores as computed by ${event.data.publisher.toString()} (the first of the quorum in draw order):`);
    scores.forEach((score, digit) => console.log(`  ${digit}: ${score.toPrecision(6)}${digit === predicted ? '  <- attested class' : ''}`));
    console.log(`Predicted digit (attested by the quorum): ${predicted}`);
    console.log(`Paid ${tokens(api, event.data.paid)} to the executors, ${tokens(api, event.data.protocolFee)} protocol fee, ${tokens(api, event.data.refunded)} refunded`);
  } else {
    const reason = event.data.reason ? ` (${event.data.reason.type})` : '';
    console.log(`\nTask ${taskId} ended with ${event.method}${reason}: ${tokens(api, event.data.refunded)} refunded`);
    process.exitCode = 1;
  }
  await api.disconnect();
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
