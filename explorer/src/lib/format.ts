// Amounts, addresses and times in words.

/** `planck` in whole tokens with up to `maxFraction` decimals, e.g. `1.05 OPG`. */
export function formatBalance(planck: bigint, decimals: number, symbol: string, maxFraction = 4): string {
  const negative = planck < 0n;
  const abs = negative ? -planck : planck;
  const unit = 10n ** BigInt(decimals);
  const whole = abs / unit;
  let fraction = (abs % unit).toString().padStart(decimals, '0').slice(0, maxFraction).replace(/0+$/, '');
  if (fraction === '' && abs % unit !== 0n && whole === 0n) fraction = '0'.repeat(maxFraction - 1) + '1'; // tiny, not zero
  const wholeText = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${wholeText}${fraction ? `.${fraction}` : ''} ${symbol}`;
}

/** Whole tokens (`"1.5"`) to planck; throws on anything else. */
export function parseTokens(text: string, decimals: number): bigint {
  const trimmed = text.trim();
  if (!/^\d+(\.\d*)?$|^\.\d+$/.test(trimmed)) throw new Error(`not an amount: "${text}"`);
  const [whole, fraction = ''] = trimmed.split('.');
  if (fraction.length > decimals) throw new Error(`at most ${decimals} decimals`);
  return BigInt(whole || '0') * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
}

export function shortAddress(address: string): string {
  return address.length > 14 ? `${address.slice(0, 6)}…${address.slice(-6)}` : address;
}

export function shortHex(hex: string, keep = 10): string {
  return hex.length > 2 * keep + 3 ? `${hex.slice(0, keep + 2)}…${hex.slice(-keep)}` : hex;
}

export function formatTime(ms: number | null | undefined): string {
  if (!ms) return '';
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false }) + '.' + String(ms % 1000).padStart(3, '0');
}

/** polkadot.js apps' page of a block on this endpoint. */
export function appsBlockLink(rpc: string, blockHash: string): string {
  return `https://polkadot.js.org/apps/?rpc=${encodeURIComponent(rpc)}#/explorer/query/${blockHash}`;
}

/** Median of a histogram whose bucket i counts values i (the last bucket: "at least that"):
 * the first bucket at which the running sum reaches half the total (the lower median); `null`
 * when empty. */
export function histogramMedian(buckets: number[]): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let running = 0;
  for (let i = 0; i < buckets.length; i++) {
    running += buckets[i];
    if (2 * running >= total) return i;
  }
  return buckets.length - 1;
}
