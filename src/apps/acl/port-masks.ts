/** A value/mask pair of a 16-bit field (an L4 port): it matches `port & mask === value`. */
export interface PortMask {
  value: number;
  /** 0xffff for one port. */
  mask: number;
}

/**
 * The fewest value/mask pairs that together match exactly the ports min..max (inclusive): the range is cut into
 * aligned power-of-two blocks, largest first (1..65535 is 16 blocks, 1024..2047 is one). OpenFlow matches a port
 * only by mask, so a range becomes one flow per block.
 */
export function portRangeMasks(min: number, max: number): PortMask[] {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max > 0xffff || min > max)
    throw new RangeError(`bad port range ${min}..${max}`);
  const out: PortMask[] = [];
  let lo = min;
  while (lo <= max) {
    // The largest block starting at lo that is aligned and ends within max.
    let size = lo === 0 ? 0x10000 : lo & -lo;
    while (lo + size - 1 > max) size >>= 1;
    out.push({ value: lo, mask: 0xffff & ~(size - 1) });
    lo += size;
  }
  return out;
}
