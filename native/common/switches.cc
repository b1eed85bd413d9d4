#include "common/switches.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/check.h"

namespace nodellm {

namespace {
const char* env(const char* name) { return std::getenv(name); }

Switches read_switches() {
  Switches s;
  if (const char* v = env("NODELLM_INVARIANT_ROWS")) {
    s.invariant_rows = std::atoi(v);
    if (s.invariant_rows < 1) fail("NODELLM_INVARIANT_ROWS must be a positive number of rows, got \"", v, "\"");
  }
  if (const char* v = env("NODELLM_GEMM_NO_SPLIT_K")) s.gemm_no_split_k = std::strcmp(v, "1") == 0;
  if (const char* v = env("NODELLM_PDL")) s.pdl = std::strcmp(v, "0") != 0;
  if (const char* v = env("NODELLM_GEMV_LOADS")) {
    const int n = std::atoi(v);
    s.gemv_loads = n == 2 || n == 8 ? n : 0;
  }
  if (const char* v = env("NODELLM_GEMV_WARPS_PER_ROW")) {
    const int n = std::atoi(v);
    s.gemv_warps_per_row = n == 1 || n == 4 ? n : 2;
  }
  if (const char* v = env("NODELLM_GEMV_MAX_ROWS")) s.gemv_max_rows = std::clamp(std::atoi(v), 0, 8);
  if (const char* v = env("NODELLM_GEMV_EPILOGUES")) s.gemv_epilogues = std::strcmp(v, "0") != 0;
  if (const char* v = env("NODELLM_PREFILL_ATTENTION")) s.prefill_tensor_cores = std::strcmp(v, "simt") != 0;
  if (const char* v = env("NODELLM_DECODE_ATTENTION")) s.decode_attention = v;
  if (const char* v = env("NODELLM_DECODE_BLOCKS_PER_SM")) s.decode_blocks_per_sm = std::clamp(std::atoi(v), 1, 32);
  if (const char* v = env("NODELLM_DECODE_MAX_PARTITIONS")) s.decode_max_partitions = std::clamp(std::atoi(v), 1, 64);
  if (const char* v = env("NODELLM_DECODE_MIN_KEYS")) s.decode_min_keys = std::clamp(std::atoi(v), 16, 4096);
  if (const char* v = env("NODELLM_DECODE_TABLE")) s.decode_table_staged = std::string(v) != "global";
  return s;
}
}  // namespace

const Switches& switches() {
  static const Switches s = read_switches();
  return s;
}

}  // namespace nodellm
