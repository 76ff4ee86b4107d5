// The explorer's readers on real chain values: decoded from the runtime's metadata (a snapshot in
// __fixtures__/metadata.json), with no hand-written types, as @polkadot/api decodes them from a node.

import { describe, expect, it } from 'vitest';
import { Metadata, TypeRegistry, expandMetadata } from '@polkadot/types';
import { u8aToHex } from '@polkadot/util';
import fixture from './__fixtures__/metadata.json';
import type { ChainValue } from './chain';
import { toBig } from './chain';
import { ruleOf, ruleName } from './digest';
import { requestFee } from './fees';
import { revealInExtrinsic } from './history';
import { verifyCommand } from './verify';
import { encodeF32 } from './decode';
import { histogramMedian } from './format';

const registry = new TypeRegistry();
const metadata = new Metadata(registry, fixture.metadata as `0x${string}`);
registry.setMetadata(metadata);
const decorated: ChainValue = expandMetadata(registry, metadata);

/** The value type of a storage item, by its lookup name. */
function storageType(pallet: string, item: string): string {
  const type = decorated.query[pallet][item].meta.type;
  return registry.createLookupType(type.isMap ? type.asMap.value : type.asPlain);
}

const OPG = 10n ** 18n;
const H1 = `0x${'11'.repeat(32)}`;
const H2 = `0x${'22'.repeat(32)}`;
const H3 = `0x${'33'.repeat(32)}`;
const ALICE = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';
const profile = { kernels: 'FixedOrderFma2', dtype: 'F32' };
const base = {
  owner: ALICE, name: 'm', version: 1, previousVersion: null, nextVersion: null, sizeBytes: 1000,
  status: 'Active', registeredAt: 5, sourceUri: null, deposit: OPG, quorum: 2,
};
const mlp: ChainValue = registry.createType(storageType('models', 'models'), {
  ...base, descriptor: { weightsHash: H1, format: 'Safetensors', architecture: { Mlp: { configHash: H2 } }, profile },
  input: { F32Vector: { len: 3 } }, output: 'Logits', feePerExecutor: OPG, tokenFees: null, redundancy: 3, comparison: { Quantized: { decimals: 4 } },
});
const bert: ChainValue = registry.createType(storageType('models', 'models'), {
  ...base, descriptor: { weightsHash: H1, format: 'Safetensors', architecture: { BertEmbedding: { configHash: H2, tokenizerHash: H3 } }, profile },
  input: { Text: { maxBytes: 512 } }, output: 'Embedding', feePerExecutor: OPG, tokenFees: null, redundancy: 3, comparison: 'Exact',
});
const generation = { prompt: 'Chat', maxPromptTokens: 64, maxNewTokens: 16, stopTokens: [2, null, null, null], decoding: { Sample: { temperatureMilli: 700, topPMilli: 900 } } };
const llm: ChainValue = registry.createType(storageType('models', 'models'), {
  ...base, descriptor: { weightsHash: H1, format: 'Gguf', architecture: { CausalLm: { generation } }, profile },
  input: { Chat: { maxBytes: 1024 } }, output: 'Generation', feePerExecutor: OPG,
  tokenFees: { perPromptToken: OPG / 1000n, perGeneratedToken: OPG / 500n }, redundancy: 1, comparison: 'Tokens',
});
const protocolFee = toBig(decorated.consts.inference.protocolFee);

describe('chain values from metadata', () => {
  it('reads comparison rules', () => {
    expect(ruleName(ruleOf(mlp.comparison))).toBe('Quantized:4');
    expect(ruleOf(bert.comparison)).toEqual({ kind: 'Exact' });
    expect(ruleOf(llm.comparison)).toEqual({ kind: 'Tokens' });
  });

  it('computes the request fee as request_inference does', () => {
    expect(protocolFee).toBe(50_000_000n); // 5 %
    expect(requestFee(mlp, protocolFee).escrow).toBe(3n * OPG + 15n * OPG / 100n);
    expect(requestFee(mlp, protocolFee, 1).escrow).toBe(OPG + 5n * OPG / 100n);
    // 1 OPG + 64 prompt tokens × 0.001 + 16 generated × 0.002, plus 5 %.
    const fee = requestFee(llm, protocolFee);
    expect(fee.perExecutor).toBe(1_096n * OPG / 1000n);
    expect(fee.escrow).toBe(1_150_800_000_000_000_000n);
  });

  it('finds a task\'s reveal in revealResult and revealResults', () => {
    const salt = `0x${'07'.repeat(32)}`;
    const output = u8aToHex(encodeF32([0.1, 0.9]));
    const single = registry.createType('Extrinsic', decorated.tx.inference.revealResult(5, { Output: output }, salt));
    expect(revealInExtrinsic(single, 5)).toEqual({ call: 'inference.revealResult', outcome: { output: encodeF32([0.1, 0.9]) }, salt: new Uint8Array(32).fill(7) });
    expect(revealInExtrinsic(single, 6)).toBeNull();
    const batch = registry.createType('Extrinsic', decorated.tx.inference.revealResults([
      [4, { Output: output }, salt], [9, { Rejected: 'MalformedChat' }, salt],
    ]));
    expect(revealInExtrinsic(batch, 9)).toEqual({ call: 'inference.revealResults', outcome: { rejection: 'MalformedChat' }, salt: new Uint8Array(32).fill(7) });
    expect(revealInExtrinsic(batch, 4)?.outcome).toEqual({ output: encodeF32([0.1, 0.9]) });
    expect(revealInExtrinsic(batch, 5)).toBeNull();
  });

  it('builds the models run command of each architecture', () => {
    const m = verifyCommand(mlp, mlp.comparison, encodeF32([0, 0.5, 0.1]), 3, null);
    expect(m).toEqual({ command: `opg-node models run ${H1} --config ${H2} --input 0,0.5,0.1 --decimals 4 --show 0`, note: expect.any(String) });
    const b = verifyCommand(bert, bert.comparison, new TextEncoder().encode("It's here."), 3, null);
    expect('command' in b && b.command).toBe(`opg-node models run ${H1} --config ${H2} --tokenizer ${H3} --input 'It'\\''s here.' --show 0`);
    const l = verifyCommand(llm, llm.comparison, new TextEncoder().encode('[{"role":"user","content":"Hi"}]'), 3, new Uint8Array(32));
    expect('command' in l && l.command).toMatch(new RegExp(`^opg-node models run ${H1} --generate --chat --max-prompt-tokens 64 --max-new-tokens 16 --stop 2 --temperature-milli 700 --top-p-milli 900 --seed 0x[0-9a-f]{64} --input '\\[\\{"role":"user","content":"Hi"\\}\\]'$`));
    expect(verifyCommand(mlp, mlp.comparison, null, 3, null)).toHaveProperty('error');
    expect(verifyCommand(mlp, mlp.comparison, new Uint8Array(3), 3, null)).toHaveProperty('error');
  });

  it('decodes the reliability records the pages read, from their SCALE bytes', () => {
    // ReliabilityRecord: nine u32 (assigned … slashes), then slashed: u128.
    const counters = [5, 4, 4, 3, 1, 0, 0, 1, 1];
    const u32s = (values: number[]) => values.flatMap((v) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24]);
    const slashed = new Uint8Array(16);
    slashed[0] = 0xd0; slashed[1] = 0x07; // 2,000
    const record: ChainValue = registry.createType(storageType('inference', 'validatorRecords'), new Uint8Array([...u32s(counters), ...slashed]));
    expect([record.assigned, record.committed, record.revealed, record.agreed, record.mismatched, record.missedCommits,
      record.missedReveals, record.declined, record.slashes].map((n: ChainValue) => n.toNumber())).toEqual(counters);
    expect(toBig(record.slashed)).toBe(2000n);

    // The latest slashes: task 7, Withheld, 2,000, block 9.
    const slashes: ChainValue = registry.createType(storageType('inference', 'validatorSlashes'),
      new Uint8Array([4, 7, 0, 0, 0, 0, 0, 0, 0, 2, ...slashed, 9, 0, 0, 0]));
    expect(slashes.length).toBe(1);
    expect(slashes[0].taskId.toNumber()).toBe(7);
    expect(slashes[0].reason.type).toBe('Withheld');
    expect(toBig(slashes[0].amount)).toBe(2000n);
    expect(slashes[0].at.toNumber()).toBe(9);

    // ModelRecord: five u32, then the 64 buckets of settle_blocks (no length prefix).
    const buckets = new Array(64).fill(0);
    buckets[3] = 2; buckets[5] = 1; buckets[63] = 2;
    const stats: ChainValue = registry.createType(storageType('inference', 'modelStats'), new Uint8Array(u32s([7, 4, 1, 1, 1, ...buckets])));
    expect(stats.requests.toNumber()).toBe(7);
    expect(stats.rejected.toNumber()).toBe(1);
    const histogram = stats.settleBlocks.map((n: ChainValue) => n.toNumber());
    expect(histogram).toEqual(buckets);
    expect(histogramMedian(histogram)).toBe(5);
  });
});
