// The page side of worker.js: each method posts one request and resolves with the reply.

/**
 * Decodes a Blob or File to an ImageBitmap with the stored pixel values: no color
 * management and no premultiplied alpha, with the EXIF orientation applied.
 */
export function decodeToBitmap(blob) {
  return createImageBitmap(blob, {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
    imageOrientation: 'from-image',
  });
}

export class WorkerClassifier {
  #worker;
  #nextId = 1;
  #pending = new Map();

  constructor() {
    // Bundlers (Vite, webpack, esbuild with a plugin) recognize this form and bundle
    // worker.js with the package.
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.#worker.addEventListener('message', ({ data }) => {
      const request = this.#pending.get(data.id);
      if (!request) return;
      this.#pending.delete(data.id);
      if ('error' in data) request.reject(new Error(data.error));
      else request.resolve(data);
    });
    // Fires when the worker script itself fails to load or throws outside a request.
    this.#worker.addEventListener('error', (event) => {
      const error = new Error(`The classifier worker failed: ${event.message || 'its script did not load'}.`);
      for (const request of this.#pending.values()) request.reject(error);
      this.#pending.clear();
    });
  }

  #post(message, transfer = []) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  /**
   * Loads a model in the worker from a URL (resolved against this page) or from the
   * file's bytes (an ArrayBuffer, which is transferred). Resolves with model.info.
   */
  async load(source) {
    if (source instanceof ArrayBuffer) return (await this.#post({ type: 'load', source }, [source])).info;
    const url = new URL(source, location.href).href;
    return (await this.#post({ type: 'load', source: url })).info;
  }

  /**
   * Classifies an image in the worker and resolves with { predictions, timings }.
   * An ImageBitmap is transferred, so it is unusable here afterwards. Other inputs
   * that classify accepts and postMessage can copy (Blob, ImageData, bytes) are copied.
   */
  async classify(image, options = { topK: 5 }) {
    const transfer = image instanceof ImageBitmap ? [image] : [];
    return (await this.#post({ type: 'classify', image, options }, transfer)).result;
  }

  /** Stops the worker, which frees the model's memory, and rejects the pending requests. */
  terminate() {
    this.#worker.terminate();
    const error = new Error('The classifier worker was terminated.');
    for (const request of this.#pending.values()) request.reject(error);
    this.#pending.clear();
  }
}
