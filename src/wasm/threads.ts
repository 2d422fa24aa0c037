/**
 * The thread pool: workers that run parts of a layer on the kernel instances of
 * loaded models, over each model's shared wasm memory.
 *
 * One pool serves the whole process (or page). Each model attaches its kernel
 * instance once, and the pool instantiates the same compiled module in every
 * worker on the model's memory. A run is synchronous on the calling thread. It
 * wakes the workers with one message. Then, for each layer, the caller writes
 * the layer's chunks (slices of its output, see src/graph/split.ts) into a job
 * buffer in a SharedArrayBuffer. The caller and the workers claim chunks one at
 * a time with compare-and-swap until none is left. A worker that the OS
 * has descheduled therefore holds up at most the one chunk it claimed. Between
 * the layers of a run the workers spin briefly before they sleep in
 * Atomics.wait, and after the last layer they return to their event loop, where
 * they can take the next attach message.
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

/** Int32 values of the pool's control array. */
const CONTROL_INTS = 32;
/** Layers published so far. Workers wait on it. */
const STEP = 0;
/** The current layer's chunk count (high 16 bits) and its next unclaimed chunk (low 16 bits). */
const CLAIM = 1;
/** Chunks of the current layer that have finished. */
const COMPLETED = 2;
/** 1 while a run is in progress: the workers stay in their loop. */
const RUNNING = 3;
/** Workers, by index, that may take chunks of the current layer (those of the model that runs it). */
const HELPERS = 4;
/** 1 when a worker's chunk raised an error, whose text follows at ERROR_TEXT. */
const ERROR = 5;
const ERROR_TEXT = 6;
const ERROR_TEXT_INTS = CONTROL_INTS - ERROR_TEXT;

/**
 * Float64 values of the job buffer: [instance id, chunk count, then the offset
 * of each chunk, then each chunk: call count, then per call: kernel, argument
 * count, arguments].
 */
export const JOB_FLOATS = 65536;
/** Most chunks of one layer (the claim word keeps the count in 16 bits). */
export const MAX_CHUNKS = 0xffff;

/**
 * Polls of a word before a thread sleeps in Atomics.wait: at most SPIN_POLLS,
 * at least MIN_SPIN_POLLS. A wait that ends in sleep halves the next one's
 * polls, and a wait that the poll ends doubles them. On a quiet machine the
 * next layer arrives while the worker polls, so it never pays for a wake-up.
 * On a busy one, where the other thread is descheduled, polling would take the
 * core it needs, so the polls shrink.
 */
const SPIN_POLLS = 50_000;
const MIN_SPIN_POLLS = 500;
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
let jobs = null;
let index = 0;
const STEP = ${STEP}, CLAIM = ${CLAIM}, COMPLETED = ${COMPLETED}, RUNNING = ${RUNNING}, HELPERS = ${HELPERS};
const ERROR = ${ERROR}, ERROR_TEXT = ${ERROR_TEXT}, ERROR_TEXT_INTS = ${ERROR_TEXT_INTS};
const SPIN_POLLS = ${SPIN_POLLS}, MIN_SPIN_POLLS = ${MIN_SPIN_POLLS}, IDLE_CHECK_MS = ${IDLE_CHECK_MS};
let spin = SPIN_POLLS;

function fail(error) {
  if (Atomics.compareExchange(control, ERROR, 0, 1) !== 0) return;
  const text = String(error && error.message ? error.message : error);
  const length = Math.min(text.length, ERROR_TEXT_INTS * 2 - 1);
  for (let i = 0; i < ERROR_TEXT_INTS; i++) {
    const low = 2 * i < length ? text.charCodeAt(2 * i) : 0;
    const high = 2 * i + 1 < length ? text.charCodeAt(2 * i + 1) : 0;
    Atomics.store(control, ERROR_TEXT + i, low | (high << 16));
  }
}

function runChunk(chunk) {
  const instance = instances.get(jobs[0]);
  if (!instance) throw new Error('the model is not attached to this worker');
  let at = jobs[2 + chunk];
  const calls = jobs[at++];
  for (let c = 0; c < calls; c++) {
    const kernel = jobs[at];
    const count = jobs[at + 1];
    const args = [];
    for (let i = 0; i < count; i++) args.push(jobs[at + 2 + i]);
    at += 2 + count;
    instance[kernel](...args);
  }
}

// Claims and runs chunks of the current layer until none is left. A claim that
// succeeds is a chunk of the layer in the job buffer, which the caller rewrites
// only after every chunk of it has completed.
function work() {
  for (;;) {
    const claim = Atomics.load(control, CLAIM);
    const chunk = claim & 0xffff;
    const total = claim >>> 16;
    if (chunk >= total) return;
    if (Atomics.compareExchange(control, CLAIM, claim, claim + 1) !== claim) continue;
    try {
      runChunk(chunk);
    } catch (error) {
      fail(error);
    }
    if (Atomics.add(control, COMPLETED, 1) + 1 === total) Atomics.notify(control, COMPLETED);
  }
}

function loop() {
  let seen = Atomics.load(control, STEP);
  if (index < Atomics.load(control, HELPERS)) work();
  for (;;) {
    let polls = 0;
    let slept = false;
    let step;
    while ((step = Atomics.load(control, STEP)) === seen) {
      if (Atomics.load(control, RUNNING) === 0) return;
      if (++polls > spin) {
        Atomics.wait(control, STEP, seen, IDLE_CHECK_MS);
        slept = true;
      }
    }
    spin = slept ? Math.max(MIN_SPIN_POLLS, spin >> 1) : Math.min(SPIN_POLLS, spin * 2);
    seen = step;
    if (index < Atomics.load(control, HELPERS)) work();
  }
}

port.listen((message) => {
  switch (message.type) {
    case 'init':
      control = new Int32Array(message.control);
      jobs = new Float64Array(message.jobs);
      index = message.index;
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

/**
 * The worker's program for node:worker_threads. An eval worker runs as
 * CommonJS, or as an ES module when Node was started with --input-type=module,
 * so it loads worker_threads with import(), which works in both.
 */
const NODE_SOURCE = `
import('node:worker_threads').then(({ parentPort }) => {
const port = { post: (message) => parentPort.postMessage(message), listen: (handler) => parentPort.on('message', handler) };
${WORKER_BODY}
});
`;

const WEB_PREFIX = `
const port = { post: (message) => self.postMessage(message), listen: (handler) => self.addEventListener('message', (event) => handler(event.data)) };
`;

/** An error in starting threads: the runtime could not start a worker, or a worker could not run the kernels. */
export class ThreadStartError extends Error {
  override name = 'ThreadStartError';
}

/** The part of a worker that the pool uses, for Node's worker_threads and Web Workers alike. */
interface PoolWorker {
  post(message: unknown, transfer?: Transferable[]): void;
  onMessage(handler: (message: { type: string; id: number; error?: string }) => void): void;
  /** Calls handler when the worker fails to start or its script raises an error. */
  onError(handler: (message: string) => void): void;
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
  if (isNode() && workersForbidden()) {
    return "Node's permission model forbids worker threads (start Node with --allow-worker to use threads)";
  }
  try {
    // eslint-disable-next-line no-new
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return 'this runtime cannot create shared WebAssembly memory';
  }
  return null;
}

/**
 * Returns true where workers come from node:worker_threads: Node, and Deno and
 * Bun, whose worker_threads workers (unlike their Web Workers in Deno) can be
 * unreferenced, so that a script that never disposes its model still exits.
 */
function isNode(): boolean {
  const process = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof process?.versions?.node === 'string';
}

/** Node's permission model (--permission) without --allow-worker forbids workers. */
function workersForbidden(): boolean {
  const permission = (globalThis as { process?: { permission?: { has(scope: string): boolean } } }).process?.permission;
  try {
    return permission !== undefined && !permission.has('worker');
  } catch {
    return false;
  }
}

/**
 * Imports a Node built-in module. The specifier is assembled at run time, so
 * that bundlers neither resolve it nor fold it into a literal import in
 * browser builds.
 */
function importNodeModule(name: string): Promise<unknown> {
  const specifier = ['node', name].join(':');
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
}

/** Returns the number of logical cores: os.availableParallelism() in Node, navigator.hardwareConcurrency elsewhere. */
export async function availableCores(): Promise<number> {
  if (isNode()) {
    try {
      const os = (await importNodeModule('os')) as { availableParallelism?: () => number; cpus(): unknown[] };
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
    const { Worker } = (await importNodeModule('worker_threads')) as typeof import('node:worker_threads');
    let worker: InstanceType<typeof Worker>;
    try {
      worker = new Worker(NODE_SOURCE, { eval: true });
    } catch (error) {
      throw new ThreadStartError(`Failed to start a worker thread: ${(error as Error).message}`, { cause: error });
    }
    worker.unref();
    return {
      post: (message, transfer) => worker.postMessage(message, transfer as never),
      onMessage: (handler) => worker.on('message', handler),
      onError: (handler) => worker.on('error', (error: Error) => handler(error.message)),
      hold: (held) => (held ? worker.ref() : worker.unref()),
      terminate: () => void worker.terminate(),
    };
  }
  const WebWorker = (globalThis as unknown as { Worker: typeof Worker }).Worker;
  const url = URL.createObjectURL(new Blob([WEB_PREFIX + WORKER_BODY], { type: 'text/javascript' }));
  let worker: Worker;
  try {
    worker = new WebWorker(url, { type: 'module', name: 'efficientnet-wasm thread' });
  } catch (error) {
    URL.revokeObjectURL(url);
    // A Content-Security-Policy without worker-src blob: rejects the worker here or with an error event.
    throw new ThreadStartError(`Failed to start a Web Worker from a blob: URL: ${(error as Error).message}`, { cause: error });
  }
  return {
    post: (message, transfer) => worker.postMessage(message, transfer ?? []),
    onMessage: (handler) => worker.addEventListener('message', (event) => handler(event.data)),
    onError: (handler) => worker.addEventListener('error', (event) => handler(event.message || 'the worker script failed to load')),
    hold: () => undefined,
    terminate: () => {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

/** Returns true when this thread may block in Atomics.wait (not a browser's main thread). */
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
   * Runs a layer's chunks on the calling thread and the workers, and returns
   * when all are finished. job is the chunks encoded by encodeJob, and
   * localChunks[c] runs chunk c on the calling thread.
   */
  run(job: Float64Array, localChunks: (() => void)[]): void;
  /** Starts a run: the workers enter their loop. */
  begin(): void;
  /** Ends a run: the workers go back to their event loop. */
  finish(): void;
  detach(): void;
}

class ThreadPool {
  private readonly workers: PoolWorker[] = [];
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
  private readonly jobs = new Float64Array(new SharedArrayBuffer(JOB_FLOATS * 8));
  private readonly blocking = canBlock();
  private nextId = 1;
  /** Reservations and attached instances: the pool shuts down when the count returns to 0. */
  users = 0;
  private readonly pending = new Map<string, (error?: string) => void>();
  private running = false;
  /** Polls of the calling thread before it sleeps (see SPIN_POLLS). */
  private spin = SPIN_POLLS;

  get size(): number {
    return this.workers.length;
  }

  /** Starts workers until there are count of them. */
  async grow(count: number): Promise<void> {
    const growing = this.growing.then(() => this.startWorkers(count));
    this.growing = growing.catch(() => undefined);
    return growing;
  }

  private growing: Promise<void> = Promise.resolve();

  private async startWorkers(count: number): Promise<void> {
    while (this.workers.length < count && !this.closed) {
      const index = this.workers.length;
      const worker = await createWorker();
      if (this.closed) {
        worker.terminate();
        return;
      }
      const reply = (id: number, error?: string) => {
        const key = `${index}:${id}`;
        const resolve = this.pending.get(key);
        this.pending.delete(key);
        if (![...this.pending.keys()].some((pending) => pending.startsWith(`${index}:`))) worker.hold(false);
        resolve?.(error);
      };
      worker.onMessage((message) => {
        if (message.type === 'attached') reply(message.id, message.error);
      });
      // A worker that fails never replies to an attach, so every attach waiting on it gets the error.
      worker.onError((message) => {
        for (const key of [...this.pending.keys()]) {
          if (key.startsWith(`${index}:`)) reply(Number(key.slice(key.indexOf(':') + 1)), message);
        }
      });
      worker.post({ type: 'init', control: this.control.buffer, jobs: this.jobs.buffer, index });
      this.workers.push(worker);
    }
  }

  async attach(module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[], threads: number): Promise<AttachedInstance> {
    const count = threads - 1;
    const id = this.nextId++;
    const instance = this.instance(id, count);
    try {
      await this.grow(count);
      const replies = this.workers.slice(0, count).map((worker, index) => {
        worker.hold(true);
        return new Promise<string | undefined>((resolve) => {
          this.pending.set(`${index}:${id}`, resolve);
          worker.post({ type: 'attach', id, module, memory, names });
        });
      });
      const errors = (await Promise.all(replies)).filter((error) => error !== undefined);
      if (errors.length > 0) {
        throw new ThreadStartError(`Failed to start the kernels in a worker thread: ${errors[0]}. Pass numThreads: 1 to run without threads.`);
      }
    } catch (error) {
      instance.detach();
      throw error;
    }
    return instance;
  }

  private instance(id: number, count: number): AttachedInstance {
    let detached = false;
    return {
      id,
      threads: count + 1,
      begin: () => this.begin(count),
      run: (job, local) => this.run(id, job, local),
      finish: () => this.finish(),
      detach: () => {
        if (detached) return;
        detached = true;
        for (const worker of this.workers.slice(0, count)) worker.post({ type: 'detach', id });
        this.release();
      },
    };
  }

  private begin(helpers: number): void {
    if (this.running) throw new Error('Internal error: a threaded run started inside another.');
    this.running = true;
    Atomics.store(this.control, HELPERS, helpers);
    Atomics.store(this.control, RUNNING, 1);
    for (const worker of this.workers.slice(0, helpers)) worker.post({ type: 'run' });
  }

  private run(id: number, job: Float64Array, local: (() => void)[]): void {
    const control = this.control;
    const total = local.length;
    this.jobs.set(job);
    this.jobs[0] = id;
    Atomics.store(control, ERROR, 0);
    Atomics.store(control, COMPLETED, 0);
    Atomics.store(control, CLAIM, total << 16);
    Atomics.add(control, STEP, 1);
    Atomics.notify(control, STEP);

    let failure: unknown = null;
    for (;;) {
      const claim = Atomics.load(control, CLAIM);
      const chunk = claim & 0xffff;
      if (chunk >= total) break;
      if (Atomics.compareExchange(control, CLAIM, claim, claim + 1) !== claim) continue;
      try {
        local[chunk]();
      } catch (error) {
        failure ??= error;
      }
      Atomics.add(control, COMPLETED, 1);
    }
    let polls = 0;
    let slept = false;
    for (;;) {
      const completed = Atomics.load(control, COMPLETED);
      if (completed === total) break;
      if (this.blocking && ++polls > this.spin) {
        Atomics.wait(control, COMPLETED, completed, 100);
        slept = true;
      }
    }
    this.spin = slept ? Math.max(MIN_SPIN_POLLS, this.spin >> 1) : Math.min(SPIN_POLLS, this.spin * 2);
    if (failure) throw failure;
    if (Atomics.load(control, ERROR) !== 0) {
      throw new Error(`A wasm kernel failed in a worker thread: ${errorText(control)}`);
    }
  }

  private finish(): void {
    Atomics.store(this.control, RUNNING, 0);
    Atomics.notify(this.control, STEP);
    this.running = false;
  }

  /** Drops one user (a reservation or an attached instance), and terminates the workers after the last. */
  release(): void {
    this.users--;
    if (this.users === 0) this.shutDown();
  }

  private closed = false;

  private shutDown(): void {
    this.closed = true;
    for (const worker of this.workers) worker.terminate();
    this.workers.length = 0;
    if (pool === this) pool = null;
  }
}

/** Reads the error text a worker stored in its control array (two UTF-16 units per int). */
function errorText(control: Int32Array): string {
  let text = '';
  for (let i = 0; i < ERROR_TEXT_INTS; i++) {
    const value = Atomics.load(control, ERROR_TEXT + i);
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

/** A place in the process's pool, reserved before a model's kernels compile. */
export interface PoolReservation {
  /** Attaches the model's kernel instance, on its shared memory, to the pool. */
  attach(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<AttachedInstance>;
  /** Gives the place up when the load fails before attach; the pool stops if no one else uses it. */
  cancel(): void;
}

/**
 * Reserves a place in the process's pool for a model with this many threads,
 * and starts the workers it needs, so that they boot while the kernels compile
 * and the weights load. The pool stays up until every reservation is detached
 * or cancelled.
 */
export function reservePool(threads: number): PoolReservation {
  pool ??= new ThreadPool();
  const reserved = pool;
  reserved.users++;
  reserved.grow(threads - 1).catch(() => undefined);
  let settled = false;
  return {
    attach: (module, memory) => {
      settled = true;
      return reserved.attach(module, memory, KERNEL_CALL_NAMES, threads);
    },
    cancel: () => {
      if (settled) return;
      settled = true;
      reserved.release();
    },
  };
}

/** Workers the process's pool is running (0 when it is shut down). */
export function poolWorkerCount(): number {
  return pool?.size ?? 0;
}

/**
 * Encodes a layer's chunks (each a list of kernel calls) into the form the job
 * buffer takes. Returns null when they do not fit, and the layer then runs on
 * one thread.
 */
export function encodeJob(chunks: KernelCall[][]): Float64Array | null {
  if (chunks.length > MAX_CHUNKS) return null;
  let floats = 2 + chunks.length;
  for (const chunk of chunks) {
    floats += 1;
    for (const call of chunk) floats += 2 + call.args.length;
  }
  if (floats > JOB_FLOATS) return null;
  const encoded = new Float64Array(floats);
  encoded[1] = chunks.length;
  let at = 2 + chunks.length;
  chunks.forEach((chunk, index) => {
    encoded[2 + index] = at;
    encoded[at++] = chunk.length;
    for (const call of chunk) {
      encoded[at] = call.kernel;
      encoded[at + 1] = call.args.length;
      encoded.set(call.args, at + 2);
      at += 2 + call.args.length;
    }
  });
  return encoded;
}
