/** Error thrown when image bytes cannot be decoded to pixels. */
export class ImageDecodeError extends Error {
  /** File path, or `undefined` when the bytes came from memory. */
  readonly path: string | undefined;

  constructor(message: string, path: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageDecodeError';
    this.path = path;
  }
}

/** Returns the subject of a decode error message: "image /a/b.jpg" or "image buffer". */
export function describeImageSource(path: string | undefined): string {
  return path === undefined ? 'image buffer' : `image ${path}`;
}

/** Builds an `ImageDecodeError` whose message reads "Failed to decode <source>: <reason>". */
export function decodeError(path: string | undefined, reason: string, cause?: unknown): ImageDecodeError {
  const options = cause === undefined ? undefined : { cause };
  return new ImageDecodeError(`Failed to decode ${describeImageSource(path)}: ${reason}`, path, options);
}
