// The scheduler decides, each step, which sequences run and how many of their tokens, under a
// token budget (max_num_batched_tokens) and a sequence limit (max_num_seqs), as vLLM v1 does:
// decodes and prefills share one step, long prompts are split into chunks, and when the KV cache
// runs out the most recently admitted running sequence is preempted (its blocks freed, to be
// recomputed later from its prompt and the output it already has).
#pragma once
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/block_manager.h"

namespace nodellm {

struct SchedulerConfig {
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
};

struct ScheduledSequence {
  Sequence* seq;
  int num_new_tokens;  // tokens [seq->num_computed, + num_new_tokens) run this step
};

struct SchedulerOutput {
  std::vector<ScheduledSequence> scheduled;
  int num_tokens = 0;
  int num_preempted = 0;
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, BlockManager& blocks);

  void add(std::unique_ptr<Sequence> seq);
  // Removes a sequence wherever it is and frees its blocks; false when it is unknown.
  bool abort(int64_t id);
  SchedulerOutput schedule();
  // Called for a sequence that finished during the step: frees its blocks.
  void finish(Sequence* seq);

  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  // Whether the next schedule() can only make a step of decodes: nothing waits (or max_num_seqs
  // sequences already run), and every running sequence has all its known tokens but the last in
  // the cache.
  bool only_decodes() const;
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  int64_t total_preemptions() const { return total_preemptions_; }
  bool contains(int64_t id) const { return sequences_.count(id) > 0; }

 private:
  void preempt(Sequence* seq);
  void forget(Sequence* seq);

  SchedulerConfig config_;
  BlockManager& blocks_;
  std::unordered_map<int64_t, std::unique_ptr<Sequence>> sequences_;
  std::deque<Sequence*> waiting_;   // first come, first served; preempted ones go to the front
  std::vector<Sequence*> running_;  // in admission order
  int64_t total_preemptions_ = 0;
};

}  // namespace nodellm
