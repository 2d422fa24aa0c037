/**
 * Locations of the fixture photos and their reference resizes. They live outside the
 * repository, in shared/fixtures beside its root, and tests skip when that folder is absent.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const FIXTURES_DIR = path.resolve(repositoryRoot, '..', 'shared', 'fixtures');
export const FIXTURE_IMAGES_DIR = path.join(FIXTURES_DIR, 'images');
export const FIXTURE_INPUTS_DIR = path.join(FIXTURES_DIR, 'inputs');

export const fixturesAvailable = existsSync(FIXTURE_IMAGES_DIR) && existsSync(FIXTURE_INPUTS_DIR);

/** Suffix for describe names, so a skipped suite names the reason. */
export const fixturesSkipNote = fixturesAvailable ? '' : ` (skipped: fixture folder ${FIXTURES_DIR} not found)`;

/** Photo file name, its size after decoding, and the name of its 224x224 Pillow bilinear resize in inputs/. */
export interface FixturePhoto {
  file: string;
  width: number;
  height: number;
  resizedInput: string;
}

export const FIXTURE_PHOTOS: readonly FixturePhoto[] = [
  { file: 'cat.bmp', width: 512, height: 341, resizedInput: 'cat.224x224x3.u8.bin' },
  { file: 'chelsea.png', width: 451, height: 300, resizedInput: 'chelsea.224x224x3.u8.bin' },
  { file: 'coffee.png', width: 600, height: 400, resizedInput: 'coffee.224x224x3.u8.bin' },
  { file: 'grace_hopper.bmp', width: 512, height: 600, resizedInput: 'grace_hopper.224x224x3.u8.bin' },
  { file: 'hot_dog.jpg', width: 512, height: 384, resizedInput: 'hot_dog.224x224x3.u8.bin' },
  { file: 'sunflower.bmp', width: 512, height: 340, resizedInput: 'sunflower.224x224x3.u8.bin' },
];
