// Canonical forms, digests and commitments, bit for bit as `opg-model` computes them
// (model/src/comparison.rs, model/src/task.rs, model/src/generation.rs). Pinned by the vectors
// in __fixtures__/vectors.json, which model/tests/explorer_vectors.rs generates and asserts.

import { u8aConcat, u8aEq } from '@polkadot/util';
import { blake2AsU8a } from '@polkadot/util-crypto';
import { decodeGeneration, encodeGeneration } from './decode';

/** A comparison rule as the explorer uses it (converted from the chain's `ComparisonRule` enum by
 * `ruleOf`). */
export type Rule =
  | { kind: 'Exact' }
  | { kind: 'Quantized'; decimals: number }
  | { kind: 'Argmax' }
  | { kind: 'TopK'; k: number }
  | { kind: 'Tokens' };

export const MAX_QUANTIZED_DECIMALS = 12;
const CANONICAL_NAN_BITS = 0x7fc00000;
const TWO_POW_63 = 9223372036854775808; // exact in f64
const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

/** The rule of a decoded `ComparisonRule` (a polkadot.js enum from metadata). */
export function ruleOf(codec: any): Rule {
  switch (codec.type as string) {
    case 'Quantized': return { kind: 'Quantized', decimals: codec.asQuantized.decimals.toNumber() };
    case 'TopK': return { kind: 'TopK', k: codec.asTopK.k.toNumber() };
    case 'Exact': case 'Argmax': case 'Tokens': return { kind: codec.type };
    default: throw new Error(`unknown comparison rule ${codec.type}`);
  }
}

/** `Quantized:4`, `TopK:3`, `Exact`… (the fixture's names, and the UI's). */
export function ruleName(rule: Rule): string {
  if (rule.kind === 'Quantized') return `Quantized:${rule.decimals}`;
  if (rule.kind === 'TopK') return `TopK:${rule.k}`;
  return rule.kind;
}

export function parseRuleName(name: string): Rule {
  const [kind, param] = name.split(':');
  switch (kind) {
    case 'Quantized': return { kind, decimals: Number(param) };
    case 'TopK': return { kind, k: Number(param) };
    case 'Exact': case 'Argmax': case 'Tokens': return { kind };
    default: throw new Error(`unknown rule ${name}`);
  }
}

function words(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `decode_output`: little-endian f32 values, `null` unless the length is a multiple of 4. */
export function f32sOf(bytes: Uint8Array): number[] | null {
  if (bytes.length % 4 !== 0) return null;
  const view = words(bytes);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) out.push(view.getFloat32(i, true));
  return out;
}

/** `canonical_exact`: the IEEE bits, every NaN the quiet NaN, -0.0 as +0.0. Works on the raw
 * bits, so NaN payloads are seen (a JS number would lose them). */
export function canonicalExact(bytes: Uint8Array): Uint8Array {
  const src = words(bytes);
  const out = new Uint8Array(bytes.length);
  const dst = words(out);
  for (let i = 0; i < bytes.length; i += 4) {
    const bits = src.getUint32(i, true);
    const isNan = (bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0;
    const isZero = (bits & 0x7fffffff) === 0;
    dst.setUint32(i, isNan ? CANONICAL_NAN_BITS : isZero ? 0 : bits, true);
  }
  return out;
}

/** libm's `round`: half away from zero. Exact for every f64 (no `x + 0.5` rounding). */
function roundHalfAwayFromZero(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 2 ** 52) return x; // already integral (or infinite)
  const t = Math.trunc(x);
  const frac = x - t; // exact below 2^52
  if (Math.abs(frac) >= 0.5) return t + Math.sign(x);
  return t;
}

/** `quantize`: round(value × 10^decimals) as an i64; NaN → i64::MIN, saturating at
 * i64::MAX / i64::MIN + 1. `value` is an f32 (any JS number holding one is exact). */
export function quantize(value: number, decimals: number): bigint {
  if (Number.isNaN(value)) return I64_MIN;
  const scale = 10 ** Math.min(Math.max(decimals, 0), MAX_QUANTIZED_DECIMALS); // exact up to 1e22
  const scaled = roundHalfAwayFromZero(value * scale);
  if (scaled >= TWO_POW_63) return I64_MAX;
  if (scaled <= -TWO_POW_63) return I64_MIN + 1n;
  return BigInt(scaled); // integral and in range; -0 becomes 0n
}

export function canonicalQuantized(values: number[], decimals: number): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = words(out);
  values.forEach((v, i) => view.setBigInt64(i * 8, quantize(v, decimals), true));
  return out;
}

/** `rank_cmp`: numeric, -0.0 == +0.0, NaN below everything, NaNs equal. */
function rankCmp(a: number, b: number): number {
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  if (an && bn) return 0;
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `top_k_indices`: the min(k, len) largest values' indices, largest first, ties by index. */
export function topKIndices(values: number[], k: number): number[] {
  const indices = values.map((_, i) => i);
  indices.sort((a, b) => rankCmp(values[b], values[a]) || a - b);
  return indices.slice(0, Math.min(k, values.length));
}

function indicesToBytes(indices: number[]): Uint8Array {
  const out = new Uint8Array(indices.length * 4);
  const view = words(out);
  indices.forEach((index, i) => view.setUint32(i * 4, index, true));
  return out;
}

/** `ComparisonRule::canonical_output`: the canonical bytes of a revealed output, `null` if it
 * is malformed (not whole f32 values; under `Tokens`, not exactly a SCALE `Generation`). */
export function canonicalOutput(rule: Rule, bytes: Uint8Array): Uint8Array | null {
  if (rule.kind === 'Tokens') {
    const generation = decodeGeneration(bytes);
    return generation ? encodeGeneration(generation) : null;
  }
  const values = f32sOf(bytes);
  if (values === null) return null;
  switch (rule.kind) {
    case 'Exact': return canonicalExact(bytes);
    case 'Quantized': return canonicalQuantized(values, rule.decimals);
    case 'Argmax': return indicesToBytes(topKIndices(values, 1));
    case 'TopK': return indicesToBytes(topKIndices(values, rule.k));
  }
}

/** blake2-256, the chain's hash. */
export function blake2(bytes: Uint8Array): Uint8Array {
  return blake2AsU8a(bytes, 256);
}

/** `ComparisonRule::digest_output`: blake2-256 of the canonical bytes; `null` if malformed. */
export function outputDigest(rule: Rule, bytes: Uint8Array): Uint8Array | null {
  const canonical = canonicalOutput(rule, bytes);
  return canonical ? blake2(canonical) : null;
}

/** The `Rejection` variants in codec index order (model/src/task.rs). */
export const REJECTIONS = ['InputShape', 'NotUtf8', 'Untokenizable', 'TooManyTokens', 'MalformedChat'] as const;

/** `Rejection::digest`: blake2-256("opg/rejection" ‖ SCALE(rejection)). */
export function rejectionDigest(rejection: string): Uint8Array {
  const index = (REJECTIONS as readonly string[]).indexOf(rejection);
  if (index < 0) throw new Error(`unknown rejection ${rejection}`);
  return blake2(u8aConcat(new TextEncoder().encode('opg/rejection'), new Uint8Array([index])));
}

/** `commitment`: blake2-256(digest ‖ salt ‖ SCALE(executor)); an `AccountId32` encodes as its 32
 * bytes. The chain binds the validator's account (the executor), not the inference key that
 * signs the commit and reveal. */
export function commitment(digest: Uint8Array, salt: Uint8Array, executor: Uint8Array): Uint8Array {
  return blake2(u8aConcat(digest, salt, executor));
}

/** A revealed outcome: the raw output bytes, or the rejection's name. */
export type Outcome = { output: Uint8Array } | { rejection: string };

/** `TaskOutcome::digest`. */
export function outcomeDigest(rule: Rule, outcome: Outcome): Uint8Array | null {
  return 'rejection' in outcome ? rejectionDigest(outcome.rejection) : outputDigest(rule, outcome.output);
}

export type CommitmentCheck = {
  result: 'match' | 'mismatch' | 'unavailable';
  digest?: Uint8Array;
  commitment?: Uint8Array;
  why: string;
};

/** Recomputes an executor's commitment from what it revealed and compares it with the one it
 * committed (and the digest with the one the chain recorded, when known). */
export function checkCommitment(
  rule: Rule,
  outcome: Outcome,
  salt: Uint8Array,
  executor: Uint8Array,
  committed: Uint8Array | null,
  recordedDigest: Uint8Array | null,
): CommitmentCheck {
  if (!committed) return { result: 'unavailable', why: 'no stored commitment' };
  const digest = outcomeDigest(rule, outcome);
  if (!digest) return { result: 'mismatch', why: 'the revealed output is malformed under the rule' };
  const recomputed = commitment(digest, salt, executor);
  if (recordedDigest && !u8aEq(recordedDigest, digest)) {
    return { result: 'mismatch', digest, commitment: recomputed, why: 'the recomputed digest differs from the one the chain recorded' };
  }
  return u8aEq(recomputed, committed)
    ? { result: 'match', digest, commitment: recomputed, why: 'blake2_256(digest ‖ salt ‖ executor) equals the commitment' }
    : { result: 'mismatch', digest, commitment: recomputed, why: 'the recomputed commitment differs from the committed one' };
}
