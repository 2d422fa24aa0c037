/** The CLI's download progress: a bar on a terminal, plain lines otherwise. */
import { describe, expect, it } from 'vitest';
import { DownloadProgressReporter, formatBytes } from '../../src/cli/progress.js';

class RecordingStream {
  readonly writes: string[] = [];

  constructor(
    readonly isTTY: boolean,
    readonly columns = 80,
  ) {}

  write(text: string): boolean {
    this.writes.push(text);
    return true;
  }
}

const MiB = 1048576;

describe('download progress', () => {
  it('terminal gets a bar redrawn in place', () => {
    const stream = new RecordingStream(true);
    const reporter = new DownloadProgressReporter(stream);
    reporter.onProgress({ name: 'efficientnet-lite0', file: 'a.tflite', loaded: 0, total: 4 * MiB });
    reporter.onProgress({ name: 'efficientnet-lite0', file: 'a.tflite', loaded: 4 * MiB, total: 4 * MiB });
    reporter.finish(true);
    expect(stream.writes[0]).toBe(`\rDownloading efficientnet-lite0 [${'.'.repeat(21)}]   0%  0 B / 4.0 MiB`);
    expect(stream.writes[1]).toBe(`\rDownloading efficientnet-lite0 [${'#'.repeat(21)}] 100%  4.0 MiB / 4.0 MiB`);
    expect(stream.writes.slice(2)).toEqual([stream.writes[1], '\n']);
  });

  it('unknown total shows the bytes', () => {
    const stream = new RecordingStream(true);
    const reporter = new DownloadProgressReporter(stream);
    reporter.onProgress({ name: 'm', file: 'a', loaded: 2048, total: null });
    expect(stream.writes).toEqual(['\rDownloading m  2.0 KiB']);
  });

  it('shorter redraw clears the longer one', () => {
    const stream = new RecordingStream(true);
    const reporter = new DownloadProgressReporter(stream);
    reporter.onProgress({ name: 'm', file: 'a', loaded: 1_048_000, total: null });
    // Within the redraw interval, so only finish() draws it: "1023.4 KiB" becomes the shorter "1.0 MiB".
    reporter.onProgress({ name: 'm', file: 'a', loaded: 1_048_576, total: null });
    reporter.finish(true);
    expect(stream.writes).toEqual(['\rDownloading m  1023.4 KiB', `\r${'Downloading m  1.0 MiB'.padEnd(25)}`, '\n']);
  });

  it('pipe gets one line at each end', () => {
    const stream = new RecordingStream(false);
    const reporter = new DownloadProgressReporter(stream);
    for (let loaded = 0; loaded <= 4 * MiB; loaded += MiB) {
      reporter.onProgress({ name: 'efficientnet-lite0', file: 'a.tflite', loaded, total: 4 * MiB });
    }
    reporter.finish(true);
    expect(stream.writes).toHaveLength(2);
    expect(stream.writes[0]).toBe('Downloading model efficientnet-lite0 (4.0 MiB)...\n');
    expect(stream.writes[1]).toMatch(/^Downloaded model efficientnet-lite0 \(4\.0 MiB\) in \d+\.\d s\.\n$/);
  });

  it('failed download says where it stopped', () => {
    const stream = new RecordingStream(false);
    const reporter = new DownloadProgressReporter(stream);
    reporter.onProgress({ name: 'm', file: 'a', loaded: 3 * MiB, total: 4 * MiB });
    reporter.finish(false);
    expect(stream.writes[1]).toBe('Download of model m failed after 3.0 MiB (the reason follows).\n');
  });

  it('cache hit prints nothing', () => {
    const stream = new RecordingStream(false);
    new DownloadProgressReporter(stream).finish(true);
    expect(stream.writes).toEqual([]);
  });

  it('byte sizes', () => {
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(18_582_189)).toBe('17.7 MiB');
  });
});
