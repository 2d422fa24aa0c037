/** An invalid or unsupported TensorFlow.js LayersModel: its model.json, its weight shards or its layers. */
export class TfjsFormatError extends Error {
  override name = 'TfjsFormatError';
}

/** Formats a JSON value briefly for a message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
