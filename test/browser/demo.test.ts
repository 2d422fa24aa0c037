// End-to-end tests of examples/browser/ in headless Chromium. The page imports the
// package as plain ES modules from dist/ and loads the fixture models through its UI.
// It classifies fixture photos chosen in its file input and must list the same top 5
// as Node's classify on the same files. page.evaluate then feeds every browser image
// type to classify and checks the errors for unusable images.
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Prediction } from '../../src/index.js';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, MOBILENET_MODEL, REPOSITORY_ROOT, fixturesPresent } from '../support/fixtures.js';
import { defaultBuildFor } from '../support/wasm-builds.js';
import {
  NodeClassifier,
  collectPageErrors,
  expectSamePredictions,
  launchChromium,
  readPredictions,
  saveScreenshot,
  type LaunchedChromium,
} from './chromium.js';
// @ts-expect-error: a plain JavaScript module without type declarations.
import { startStaticServer } from '../../examples/browser/serve.mjs';

declare global {
  interface Window {
    effnet: typeof import('../../src/index.js');
  }
}

interface StaticServer {
  url: string;
  close(): Promise<void>;
}

const IMAGES = path.join(FIXTURES, 'images');
const DEMO_PATH = '/examples/browser/';

describe.skipIf(!fixturesPresent)(`browser demo in Chromium${fixturesPresent ? '' : ` (${FIXTURES_MISSING})`}`, () => {
  let chromium: LaunchedChromium | undefined;
  let server: StaticServer | undefined;
  // A second origin, for the cross-origin image check.
  let otherOrigin: StaticServer | undefined;
  const node = new NodeClassifier();

  beforeAll(async () => {
    server = await startStaticServer({
      mounts: [
        ['/dist/', path.join(REPOSITORY_ROOT, 'dist')],
        ['/examples/', path.join(REPOSITORY_ROOT, 'examples')],
        ['/node_modules/flatbuffers/', path.join(REPOSITORY_ROOT, 'node_modules', 'flatbuffers')],
        ['/fixtures/', FIXTURES],
      ],
    });
    otherOrigin = await startStaticServer({ mounts: [['/fixtures/', FIXTURES]] });
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    await otherOrigin?.close();
    await node.dispose();
  });

  /** Opens the demo in a new page and records its uncaught errors and every URL it requests. */
  async function openDemo(): Promise<{ page: Page; errors: string[]; requests: string[] }> {
    const page = await chromium!.context.newPage();
    const errors = collectPageErrors(page);
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(server!.url + DEMO_PATH);
    // The package as the page's import map resolves it, for page.evaluate. A string, because
    // vitest rewrites import() in this file's own code.
    await page.addScriptTag({ type: 'module', content: "import * as effnet from 'efficientnet-wasm'; window.effnet = effnet;" });
    await page.waitForFunction(() => 'effnet' in window);
    return { page, errors, requests };
  }

  /** Waits until the model status leaves 'loading' after a load of sourceName, and returns its text. */
  async function waitForModel(page: Page, sourceName: string): Promise<string> {
    await page.waitForFunction((name) => {
      const status = document.querySelector<HTMLElement>('#model-status')!;
      return status.dataset.state !== 'loading' && status.textContent!.includes(name);
    }, sourceName);
    const state = await page.getAttribute('#model-status', 'data-state');
    const text = (await page.textContent('#model-status')) ?? '';
    expect(state, `model status after loading ${sourceName}: ${text}`).toBe('ready');
    return text;
  }

  /** Chooses a photo in the demo's file input and returns the predictions that the page lists. */
  async function classifyThroughUi(page: Page, file: string): Promise<Prediction[]> {
    await page.setInputFiles('#photo-file', path.join(IMAGES, file));
    await page.waitForSelector(`#results[data-image="${file}"]:is([data-state="done"], [data-state="error"])`);
    const error = await page.textContent('#error');
    expect(await page.getAttribute('#results', 'data-state'), `classify ${file}: ${error}`).toBe('done');
    return readPredictions(page);
  }

  function expectLoopbackOnly(requests: string[]): void {
    const outside = requests.filter((url) => !/^(http:\/\/127\.0\.0\.1:\d+\/|blob:|data:)/.test(url));
    expect(outside, 'requests to anything but 127.0.0.1').toEqual([]);
  }

  test('flower model loads by URL and classifies photos', async () => {
    const { page, errors, requests } = await openDemo();
    const support = await page.evaluate(() => window.effnet.wasmSupport());
    expect(support.path, 'Chromium picks the fastest build it validates').toBe(defaultBuildFor(support));

    await page.fill('#model-url', '/fixtures/models/efficientnet_lite0_flowers_int8.tflite');
    await page.click('#model-url-form button[type="submit"]');
    const status = await waitForModel(page, 'efficientnet_lite0_flowers_int8.tflite');
    expect(status).toContain(`wasm path ${support.path}`);

    // sunflower.bmp last, so the screenshot shows a photo of one of the model's five classes.
    for (const file of ['coffee.png', 'hot_dog.jpg', 'sunflower.bmp']) {
      const browser = await classifyThroughUi(page, file);
      expectSamePredictions(browser, await node.classify(FLOWER_MODEL, path.join(IMAGES, file)), `flowers, ${file}`);
    }
    expect((await readPredictions(page))[0].label).toBe('sunflowers');
    expect(await page.textContent('#latency')).toMatch(new RegExp(`^\\d+\\.\\d ms in total: .* inference \\d+\\.\\d ms \\(wasm path ${support.path}\\)\\.$`));
    expect(await page.isVisible('#preview')).toBe(true);

    await saveScreenshot(page, 'browser-demo-flowers.png');
    expect(errors).toEqual([]);
    expectLoopbackOnly(requests);
    await page.close();
  });

  test('MobileNetV2 loads from a local file and classifies photos', async () => {
    const { page, errors, requests } = await openDemo();

    await page.setInputFiles('#model-file', MOBILENET_MODEL);
    await waitForModel(page, 'mobilenet_v2_1.0_224_quant.tflite');

    for (const file of ['sunflower.bmp', 'coffee.png', 'hot_dog.jpg']) {
      const browser = await classifyThroughUi(page, file);
      expectSamePredictions(browser, await node.classify(MOBILENET_MODEL, path.join(IMAGES, file)), `MobileNetV2, ${file}`);
    }
    expect((await readPredictions(page))[0].label).toBe('hotdog, hot dog, red hot');

    await saveScreenshot(page, 'browser-demo-mobilenet.png');
    expect(errors).toEqual([]);
    expectLoopbackOnly(requests);
    await page.close();
  });

  test('demo reports a bad model file', async () => {
    const { page, errors } = await openDemo();
    await page.setInputFiles('#model-file', path.join(IMAGES, 'coffee.png'));
    await page.waitForSelector('#model-status[data-state="error"]');
    expect(await page.textContent('#model-status')).toMatch(/^Failed to load coffee\.png: .+/);
    expect(errors).toEqual([]);
    await page.close();
  });

  // Each browser image type, for a PNG and a JPEG photo. All of them reach classify as
  // the same decoded pixels, so their predictions must equal those of the Blob exactly.
  for (const file of ['coffee.png', 'hot_dog.jpg']) {
    test(`every image input type classifies ${file}`, async () => {
      const { page, errors } = await openDemo();
      const results = await page.evaluate(async (url) => {
        const model = await window.effnet.loadModel('/fixtures/models/mobilenet_v2_1.0_224_quant.tflite');
        const top5 = async (image: unknown) => (await model.classify(image as Blob, { topK: 5 })).predictions;

        const blob = await (await fetch(url)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
        const canvas = document.createElement('canvas');
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
        canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
        const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
        offscreen.getContext('2d')!.drawImage(bitmap, 0, 0);
        const imageData = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
        const image = new Image();
        image.src = URL.createObjectURL(blob);
        await image.decode();

        const byType: Record<string, unknown> = {
          Blob: await top5(blob),
          File: await top5(new File([blob], 'photo')),
          Uint8Array: await top5(bytes),
          ArrayBuffer: await top5(bytes.buffer),
          ImageBitmap: await top5(bitmap),
          HTMLCanvasElement: await top5(canvas),
          OffscreenCanvas: await top5(offscreen),
          ImageData: await top5(imageData),
          HTMLImageElement: await top5(image),
          VideoFrame: null,
        };
        if (typeof VideoFrame === 'function') {
          const frame = new VideoFrame(bitmap, { timestamp: 0 });
          byType.VideoFrame = await top5(frame);
          frame.close();
        }
        // classify must leave the caller's objects usable.
        const stillOpen = bitmap.width > 0 && canvas.width > 0;
        bitmap.close();
        model.dispose();
        return { byType, stillOpen };
      }, `/fixtures/images/${file}`);

      const byType = results.byType as Record<string, Prediction[] | null>;
      expect(byType.VideoFrame, 'VideoFrame exists in headless Chromium 156, so it must be tested').not.toBeNull();
      expectSamePredictions(byType.Blob!, await node.classify(MOBILENET_MODEL, path.join(IMAGES, file)), `Blob of ${file}`);
      for (const [type, predictions] of Object.entries(byType)) {
        expect(predictions, `${type} of ${file} vs Blob`).toEqual(byType.Blob);
      }
      expect(results.stillOpen).toBe(true);
      expect(errors).toEqual([]);
      await page.close();
    });
  }

  test('unusable browser images get clear errors', async () => {
    const { page, errors } = await openDemo();
    const messages = await page.evaluate(async (crossOriginUrl) => {
      const model = await window.effnet.loadModel('/fixtures/models/efficientnet_lite0_flowers_int8.tflite');
      const failure = async (image: unknown) => {
        try {
          await model.classify(image as Blob);
          return 'no error';
        } catch (error) {
          return `${(error as Error).name}: ${(error as Error).message}`;
        }
      };

      // A fresh URL, so the image cannot come from the memory cache before the fetch runs.
      const pending = new Image();
      pending.src = `/fixtures/images/coffee.png?request=${Date.now()}`;
      const pendingError = await failure(pending);

      const broken = new Image();
      const brokenDone = new Promise((resolve) => (broken.onerror = resolve));
      broken.src = '/fixtures/images/missing.png';
      await brokenDone;

      const zeroCanvas = document.createElement('canvas');
      zeroCanvas.width = 0;

      const closedBitmap = await createImageBitmap(new ImageData(2, 2));
      closedBitmap.close();

      const closedFrame = new VideoFrame(await createImageBitmap(new ImageData(2, 2)), { timestamp: 0 });
      closedFrame.close();

      const crossOrigin = new Image();
      crossOrigin.src = crossOriginUrl;
      await crossOrigin.decode();

      const result = {
        pending: pendingError,
        noSource: await failure(new Image()),
        broken: await failure(broken),
        zeroCanvas: await failure(zeroCanvas),
        zeroOffscreenCanvas: await failure(new OffscreenCanvas(0, 4)),
        closedBitmap: await failure(closedBitmap),
        closedFrame: await failure(closedFrame),
        crossOrigin: await failure(crossOrigin),
        truncatedJpeg: await failure(await (await fetch('/fixtures/images/truncated.jpg')).blob()),
        emptyFile: await failure(new File([], 'empty.png')),
        gifBytes: await failure(new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0])),
      };
      model.dispose();
      return result;
    }, `${otherOrigin!.url}/fixtures/images/coffee.png`);

    expect(messages.pending).toMatch(/^ImageDecodeError: Cannot read the HTMLImageElement http:\/\/127\.0\.0\.1:\d+\/fixtures\/images\/coffee\.png\?request=\d+: it has not finished loading\. Await img\.decode\(\)/);
    expect(messages.noSource).toBe(
      'ImageDecodeError: Cannot read the HTMLImageElement (no src): it has no image (naturalWidth 0, naturalHeight 0), ' +
        'because its src is empty or failed to load. Check the URL and wait for the load event.',
    );
    expect(messages.broken).toMatch(/^ImageDecodeError: Cannot read the HTMLImageElement http:\/\/.*\/missing\.png: it has no image/);
    expect(messages.zeroCanvas).toBe(
      'ImageDecodeError: Cannot read the HTMLCanvasElement: its size is 0x150, but both sides must be at least 1 pixel. ' +
        'Set its width and height and draw the image on it before classify (an OffscreenCanvas also has size 0x0 after it is transferred).',
    );
    expect(messages.zeroOffscreenCanvas).toMatch(/^ImageDecodeError: Cannot read the OffscreenCanvas: its size is 0x4, but/);
    expect(messages.closedBitmap).toBe(
      'ImageDecodeError: Cannot read the ImageBitmap: its size is 0x0 because it was closed or transferred to another thread. ' +
        'Pass an open ImageBitmap.',
    );
    expect(messages.closedFrame).toMatch(/^ImageDecodeError: Cannot read the VideoFrame: it is closed \(its display size is 0x0\)/);
    expect(messages.crossOrigin).toMatch(
      /^ImageDecodeError: Cannot read the pixels of the HTMLImageElement http:\/\/127\.0\.0\.1:\d+\/fixtures\/images\/coffee\.png: it comes from another origin without CORS permission/,
    );
    expect(messages.crossOrigin).toContain("img.crossOrigin = 'anonymous'");
    expect(messages.truncatedJpeg).toMatch(
      /^ImageDecodeError: Failed to decode image buffer: the browser could not decode the JPEG data \(.+\)\. The file may be truncated or corrupt; re-export or re-download it\.$/,
    );
    expect(messages.emptyFile).toBe('ImageDecodeError: Failed to decode image empty.png: the File is empty (0 bytes).');
    expect(messages.gifBytes).toBe(
      'ImageDecodeError: Failed to decode image buffer: the format is GIF, which is not supported; supported formats are JPEG, PNG, WebP, BMP. Convert the image to one of them.',
    );
    expect(errors).toEqual([]);
    await page.close();
  });
});
