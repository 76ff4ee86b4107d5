// A registry entry described: files by hash, format, architecture, engine profile, input and
// output kinds, comparison rule and fees.

import type { ChainValue } from '../lib/chain';
import { toBig } from '../lib/chain';
import { ruleName, ruleOf } from '../lib/digest';
import { Address, Balance } from './common';

export function architectureText(arch: ChainValue): string {
  if (arch.isMlp) return 'MLP';
  if (arch.isBertEmbedding) return 'BERT sentence embedding';
  if (arch.isCausalLm) {
    const g = arch.asCausalLm.generation;
    const decoding = g.decoding.isSample
      ? `sampling at temperature ${g.decoding.asSample.temperatureMilli.toNumber() / 1000}, top-p ${g.decoding.asSample.topPMilli.toNumber() / 1000}`
      : 'greedy';
    const stops = g.stopTokens.filter((s: ChainValue) => s.isSome).map((s: ChainValue) => s.unwrap().toString());
    return `causal LM (${g.prompt.type} prompt, ≤ ${g.maxPromptTokens} prompt tokens, ≤ ${g.maxNewTokens} new tokens, ${decoding}${stops.length ? `, stop tokens ${stops.join(', ')}` : ''})`;
  }
  return arch.type;
}

export function inputKindText(kind: ChainValue): string {
  if (kind.isF32Vector) return `${kind.asF32Vector.len} f32 values`;
  if (kind.isText) return `UTF-8 text ≤ ${kind.asText.maxBytes} bytes`;
  if (kind.isChat) return `chat messages (JSON) ≤ ${kind.asChat.maxBytes} bytes`;
  return kind.type;
}

export function ModelDescription({ model }: { model: ChainValue }) {
  const d = model.descriptor;
  const arch = d.architecture;
  const files: Array<[string, string]> = [['weights', d.weightsHash.toHex()]];
  if (arch.isMlp) files.push(['config', arch.asMlp.configHash.toHex()]);
  if (arch.isBertEmbedding) files.push(['config', arch.asBertEmbedding.configHash.toHex()], ['tokenizer', arch.asBertEmbedding.tokenizerHash.toHex()]);
  return (
    <dl className="facts">
      <dt>Name, version</dt><dd>{model.name.toUtf8()} v{model.version.toString()}{model.previousVersion.isSome ? ` (previous: model ${model.previousVersion.unwrap()})` : ''}{model.nextVersion.isSome ? ` (next: model ${model.nextVersion.unwrap()})` : ''}</dd>
      <dt>Owner</dt><dd><Address address={model.owner.toString()} full /></dd>
      <dt>Files (blake2-256)</dt><dd>{files.map(([what, hash]) => <div key={what}>{what}: <span className="mono">{hash}</span></div>)}</dd>
      <dt>Format</dt><dd>{d.format.type}, {(Number(model.sizeBytes.toString()) / 1024).toFixed(1)} KiB</dd>
      <dt>Architecture</dt><dd>{architectureText(arch)}</dd>
      <dt>Engine profile</dt><dd>{d.profile.kernels.type}, {d.profile.dtype.type}</dd>
      <dt>Input → output</dt><dd>{inputKindText(model.input)} → {model.output.type}</dd>
      <dt>Comparison rule</dt><dd>{ruleName(ruleOf(model.comparison))}</dd>
      <dt>Fee</dt><dd><Balance planck={toBig(model.feePerExecutor)} /> per executor{model.tokenFees.isSome ? <> + <Balance planck={toBig(model.tokenFees.unwrap().perPromptToken)} /> per prompt token, <Balance planck={toBig(model.tokenFees.unwrap().perGeneratedToken)} /> per generated token</> : null}</dd>
      <dt>Status</dt><dd>{model.status.type}, registered at block {model.registeredAt.toString()}</dd>
      {model.sourceUri.isSome && <><dt>Source</dt><dd>{model.sourceUri.unwrap().toUtf8()}</dd></>}
    </dl>
  );
}
