/**
 * RFC 1071 Internet checksum helpers. `sum16` returns the unfolded 32-bit-safe partial sum so pseudo-headers
 * and data can be summed separately; `fold` finishes it. Kept as plain loops: fastest on V8 for short spans.
 */
export function sum16(buf: Buffer, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  const evenEnd = end - ((end - start) & 1);
  for (; i < evenEnd; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  // Fold periodically is unnecessary: JS numbers are exact up to 2^53, far beyond any frame's sum.
  return sum;
}

/** Folds carries and returns the one's complement (the value to store in the header). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Checksum of buf[start, end): 0 means a region containing a correct checksum field verifies. */
export function internetChecksum(buf: Buffer, start: number, end: number, initial = 0): number {
  return fold(sum16(buf, start, end, initial));
}

/** Partial sum of the IPv4 pseudo-header used by UDP and TCP. */
export function pseudoHeaderSum(buf: Buffer, srcOff: number, dstOff: number, protocol: number, l4Length: number): number {
  return sum16(buf, srcOff, srcOff + 4) + sum16(buf, dstOff, dstOff + 4) + protocol + l4Length;
}
