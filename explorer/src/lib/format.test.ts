import { describe, expect, it } from 'vitest';
import { formatBalance, histogramMedian, parseTokens } from './format';
import { perbillMulCeil } from './chain';

describe('amounts', () => {
  it('formats and parses OPG (18 decimals)', () => {
    expect(formatBalance(1_050_000_000_000_000_000n, 18, 'OPG')).toBe('1.05 OPG');
    expect(formatBalance(1_000_000n * 10n ** 18n, 18, 'OPG')).toBe('1,000,000 OPG');
    expect(formatBalance(0n, 18, 'OPG')).toBe('0 OPG');
    expect(parseTokens('1.5', 18)).toBe(1_500_000_000_000_000_000n);
    expect(parseTokens('10', 18)).toBe(10n * 10n ** 18n);
    expect(() => parseTokens('1e3', 18)).toThrow();
    expect(() => parseTokens('-1', 18)).toThrow();
  });
  it('computes the protocol fee as Perbill::mul_ceil', () => {
    // request-inference.mjs: 5 % of 1 OPG.
    expect(perbillMulCeil(50_000_000n, 10n ** 18n)).toBe(5n * 10n ** 16n);
    expect(perbillMulCeil(50_000_000n, 1n)).toBe(1n);
    expect(perbillMulCeil(0n, 123n)).toBe(0n);
  });
});

describe('histogram median', () => {
  it('walks the buckets to half the total', () => {
    const h = new Array(64).fill(0);
    expect(histogramMedian(h)).toBeNull();
    h[3] = 5; h[4] = 4;
    expect(histogramMedian(h)).toBe(3);
    h[4] = 6;
    expect(histogramMedian(h)).toBe(4);
    h[63] = 100;
    expect(histogramMedian(h)).toBe(63);
  });
});
