// The start-up line's backend note (lib/engine/backend-note.ts): a build without the CUDA backend
// says which of nvcc and cuBLAS is missing on this machine; the probe finds them where CMake would
// (PATH, $CUDACXX, $CUDA_HOME) and never throws.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { type CudaToolchain, explainBackendNote, probeCudaToolchain } from '../../lib/engine/backend-note.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

/** The addon's note for a build without the CUDA backend (native/backend/make_backend.cc). */
const NOTE = 'this build has no CUDA backend (nvcc and cuBLAS were not found when it was built); running on the CPU';
const NVCC = '/opt/cuda-12/bin/nvcc';
const CUBLAS = '/opt/cuda-12/lib64/libcublasLt.so.12';
const probe = (found: CudaToolchain) => () => found;

const tempDir = useTempDirs();

describe('explainBackendNote', () => {
  it.each([
    [{ nvcc: null, cublas: null }, 'this build has no CUDA backend: nvcc and cuBLAS (libcublasLt) are both missing here; running on the CPU'],
    [{ nvcc: null, cublas: CUBLAS }, `this build has no CUDA backend: nvcc is missing here (cuBLAS is at ${CUBLAS}); running on the CPU`],
    [{ nvcc: NVCC, cublas: null }, `this build has no CUDA backend: cuBLAS (libcublasLt) is missing here (nvcc is at ${NVCC}); running on the CPU`],
    [
      { nvcc: NVCC, cublas: CUBLAS },
      `this build has no CUDA backend: it was built without nvcc and cuBLAS, which are here now (${NVCC}, ${CUBLAS}): rebuild it with npm run build:native; running on the CPU`,
    ],
  ])('%j: says which is missing', (found, expected) => {
    expect(explainBackendNote(NOTE, probe(found))).toBe(expected);
  });

  it('leaves every other note as it is, without probing', () => {
    const never = () => {
      throw new Error('probed');
    };
    for (const note of ['', 'no CUDA device is visible (cudaErrorNoDevice); running on the CPU']) expect(explainBackendNote(note, never)).toBe(note);
  });

  it('never throws: a failing probe leaves the note as it is', () => {
    expect(
      explainBackendNote(NOTE, () => {
        throw new Error('EACCES');
      }),
    ).toBe(NOTE);
  });

  it('probes this machine by default', () => {
    const note = explainBackendNote(NOTE);
    expect(note).toMatch(/^this build has no CUDA backend: (nvcc|cuBLAS|it was built).*; running on the CPU$/);
  });
});

describe('probeCudaToolchain', () => {
  /** A toolkit folder: bin/nvcc (executable) and lib64/libcublasLt.so.12, each where asked. */
  function toolkit({ nvcc = true, cublas = true } = {}): string {
    const root = tempDir();
    if (nvcc) {
      mkdirSync(join(root, 'bin'));
      writeFileSync(join(root, 'bin', 'nvcc'), '#!/bin/sh\n');
      chmodSync(join(root, 'bin', 'nvcc'), 0o755);
    }
    if (cublas) {
      mkdirSync(join(root, 'lib64'));
      writeFileSync(join(root, 'lib64', 'libcublasLt.so.12'), '');
    }
    return root;
  }
  /** Only what the test gives: no usual folders, no linker cache. */
  const isolated = { toolkitRoots: [], libDirs: [], ldconfig: false };

  it('finds nvcc on PATH and cuBLAS in its toolkit', () => {
    const root = toolkit();
    expect(probeCudaToolchain({ env: { PATH: `/nonexistent:${join(root, 'bin')}` }, ...isolated })).toEqual({
      nvcc: join(root, 'bin', 'nvcc'),
      cublas: join(root, 'lib64', 'libcublasLt.so.12'),
    });
  });

  it('finds both under $CUDA_HOME', () => {
    const root = toolkit();
    expect(probeCudaToolchain({ env: { PATH: '', CUDA_HOME: root }, ...isolated })).toEqual({
      nvcc: join(root, 'bin', 'nvcc'),
      cublas: join(root, 'lib64', 'libcublasLt.so.12'),
    });
  });

  it('tells each one missing apart', () => {
    const noCublas = toolkit({ cublas: false });
    expect(probeCudaToolchain({ env: { CUDA_HOME: noCublas }, ...isolated })).toEqual({ nvcc: join(noCublas, 'bin', 'nvcc'), cublas: null });
    const noNvcc = toolkit({ nvcc: false });
    expect(probeCudaToolchain({ env: { CUDA_HOME: noNvcc }, ...isolated })).toEqual({ nvcc: null, cublas: join(noNvcc, 'lib64', 'libcublasLt.so.12') });
    expect(probeCudaToolchain({ env: {}, ...isolated })).toEqual({ nvcc: null, cublas: null });
  });

  it('does not take an nvcc that cannot run', () => {
    const root = toolkit();
    chmodSync(join(root, 'bin', 'nvcc'), 0o644);
    expect(probeCudaToolchain({ env: { PATH: join(root, 'bin') }, ...isolated }).nvcc).toBeNull();
  });

  it('looks in LD_LIBRARY_PATH', () => {
    const root = toolkit({ nvcc: false });
    expect(probeCudaToolchain({ env: { LD_LIBRARY_PATH: join(root, 'lib64') }, ...isolated }).cublas).toBe(join(root, 'lib64', 'libcublasLt.so.12'));
  });

  it('on this machine, returns paths or nulls without throwing', () => {
    const found = probeCudaToolchain();
    for (const value of [found.nvcc, found.cublas]) expect(value === null || typeof value === 'string').toBe(true);
  });
});
