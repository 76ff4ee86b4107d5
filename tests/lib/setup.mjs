// The on-chain set-up of a local network whose validators execute inference tasks on their own:
// models registered from their files, the validators registered and serving them, each
// validator's inference key (`//<Name>//inference`, the `opgi` key its node signs commits and
// reveals with) linked and funded, and a delegator. Used by the execution tests, the measurement
// script and `scripts/start-local.sh` (through `scripts/setup-local.mjs`).
//
// `setupChain` is idempotent: it reads the chain first and submits only what is missing, so it
// can run again against a network that was set up before (the start script's persistent one).
// It spawns no process and needs only a connected `ApiPromise`.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { stringToU8a, u8aConcat } from '@polkadot/util';
import { blake2AsHex, cryptoWaitReady, decodeAddress } from '@polkadot/util-crypto';
import { sendAndFinalize } from './node.mjs';
import { OPG, dev } from './chain.mjs';

/** The validators of the `local` chain, in genesis order. */
export const VALIDATORS = ['Alice', 'Bob', 'Charlie', 'Dave'];

/** The secret URI of validator `name`'s inference key, as `opg-node key insert --suri` takes it. */
export function inferenceKeyUri(name) {
  return `//${name}//inference`;
}

/** The inference key of validator `name` (sr25519), which its node's keystore holds under key
 * type `opgi`. */
export function inferenceKey(name) {
  return new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri(inferenceKeyUri(name));
}

/** The proof that `validator` (an address) holds `key` (a keyring pair), as
 * `inference.setInferenceKey` takes it: the key's signature of
 * `"opg/inference-key" ‖ the validator's account id ‖ the genesis hash` (the inference pallet's
 * `key_proof_payload`), as the sr25519 variant of `MultiSignature`. */
export function inferenceKeyProof(api, validator, key) {
  const payload = u8aConcat(stringToU8a('opg/inference-key'), decodeAddress(validator), api.genesisHash);
  return { Sr25519: key.sign(payload) };
}

/** Connects to the node at `url`, retrying until it answers (at most `timeoutMs`). */
export async function connect(url, { timeoutMs = 120_000 } = {}) {
  const provider = new WsProvider(url, 1_000, {}, 30_000);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no node answered at ${url} within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    await Promise.race([provider.isReady, timeout]);
  } catch (error) {
    await provider.disconnect().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return ApiPromise.create({ provider, noInitWarn: true });
}

/** blake2-256 of a file's bytes, `0x`-prefixed: the hash `opg-node models import` prints and the
 * registry stores. */
export function fileHash(path) {
  return blake2AsHex(readFileSync(path), 256);
}

/** The engine profile of every bundled model: the engine's reproducible kernels, in `f32`. */
export const REPRODUCIBLE_F32 = Object.freeze({ kernels: 'FixedOrderFma2', dtype: 'F32' });

/**
 * A multi-layer perceptron from its safetensors weights and JSON config: the files a validator
 * imports and the `models.registerModel` spec that names them by hash. The input is declared as
 * the configuration's `input_size` little-endian f32 unless `inputLen` says otherwise (a
 * mis-declared model, whose executors then reject every input); logits out, compared by `Argmax` unless
 * `comparison` says otherwise.
 */
export function mlpModel({
  name, weights, config, fee = OPG, redundancy = 3, quorum = null, comparison = { Argmax: null },
  inputLen = JSON.parse(readFileSync(config, 'utf8')).input_size, profile = REPRODUCIBLE_F32,
}) {
  const hashes = { weights: fileHash(weights), config: fileHash(config) };
  return {
    name,
    files: { weights, config },
    hashes,
    spec: {
      name,
      descriptor: {
        weightsHash: hashes.weights,
        format: 'Safetensors',
        architecture: { Mlp: { configHash: hashes.config } },
        profile,
      },
      sizeBytes: statSync(weights).size,
      // The chain refuses inputs of any other length at request time.
      input: { F32Vector: { len: inputLen } },
      output: 'Logits',
      feePerExecutor: fee,
      tokenFees: null,
      redundancy,
      quorum,
      comparison,
      sourceUri: null,
    },
  };
}

/**
 * A BERT sentence embedder from a Hugging Face directory (`model.safetensors`, `config.json`,
 * `tokenizer.json`): UTF-8 text in, an L2-normalised embedding out, compared `Exact` (the engine's
 * reproducible profile gives every executor the same bits) unless `comparison` says otherwise.
 */
export function bertModel({
  name, dir, fee = OPG, redundancy = 3, quorum = null, comparison = { Exact: null }, profile = REPRODUCIBLE_F32,
}) {
  const files = {
    weights: join(dir, 'model.safetensors'),
    config: join(dir, 'config.json'),
    tokenizer: join(dir, 'tokenizer.json'),
  };
  const hashes = { weights: fileHash(files.weights), config: fileHash(files.config), tokenizer: fileHash(files.tokenizer) };
  return {
    name,
    files,
    hashes,
    spec: {
      name,
      descriptor: {
        weightsHash: hashes.weights,
        format: 'Safetensors',
        architecture: { BertEmbedding: { configHash: hashes.config, tokenizerHash: hashes.tokenizer } },
        profile,
      },
      sizeBytes: statSync(files.weights).size,
      // UTF-8 up to the chain's longest input; longer than 256 tokens is the model's to refuse.
      input: { Text: { maxBytes: 16_384 } },
      output: 'Embedding',
      feePerExecutor: fee,
      tokenFees: null,
      redundancy,
      quorum,
      comparison,
      sourceUri: null,
    },
  };
}

/**
 * A causal language model in one GGUF file (its tokenizer and chat template inside): chat
 * messages (JSON) in, a generation out (the token ids and their text), compared by `Tokens`.
 * Generation is greedy unless `decoding` says otherwise; `tokenFees` (per prompt token, per
 * generated token, paid to each executor on top of `fee`) are escrowed at the limits and charged
 * for what the generation used.
 */
export function llmModel({
  name, gguf, fee = OPG, redundancy = 3, quorum = null, maxPromptTokens = 256, maxNewTokens = 32,
  stopTokens = [], decoding = { Greedy: null }, tokenFees = null, maxBytes = 4_096, profile = REPRODUCIBLE_F32,
}) {
  const hashes = { weights: fileHash(gguf) };
  const stops = [0, 1, 2, 3].map((i) => (i < stopTokens.length ? stopTokens[i] : null));
  const generation = { prompt: 'Chat', maxPromptTokens, maxNewTokens, stopTokens: stops, decoding };
  return {
    name,
    files: { weights: gguf },
    hashes,
    generation,
    spec: {
      name,
      descriptor: {
        weightsHash: hashes.weights,
        format: 'Gguf',
        architecture: { CausalLm: { generation } },
        profile,
      },
      sizeBytes: statSync(gguf).size,
      input: { Chat: { maxBytes } },
      output: 'Generation',
      feePerExecutor: fee,
      tokenFees,
      redundancy,
      quorum,
      comparison: { Tokens: null },
      sourceUri: null,
    },
  };
}

/**
 * The id of an active registered model that runs exactly what `model.spec` describes (name,
 * descriptor (files, architecture, engine profile), input and output kinds, comparison rule), or `null`. Fee and redundancy
 * are the owner's to change and are not compared.
 */
export async function findModel(api, model) {
  // The spec as the chain's type (decoded through the call, whose argument type the metadata names).
  const wanted = api.tx.models.registerModel(model.spec).args[0];
  const matches = [];
  for (const [key, value] of await api.query.models.models.entries()) {
    const info = value.unwrap();
    if (info.status.isActive
      && info.name.toUtf8() === model.spec.name
      && info.descriptor.eq(wanted.descriptor)
      && info.input.eq(wanted.input)
      && info.output.eq(wanted.output)
      && info.comparison.eq(wanted.comparison)) {
      matches.push(key.args[0].toNumber());
    }
  }
  return matches.length ? Math.min(...matches) : null;
}

/**
 * Sends `items` (`{ signer, tx, what }`) at once, each signer's with consecutive nonces, and waits
 * until all are finalized; throws naming every item whose dispatch failed.
 */
async function submitAll(api, items, log) {
  const nonces = new Map();
  const sent = [];
  for (const { signer, tx, what } of items) {
    if (!nonces.has(signer.address)) {
      nonces.set(signer.address, (await api.rpc.system.accountNextIndex(signer.address)).toNumber());
    }
    const nonce = nonces.get(signer.address);
    nonces.set(signer.address, nonce + 1);
    log(`  ${what}`);
    sent.push(sendAndFinalize(tx, signer, { nonce, timeoutMs: 180_000 }).then(
      (result) => ({ what, ...result }),
      (error) => ({ what, error }),
    ));
  }
  const results = await Promise.all(sent);
  const failed = results.filter((r) => r.error || r.dispatchError).map((r) => {
    if (r.error) return `${r.what}: ${r.error.message}`;
    if (!r.dispatchError.isModule) return `${r.what}: ${r.dispatchError}`;
    const { section, name } = api.registry.findMetaError(r.dispatchError.asModule);
    return `${r.what}: ${section}.${name}`;
  });
  if (failed.length) throw new Error(`set-up transactions failed: ${failed.join('; ')}`);
  return results;
}

/**
 * Brings the chain to the state the executing validators need, submitting only what is missing:
 *
 * 1. `models` (from `mlpModel` / `bertModel`) registered by `owner`; each validator registered
 *    with a bond of `bond` and `commission` (Perbill parts); each inference key account funded to
 *    `keyFunding` (it pays for the commits and reveals);
 * 2. every validator serving every model (or `model.servers`, a list of names); every validator's
 *    inference key linked with `inference.setInferenceKey` (with the key's proof of possession,
 *    `inferenceKeyProof`); `delegations` (`[delegator, validator, amount]`) made.
 *
 * The bond is ten times the minimum by default: a validator whose own bond falls below the
 * minimum after a slash is no longer drawn, and the tests slash on purpose.
 *
 * When the runtime has no `inference.setInferenceKey` (a node built before the off-chain
 * executors), it throws if `requireInferenceKeys`, else it skips the keys and says so in the
 * result (`keysLinked: false`).
 *
 * Returns `{ models: { name: id }, keys: { Validator: key address }, keysLinked, submitted }`.
 */
export async function setupChain(api, {
  models = [],
  validators = VALIDATORS,
  owner = 'Alice',
  bond,
  commission = 100_000_000,
  keyFunding = 100n * OPG,
  delegations = [],
  requireInferenceKeys = true,
  log = () => {},
} = {}) {
  await cryptoWaitReady();
  const minBond = api.consts.inferenceStaking.minValidatorBond.toBigInt();
  bond ??= 10n * minBond;
  const canLinkKeys = typeof api.tx.inference?.setInferenceKey === 'function';
  if (!canLinkKeys && requireInferenceKeys) {
    throw new Error('this runtime has no inference.setInferenceKey: the node predates the off-chain executors');
  }
  const keys = Object.fromEntries(validators.map((v) => [v, inferenceKey(v).address]));
  const submitted = [];

  // Phase 1: models, validators, key funding.
  const ids = {};
  const phase1 = [];
  for (const model of models) {
    ids[model.name] = await findModel(api, model);
    if (ids[model.name] === null) {
      phase1.push({ signer: dev(owner), tx: api.tx.models.registerModel(model.spec), what: `${owner}: models.registerModel(${model.name})` });
    }
  }
  for (const v of validators) {
    const who = dev(v);
    if ((await api.query.inferenceStaking.validators(who.address)).isNone) {
      phase1.push({ signer: who, tx: api.tx.inferenceStaking.registerValidator(bond, commission), what: `${v}: inferenceStaking.registerValidator` });
    }
    const keyFree = (await api.query.system.account(keys[v])).data.free.toBigInt();
    if (keyFree < keyFunding / 2n) {
      phase1.push({ signer: who, tx: api.tx.balances.transferKeepAlive(keys[v], keyFunding - keyFree), what: `${v}: fund its inference key ${keys[v]}` });
    }
  }
  if (phase1.length) {
    log(`Submitting ${phase1.length} transaction(s), waiting for finality:`);
    submitted.push(...(await submitAll(api, phase1, log)).map((r) => r.what));
    // Look the new models up by content: ids are assigned in inclusion order.
    for (const model of models) ids[model.name] ??= await findModel(api, model);
  }
  for (const model of models) {
    if (ids[model.name] === null) throw new Error(`model ${model.name} is not registered after set-up`);
  }

  // Phase 2: serving, keys, delegations (they need phase 1's registrations).
  const phase2 = [];
  for (const model of models) {
    const servers = (await api.query.models.servers(ids[model.name])).map((a) => a.toString());
    for (const v of model.servers ?? validators) {
      if (!servers.includes(dev(v).address)) {
        phase2.push({ signer: dev(v), tx: api.tx.models.serveModel(ids[model.name]), what: `${v}: models.serveModel(${ids[model.name]}: ${model.name})` });
      }
    }
  }
  if (canLinkKeys) {
    for (const v of validators) {
      const linked = await api.query.inference.inferenceKeys(dev(v).address);
      if (linked.isNone || linked.unwrap().toString() !== keys[v]) {
        const proof = inferenceKeyProof(api, dev(v).address, inferenceKey(v));
        phase2.push({ signer: dev(v), tx: api.tx.inference.setInferenceKey(keys[v], proof), what: `${v}: inference.setInferenceKey(${keys[v]})` });
      }
    }
  } else {
    log('  (skipped: this runtime has no inference.setInferenceKey, so no inference keys are linked)');
  }
  for (const [delegator, validator, amount] of delegations) {
    if ((await api.query.inferenceStaking.delegations(dev(delegator).address, dev(validator).address)).isNone) {
      phase2.push({ signer: dev(delegator), tx: api.tx.inferenceStaking.delegate(dev(validator).address, amount), what: `${delegator}: inferenceStaking.delegate(${validator}, ${amount / OPG} OPG)` });
    }
  }
  if (phase2.length) {
    log(`Submitting ${phase2.length} transaction(s), waiting for finality:`);
    submitted.push(...(await submitAll(api, phase2, log)).map((r) => r.what));
  }
  return { models: ids, keys, keysLinked: canLinkKeys, submitted };
}
