import { describe, expect, it } from 'vitest';
import { u8aToHex } from '@polkadot/util';
import { blake2AsU8a } from '@polkadot/util-crypto';
import { f32Text, samplingSeed, shellQuote } from './verify';

describe('verify command pieces', () => {
  it('prints f32 values that read back exactly', () => {
    for (const v of [0, 0.4375, Math.fround(0.1), Math.fround(1 / 3), -2.5, Math.fround(1e-7)]) {
      expect(Math.fround(Number(f32Text(v)))).toBe(v);
    }
    expect(f32Text(Math.fround(0.1))).toBe('0.1');
  });
  it('quotes for the shell', () => {
    expect(shellQuote('abc')).toBe('abc');
    expect(shellQuote("it's [x]")).toBe(`'it'\\''s [x]'`);
  });
  it('derives the sampling seed as the pallet does', () => {
    const hash = new Uint8Array(32).fill(9);
    const pre = new Uint8Array([...new TextEncoder().encode('opg/sample'), 5, 0, 0, 0, 0, 0, 0, 0, ...hash]);
    expect(u8aToHex(samplingSeed(5, hash))).toBe(u8aToHex(blake2AsU8a(pre, 256)));
  });
});
