// Chain values are decoded by @polkadot/api from the node's metadata at run time: the explorer
// writes no type definitions for them. TypeScript cannot know their shape without generated
// augmentations, so they are typed `ChainValue` (any) and read through the accessors polkadot.js
// derives from metadata (`.isSome`, `.asSettled`, `.toBigInt()`, camelCase fields).

export type ChainValue = any;

/** A storage item, or `undefined` when this runtime does not have it (`inference.modelStats`
 * before the upgrade that adds it). */
export function storage(api: ChainValue, pallet: string, item: string): ChainValue | undefined {
  return api.query[pallet]?.[item];
}

/** `Option<T>` to `T | null`. */
export function unwrap(option: ChainValue): ChainValue | null {
  return option && option.isSome ? option.unwrap() : null;
}

export function toBig(value: ChainValue): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(value);
  return BigInt(value.toString());
}

export function toNum(value: ChainValue): number {
  return typeof value === 'number' ? value : Number(value.toString());
}

/** The bytes of a `Bytes` / `BoundedVec<u8>` value, without its length prefix. */
export function bytesOf(value: ChainValue): Uint8Array {
  return value.toU8a(true);
}

/** `Perbill::mul_ceil`: ⌈x · parts / 10⁹⌉ (exact, as the runtime computes it). */
export function perbillMulCeil(parts: bigint, x: bigint): bigint {
  const d = 1_000_000_000n;
  return (x * parts + d - 1n) / d;
}
