/**
 * Locations of the shared pretrained models, photos and TFLite reference
 * outputs. They live outside the repository, in ../shared/fixtures next to the
 * repository root; tests that need them skip with a message when it is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = path.resolve(REPOSITORY_ROOT, '..', 'shared', 'fixtures');
export const fixturesPresent = existsSync(path.join(FIXTURES, 'reference', 'tflite-reference.json'));
export const FIXTURES_MISSING = `skipped: the fixture folder ${FIXTURES} is absent (it holds third-party models and photos, not shipped with the repository)`;

export const FLOWER_MODEL = path.join(FIXTURES, 'models', 'efficientnet_lite0_flowers_int8.tflite');
export const MOBILENET_MODEL = path.join(FIXTURES, 'models', 'mobilenet_v2_1.0_224_quant.tflite');

export interface ReferencePrediction {
  index: number;
  label: string;
  raw: number;
  score: number;
}

export interface ReferenceRun {
  input: string;
  top5: ReferencePrediction[];
  raw: number[];
}

export interface ReferenceModel {
  file: string;
  outputQuant: { scale: number; zeroPoint: number };
  runs: Record<string, ReferenceRun>;
}

/** Reads TFLite's own outputs for the fixture models (Python-style lists are stored as strings). */
export function readReference(): Record<string, ReferenceModel> {
  const text = readFileSync(path.join(FIXTURES, 'reference', 'tflite-reference.json'), 'utf8');
  const json = JSON.parse(text) as { models: Record<string, Record<string, unknown>> };
  const parseList = (value: unknown) =>
    typeof value === 'string' ? JSON.parse(value.replace(/'/g, '"').replace(/\bNone\b/g, 'null')) : value;
  const models: Record<string, ReferenceModel> = {};
  for (const [name, model] of Object.entries(json.models)) {
    const runs: Record<string, ReferenceRun> = {};
    for (const [input, run] of Object.entries(model.runs as Record<string, Record<string, unknown>>)) {
      runs[input] = { input: run.input as string, top5: parseList(run.top5), raw: parseList(run.raw) };
    }
    const quant = model.output_quant as { scale: number; zero_point: number };
    models[name] = { file: model.file as string, outputQuant: { scale: quant.scale, zeroPoint: quant.zero_point }, runs };
  }
  return models;
}

/** Reads one of the exact-byte 224x224x3 uint8 inputs. */
export function readInput(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(FIXTURES, relative)));
}
