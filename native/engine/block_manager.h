// The paged KV cache's bookkeeping: fixed-size blocks handed to sequences as they grow and
// returned when they finish or are preempted.
#pragma once
#include <vector>

#include "engine/sequence.h"

namespace nodellm {

class BlockManager {
 public:
  BlockManager(int num_blocks, int block_size);

  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  int num_free() const { return static_cast<int>(free_.size()); }
  double usage() const { return 1.0 - static_cast<double>(num_free()) / num_blocks_; }

  int blocks_needed(const Sequence& seq, int num_tokens) const;
  bool can_grow(const Sequence& seq, int num_tokens) const {
    return blocks_needed(seq, num_tokens) <= num_free();
  }
  // Gives the sequence enough blocks to hold num_tokens tokens.
  void grow(Sequence& seq, int num_tokens);
  void release(Sequence& seq);
  int32_t slot(const Sequence& seq, int position) const {
    return seq.blocks[position / block_size_] * block_size_ + position % block_size_;
  }

 private:
  int num_blocks_;
  int block_size_;
  std::vector<int32_t> free_;  // a stack: the most recently freed block is reused first
};

}  // namespace nodellm
