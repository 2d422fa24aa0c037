import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadModel, type Model } from '../../src/index.js';
import { BUILDS, buildOptions } from '../support/buffers.js';
import { FIXTURES, FIXTURES_MISSING, fixturesPresent, readInput, readReference, type ReferenceModel } from '../support/fixtures.js';

// Scores of TFLite's top 5 must match ours within this (dequantized, so 0.03 is about 8 output steps).
const SCORE_TOLERANCE = 0.03;
// Top-1 must agree wherever TFLite itself is at least this confident.
const CONFIDENT_SCORE = 0.5;
// Raw uint8 outputs, in output quantization steps. Two independent integer runtimes (TFLite and Arm NN)
// differ by up to 10 steps on these inputs. Our emulated integer pipeline requantizes as TFLite's XNNPACK
// kernels do, so only a rare rounding tie or an accumulator above 2^24 may move a value.
const RAW_TOLERANCE = 2;

const reference = fixturesPresent ? readReference() : {};
const PHOTO_FILES: Record<string, string> = {
  cat: 'cat.bmp',
  sunflower: 'sunflower.bmp',
  grace_hopper: 'grace_hopper.bmp',
  hot_dog: 'hot_dog.jpg',
  chelsea: 'chelsea.png',
  coffee: 'coffee.png',
};

describe.skipIf(!fixturesPresent).each(BUILDS)('fixture models match TFLite (%s build)', (build) => {
  for (const [name, expected] of Object.entries(reference) as [string, ReferenceModel][]) {
    describe(name, () => {
      let model: Model;
      beforeAll(async () => {
        model = await loadModel(path.join(FIXTURES, expected.file), buildOptions(build));
      });
      afterAll(() => model?.dispose());

      test.each(Object.keys(expected.runs))('%s', (input) => {
        const run = expected.runs[input];
        // Integer models take the pixel bytes as they are, as TFLite does.
        expect(model.info.inputSpace).toBe('pixels');
        const tensor = Float32Array.from(readInput(run.input));
        expect(model.info.integerPipeline, 'the integer pipeline is active').toBe(true);
        const scores = model.predict(tensor);
        expect(scores.length).toBe(expected.runs[input].raw.length);
        expect(scores.every(Number.isFinite), 'every score is finite').toBe(true);

        let worstScore = 0;
        for (const top of run.top5) {
          const difference = Math.abs(scores[top.index] - top.score);
          worstScore = Math.max(worstScore, difference);
          expect(difference, `${name} on ${input}: ${top.label} (index ${top.index}) scores ${scores[top.index]}, TFLite ${top.score}`).toBeLessThanOrEqual(SCORE_TOLERANCE);
        }
        let best = 0;
        for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
        if (run.top5[0].score >= CONFIDENT_SCORE) {
          expect(best, `${name} on ${input}: top-1 is index ${best}, TFLite's is ${run.top5[0].index} (${run.top5[0].label})`).toBe(run.top5[0].index);
        }
        const { scale, zeroPoint } = expected.outputQuant;
        let worstRaw = 0;
        for (let i = 0; i < scores.length; i++) {
          worstRaw = Math.max(worstRaw, Math.abs(Math.round(scores[i] / scale) + zeroPoint - run.raw[i]));
        }
        console.log(
          `${name} on ${input} (${build}): largest top-5 score difference ${worstScore.toFixed(4)}, ` +
            `largest raw difference ${worstRaw} steps, top-1 ${model.info.hasLabels ? '' : 'index '}${best}`,
        );
        expect(worstRaw, `${name} on ${input}: raw output steps apart from TFLite`).toBeLessThanOrEqual(RAW_TOLERANCE);
      });

      // From the photo file: decoding and uint8 resizing reproduce Pillow's bytes, so classify()
      // feeds the model TFLite's input and its top 5 follow TFLite's within the raw tolerance.
      test.each(Object.keys(expected.runs))('%s from the photo file', async (input) => {
        const run = expected.runs[input];
        const photo = PHOTO_FILES[input];
        const { predictions } = await model.classify(path.join(FIXTURES, 'images', photo), { topK: 5 });
        const { scale } = expected.outputQuant;
        if (run.top5[0].score >= CONFIDENT_SCORE) expect(predictions[0].index).toBe(run.top5[0].index);
        for (const top of run.top5) {
          const ours = predictions.find((prediction) => prediction.index === top.index);
          // A class tied at the bottom of the top 5 may be swapped for another with the same score.
          if (!ours) {
            expect(top.raw, `${name} on ${photo}: ${top.label} missing from our top 5`).toBeLessThanOrEqual(predictions[4].score / scale + RAW_TOLERANCE);
            continue;
          }
          expect(Math.abs(ours.score - top.score) / scale, `${name} on ${photo}: ${top.label}`).toBeLessThanOrEqual(RAW_TOLERANCE);
        }
      });
    });
  }
});

if (!fixturesPresent) console.warn(`TFLite fixture comparison ${FIXTURES_MISSING}`);
