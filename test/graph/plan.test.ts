import { describe, expect, test } from 'vitest';
import { planMemory, type TensorLifetime } from '../../src/graph/plan.js';
import { seededRandom } from '../../src/graph/configs.js';

function overlaps(a: TensorLifetime, b: TensorLifetime): boolean {
  return a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
}

describe('planMemory', () => {
  test('chain of tensors reuses memory', () => {
    // t0 -> t1 -> t2 -> t3: only neighbours are alive together.
    const tensors = [0, 1, 2, 3].map((i) => ({ name: `t${i}`, bytes: 1000, firstStep: i, lastStep: i + 1 }));
    const plan = planMemory(tensors);
    expect(plan.totalBytes).toBe(2 * 1008);
  });

  test('random lifetimes never share live bytes', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const random = seededRandom(seed);
      const tensors: TensorLifetime[] = [];
      for (let i = 0; i < 60; i++) {
        const first = Math.floor(random() * 40);
        tensors.push({ name: `t${i}`, bytes: 1 + Math.floor(random() * 5000), firstStep: first, lastStep: first + Math.floor(random() * 6) });
      }
      const plan = planMemory(tensors);
      let peakLive = 0;
      for (let step = 0; step < 50; step++) {
        peakLive = Math.max(peakLive, tensors.filter((t) => t.firstStep <= step && step <= t.lastStep).reduce((sum, t) => sum + t.bytes, 0));
      }
      for (const a of tensors) {
        const offsetA = plan.offsets.get(a.name)!;
        expect(offsetA % 16, `seed ${seed}: ${a.name} alignment`).toBe(0);
        expect(offsetA + a.bytes, `seed ${seed}: ${a.name} fits`).toBeLessThanOrEqual(plan.totalBytes);
        for (const b of tensors) {
          if (a === b || !overlaps(a, b)) continue;
          const offsetB = plan.offsets.get(b.name)!;
          const disjoint = offsetA + a.bytes <= offsetB || offsetB + b.bytes <= offsetA;
          expect(disjoint, `seed ${seed}: ${a.name} and ${b.name} are alive together but overlap`).toBe(true);
        }
      }
      const total = tensors.reduce((sum, t) => sum + t.bytes, 0);
      expect(plan.totalBytes, `seed ${seed}`).toBeGreaterThanOrEqual(peakLive);
      expect(plan.totalBytes, `seed ${seed}`).toBeLessThan(total);
    }
  });

  test('duplicate tensor name is rejected', () => {
    expect(() =>
      planMemory([
        { name: 'a', bytes: 4, firstStep: 0, lastStep: 1 },
        { name: 'a', bytes: 4, firstStep: 2, lastStep: 3 },
      ]),
    ).toThrow(/tensor a is listed twice/);
  });

  test('inverted lifetime is rejected', () => {
    expect(() => planMemory([{ name: 'a', bytes: 4, firstStep: 3, lastStep: 1 }])).toThrow(/invalid size or lifetime/);
  });
});
