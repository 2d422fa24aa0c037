import type { KernelInstance } from '../wasm/instantiate.js';
import { KERNEL_CALL_NAMES, type KernelExports } from '../wasm/kernels.js';
import { encodeJob, type KernelCall } from '../wasm/threads.js';
import { foldBatchNorm } from './batchnorm.js';
import { activationBounds, lowerGraph, type LoweredGraph } from './integer.js';
import { resolveAxis } from './padding.js';
import { planMemory, type MemoryPlan, type TensorLifetime } from './plan.js';
import { callWork, kernelCall, kernelName, partition } from './split.js';
import {
  ACTIVATION_CODES,
  type BatchNorm,
  type ConvLayer,
  type DepthwiseLayer,
  type Graph,
  type Padding,
  type PointwiseLayer,
  type QuantGrid,
} from './spec.js';

export interface ExecutorOptions {
  /**
   * For quantized models, follow the integer pipeline (or, when the weights are
   * not integer, round activations onto the grids the graph carries).
   */
  quantizationGrid: boolean;
  /** Grid of the final output, applied after softmax when quantizationGrid is on. */
  outputGrid?: QuantGrid;
}

/** Requantization after a layer of the integer pipeline (see integer.ts). */
interface Requantization {
  /** Pointer to one multiplier per output channel, or one for all. */
  multipliers: number;
  perChannel: boolean;
  low: number;
  high: number;
}

/** A pointwise layer with BatchNorm folded and weights packed in wasm memory. */
interface PackedPointwise {
  name: string;
  inChannels: number;
  outChannels: number;
  activation: number;
  packed: number;
  bias: number;
  grid: QuantGrid | null;
  requantization: Requantization | null;
}

/** A regular or depthwise convolution with BatchNorm folded, weights in wasm memory. */
interface PackedConv {
  name: string;
  kernel: number;
  stride: number;
  padding: Padding;
  inChannels: number;
  outChannels: number;
  activation: number;
  weight: number;
  bias: number;
  grid: QuantGrid | null;
  requantization: Requantization | null;
  /** Depth multiplier of a depthwise layer: its input channels are repeated this many times first. */
  repeats: number;
}

/** A quantized residual ADD: each input's scale over the output's, and the output bounds. */
interface ResidualRequantization {
  projectScale: number;
  inputScale: number;
  low: number;
  high: number;
}

interface PackedBlock {
  expand: PackedPointwise | null;
  depthwise: PackedConv;
  se: { reduce: PackedPointwise; expand: PackedPointwise } | null;
  project: PackedPointwise;
  residual: boolean;
  residualGrid: QuantGrid | null;
  residualRequantization: ResidualRequantization | null;
}

/**
 * One layer's kernel calls (one, or one per image of a batch), with the tensors
 * they read and write, bound to pointers once planned.
 */
interface StepDefinition {
  reads: string[];
  writes: string[];
  bind(pointer: (tensor: string) => number): KernelCall[];
}

/** A step ready to run: its calls, and a function that runs them on one thread or on the pool. */
interface BoundStep {
  calls: KernelCall[];
  run: () => void;
}

/** The steps and memory for one input size and batch, built once and reused by every run. */
interface PreparedRun {
  height: number;
  width: number;
  batch: number;
  steps: BoundStep[];
  inputPointer: number;
  outputPointer: number;
  /** Output floats per image. */
  outputCount: number;
  outputShape: number[];
  arenaBytes: number;
}

/** A layer's weights as the kernels take them, before they are copied into wasm memory. */
interface PreparedWeights {
  weight: Float32Array;
  /** Per-output-channel factor that BatchNorm folding applies to the weight in wasm memory, or null. */
  weightScale: Float32Array | null;
  bias: Float32Array;
  activation: number;
  requantization: Requantization | null;
}

/**
 * Runs a Graph on the wasm kernels. Weights are folded and packed once. For
 * each input size, a memory plan lets tensors with disjoint lifetimes share
 * bytes, and every kernel call is bound to fixed pointers, so a steady-state
 * run allocates nothing in wasm memory.
 */
export class GraphExecutor {
  readonly parameterCount: number;
  private readonly kernels: KernelInstance;
  private readonly graph: Graph;
  private readonly options: ExecutorOptions;
  private readonly stem: PackedConv;
  private readonly blocks: PackedBlock[];
  private readonly head: PackedPointwise | null;
  private readonly hidden: PackedPointwise[];
  private readonly classifier: PackedPointwise | null;
  private readonly arenaMark: number;
  /** True when the graph runs as an emulated integer pipeline (activations hold q - zeroPoint). */
  private readonly integer: boolean;
  /** Integer weights of every layer when the graph runs as an integer pipeline. */
  private readonly lowered: LoweredGraph | null;
  private readonly poolRequantization: Requantization | null;
  private readonly inputRequantization: Requantization | null;
  /** Pointer to the scale of the last grid, to turn the integer pipeline's output back into real values. */
  private readonly outputScalePointer: number;
  private prepared: PreparedRun | null = null;
  private arenaCapacity = 0;

  constructor(kernels: KernelInstance, graph: Graph, options: ExecutorOptions) {
    this.kernels = kernels;
    this.graph = graph;
    this.options = options;
    validateGraph(graph);
    this.lowered = options.quantizationGrid ? lowerGraph(graph) : null;
    this.integer = this.lowered !== null;
    // The grid of the tensor that the layer being packed reads, for the residual, pool and output scales.
    let grid = graph.inputGrid;
    const advance = (next: QuantGrid | undefined) => {
      const previous = grid;
      grid = next;
      return previous;
    };
    let parameters = 0;
    const count = (layer: { weight: Float32Array; bias: Float32Array | null; batchNorm?: BatchNorm }) => {
      parameters += layer.weight.length + (layer.bias?.length ?? 0) + (layer.batchNorm ? 4 * layer.batchNorm.gamma.length : 0);
    };

    this.inputRequantization = this.integer
      ? this.requantization(Float32Array.of(Math.fround(1 / graph.inputGrid!.scale)), activationBounds(graph.inputGrid!, 'linear')!)
      : null;
    count(graph.stem);
    this.stem = this.packConv(graph.stem, 'stem', graph.stem.inChannels, graph.stem.outChannels);
    advance(graph.stem.outputGrid);
    this.blocks = graph.blocks.map((block, index) => {
      const name = `block ${index}`;
      if (block.expand) count(block.expand);
      count(block.depthwise);
      if (block.se) {
        count(block.se.reduce);
        count(block.se.expand);
      }
      count(block.project);
      const blockGrid = grid;
      const expand = block.expand ? this.packPointwise(block.expand, `${name} expand`) : null;
      const dwChannels = block.depthwise.channels * (block.depthwise.depthMultiplier ?? 1);
      const depthwise = this.packConv(block.depthwise, `${name} depthwise`, dwChannels, dwChannels);
      const se = block.se
        ? {
            reduce: this.packPointwise(block.se.reduce, `${name} squeeze-excite reduce`),
            expand: this.packPointwise(block.se.expand, `${name} squeeze-excite expand`),
          }
        : null;
      const project = this.packPointwise(block.project, `${name} project`);
      advance(block.project.outputGrid);
      let residualRequantization: ResidualRequantization | null = null;
      const projectGrid = block.residual ? advance(block.residualGrid) : undefined;
      if (block.residual && this.integer) {
        const sum = block.residualGrid!;
        residualRequantization = {
          projectScale: Math.fround(projectGrid!.scale / sum.scale),
          inputScale: Math.fround(blockGrid!.scale / sum.scale),
          ...activationBounds(sum, 'linear')!,
        };
      }
      return {
        expand,
        depthwise,
        se,
        project,
        residual: block.residual,
        residualGrid: this.grid(block.residualGrid),
        residualRequantization,
      };
    });
    if (graph.head) count(graph.head);
    this.head = graph.head ? this.packPointwise(graph.head, 'head') : null;
    if (graph.head) advance(graph.head.outputGrid);
    this.poolRequantization = null;
    if (graph.pool && this.integer) {
      const poolGrid = graph.pool.outputGrid!;
      this.poolRequantization = this.requantization(
        Float32Array.of(Math.fround(advance(poolGrid)!.scale / poolGrid.scale)),
        activationBounds(poolGrid, 'linear')!,
      );
    }
    this.hidden = (graph.hidden ?? []).map((layer, index) => {
      count(layer);
      return this.packPointwise(layer, `dense ${index}`);
    });
    if (graph.classifier) count(graph.classifier);
    this.classifier = graph.classifier ? this.packPointwise(graph.classifier, 'classifier') : null;
    if (graph.classifier) advance(graph.classifier.outputGrid);
    this.outputScalePointer = kernels.allocF32(1);
    kernels.writeF32(this.outputScalePointer, [grid?.scale ?? 1]);
    this.parameterCount = parameters;
    this.arenaMark = kernels.mark();

    if (graph.inputHeight !== null && graph.inputWidth !== null) {
      this.prepare(graph.inputHeight, graph.inputWidth, 1);
    }
  }

  /** Bytes of the activation arena currently reserved. */
  get arenaBytes(): number {
    return this.arenaCapacity;
  }

  /** Shape of the output for an input size: [classes], [channels] or [H, W, C]. */
  outputShape(height: number, width: number): number[] {
    return this.prepare(height, width, this.prepared?.batch ?? 1).outputShape;
  }

  /**
   * Runs the graph on a normalized NHWC input [batch, height, width, channels]
   * and returns a copy of the output, the images' outputs one after another.
   * The images of a batch share each weight load of the 1x1 convolutions and
   * dense layers. On a thread pool, each layer's work is split between threads.
   */
  run(input: Float32Array, height: number, width: number, batch = 1): Float32Array {
    const run = this.prepare(height, width, batch);
    this.kernels.writeF32(run.inputPointer, input);
    const pool = this.kernels.threadPool;
    if (!pool) {
      for (const step of run.steps) step.run();
    } else {
      pool.begin();
      try {
        for (const step of run.steps) step.run();
      } finally {
        pool.finish();
      }
    }
    return this.kernels.readF32(run.outputPointer, run.outputCount * batch);
  }

  /**
   * Runs the graph once with every step timed, and returns the total
   * milliseconds, call count and floating-point operations per kernel, slowest
   * first. A step split between threads counts once, at its wall time.
   */
  profile(input: Float32Array, height: number, width: number, batch = 1): { kernel: string; ms: number; calls: number; flops: number }[] {
    const run = this.prepare(height, width, batch);
    const totals = new Map<string, { ms: number; calls: number; flops: number }>();
    this.kernels.writeF32(run.inputPointer, input);
    const pool = this.kernels.threadPool;
    pool?.begin();
    try {
      for (const step of run.steps) {
        const start = performance.now();
        step.run();
        const ms = performance.now() - start;
        const name = kernelName(step.calls[0]);
        const entry = totals.get(name) ?? { ms: 0, calls: 0, flops: 0 };
        entry.ms += ms;
        entry.calls += step.calls.length;
        for (const call of step.calls) entry.flops += kernelFlops(call);
        totals.set(name, entry);
      }
    } finally {
      pool?.finish();
    }
    return [...totals.entries()].map(([kernel, entry]) => ({ kernel, ...entry })).sort((a, b) => b.ms - a.ms);
  }

  /** Compiles a step's calls into a function for this thread, or for the pool when the work splits. */
  private bindStep(calls: KernelCall[]): BoundStep {
    const exports = this.kernels.exports;
    const serial = callsFunction(exports, calls);
    const pool = this.kernels.threadPool;
    let chunks = pool ? partition(calls, pool.threads) : null;
    let job = chunks ? encodeJob(chunks) : null;
    // A large batch on many threads can overflow the job buffer: pairs of chunks merge until it fits.
    while (chunks && !job && chunks.length > 1) {
      const merged: KernelCall[][] = [];
      for (let i = 0; i < chunks.length; i += 2) merged.push([...chunks[i], ...(chunks[i + 1] ?? [])]);
      chunks = merged;
      job = encodeJob(chunks);
    }
    if (!pool || !chunks || !job || chunks.length < 2) return { calls, run: serial };
    const local = chunks.map((chunk) => callsFunction(exports, chunk));
    return { calls, run: () => pool.run(job, local) };
  }

  /** Maps a tensor name to its pointer in the arena under a memory plan. */
  private pointers(plan: MemoryPlan): (tensor: string) => number {
    const base = this.arenaMark;
    return (tensor) => {
      const offset = plan.offsets.get(tensor);
      if (offset === undefined) throw new Error(`Internal error: tensor ${tensor} has no place in the memory plan.`);
      return base + offset;
    };
  }

  private grid(grid: QuantGrid | undefined): QuantGrid | null {
    return this.options.quantizationGrid && grid ? grid : null;
  }

  /** True when the model runs as an emulated integer pipeline. */
  get integerPipeline(): boolean {
    return this.integer;
  }

  private requantization(multipliers: Float32Array, bounds: { low: number; high: number }): Requantization {
    const pointer = this.kernels.allocF32(multipliers.length);
    this.kernels.writeF32(pointer, multipliers);
    return { multipliers: pointer, perChannel: multipliers.length > 1, low: bounds.low, high: bounds.high };
  }

  /**
   * Folds BatchNorm, or in the integer pipeline lowers the layer to integer
   * weights, and returns what the kernels take.
   */
  private prepareWeights(
    layer: PointwiseLayer | ConvLayer | DepthwiseLayer,
    name: string,
    outChannels: number,
  ): PreparedWeights {
    if (this.lowered) {
      const lowered = this.lowered.get(layer);
      if (!lowered) throw new Error(`Internal error: ${name} cannot run in the integer pipeline.`);
      return {
        weight: lowered.weight,
        weightScale: null,
        bias: lowered.bias,
        activation: ACTIVATION_CODES.linear,
        requantization: this.requantization(lowered.multipliers, lowered),
      };
    }
    const { weightScale, bias } = foldLayer(layer, name, outChannels);
    return { weight: layer.weight, weightScale, bias, activation: ACTIVATION_CODES[layer.activation], requantization: null };
  }

  /**
   * Multiplies output channel c of the weight at pointer ([..., outChannels], count
   * floats) by scale[c] in wasm memory: BatchNorm folding with no weight copy in
   * JavaScript. Each product of two floats rounds once, as in scaleOutputChannels.
   */
  private scaleOutputChannels(pointer: number, count: number, outChannels: number, scale: Float32Array | null): void {
    if (!scale) return;
    const kernels = this.kernels;
    const mark = kernels.mark();
    const scalePointer = kernels.allocF32(outChannels);
    kernels.writeF32(scalePointer, scale);
    kernels.exports.scale_channels_f32(pointer, count / outChannels, outChannels, scalePointer, pointer);
    kernels.release(mark);
  }

  private packPointwise(layer: PointwiseLayer, name: string): PackedPointwise {
    const { weight, weightScale, bias, activation, requantization } = this.prepareWeights(layer, name, layer.outChannels);
    const kernels = this.kernels;
    const exports = kernels.exports;
    const packedFloats = exports.gemm_packed_size(layer.inChannels, layer.outChannels);
    const packed = kernels.allocF32(packedFloats);
    const biasPointer = kernels.allocF32(layer.outChannels);
    kernels.writeF32(biasPointer, bias);
    // The row-major source only needs to live while it is packed, so it is released right after.
    const mark = kernels.mark();
    const source = kernels.allocF32(weight.length);
    kernels.writeF32(source, weight);
    this.scaleOutputChannels(source, weight.length, layer.outChannels, weightScale);
    exports.gemm_pack_f32(source, layer.inChannels, layer.outChannels, packed);
    kernels.release(mark);
    return {
      name,
      inChannels: layer.inChannels,
      outChannels: layer.outChannels,
      activation,
      packed,
      bias: biasPointer,
      grid: this.grid(layer.outputGrid),
      requantization,
    };
  }

  private packConv(
    layer: ConvLayer | DepthwiseLayer,
    name: string,
    inChannels: number,
    outChannels: number,
  ): PackedConv {
    const { weight, weightScale, bias, activation, requantization } = this.prepareWeights(layer, name, outChannels);
    const weightPointer = this.kernels.allocF32(weight.length);
    this.kernels.writeF32(weightPointer, weight);
    this.scaleOutputChannels(weightPointer, weight.length, outChannels, weightScale);
    const biasPointer = this.kernels.allocF32(outChannels);
    this.kernels.writeF32(biasPointer, bias);
    return {
      name,
      kernel: layer.kernel,
      stride: layer.stride,
      padding: layer.padding,
      inChannels,
      outChannels,
      activation,
      weight: weightPointer,
      bias: biasPointer,
      grid: this.grid(layer.outputGrid),
      requantization,
      repeats: 'depthMultiplier' in layer ? (layer.depthMultiplier ?? 1) : 1,
    };
  }

  private prepare(height: number, width: number, batch: number): PreparedRun {
    const cached = this.prepared;
    if (cached && cached.height === height && cached.width === width && cached.batch === batch) return cached;
    const { graph } = this;
    if (graph.inputHeight !== null && graph.inputHeight !== height) {
      throw new Error(`Invalid input height: this model takes ${graph.inputHeight} pixels, but got ${height}. Resize the image first.`);
    }
    if (graph.inputWidth !== null && graph.inputWidth !== width) {
      throw new Error(`Invalid input width: this model takes ${graph.inputWidth} pixels, but got ${width}. Resize the image first.`);
    }
    if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
      throw new Error(`Invalid input size: height and width must be positive integers, but got ${height}x${width}.`);
    }
    if (!Number.isInteger(batch) || batch < 1) {
      throw new Error(`Invalid batch size: expected a positive integer, but got ${batch}.`);
    }

    const definitions = this.defineSteps(height, width, batch);
    const plan = planSteps(definitions);

    // One arena serves every input size: it is grown (re-reserved at the same mark) when a larger size arrives.
    if (plan.totalBytes > this.arenaCapacity) {
      this.kernels.release(this.arenaMark);
      this.kernels.alloc(plan.totalBytes);
      this.arenaCapacity = plan.totalBytes;
    }
    const pointer = this.pointers(plan);
    this.prepared = {
      height,
      width,
      batch,
      steps: definitions.steps.map((step) => this.bindStep(step.bind(pointer))),
      inputPointer: pointer(definitions.input),
      outputPointer: pointer(definitions.output),
      outputCount: definitions.outputShape.reduce((a, b) => a * b, 1),
      outputShape: definitions.outputShape,
      arenaBytes: plan.totalBytes,
    };
    return this.prepared;
  }

  /**
   * Lists the steps of a run on batch images of height x width, and the float
   * count of every tensor. Tensors hold the whole batch, image after image.
   * Layers whose weights are the same for every pixel and image (1x1
   * convolutions without a per-image gate, dense layers) run as one GEMM over
   * all rows of the batch. The other layers take one call per image.
   */
  private defineSteps(height: number, width: number, batch: number) {
    const steps: StepDefinition[] = [];
    const floats = new Map<string, number>();
    const declare = (tensor: string, count: number) => floats.set(tensor, count * batch);
    /** One call per image: image i's pointers are each tensor's base plus i times its per-image bytes. */
    const perImage = (make: (image: number) => KernelCall): KernelCall[] => Array.from({ length: batch }, (_, i) => make(i));
    const gridStep = (tensor: string, count: number, grid: QuantGrid | null) => {
      if (!grid) return;
      steps.push({
        reads: [tensor],
        writes: [tensor],
        bind: (p) => [kernelCall('quantize_grid_f32', p(tensor), count * batch, grid.scale, grid.zeroPoint, grid.qmin, grid.qmax)],
      });
    };
    const requantizeStep = (tensor: string, pixels: number, channels: number, requantization: Requantization) => {
      steps.push({
        reads: [tensor],
        writes: [tensor],
        bind: (p) => {
          const { multipliers, low, high } = requantization;
          const perChannel = requantization.perChannel ? 1 : 0;
          return [kernelCall('requantize_f32', p(tensor), pixels * batch, channels, multipliers, perChannel, low, high)];
        },
      });
    };
    const layerOutputStep = (
      layer: { grid: QuantGrid | null; requantization: Requantization | null; outChannels: number },
      tensor: string,
      pixels: number,
    ) => {
      if (layer.requantization) requantizeStep(tensor, pixels, layer.outChannels, layer.requantization);
      else gridStep(tensor, pixels * layer.outChannels, layer.grid);
    };
    /** A GEMM over rows rows per image; with a per-image inputScale (the squeeze-excite gate), one call per image. */
    const gemmStep = (
      layer: PackedPointwise, input: string, rows: number, output: string,
      extra: { residual?: string; inputScale?: string } = {},
    ) => {
      declare(output, rows * layer.outChannels);
      const reads = [input, ...(extra.residual ? [extra.residual] : []), ...(extra.inputScale ? [extra.inputScale] : [])];
      const k = layer.inChannels;
      const n = layer.outChannels;
      steps.push({
        reads,
        writes: [output],
        bind: (p) => {
          const a = p(input);
          const out = p(output);
          const residual = extra.residual ? p(extra.residual) : 0;
          if (!extra.inputScale) {
            return [kernelCall('gemm_f32', a, rows * batch, k, layer.packed, n, layer.bias, out, layer.activation, residual, 0)];
          }
          const scale = p(extra.inputScale);
          return perImage((i) => kernelCall(
            'gemm_f32', a + 4 * i * rows * k, rows, k, layer.packed, n, layer.bias, out + 4 * i * rows * n, layer.activation,
            residual ? residual + 4 * i * rows * n : 0, scale + 4 * i * k,
          ));
        },
      });
      layerOutputStep(layer, output, rows);
    };
    const convStep = (layer: PackedConv, depthwise: boolean, input: string, inH: number, inW: number, output: string) => {
      const rows = resolveAxis(inH, layer.kernel, layer.stride, layer.padding, 'height');
      const cols = resolveAxis(inW, layer.kernel, layer.stride, layer.padding, 'width');
      const outPixels = rows.outSize * cols.outSize;
      declare(output, outPixels * layer.outChannels);
      const inBytes = 4 * inH * inW * layer.inChannels;
      const outBytes = 4 * outPixels * layer.outChannels;
      steps.push({
        reads: [input],
        writes: [output],
        bind: (p) => {
          const src = p(input);
          const dst = p(output);
          if (depthwise) {
            return perImage((i) => kernelCall(
              'dwconv2d_f32', src + i * inBytes, inH, inW, layer.inChannels, layer.weight, layer.bias, dst + i * outBytes,
              rows.outSize, cols.outSize, layer.kernel, layer.stride, rows.padBefore, cols.padBefore, layer.activation,
            ));
          }
          return perImage((i) => kernelCall(
            'conv2d_f32', src + i * inBytes, inH, inW, layer.inChannels, layer.weight, layer.bias, dst + i * outBytes,
            rows.outSize, cols.outSize, layer.outChannels, layer.kernel, layer.stride, rows.padBefore, cols.padBefore,
            layer.activation,
          ));
        },
      });
      layerOutputStep(layer, output, outPixels);
      return { height: rows.outSize, width: cols.outSize };
    };
    /** Adds a global pool step: a [pixels, channels] tensor per image into [channels]. */
    const poolStep = (source: string, pixels: number, channels: number, output: string, kernel: 'global_avg_pool_f32' | 'global_max_pool_f32') => {
      declare(output, channels);
      steps.push({
        reads: [source],
        writes: [output],
        bind: (p) => {
          const src = p(source);
          const dst = p(output);
          return perImage((i) => kernelCall(kernel, src + 4 * i * pixels * channels, pixels, channels, dst + 4 * i * channels));
        },
      });
    };

    const graph = this.graph;
    let h = height;
    let w = width;
    let channels = graph.inputChannels;
    declare('input', h * w * channels);
    if (this.inputRequantization) requantizeStep('input', h * w, channels, this.inputRequantization);
    else gridStep('input', h * w * channels, this.grid(graph.inputGrid));

    let size = convStep(this.stem, false, 'input', h, w, 'stem');
    let current = 'stem';
    h = size.height;
    w = size.width;
    channels = this.stem.outChannels;

    this.blocks.forEach((block, index) => {
      const name = `block${index}`;
      let x = current;
      if (block.expand) {
        gemmStep(block.expand, current, h * w, `${name}.expand`);
        x = `${name}.expand`;
      }
      if (block.depthwise.repeats > 1) {
        const source = x;
        const pixels = h * w;
        const sourceChannels = block.depthwise.inChannels / block.depthwise.repeats;
        const repeats = block.depthwise.repeats;
        declare(`${name}.repeat`, pixels * block.depthwise.inChannels);
        steps.push({
          reads: [source],
          writes: [`${name}.repeat`],
          bind: (p) => [kernelCall('repeat_channels_f32', p(source), pixels * batch, sourceChannels, repeats, p(`${name}.repeat`))],
        });
        x = `${name}.repeat`;
      }
      size = convStep(block.depthwise, true, x, h, w, `${name}.depthwise`);
      const mid = block.depthwise.outChannels;
      const pixels = size.height * size.width;
      let gate: string | undefined;
      if (block.se) {
        const se = block.se;
        poolStep(`${name}.depthwise`, pixels, mid, `${name}.se.pool`, 'global_avg_pool_f32');
        gemmStep(se.reduce, `${name}.se.pool`, 1, `${name}.se.hidden`);
        gemmStep(se.expand, `${name}.se.hidden`, 1, `${name}.se.gate`);
        gate = `${name}.se.gate`;
      }
      const fuseResidual = block.residual && !block.project.grid && !block.residualGrid && !block.residualRequantization;
      gemmStep(block.project, `${name}.depthwise`, pixels, `${name}.project`, {
        residual: fuseResidual ? current : undefined,
        inputScale: gate,
      });
      let output = `${name}.project`;
      if (block.residual && !fuseResidual) {
        const blockInput = current;
        const count = pixels * block.project.outChannels;
        declare(`${name}.sum`, count);
        steps.push({
          reads: [`${name}.project`, blockInput],
          writes: [`${name}.sum`],
          bind: (p) => {
            const a = p(`${name}.project`);
            const b = p(blockInput);
            const out = p(`${name}.sum`);
            const integer = block.residualRequantization;
            if (integer) {
              return [kernelCall(
                'add_requantize_f32', a, integer.projectScale, b, integer.inputScale, out, count * batch, integer.low, integer.high,
              )];
            }
            return [kernelCall('add_f32', a, b, out, count * batch)];
          },
        });
        if (!block.residualRequantization) gridStep(`${name}.sum`, count, block.residualGrid);
        output = `${name}.sum`;
      }
      current = output;
      h = size.height;
      w = size.width;
      channels = block.project.outChannels;
    });

    if (this.head) {
      gemmStep(this.head, current, h * w, 'head');
      current = 'head';
      channels = this.head.outChannels;
    }
    let outputShape = [h, w, channels];

    if (graph.pool) {
      poolStep(current, h * w, channels, 'pool', graph.pool.type === 'avg' ? 'global_avg_pool_f32' : 'global_max_pool_f32');
      if (this.poolRequantization) requantizeStep('pool', 1, channels, this.poolRequantization);
      else gridStep('pool', channels, this.grid(graph.pool.outputGrid));
      current = 'pool';
      outputShape = [channels];
    }

    this.hidden.forEach((layer, index) => {
      gemmStep(layer, current, 1, `dense${index}`);
      current = `dense${index}`;
      outputShape = [layer.outChannels];
    });

    if (this.classifier && graph.classifier) {
      const classifier = graph.classifier;
      gemmStep(this.classifier, current, 1, 'logits');
      if (!this.integer) gridStep('logits', this.classifier.outChannels, this.grid(classifier.logitsGrid));
      current = 'logits';
      outputShape = [this.classifier.outChannels];
    }

    if (this.integer) {
      // The integer pipeline ends here: scale q - zeroPoint back to real values.
      const tensor = current;
      const count = outputShape.reduce((a, b) => a * b, 1);
      const scale = this.outputScalePointer;
      steps.push({
        reads: [tensor],
        writes: [tensor],
        bind: (p) => [kernelCall('scale_channels_f32', p(tensor), count * batch, 1, scale, p(tensor))],
      });
    }

    if (this.classifier && graph.classifier) {
      const classifier = graph.classifier;
      if (classifier.output === 'softmax') {
        const classes = this.classifier.outChannels;
        steps.push({
          reads: ['logits'],
          writes: ['logits'],
          bind: (p) => {
            const data = p('logits');
            return perImage((i) => kernelCall('softmax_f32', data + 4 * i * classes, classes));
          },
        });
        gridStep('logits', classes, this.grid(this.options.outputGrid));
      }
    }
    return { steps, floats, input: 'input', output: current, outputShape };
  }
}

/**
 * Folds a layer's BatchNorm: returns the per-output-channel scale that the
 * weight takes (null without BatchNorm) and the folded bias.
 */
function foldLayer(
  layer: { weight: Float32Array; bias: Float32Array | null; batchNorm?: BatchNorm },
  name: string,
  outChannels: number,
): { weightScale: Float32Array | null; bias: Float32Array } {
  if (layer.weight.length % outChannels !== 0) {
    throw new Error(
      `Invalid weight in ${name}: ${layer.weight.length} values do not divide into ${outChannels} output channels.`,
    );
  }
  if (!layer.batchNorm) {
    return { weightScale: null, bias: layer.bias ?? new Float32Array(outChannels) };
  }
  const folded = foldBatchNorm(layer.batchNorm, layer.bias, name);
  if (folded.scale.length !== outChannels) {
    throw new Error(
      `Invalid BatchNorm in ${name}: expected ${outChannels} channels to match the layer, but got ${folded.scale.length}.`,
    );
  }
  return { weightScale: folded.scale, bias: folded.bias };
}

/** Floating-point operations of a convolution or GEMM call (a multiply and an add per tap), 0 for other kernels. */
function kernelFlops(call: KernelCall): number {
  switch (kernelName(call)) {
    case 'gemm_f32':
    case 'gemm_panels_f32':
    case 'dwconv2d_f32':
    case 'conv2d_f32':
      return 2 * callWork(call);
    default:
      return 0;
  }
}

/** A function that makes a list of kernel calls in order. */
function callsFunction(exports: KernelExports, calls: KernelCall[]): () => void {
  const bound = calls.map((call) => {
    const kernel = exports[KERNEL_CALL_NAMES[call.kernel]] as (...args: number[]) => void;
    const args = call.args;
    return () => kernel(...args);
  });
  if (bound.length === 1) return bound[0];
  return () => {
    for (const call of bound) call();
  };
}

/** Plans the arena of a set of step definitions. */
function planSteps(definitions: { steps: StepDefinition[]; floats: Map<string, number>; input: string; output: string }): MemoryPlan {
  return planMemory(collectLifetimes(definitions.steps, definitions.floats, definitions.input, definitions.output));
}

/** Derives each tensor's lifetime from the steps that write and read it. */
function collectLifetimes(
  steps: StepDefinition[],
  floats: Map<string, number>,
  input: string,
  output: string,
): TensorLifetime[] {
  const first = new Map<string, number>([[input, 0]]);
  const last = new Map<string, number>([[input, 0]]);
  steps.forEach((step, index) => {
    for (const tensor of [...step.writes, ...step.reads]) {
      if (!first.has(tensor)) first.set(tensor, index);
      last.set(tensor, Math.max(last.get(tensor) ?? index, index));
    }
  });
  last.set(output, steps.length);
  return [...first.keys()].map((name) => ({
    name,
    bytes: 4 * floats.get(name)!,
    firstStep: first.get(name)!,
    lastStep: last.get(name)!,
  }));
}

/** Checks that channel counts chain from layer to layer and that every weight has its declared size. */
function validateGraph(graph: Graph): void {
  const fail = (layer: string, what: string, expected: number | string, actual: number | string) => {
    throw new Error(
      `Invalid model graph at ${layer}: ${what} must be ${expected}, but got ${actual}. ` +
        'The model file is inconsistent or was mapped wrongly; re-export it or report the file.',
    );
  };
  const checkWeight = (layer: string, weight: Float32Array, expected: number, bias: Float32Array | null, outChannels: number) => {
    if (weight.length !== expected) fail(layer, 'the weight size', expected, weight.length);
    if (bias && bias.length !== outChannels) fail(layer, 'the bias size', outChannels, bias.length);
  };
  const checkPointwise = (name: string, layer: PointwiseLayer, inChannels: number) => {
    if (layer.inChannels !== inChannels) fail(name, 'the input channel count', inChannels, layer.inChannels);
    checkWeight(name, layer.weight, layer.inChannels * layer.outChannels, layer.bias, layer.outChannels);
  };
  const checkKernel = (name: string, kernel: number, stride: number) => {
    if (!Number.isInteger(kernel) || kernel < 1) fail(name, 'the kernel size', 'a positive integer', kernel);
    if (!Number.isInteger(stride) || stride < 1) fail(name, 'the stride', 'a positive integer', stride);
  };

  const stem = graph.stem;
  checkKernel('stem', stem.kernel, stem.stride);
  if (stem.inChannels !== graph.inputChannels) fail('stem', 'the input channel count', graph.inputChannels, stem.inChannels);
  checkWeight('stem', stem.weight, stem.kernel * stem.kernel * stem.inChannels * stem.outChannels, stem.bias, stem.outChannels);

  let channels = stem.outChannels;
  graph.blocks.forEach((block, index) => {
    const name = `block ${index}`;
    if (block.inChannels !== channels) fail(name, 'the input channel count', channels, block.inChannels);
    let mid = block.inChannels;
    if (block.expand) {
      checkPointwise(`${name} expand`, block.expand, mid);
      mid = block.expand.outChannels;
    }
    const dw = block.depthwise;
    checkKernel(`${name} depthwise`, dw.kernel, dw.stride);
    if (dw.channels !== mid) fail(`${name} depthwise`, 'the channel count', mid, dw.channels);
    const multiplier = dw.depthMultiplier ?? 1;
    if (!Number.isInteger(multiplier) || multiplier < 1) fail(`${name} depthwise`, 'the depth multiplier', 'a positive integer', multiplier);
    mid = dw.channels * multiplier;
    checkWeight(`${name} depthwise`, dw.weight, dw.kernel * dw.kernel * mid, dw.bias, mid);
    if (block.se) {
      checkPointwise(`${name} squeeze-excite reduce`, block.se.reduce, mid);
      checkPointwise(`${name} squeeze-excite expand`, block.se.expand, block.se.reduce.outChannels);
      if (block.se.expand.outChannels !== mid) {
        fail(`${name} squeeze-excite expand`, 'the output channel count', mid, block.se.expand.outChannels);
      }
    }
    checkPointwise(`${name} project`, block.project, mid);
    if (block.project.outChannels !== block.outChannels) {
      fail(`${name} project`, 'the output channel count', block.outChannels, block.project.outChannels);
    }
    if (block.residual && (dw.stride !== 1 || block.inChannels !== block.outChannels)) {
      fail(name, 'a residual block\'s stride and channels', 'stride 1 with equal input and output channels',
        `stride ${dw.stride}, ${block.inChannels} -> ${block.outChannels} channels`);
    }
    channels = block.outChannels;
  });
  if (graph.head) {
    checkPointwise('head', graph.head, channels);
    channels = graph.head.outChannels;
  }
  const hidden = graph.hidden ?? [];
  if (hidden.length > 0 && !graph.pool) fail('dense 0', 'the layer before the dense layers', 'a global pool', 'none');
  hidden.forEach((layer, index) => {
    checkPointwise(`dense ${index}`, layer, channels);
    channels = layer.outChannels;
  });
  if (graph.classifier) {
    if (!graph.pool) fail('classifier', 'the layer before the classifier', 'a global pool', 'none');
    checkPointwise('classifier', graph.classifier, channels);
  }
}
