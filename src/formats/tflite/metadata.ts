/**
 * TFLite model metadata. The ModelMetadata FlatBuffer (file identifier "M001")
 * is stored in the buffer of the model's "TFLITE_METADATA" entry and is read
 * with the field ids of TensorFlow Lite's metadata_schema.fbs. The label file
 * it names comes from the zip archive appended to the model.
 */
import { parseLabelLines } from '../../labels.js';
import { FlatBuffer, type FlatTable, TfliteFormatError } from './flatbuffer.js';
import type { TfliteModel } from './schema.js';
import { ZipArchive } from './zip.js';

export const METADATA_ENTRY_NAME = 'TFLITE_METADATA';
const METADATA_IDENTIFIER = 'M001';

/** AssociatedFileType.TENSOR_AXIS_LABELS. */
const TENSOR_AXIS_LABELS = 2;
/** ProcessUnitOptions union tag of NormalizationOptions. */
const NORMALIZATION_OPTIONS = 1;

export interface ModelMetadataSummary {
  name: string | null;
  /** NormalizationOptions of the first input tensor, each of length 1 or one per channel. */
  normalization: { mean: number[]; std: number[] } | null;
  /** Name of the first TENSOR_AXIS_LABELS file of the first output tensor. */
  labelFile: string | null;
}

/** Reads the metadata entry of a model, or returns null when the model has none. */
export function readModelMetadata(model: TfliteModel, source: string): ModelMetadataSummary | null {
  const entry = model.metadata.find((item) => item.name === METADATA_ENTRY_NAME);
  if (entry === undefined) return null;
  const bytes = model.buffers[entry.buffer];
  if (bytes === undefined || bytes.length === 0) {
    throw new TfliteFormatError(
      `Invalid TFLite metadata in ${source}: the ${METADATA_ENTRY_NAME} entry points to buffer ${entry.buffer}, ` +
        `which is ${bytes === undefined ? `missing (the model has ${model.buffers.length} buffers)` : 'empty'}. ` +
        'Write the metadata again, or remove the entry.',
    );
  }
  const buffer = new FlatBuffer(bytes, source, 'TFLite metadata');
  if (buffer.identifier() !== METADATA_IDENTIFIER) {
    throw buffer.corrupt(`the ${METADATA_ENTRY_NAME} buffer must start a FlatBuffer with identifier ${METADATA_IDENTIFIER}, but its identifier is ${JSON.stringify(buffer.identifier())}`);
  }

  const root = buffer.root('ModelMetadata');
  const subgraph = root.tableVector(3, 'subgraph_metadata', 'SubGraphMetadata')?.[0] ?? null;
  const input = subgraph?.tableVector(2, 'input_tensor_metadata', 'TensorMetadata')?.[0] ?? null;
  const output = subgraph?.tableVector(3, 'output_tensor_metadata', 'TensorMetadata')?.[0] ?? null;

  return {
    name: root.string(0, 'name'),
    normalization: input ? readNormalization(input) : null,
    labelFile: output ? readLabelFileName(output) : null,
  };
}

function readNormalization(tensor: FlatTable): { mean: number[]; std: number[] } | null {
  for (const unit of tensor.tableVector(4, 'process_units', 'ProcessUnit') ?? []) {
    if (unit.uint8(0, 'options_type') !== NORMALIZATION_OPTIONS) continue;
    const options = unit.table(1, 'options', 'NormalizationOptions');
    if (options === null) continue;
    return {
      mean: options.float32Vector(0, 'mean') ?? [],
      std: options.float32Vector(1, 'std') ?? [],
    };
  }
  return null;
}

function readLabelFileName(tensor: FlatTable): string | null {
  for (const file of tensor.tableVector(6, 'associated_files', 'AssociatedFile') ?? []) {
    if (file.int8(2, 'type') === TENSOR_AXIS_LABELS) return file.string(0, 'name');
  }
  return null;
}

/** Reads a label file from the zip archive appended to the model: one label a line, blank trailing lines dropped. */
export async function readLabels(fileBytes: Uint8Array, labelFile: string, source: string): Promise<string[]> {
  const archive = ZipArchive.open(fileBytes, source);
  const entry = archive?.find(labelFile);
  if (archive === null || entry === undefined) {
    const present = archive === null ? 'the file has no appended zip archive (is it truncated?)' : `the archive contains [${archive.entries.map((e) => e.name).join(', ')}]`;
    throw new TfliteFormatError(
      `Missing label file in ${source}: the metadata names ${labelFile} as the output labels, but ${present}. ` +
        'Write the metadata again with its associated files.',
    );
  }
  return parseLabelLines(new TextDecoder().decode(await archive.read(entry)));
}
