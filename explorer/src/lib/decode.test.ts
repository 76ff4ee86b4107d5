import { describe, expect, it } from 'vitest';
import { hexToU8a } from '@polkadot/util';
import vectors from './__fixtures__/vectors.json';
import { decodeChat, decodeF32, decodeGeneration, digitInput, encodeChat, encodeF32, encodeGeneration, l2Norm, parseF32List } from './decode';

describe('f32 vectors', () => {
  it('round-trips little-endian f32', () => {
    const bytes = encodeF32([1.5, -0, Infinity, 0.1]);
    expect(bytes.length).toBe(16);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, 0xc0, 0x3f]);
    const values = decodeF32(bytes)!;
    expect(values[0]).toBe(1.5);
    expect(Object.is(values[1], -0)).toBe(true);
    expect(values[2]).toBe(Infinity);
    expect(values[3]).toBe(Math.fround(0.1));
    expect(decodeF32(new Uint8Array(3))).toBeNull();
    expect(decodeF32(new Uint8Array(0))).toEqual([]);
  });
  it('decodes views into larger buffers', () => {
    const big = new Uint8Array(12);
    big.set(encodeF32([2]), 4);
    expect(decodeF32(big.subarray(4, 8))).toEqual([2]);
  });
  it('parses comma-separated numbers', () => {
    expect(parseF32List('0, 0.5,1e-3  -2')).toEqual([0, 0.5, Math.fround(1e-3), -2]);
    expect(() => parseF32List('1, x')).toThrow(/not a number: x/);
  });
  it('scales a digit image as the demo MLP expects', () => {
    const pixels = Array.from({ length: 64 }, (_, i) => i % 17);
    const input = digitInput(pixels);
    expect(input[16]).toBe(Math.fround(16 / 16));
    expect(input[8]).toBe(0.5);
    expect(() => digitInput([1])).toThrow();
    expect(l2Norm([3, 4])).toBe(5);
  });
});

describe('generations (SCALE)', () => {
  const hex = (name: string) => vectors.outputs.find((c) => c.name === name && c.rule === 'Tokens')!;
  it('decodes the Rust encoding', () => {
    expect(decodeGeneration(hexToU8a(hex('generation').output))).toEqual({ promptTokens: 7, tokens: [1, 2, 3], text: 'hi there' });
    const unicode = decodeGeneration(hexToU8a(hex('generation, unicode text').output))!;
    expect(unicode.text).toBe('Paris — la capitale 🇫🇷\ufffd');
    expect(unicode.tokens).toEqual([504, 3_000_000, 0, 49_151]);
    const long = decodeGeneration(hexToU8a(hex('generation, 70 tokens').output))!;
    expect(long.promptTokens).toBe(4294967295);
    expect(long.tokens.length).toBe(70);
  });
  it('re-encodes exactly', () => {
    for (const name of ['generation', 'generation, unicode text', 'generation, 70 tokens', 'empty generation']) {
      const bytes = hexToU8a(hex(name).output);
      expect(encodeGeneration(decodeGeneration(bytes)!)).toEqual(bytes);
    }
  });
  it('refuses what the codec refuses', () => {
    for (const name of ['generation with a trailing byte', 'truncated generation', 'generation with a non-minimal compact length',
      'generation with invalid utf-8', 'three bytes']) {
      expect(decodeGeneration(hexToU8a(hex(name).output))).toBeNull();
    }
  });
});

describe('chat input', () => {
  it('round-trips messages', () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2 + 2?' }];
    expect(decodeChat(encodeChat(messages))).toEqual({ messages });
  });
  it('explains malformed chats', () => {
    const bad = (s: string) => decodeChat(new TextEncoder().encode(s));
    expect(bad('{')).toHaveProperty('error');
    expect(bad('{}')).toEqual({ error: 'not a JSON array' });
    expect(bad('[{"role":"robot","content":"x"}]')).toEqual({ error: 'message 0 has role robot' });
    expect(bad('[{"role":"user"}]')).toEqual({ error: 'message 0 needs string role and content' });
    expect(decodeChat(new Uint8Array([0xff]))).toEqual({ error: 'not UTF-8' });
  });
});
