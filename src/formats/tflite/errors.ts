/** An error in the bytes of a TFLite file or its metadata: truncated, corrupt or unsupported. */
export class TfliteFormatError extends Error {
  override name = 'TfliteFormatError';
}
