// Starts real `opg-node` processes on loopback for the end-to-end tests, and always stops them.
//
// Every node gets free ports on 127.0.0.1 and a fresh temporary base path; `stopAll()` (run by the
// tests' `after` hooks and on process exit) kills whatever is still running.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream, mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiPromise, WsProvider } from '@polkadot/api';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The node binary under test: `$OPG_NODE_BIN`, else the release build in the cargo target dir. */
export const NODE_BIN = process.env.OPG_NODE_BIN ?? join(
  process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache', 'opg-chain', 'target'),
  'release',
  'opg-node',
);

const LOG_DIR = process.env.OPG_E2E_LOG_DIR ?? join(tmpdir(), 'opg-e2e-logs');
mkdirSync(LOG_DIR, { recursive: true });

const running = new Set();
const tempDirs = new Set();

/** A free TCP port on 127.0.0.1 (the kernel picks it; we release it for the node to take). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** A fresh temporary directory, removed by `stopAll()`. */
export function tempDir(prefix = 'opg-e2e-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Runs `opg-node` with `args` to completion and returns its standard output. */
export function runNodeCommand(args) {
  return execFileSync(NODE_BIN, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The libp2p peer id of a node key file. */
export function peerIdOf(nodeKeyFile) {
  return runNodeCommand(['key', 'inspect-node-key', '--file', nodeKeyFile]).trim();
}

/**
 * A running `opg-node`.
 *
 * `start()` spawns it with `args` plus loopback ports and waits until its RPC answers;
 * `kill(signal)` stops it and waits for the process to exit.
 */
export class OpgNode {
  constructor(name, args, { basePath, p2pPort, rpcPort } = {}) {
    this.name = name;
    this.extraArgs = args;
    this.basePath = basePath ?? tempDir(`opg-${name}-`);
    this.p2pPort = p2pPort;
    this.rpcPort = rpcPort;
    this.proc = null;
    this.logFile = join(LOG_DIR, `${name}-${Date.now()}.log`);
  }

  /** The node's libp2p key lives in its base path, so a restarted node keeps its peer id. */
  get nodeKeyFile() {
    return join(this.basePath, 'node-key');
  }

  /** `/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>`: what other nodes pass as `--bootnodes`. */
  get bootnode() {
    return `${this.multiaddr}/p2p/${this.peerId}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.rpcPort}`;
  }

  get multiaddr() {
    return `/ip4/127.0.0.1/tcp/${this.p2pPort}`;
  }

  async start() {
    this.p2pPort ??= await freePort();
    this.rpcPort ??= await freePort();
    if (!existsSync(this.nodeKeyFile)) runNodeCommand(['key', 'generate-node-key', '--file', this.nodeKeyFile]);
    this.peerId = peerIdOf(this.nodeKeyFile);
    const args = [
      ...this.extraArgs,
      '--base-path', this.basePath,
      '--node-key-file', this.nodeKeyFile,
      '--listen-addr', this.multiaddr,
      '--rpc-port', String(this.rpcPort),
      '--rpc-cors', 'all',
      '--no-prometheus',
      '--no-telemetry',
      '--no-mdns',
    ];
    const log = createWriteStream(this.logFile, { flags: 'a' });
    this.proc = spawn(NODE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.pipe(log);
    this.proc.stderr.pipe(log);
    this.exited = new Promise((resolveExit) => this.proc.once('exit', (code, signal) => resolveExit({ code, signal })));
    running.add(this);
    await this.waitForRpc();
    return this;
  }

  /** Polls the RPC port until the node answers `system_health` (at most `timeoutMs`). */
  async waitForRpc(timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) {
        throw new Error(`${this.name} exited with ${this.proc.exitCode}; see ${this.logFile}`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${this.rpcPort}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: 1, jsonrpc: '2.0', method: 'system_health', params: [] }),
          signal: AbortSignal.timeout(2_000),
        });
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      await sleep(250);
    }
    throw new Error(`${this.name} did not open its RPC port within ${timeoutMs} ms; see ${this.logFile}`);
  }

  /** Connects a polkadot.js client to this node. */
  async api() {
    const provider = new WsProvider(this.wsUrl, 1_000, {}, 30_000);
    const api = await ApiPromise.create({ provider, noInitWarn: true, throwOnConnect: true });
    this.apis ??= [];
    this.apis.push(api);
    return api;
  }

  async kill(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) {
      running.delete(this);
      return;
    }
    for (const api of this.apis ?? []) await api.disconnect().catch(() => {});
    this.apis = [];
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
    running.delete(this);
  }
}

/** Stops every node still running and removes the temporary directories. */
export async function stopAll() {
  await Promise.all([...running].map((node) => node.kill('SIGTERM')));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', () => {
  for (const node of running) node.proc?.kill('SIGKILL');
});

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves with the first header for which `predicate(header)` holds, or rejects after `timeoutMs`. */
export function waitForHeader(api, { finalized = false, timeoutMs = 120_000 }, predicate) {
  return new Promise((resolveHeader, reject) => {
    let unsub = null;
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (unsub) unsub();
      fn(value);
    };
    const timer = setTimeout(
      () => finish(reject, new Error(`no ${finalized ? 'finalized' : 'new'} header matched within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const subscribe = finalized ? api.rpc.chain.subscribeFinalizedHeads : api.rpc.chain.subscribeNewHeads;
    subscribe((header) => {
      if (predicate(header)) finish(resolveHeader, header);
    }).then((u) => {
      unsub = u;
      if (done) u();
    }, (err) => finish(reject, err));
  });
}

/**
 * Signs and sends `tx`, resolving once it is finalized with its block hash and events. `nonce`
 * (default: the next one the node knows) lets a caller send several transactions of one signer
 * at once.
 */
export function sendAndFinalize(tx, signer, { timeoutMs = 120_000, nonce } = {}) {
  return new Promise((resolveTx, reject) => {
    let unsub = null;
    let inBlock = null;
    const timer = setTimeout(() => {
      if (unsub) unsub();
      reject(new Error(`transaction not finalized within ${timeoutMs} ms`));
    }, timeoutMs);
    tx.signAndSend(signer, nonce === undefined ? {} : { nonce }, (result) => {
      const { status, events, dispatchError } = result;
      if (status.isInBlock) inBlock = status.asInBlock.toHex();
      if (status.isFinalized) {
        clearTimeout(timer);
        if (unsub) unsub();
        resolveTx({ inBlock, finalized: status.asFinalized.toHex(), events, dispatchError });
      } else if (status.isDropped || status.isInvalid || status.isUsurped) {
        clearTimeout(timer);
        if (unsub) unsub();
        reject(new Error(`transaction ${status.type}`));
      }
    }).then((u) => { unsub = u; }, (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Signs and sends `tx`, resolving once it is in a block (not waiting for finality); `nonce` as
 * for `sendAndFinalize`. A watcher that is told of the finalized block without an in-block
 * notification first (the transaction pool may skip it when the block was imported before the
 * pool saw it as best) resolves with that block. */
export function sendInBlock(tx, signer, { timeoutMs = 60_000, nonce } = {}) {
  return new Promise((resolveTx, reject) => {
    let unsub = null;
    const timer = setTimeout(() => {
      if (unsub) unsub();
      reject(new Error(`transaction not included within ${timeoutMs} ms`));
    }, timeoutMs);
    tx.signAndSend(signer, nonce === undefined ? {} : { nonce }, (result) => {
      const { status, events, dispatchError } = result;
      if (status.isInBlock || status.isFinalized) {
        clearTimeout(timer);
        if (unsub) unsub();
        const block = status.isInBlock ? status.asInBlock : status.asFinalized;
        resolveTx({ inBlock: block.toHex(), events, dispatchError });
      } else if (status.isDropped || status.isInvalid || status.isUsurped) {
        clearTimeout(timer);
        if (unsub) unsub();
        reject(new Error(`transaction ${status.type}`));
      }
    }).then((u) => { unsub = u; }, (err) => { clearTimeout(timer); reject(err); });
  });
}
