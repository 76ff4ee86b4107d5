// Small numeric helpers of the pages.

/** Index of the largest value, first on ties, NaN ranked lowest (as `Argmax`); `null` if empty. */
export function argmaxIndex(values: number[]): number | null {
  let best: number | null = null;
  values.forEach((v, i) => {
    if (Number.isNaN(v)) { if (best === null) best = i; return; }
    if (best === null || Number.isNaN(values[best]) || v > values[best]) best = i;
  });
  return best;
}

/** Counts of `times` (ms) per minute over the last `minutes` minutes before `now`, oldest first. */
export function perMinute(times: number[], now: number, minutes = 60): { labels: string[]; counts: number[] } {
  const start = Math.floor(now / 60_000) - minutes + 1;
  const counts = new Array(minutes).fill(0);
  for (const t of times) {
    const m = Math.floor(t / 60_000) - start;
    if (m >= 0 && m < minutes) counts[m]++;
  }
  const labels = counts.map((_, i) => new Date((start + i) * 60_000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false }));
  return { labels, counts };
}
