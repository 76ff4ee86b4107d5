// A dApp asks OPG chain's validators to answer a chat message with SmolLM2-135M-Instruct: it
// requests a generation (the fee, with the token fees for the model's limits, is held in escrow),
// waits until three validators' nodes have generated the same tokens and the chain has settled
// the task, and prints the answer, its tokens and what was paid and refunded.
//
//   node examples/chat.mjs [ws://127.0.0.1:9944] ["Your message"]
//
// Every type comes from the chain's metadata, except the revealed generation, a SCALE
// `(u32 prompt tokens, Vec<u32> token ids, String text)` carried as bytes. The requester is
// `$SURI`, by default the development account //Ferdie (funded on the local network).

import { ApiPromise, Keyring, WsProvider } from '@polkadot/api';
import { stringToHex } from '@polkadot/util';

const url = process.argv[2] ?? 'ws://127.0.0.1:9944';
const message = process.argv[3] ?? 'What is the capital of France?';
const suri = process.env.SURI ?? '//Ferdie';

/** `amount` in whole tokens, with the chain's own decimals and symbol. */
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

/** The most a task can cost: per executor its fee and the token fees of the longest prompt and
 * answer, times the executors, plus the protocol fee (rounded up). The unused part is refunded. */
function maxFeeOf(api, model) {
  const { maxPromptTokens, maxNewTokens } = model.descriptor.architecture.asCausalLm.generation;
  let perExecutor = model.feePerExecutor.toBigInt();
  if (model.tokenFees.isSome) {
    const prices = model.tokenFees.unwrap();
    perExecutor += prices.perPromptToken.toBigInt() * maxPromptTokens.toBigInt()
      + prices.perGeneratedToken.toBigInt() * maxNewTokens.toBigInt();
  }
  const fees = perExecutor * model.redundancy.toBigInt();
  return fees + (fees * api.consts.inference.protocolFee.toBigInt() + 999_999_999n) / 1_000_000_000n;
}

/** Sends the request; resolves with the task id and the block it is in. */
function request(api, signer, modelId, input, maxFee) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    api.tx.inference.requestInference(modelId, input, maxFee, null).signAndSend(signer, ({ status, events, dispatchError }) => {
      if (!status.isInBlock) return;
      unsubscribe();
      if (dispatchError) {
        const { section, name } = dispatchError.isModule ? api.registry.findMetaError(dispatchError.asModule) : {};
        return reject(new Error(`request failed: ${section ? `${section}.${name}` : dispatchError}`));
      }
      const created = events.find(({ event }) => api.events.inference.TaskCreated.is(event)).event;
      console.log(`Task ${created.data.taskId} requested, ${tokens(api, created.data.fee)} in escrow`);
      return resolve(created.data.taskId.toNumber());
    }).then((u) => { unsubscribe = u; }, reject);
  });
}

/** Resolves with the event that ended task `taskId`, reading its status at every new block. */
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
        console.log(`  block #${header.number}: ${last}`);
      }
      if (task.status.isQueued || task.status.isCommitting || task.status.isRevealing) return;
      done = true;
      unsubscribe();
      clearTimeout(timer);
      const events = await api.query.system.events.at(await api.rpc.chain.getBlockHash(task.status.value.at));
      const ended = events.find(({ event }) => event.section === 'inference'
        && ['TaskSettled', 'TaskRejected', 'TaskFailed', 'TaskCancelled'].includes(event.method)
        && event.data.taskId.toNumber() === taskId);
      resolve({ event: ended.event, task });
    }).then((u) => { unsubscribe = u; }, reject);
  });
}

async function main() {
  const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
  const requester = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri(suri);

  const [modelId, model] = await findModel(api, 'smollm2-135m-instruct');
  const { maxPromptTokens, maxNewTokens } = model.descriptor.architecture.asCausalLm.generation;
  console.log(`Model ${modelId}: ${model.redundancy} executors, prompts of up to ${maxPromptTokens} tokens, answers of up to ${maxNewTokens}`);

  // The input: the chat messages as JSON (UTF-8 bytes); the model's chat template renders them.
  const input = stringToHex(JSON.stringify([{ role: 'user', content: message }]));
  const taskId = await request(api, requester, modelId, input, maxFeeOf(api, model));
  const { event, task } = await waitForEnd(api, taskId);

  if (api.events.inference.TaskSettled.is(event)) {
    const [promptTokens, ids, text] = api.createType('(u32, Vec<u32>, Text)', event.data.output.toU8a(true));
    const revealed = task.executors.filter((e) => e.revealed.isSome).length;
    console.log(`\n${message}\n> ${text.toString().trim()}\n`);
    console.log(`Settled by ${revealed} validators that generated the same ${ids.length} tokens from ${promptTokens} prompt tokens (digest ${event.data.digest.toHex()})`);
    console.log(`Token ids: [${ids.map((id) => id.toNumber()).join(', ')}]`);
    console.log(`Paid ${tokens(api, event.data.paid)} to the executors, ${tokens(api, event.data.protocolFee)} protocol fee, ${tokens(api, event.data.refunded)} refunded`);
  } else {
    const why = event.data.rejection ? ` (${event.data.rejection.type})` : event.data.reason ? ` (${event.data.reason.type})` : '';
    console.log(`\nTask ${taskId} ended with ${event.method}${why}: ${tokens(api, event.data.refunded)} refunded`);
    process.exitCode = 1;
  }
  await api.disconnect();
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
