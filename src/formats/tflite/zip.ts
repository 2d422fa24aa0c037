/**
 * A small reader for the zip archive that TFLite's metadata writer appends to
 * a model. The archive contains the associated files, such as labels.txt. It reads the
 * central directory from the end of the file, supports stored and deflate
 * entries, and inflates with the web-standard DecompressionStream so the same
 * code runs in Node.js 20 and in browsers. Zip64 and encrypted entries are
 * rejected.
 */
import { TfliteFormatError } from './flatbuffer.js';

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_DIRECTORY_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const END_RECORD_SIZE = 22;
const MAX_COMMENT_SIZE = 0xffff;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
/** Associated files are label lists and vocabularies, so a larger entry is treated as corrupt. */
const MAX_ENTRY_SIZE = 64 * 1024 * 1024;

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Byte position of the entry's local file header in the whole file. */
  localHeaderOffset: number;
}

export class ZipArchive {
  private constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
    readonly entries: ZipEntry[],
  ) {}

  /** Reads the central directory of a zip archive that ends at the end of `bytes`, or returns null when there is none. */
  static open(bytes: Uint8Array, source: string): ZipArchive | null {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = findEndRecord(view);
    if (end < 0) return null;

    const entryCount = view.getUint16(end + 10, true);
    const directorySize = view.getUint32(end + 12, true);
    const directoryOffset = view.getUint32(end + 16, true);
    if (entryCount === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
      throw zipError(source, 'the archive uses Zip64 records, which this reader does not support');
    }
    // The archive follows the model's FlatBuffer, so offsets written relative to the start of the
    // archive are shifted by where the central directory really starts.
    const directoryStart = end - directorySize;
    const shift = directoryStart - directoryOffset;
    if (directoryStart < 0 || shift < 0) {
      throw zipError(source, `the central directory (${directorySize} bytes at offset ${directoryOffset}) does not fit before its end record at byte ${end}`);
    }

    const entries: ZipEntry[] = [];
    let at = directoryStart;
    for (let i = 0; i < entryCount; i++) {
      if (at + 46 > end || view.getUint32(at, true) !== CENTRAL_DIRECTORY_HEADER) {
        throw zipError(source, `central directory entry ${i} at byte ${at} is missing or truncated`);
      }
      const nameLength = view.getUint16(at + 28, true);
      const extraLength = view.getUint16(at + 30, true);
      const commentLength = view.getUint16(at + 32, true);
      if (at + 46 + nameLength > end) {
        throw zipError(source, `the name of central directory entry ${i} runs past the directory`);
      }
      entries.push({
        name: new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength)),
        flags: view.getUint16(at + 8, true),
        method: view.getUint16(at + 10, true),
        crc32: view.getUint32(at + 16, true),
        compressedSize: view.getUint32(at + 20, true),
        uncompressedSize: view.getUint32(at + 24, true),
        localHeaderOffset: view.getUint32(at + 42, true) + shift,
      });
      at += 46 + nameLength + extraLength + commentLength;
    }
    return new ZipArchive(bytes, source, entries);
  }

  find(name: string): ZipEntry | undefined {
    return this.entries.find((entry) => entry.name === name);
  }

  /** Returns the uncompressed bytes of an entry, checking its size and CRC-32. */
  async read(entry: ZipEntry): Promise<Uint8Array> {
    const { bytes, source } = this;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const at = entry.localHeaderOffset;
    if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL_FILE_HEADER) {
      throw zipError(source, `the local header of ${entry.name} at byte ${at} is missing`);
    }
    if (entry.flags & 0x1) throw zipError(source, `${entry.name} is encrypted`);
    if (entry.uncompressedSize > MAX_ENTRY_SIZE) {
      throw zipError(source, `${entry.name} declares ${entry.uncompressedSize} bytes, more than the ${MAX_ENTRY_SIZE}-byte limit for an associated file`);
    }
    const dataStart = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    const dataEnd = dataStart + entry.compressedSize;
    if (dataEnd > bytes.length) {
      throw zipError(source, `the data of ${entry.name} (${entry.compressedSize} bytes from byte ${dataStart}) runs past the end of the file`);
    }
    const compressed = bytes.subarray(dataStart, dataEnd);

    let data: Uint8Array;
    if (entry.method === METHOD_STORED) {
      data = compressed;
    } else if (entry.method === METHOD_DEFLATE) {
      data = await inflateRaw(compressed, entry.name, source);
    } else {
      throw zipError(source, `${entry.name} uses compression method ${entry.method}, but only stored (0) and deflate (8) are supported`);
    }
    if (data.length !== entry.uncompressedSize) {
      throw zipError(source, `${entry.name} must have ${entry.uncompressedSize} bytes, but it has ${data.length} after decompression`);
    }
    const crc = crc32(data);
    if (crc !== entry.crc32) {
      throw zipError(source, `the CRC-32 of ${entry.name} must be ${hex(entry.crc32)}, but its data give ${hex(crc)}`);
    }
    return data;
  }
}

function findEndRecord(view: DataView): number {
  const last = view.byteLength - END_RECORD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT_SIZE);
  for (let at = last; at >= first; at--) {
    if (view.getUint32(at, true) !== END_OF_CENTRAL_DIRECTORY) continue;
    // A real end record's comment reaches exactly to the end of the file.
    if (at + END_RECORD_SIZE + view.getUint16(at + 20, true) === view.byteLength) return at;
  }
  return -1;
}

async function inflateRaw(compressed: Uint8Array, name: string, source: string): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new TfliteFormatError(
      `Cannot read ${name} in ${source}: it is deflate-compressed and this runtime has no DecompressionStream. ` +
        'Use Node.js 20 or later or a current browser.',
    );
  }
  try {
    const stream = new Blob([new Uint8Array(compressed)]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (error) {
    throw zipError(source, `inflating ${name} failed (${(error as Error).message})`);
  }
}

let crcTable: Uint32Array | null = null;

/** CRC-32 with the zip polynomial 0xEDB88320. */
export function crc32(data: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function zipError(source: string, detail: string): TfliteFormatError {
  return new TfliteFormatError(
    `Invalid associated-file archive in ${source}: ${detail}. ` +
      'The metadata zip appended to the model is corrupt; write the metadata again.',
  );
}
