/**
 * Bounds-checked access to FlatBuffers tables on top of the `flatbuffers`
 * package's ByteBuffer. The package's own helpers read past the end of the
 * array as `undefined` (which becomes 0 or NaN), so every position is checked
 * here before a helper reads it. A truncated or corrupt file raises a
 * TfliteFormatError that names the file and the table being read.
 */
import { ByteBuffer } from 'flatbuffers';

import { TfliteFormatError } from './errors.js';

export { TfliteFormatError };

const SIZE_UOFFSET = 4;
const SIZE_VTABLE_HEADER = 4;

/** The bytes of one FlatBuffer plus what to call it in error messages. */
export class FlatBuffer {
  readonly bb: ByteBuffer;
  readonly byteLength: number;

  /**
   * @param bytes the whole FlatBuffer, starting at its root offset
   * @param source file name or URL, for messages
   * @param kind what the buffer contains, for messages ("TFLite model", "TFLite metadata")
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
    readonly kind: string,
  ) {
    this.bb = new ByteBuffer(bytes);
    this.byteLength = bytes.length;
  }

  /** Throws unless `length` bytes starting at `offset` lie inside the buffer. */
  require(offset: number, length: number, subject: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw this.corrupt(
        `${subject} needs bytes ${offset}..${offset + length} but the ${this.kind} has ${this.byteLength} bytes`,
      );
    }
  }

  corrupt(detail: string): TfliteFormatError {
    return new TfliteFormatError(
      `Invalid ${this.kind} in ${this.source}: ${detail}. ` +
        'The file is truncated or corrupt; download or export it again.',
    );
  }

  /** Returns the root table, whose offset is the first 4 bytes of the buffer. */
  root(tableName: string): FlatTable {
    this.require(0, SIZE_UOFFSET, `the root offset of ${tableName}`);
    return new FlatTable(this, this.bb.__indirect(0), tableName);
  }

  /** Returns the 4-byte file identifier after the root offset, or '' for a buffer shorter than 8 bytes. */
  identifier(): string {
    if (this.byteLength < 8) return '';
    return String.fromCharCode(...this.bytes.subarray(4, 8));
  }
}

/** Start and element count of a vector inside the buffer. */
interface VectorSpan {
  start: number;
  length: number;
}

/**
 * One table of a FlatBuffer. The constructor checks that the table's vtable
 * and its inline fields lie in the buffer, so field reads only need to check
 * that a field fits the table's inline size.
 */
export class FlatTable {
  private readonly bb: ByteBuffer;
  private readonly inlineSize: number;

  constructor(
    readonly buffer: FlatBuffer,
    readonly position: number,
    readonly tableName: string,
  ) {
    this.bb = buffer.bb;
    buffer.require(position, SIZE_UOFFSET, `the ${tableName} table`);
    const vtable = position - this.bb.readInt32(position);
    buffer.require(vtable, SIZE_VTABLE_HEADER, `the vtable of the ${tableName} table at byte ${position}`);
    const vtableSize = this.bb.readUint16(vtable);
    this.inlineSize = this.bb.readUint16(vtable + 2);
    if (vtableSize < SIZE_VTABLE_HEADER || vtableSize % 2 !== 0) {
      throw buffer.corrupt(`the vtable of the ${tableName} table at byte ${position} has an invalid size ${vtableSize}`);
    }
    buffer.require(vtable, vtableSize, `the vtable of the ${tableName} table at byte ${position}`);
    buffer.require(position, Math.max(this.inlineSize, SIZE_UOFFSET), `the fields of the ${tableName} table`);
  }

  /** Absolute position of field `id`, or 0 when the field is absent. */
  private field(id: number, width: number, fieldName: string): number {
    const relative = this.bb.__offset(this.position, SIZE_VTABLE_HEADER + 2 * id);
    if (relative === 0) return 0;
    if (relative < SIZE_UOFFSET || relative + width > this.inlineSize) {
      throw this.buffer.corrupt(
        `field ${fieldName} of the ${this.tableName} table at byte ${this.position} lies outside the table ` +
          `(offset ${relative}, table size ${this.inlineSize})`,
      );
    }
    return this.position + relative;
  }

  has(id: number): boolean {
    return this.bb.__offset(this.position, SIZE_VTABLE_HEADER + 2 * id) !== 0;
  }

  int8(id: number, fieldName: string, fallback = 0): number {
    const at = this.field(id, 1, fieldName);
    return at === 0 ? fallback : this.bb.readInt8(at);
  }

  uint8(id: number, fieldName: string, fallback = 0): number {
    const at = this.field(id, 1, fieldName);
    return at === 0 ? fallback : this.bb.readUint8(at);
  }

  bool(id: number, fieldName: string, fallback = false): boolean {
    const at = this.field(id, 1, fieldName);
    return at === 0 ? fallback : this.bb.readUint8(at) !== 0;
  }

  int32(id: number, fieldName: string, fallback = 0): number {
    const at = this.field(id, 4, fieldName);
    return at === 0 ? fallback : this.bb.readInt32(at);
  }

  uint32(id: number, fieldName: string, fallback = 0): number {
    const at = this.field(id, 4, fieldName);
    return at === 0 ? fallback : this.bb.readUint32(at);
  }

  float32(id: number, fieldName: string, fallback = 0): number {
    const at = this.field(id, 4, fieldName);
    return at === 0 ? fallback : this.bb.readFloat32(at);
  }

  /** Reads an unsigned 64-bit field; values above 2^53 are rejected because they cannot be byte offsets here. */
  uint64(id: number, fieldName: string): number {
    const at = this.field(id, 8, fieldName);
    if (at === 0) return 0;
    const value = this.bb.readUint64(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.buffer.corrupt(`field ${fieldName} of the ${this.tableName} table is ${value}, too large for a byte offset`);
    }
    return Number(value);
  }

  /** Follows the offset stored in field `id` to a sub-table, or returns null when the field is absent. */
  table(id: number, fieldName: string, tableName: string): FlatTable | null {
    const at = this.field(id, SIZE_UOFFSET, fieldName);
    if (at === 0) return null;
    return new FlatTable(this.buffer, this.indirect(at, fieldName), tableName);
  }

  string(id: number, fieldName: string): string | null {
    const at = this.field(id, SIZE_UOFFSET, fieldName);
    if (at === 0) return null;
    const start = this.indirect(at, fieldName);
    this.buffer.require(start, SIZE_UOFFSET, `the length of string ${fieldName} in the ${this.tableName} table`);
    const length = this.bb.readUint32(start);
    this.buffer.require(start + SIZE_UOFFSET, length, `string ${fieldName} in the ${this.tableName} table`);
    return this.bb.__string(at) as string;
  }

  int32Vector(id: number, fieldName: string): number[] | null {
    const span = this.vector(id, 4, fieldName);
    if (span === null) return null;
    const values = new Array<number>(span.length);
    for (let i = 0; i < span.length; i++) values[i] = this.bb.readInt32(span.start + 4 * i);
    return values;
  }

  float32Vector(id: number, fieldName: string): number[] | null {
    const span = this.vector(id, 4, fieldName);
    if (span === null) return null;
    const values = new Array<number>(span.length);
    for (let i = 0; i < span.length; i++) values[i] = this.bb.readFloat32(span.start + 4 * i);
    return values;
  }

  /** Reads a vector of signed 64-bit integers; values outside the safe integer range are rejected. */
  int64Vector(id: number, fieldName: string): number[] | null {
    const span = this.vector(id, 8, fieldName);
    if (span === null) return null;
    const values = new Array<number>(span.length);
    for (let i = 0; i < span.length; i++) {
      const value = this.bb.readInt64(span.start + 8 * i);
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw this.buffer.corrupt(`element ${i} of ${fieldName} in the ${this.tableName} table is out of range: ${value}`);
      }
      values[i] = Number(value);
    }
    return values;
  }

  /** Returns a view (not a copy) of a [ubyte] vector. */
  bytesVector(id: number, fieldName: string): Uint8Array | null {
    const span = this.vector(id, 1, fieldName);
    if (span === null) return null;
    return this.buffer.bytes.subarray(span.start, span.start + span.length);
  }

  tableVector(id: number, fieldName: string, tableName: string): FlatTable[] | null {
    const span = this.vector(id, SIZE_UOFFSET, fieldName);
    if (span === null) return null;
    const tables = new Array<FlatTable>(span.length);
    for (let i = 0; i < span.length; i++) {
      const at = span.start + SIZE_UOFFSET * i;
      tables[i] = new FlatTable(this.buffer, this.indirect(at, `${fieldName}[${i}]`), tableName);
    }
    return tables;
  }

  /** Reads the uoffset at `at` and returns its target, checking that the offset itself fits. */
  private indirect(at: number, fieldName: string): number {
    const relative = this.bb.readUint32(at);
    const target = this.bb.__indirect(at);
    if (relative === 0 || target >= this.buffer.byteLength || target < 0) {
      throw this.buffer.corrupt(
        `field ${fieldName} of the ${this.tableName} table points to byte ${at + relative}, ` +
          `outside the ${this.buffer.byteLength}-byte ${this.buffer.kind}`,
      );
    }
    return target;
  }

  private vector(id: number, elementSize: number, fieldName: string): VectorSpan | null {
    const at = this.field(id, SIZE_UOFFSET, fieldName);
    if (at === 0) return null;
    const header = this.indirect(at, fieldName);
    this.buffer.require(header, SIZE_UOFFSET, `the length of vector ${fieldName} in the ${this.tableName} table`);
    const length = this.bb.readUint32(header);
    this.buffer.require(
      header + SIZE_UOFFSET,
      length * elementSize,
      `vector ${fieldName} (${length} elements) in the ${this.tableName} table`,
    );
    // __vector and __vector_len take the position of the field, not of the vector header.
    return { start: this.bb.__vector(at), length: this.bb.__vector_len(at) };
  }
}
