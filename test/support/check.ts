import { assert } from 'vitest';
import type { Arena } from './buffers.js';
import { ulpOf, type Tolerance } from './tolerances.js';

/** What a failure message names: the op, its parameters and the seed. */
export interface CaseLabel {
  op: string;
  params: Record<string, unknown>;
  seed: number;
}

export function describeCase(label: CaseLabel): string {
  const params = Object.entries(label.params)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${label.op} [${params}] seed=${label.seed}`;
}

/**
 * Returns the largest error allowed at one element. magnitude is the
 * dot-product magnitude for 'dot', the mean |x| for 'mean', unused otherwise.
 */
export function allowedError(tolerance: Tolerance, expected: number, magnitude: number): number {
  switch (tolerance.kind) {
    case 'exact':
      return 0;
    case 'ulp':
      return Math.max(tolerance.ulps * ulpOf(expected), tolerance.absFloor);
    case 'dot':
      return tolerance.abs + tolerance.rel * magnitude + tolerance.outputUlps * ulpOf(expected);
    case 'mean':
      return tolerance.ulps * ulpOf(expected) + tolerance.rel * magnitude;
  }
}

/**
 * Fails the test at the first element that is not finite or is outside the
 * tolerance. For 'exact', expected is rounded to f32 first and compared bit for
 * bit, except that +0 and -0 are equal. magnitude is per element, or one value
 * for all, or omitted.
 */
export function expectClose(
  label: CaseLabel,
  tolerance: Tolerance,
  actual: Float32Array,
  expected: ArrayLike<number>,
  magnitude?: ArrayLike<number> | number,
): void {
  assert.strictEqual(actual.length, expected.length, `${describeCase(label)}: output length`);
  for (let i = 0; i < actual.length; i++) {
    const value = actual[i];
    const target = expected[i];
    let scale = 0;
    if (typeof magnitude === 'number') scale = magnitude;
    else if (magnitude !== undefined) scale = magnitude[i];
    if (!Number.isFinite(value)) {
      assert.fail(`${describeCase(label)}: element ${i} is ${value}, expected ${target} (outputs must be finite)`);
    }
    const reference = tolerance.kind === 'exact' ? Math.fround(target) : target;
    const error = Math.abs(value - reference);
    const allowed = allowedError(tolerance, reference, scale);
    if (!(error <= allowed)) {
      assert.fail(
        `${describeCase(label)}: element ${i} is ${value}, expected ${reference} ` +
          `(error ${error.toExponential(3)}, allowed ${allowed.toExponential(3)}, ${tolerance.kind} tolerance)`,
      );
    }
  }
}

/** Fails the test when a kernel wrote past an output or changed an input. */
export function expectNoDamage(label: CaseLabel, arena: Arena): void {
  const problems = arena.damage();
  if (problems.length > 0) assert.fail(`${describeCase(label)}: ${problems.join('; ')}`);
}
