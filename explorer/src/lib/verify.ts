// "Verify it yourself": the `opg-node models run` command that reruns a task's model on its input
// (node/src/cli.rs, inference/src/cli.rs), and a sampling model's seed.

import { u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2 } from './digest';
import { decodeF32, decodeText } from './decode';
import type { ChainValue } from './chain';

/** Quotes `text` for a POSIX shell. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_.,:/=+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The seed a sampling language model draws task `taskId`'s tokens from:
 * blake2_256("opg/sample" ‖ SCALE(task_id: u64) ‖ hash of the block that included the request)
 * (pallets/inference/src/offchain.rs, `sampling_seed`). */
export function samplingSeed(taskId: number, requestBlockHash: Uint8Array): Uint8Array {
  const id = new Uint8Array(8);
  new DataView(id.buffer).setBigUint64(0, BigInt(taskId), true);
  return blake2(u8aConcat(new TextEncoder().encode('opg/sample'), id, requestBlockHash));
}

/** The shortest text that reads back as the same f32. */
export function f32Text(value: number): string {
  for (let digits = 1; digits <= 9; digits++) {
    const text = Number(value.toPrecision(digits)).toString();
    if (Math.fround(Number(text)) === value) return text;
  }
  return value.toString();
}

export type VerifyCommand = { command: string; note: string } | { error: string };

/**
 * The command that reruns `model` (a `ModelInfo`) on `input`, printing the output and its digest
 * under each rule (the task's rule's parameters passed as `--decimals` / `--top-k`). The model
 * files must be in the store (`--model-dir DIR`, default `<base-path>/models`).
 */
export function verifyCommand(model: ChainValue, rule: ChainValue, input: Uint8Array | null, taskId: number, requestBlockHash: Uint8Array | null): VerifyCommand {
  if (!input) return { error: 'the task\'s input is not available (neither in storage nor in its request\'s block)' };
  const d = model.descriptor;
  const weights = d.weightsHash.toHex();
  const args = ['opg-node', 'models', 'run', weights];
  const arch = d.architecture;
  let note = 'The model\'s files must be in the store: add --model-dir DIR (default: <base-path>/models; import them with `opg-node models import FILE`).';
  if (arch.isMlp || arch.isBertEmbedding) {
    const cfg = arch.isMlp ? arch.asMlp.configHash : arch.asBertEmbedding.configHash;
    args.push('--config', cfg.toHex());
    if (arch.isBertEmbedding) {
      args.push('--tokenizer', arch.asBertEmbedding.tokenizerHash.toHex());
      const text = decodeText(input);
      if (text === null) return { error: 'the input is not UTF-8' };
      args.push('--input', shellQuote(text));
    } else {
      const values = decodeF32(input);
      if (!values) return { error: 'the input is not whole f32 values' };
      args.push('--input', values.map(f32Text).join(','));
    }
    if (rule.isQuantized) args.push('--decimals', rule.asQuantized.decimals.toString());
    if (rule.isTopK) args.push('--top-k', rule.asTopK.k.toString());
    args.push('--show', '0');
    note += ` It prints the output and its digest under each rule: compare the ${rule.type} digest with the executors' revealed digests.`;
  } else if (arch.isCausalLm) {
    const g = arch.asCausalLm.generation;
    args.push('--generate');
    if (g.prompt.isChat) args.push('--chat');
    args.push('--max-prompt-tokens', g.maxPromptTokens.toString(), '--max-new-tokens', g.maxNewTokens.toString());
    for (const stop of g.stopTokens) if (stop.isSome) args.push('--stop', stop.unwrap().toString());
    if (g.decoding.isSample) {
      const s = g.decoding.asSample;
      args.push('--temperature-milli', s.temperatureMilli.toString(), '--top-p-milli', s.topPMilli.toString());
      if (requestBlockHash) args.push('--seed', u8aToHex(samplingSeed(taskId, requestBlockHash)));
      note += ' The seed is the task\'s: blake2_256("opg/sample" ‖ task id ‖ hash of the request\'s block).';
    }
    const text = decodeText(input);
    if (text === null) return { error: 'the input is not UTF-8' };
    args.push('--input', shellQuote(text));
    note += ' It prints the prompt\'s token count, the generated token ids and the Tokens digest.';
  } else {
    return { error: `architecture ${arch.type} has no models run command` };
  }
  return { command: args.join(' '), note };
}
