// Decoders of what tasks carry as bytes: inputs (f32 vectors, text, chat messages) and revealed
// outputs (f32 values, a causal language model's SCALE `Generation`).

/** `opg_model::generation::Generation`: prompt length, generated token ids, their text. */
export type Generation = { promptTokens: number; tokens: number[]; text: string };

/** Little-endian f32 values of `bytes` (`null` unless the length is a multiple of 4). */
export function decodeF32(bytes: Uint8Array): number[] | null {
  if (bytes.length % 4 !== 0) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

/** Little-endian f32 bytes of `values` (rounded to f32), what an F32Vector input carries. */
export function encodeF32(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** Parses comma- (or whitespace-) separated numbers; throws with the offending item. */
export function parseF32List(text: string): number[] {
  const items = text.split(/[\s,]+/).filter((s) => s !== '');
  return items.map((item) => {
    const value = Number(item);
    if (!Number.isFinite(value)) throw new Error(`not a number: ${item}`);
    return Math.fround(value);
  });
}

// --- SCALE, strictly as parity-scale-codec decodes (canonical compacts only) -------------------

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.bytes.length) throw new Error('truncated');
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u32(): number {
    const b = this.take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }
  /** `Compact<u32>`, refusing encodings that are not the shortest (as the codec does). */
  compactU32(): number {
    const first = this.take(1)[0];
    switch (first & 3) {
      case 0: return first >>> 2;
      case 1: {
        const value = (first | (this.take(1)[0] << 8)) >>> 2;
        if (value <= 0x3f) throw new Error('non-canonical compact');
        return value;
      }
      case 2: {
        const b = this.take(3);
        const value = ((first | (b[0] << 8) | (b[1] << 16) | (b[2] << 24)) >>> 0) >>> 2;
        if (value <= 0x3fff) throw new Error('non-canonical compact');
        return value;
      }
      default: {
        // Big-integer mode: for a u32 exactly 4 bytes follow, and the value needs 30+ bits.
        if (first >>> 2 !== 0) throw new Error('compact out of range for u32');
        const value = this.u32();
        if (value <= 0x3fffffff) throw new Error('non-canonical compact');
        return value;
      }
    }
  }
}

function encodeCompactU32(value: number): Uint8Array {
  if (value <= 0x3f) return new Uint8Array([value << 2]);
  if (value <= 0x3fff) {
    const v = (value << 2) | 1;
    return new Uint8Array([v & 0xff, (v >>> 8) & 0xff]);
  }
  if (value <= 0x3fffffff) {
    const v = ((value << 2) | 2) >>> 0;
    return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
  }
  return new Uint8Array([3, value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]);
}

function encodeU32(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]);
}

/** `Generation::decode_output`: the bytes as a Generation if they are exactly one (no trailing
 * bytes, valid UTF-8, canonical compact lengths), else `null`. */
export function decodeGeneration(bytes: Uint8Array): Generation | null {
  try {
    const r = new Reader(bytes);
    const promptTokens = r.u32();
    const count = r.compactU32();
    if (count * 4 > bytes.length - r.pos) return null;
    const tokens = Array.from({ length: count }, () => r.u32());
    const textLen = r.compactU32();
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(r.take(textLen));
    if (r.pos !== bytes.length) return null;
    return { promptTokens, tokens, text };
  } catch {
    return null;
  }
}

/** SCALE encoding of a Generation. */
export function encodeGeneration(g: Generation): Uint8Array {
  const text = new TextEncoder().encode(g.text);
  const parts = [encodeU32(g.promptTokens), encodeCompactU32(g.tokens.length), ...g.tokens.map(encodeU32),
    encodeCompactU32(text.length), text];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// --- Text and chat inputs ---------------------------------------------------------------------

/** UTF-8 text of `bytes`, or `null` if it is not UTF-8. */
export function decodeText(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

export type ChatMessage = { role: string; content: string };
export const CHAT_ROLES = ['system', 'user', 'assistant'];

/** Chat input: a UTF-8 JSON array of `{role, content}` with roles system/user/assistant (what the
 * engine accepts; anything else it rejects as `MalformedChat`). Returns the messages, or an
 * error in words. */
export function decodeChat(bytes: Uint8Array): { messages: ChatMessage[] } | { error: string } {
  const text = decodeText(bytes);
  if (text === null) return { error: 'not UTF-8' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  if (!Array.isArray(parsed)) return { error: 'not a JSON array' };
  const messages: ChatMessage[] = [];
  for (const [i, m] of parsed.entries()) {
    if (typeof m !== 'object' || m === null) return { error: `message ${i} is not an object` };
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || typeof content !== 'string') return { error: `message ${i} needs string role and content` };
    if (!CHAT_ROLES.includes(role)) return { error: `message ${i} has role ${role}` };
    messages.push({ role, content });
  }
  return { messages };
}

export function encodeChat(messages: ChatMessage[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(messages));
}

// --- Digit images -----------------------------------------------------------------------------

/** The demo MLP's input: 8×8 pixels of intensity 0..16, row-major, scaled to [0, 1]. */
export function digitInput(pixels: number[]): number[] {
  if (pixels.length !== 64) throw new Error('a digit image has 64 pixels');
  return pixels.map((p) => Math.fround(p / 16));
}

/** L2 norm of a vector (for embeddings). */
export function l2Norm(values: number[]): number {
  return Math.sqrt(values.reduce((sum, v) => sum + v * v, 0));
}
