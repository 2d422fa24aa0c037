/**
 * The thread pool: workers that run parts of a layer on the kernel instances of
 * loaded models, over each model's shared wasm memory.
 *
 * One pool serves the whole process (or page). Each model attaches its kernel
 * instance once, and the pool instantiates the same compiled module in every
 * worker on the model's memory. A run is synchronous on the calling thread. It
 * wakes the workers with one message, then hands out parts through a mailbox
 * per worker in a SharedArrayBuffer. For each layer, the caller writes a part
 * into every mailbox, bumps each worker's sequence number and notifies it, runs
 * its own part, and waits until every worker has acknowledged. Between the
 * layers of a run the workers spin briefly before they sleep in Atomics.wait,
 * so a layer rarely pays for a thread wake-up. After the last layer they return
 * to their event loop, where they can take the next attach message.
 *
 * Workers are unreferenced in Node, so they never keep a process alive, and the
 * pool terminates them when the last attached instance detaches (Model.dispose).
 */

import { KERNEL_CALL_NAMES } from './kernels.js';

/** One kernel call: its index in KERNEL_CALL_NAMES and its arguments. */
export interface KernelCall {
  kernel: number;
  args: number[];
}

/** Int32 values in a worker's control array. */
const SLOT_INTS = 16;
/** Mailbox entries written by the caller. */
const SEQUENCE = 0;
/** Mailbox entries the worker has finished (run or skipped). */
const DONE = 1;
/** 1 when the worker's part raised an error, whose text follows at ERROR_TEXT. */
const ERROR = 2;
/** 0 while the current part is unclaimed. The worker or the caller sets it to 1 and runs the part. */
const CLAIM = 3;
/** 1 while a run is in progress: the worker stays in its loop. */
const RUNNING = 4;
const ERROR_TEXT = 5;
const ERROR_TEXT_INTS = SLOT_INTS - ERROR_TEXT;

/** Float64 values in a worker's mailbox: [instance id, call count, then per call: kernel, argument count, arguments]. */
export const MAILBOX_FLOATS = 8192;
/** Polls of a sequence number before a thread sleeps in Atomics.wait. */
const SPIN_POLLS = 50_000;
/**
 * Milliseconds a waiting worker sleeps before it checks again whether the run
 * has ended. It bounds the delay of a wake-up that arrives between the check
 * and the wait.
 */
const IDLE_CHECK_MS = 10;

/**
 * The worker's program, as source text so that it runs unchanged whether this
 * package is bundled, transpiled or loaded from dist. `port` is defined by the
 * prefix that createWorker adds for Node or for Web Workers.
 */
const WORKER_BODY = `
const instances = new Map();
let control = null;
let mailbox = null;
let done = 0;
const SEQUENCE = ${SEQUENCE}, DONE = ${DONE}, ERROR = ${ERROR}, CLAIM = ${CLAIM}, RUNNING = ${RUNNING};
const ERROR_TEXT = ${ERROR_TEXT}, ERROR_TEXT_INTS = ${ERROR_TEXT_INTS};
const SPIN_POLLS = ${SPIN_POLLS}, IDLE_CHECK_MS = ${IDLE_CHECK_MS};

function fail(error) {
  const text = String(error && error.message ? error.message : error);
  const base = ERROR_TEXT;
  const length = Math.min(text.length, ERROR_TEXT_INTS * 2 - 1);
  for (let i = 0; i < ERROR_TEXT_INTS; i++) {
    const low = 2 * i < length ? text.charCodeAt(2 * i) : 0;
    const high = 2 * i + 1 < length ? text.charCodeAt(2 * i + 1) : 0;
    control[base + i] = low | (high << 16);
  }
  Atomics.store(control, ERROR, 1);
}

function runPart(offset) {
  const instance = instances.get(mailbox[offset]);
  const calls = mailbox[offset + 1];
  let at = offset + 2;
  for (let c = 0; c < calls; c++) {
    const kernel = mailbox[at];
    const count = mailbox[at + 1];
    const args = [];
    for (let i = 0; i < count; i++) args.push(mailbox[at + 2 + i]);
    at += 2 + count;
    if (!instance) throw new Error('the model is not attached to this worker');
    instance[kernel](...args);
  }
}

// Runs parts until the run ends. A part the caller has claimed first (because
// this worker was slow to wake) is skipped, but still acknowledged.
function loop() {
  for (;;) {
    let polls = 0;
    while (Atomics.load(control, SEQUENCE) === done) {
      if (Atomics.load(control, RUNNING) === 0) return;
      if (++polls > SPIN_POLLS) Atomics.wait(control, SEQUENCE, done, IDLE_CHECK_MS);
    }
    if (Atomics.compareExchange(control, CLAIM, 0, 1) === 0) {
      try {
        runPart(0);
      } catch (error) {
        fail(error);
      }
    }
    done++;
    Atomics.store(control, DONE, done);
    Atomics.notify(control, DONE);
  }
}

port.listen((message) => {
  switch (message.type) {
    case 'init':
      control = new Int32Array(message.control);
      mailbox = new Float64Array(message.mailbox);
      done = Atomics.load(control, DONE);
      break;
    case 'attach':
      try {
        const abort = () => { throw new Error('a wasm kernel aborted'); };
        const instance = new WebAssembly.Instance(message.module, { env: { memory: message.memory, abort } });
        instances.set(message.id, message.names.map((name) => instance.exports[name]));
        port.post({ type: 'attached', id: message.id });
      } catch (error) {
        port.post({ type: 'attached', id: message.id, error: String(error && error.message ? error.message : error) });
      }
      break;
    case 'detach':
      instances.delete(message.id);
      break;
    case 'run':
      loop();
      break;
  }
});
`;

const NODE_PREFIX = `
const { parentPort } = require('node:worker_threads');
const port = { post: (message) => parentPort.postMessage(message), listen: (handler) => parentPort.on('message', handler) };
`;

const WEB_PREFIX = `
const port = { post: (message) => self.postMessage(message), listen: (handler) => self.addEventListener('message', (event) => handler(event.data)) };
`;

/** The part of a worker that the pool uses, for Node's worker_threads and Web Workers alike. */
interface PoolWorker {
  post(message: unknown, transfer?: Transferable[]): void;
  onMessage(handler: (message: { type: string; id: number; error?: string }) => void): void;
  /** Keeps the process alive while a reply is awaited (Node), or does nothing. */
  hold(held: boolean): void;
  terminate(): void;
}

/** Returns why this runtime cannot run threads, or null when it can. */
export function threadsUnavailableReason(): string | null {
  if (typeof SharedArrayBuffer !== 'function') {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
    if (isolated === false) {
      return (
        'this page is not cross-origin isolated, so the browser hides SharedArrayBuffer. Serve the page with the headers ' +
        "'Cross-Origin-Opener-Policy: same-origin' and 'Cross-Origin-Embedder-Policy: require-corp' (or 'credentialless')"
      );
    }
    return 'this runtime has no SharedArrayBuffer';
  }
  if (!isNode() && typeof (globalThis as { Worker?: unknown }).Worker !== 'function') {
    return 'this runtime has no Web Workers';
  }
  try {
    // eslint-disable-next-line no-new
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return 'this runtime cannot create shared WebAssembly memory';
  }
  return null;
}

/** Returns true where workers come from node:worker_threads: Node, which has no global Worker. */
function isNode(): boolean {
  const process = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof process?.versions?.node === 'string' && typeof (globalThis as { Worker?: unknown }).Worker !== 'function';
}

/** Returns the number of logical cores: os.availableParallelism() in Node, navigator.hardwareConcurrency elsewhere. */
export async function availableCores(): Promise<number> {
  if (isNode()) {
    try {
      const specifier = 'node:os';
      const os = (await import(/* @vite-ignore */ specifier)) as { availableParallelism?: () => number; cpus(): unknown[] };
      return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    } catch {
      return 1;
    }
  }
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof cores === 'number' && cores >= 1 ? Math.floor(cores) : 1;
}

async function createWorker(): Promise<PoolWorker> {
  if (isNode()) {
    const specifier = 'node:worker_threads';
    const { Worker } = (await import(/* @vite-ignore */ specifier)) as typeof import('node:worker_threads');
    const worker = new Worker(NODE_PREFIX + WORKER_BODY, { eval: true });
    worker.unref();
    return {
      post: (message, transfer) => worker.postMessage(message, transfer as never),
      onMessage: (handler) => worker.on('message', handler),
      hold: (held) => (held ? worker.ref() : worker.unref()),
      terminate: () => void worker.terminate(),
    };
  }
  const WebWorker = (globalThis as unknown as { Worker: typeof Worker }).Worker;
  const url = URL.createObjectURL(new Blob([WEB_PREFIX + WORKER_BODY], { type: 'text/javascript' }));
  const worker = new WebWorker(url, { type: 'module', name: 'efficientnet-wasm thread' });
  return {
    post: (message, transfer) => worker.postMessage(message, transfer ?? []),
    onMessage: (handler) => worker.addEventListener('message', (event) => handler(event.data)),
    hold: () => undefined,
    terminate: () => {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

/** True when this thread may block in Atomics.wait (not a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** A kernel instance attached to the pool. */
export interface AttachedInstance {
  readonly id: number;
  /** Threads a run may use, the calling thread included. */
  readonly threads: number;
  /**
   * Runs main on the calling thread and workerParts[w] on worker w, and returns
   * when all are finished. Each worker part is encoded by encodePart, and
   * localParts[w] runs the same part on the calling thread. The caller takes a
   * part over when its worker is busy, or has not started it by the time the
   * caller's own part is done. So a worker that the OS has descheduled does not
   * hold up the layer.
   */
  run(main: () => void, workerParts: Float64Array[], localParts: (() => void)[]): void;
  /** Ends a run: the workers go back to their event loop. */
  finish(): void;
  /** Starts a run: the workers enter their loop. */
  begin(): void;
  detach(): void;
}

/** A worker of the pool with its own control array and mailbox. */
interface Helper {
  worker: PoolWorker;
  control: Int32Array;
  mailbox: Float64Array;
}

class ThreadPool {
  private readonly helpers: Helper[] = [];
  private readonly blocking = canBlock();
  private nextId = 1;
  private attached = 0;
  private readonly pending = new Map<string, (error?: string) => void>();
  private running = false;

  get size(): number {
    return this.helpers.length;
  }

  /** Starts workers until there are count of them. */
  private async grow(count: number): Promise<void> {
    while (this.helpers.length < count) {
      const index = this.helpers.length;
      const worker = await createWorker();
      const helper: Helper = {
        worker,
        control: new Int32Array(new SharedArrayBuffer(SLOT_INTS * 4)),
        mailbox: new Float64Array(new SharedArrayBuffer(MAILBOX_FLOATS * 8)),
      };
      worker.onMessage((message) => {
        if (message.type !== 'attached') return;
        const key = `${index}:${message.id}`;
        const resolve = this.pending.get(key);
        this.pending.delete(key);
        if (![...this.pending.keys()].some((pending) => pending.startsWith(`${index}:`))) worker.hold(false);
        resolve?.(message.error);
      });
      worker.post({ type: 'init', control: helper.control.buffer, mailbox: helper.mailbox.buffer });
      this.helpers.push(helper);
    }
  }

  async attach(module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[], threads: number): Promise<AttachedInstance> {
    const count = threads - 1;
    this.attached++;
    const id = this.nextId++;
    const instance = this.instance(id, count);
    try {
      await this.grow(count);
      const replies = this.helpers.slice(0, count).map(({ worker }, index) => {
        worker.hold(true);
        return new Promise<string | undefined>((resolve) => {
          this.pending.set(`${index}:${id}`, resolve);
          worker.post({ type: 'attach', id, module, memory, names });
        });
      });
      const errors = (await Promise.all(replies)).filter((error) => error !== undefined);
      if (errors.length > 0) {
        throw new Error(`Failed to start the kernels in a worker thread: ${errors[0]}. Pass numThreads: 1 to run without threads.`);
      }
    } catch (error) {
      instance.detach();
      throw error;
    }
    return instance;
  }

  private instance(id: number, count: number): AttachedInstance {
    let detached = false;
    const helpers = () => this.helpers.slice(0, count);
    return {
      id,
      threads: count + 1,
      begin: () => this.begin(helpers()),
      run: (main, parts, local) => this.run(id, helpers(), main, parts, local),
      finish: () => this.finish(helpers()),
      detach: () => {
        if (detached) return;
        detached = true;
        for (const { worker } of helpers()) worker.post({ type: 'detach', id });
        this.attached--;
        if (this.attached === 0) this.shutDown();
      },
    };
  }

  private begin(helpers: Helper[]): void {
    if (this.running) throw new Error('Internal error: a threaded run started inside another.');
    this.running = true;
    for (const helper of helpers) {
      Atomics.store(helper.control, RUNNING, 1);
      helper.worker.post({ type: 'run' });
    }
  }

  private run(id: number, helpers: Helper[], main: () => void, parts: Float64Array[], local: (() => void)[]): void {
    const sent: number[] = [];
    const kept: number[] = [];
    for (let w = 0; w < parts.length; w++) {
      const { control, mailbox } = helpers[w];
      // A worker that has not acknowledged its last entry is busy or asleep: its part stays here.
      if (Atomics.load(control, DONE) !== Atomics.load(control, SEQUENCE)) {
        kept.push(w);
        continue;
      }
      mailbox.set(parts[w]);
      mailbox[0] = id;
      Atomics.store(control, ERROR, 0);
      Atomics.store(control, CLAIM, 0);
      Atomics.add(control, SEQUENCE, 1);
      Atomics.notify(control, SEQUENCE);
      sent.push(w);
    }
    let failure: unknown = null;
    try {
      main();
      for (const w of kept) local[w]();
    } catch (error) {
      failure = error;
    }
    const claimed: number[] = [];
    for (const w of sent) {
      if (failure === null && Atomics.compareExchange(helpers[w].control, CLAIM, 0, 1) === 0) {
        try {
          local[w]();
        } catch (error) {
          failure = error;
        }
      } else {
        claimed.push(w);
      }
    }
    for (const w of claimed) this.waitDone(helpers[w]);
    if (failure) throw failure;
    for (const w of claimed) {
      const { control } = helpers[w];
      if (Atomics.load(control, ERROR) !== 0) {
        throw new Error(`A wasm kernel failed in worker thread ${w + 1}: ${errorText(control)}`);
      }
    }
  }

  private finish(helpers: Helper[]): void {
    for (const { control } of helpers) {
      Atomics.store(control, RUNNING, 0);
      Atomics.notify(control, SEQUENCE);
    }
    this.running = false;
  }

  /** Waits until a worker has acknowledged every mailbox entry it was given. */
  private waitDone({ control }: Helper): void {
    const expected = Atomics.load(control, SEQUENCE);
    let polls = 0;
    for (;;) {
      const done = Atomics.load(control, DONE);
      if (done === expected) return;
      if (this.blocking && ++polls > SPIN_POLLS) Atomics.wait(control, DONE, done, 100);
    }
  }

  private shutDown(): void {
    for (const { worker } of this.helpers) worker.terminate();
    this.helpers.length = 0;
    if (pool === this) pool = null;
  }
}

/** Reads the error text a worker stored in its control array (two UTF-16 units per int). */
function errorText(control: Int32Array): string {
  let text = '';
  for (let i = 0; i < ERROR_TEXT_INTS; i++) {
    const value = control[ERROR_TEXT + i];
    const low = value & 0xffff;
    const high = value >>> 16;
    if (low === 0) break;
    text += String.fromCharCode(low);
    if (high === 0) break;
    text += String.fromCharCode(high);
  }
  return text;
}

let pool: ThreadPool | null = null;

/** Attaches a kernel instance on a shared memory to the process's pool, starting it (or more workers) when needed. */
export async function attachToPool(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  threads: number,
): Promise<AttachedInstance> {
  pool ??= new ThreadPool();
  return pool.attach(module, memory, KERNEL_CALL_NAMES, threads);
}

/** Workers the process's pool is running (0 when it is shut down). */
export function poolWorkerCount(): number {
  return pool?.size ?? 0;
}

/**
 * Encodes a worker's part (a list of kernel calls) into the form its mailbox
 * takes. Returns null when the part does not fit, and the step then runs on
 * one thread.
 */
export function encodePart(calls: KernelCall[]): Float64Array | null {
  let floats = 2;
  for (const call of calls) floats += 2 + call.args.length;
  if (floats > MAILBOX_FLOATS) return null;
  const encoded = new Float64Array(floats);
  encoded[1] = calls.length;
  let at = 2;
  for (const call of calls) {
    encoded[at] = call.kernel;
    encoded[at + 1] = call.args.length;
    encoded.set(call.args, at + 2);
    at += 2 + call.args.length;
  }
  return encoded;
}
