// Backend: every operation the model and sampler need, over tensors the backend owns.
//
// One call of the model runs the whole batch of a step (prefills and decodes packed together as
// rows); per-sequence metadata (positions, slot mapping, block tables, sampling parameters) lives
// in backend tensors that the engine fills once per step, so no activation ever crosses to the
// host and a CUDA backend can record the step in a graph over fixed buffers. The only results
// that come back to the host are the sampled token ids and, when asked, logprobs.
#pragma once
#include <memory>
#include <string>

#include "backend/tensor.h"

namespace nodellm {

// Attention over the paged KV cache for one step. Tensors hold one value per row ([n, 1]) unless
// noted; the ints are bounds for sizing launches.
struct AttentionBatch {
  Tensor query_start;   // I32 [num_seqs + 1]: first row of each sequence's new tokens in q
  Tensor seq_lens;      // I32 [num_seqs]: tokens in the sequence's context after this step
  Tensor block_tables;  // I32 [num_seqs, max_blocks_per_seq]: KV block of each block index
  int num_seqs = 0;
  int max_query_len = 0;
  int max_seq_len = 0;
  int block_size = 16;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  // Sliding-window attention: a query at position p sees keys at positions p - sliding_window + 1
  // .. p (sliding_window keys, itself included), as transformers' and flash-attention's windows;
  // 0 means the whole context. Set per layer by the model.
  int sliding_window = 0;
  // Attention-logit soft-capping (Gemma 2): a score s becomes softcap * tanh(s / softcap) after
  // the scale and before the softmax; 0 means off.
  float softcap = 0.0f;
};

// Where rope_kv_write() puts a step's keys and values, for the projection that ends with it.
struct RopeKvWrite {
  Tensor positions;     // I32 [rows]
  Tensor cos_sin;       // F32 [max_pos, rotary_dim]: cos | sin of each position's angles
  int head_dim = 0;
  int q_heads = 0;
  int kv_heads = 0;
  Tensor k_cache;       // [num_blocks * block_size, kv_heads * head_dim]
  Tensor v_cache;
  Tensor slot_mapping;  // I32 [rows]
};

// Sampling parameters of each row of logits (one row per sequence that samples this step).
struct SamplingBatch {
  int num_rows = 0;
  Tensor temperature;         // F32; 0 means greedy
  Tensor top_k;               // I32; 0 or -1 means off
  Tensor top_p;               // F32 in (0, 1]
  Tensor min_p;               // F32 in [0, 1]
  Tensor repetition_penalty;  // F32; 1 means off (applies to prompt and output tokens)
  Tensor frequency_penalty;   // F32; 0 means off (output tokens)
  Tensor presence_penalty;    // F32; 0 means off (output tokens)
  Tensor seed;                // I64: the row's random stream ...
  Tensor output_pos;          // I32: ... and the index of the token being drawn in it
  Tensor num_logprobs;        // I32: -1 none, 0 the sampled token only, k the top k too
  // Tokens each row has seen, for penalties: history[history_start[r] .. history_start[r+1]),
  // of which the first prompt_len[r] are prompt tokens.
  Tensor history_start;  // I32 [num_rows + 1]
  Tensor prompt_len;     // I32 [num_rows]
  Tensor history;        // I32 [total]
  // Additive logit biases: logit_bias, and -inf on stop tokens while min_tokens is not reached.
  Tensor bias_start;  // I32 [num_rows + 1]
  Tensor bias_token;  // I32 [total]
  Tensor bias_value;  // F32 [total]
  bool any_penalties = false;
  bool any_bias = false;
  int max_logprobs = 0;  // columns of the top-k outputs
};

struct SamplerOutput {
  Tensor tokens;        // I32 [rows]
  Tensor logprobs;      // F32 [rows]: raw (unprocessed) logprob of the sampled token
  Tensor top_ids;       // I32 [rows, max_logprobs]
  Tensor top_logprobs;  // F32 [rows, max_logprobs]
};

// A weight matrix prepared for linear(), in the backend's own layout (the CPU backend packs it
// transposed; a GPU backend may keep it as loaded, or attach GEMM descriptors).
struct LinearWeight {
  Tensor data;
  int64_t out_features = 0;
  int64_t in_features = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // Memory. Tensors from alloc() stay valid until release() or the backend's destruction.
  virtual Tensor alloc(DType dtype, int64_t rows, int64_t cols) = 0;
  virtual void release(const Tensor& tensor) = 0;
  // The dtype weights of a checkpoint dtype are kept in (the CPU reference computes in float32).
  virtual DType weight_dtype(DType checkpoint_dtype) const = 0;
  // Copies rows*cols host values of src_dtype into dst (any row stride), converting the dtype.
  virtual void upload(const Tensor& dst, const void* src, DType src_dtype) = 0;
  // Copies a tensor's rows to contiguous host memory of the same dtype.
  virtual void download(void* dst, const Tensor& src) = 0;
  // The same, queued behind the work before it: dst is filled by the next synchronize() and must
  // stay valid until then. The host goes on meanwhile (the runner's launch-ahead steps).
  virtual void download_async(void* dst, const Tensor& src) { download(dst, src); }
  // Waits for all queued work (and fills the destinations of download_async).
  virtual void synchronize() = 0;
  // Whether queued work runs while the host goes on (a GPU), so launching a step before handing
  // back the previous one's tokens overlaps them; the CPU backend computes as it is called.
  virtual bool runs_asynchronously() const { return false; }
  // Free and total bytes of the device's memory, for sizing the KV cache as a share of it
  // (GPU_MEMORY_UTILIZATION); false where that does not apply (the CPU backend).
  virtual bool memory_info(int64_t* free_bytes, int64_t* total_bytes) { return false; }
  // Fills a tensor with offset + scale * (a seeded uniform of unit variance): LOAD_FORMAT=dummy.
  // Both backends draw the same values (backend/sampling_rng.h's hash of seed and index).
  virtual void fill_random(const Tensor& dst, uint64_t seed, float scale, float offset) = 0;

  // Step graphs: a backend that can record the work of a step once and replay it (CUDA graphs)
  // says so; the runner then records each padded decode batch size once. Work queued between
  // begin_graph() and end_graph() is recorded, not run; end_graph() returns the graph's handle.
  virtual bool supports_graphs() const { return false; }
  virtual void begin_graph() {}
  virtual int end_graph() { return -1; }
  virtual void replay_graph(int graph) {}

  // Model operations; rows are tokens.
  // out[t] = table[ids[t]] * scale (Gemma scales its embeddings by sqrt(hidden_size)).
  virtual void embedding(const Tensor& out, const Tensor& table, const Tensor& ids, float scale) = 0;
  // out = x / rms(x) * (weight_offset + weight): weight_offset is 0, or 1 for Gemma's (1 + w) norms.
  virtual void rmsnorm(const Tensor& out, const Tensor& x, const Tensor& weight, float eps,
                       float weight_offset) = 0;
  // residual += x, then out = rmsnorm(residual): the residual stream of a decoder.
  virtual void add_rmsnorm(const Tensor& residual, const Tensor& x, const Tensor& out,
                           const Tensor& weight, float eps, float weight_offset) = 0;
  // RMSNorm of each head_dim-wide head of x's rows, in place, with one weight [head_dim] shared by
  // the heads: the q and k norms of Qwen 3 and Gemma 3 (x is q's or k's column slice of qkv).
  virtual void head_rmsnorm(const Tensor& x, const Tensor& weight, int head_dim, float eps,
                            float weight_offset) = 0;
  // Turns an nn.Linear weight [out_features, in_features] into the backend's layout for
  // linear(); the returned tensor is the backend's (the input may be released afterwards).
  virtual LinearWeight prepare_linear(const Tensor& weight) = 0;
  // out = x @ weight^T (+ bias)
  virtual void linear(const Tensor& out, const Tensor& x, const LinearWeight& weight,
                      const Tensor* bias) = 0;
  // Rotary embedding in place, neox style (halves), from a [max_pos, rotary_dim] table whose first
  // half of each row is cos and second half sin of the position's angles. rotary_dim (the table's
  // columns) may be less than head_dim (partial_rotary_factor): the first rotary_dim dims of each
  // head rotate, the rest pass through.
  virtual void rope(const Tensor& q, const Tensor& k, const Tensor& positions,
                    const Tensor& cos_sin, int head_dim) = 0;
  // k_cache[slot[i]] = k[i], v_cache[slot[i]] = v[i]; caches are [num_blocks * block_size, kv_dim].
  virtual void kv_write(const Tensor& k, const Tensor& v, const Tensor& k_cache,
                        const Tensor& v_cache, const Tensor& slot_mapping) = 0;
  // rope() then kv_write() of the rotated k and v; a backend may fuse the two.
  virtual void rope_kv_write(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                             const Tensor& cos_sin, int head_dim, const Tensor& k_cache,
                             const Tensor& v_cache, const Tensor& slot_mapping) {
    rope(q, k, positions, cos_sin, head_dim);
    kv_write(k, v, k_cache, v_cache, slot_mapping);
  }
  // qkv = x @ W^T (+ bias), then rope_kv_write() of its q, k and v column slices; a backend may
  // fuse the two (the CUDA backend does at one row).
  virtual void linear_rope_kv_write(const Tensor& qkv, const Tensor& x, const LinearWeight& weight,
                                    const Tensor* bias, const Tensor& q, const Tensor& k, const Tensor& v,
                                    const RopeKvWrite& r) {
    linear(qkv, x, weight, bias);
    rope_kv_write(q, k, v, r.positions, r.cos_sin, r.head_dim, r.k_cache, r.v_cache, r.slot_mapping);
  }
  // Causal attention of each sequence's new query rows over its whole cached context.
  virtual void paged_attention(const Tensor& out, const Tensor& q, const Tensor& k_cache,
                               const Tensor& v_cache, const AttentionBatch& batch) = 0;
  // out = silu(gate) * up, where gate_up = [gate | up] along columns.
  virtual void silu_mul(const Tensor& out, const Tensor& gate_up) = 0;
  // act = silu(gate) * up of gate_up = x @ W^T (+ bias) = [gate | up]; a backend may fuse the two
  // and leave gate_up (scratch) unwritten (the CUDA backend does at one row).
  virtual void linear_silu_mul(const Tensor& act, const Tensor& x, const LinearWeight& weight, const Tensor* bias,
                               const Tensor& gate_up) {
    linear(gate_up, x, weight, bias);
    silu_mul(act, gate_up);
  }
  // out = gelu_tanh(gate) * up, where gate_up = [gate | up]: Gemma's GeGLU (gelu_pytorch_tanh).
  virtual void gelu_tanh_mul(const Tensor& out, const Tensor& gate_up) = 0;
  // x = cap * tanh(x / cap), in place on float32 logits: final-logit soft-capping (Gemma 2).
  virtual void softcap(const Tensor& x, float cap) = 0;
  // out[i] = x[rows[i]]
  virtual void gather_rows(const Tensor& out, const Tensor& x, const Tensor& rows) = 0;

  // Sampling over float32 logits [rows, vocab]; logits are modified in place.
  virtual void sample(const Tensor& logits, const SamplingBatch& batch,
                      const SamplerOutput& out) = 0;
  // Log-softmax of each row: the logprob of targets[r] and the top k (prompt logprobs).
  virtual void logprobs(const Tensor& logits, const Tensor& targets, int k,
                        const Tensor& target_logprobs, const Tensor& top_ids,
                        const Tensor& top_logprobs) = 0;
};

std::unique_ptr<Backend> make_cpu_backend(int num_threads);

// "cpu", "cuda" or "auto" (CUDA when this build has it and a GPU is usable, else the CPU). `note`
// receives why auto chose the CPU, for the start-up log. batch_invariant asks for numerics that do
// not depend on the batch (the CPU backend's already do not: each output sums in one fixed order).
std::unique_ptr<Backend> make_backend(const std::string& device, int num_threads, std::string* note,
                                      bool batch_invariant = false);

}  // namespace nodellm
