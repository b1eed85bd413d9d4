#include "engine/model_runner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"

namespace nodellm {

struct ModelRunner::Staging {
  Tensor token_ids, positions, slots;             // [max tokens]
  Tensor query_start, seq_lens, block_tables;     // per scheduled sequence
  Tensor sample_rows, hidden_rows, logits;        // rows that need logits
  Tensor targets, target_logprobs, top_ids, top_logprobs;  // prompt logprobs
};


ModelRunner::ModelRunner(Backend& backend, Model& model, RunnerConfig config)
    : backend_(backend),
      model_(model),
      config_(config),
      staging_(std::make_unique<Staging>()),
      sampling_(backend, config.max_num_seqs, config.max_logprobs) {
  const ModelConfig& c = model.config();
  const int tokens = config_.max_num_batched_tokens, seqs = config_.max_num_seqs;
  max_blocks_per_seq_ = (config_.max_model_len + config_.block_size - 1) / config_.block_size;
  activations_ = model.alloc_activations(tokens);
  alloc_kv_cache();
  Staging& s = *staging_;
  auto i32 = [&](int64_t rows, int64_t cols = 1) { return backend.alloc(DType::I32, rows, cols); };
  auto f32 = [&](int64_t rows, int64_t cols = 1) { return backend.alloc(DType::F32, rows, cols); };
  s.token_ids = i32(tokens);
  s.positions = i32(tokens);
  s.slots = i32(tokens);
  s.query_start = i32(seqs + 1);
  s.seq_lens = i32(seqs);
  s.block_tables = i32(seqs, max_blocks_per_seq_);
  s.sample_rows = i32(seqs);
  s.hidden_rows = backend.alloc(model.activation_dtype(), seqs, c.hidden_size);
  s.logits = f32(seqs, c.vocab_size);
  const int k = std::max(1, config_.max_logprobs);
  s.targets = i32(seqs);
  s.target_logprobs = f32(seqs);
  s.top_ids = i32(seqs, k);
  s.top_logprobs = f32(seqs, k);
}

void ModelRunner::alloc_kv_cache() {
  const ModelConfig& c = model_.config();
  // One block more than the block manager hands out: padding rows of graph steps write there.
  padding_slot_ = config_.num_blocks * config_.block_size;
  const int64_t slots = static_cast<int64_t>(config_.num_blocks + 1) * config_.block_size;
  for (int i = 0; i < c.num_hidden_layers; ++i)
    caches_.push_back({backend_.alloc(model_.activation_dtype(), slots, c.kv_dim()),
                       backend_.alloc(model_.activation_dtype(), slots, c.kv_dim())});
}

void ModelRunner::free_kv_cache() {
  for (const KvCache& cache : caches_) {
    backend_.release(cache.k);
    backend_.release(cache.v);
  }
  caches_.clear();
}

void ModelRunner::resize_kv_cache(int num_blocks) {
  NODELLM_CHECK(graphs_.empty(), "the KV cache cannot be resized after graphs are recorded");
  backend_.synchronize();
  free_kv_cache();
  config_.num_blocks = num_blocks;
  alloc_kv_cache();
}

int64_t ModelRunner::kv_block_bytes(const ModelConfig& c, DType dtype, int block_size) {
  return 2ll * c.num_hidden_layers * c.kv_dim() * static_cast<int64_t>(dtype_size(dtype)) * block_size;
}

int64_t ModelRunner::kv_cache_bytes() const {
  return (config_.num_blocks + 1) * kv_block_bytes(model_.config(), model_.activation_dtype(), config_.block_size);
}

ModelRunner::~ModelRunner() {
  model_.free_activations(activations_);
  free_kv_cache();
  Staging& s = *staging_;
  for (Tensor* t : {&s.token_ids, &s.positions, &s.slots, &s.query_start, &s.seq_lens,
                    &s.block_tables, &s.sample_rows, &s.hidden_rows, &s.logits, &s.targets,
                    &s.target_logprobs, &s.top_ids, &s.top_logprobs})
    backend_.release(*t);
}

void ModelRunner::upload_inputs(const SchedulerOutput& step, const BlockManager& blocks, int padded_rows) {
  const ModelConfig& c = model_.config();
  const int seqs = std::max(static_cast<int>(step.scheduled.size()), padded_rows);
  std::vector<int32_t> ids, positions, slots, query_start{0}, seq_lens, tables(seqs * max_blocks_per_seq_, 0);
  int max_query = 0, max_seq = 0;
  for (size_t i = 0; i < step.scheduled.size(); ++i) {
    const Sequence& seq = *step.scheduled[i].seq;
    const int n = step.scheduled[i].num_new_tokens;
    for (int p = seq.num_computed; p < seq.num_computed + n; ++p) {
      ids.push_back(seq.tokens[p]);
      positions.push_back(p);
      slots.push_back(blocks.slot(seq, p));
    }
    query_start.push_back(static_cast<int32_t>(ids.size()));
    seq_lens.push_back(seq.num_computed + n);
    std::copy(seq.blocks.begin(), seq.blocks.end(), tables.begin() + i * max_blocks_per_seq_);
    max_query = std::max(max_query, n);
    max_seq = std::max(max_seq, seq.num_computed + n);
  }
  // Padding rows: one-token sequences at position 0 whose K/V go to the reserved slot.
  for (int i = static_cast<int>(step.scheduled.size()); i < seqs; ++i) {
    ids.push_back(0);
    positions.push_back(0);
    slots.push_back(padding_slot_);
    query_start.push_back(static_cast<int32_t>(ids.size()));
    seq_lens.push_back(1);
  }
  Staging& s = *staging_;
  inputs_.token_ids = upload_front(backend_, s.token_ids, ids, DType::I32);
  inputs_.positions = upload_front(backend_, s.positions, positions, DType::I32);
  inputs_.slot_mapping = upload_front(backend_, s.slots, slots, DType::I32);
  AttentionBatch& a = inputs_.attention;
  a.query_start = upload_front(backend_, s.query_start, query_start, DType::I32);
  a.seq_lens = upload_front(backend_, s.seq_lens, seq_lens, DType::I32);
  a.block_tables = upload_front(backend_, s.block_tables, tables, DType::I32);
  a.num_seqs = seqs;
  // A graph replays the launches it recorded, so their bounds must not depend on the step.
  a.max_query_len = padded_rows > 0 ? 1 : max_query;
  a.max_seq_len = padded_rows > 0 ? config_.max_model_len : max_seq;
  a.block_size = config_.block_size;
  a.num_heads = c.num_attention_heads;
  a.num_kv_heads = c.num_key_value_heads;
  a.head_dim = c.head_dim;  // the model sets the scale, window and soft-capping of each layer
}

// The padded batch size of a step that can run as a graph: decode rows only (one new token each,
// each sampling), none scoring its prompt, contexts within max_seq_len_to_capture; 0 otherwise.
int ModelRunner::graph_bucket(const SchedulerOutput& step) const {
  if (!config_.use_graphs || !backend_.supports_graphs()) return 0;
  const int n = static_cast<int>(step.scheduled.size());
  for (const ScheduledSequence& s : step.scheduled) {
    const Sequence& seq = *s.seq;
    if (s.num_new_tokens != 1 || seq.num_computed + 1 != seq.num_tokens()) return 0;
    if (seq.num_tokens() > config_.max_seq_len_to_capture) return 0;
  }
  // vLLM's ladder: 1, 2, 4, then multiples of 8.
  const int bucket = n <= 2 ? n : n <= 4 ? 4 : (n + 7) / 8 * 8;
  return bucket <= config_.max_num_seqs ? bucket : 0;
}

void ModelRunner::launch_decode(const SchedulerOutput& step, const BlockManager& blocks, SampledRows& sampled,
                                int bucket) {
  // Every row samples: row i of the hidden states is sequence i's.
  upload_inputs(step, blocks, bucket);
  std::vector<int32_t> identity(bucket);
  for (int i = 0; i < bucket; ++i) identity[i] = i;
  const Tensor rows = upload_front(backend_, staging_->sample_rows, identity, DType::I32);
  auto it = graphs_.find(bucket);
  if (it == graphs_.end()) {
    backend_.begin_graph();
    model_.forward(inputs_, activations_, caches_);
    logits_for_rows(rows, bucket);
    it = graphs_.emplace(bucket, backend_.end_graph()).first;
  }
  launched_at_ = std::chrono::steady_clock::now();
  backend_.replay_graph(it->second);
  sampling_rows(step, sampled);
}

// Decode steps (one new token a row, every row sampling, no prompt to score), when the caller
// wants no logits copied back.
bool ModelRunner::can_launch(const SchedulerOutput& step) const {
  if (step.scheduled.empty() || config_.return_logits) return false;
  for (const ScheduledSequence& s : step.scheduled)
    if (s.num_new_tokens != 1 || s.seq->num_computed + 1 != s.seq->num_tokens()) return false;
  return true;
}

void ModelRunner::launch(const SchedulerOutput& step, const BlockManager& blocks, SampledRows& sampled) {
  NODELLM_CHECK(can_launch(step), "this step cannot be launched ahead");
  waited_ = false;
  const int bucket = graph_bucket(step);
  if (bucket > 0) launch_decode(step, blocks, sampled, bucket);
  else forward_eager(step, blocks, sampled, nullptr);
  sampling_.launch(staging_->logits.first_rows(static_cast<int64_t>(sampled.seqs.size())));
}

bool ModelRunner::forward_eager(const SchedulerOutput& step, const BlockManager& blocks, SampledRows& sampled,
                                PromptLogprobRows* prompt_logprobs) {
  upload_inputs(step, blocks, 0);
  launched_at_ = std::chrono::steady_clock::now();
  model_.forward(inputs_, activations_, caches_);
  if (prompt_logprobs) score_prompts(step, *prompt_logprobs);  // before the logits workspace is reused
  const std::vector<int32_t> rows = sampling_rows(step, sampled);
  if (rows.empty()) return false;
  logits_for_rows(upload_front(backend_, staging_->sample_rows, rows, DType::I32), step.num_tokens);
  return true;
}

void ModelRunner::collect(SampledRows& sampled) {
  sampled.result = sampling_.collect();
  waited_ = true;
}

void ModelRunner::run(const SchedulerOutput& step, const BlockManager& blocks,
                      SampledRows& sampled, PromptLogprobRows& prompt_logprobs) {
  waited_ = false;
  if (step.scheduled.empty()) return;
  const int bucket = graph_bucket(step);
  if (bucket > 0) {
    launch_decode(step, blocks, sampled, bucket);
    draw(static_cast<int>(step.scheduled.size()), sampled);
    return;
  }
  if (forward_eager(step, blocks, sampled, &prompt_logprobs)) draw(static_cast<int>(sampled.seqs.size()), sampled);
}

std::vector<int32_t> ModelRunner::sampling_rows(const SchedulerOutput& step, SampledRows& out) {
  std::vector<int32_t> rows;
  sampling_.clear();
  int row = 0;
  for (const ScheduledSequence& s : step.scheduled) {
    Sequence& seq = *s.seq;
    row += s.num_new_tokens;
    // Only a sequence whose every known token is now in the cache draws its next token.
    if (seq.num_computed + s.num_new_tokens < seq.num_tokens()) continue;
    const SamplingParams& p = seq.params;
    out.seqs.push_back(&seq);
    rows.push_back(row - 1);
    SamplingRow r;
    r.temperature = p.temperature;
    r.top_k = p.top_k;
    r.top_p = p.top_p;
    r.min_p = p.min_p;
    r.repetition_penalty = p.repetition_penalty;
    r.frequency_penalty = p.frequency_penalty;
    r.presence_penalty = p.presence_penalty;
    r.seed = seq.seed;
    r.output_pos = seq.num_output();
    r.num_logprobs = p.logprobs;
    r.history = seq.tokens.data();
    r.history_len = seq.num_tokens();
    r.prompt_len = seq.prompt_len;
    r.logit_bias = &p.logit_bias;
    r.masked = seq.num_output() < p.min_tokens ? &seq.stop_ids : nullptr;
    sampling_.add(r);
  }
  return rows;
}

// logits[i] = lm_head(final hidden state of row rows[i]).
void ModelRunner::logits_for_rows(const Tensor& rows, int num_tokens) {
  Staging& st = *staging_;
  const Tensor hidden = st.hidden_rows.first_rows(rows.rows), logits = st.logits.first_rows(rows.rows);
  backend_.gather_rows(hidden, activations_.normed.first_rows(num_tokens), rows);
  model_.lm_head(logits, hidden);
}

// Samples the first n rows of the logits (queued in sampling_) and brings the results back.
void ModelRunner::draw(int n, SampledRows& out) {
  const Tensor logits = staging_->logits.first_rows(n);
  if (config_.return_logits) {
    out.logits.resize(static_cast<size_t>(n) * logits.cols);
    backend_.download(out.logits.data(), logits);
  }
  out.result = sampling_.sample(logits);
  waited_ = true;  // the sampled tokens are back
}

void ModelRunner::score_prompts(const SchedulerOutput& step, PromptLogprobRows& out) {
  // Each prompt token j >= 1 is scored from the hidden state of position j - 1; the rows are
  // gathered and pushed through the LM head in slices that fit the logits workspace.
  std::vector<int32_t> rows, targets;
  int k = 0;
  int first_row = 0;
  for (const ScheduledSequence& s : step.scheduled) {
    Sequence& seq = *s.seq;
    const int begin = seq.num_computed, end = seq.num_computed + s.num_new_tokens;
    if (seq.params.prompt_logprobs >= 0) {
      for (int p = begin; p < end && p + 1 < seq.prompt_len; ++p) {
        if (p + 1 < seq.prompt_logprobs_done) continue;
        rows.push_back(first_row + (p - begin));
        targets.push_back(seq.tokens[p + 1]);
        out.seq_ids.push_back(seq.id);
        out.positions.push_back(p + 1);
        out.tokens.push_back(seq.tokens[p + 1]);
        seq.prompt_logprobs_done = p + 2;
      }
      k = std::max(k, seq.params.prompt_logprobs);
    }
    first_row += s.num_new_tokens;
  }
  if (rows.empty()) return;
  out.top_k = k;
  out.logprobs.resize(rows.size());
  out.top_ids.resize(rows.size() * k);
  out.top_logprobs.resize(rows.size() * k);
  Staging& st = *staging_;
  const Tensor hidden = activations_.normed.first_rows(step.num_tokens);
  const int slice = static_cast<int>(st.logits.rows);
  const int kk = std::max(1, k);
  for (size_t at = 0; at < rows.size(); at += slice) {
    const int n = static_cast<int>(std::min<size_t>(slice, rows.size() - at));
    std::vector<int32_t> slice_rows(rows.begin() + at, rows.begin() + at + n);
    std::vector<int32_t> slice_targets(targets.begin() + at, targets.begin() + at + n);
    Tensor gathered = st.hidden_rows.first_rows(n), logits = st.logits.first_rows(n);
    backend_.gather_rows(gathered, hidden, upload_front(backend_, st.sample_rows, slice_rows, DType::I32));
    model_.lm_head(logits, gathered);
    Tensor target_lp = st.target_logprobs.first_rows(n);
    Tensor top_ids = st.top_ids.first_rows(n).col_slice(0, kk);
    Tensor top_lp = st.top_logprobs.first_rows(n).col_slice(0, kk);
    backend_.logprobs(logits, upload_front(backend_, st.targets, slice_targets, DType::I32), k,
                      target_lp, top_ids, top_lp);
    backend_.download(out.logprobs.data() + at, target_lp);
    if (k > 0) {
      backend_.download(out.top_ids.data() + at * k, top_ids);
      backend_.download(out.top_logprobs.data() + at * k, top_lp);
    }
    waited_ = true;  // the scores are back, so the step's whole forward pass is done
  }
}

}  // namespace nodellm
