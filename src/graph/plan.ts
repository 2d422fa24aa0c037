/** One activation tensor and the steps during which it must stay intact. */
export interface TensorLifetime {
  name: string;
  bytes: number;
  /** Index of the step that writes it first. */
  firstStep: number;
  /** Index of the step that reads it last. */
  lastStep: number;
}

/** Byte offsets of each tensor inside one arena, and the arena's size. */
export interface MemoryPlan {
  offsets: Map<string, number>;
  totalBytes: number;
}

const SLOT_ALIGN_BYTES = 16;

/**
 * Assigns arena offsets so that no two tensors alive at the same step
 * overlap, while tensors with disjoint lifetimes share memory. Greedy:
 * largest tensors first, each at the lowest offset that fits between the
 * already placed tensors whose lifetimes intersect its own.
 */
export function planMemory(tensors: readonly TensorLifetime[]): MemoryPlan {
  const names = new Set<string>();
  for (const tensor of tensors) {
    if (names.has(tensor.name)) throw new Error(`Memory plan: tensor ${tensor.name} is listed twice.`);
    names.add(tensor.name);
    if (!(tensor.bytes >= 0) || tensor.lastStep < tensor.firstStep) {
      throw new Error(
        `Memory plan: tensor ${tensor.name} has an invalid size or lifetime ` +
          `(${tensor.bytes} bytes, steps ${tensor.firstStep}..${tensor.lastStep}).`,
      );
    }
  }

  const order = [...tensors].sort((a, b) => b.bytes - a.bytes || a.firstStep - b.firstStep);
  const placed: { offset: number; end: number; tensor: TensorLifetime }[] = [];
  const offsets = new Map<string, number>();
  let totalBytes = 0;
  for (const tensor of order) {
    const size = Math.ceil(tensor.bytes / SLOT_ALIGN_BYTES) * SLOT_ALIGN_BYTES;
    const conflicts = placed
      .filter((other) => other.tensor.firstStep <= tensor.lastStep && tensor.firstStep <= other.tensor.lastStep)
      .sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const other of conflicts) {
      if (offset + size <= other.offset) break;
      offset = Math.max(offset, other.end);
    }
    placed.push({ offset, end: offset + size, tensor });
    offsets.set(tensor.name, offset);
    totalBytes = Math.max(totalBytes, offset + size);
  }
  return { offsets, totalBytes };
}
