// Experiment switches: the environment variables that change how the engine and the kernels
// work, for comparisons in bench/ (bench/RESULTS.md records what each measured). They are read
// once, in switches.cc, which is the list of everything that can be switched (as vLLM's envs.py);
// nothing else in native/ or kernels/ reads the environment. Unset, each takes its default.
#pragma once
#include <string>

namespace nodellm {

struct Switches {
  // NODELLM_INVARIANT_ROWS=n: the row count batch-invariant GEMM algorithms are chosen for; 0: the default.
  int invariant_rows = 0;
  // NODELLM_GEMM_NO_SPLIT_K=1: cuBLASLt's first algorithm without split-K.
  bool gemm_no_split_k = false;
  // NODELLM_PDL=0: no programmatic dependent launches (chained kernels) on Hopper.
  bool pdl = true;
  // NODELLM_GEMV_LOADS=2|8: loads in flight per lane of the one-row GEMV; 0: the kernel's default.
  int gemv_loads = 0;
  // NODELLM_GEMV_WARPS_PER_ROW=1|2|4: the fewest warps a GEMV output row takes.
  int gemv_warps_per_row = 2;
  // NODELLM_GEMV_MAX_ROWS=0..8: the most rows the GEMV takes before cuBLASLt; -1: the default.
  int gemv_max_rows = -1;
  // NODELLM_GEMV_EPILOGUES=0: the unfused rope/KV-write and SiLU kernels after one-row GEMVs.
  bool gemv_epilogues = true;
  // NODELLM_PREFILL_ATTENTION=simt: prefill rows on the per-row kernel, not tensor cores.
  bool prefill_tensor_cores = true;
  // NODELLM_DECODE_ATTENTION=lanes|simt: force the lane or per-row decode kernel where the
  // tensor-core one would run; empty: the default choice.
  std::string decode_attention;
  // NODELLM_DECODE_BLOCKS_PER_SM=1..32: blocks decode attention aims for per SM before it splits contexts.
  int decode_blocks_per_sm = 4;
  // NODELLM_DECODE_MAX_PARTITIONS=1..64: the most partitions a context is split into.
  int decode_max_partitions = 32;
  // NODELLM_DECODE_MIN_KEYS=16..4096: the fewest keys a partition takes; 0: each kernel's own.
  int decode_min_keys = 0;
  // NODELLM_DECODE_TABLE=global: read block-table entries from global memory, not shared.
  bool decode_table_staged = true;
};

// The switches, read from the environment on first use. A malformed value of a switch that has
// no sensible reading throws (NODELLM_INVARIANT_ROWS); the others fall back to their defaults.
const Switches& switches();

}  // namespace nodellm
