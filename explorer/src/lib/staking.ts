// Stake positions as the staking pallet values them (pallets/staking/src/types.rs,
// `position_value`): a position of an older pool generation was wiped; one touched since the
// pool's last slash is worth its principal; otherwise its shares' worth, at most its principal.

import { type ChainValue, toBig, toNum } from './chain';

export function positionValue(stake: ChainValue, sharePool: ChainValue): bigint {
  const principal = toBig(stake.principal);
  if (toNum(stake.generation) !== toNum(sharePool.generation)) return 0n;
  if (toNum(stake.epoch) === toNum(sharePool.epoch)) return principal;
  const shares = toBig(sharePool.shares);
  if (shares === 0n) return 0n;
  const worth = (toBig(stake.shares) * toBig(sharePool.value)) / shares;
  return worth < principal ? worth : principal;
}
