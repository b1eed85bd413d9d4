import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  f16ToF32,
  f64ToBf16Bits,
  f64ToF16Bits,
  readSafetensorsHeader,
  readSafetensorsIndex,
  readTensorF64,
  writeSafetensors,
  type TensorEntry,
} from '../../lib/models/safetensors.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodellm-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes values to a one-tensor file and reads them back as float64. */
async function roundTrip(dtype: 'F32' | 'F16' | 'BF16', values: number[]): Promise<number[]> {
  const file = path.join(dir, `${dtype}.safetensors`);
  writeSafetensors(file, [{ name: 't', dtype, shape: [values.length], data: Float64Array.from(values) }]);
  const [entry] = await readSafetensorsHeader(file);
  return Array.from(readTensorF64(entry as TensorEntry));
}

/** A file with a hand-made header, for the error paths. */
function rawFile(name: string, header: string | object, dataBytes: number, declaredLength?: bigint): string {
  const file = path.join(dir, name);
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return file;
}

describe('float conversion', () => {
  it('rounds to F32 as Math.fround does', async () => {
    const values = [0, -0, 1, -1.5, 0.1, 1 / 3, 3.4028235677973366e38, 1e39, 1e-46, 2 ** -149, NaN, Infinity, -Infinity];
    const back = await roundTrip('F32', values);
    values.forEach((v, i) => expect(Object.is(back[i], Math.fround(v)), `value ${v}`).toBe(true));
  });

  it('rounds to F16 to nearest even, with subnormals, overflow and NaN', async () => {
    const cases: [number, number][] = [
      [0, 0],
      [-0, -0],
      [1, 1],
      [-2.5, -2.5],
      [1 + 2 ** -11, 1], // tie between 1 and 1+2^-10: even mantissa (1) wins
      [1 + 3 * 2 ** -11, 1 + 2 ** -9], // tie between odd and even: rounds up to even
      [1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -10], // just above the tie: up
      [65504, 65504], // largest finite
      [65519.99, 65504],
      [65520, Infinity], // the tie above the largest finite rounds to infinity
      [-1e6, -Infinity],
      [2 ** -14, 2 ** -14], // smallest normal
      [2 ** -24, 2 ** -24], // smallest subnormal
      [2 ** -25, 0], // tie between 0 and the smallest subnormal: to even (0)
      [3 * 2 ** -25, 2 ** -23], // tie between 1 and 2 units: to even (2)
      [2 ** -25 + 2 ** -50, 2 ** -24],
      [(2 ** -14) * (1 - 2 ** -12), 2 ** -14], // largest subnormal region rounds up into the normals
      [0.1, 0.0999755859375],
      [Infinity, Infinity],
      [-Infinity, -Infinity],
    ];
    const back = await roundTrip('F16', cases.map(([v]) => v));
    cases.forEach(([v, want], i) => expect(Object.is(back[i], want), `${v} → ${back[i]}, want ${want}`).toBe(true));
    expect(Number.isNaN((await roundTrip('F16', [NaN]))[0])).toBe(true);
    expect(f64ToF16Bits(NaN)).toBe(0x7e00);
  });

  it('rounds to BF16 from float64 directly (no double rounding through float32)', async () => {
    const maxBf16 = (2 - 2 ** -7) * 2 ** 127;
    const cases: [number, number][] = [
      [1, 1],
      [-0, -0],
      [1 + 2 ** -8, 1], // tie: to even
      [1 + 3 * 2 ** -8, 1 + 2 ** -6], // tie: to even (up)
      // Float32 would first round this to exactly the tie, and then to 1; the true nearest is up.
      [1 + 2 ** -8 + 2 ** -30, 1 + 2 ** -7],
      [maxBf16, maxBf16],
      [(2 - 2 ** -8) * 2 ** 127, Infinity], // tie above the largest finite
      [2 ** -126, 2 ** -126],
      [2 ** -133, 2 ** -133], // smallest subnormal
      [2 ** -134, 0], // tie with 0: to even
      [3 * 2 ** -134, 2 ** -132],
      [0.1, 0.10009765625],
      [-Infinity, -Infinity],
    ];
    const back = await roundTrip('BF16', cases.map(([v]) => v));
    cases.forEach(([v, want], i) => expect(Object.is(back[i], want), `${v} → ${back[i]}, want ${want}`).toBe(true));
    expect(Number.isNaN((await roundTrip('BF16', [NaN]))[0])).toBe(true);
    expect(f64ToBf16Bits(NaN)).toBe(0x7fc0);
  });

  it('decodes bits', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
  });

  it('picks the nearest BF16 (ties to even) for values across the whole range', () => {
    // Deterministic pseudo-random doubles of every magnitude BF16 can hold, plus exact ties.
    let s = 12345;
    const rand = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const values: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const x = (rand() + 1) * 2 ** Math.floor(rand() * 262 - 135) * (rand() < 0.5 ? -1 : 1); // up to 2^127
      values.push(x);
      const b = bf16ToF32(f64ToBf16Bits(x));
      values.push(b + (bf16ToF32(f64ToBf16Bits(x) + 1) - b) / 2); // the midpoint to the next value
    }
    for (const x of values) {
      const bits = f64ToBf16Bits(x);
      const v = bf16ToF32(bits);
      if (!Number.isFinite(v)) continue; // overflow is covered by the edge cases above
      for (const neighbour of [bits - 1, bits + 1]) {
        const n = bf16ToF32(neighbour & 0xffff);
        if (!Number.isFinite(n) || (neighbour & 0x7fff) === 0x7fff || Math.sign(n) !== Math.sign(v)) continue;
        const dv = Math.abs(x - v);
        const dn = Math.abs(x - n);
        expect(dv <= dn, `${x}: chose ${v}, ${n} is nearer`).toBe(true);
        if (dv === dn) expect(bits % 2, `${x}: tie must go to even`).toBe(0);
      }
    }
  });

  it('round-trips every finite F16 and a sweep of BF16 bit patterns exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = f16ToF32(bits);
      if (Number.isNaN(v)) continue;
      expect(f64ToF16Bits(v)).toBe(bits);
    }
    for (let bits = 0; bits < 0x10000; bits += 7) {
      const v = bf16ToF32(bits);
      if (Number.isNaN(v)) continue;
      expect(f64ToBf16Bits(v)).toBe(bits);
    }
  });
});

describe('writeSafetensors', () => {
  it('writes deterministic, aligned files that read back', async () => {
    const tensors = [
      { name: 'b', dtype: 'BF16' as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: 'a', dtype: 'F32' as const, shape: [1], data: Float64Array.from([0.5]) },
      { name: 'h', dtype: 'F16' as const, shape: [3], data: Float64Array.from([-1, 0.25, 8]) },
    ];
    const f1 = path.join(dir, 'one.safetensors');
    const f2 = path.join(dir, 'two.safetensors');
    writeSafetensors(f1, tensors, { format: 'pt' });
    writeSafetensors(f2, tensors, { format: 'pt' });
    const bytes = fs.readFileSync(f1);
    expect(bytes.equals(fs.readFileSync(f2))).toBe(true);

    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = bytes.subarray(8, 8 + n).toString();
    expect(header.startsWith('{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]}')).toBe(true);
    expect(header.trimEnd().endsWith('}')).toBe(true);
    expect(bytes.length).toBe(8 + n + 12 + 4 + 6);

    const entries = await readSafetensorsHeader(f1);
    expect(entries.map((e) => [e.name, e.dtype, e.shape, e.offset, e.nbytes])).toEqual([
      ['b', 'BF16', [2, 3], 8 + n, 12],
      ['a', 'F32', [1], 8 + n + 12, 4],
      ['h', 'F16', [3], 8 + n + 16, 6],
    ]);
    expect(Array.from(readTensorF64(entries[0] as TensorEntry))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(readTensorF64(entries[2] as TensorEntry))).toEqual([-1, 0.25, 8]);
  });

  it('refuses mismatched shapes and duplicate names', () => {
    const file = path.join(dir, 'x.safetensors');
    expect(() => writeSafetensors(file, [{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrow(/shape \[3\] has 3 elements, data has 2/);
    const t = { name: 'x', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    expect(() => writeSafetensors(file, [t, t])).toThrow(/duplicate tensor name "x"/);
  });
});

describe('readSafetensorsIndex', () => {
  it('reads a single model.safetensors', async () => {
    writeSafetensors(path.join(dir, 'model.safetensors'), [
      { name: 'w', dtype: 'F16', shape: [2, 2], data: Float64Array.from([1, 2, 3, 4]) },
    ]);
    const entries = await readSafetensorsIndex(dir);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.file).toBe(path.join(dir, 'model.safetensors'));
    expect(Array.from(readTensorF64(entries[0] as TensorEntry))).toEqual([1, 2, 3, 4]);
  });

  it('reads a sharded model through its index', async () => {
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [2], data: Float64Array.from([1, 2]) },
      { name: 'b', dtype: 'BF16', shape: [1], data: Float64Array.from([3]) },
    ]);
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [
      { name: 'c', dtype: 'F16', shape: [3], data: Float64Array.from([4, 5, 6]) },
    ]);
    const weightMap = { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));

    const entries = await readSafetensorsIndex(dir);
    expect(entries.map((e) => [e.name, path.basename(e.file)])).toEqual(Object.entries(weightMap));
    const values = entries.map((e) => Array.from(readTensorF64(e)));
    expect(values).toEqual([[1, 2], [3], [4, 5, 6]]);
  });

  it('reports duplicate tensors across shards', async () => {
    const t = [{ name: 'a', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) }];
    writeSafetensors(path.join(dir, 's1.safetensors'), t);
    writeSafetensors(path.join(dir, 's2.safetensors'), [...t, { ...t[0]!, name: 'b' }]);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's2.safetensors' } }));
    await expect(readSafetensorsIndex(dir)).rejects.toThrow(/tensor "a" appears in both .*s1\.safetensors and .*s2\.safetensors/);
  });

  it('reports an index that names a missing shard or a tensor its shard lacks', async () => {
    writeSafetensors(path.join(dir, 's1.safetensors'), [{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) }]);
    const index = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's9.safetensors' } }));
    await expect(readSafetensorsIndex(dir)).rejects.toThrow(/names shard s9\.safetensors, which is missing/);
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's1.safetensors' } }));
    await expect(readSafetensorsIndex(dir)).rejects.toThrow(/maps tensor "b" to s1\.safetensors, but no shard holds it/);
  });

  it('says where it looked when there are no weights', async () => {
    await expect(readSafetensorsIndex(dir)).rejects.toThrow(
      `no safetensors weights found in ${dir} (expected model.safetensors or model.safetensors.index.json)`,
    );
  });
});

describe('bad headers', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('rejects a header length larger than the file', async () => {
    const file = rawFile('big.safetensors', ok, 8, 10n ** 12n);
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/big\.safetensors: header length 1000000000000 is larger than the file/);
  });

  it('rejects a file too short to hold a header', async () => {
    const file = path.join(dir, 'short.safetensors');
    fs.writeFileSync(file, Buffer.alloc(3));
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/short\.safetensors: not a safetensors file/);
  });

  it('rejects a header that is not JSON', async () => {
    const file = rawFile('json.safetensors', '{"w": {', 0);
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/json\.safetensors: header is not valid JSON/);
  });

  it('rejects data past the end of the file, naming the tensor', async () => {
    const file = rawFile('trunc.safetensors', ok, 4);
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/trunc\.safetensors: tensor "w": data \[0, 8\) runs past the end of the file/);
  });

  it('rejects a byte count that does not match shape and dtype', async () => {
    const file = rawFile('size.safetensors', { w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 8] } }, 8);
    await expect(readSafetensorsHeader(file)).rejects.toThrow(/size\.safetensors: tensor "w": 8 bytes of data, but shape \[2, 3\] of BF16 needs 12/);
  });

  it('rejects unknown dtypes and malformed entries', async () => {
    const dtype = rawFile('dtype.safetensors', { w: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16);
    await expect(readSafetensorsHeader(dtype)).rejects.toThrow(/tensor "w": unknown dtype "F128"/);
    const offsets = rawFile('offsets.safetensors', { w: { dtype: 'F32', shape: [1], data_offsets: [4] } }, 8);
    await expect(readSafetensorsHeader(offsets)).rejects.toThrow(/tensor "w": data_offsets must be \[begin, end\]/);
    const shape = rawFile('shape.safetensors', { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 8);
    await expect(readSafetensorsHeader(shape)).rejects.toThrow(/tensor "w": shape must be a list of non-negative integers/);
  });

  it('skips __metadata__', async () => {
    const file = rawFile('meta.safetensors', { __metadata__: { format: 'pt' }, ...ok }, 8);
    expect((await readSafetensorsHeader(file)).map((e) => e.name)).toEqual(['w']);
  });
});
