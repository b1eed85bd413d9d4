// The model runner turns a scheduled step into backend work: it packs the step's tokens, positions,
// KV slots, block tables and sampling parameters into backend tensors (allocated once for the
// largest step), runs the model, computes logits only for the rows that need them, samples, and
// copies back the sampled ids and requested logprobs, the step's only transfer to the host.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "engine/block_manager.h"
#include "engine/sampling_inputs.h"
#include "engine/scheduler.h"
#include "model/model.h"

namespace nodellm {

struct RunnerConfig {
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  int max_model_len = 2048;
  int block_size = 16;
  int num_blocks = 0;
  int max_logprobs = 20;
  bool return_logits = false;  // testing: copy each sampled row's raw logits back
  bool use_graphs = true;      // record decode steps as graphs where the backend can (ENFORCE_EAGER off)
  int max_seq_len_to_capture = 8192;
};

// What a step produced, row by row: one row per sequence that sampled a token.
struct SampledRows {
  std::vector<Sequence*> seqs;
  SamplingResult result;       // tokens, and logprobs where asked (raw logprob; top k ids)
  std::vector<float> logits;   // [rows, vocab], only with return_logits
};

// Prompt logprobs computed this step: one row per prompt token scored.
struct PromptLogprobRows {
  std::vector<int64_t> seq_ids;
  std::vector<int32_t> positions;  // index of the scored token in the prompt
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  int top_k = 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

class ModelRunner {
 public:
  ModelRunner(Backend& backend, Model& model, RunnerConfig config);
  ~ModelRunner();

  void run(const SchedulerOutput& step, const BlockManager& blocks, SampledRows& sampled,
           PromptLogprobRows& prompt_logprobs);
  // A step in two halves, for steps that can_launch() says allow it: launch() queues the whole
  // step, sampling and the copies back included, and returns at once; collect() waits for the
  // tokens. The engine launches the next step before handing the last one's tokens to the caller.
  bool can_launch(const SchedulerOutput& step) const;
  void launch(const SchedulerOutput& step, const BlockManager& blocks, SampledRows& sampled);
  void collect(SampledRows& sampled);
  // When the last run() queued the model's work (after its host-side preparation): the GPU had
  // nothing to do from the end of the step before until then.
  std::chrono::steady_clock::time_point launched_at() const { return launched_at_; }
  // Whether the last run() waited for the device (it copies back sampled tokens or prompt
  // logprobs); a prefill chunk that returns neither returns while the device still works.
  bool waited() const { return waited_; }
  // Replaces the KV cache with one of num_blocks blocks (its contents are lost). Only before the
  // first graph is recorded: graphs hold the cache's addresses.
  void resize_kv_cache(int num_blocks);
  // Bytes of the KV cache (every layer's K and V, the padding block included).
  int64_t kv_cache_bytes() const;
  // Bytes of one KV block of block_size tokens: K and V of every layer in the activation dtype.
  static int64_t kv_block_bytes(const ModelConfig& c, DType dtype, int block_size);

 private:
  struct Staging;  // backend tensors for step inputs, sized for the largest step
  void alloc_kv_cache();
  void free_kv_cache();
  // Step inputs; with padded_rows > 0 (a graph step) padded to that many decode rows whose K/V go
  // to a reserved slot, and with bounds that do not change from step to step.
  void upload_inputs(const SchedulerOutput& step, const BlockManager& blocks, int padded_rows);
  int graph_bucket(const SchedulerOutput& step) const;
  // The rows that draw a token this step (their row in the step's hidden states) and their
  // sampling parameters, queued into sampling_.
  std::vector<int32_t> sampling_rows(const SchedulerOutput& step, SampledRows& out);
  void logits_for_rows(const Tensor& rows, int num_tokens);
  void draw(int n, SampledRows& out);
  // The decode work of a step whose rows all sample (as a graph where one applies), up to the
  // sampler's launch.
  void launch_decode(const SchedulerOutput& step, const BlockManager& blocks, SampledRows& sampled, int bucket);
  // A step's forward pass without a graph, its prompt logprobs (when given somewhere to put them)
  // and the logits of the rows that sample; false when none does.
  bool forward_eager(const SchedulerOutput& step, const BlockManager& blocks, SampledRows& sampled,
                     PromptLogprobRows* prompt_logprobs);
  void score_prompts(const SchedulerOutput& step, PromptLogprobRows& out);

  Backend& backend_;
  Model& model_;
  RunnerConfig config_;
  int max_blocks_per_seq_;
  Activations activations_;
  std::vector<KvCache> caches_;
  std::unique_ptr<Staging> staging_;
  SamplingInputs sampling_;
  ForwardInputs inputs_;
  int padding_slot_ = 0;            // a KV slot outside every sequence's blocks
  std::chrono::steady_clock::time_point launched_at_{};
  bool waited_ = false;
  std::map<int, int> graphs_;       // padded decode batch size -> backend graph
};

}  // namespace nodellm
