// The `local` chain's four validators (Alice, Bob, Charlie, Dave) as real opg-node processes on
// loopback, prepared to execute inference tasks on their own: before a validator starts, model
// files are imported into its model store (`<base path>/models`) and its inference key
// (`//<Name>//inference`, key type `opgi`) is inserted into its keystore. Nodes can be killed
// and restarted on their base path (database, keystore, off-chain storage and model store
// persist), with other flags if asked.
//
// Every node knows every other as a bootnode and keeps its ports across restarts, so a restarted
// node, Alice included, finds its peers again at once. `stopAll()` from node.mjs stops everything.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpgNode, REPO_ROOT, freePort, peerIdOf, runNodeCommand, sleep, tempDir, waitForHeader } from './node.mjs';
import { VALIDATORS, inferenceKeyUri } from './setup.mjs';

export * from './setup.mjs';

/** The demo MLP shipped with the engine: a digit classifier, 64 f32 in, 10 logits out. */
export const DEMO_MLP = {
  weights: join(REPO_ROOT, 'inference', 'models', 'demo-mlp', 'model.safetensors'),
  config: join(REPO_ROOT, 'inference', 'models', 'demo-mlp', 'config.json'),
};

/** Where scripts/fetch-test-models.sh unpacks all-MiniLM-L6-v2: `$OPG_MINILM_DIR`, else its
 * default cache directory. */
export const MINILM_DIR = process.env.OPG_MINILM_DIR
  ?? join(process.env.OPG_CACHE_DIR ?? join(process.env.HOME ?? '', '.cache', 'opg-chain'), 'models', 'all-minilm-l6-v2');

/** Where scripts/fetch-test-models.sh unpacks SmolLM2-135M-Instruct's GGUF: `$OPG_SMOLLM2_GGUF`,
 * else its default cache path. */
export const SMOLLM2_GGUF = process.env.OPG_SMOLLM2_GGUF
  ?? join(process.env.OPG_CACHE_DIR ?? join(process.env.HOME ?? '', '.cache', 'opg-chain'), 'models',
    'smollm2-135m-instruct', 'SmolLM2-135M-Instruct.Q4_1.gguf');

/** Imports `files` into the model store of base path `basePath` with `opg-node models import`
 * (the node may be running); returns the hashes it printed, in order. */
export function importModelFiles(basePath, files) {
  return files.map((file) => {
    const out = runNodeCommand(['models', '--base-path', basePath, 'import', file]);
    const hash = out.trim().split(/\s+/)[0];
    if (!/^0x[0-9a-f]{64}$/.test(hash)) throw new Error(`unexpected output of models import ${file}: ${out}`);
    return hash;
  });
}

/** Inserts `name`'s inference key into the keystore of base path `basePath` (before the node
 * starts: a running node does not see keys inserted behind its back). */
export function insertInferenceKey(basePath, name) {
  runNodeCommand([
    'key', 'insert', '--base-path', basePath, '--chain', 'local',
    '--key-type', 'opgi', '--scheme', 'sr25519', '--suri', inferenceKeyUri(name),
  ]);
}

/**
 * Writes a copy of an MLP whose files hash differently but compute the same function: the
 * safetensors header gets `__metadata__: { variant: tag }` (tensor data untouched, header padded
 * to keep the data 8-byte aligned) and the JSON config is re-indented. So a test can register a
 * "new" model whose files some validators have and others do not. Returns `{ weights, config }`
 * in a temporary directory.
 */
export function writeMlpVariant({ weights, config }, tag) {
  const dir = tempDir(`opg-mlp-${tag}-`);
  const bytes = readFileSync(weights);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8'));
  header.__metadata__ = { ...(header.__metadata__ ?? {}), variant: tag };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const out = { weights: join(dir, 'model.safetensors'), config: join(dir, 'config.json') };
  writeFileSync(out.weights, Buffer.concat([prefix, Buffer.from(json, 'utf8'), bytes.subarray(8 + headerLen)]));
  writeFileSync(out.config, `${JSON.stringify(JSON.parse(readFileSync(config, 'utf8')), null, 3)}\n`);
  return out;
}

/** One JSON-RPC call over HTTP to a node (no client needed, works while it is syncing). */
async function rpc(node, method, params = []) {
  const res = await fetch(`http://127.0.0.1:${node.rpcPort}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 1, jsonrpc: '2.0', method, params }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

/**
 * The four validators of `--chain local`.
 *
 * - `imports`: `{ Name: [file, ...] }`, model files imported into each validator's store before
 *   it starts (a validator left out gets none);
 * - `extraArgs`: `{ Name: [flag, ...] }`, flags of a validator's first start (e.g.
 *   `--dev-fault-output`);
 * - `keys`: insert every validator's `opgi` inference key (default true).
 */
export class LocalNetwork {
  constructor({ imports = {}, extraArgs = {}, keys = true, label = 'exec' } = {}) {
    this.imports = imports;
    this.extraArgs = extraArgs;
    this.keys = keys;
    this.label = label;
    this.nodes = {};
    this.starts = {};
    this.apis = {};
  }

  /** Prepares the base paths (node keys, model stores, keystores), starts all four and waits
   * until they are connected and finalizing. */
  async start({ timeoutMs = 120_000 } = {}) {
    this.peers = {};
    for (const name of VALIDATORS) {
      const basePath = tempDir(`opg-${this.label}-${name.toLowerCase()}-`);
      const nodeKey = join(basePath, 'node-key');
      runNodeCommand(['key', 'generate-node-key', '--file', nodeKey]);
      if (this.keys) insertInferenceKey(basePath, name);
      importModelFiles(basePath, this.imports[name] ?? []);
      this.peers[name] = { basePath, p2pPort: await freePort(), rpcPort: await freePort(), peerId: peerIdOf(nodeKey) };
    }
    await Promise.all(VALIDATORS.map((name) => this.launch(name, this.extraArgs[name] ?? [])));
    const api = await this.api('Alice');
    await waitForHeader(api, { finalized: true, timeoutMs }, (h) => h.number.toNumber() >= 1);
    await Promise.all(VALIDATORS.map((name) => this.waitSynced(name, { timeoutMs })));
    return this;
  }

  /** The arguments `name` runs with: the local chain, its dev keys, every other validator as a
   * bootnode, then `extra`. */
  argsOf(name, extra) {
    const bootnodes = VALIDATORS.filter((n) => n !== name)
      .map((n) => `/ip4/127.0.0.1/tcp/${this.peers[n].p2pPort}/p2p/${this.peers[n].peerId}`);
    return ['--chain', 'local', `--${name.toLowerCase()}`, '--bootnodes', ...bootnodes, ...extra];
  }

  async launch(name, extra) {
    this.starts[name] = (this.starts[name] ?? 0) + 1;
    const { basePath, p2pPort, rpcPort } = this.peers[name];
    const label = `${this.label}-${name.toLowerCase()}-${this.starts[name]}`;
    this.nodes[name] = await new OpgNode(label, this.argsOf(name, extra), { basePath, p2pPort, rpcPort }).start();
    return this.nodes[name];
  }

  /** The running node of validator `name`. */
  node(name) {
    return this.nodes[name];
  }

  /** The model store directory of validator `name`. */
  modelDir(name) {
    return join(this.peers[name].basePath, 'models');
  }

  /** A client connected to `name`'s node (one per node, reused; dropped when the node stops). */
  async api(name) {
    this.apis[name] ??= await this.nodes[name].api();
    return this.apis[name];
  }

  /** Imports `files` into `name`'s model store, the node running or not; returns the hashes. */
  importModel(name, files) {
    return importModelFiles(this.peers[name].basePath, files);
  }

  /** Stops `name`'s node with `signal` (SIGKILL: no clean shutdown at all). */
  async kill(name, signal = 'SIGKILL') {
    delete this.apis[name];
    await this.nodes[name].kill(signal);
  }

  /**
   * Restarts `name` on the same base path and ports: stops it with `signal` if it runs, starts it
   * with `extraArgs` (none by default: a restart drops flags such as `--dev-fault-output`), waits
   * for its RPC and, unless `sync` is false, until it has caught up with the network.
   */
  async restart(name, { extraArgs = [], signal = 'SIGTERM', sync = true, timeoutMs = 90_000 } = {}) {
    await this.kill(name, signal);
    await this.launch(name, extraArgs);
    if (sync) await this.waitSynced(name, { timeoutMs });
    return this.nodes[name];
  }

  /** Waits until `name`'s node has peers, is not major-syncing, and its best block is at least the
   * best block another running validator had when the wait began. */
  async waitSynced(name, { timeoutMs = 90_000 } = {}) {
    const node = this.nodes[name];
    const reference = VALIDATORS.find((n) => n !== name && this.nodes[n]?.proc?.exitCode === null && this.nodes[n].proc.signalCode === null);
    const target = reference ? parseInt((await rpc(this.nodes[reference], 'chain_getHeader')).number, 16) : 0;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      try {
        const health = await rpc(node, 'system_health');
        const best = parseInt((await rpc(node, 'chain_getHeader')).number, 16);
        last = `best #${best} (target #${target}), ${health.peers} peer(s), syncing: ${health.isSyncing}`;
        if (health.peers >= 1 && !health.isSyncing && best >= target) return;
      } catch (error) {
        last = error.message;
      }
      await sleep(500);
    }
    throw new Error(`${name} did not catch up within ${timeoutMs} ms (${last}); see ${node.logFile}`);
  }

  /** Stops all four nodes (base paths are removed by `stopAll()`). */
  async stop() {
    this.apis = {};
    await Promise.all(Object.values(this.nodes).map((node) => node.kill('SIGTERM')));
  }
}
