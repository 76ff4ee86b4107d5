import { describe, expect, it } from 'vitest';
import { hexToU8a, u8aToHex } from '@polkadot/util';
import vectors from './__fixtures__/vectors.json';
import { canonicalOutput, checkCommitment, commitment, outputDigest, parseRuleName, quantize, rejectionDigest, topKIndices } from './digest';

// The vectors come from model/tests/explorer_vectors.rs, which asserts the same values against
// the Rust functions the chain runs.

const hexOrNull = (bytes: Uint8Array | null) => (bytes ? u8aToHex(bytes) : null);

describe('canonical forms and digests (vectors from opg-model)', () => {
  it('has vectors for every rule', () => {
    const kinds = new Set(vectors.outputs.map((c) => c.rule.split(':')[0]));
    expect([...kinds].sort()).toEqual(['Argmax', 'Exact', 'Quantized', 'Tokens', 'TopK']);
  });

  for (const c of vectors.outputs) {
    it(`${c.name} under ${c.rule}`, () => {
      const rule = parseRuleName(c.rule);
      const output = hexToU8a(c.output);
      expect(hexOrNull(canonicalOutput(rule, output))).toBe(c.canonical);
      expect(hexOrNull(outputDigest(rule, output))).toBe(c.digest);
    });
  }

  it('rejection digests', () => {
    for (const r of vectors.rejections) expect(u8aToHex(rejectionDigest(r.name))).toBe(r.digest);
  });

  it('commitments bind digest, salt and executor', () => {
    for (const c of vectors.commitments) {
      expect(u8aToHex(commitment(hexToU8a(c.digest), hexToU8a(c.salt), hexToU8a(c.executor)))).toBe(c.commitment);
    }
  });
});

describe('quantize and ranking (the Rust unit tests, again)', () => {
  it('rounds half away from zero and saturates', () => {
    expect(quantize(0.125, 2)).toBe(13n);
    expect(quantize(-0.125, 2)).toBe(-13n);
    expect(quantize(Math.fround(0.1), 12)).toBe(100_000_001_490n);
    expect(quantize(NaN, 3)).toBe(-(2n ** 63n));
    expect(quantize(Infinity, 3)).toBe(2n ** 63n - 1n);
    expect(quantize(-Infinity, 3)).toBe(-(2n ** 63n) + 1n);
    expect(quantize(-0, 5)).toBe(0n);
    expect(quantize(1, 200)).toBe(quantize(1, 12));
  });
  it('ranks NaN lowest and ties by index', () => {
    expect(topKIndices([0.2, 0.9, NaN, 0.5, 0.9, -0, 0], 7)).toEqual([1, 4, 3, 0, 5, 6, 2]);
    expect(topKIndices([NaN, -Infinity], 1)).toEqual([1]);
  });
});

describe('commitment check', () => {
  const rule = parseRuleName('Argmax');
  const output = new Uint8Array(Float32Array.from([0.1, 0.9]).buffer);
  const salt = new Uint8Array(32).fill(7);
  const alice = hexToU8a('0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d');
  const bob = hexToU8a('0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48');
  const digest = outputDigest(rule, output)!;
  const committed = commitment(digest, salt, alice);
  // The fixture's first commitment is this one.
  it('matches the fixture', () => expect(u8aToHex(committed)).toBe(vectors.commitments[0].commitment));
  it('matches for the executor that committed', () => {
    expect(checkCommitment(rule, { output }, salt, alice, committed, digest).result).toBe('match');
  });
  it('fails for another executor, salt or output', () => {
    expect(checkCommitment(rule, { output }, salt, bob, committed, null).result).toBe('mismatch');
    expect(checkCommitment(rule, { output }, new Uint8Array(32), alice, committed, null).result).toBe('mismatch');
    const other = new Uint8Array(Float32Array.from([0.9, 0.1]).buffer);
    expect(checkCommitment(rule, { output: other }, salt, alice, committed, null).result).toBe('mismatch');
  });
  it('checks rejections and reports what is missing', () => {
    const c = commitment(rejectionDigest('InputShape'), salt, alice);
    expect(checkCommitment(rule, { rejection: 'InputShape' }, salt, alice, c, null).result).toBe('match');
    expect(checkCommitment(rule, { output }, salt, alice, null, null).result).toBe('unavailable');
    expect(checkCommitment(rule, { output: new Uint8Array(3) }, salt, alice, committed, null).result).toBe('mismatch');
  });
});
