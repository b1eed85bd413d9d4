#include "engine/scheduler.h"

#include <algorithm>

#include "common/check.h"

namespace nodellm {

Scheduler::Scheduler(SchedulerConfig config, BlockManager& blocks)
    : config_(config), blocks_(blocks) {}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
  NODELLM_CHECK(!sequences_.count(seq->id), "duplicate sequence id ", seq->id);
  Sequence* raw = seq.get();
  sequences_.emplace(seq->id, std::move(seq));
  waiting_.push_back(raw);
}

void Scheduler::forget(Sequence* seq) {
  blocks_.release(*seq);
  auto r = std::find(running_.begin(), running_.end(), seq);
  if (r != running_.end()) running_.erase(r);
  auto w = std::find(waiting_.begin(), waiting_.end(), seq);
  if (w != waiting_.end()) waiting_.erase(w);
  sequences_.erase(seq->id);
}

bool Scheduler::abort(int64_t id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return false;
  forget(it->second.get());
  return true;
}

void Scheduler::finish(Sequence* seq) { forget(seq); }

bool Scheduler::only_decodes() const {
  const bool none_admitted = waiting_.empty() || static_cast<int>(running_.size()) >= config_.max_num_seqs;
  return none_admitted && std::all_of(running_.begin(), running_.end(), [](const Sequence* s) {
           return s->num_computed + 1 == s->num_tokens();
         });
}

void Scheduler::preempt(Sequence* seq) {
  blocks_.release(*seq);
  seq->num_computed = 0;
  ++seq->num_preemptions;
  ++total_preemptions_;
  waiting_.push_front(seq);
}

namespace {

// Tokens of a sequence's remaining ones to compute this step, given the budget left. A prompt
// (or a recompute) cut into chunks avoids chunks of a single token: such a chunk takes the decode
// attention kernel instead of the prefill kernel, whose sums are ordered differently, so where
// the budget happened to cut would change the numbers (batch invariance, README). So a cut never
// leaves one token for the last chunk, and a prompt not started yet waits rather than start with
// one token; one already started goes on a token at a time when decodes fill the step, rather
// than stall. 0: wait.
int chunk_tokens(int remaining, int budget, bool started) {
  if (remaining <= budget) return remaining;
  int n = budget;
  if (remaining - n == 1) --n;
  if (n >= 2) return n;
  return started ? budget : 0;
}

}  // namespace

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int budget = config_.max_num_batched_tokens;

  // Running sequences first: decodes, and prefills that were split over several steps.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i];
    const int n = chunk_tokens(seq->num_tokens() - seq->num_computed, budget, true);
    bool self_preempted = false;
    while (!blocks_.can_grow(*seq, seq->num_computed + n)) {
      Sequence* victim = running_.back();
      running_.pop_back();
      preempt(victim);
      ++out.num_preempted;
      if (victim == seq) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    blocks_.grow(*seq, seq->num_computed + n);
    out.scheduled.push_back({seq, n});
    out.num_tokens += n;
    budget -= n;
    ++i;
  }

  // Then new (or preempted) sequences, unless this step had to preempt: the cache is full.
  if (out.num_preempted == 0) {
    while (!waiting_.empty() && budget > 0 &&
           static_cast<int>(running_.size()) < config_.max_num_seqs) {
      Sequence* seq = waiting_.front();
      const int n = chunk_tokens(seq->num_tokens() - seq->num_computed, budget, false);
      if (n == 0 || !blocks_.can_grow(*seq, seq->num_computed + n)) break;
      waiting_.pop_front();
      blocks_.grow(*seq, seq->num_computed + n);
      running_.push_back(seq);
      out.scheduled.push_back({seq, n});
      out.num_tokens += n;
      budget -= n;
    }
  }
  return out;
}

}  // namespace nodellm
