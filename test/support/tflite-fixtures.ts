/**
 * Locations of the shared fixture models. They live outside the repository, in
 * ../shared/fixtures/models next to the repository root, and tests skip when it is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const FIXTURE_MODELS_DIR = path.resolve(repositoryRoot, '..', 'shared', 'fixtures', 'models');
export const FLOWERS_MODEL = 'efficientnet_lite0_flowers_int8.tflite';
export const MOBILENET_MODEL = 'mobilenet_v2_1.0_224_quant.tflite';

export const modelFixturesAvailable =
  existsSync(path.join(FIXTURE_MODELS_DIR, FLOWERS_MODEL)) && existsSync(path.join(FIXTURE_MODELS_DIR, MOBILENET_MODEL));

/** Suffix for describe names, so a skipped suite says why it was skipped. */
export const modelFixturesSkipNote = modelFixturesAvailable ? '' : ` (skipped: fixture models not found in ${FIXTURE_MODELS_DIR})`;

export function readFixtureModel(file: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(FIXTURE_MODELS_DIR, file)));
}
