/**
 * The classification runs that every runtime smoke test performs. Node (in the
 * vitest process), Deno, Bun and the workerd Worker all call classifyFixtures
 * with the same inputs, so their reports can be compared field by field.
 */

/** Exact-byte inputs in the fixture folder: inputs/<name>.224x224x3.u8.bin. */
export const INPUT_NAMES = ['cat', 'sunflower', 'grace_hopper', 'hot_dog', 'chelsea', 'coffee'];

/** Model files in the fixture folder's models/ subfolder, by the short name used in reports. */
export const MODEL_FILES = {
  flower: 'efficientnet_lite0_flowers_int8.tflite',
  mobilenet: 'mobilenet_v2_1.0_224_quant.tflite',
};

/** Photos in the fixture folder's images/ subfolder: BMP is decoded by the package itself, JPEG and PNG by sharp. */
export const PHOTO_FILES = ['cat.bmp', 'hot_dog.jpg', 'chelsea.png'];

export const INPUT_SIDE = 224;
export const INPUT_BYTES = INPUT_SIDE * INPUT_SIDE * 3;

/**
 * Loads each model and classifies every input as an RGB pixel object.
 *
 * api: the package's exports (loadModel, wasmSupport).
 * models: short name -> model source (bytes, path or URL).
 * readInput: input name -> its 150528 bytes [224, 224, 3].
 * Returns wasmSupport(), and per model its info and the top-5 of each input.
 */
export async function classifyFixtures(api, models, readInput, loadOptions = {}) {
  const report = { support: api.wasmSupport(), models: {} };
  for (const [name, source] of Object.entries(models)) {
    const model = await api.loadModel(source, loadOptions);
    try {
      const top5 = {};
      for (const input of INPUT_NAMES) {
        const data = await readInput(input);
        if (data.length !== INPUT_BYTES) {
          throw new Error(`Invalid fixture input ${input}: expected ${INPUT_BYTES} bytes, but got ${data.length}.`);
        }
        const pixels = { data, width: INPUT_SIDE, height: INPUT_SIDE, channels: 3 };
        const { predictions } = await model.classify(pixels, { topK: 5 });
        top5[input] = predictions;
      }
      report.models[name] = { info: model.info, top5 };
    } finally {
      model.dispose();
    }
  }
  return report;
}

/**
 * Loads MobileNetV2 and classifies each photo in photoFiles, given as whatever
 * readPhoto returns for its file name (a path or the file's bytes).
 * Returns wasmSupport() and the top-5 of each photo.
 */
export async function classifyPhotos(api, modelSource, photoFiles, readPhoto, loadOptions = {}) {
  const report = { support: api.wasmSupport(), photos: {} };
  const model = await api.loadModel(modelSource, loadOptions);
  try {
    for (const file of photoFiles) {
      const { predictions } = await model.classify(await readPhoto(file), { topK: 5 });
      report.photos[file] = predictions;
    }
  } finally {
    model.dispose();
  }
  return report;
}
