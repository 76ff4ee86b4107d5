// What a request costs, computed as `pallet-inference`'s `request_inference` does.

import { type ChainValue, perbillMulCeil, toBig } from './chain';

export type RequestFee = {
  /** `fee_per_executor` plus, for a causal language model with token fees, the fees of its
   * longest prompt and generation. */
  perExecutor: bigint;
  redundancy: bigint;
  /** `perExecutor × redundancy`. */
  executorFees: bigint;
  /** `ProtocolFee.mul_ceil(executorFees)`. */
  protocolFee: bigint;
  /** What is held in escrow, the least `max_fee` that is accepted. */
  escrow: bigint;
};

/** The escrow of a request of `model` (a `ModelInfo`) with `redundancy` executors (default:
 * the model's), given the runtime's `inference.protocolFee` (a Perbill). */
export function requestFee(model: ChainValue, protocolFeeParts: bigint, redundancy?: number): RequestFee {
  let perExecutor = toBig(model.feePerExecutor);
  const architecture = model.descriptor.architecture;
  if (model.tokenFees.isSome && architecture.isCausalLm) {
    const prices = model.tokenFees.unwrap();
    const { maxPromptTokens, maxNewTokens } = architecture.asCausalLm.generation;
    perExecutor += toBig(prices.perPromptToken) * toBig(maxPromptTokens) + toBig(prices.perGeneratedToken) * toBig(maxNewTokens);
  }
  const r = BigInt(redundancy ?? model.redundancy.toNumber());
  const executorFees = perExecutor * r;
  const protocolFee = perbillMulCeil(protocolFeeParts, executorFees);
  return { perExecutor, redundancy: r, executorFees, protocolFee, escrow: executorFees + protocolFee };
}
