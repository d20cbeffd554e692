// Ops on empty tensors (a zero-sized dimension) return empty (or bias-only) results and never read
// memory. Its own file, so it runs in a fresh process whose CPU scratch buffers were never grown.
import test from 'ava';
import { ops, Tensor } from '../../lib';
import { FLOAT_TYPES } from '../helpers/tensors';

for (const dtype of FLOAT_TYPES) {
  test(`empty ${dtype} tensors through every op`, async (t) => {
    const e = (shape: number[]) => Tensor.empty(shape, { dtype });
    t.deepEqual(ops.layerNormModulate(e([1, 2, 0]), e([1, 0]), e([1, 0])).shape, [1, 2, 0]);
    t.deepEqual(ops.layerNormModulate(e([2, 0, 5]), e([2, 5]), e([2, 5])).shape, [2, 0, 5]);
    t.deepEqual(ops.gatedResidual(e([1, 3, 0]), e([1, 0]), e([1, 3, 0])).shape, [1, 3, 0]);
    t.deepEqual(ops.linear(e([0, 7]), e([5, 7])).shape, [0, 5]);
    t.deepEqual(ops.linear(e([6, 7]), e([0, 7])).shape, [6, 0]);
    t.deepEqual(ops.attention(e([1, 2, 0, 8]), e([1, 2, 3, 8]), e([1, 2, 3, 8])).shape, [1, 2, 0, 8]);
    t.deepEqual(ops.gelu(e([0, 4])).shape, [0, 4]);
    t.deepEqual(ops.silu(e([3, 0])).shape, [3, 0]);
    t.deepEqual(ops.conv3d(e([0, 2, 3, 3, 3]), e([4, 2, 1, 1, 1])).shape, [0, 4, 3, 3, 3]);
    const out = ops.layerNormModulate(e([1, 2, 0]), e([1, 0]), e([1, 0]));
    t.deepEqual(Array.from(await out.toFloat32Array()), []);
  });
}
