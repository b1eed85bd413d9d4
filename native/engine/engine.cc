#include "engine/engine.h"

#include <algorithm>
#include <thread>

#include "common/check.h"

namespace nodellm {

namespace {

int kv_blocks_for(const EngineConfig& c, DType cache_dtype) {
  if (c.num_blocks > 0) return c.num_blocks;
  // K and V, every layer.
  const int64_t bytes_per_block = 2ll * c.model.num_hidden_layers * c.model.kv_dim() *
                                  static_cast<int64_t>(dtype_size(cache_dtype)) * c.block_size;
  return static_cast<int>(std::min<int64_t>(c.kv_cache_bytes / bytes_per_block, 1 << 30));
}

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
  backend_ = make_backend(config_.device, threads, &backend_note_);
  weights_ = config_.dummy_weights ? std::make_unique<WeightSource>(config_.dummy_dtype)
                                   : std::make_unique<WeightSource>(config_.weight_files, config_.tensors);
  model_ = std::make_unique<LlamaModel>(*backend_, config_.model, *weights_, config_.max_model_len);
  const int num_blocks = kv_blocks_for(config_, model_->activation_dtype());
  validate_engine(config_, num_blocks);
  blocks_ = std::make_unique<BlockManager>(num_blocks, config_.block_size);
  scheduler_ = std::make_unique<Scheduler>(
      SchedulerConfig{config_.max_num_seqs, config_.max_num_batched_tokens}, *blocks_);
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
}

LLMEngine::~LLMEngine() {
  // The runner and model release their tensors into the backend, so they go first.
  runner_.reset();
  model_.reset();
}

void LLMEngine::add_request(int64_t id, std::vector<int32_t> prompt, const SamplingParams& params) {
  if (scheduler_->contains(id)) fail("request id ", id, " is already in use");
  if (prompt.empty()) fail("the prompt is empty");
  for (int32_t t : prompt)
    if (t < 0 || t >= config_.model.vocab_size)
      fail("prompt token id ", t, " is outside the vocabulary (0..", config_.model.vocab_size - 1, ")");
  if (static_cast<int>(prompt.size()) >= config_.max_model_len)
    fail("the prompt has ", prompt.size(), " tokens; max_model_len is ", config_.max_model_len);
  auto seq = std::make_unique<Sequence>();
  seq->id = id;
  seq->prompt_len = static_cast<int>(prompt.size());
  seq->tokens = std::move(prompt);
  seq->params = params;
  seq->seed = params.has_seed ? params.seed : seed_source_();
  seq->stop_ids = params.stop_token_ids;
  if (!params.ignore_eos)
    seq->stop_ids.insert(seq->stop_ids.end(), config_.eos_token_ids.begin(), config_.eos_token_ids.end());
  scheduler_->add(std::move(seq));
}

bool LLMEngine::abort(int64_t id) { return scheduler_->abort(id); }

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
  StepOutput out;
  SchedulerOutput scheduled = scheduler_->schedule();
  out.num_scheduled_tokens = scheduled.num_tokens;
  out.num_preempted = scheduled.num_preempted;
  runner_->run(scheduled, *blocks_, out.sampled, out.prompt_logprobs);
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
  out.stats = stats();
  return out;
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
