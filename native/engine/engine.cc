#include "engine/engine.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/check.h"
#include "common/switches.h"

namespace nodellm {

namespace {

void validate_engine(const EngineConfig& c, int num_blocks) {
  if (c.block_size != 8 && c.block_size != 16 && c.block_size != 32)
    fail("block_size must be 8, 16 or 32, got ", c.block_size);
  if (c.max_num_seqs < 1) fail("max_num_seqs must be at least 1, got ", c.max_num_seqs);
  if (c.max_model_len < 1) fail("max_model_len must be at least 1, got ", c.max_model_len);
  if (c.max_num_batched_tokens < c.max_num_seqs)
    fail("max_num_batched_tokens (", c.max_num_batched_tokens,
         ") must be at least max_num_seqs (", c.max_num_seqs, ")");
  const int64_t cache_tokens = static_cast<int64_t>(num_blocks) * c.block_size;
  if (cache_tokens < c.max_model_len)
    fail("the KV cache holds ", cache_tokens, " tokens (", num_blocks, " blocks of ",
         c.block_size, "), fewer than max_model_len (", c.max_model_len,
         "): give it more blocks or lower max_model_len");
}

}  // namespace

LLMEngine::LLMEngine(const EngineConfig& config)
    : config_(config), seed_source_(std::random_device{}()) {
  validate(config_.model);
  validate_engine(config_, config_.num_blocks > 0 ? config_.num_blocks : 1 << 30);
  const int threads = config_.num_threads > 0
                          ? config_.num_threads
                          : std::max(1u, std::thread::hardware_concurrency());
  backend_ = make_backend(config_.device, threads, &backend_note_, config_.batch_invariant);
  weights_ = config_.dummy_weights ? std::make_unique<WeightSource>(config_.dummy_dtype)
                                   : std::make_unique<WeightSource>(config_.weight_files, config_.tensors);
  model_ = make_model(*backend_, config_.model, *weights_, config_.max_model_len);
  // The KV cache: a given number of blocks, a given size, or (on a GPU) what is left of
  // gpu_memory_utilization once a profiling step has brought every workspace to its peak. The
  // profiling step runs with a provisional cache just large enough for it.
  int64_t free_bytes = 0, total_bytes = 0;
  const bool profile = config_.num_blocks == 0 && config_.kv_cache_bytes == 0 &&
                       backend_->memory_info(&free_bytes, &total_bytes);
  int num_blocks = config_.num_blocks;
  if (profile) {
    num_blocks = profiling_blocks();
  } else if (num_blocks == 0) {
    const int64_t bytes = config_.kv_cache_bytes > 0 ? config_.kv_cache_bytes : 1ll << 30;
    num_blocks = static_cast<int>(std::min<int64_t>(bytes / kv_bytes_per_block(), 1 << 30));
  }
  RunnerConfig rc;
  rc.max_num_seqs = config_.max_num_seqs;
  rc.max_num_batched_tokens = config_.max_num_batched_tokens;
  rc.max_model_len = config_.max_model_len;
  rc.block_size = config_.block_size;
  rc.num_blocks = num_blocks;
  rc.max_logprobs = config_.max_logprobs;
  rc.return_logits = config_.return_logits;
  rc.use_graphs = !config_.enforce_eager;
  rc.max_seq_len_to_capture = config_.max_seq_len_to_capture;
  runner_ = std::make_unique<ModelRunner>(*backend_, *model_, rc);
  // Not with logits copied back (testing): those steps wait for the device.
  const int ahead = config_.launch_ahead;
  launch_ahead_ = !config_.return_logits &&
                  (ahead >= 0 ? ahead == 1 : config_.async_scheduling && backend_->runs_asynchronously());
  if (profile) {
    num_blocks = profile_kv_blocks();
    runner_->resize_kv_cache(num_blocks);
  }
  validate_engine(config_, num_blocks);
  blocks_ = std::make_unique<BlockManager>(num_blocks, config_.block_size);
  scheduler_ = std::make_unique<Scheduler>(
      SchedulerConfig{config_.max_num_seqs, config_.max_num_batched_tokens}, *blocks_);
}

int64_t LLMEngine::kv_bytes_per_block() const {
  return ModelRunner::kv_block_bytes(config_.model, model_->activation_dtype(), config_.block_size);
}

// Blocks the profiling step needs: its max_num_batched_tokens prompt tokens over up to
// max_num_seqs sequences, each sequence's last block partly filled, and the padding block.
int LLMEngine::profiling_blocks() const {
  return (config_.max_num_batched_tokens + config_.block_size - 1) / config_.block_size + config_.max_num_seqs + 1;
}

// vLLM's way of sizing the KV cache: run the largest step the scheduler can form
// (max_num_batched_tokens prompt tokens over up to max_num_seqs sequences, each sampling with
// penalties, top_k/top_p and the most logprobs), so that every workspace has reached its peak;
// then the cache gets what gpu_memory_utilization leaves. Memory used by other processes on the
// same GPU counts as used, as it does in vLLM.
int LLMEngine::profile_kv_blocks() {
  const int bs = config_.block_size;
  BlockManager blocks(profiling_blocks(), bs);
  const int seqs = std::min(config_.max_num_seqs, config_.max_num_batched_tokens);
  std::vector<std::unique_ptr<Sequence>> owned;
  SchedulerOutput step;
  int remaining = config_.max_num_batched_tokens;
  for (int i = 0; i < seqs; ++i) {
    const int len = std::min(remaining / (seqs - i), config_.max_model_len - 1);
    if (len < 1) break;
    auto seq = std::make_unique<Sequence>();
    seq->id = -1 - i;
    seq->prompt_len = len;
    seq->tokens.assign(len, 0);
    seq->seed = static_cast<uint64_t>(i);
    seq->params.top_k = 50;
    seq->params.top_p = 0.9f;
    seq->params.repetition_penalty = 1.1f;
    seq->params.logprobs = config_.max_logprobs;
    blocks.grow(*seq, len);
    step.scheduled.push_back({seq.get(), len});
    step.num_tokens += len;
    remaining -= len;
    owned.push_back(std::move(seq));
  }
  SampledRows sampled;
  PromptLogprobRows prompt_logprobs;
  runner_->run(step, blocks, sampled, prompt_logprobs);
  backend_->synchronize();
  int64_t free_bytes = 0, total_bytes = 0;
  backend_->memory_info(&free_bytes, &total_bytes);
  const double util = config_.gpu_memory_utilization;
  const int64_t in_use = total_bytes - free_bytes - runner_->kv_cache_bytes();
  const int64_t budget = static_cast<int64_t>(util * static_cast<double>(total_bytes));
  const int64_t blocks_fit = (budget - in_use) / kv_bytes_per_block() - 1;  // one block pads graphs
  constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
  if (blocks_fit * bs < config_.max_model_len)
    fail("gpu_memory_utilization ", util, " allows ", budget / GiB, " GiB of the GPU's ", total_bytes / GiB,
         " GiB, but the model, its workspaces and other processes already use ", in_use / GiB,
         " GiB: that leaves room for ", std::max<int64_t>(blocks_fit, 0) * bs,
         " tokens of KV cache, fewer than max_model_len (", config_.max_model_len,
         "); raise gpu_memory_utilization or lower max_model_len, max_num_seqs or max_num_batched_tokens");
  return static_cast<int>(std::min<int64_t>(blocks_fit, 1 << 30));
}

LLMEngine::~LLMEngine() {
  if (ahead_) backend_->synchronize();  // the launched step still uses the runner's buffers
  // The runner and model release their tensors into the backend, so they go first.
  runner_.reset();
  model_.reset();
}

void LLMEngine::add_request(int64_t id, std::vector<int32_t> prompt, const SamplingParams& params, int64_t group) {
  if (scheduler_->contains(id)) fail("request id ", id, " is already in use");
  if (prompt.empty()) fail("the prompt is empty");
  for (int32_t t : prompt)
    if (t < 0 || t >= config_.model.vocab_size)
      fail("prompt token id ", t, " is outside the vocabulary (0..", config_.model.vocab_size - 1, ")");
  if (static_cast<int>(prompt.size()) >= config_.max_model_len)
    fail("the prompt has ", prompt.size(), " tokens; max_model_len is ", config_.max_model_len);
  auto seq = std::make_unique<Sequence>();
  seq->id = id;
  seq->group = group;
  seq->prompt_len = static_cast<int>(prompt.size());
  seq->tokens = std::move(prompt);
  seq->params = params;
  seq->seed = params.has_seed ? params.seed : seed_source_();
  seq->stop_ids = params.stop_token_ids;
  if (!params.ignore_eos)
    seq->stop_ids.insert(seq->stop_ids.end(), config_.eos_token_ids.begin(), config_.eos_token_ids.end());
  scheduler_->add(std::move(seq));
}

bool LLMEngine::holds(const SchedulerOutput& step, int64_t id) const {
  return std::any_of(step.scheduled.begin(), step.scheduled.end(),
                     [id](const ScheduledSequence& s) { return s.seq->id == id; });
}

bool LLMEngine::abort(int64_t id) {
  if (!scheduler_->contains(id)) return false;
  if (ahead_ && holds(ahead_->scheduled, id)) {
    aborted_ahead_.insert(id);  // the step in hand points at the sequence: remove it after
    return true;
  }
  return scheduler_->abort(id);
}

FinishReason LLMEngine::finish_reason(const Sequence& seq) const {
  const int32_t last = seq.tokens.back();
  const SamplingParams& p = seq.params;
  if (seq.num_output() >= p.min_tokens &&
      std::find(seq.stop_ids.begin(), seq.stop_ids.end(), last) != seq.stop_ids.end())
    return FinishReason::Stop;
  if (seq.num_output() >= p.max_tokens || seq.num_tokens() >= config_.max_model_len)
    return FinishReason::Length;
  return FinishReason::None;
}

StepOutput LLMEngine::step() {
  using Ms = std::chrono::duration<double, std::milli>;
  const auto entered = std::chrono::steady_clock::now();
  StepOutput out;
  SchedulerOutput scheduled;
  if (ahead_) {
    // Launched at the end of the last call: wait for its tokens.
    scheduled = std::move(ahead_->scheduled);
    out = std::move(ahead_->out);
    runner_->collect(out.sampled);
    const auto now = std::chrono::steady_clock::now();
    out.launch_to_result_ms = Ms(now - ahead_->launched).count();
    last_result_at_ = now;
    ahead_.reset();
  } else {
    scheduled = scheduler_->schedule();
    out.num_scheduled_tokens = scheduled.num_tokens;
    out.num_preempted = scheduled.num_preempted;
    runner_->run(scheduled, *blocks_, out.sampled, out.prompt_logprobs);
    if (!scheduled.scheduled.empty()) {
      // The device idled from the last step whose results came back until this launch. After a
      // step that returned without waiting (a prefill chunk sampling nothing), that is unknown: 0.
      const auto now = std::chrono::steady_clock::now(), launched = runner_->launched_at();
      if (last_result_at_ != std::chrono::steady_clock::time_point{})
        out.idle_before_launch_ms = Ms(launched - last_result_at_).count();
      out.launch_to_result_ms = runner_->waited() ? Ms(now - launched).count() : 0;
      out.prepare_ms = Ms(launched - entered).count();
      last_result_at_ = runner_->waited() ? now : std::chrono::steady_clock::time_point{};
    }
  }
  complete(scheduled, out);
  for (int64_t id : aborted_ahead_) scheduler_->abort(id);  // false for those that finished anyway
  aborted_ahead_.clear();
  if (launch_ahead_ && scheduler_->has_work()) launch_ahead();
  // With nothing left to run, the time until the next request arrives is not the host's doing.
  if (!has_work()) last_result_at_ = {};
  out.stats = stats();
  return out;
}

void LLMEngine::complete(const SchedulerOutput& scheduled, StepOutput& out) {
  for (const ScheduledSequence& s : scheduled.scheduled) s.seq->num_computed += s.num_new_tokens;
  for (size_t r = 0; r < out.sampled.seqs.size(); ++r) {
    Sequence* seq = out.sampled.seqs[r];
    const int32_t token = out.sampled.result.tokens[r];
    seq->tokens.push_back(token);
    const FinishReason reason = finish_reason(*seq);
    out.seq_ids.push_back(seq->id);
    out.tokens.push_back(token);
    out.finish_reasons.push_back(static_cast<uint8_t>(reason));
    if (reason != FinishReason::None) scheduler_->finish(seq);
  }
  out.sampled.seqs.clear();  // finished sequences are gone; ids are in seq_ids
}

// Only a step of decodes runs while the caller handles the last one's tokens (a prefill would
// hold back the tokens it returns with); the scheduler makes one when nothing can be admitted and
// every running sequence is decoding (runner_->launch checks it).
void LLMEngine::launch_ahead() {
  if (!scheduler_->only_decodes()) return;
  const auto began = std::chrono::steady_clock::now();
  SchedulerOutput next = scheduler_->schedule();
  if (next.scheduled.empty()) return;
  Ahead ahead;  // held only once launched: a launch that throws leaves no step to collect
  ahead.out.num_scheduled_tokens = next.num_tokens;
  ahead.out.num_preempted = next.num_preempted;
  runner_->launch(next, *blocks_, ahead.out.sampled);
  ahead.launched = runner_->launched_at();
  using Ms = std::chrono::duration<double, std::milli>;
  if (last_result_at_ != std::chrono::steady_clock::time_point{})
    ahead.out.idle_before_launch_ms = Ms(ahead.launched - last_result_at_).count();
  ahead.out.prepare_ms = Ms(ahead.launched - began).count();
  ahead.scheduled = std::move(next);
  ahead_ = std::move(ahead);
}

EngineStats LLMEngine::stats() const {
  EngineStats s;
  s.num_running = scheduler_->num_running();
  s.num_waiting = scheduler_->num_waiting();
  s.num_free_blocks = blocks_->num_free();
  s.num_blocks = blocks_->num_blocks();
  s.block_size = blocks_->block_size();
  s.total_preemptions = scheduler_->total_preemptions();
  return s;
}

}  // namespace nodellm
