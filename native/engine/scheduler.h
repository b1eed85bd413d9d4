// The scheduler decides, each step, which sequences run and how many of their tokens, under a
// token budget (max_num_batched_tokens) and a sequence limit (max_num_seqs), as vLLM v1 does:
// decodes and prefills share one step, long prompts are split into chunks, and when the KV cache
// runs out the most recently admitted running sequence is preempted (its blocks freed, to be
// recomputed later from its prompt and the output it already has).
//
// Unlike vLLM's first-come-first-served queue, waiting sequences are admitted fairly between
// groups (a group is one caller's request: an HTTP request with several prompts or n > 1, or a
// job): preempted sequences first, then the group with the fewest sequences running, ties to the
// group that has waited longest. One group may hold at most max_num_seqs - reserve running slots
// (reserve = max_num_seqs / 16, at least 1), so a small request sent during a large fan-out
// starts within a few steps instead of after the fan-out. Groups of one sequence each are
// admitted in arrival order, exactly as before.
#pragma once
#include <deque>
#include <list>
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

  bool has_work() const { return num_waiting_ > 0 || !running_.empty(); }
  // Whether the next schedule() can only make a step of decodes: nothing waits (or max_num_seqs
  // sequences already run), and every running sequence has all its known tokens but the last in
  // the cache.
  bool only_decodes() const;
  int num_waiting() const { return num_waiting_; }
  int num_running() const { return static_cast<int>(running_.size()); }
  int64_t total_preemptions() const { return total_preemptions_; }
  bool contains(int64_t id) const { return sequences_.count(id) > 0; }

 private:
  // The sequences of one group that wait, in arrival order.
  struct WaitingGroup {
    int64_t group;
    std::deque<Sequence*> seqs;
  };

  void preempt(Sequence* seq);
  void forget(Sequence* seq);
  void enqueue(Sequence* seq);
  // The waiting sequence to admit next (nullptr: none may start), and taking it off the queue.
  Sequence* next_waiting() const;
  void dequeue(Sequence* seq);
  void set_running(Sequence* seq, bool running);

  SchedulerConfig config_;
  BlockManager& blocks_;
  int max_running_per_group_;
  std::unordered_map<int64_t, std::unique_ptr<Sequence>> sequences_;
  std::deque<Sequence*> preempted_;      // waiting to be recomputed; the latest preempted first
  std::list<WaitingGroup> waiting_;      // new sequences, by group, groups in arrival order
  std::unordered_map<int64_t, std::list<WaitingGroup>::iterator> waiting_groups_;
  int num_waiting_ = 0;
  std::vector<Sequence*> running_;       // in admission order
  std::unordered_map<int64_t, int> running_per_group_;
  int64_t total_preemptions_ = 0;
};

}  // namespace nodellm
