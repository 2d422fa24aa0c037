/** `effnet models`: the registry of named models and what the cache holds. */
import { cacheFolder, DEFAULT_MODEL_NAME, listModels } from '../zoo/index.js';
import { formatBytes } from './progress.js';

/** Prints the registry as a table, or as JSON. */
export async function printModels(json: boolean): Promise<number> {
  const cacheDir = await cacheFolder();
  const models = await listModels();
  if (json) {
    console.log(JSON.stringify({ cacheDir, defaultModel: DEFAULT_MODEL_NAME, models }, null, 2));
    return 0;
  }

  console.log(`Models by name, downloaded on first use into ${cacheDir} (set EFFNET_CACHE_DIR to change it).`);
  console.log('');
  const rows = models.map((model) => [
    model.name === DEFAULT_MODEL_NAME ? `${model.name} (default)` : model.name,
    model.format,
    model.size === null ? 'unknown' : formatBytes(model.size),
    model.cached ? 'yes' : 'no',
    model.license,
    model.description,
  ]);
  const header = ['name', 'format', 'size', 'cached', 'license', 'description'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log('');
  for (const model of models) console.log(`${model.name}: ${model.url}`);
  return 0;
}
