// Sets up the local network of scripts/start-local.sh so that a newcomer's first inference request
// just works: registers the demo MLP and SmolLM2-135M-Instruct (Alice owns them), registers Alice,
// Bob, Charlie and Dave as validators serving them, links and funds their inference keys (the `opgi` keys start-local.sh put
// in their keystores), and lets Eve delegate to Bob. Idempotent: against a network set up before,
// it submits nothing. Prints what is set up.
//
// Usage: node scripts/setup-local.mjs [ws://127.0.0.1:9944]
// (start-local.sh runs it; @polkadot/api comes from tests/node_modules through tests/lib.)

import {
  DEMO_MLP, SMOLLM2_GGUF, VALIDATORS, connect, llmModel, mlpModel, setupChain,
} from '../tests/lib/network.mjs';
import { OPG, dev } from '../tests/lib/chain.mjs';

const url = process.argv[2] ?? 'ws://127.0.0.1:9944';
const opg = (amount) => `${(Number(amount / 10n ** 15n) / 1000).toLocaleString('en')} OPG`;

async function main() {
  const api = await connect(url);
  // The validators must be finalizing blocks before set-up transactions can be.
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no block finalized within 120 s: are all four nodes up?')), 120_000);
    api.rpc.chain.subscribeFinalizedHeads((h) => {
      if (h.number.toNumber() >= 1) { clearTimeout(timer); resolve(); }
    });
  });
  console.log(`Setting up ${(await api.rpc.system.chain()).toString()} at ${url}`);

  const demo = mlpModel({ name: 'demo-mlp', ...DEMO_MLP });
  // Chat, greedy, prompts of up to 512 tokens and answers of up to 128; 0.5 OPG per task and
  // executor, plus 0.001 OPG per prompt token and 0.01 OPG per generated token.
  const smollm2 = llmModel({
    name: 'smollm2-135m-instruct', gguf: SMOLLM2_GGUF, fee: OPG / 2n, maxPromptTokens: 512, maxNewTokens: 128,
    tokenFees: { perPromptToken: OPG / 1000n, perGeneratedToken: OPG / 100n },
  });
  const setup = await setupChain(api, {
    models: [demo, smollm2],
    delegations: [['Eve', 'Bob', 100n * OPG]],
    requireInferenceKeys: false,
    log: (line) => console.log(line),
  });
  const id = setup.models['demo-mlp'];
  const model = (await api.query.models.models(id)).unwrap();
  const servers = (await api.query.models.servers(id)).map((a) => a.toString());

  console.log(setup.submitted.length ? `\nSet up (${setup.submitted.length} transactions).` : '\nAlready set up: nothing to submit.');
  console.log(`
Model ${id}: demo-mlp (digit classifier: 64 f32 in, 10 logits out)
  weights ${demo.hashes.weights}
  config  ${demo.hashes.config}
  engine profile ${model.descriptor.profile.kernels.type} in ${model.descriptor.profile.dtype.type}
  fee ${opg(model.feePerExecutor.toBigInt())} per executor, redundancy ${model.redundancy}, quorum ${model.quorum}, compared by ${model.comparison.type}
  served by ${VALIDATORS.filter((v) => servers.includes(dev(v).address)).join(', ')}
Validators (inference key: account that signs their nodes' commits and reveals):`);
  for (const v of VALIDATORS) {
    const info = (await api.query.inferenceStaking.validators(dev(v).address)).unwrap();
    const keyFree = (await api.query.system.account(setup.keys[v])).data.free.toBigInt();
    const linked = setup.keysLinked && (await api.query.inference.inferenceKeys(dev(v).address)).isSome;
    console.log(`  ${v.padEnd(8)} bond ${opg(info.selfStake.principal.toBigInt())}, key ${setup.keys[v]} (${linked ? 'linked' : 'NOT linked'}, ${opg(keyFree)})`);
  }
  const llmId = setup.models['smollm2-135m-instruct'];
  const llm = (await api.query.models.models(llmId)).unwrap();
  const prices = llm.tokenFees.unwrap();
  console.log(`Model ${llmId}: smollm2-135m-instruct (SmolLM2-135M-Instruct, Q4_1 GGUF: chat messages in, text out)
  weights ${smollm2.hashes.weights}
  greedy, at most 512 prompt and 128 generated tokens, compared by ${llm.comparison.type}
  fee ${opg(llm.feePerExecutor.toBigInt())} per executor, plus ${opg(prices.perPromptToken.toBigInt())} per prompt token and ${opg(prices.perGeneratedToken.toBigInt())} per generated token`);
  console.log('  Eve delegates 100 OPG to Bob');
  if (!setup.keysLinked) {
    console.log(`
WARNING: this runtime has no inference.setInferenceKey: the nodes cannot execute tasks on their
own, so requests will fail at their commit deadline.`);
  }
  console.log(`
Request an inference: node examples/request-inference.mjs ${url}
Chat:                 node examples/chat.mjs ${url} "What is the capital of France?"`);
  await api.disconnect();
}

main().then(() => process.exit(0), (error) => {
  console.error(`set-up failed: ${error.message}`);
  process.exit(1);
});
