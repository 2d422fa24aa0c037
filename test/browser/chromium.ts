/**
 * Shared pieces of the browser tests: launching Debian's Chromium through
 * playwright-core, reading predictions from a page, and comparing them with
 * Node's classify on the same file.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { loadModel, type Model, type Prediction } from '../../src/index.js';
import { REPOSITORY_ROOT } from '../support/fixtures.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

// By default Chromium contacts Google at start-up (component updates, sync, field
// trials, QUIC probes). Those connections are refused here and must never leave a
// test machine, so every background service is switched off.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const ARTIFACTS_DIR = path.join(REPOSITORY_ROOT, 'test-artifacts');
export const DIST_ENTRY = path.join(REPOSITORY_ROOT, 'dist', 'index.js');

/**
 * Browser and Node decode BMP with the same code. On the fixture PNG and JPEG photos,
 * Chromium 156's decoders gave the same RGB bytes as sharp 0.35.6 (libpng, mozjpeg),
 * but hot_dog.jpg has no chroma subsampling, and other decoder builds may upsample
 * chroma or round a few pixels differently. Such changes move a uint8-quantized
 * output by a step or two of 1/256, so scores may differ by about five steps.
 */
export const SCORE_TOLERANCE = 0.02;

export interface LaunchedChromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile; close() also deletes the profile. */
export async function launchChromium(): Promise<LaunchedChromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the browser tests drive Debian's chromium package. ` +
        "Install it with 'apt-get install -y chromium' (.ci/run installs it when it is missing).",
    );
  }
  if (!existsSync(DIST_ENTRY)) {
    throw new Error(`Missing ${DIST_ENTRY}: the browser tests load the built package. Run 'npm run build' first.`);
  }
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'effnet-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }
  // No wall-clock limits: a hung page is stopped by vitest's test timeout instead.
  context.setDefaultTimeout(0);
  return {
    context,
    close: async () => {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Records uncaught page errors, so a test can assert that there were none. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

/** Reads the predictions a page lists as `<li data-label data-score>` items. */
export function readPredictions(page: Page): Promise<Prediction[]> {
  return page.$$eval('#predictions li', (items) =>
    items.map((item, rank) => ({
      index: rank,
      label: (item as HTMLElement).dataset.label ?? '',
      score: Number((item as HTMLElement).dataset.score),
    })),
  );
}

/** Saves a screenshot under test-artifacts/ (git-ignored) and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Classifies files with Node's classify, loading each model once. */
export class NodeClassifier {
  private readonly models = new Map<string, Promise<Model>>();

  async classify(modelPath: string, imagePath: string): Promise<Prediction[]> {
    let model = this.models.get(modelPath);
    if (!model) {
      model = loadModel(modelPath);
      this.models.set(modelPath, model);
    }
    return (await (await model).classify(imagePath, { topK: 5 })).predictions;
  }

  async dispose(): Promise<void> {
    for (const model of this.models.values()) (await model).dispose();
    this.models.clear();
  }
}

/**
 * Checks browser predictions against Node's for the same file: the same top-1 label,
 * every label that Node scores above SCORE_TOLERANCE present, and each shared label's
 * score within SCORE_TOLERANCE. Labels scored near 0 may trade places, so they are
 * compared only when both lists contain them.
 */
export function expectSamePredictions(browser: Prediction[], node: Prediction[], subject: string): void {
  expect(node.length, `${subject}: Node's prediction count`).toBe(5);
  expect(browser.length, `${subject}: browser prediction count`).toBe(node.length);
  expect(browser[0].label, `${subject}: top-1 label`).toBe(node[0].label);
  for (const expected of node) {
    const actual = browser.find((prediction) => prediction.label === expected.label);
    if (expected.score > SCORE_TOLERANCE) {
      expect(actual, `${subject}: '${expected.label}' (Node score ${expected.score}) is missing in the browser`).toBeDefined();
    }
    if (!actual) continue;
    expect(Number.isFinite(actual.score), `${subject}: browser score of '${actual.label}' is ${actual.score}`).toBe(true);
    expect(
      Math.abs(actual.score - expected.score),
      `${subject}: score of '${expected.label}', browser ${actual.score} vs Node ${expected.score}`,
    ).toBeLessThanOrEqual(SCORE_TOLERANCE);
  }
}
