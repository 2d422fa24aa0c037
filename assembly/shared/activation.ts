// Activation functions shared by every kernel, in a scalar and an f32x4 form
// that use the same constants and the same order of operations, so the SIMD
// and scalar builds agree to a few ULP.

/** Activation codes, equal to ACTIVATION_CODES in src/graph/spec.ts. */
export const ACTIVATION_LINEAR: i32 = 0;
export const ACTIVATION_RELU: i32 = 1;
export const ACTIVATION_RELU6: i32 = 2;
export const ACTIVATION_SWISH: i32 = 3;
export const ACTIVATION_SIGMOID: i32 = 4;
export const ACTIVATION_HARDSWISH: i32 = 5;

// exp(x) = 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2) / 2. The
// reduction splits ln 2 into a high part with 16 trailing zero bits, so n * LN2_HIGH
// is exact for |n| < 256 (Cody and Waite).
//
// n is rounded by adding EXP_MAGIC = 1.5 * 2^23 + 127: the sum's spacing is 1, so
// the addition rounds x / ln 2 to an integer and leaves n + 127 in the low mantissa
// bits. Shifting those bits left by 23 gives the float 2^n directly, with no
// float-to-int conversion, which V8 expands into several instructions on x64.
const LOG2E: f32 = 1.44269502162933349609375;
const EXP_MAGIC: f32 = 12583039.0;
const LN2_HIGH: f32 = 0.693145751953125;
const LN2_LOW: f32 = 1.428606765330187045037746429443359375e-6;

// e^r ~ 1 + r * (C1 + r * (C2 + r * (C3 + r * (C4 + r * C5)))) on [-ln(2)/2, ln(2)/2].
// The coefficients come from a least-squares fit reweighted toward minimax and rounded
// to f32. Evaluated in f32, the measured relative error stays below 1.5 * 2^-23.
const EXP_C1: f32 = 0.9999997019767761;
const EXP_C2: f32 = 0.4999915063381195;
const EXP_C3: f32 = 0.1666763573884964;
const EXP_C4: f32 = 0.04189793020486832;
const EXP_C5: f32 = 0.008290314115583897;

// exp(x) is below the smallest normal float (2^-126) for x < -126 ln 2 = -87.3365,
// and 2^n must stay a normal float. So arguments are clamped to EXP_MIN_ARG, and
// results for arguments below it are flushed to zero. The absolute error of that
// flush is at most 2^-126.
const EXP_MIN_ARG: f32 = -87.33;

const SIXTH: f32 = 0.16666667163372039794921875;

// The vector exp's constants, each repeated in 4 lanes, as static data. V8 builds
// a v128.const with three instructions on x64 at every use (a call does not keep
// it in a register), while a load from here is one.
const EXP_VECTOR_CONSTANTS = memory.data<f32>([
  EXP_MIN_ARG, EXP_MIN_ARG, EXP_MIN_ARG, EXP_MIN_ARG,
  LOG2E, LOG2E, LOG2E, LOG2E,
  EXP_MAGIC, EXP_MAGIC, EXP_MAGIC, EXP_MAGIC,
  LN2_HIGH, LN2_HIGH, LN2_HIGH, LN2_HIGH,
  LN2_LOW, LN2_LOW, LN2_LOW, LN2_LOW,
  EXP_C5, EXP_C5, EXP_C5, EXP_C5,
  EXP_C4, EXP_C4, EXP_C4, EXP_C4,
  EXP_C3, EXP_C3, EXP_C3, EXP_C3,
  EXP_C2, EXP_C2, EXP_C2, EXP_C2,
  EXP_C1, EXP_C1, EXP_C1, EXP_C1,
  1.0, 1.0, 1.0, 1.0,
  -0.0, -0.0, -0.0, -0.0,
], 16);

/** e^x for x <= 0. Arguments below EXP_MIN_ARG, where e^x < 1.2e-38, give +0. */
// @ts-ignore: decorator
@inline export function expNonPositive(x: f32): f32 {
  const clamped = x < EXP_MIN_ARG ? EXP_MIN_ARG : x;
  const biased = clamped * LOG2E + EXP_MAGIC;
  const scale = reinterpret<f32>(reinterpret<i32>(biased) << 23);
  const n = biased - EXP_MAGIC;
  let r = clamped - n * LN2_HIGH;
  r = r - n * LN2_LOW;
  let p = r * EXP_C5 + EXP_C4;
  p = p * r + EXP_C3;
  p = p * r + EXP_C2;
  p = p * r + EXP_C1;
  p = p * r + 1.0;
  return x < EXP_MIN_ARG ? 0.0 : p * scale;
}

/** 1 / (1 + e^-x), computed from e^-|x| <= 1 so no intermediate overflows. */
// @ts-ignore: decorator
@inline export function sigmoidScalar(x: f32): f32 {
  const e = expNonPositive(-abs<f32>(x));
  const numerator: f32 = x >= 0 ? 1.0 : e;
  return numerator / (<f32>1.0 + e);
}

/** Applies the activation with the given code to one value. Unknown codes act as linear. */
export function activateScalar(x: f32, activation: i32): f32 {
  switch (activation) {
    case ACTIVATION_RELU:
      return max<f32>(x, 0.0);
    case ACTIVATION_RELU6:
      return min<f32>(max<f32>(x, 0.0), 6.0);
    case ACTIVATION_SWISH:
      return x * sigmoidScalar(x);
    case ACTIVATION_SIGMOID:
      return sigmoidScalar(x);
    case ACTIVATION_HARDSWISH:
      return x * min<f32>(max<f32>(x + 3.0, 0.0), 6.0) * SIXTH;
    default:
      return x;
  }
}

/** e^x in each lane for lanes <= 0. Lanes below EXP_MIN_ARG, where e^x < 1.2e-38, give +0. */
// @ts-ignore: decorator
@inline export function expNonPositiveVector(x: v128): v128 {
  const table = EXP_VECTOR_CONSTANTS;
  const minArg = v128.load(table);
  const magic = v128.load(table, 32);
  // pmax is a single maxps on x64, where max needs extra NaN and signed-zero handling.
  const clamped = f32x4.pmax(x, minArg);
  const biased = f32x4.add(f32x4.mul(clamped, v128.load(table, 16)), magic);
  const scale = i32x4.shl(biased, 23);
  const n = f32x4.sub(biased, magic);
  let r = f32x4.sub(clamped, f32x4.mul(n, v128.load(table, 48)));
  r = f32x4.sub(r, f32x4.mul(n, v128.load(table, 64)));
  let p = f32x4.add(f32x4.mul(r, v128.load(table, 80)), v128.load(table, 96));
  p = f32x4.add(f32x4.mul(p, r), v128.load(table, 112));
  p = f32x4.add(f32x4.mul(p, r), v128.load(table, 128));
  p = f32x4.add(f32x4.mul(p, r), v128.load(table, 144));
  p = f32x4.add(f32x4.mul(p, r), v128.load(table, 160));
  // Lanes with x below EXP_MIN_ARG become +0.
  return v128.and(f32x4.mul(p, scale), f32x4.ge(x, minArg));
}

/** 1 / (1 + e^-x) in each lane, computed from e^-|x| <= 1 so no intermediate overflows. */
// @ts-ignore: decorator
@inline export function sigmoidVector(x: v128): v128 {
  const one = v128.load(EXP_VECTOR_CONSTANTS, 160);
  // Setting the sign bit gives -|x| in one instruction, where abs and neg take three each on x64.
  const e = expNonPositiveVector(v128.or(x, v128.load(EXP_VECTOR_CONSTANTS, 176)));
  // 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with a single division.
  const numerator = v128.bitselect(one, e, f32x4.ge(x, f32x4.splat(0.0)));
  return f32x4.div(numerator, f32x4.add(one, e));
}

/** x * sigmoid(x) in each lane. Inlined into the kernels' hot loops, where swish is the common activation. */
// @ts-ignore: decorator
@inline export function swishVector(x: v128): v128 {
  return f32x4.mul(x, sigmoidVector(x));
}

/** Applies the activation with the given code to each lane. Unknown codes act as linear. */
export function activateVector(x: v128, activation: i32): v128 {
  switch (activation) {
    case ACTIVATION_RELU:
      return f32x4.pmax(x, f32x4.splat(0.0));
    case ACTIVATION_RELU6:
      return f32x4.pmin(f32x4.pmax(x, f32x4.splat(0.0)), f32x4.splat(6.0));
    case ACTIVATION_SWISH:
      return swishVector(x);
    case ACTIVATION_SIGMOID:
      return sigmoidVector(x);
    case ACTIVATION_HARDSWISH: {
      const gate = f32x4.pmin(f32x4.pmax(f32x4.add(x, f32x4.splat(3.0)), f32x4.splat(0.0)), f32x4.splat(6.0));
      return f32x4.mul(f32x4.mul(x, gate), f32x4.splat(SIXTH));
    }
    default:
      return x;
  }
}
