/**
 * Topology flattening: both inbound node forms, nested model node numbering,
 * and the structural errors; plus layer kinds that the parity models lack.
 */
import { describe, expect, it } from 'vitest';

import { importTfjsFiles } from '../../src/formats/tfjs/index.js';
import { flattenTopology } from '../../src/formats/tfjs/topology.js';
import { allWeights, encodeWeights, keras2Model, keras3Model, LayerFactory, modelJson, type TestLayer } from '../support/tfjs-import-builder.js';

function chain(): TestLayer[] {
  const f = new LayerFactory(1);
  return [f.input('in', [null, 4, 4, 3]), f.conv('c', 3, 2, 3), f.activation('a', 'relu')];
}

describe('tfjs topology', () => {
  it('Keras 2 and Keras 3 forms flatten alike', () => {
    const keras2 = flattenTopology(keras2Model('m', chain()), 'm.json');
    const keras3 = flattenTopology({ model_config: keras3Model('m', chain()) }, 'm.json');
    expect(keras2.form).toBe('keras2');
    expect(keras3.form).toBe('keras3');
    expect(keras3.calls.map((call) => [call.layer.name, call.inputs, call.output])).toEqual(
      keras2.calls.map((call) => [call.layer.name, call.inputs, call.output]),
    );
    expect(keras3.input.shape).toEqual([null, 4, 4, 3]);
  });

  it('nested model node 0 and node 1', () => {
    const outer = (node: number) => ({
      class_name: 'Functional',
      config: {
        name: 'outer',
        layers: [
          { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_input_shape: [null, 4, 4, 3] }, inbound_nodes: [] },
          { ...keras2Model('inner', chain()), name: 'inner', inbound_nodes: [[['x', 0, 0, {}]]] },
          { class_name: 'Activation', name: 'out', config: { activation: 'linear' }, inbound_nodes: [[['inner', node, 0, {}]]] },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['out', 0, 0]],
      },
    });
    // tfjs-layers numbers the nested call 0; Keras counts the nested model's own node first and writes 1.
    for (const node of [0, 1]) {
      const flat = flattenTopology(outer(node), 'm.json');
      expect(flat.calls.map((call) => `${call.layer.scope.join('/')}:${call.layer.name}`), `node ${node}`).toEqual(['inner:c', 'inner:a', ':out']);
      expect(flat.calls[0].inputs, `node ${node}`).toEqual([flat.input.tensor]);
      expect(flat.calls[2].inputs, `node ${node}`).toEqual([flat.calls[1].output]);
    }
  });

  it('reference to an unknown layer', () => {
    const topology = keras2Model('m', chain());
    ((topology.config as { layers: Array<{ inbound_nodes: unknown }> }).layers[2]).inbound_nodes = [[['ghost', 0, 0, {}]]];
    expect(() => flattenTopology(topology, 'm.json')).toThrow(
      /inbound_nodes and output_layers of model 'm' must be names of layers of the same model, but got "ghost"/,
    );
  });

  it('graph model topology', () => {
    expect(() => flattenTopology({ node: [], library: {} }, 'm.json')).toThrow(/class_name must be Functional, Model or Sequential/);
  });
});

describe('tfjs layer kinds', () => {
  async function load(layers: TestLayer[]) {
    const { manifest, files } = encodeWeights(allWeights(layers));
    return importTfjsFiles({ modelJson: modelJson(keras2Model('kinds', layers), manifest), weights: files });
  }

  it('Dense squeeze-excite, keepdims pool, hard_swish and sigmoid output', async () => {
    const f = new LayerFactory(4);
    const layers: TestLayer[] = [
      f.input('in', [null, 6, 6, 3]),
      { ...f.conv('stem', 3, 4, 3, { bias: true, activation: 'hard_swish' }) },
      f.depthwise('dw', 4, 3),
      f.activation('dw_act', 'relu6'),
      { className: 'GlobalAveragePooling2D', name: 'se_pool', config: { keepdims: false } },
      f.dense('se_reduce', 4, 2, 'relu'),
      f.dense('se_expand', 2, 4, 'sigmoid'),
      { className: 'Reshape', name: 'se_shape', config: { target_shape: [1, 1, 4] } },
      { className: 'Multiply', name: 'se_mul', config: {}, inputs: ['dw_act', 'se_shape'] },
      f.conv('project', 4, 4, 1),
      f.conv('head', 4, 8, 1, { activation: 'hardswish' }),
      { className: 'GlobalAveragePooling2D', name: 'pool', config: { keepdims: true } },
      f.dense('out', 8, 1, 'sigmoid'),
    ];
    layers[2].inputs = ['stem'];
    const { graph } = await load(layers);
    expect(graph.stem.activation).toBe('hardswish');
    expect(graph.blocks[0].se?.reduce.activation).toBe('relu');
    expect(graph.blocks[0].se?.expand.activation).toBe('sigmoid');
    expect(graph.head?.activation).toBe('hardswish');
    expect(graph.classifier?.activation).toBe('sigmoid');
    expect(graph.classifier?.output).toBe('logits');
  });

  it('ReLU with max_value 3', async () => {
    const f = new LayerFactory(5);
    const layers: TestLayer[] = [f.input('in', [null, 6, 6, 3]), f.conv('stem', 3, 4, 3), { className: 'ReLU', name: 'relu3', config: { max_value: 3 } }];
    await expect(load(layers)).rejects.toThrow(/layer 'relu3' \(ReLU\) has max_value 3; only ReLU without max_value \(relu\) or with max_value 6 \(relu6\) is supported/);
  });

  it('channels_first convolution', async () => {
    const f = new LayerFactory(6);
    const conv = f.conv('stem', 3, 4, 3);
    conv.config!.data_format = 'channels_first';
    await expect(load([f.input('in', [null, 6, 6, 3]), conv])).rejects.toThrow(/layer 'stem' \(Conv2D\) has data_format "channels_first"; only channels_last/);
  });

  it('non-RGB input', async () => {
    const f = new LayerFactory(7);
    await expect(load([f.input('in', [null, 6, 6, 1]), f.conv('stem', 1, 4, 3)])).rejects.toThrow(
      /the input of layer 'in' \(InputLayer\) must be \[batch, height, width, 3\] \(RGB images\), but it is \[null,6,6,1\]/,
    );
  });
});
