import type { EdgePadding, Padding } from './spec.js';

/** Output size and the padding actually applied along one spatial axis. */
export interface AxisGeometry {
  outSize: number;
  padBefore: number;
  padAfter: number;
}

/**
 * Resolves the padding of one axis from the layer's own input size.
 * TensorFlow's SAME gives ceil(in / stride) outputs and puts the odd extra
 * padding pixel after (bottom or right); VALID pads nothing.
 */
export function resolveAxis(
  inSize: number,
  kernel: number,
  stride: number,
  padding: Padding,
  axis: 'height' | 'width',
): AxisGeometry {
  if (padding === 'same') {
    const outSize = Math.ceil(inSize / stride);
    const total = Math.max((outSize - 1) * stride + kernel - inSize, 0);
    const padBefore = Math.floor(total / 2);
    return { outSize, padBefore, padAfter: total - padBefore };
  }
  let padBefore = 0;
  let padAfter = 0;
  if (padding !== 'valid') {
    const edges: EdgePadding = padding;
    padBefore = axis === 'height' ? edges.top : edges.left;
    padAfter = axis === 'height' ? edges.bottom : edges.right;
  }
  const span = inSize + padBefore + padAfter - kernel;
  if (span < 0) {
    throw new Error(
      `Invalid convolution geometry: a ${kernel}x${kernel} kernel does not fit the padded ${axis} ` +
        `(${inSize} + ${padBefore} + ${padAfter} pixels). Use a larger input.`,
    );
  }
  return { outSize: Math.floor(span / stride) + 1, padBefore, padAfter };
}
