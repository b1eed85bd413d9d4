// LLMEngine: the native core's top level. It owns the backend, the model, the KV cache's block
// manager, the scheduler and the model runner, and advances every request by one step at a time.
// It decides which sequences run and stops them on token-level conditions (EOS, stop token ids,
// max_tokens, the model length); everything about text (detokenizing, stop strings, streaming)
// happens in TypeScript.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "backend/backend.h"
#include "engine/model_runner.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "model/weight_source.h"

namespace nodellm {

struct EngineConfig {
  ModelConfig model;
  std::vector<std::string> weight_files;
  std::vector<TensorInfo> tensors;
  std::vector<int32_t> eos_token_ids;
  int block_size = 16;
  int num_blocks = 0;                   // 0: as many as kv_cache_bytes holds
  // 0: 1 GiB on the CPU; on a GPU, what gpu_memory_utilization leaves after a profiling step.
  int64_t kv_cache_bytes = 0;
  double gpu_memory_utilization = 0.9;  // share of the GPU's memory this engine may use
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  int max_model_len = 2048;
  int max_logprobs = 20;
  int num_threads = 0;                  // 0: one per hardware thread
  std::string device = "auto";          // auto, cpu or cuda
  bool dummy_weights = false;           // LOAD_FORMAT=dummy: seeded random weights, no files
  DType dummy_dtype = DType::BF16;      // the checkpoint dtype dummy weights stand for
  bool enforce_eager = false;           // no graphs (ENFORCE_EAGER)
  int max_seq_len_to_capture = 8192;    // steps with longer contexts run eagerly
  bool batch_invariant = false;         // a row's numbers never depend on the batch (--batch-invariant)
  bool async_scheduling = true;         // launch decode steps ahead where the backend runs asynchronously
  bool return_logits = false;           // testing only
  int launch_ahead = -1;                // testing: 1 or 0 forces launch-ahead on or off (-1: as above)
};

struct EngineStats {
  int num_running = 0;
  int num_waiting = 0;
  int num_free_blocks = 0;
  int num_blocks = 0;
  int block_size = 0;
  int64_t total_preemptions = 0;
};

struct StepOutput {
  std::vector<int64_t> seq_ids;        // one entry per sequence that got a token this step
  std::vector<int32_t> tokens;
  std::vector<uint8_t> finish_reasons;  // FinishReason
  SampledRows sampled;                  // logprobs / logits of the same rows
  PromptLogprobRows prompt_logprobs;
  int num_scheduled_tokens = 0;
  int num_preempted = 0;
  // Host time between the previous step's results and this step's launch (scheduling, input
  // preparation, and whatever the caller did between steps): the device was idle. 0 when unknown:
  // the first step after the engine ran out of work, or after a step that did not wait for its
  // results. Then the time from the launch to this step's results being back (0: not waited for).
  double idle_before_launch_ms = 0;
  double launch_to_result_ms = 0;
  // The part of this step's host time before its launch spent inside step() (scheduling and
  // inputs); the rest of idle_before_launch_ms passed outside the engine (the caller, the threads).
  double prepare_ms = 0;
  EngineStats stats;  // after the step
};

class LLMEngine {
 public:
  explicit LLMEngine(const EngineConfig& config);
  ~LLMEngine();

  // `group` is the caller's request the sequence belongs to (the scheduler shares running slots
  // fairly between groups).
  void add_request(int64_t id, std::vector<int32_t> prompt, const SamplingParams& params, int64_t group);
  // Ends a request. A request in the step already launched ahead (see step()) is removed once that
  // step is done, so it may still appear in that step's output.
  bool abort(int64_t id);
  bool has_work() const { return ahead_.has_value() || scheduler_->has_work(); }
  // Advances every running request by one step and returns the step's tokens. Where the backend
  // runs asynchronously (a GPU) and async_scheduling is on (the launch_ahead config overrides
  // both, for comparisons and the CPU tests), a step of decodes is launched before the previous
  // step's tokens are returned, so the device works while the caller handles them: step() then
  // collects that step and launches the next. Requests added between two calls join from the step
  // after the one already launched.
  StepOutput step();
  EngineStats stats() const;
  const EngineConfig& config() const { return config_; }
  std::string backend_name() const { return backend_->name(); }
  // Why --device auto chose the CPU ("" when it did not have to).
  const std::string& backend_note() const { return backend_note_; }

 private:
  FinishReason finish_reason(const Sequence& seq) const;
  // Applies a step's results to its sequences (tokens, finishes) and fills out's rows.
  void complete(const SchedulerOutput& scheduled, StepOutput& out);
  // Schedules the next step and launches it, when it can only be decodes.
  void launch_ahead();
  bool holds(const SchedulerOutput& step, int64_t id) const;
  int64_t kv_bytes_per_block() const;
  int profiling_blocks() const;
  int profile_kv_blocks();

  EngineConfig config_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<WeightSource> weights_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<BlockManager> blocks_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ModelRunner> runner_;
  std::mt19937_64 seed_source_;
  std::string backend_note_;
  std::chrono::steady_clock::time_point last_result_at_{};  // when the last step's tokens were back
  bool launch_ahead_ = false;
  struct Ahead {
    SchedulerOutput scheduled;
    StepOutput out;  // its sampled rows fill when it is collected
    std::chrono::steady_clock::time_point launched;
  };
  std::optional<Ahead> ahead_;                 // launched, not collected
  std::unordered_set<int64_t> aborted_ahead_;  // aborted while ahead_ held them
};

}  // namespace nodellm
