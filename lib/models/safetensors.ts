// Safetensors headers and small-scale reading/writing in TypeScript.
//
// The engine memory-maps weights in C++; this file exists for the TypeScript side: locating and
// validating tensors before the native load (so errors name the file and tensor), writing the
// embedded random model, and reading weights as float64 for the reference forward pass in tests.
//
// Format (https://github.com/huggingface/safetensors): 8-byte little-endian header length N,
// N bytes of JSON { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} },
// then the data; offsets are relative to the first byte after the header.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TensorEntry {
  name: string;
  /** safetensors dtype string, e.g. 'BF16' */
  dtype: string;
  shape: number[];
  /** absolute path of the file holding the data */
  file: string;
  /** absolute byte offset of the data in the file */
  offset: number;
  nbytes: number;
}

/** Bytes per element of every dtype the format defines that we can size. */
const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};

/** The Rust reference implementation refuses headers above 100 MB; a larger value means a corrupt file. */
const MAX_HEADER_BYTES = 100_000_000;

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

export async function readSafetensorsIndex(modelDir: string): Promise<TensorEntry[]> {
  const dir = path.resolve(modelDir);
  const indexPath = path.join(dir, INDEX_FILE);
  const singlePath = path.join(dir, SINGLE_FILE);

  if (fs.existsSync(indexPath)) return readSharded(dir, indexPath);
  if (fs.existsSync(singlePath)) return readSafetensorsHeader(singlePath);
  throw new Error(
    `no safetensors weights found in ${dir} (expected ${SINGLE_FILE} or ${INDEX_FILE})`,
  );
}

async function readSharded(dir: string, indexPath: string): Promise<TensorEntry[]> {
  let index: unknown;
  try {
    index = JSON.parse(await fs.promises.readFile(indexPath, 'utf8'));
  } catch (err) {
    throw new Error(`cannot parse ${indexPath}: ${(err as Error).message}`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`${indexPath} has no "weight_map" object`);
  }

  // Shards in order of first appearance, so the result order is stable.
  const shards: string[] = [];
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string') {
      throw new Error(`${indexPath}: weight_map["${name}"] is not a file name`);
    }
    if (!shards.includes(file)) shards.push(file);
  }
  if (shards.length === 0) throw new Error(`${indexPath} has an empty weight_map`);

  const entries: TensorEntry[] = [];
  const seenIn = new Map<string, string>();
  for (const shard of shards) {
    const shardPath = path.resolve(dir, shard);
    if (!fs.existsSync(shardPath)) {
      throw new Error(`${indexPath} names shard ${shard}, which is missing from ${dir}`);
    }
    for (const entry of await readSafetensorsHeader(shardPath)) {
      const other = seenIn.get(entry.name);
      if (other !== undefined) {
        throw new Error(`tensor "${entry.name}" appears in both ${other} and ${shardPath}`);
      }
      seenIn.set(entry.name, shardPath);
      entries.push(entry);
    }
  }
  // The index is what loaders trust; a name it promises must be where it says.
  for (const [name, file] of Object.entries(weightMap as Record<string, string>)) {
    const found = seenIn.get(name);
    if (found !== path.resolve(dir, file)) {
      throw new Error(
        `${indexPath} maps tensor "${name}" to ${file}, but ` +
          (found === undefined ? 'no shard holds it' : `it is in ${found}`),
      );
    }
  }
  return entries;
}

/** Reads and validates one file's header; the data is not read. */
export async function readSafetensorsHeader(filePath: string): Promise<TensorEntry[]> {
  const file = path.resolve(filePath);
  const handle = await fs.promises.open(file, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    if (fileSize < 8) throw new Error(`${file}: not a safetensors file (${fileSize} bytes)`);

    const lenBuf = Buffer.alloc(8);
    await handle.read(lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
      throw new Error(
        `${file}: header length ${headerLen} is larger than the file (${fileSize} bytes) ` +
          `or the 100 MB limit; the file is truncated or not safetensors`,
      );
    }
    const n = Number(headerLen);
    const headerBuf = Buffer.alloc(n);
    await handle.read(headerBuf, 0, n, 8);

    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (err) {
      throw new Error(`${file}: header is not valid JSON (${(err as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw new Error(`${file}: header is not a JSON object`);
    }
    return parseHeader(file, header as Record<string, unknown>, 8 + n, fileSize);
  } finally {
    await handle.close();
  }
}

function parseHeader(
  file: string,
  header: Record<string, unknown>,
  dataStart: number,
  fileSize: number,
): TensorEntry[] {
  const entries: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const where = `${file}: tensor "${name}"`;
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof info !== 'object' || info === null) throw new Error(`${where}: entry is not an object`);

    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string') throw new Error(`${where}: missing dtype`);
    const size = DTYPE_SIZES[dtype];
    if (size === undefined) throw new Error(`${where}: unknown dtype "${dtype}"`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${where}: shape must be a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      throw new Error(`${where}: data_offsets must be [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new Error(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (dataStart + end > fileSize) {
      throw new Error(
        `${where}: data [${begin}, ${end}) runs past the end of the file ` +
          `(${fileSize - dataStart} data bytes); the file is truncated`,
      );
    }
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== elements * size) {
      throw new Error(
        `${where}: ${end - begin} bytes of data, but shape [${shape.join(', ')}] of ${dtype} ` +
          `needs ${elements * size}`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], file, offset: dataStart + begin, nbytes: end - begin });
  }
  // File order is the natural order for sequential reads.
  entries.sort((a, b) => a.offset - b.offset || (a.name < b.name ? -1 : 1));
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Float conversion. Rounding is done from the float64 value straight to the target format:
// going through float32 first would round twice and can land on the wrong side of a tie.

/** Rounds to the nearest integer, ties to even; exact for any float64. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f; // exact: f and x share the exponent range that matters
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const scratch = new DataView(new ArrayBuffer(8));

/** Unbiased binary exponent of a finite non-zero float64, read from its bits (no log). */
function exponentOf(x: number): number {
  scratch.setFloat64(0, x);
  const biased = (scratch.getUint16(0) >> 4) & 0x7ff;
  // A float64 subnormal is far below every target's range; callers clamp to their minimum.
  return biased === 0 ? -1023 : biased - 1023;
}

/**
 * Encodes x into an IEEE-style binary format with `expBits` exponent bits and `mantBits`
 * mantissa bits (F16: 5/10, BF16: 8/7), rounding to nearest even, overflowing to infinity, with
 * subnormals. NaN becomes the canonical quiet NaN.
 */
function encodeFloat(x: number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const expMask = (1 << expBits) - 1;
  const signBit = 1 << (expBits + mantBits);
  if (Number.isNaN(x)) return (expMask << mantBits) | (1 << (mantBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | (expMask << mantBits);
  if (a === 0) return sign;

  const minExp = 1 - bias; // exponent of the smallest normal
  let e = Math.max(exponentOf(a), minExp);
  // Quantize the significand at the spacing of this binade (subnormals share minExp's spacing).
  // Multiplying by powers of two is exact, so the only rounding is roundHalfEven's.
  let q = roundHalfEven(a * 2 ** (mantBits - e));
  if (q === 2 ** (mantBits + 1)) {
    q /= 2;
    e += 1;
  }
  if (q < 2 ** mantBits) return sign | q; // subnormal (or rounded down to zero)
  if (e > bias) return sign | (expMask << mantBits); // overflow → infinity
  return sign | ((e + bias) << mantBits) | (q - 2 ** mantBits);
}


/** Bits of the F16 nearest to x (ties to even). */
export function f64ToF16Bits(x: number): number {
  return encodeFloat(x, 5, 10);
}

const f32Scratch = new DataView(new ArrayBuffer(4));

export function bf16ToF32(bits: number): number {
  f32Scratch.setUint32(0, (bits & 0xffff) << 16);
  return f32Scratch.getFloat32(0);
}

export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * Writes a safetensors file with deterministic bytes: tensors in the given order, header keys in
 * a fixed order (__metadata__ first, then dtype/shape/data_offsets per tensor), header padded with
 * spaces to a multiple of 8 so the data is aligned.
 */
export function writeSafetensors(
  filePath: string,
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = { ...metadata };
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new Error(`tensor name "__metadata__" is reserved`);
    if (names.has(t.name)) throw new Error(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) {
      throw new Error(
        `tensor "${t.name}": shape [${t.shape.join(', ')}] has ${elements} elements, data has ${t.data.length}`,
      );
    }
    const nbytes = elements * (DTYPE_SIZES[t.dtype] as number);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }

  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const lenBytes = Buffer.alloc(8);
  lenBytes.writeBigUInt64LE(BigInt(headerBytes.length));

  const fd = fs.openSync(filePath, 'w');
  try {
    fs.writeSync(fd, lenBytes);
    fs.writeSync(fd, headerBytes);
    for (const t of tensors) fs.writeSync(fd, encodeTensor(t));
  } finally {
    fs.closeSync(fd);
  }
}

function encodeTensor(t: TensorToWrite): Buffer {
  const n = t.data.length;
  const buf = Buffer.alloc(n * (t.dtype === 'F32' ? 4 : 2));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (t.dtype === 'F32') {
    // setFloat32 rounds with ToFloat32 (round to nearest even); `true` fixes the byte order.
    for (let i = 0; i < n; i++) view.setFloat32(i * 4, t.data[i] as number, true);
  } else if (t.dtype === 'BF16') {
    for (let i = 0; i < n; i++) view.setUint16(i * 2, f64ToBf16Bits(t.data[i] as number), true);
  } else {
    for (let i = 0; i < n; i++) view.setUint16(i * 2, f64ToF16Bits(t.data[i] as number), true);
  }
  return buf;
}

const f64Bits = new Float64Array(1);
const f64Words = new Uint32Array(f64Bits.buffer);
// Which 32-bit word of a float64 holds the sign and exponent depends on the platform's byte order.
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

/**
 * Bits of the BF16 nearest to x (ties to even). Normal results are rounded straight from the
 * float64's bits, which is many times faster than the general path (the default model's
 * embedding alone is 8M values); subnormal, infinite and NaN results take the general path.
 */
export function f64ToBf16Bits(x: number): number {
  f64Bits[0] = x;
  const hi = f64Words[HI] as number;
  const lo = f64Words[LO] as number;
  const e = ((hi >>> 20) & 0x7ff) - 1023;
  if (e < -126 || e > 127) return encodeFloat(x, 8, 7);
  // bf16 keeps the top 7 of the 52 mantissa bits: bits 19..13 of the high word.
  let bits = ((hi >>> 16) & 0x8000) | ((e + 127) << 7) | ((hi >>> 13) & 0x7f);
  const rest = hi & 0x1fff; // the dropped bits of the high word; the low word is dropped too
  if (rest > 0x1000 || (rest === 0x1000 && (lo !== 0 || (bits & 1) === 1))) bits += 1; // carries into the exponent, up to infinity
  return bits;
}

// ---------------------------------------------------------------------------------------------
// Reading data (small models only: the whole tensor is read into memory as float64)

export function readTensorF64(entry: TensorEntry): Float64Array {
  const buf = Buffer.alloc(entry.nbytes);
  const fd = fs.openSync(entry.file, 'r');
  try {
    let done = 0;
    while (done < entry.nbytes) {
      const got = fs.readSync(fd, buf, done, entry.nbytes - done, entry.offset + done);
      if (got === 0) throw new Error(`${entry.file}: unexpected end of file reading "${entry.name}"`);
      done += got;
    }
  } finally {
    fs.closeSync(fd);
  }

  const size = DTYPE_SIZES[entry.dtype];
  if (size === undefined) throw new Error(`${entry.file}: tensor "${entry.name}" has unknown dtype ${entry.dtype}`);
  const n = entry.nbytes / size;
  const out = new Float64Array(n);
  switch (entry.dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = buf.readDoubleLE(i * 8);
      break;
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4);
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16ToF32(buf.readUInt16LE(i * 2));
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToF32(buf.readUInt16LE(i * 2));
      break;
    default:
      throw new Error(
        `${entry.file}: tensor "${entry.name}" is ${entry.dtype}; only F64, F32, F16 and BF16 can be read as floats`,
      );
  }
  return out;
}
