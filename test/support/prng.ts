/**
 * mulberry32: a small seeded 32-bit PRNG, so every randomized test can be
 * replayed from the seed printed in its failure message.
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns a uniform float in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Returns a uniform integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** Returns one element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Returns count floats uniform in [low, high), rounded to f32. */
  floats(count: number, low = -1, high = 1): Float32Array {
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = this.uniform(low, high);
    return values;
  }
}

/** Seed of a test run: SEED from the environment when set, so a failure can be replayed. */
export function baseSeed(): number {
  const fromEnv = process.env.SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const parsed = Number(fromEnv);
    if (Number.isInteger(parsed)) return parsed >>> 0;
    throw new Error(`Invalid SEED: expected an integer, but got ${JSON.stringify(fromEnv)}.`);
  }
  return 0x5eed1234;
}
