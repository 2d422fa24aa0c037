/**
 * Download progress of named models on stderr: a bar redrawn in place when
 * stderr is a terminal, else one line when the download starts and one when it ends.
 */
import { loadModel, type LoadModelOptions, type Model } from '../model.js';
import type { DownloadProgress } from '../zoo/index.js';

/** Output stream for progress: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** Minimum milliseconds between two redraws of the bar. */
const REDRAW_INTERVAL_MS = 100;

export class DownloadProgressReporter {
  private started: number | null = null;
  private last: DownloadProgress | null = null;
  private lastDraw = 0;
  private drawnLength = 0;

  constructor(private readonly stream: ProgressStream = process.stderr) {}

  /** The onProgress callback to pass to loadModel. */
  readonly onProgress = (progress: DownloadProgress): void => {
    const now = Date.now();
    if (this.started === null) {
      this.started = now;
      if (!this.stream.isTTY) {
        const size = progress.total === null ? '' : ` (${formatBytes(progress.total)})`;
        this.stream.write(`Downloading model ${progress.name}${size}...\n`);
      }
    }
    this.last = progress;
    if (this.stream.isTTY && (now - this.lastDraw >= REDRAW_INTERVAL_MS || progress.loaded === progress.total)) {
      this.lastDraw = now;
      this.draw(progress);
    }
  };

  /** Ends the progress output after loadModel settles; prints nothing when nothing was downloaded. */
  finish(succeeded: boolean): void {
    if (this.started === null || this.last === null) return;
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    if (this.stream.isTTY) {
      this.draw(this.last);
      this.stream.write('\n');
      return;
    }
    if (succeeded) this.stream.write(`Downloaded model ${this.last.name} (${formatBytes(this.last.loaded)}) in ${seconds} s.\n`);
    else this.stream.write(`Download of model ${this.last.name} failed after ${formatBytes(this.last.loaded)} (the reason follows).\n`);
  }

  /** Redraws the bar over the previous one, padding with spaces where the previous was longer. */
  private draw(progress: DownloadProgress): void {
    const text = this.bar(progress);
    this.stream.write(`\r${text.padEnd(this.drawnLength)}`);
    this.drawnLength = text.length;
  }

  private bar(progress: DownloadProgress): string {
    const label = `Downloading ${progress.name}`;
    if (progress.total === null || progress.total === 0) return `${label}  ${formatBytes(progress.loaded)}`;
    const fraction = Math.min(1, progress.loaded / progress.total);
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const amounts = `${formatBytes(progress.loaded)} / ${formatBytes(progress.total)}`;
    // The widest amounts text sets the bar width, so the bar keeps its length while the count grows.
    const widest = 2 * formatBytes(progress.total).length + 3;
    const columns = this.stream.columns ?? 80;
    const width = Math.max(10, Math.min(40, columns - label.length - widest - 12));
    const filled = Math.round(fraction * width);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}  ${amounts}`;
  }
}

/** Formats a byte count in KiB or MiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Loads a model by name, path or URL, showing download progress on stderr. */
export async function loadModelWithProgress(source: string, options: LoadModelOptions): Promise<Model> {
  const reporter = new DownloadProgressReporter();
  try {
    const model = await loadModel(source, { ...options, onProgress: reporter.onProgress });
    reporter.finish(true);
    return model;
  } catch (error) {
    reporter.finish(false);
    throw error;
  }
}
