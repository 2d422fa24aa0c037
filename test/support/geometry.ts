import { resolveAxis } from '../../src/graph/padding.js';
import type { Padding } from '../../src/graph/spec.js';
import type { ConvGeometry } from '../reference/conv.js';
import type { Random } from './prng.js';

/** Channel counts below the 4-lane tile, at it, multiples, and above it, plus real layer widths. */
export const CHANNEL_COUNTS = [1, 2, 3, 4, 8, 5, 9, 13, 33, 16, 24, 40, 96, 144, 240] as const;

/** Spatial sizes that divide no tile. */
export const SPATIAL_SIZES = [1, 2, 3, 5, 7, 13, 14, 17] as const;

export type PaddingKind = 'same' | 'valid' | 'explicit';
export const PADDING_KINDS: readonly PaddingKind[] = ['same', 'valid', 'explicit'];

/**
 * Builds the padding of one case. 'explicit' draws each edge in [0, kernel - 1]
 * independently, so every edge is padded in some cases and not in others.
 */
export function drawPadding(kind: PaddingKind, kernel: number, random: Random): Padding {
  if (kind !== 'explicit') return kind;
  return {
    top: random.int(0, kernel - 1),
    bottom: random.int(0, kernel - 1),
    left: random.int(0, kernel - 1),
    right: random.int(0, kernel - 1),
  };
}

/**
 * Resolves output size and leading padding the way the runtime does, or returns
 * null when the kernel does not fit the padded input.
 */
export function resolveGeometry(inH: number, inW: number, kernel: number, stride: number, padding: Padding): ConvGeometry | null {
  try {
    const height = resolveAxis(inH, kernel, stride, padding, 'height');
    const width = resolveAxis(inW, kernel, stride, padding, 'width');
    return {
      inH,
      inW,
      outH: height.outSize,
      outW: width.outSize,
      kernel,
      stride,
      padTop: height.padBefore,
      padLeft: width.padBefore,
    };
  } catch {
    return null;
  }
}

/** Short text for a padding in test names and failure messages. */
export function paddingText(padding: Padding): string {
  return typeof padding === 'string' ? padding : `t${padding.top}b${padding.bottom}l${padding.left}r${padding.right}`;
}
