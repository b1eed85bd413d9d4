#include "engine/scheduler.h"

#include <algorithm>
#include <climits>

#include "common/check.h"

namespace nodellm {

namespace {

// Running slots one group may hold: all but a reserve kept for other groups' requests.
int max_running_per_group(int max_num_seqs) {
  if (max_num_seqs <= 1) return max_num_seqs;
  return max_num_seqs - std::max(1, max_num_seqs / 16);
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config, BlockManager& blocks)
    : config_(config), blocks_(blocks), max_running_per_group_(max_running_per_group(config.max_num_seqs)) {}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
  NODELLM_CHECK(!sequences_.count(seq->id), "duplicate sequence id ", seq->id);
  Sequence* raw = seq.get();
  sequences_.emplace(seq->id, std::move(seq));
  enqueue(raw);
}

void Scheduler::enqueue(Sequence* seq) {
  auto found = waiting_groups_.find(seq->group);
  if (found == waiting_groups_.end()) {
    waiting_.push_back({seq->group, {}});
    found = waiting_groups_.emplace(seq->group, std::prev(waiting_.end())).first;
  }
  found->second->seqs.push_back(seq);
  ++num_waiting_;
}

void Scheduler::dequeue(Sequence* seq) {
  auto p = std::find(preempted_.begin(), preempted_.end(), seq);
  if (p != preempted_.end()) {
    preempted_.erase(p);
    --num_waiting_;
    return;
  }
  auto found = waiting_groups_.find(seq->group);
  if (found == waiting_groups_.end()) return;
  auto& seqs = found->second->seqs;
  auto w = std::find(seqs.begin(), seqs.end(), seq);
  if (w == seqs.end()) return;
  seqs.erase(w);
  --num_waiting_;
  if (seqs.empty()) {
    waiting_.erase(found->second);
    waiting_groups_.erase(found);
  }
}

Sequence* Scheduler::next_waiting() const {
  if (!preempted_.empty()) return preempted_.front();
  const WaitingGroup* best = nullptr;
  int best_running = INT_MAX;
  for (const WaitingGroup& g : waiting_) {
    auto r = running_per_group_.find(g.group);
    const int running = r == running_per_group_.end() ? 0 : r->second;
    if (running >= max_running_per_group_ || running >= best_running) continue;
    best = &g;
    best_running = running;
    if (running == 0) break;  // no group can do better than one with nothing running
  }
  return best ? best->seqs.front() : nullptr;
}

void Scheduler::set_running(Sequence* seq, bool running) {
  if (running) {
    running_.push_back(seq);
    ++running_per_group_[seq->group];
    return;
  }
  auto r = std::find(running_.begin(), running_.end(), seq);
  if (r == running_.end()) return;
  running_.erase(r);
  auto count = running_per_group_.find(seq->group);
  if (--count->second == 0) running_per_group_.erase(count);
}

void Scheduler::forget(Sequence* seq) {
  blocks_.release(*seq);
  set_running(seq, false);
  dequeue(seq);
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
  const bool none_admitted = next_waiting() == nullptr || static_cast<int>(running_.size()) >= config_.max_num_seqs;
  return none_admitted && std::all_of(running_.begin(), running_.end(), [](const Sequence* s) {
           return s->num_computed + 1 == s->num_tokens();
         });
}

void Scheduler::preempt(Sequence* seq) {
  blocks_.release(*seq);
  seq->num_computed = 0;
  ++seq->num_preemptions;
  ++total_preemptions_;
  preempted_.push_front(seq);
  ++num_waiting_;
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
      set_running(victim, false);
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

  // Then preempted and new sequences, fairly between groups (next_waiting), unless this step had
  // to preempt: the cache is full.
  if (out.num_preempted == 0) {
    while (budget > 0 && static_cast<int>(running_.size()) < config_.max_num_seqs) {
      Sequence* seq = next_waiting();
      if (!seq) break;
      const int n = chunk_tokens(seq->num_tokens() - seq->num_computed, budget, false);
      if (n == 0 || !blocks_.can_grow(*seq, seq->num_computed + n)) break;
      dequeue(seq);
      blocks_.grow(*seq, seq->num_computed + n);
      set_running(seq, true);
      out.scheduled.push_back({seq, n});
      out.num_tokens += n;
      budget -= n;
    }
  }
  return out;
}

}  // namespace nodellm
