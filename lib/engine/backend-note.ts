// The start-up line's word on a build without the CUDA backend. The addon only knows that the
// backend was left out ("nvcc and cuBLAS were not found when it was built"): CMake builds it where
// nvcc and cuBLAS(Lt) are both found. Which one was missing is looked up here, on this machine, as
// the start-up line is written: nvcc on PATH, in $CUDACXX or under $CUDA_HOME / $CUDA_PATH /
// /usr/local/cuda, and libcublasLt in the toolkit's library folders or the linker's cache. A few
// file checks and, where those find no cuBLAS, one `ldconfig -p`; it never throws.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** The addon's note for a build without the CUDA backend: the part that this file makes precise. */
const NO_CUDA_BUILD = / \(nvcc and cuBLAS were not found when it was built\)/;

export interface CudaToolchain {
  /** nvcc's path, or null where none is found. */
  nvcc: string | null;
  /** libcublasLt's path, or null where none is found. */
  cublas: string | null;
}

export interface ProbeOptions {
  env?: NodeJS.ProcessEnv;
  /** Also ask the linker's cache (`ldconfig -p`). Default true. */
  ldconfig?: boolean;
  /** Toolkit folders looked in besides $CUDA_HOME and the like. Default /usr/local/cuda, /opt/cuda. */
  toolkitRoots?: string[];
  /** System library folders looked in for libcublasLt. */
  libDirs?: string[];
}

const TOOLKIT_ROOTS = ['/usr/local/cuda', '/opt/cuda'];
const SYSTEM_LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function findCublasIn(dir: string): string | null {
  try {
    const name = readdirSync(dir).find((f) => /^libcublasLt\.so(\.|$)/.test(f));
    return name ? join(dir, name) : null;
  } catch {
    return null;
  }
}

/** libcublasLt's path in the linker's cache, from the first ldconfig that runs (often not on a user's PATH). */
function fromLinkerCache(): string | null {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      const cache = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', timeout: 2000, maxBuffer: 16 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
      return /libcublasLt\.so\S*\s.*=>\s*(\S+)/.exec(cache)?.[1] ?? null;
    } catch {
      // Not there: the next, or only the folders searched before.
    }
  }
  return null;
}

function toolkitRoots(env: NodeJS.ProcessEnv, usual: string[]): string[] {
  const roots = [env.CUDA_HOME, env.CUDA_PATH, env.CUDA_ROOT, env.CUDAToolkit_ROOT].filter((r): r is string => !!r);
  return [...new Set([...roots, ...usual])];
}

/** Where nvcc and libcublasLt are on this machine (null: not found). */
export function probeCudaToolchain({ env = process.env, ldconfig = true, toolkitRoots: usual = TOOLKIT_ROOTS, libDirs: system = SYSTEM_LIB_DIRS }: ProbeOptions = {}): CudaToolchain {
  const roots = toolkitRoots(env, usual);
  const nvccCandidates = [
    ...(env.CUDACXX ? [env.CUDACXX] : []),
    ...(env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'nvcc')),
    ...roots.map((root) => join(root, 'bin', 'nvcc')),
  ];
  const nvcc = nvccCandidates.find(isExecutable) ?? null;
  // The toolkit nvcc belongs to first (that is where CMake looks; /usr/local/bin/nvcc is often a
  // link into it), then the usual places.
  const toolkits = [...(nvcc ? [dirname(dirname(realPath(nvcc))), dirname(dirname(nvcc))] : []), ...roots];
  const libDirs = [
    ...toolkits.flatMap((root) => [join(root, 'lib64'), join(root, 'lib'), join(root, 'targets', `${process.arch === 'arm64' ? 'sbsa' : 'x86_64'}-linux`, 'lib')]),
    ...(env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean),
    ...system,
  ];
  let cublas: string | null = null;
  for (const dir of new Set(libDirs)) if ((cublas = findCublasIn(dir))) break;
  if (!cublas && ldconfig) cublas = fromLinkerCache();
  return { nvcc, cublas };
}

/** What the note says in place of "(nvcc and cuBLAS were not found when it was built)". */
function missing({ nvcc, cublas }: CudaToolchain): string {
  if (!nvcc && !cublas) return 'nvcc and cuBLAS (libcublasLt) are both missing here';
  if (!nvcc) return `nvcc is missing here (cuBLAS is at ${cublas})`;
  if (!cublas) return `cuBLAS (libcublasLt) is missing here (nvcc is at ${nvcc})`;
  return `it was built without nvcc and cuBLAS, which are here now (${nvcc}, ${cublas}): rebuild it with npm run build:native`;
}

/**
 * The backend note for the start-up line: a build without the CUDA backend is told which of nvcc
 * and cuBLAS is missing on this machine; any other note is returned as it is.
 */
export function explainBackendNote(note: string, probe: () => CudaToolchain = probeCudaToolchain): string {
  if (!NO_CUDA_BUILD.test(note)) return note;
  try {
    return note.replace(NO_CUDA_BUILD, `: ${missing(probe())}`);
  } catch {
    return note;
  }
}
