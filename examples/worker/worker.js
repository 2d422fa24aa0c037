// The worker side: loads one model and classifies the images that the page posts, so
// inference runs off the page's main thread. Each reply repeats its request's id.
import { loadModel } from 'efficientnet-wasm';

let model = null;

async function handle(message) {
  if (message.type === 'load') {
    const loaded = await loadModel(message.source);
    model?.dispose();
    model = loaded;
    return { info: model.info };
  }
  if (message.type === 'classify') {
    if (!model) throw new Error('No model is loaded in the worker: send a load request before classify.');
    try {
      return { result: await model.classify(message.image, message.options) };
    } finally {
      // A transferred ImageBitmap belongs to this worker now, so release its memory here.
      if (message.image instanceof ImageBitmap) message.image.close();
    }
  }
  throw new Error(`Invalid request type ${JSON.stringify(message.type)}: expected 'load' or 'classify'.`);
}

self.addEventListener('message', async ({ data }) => {
  try {
    self.postMessage({ id: data.id, ...(await handle(data)) });
  } catch (error) {
    self.postMessage({ id: data.id, error: error instanceof Error ? error.message : String(error) });
  }
});
