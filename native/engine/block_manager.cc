#include "engine/block_manager.h"

#include "common/check.h"

namespace nodellm {

BlockManager::BlockManager(int num_blocks, int block_size)
    : num_blocks_(num_blocks), block_size_(block_size) {
  NODELLM_CHECK(num_blocks > 0 && block_size > 0, "empty KV cache");
  free_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int BlockManager::blocks_needed(const Sequence& seq, int num_tokens) const {
  int want = (num_tokens + block_size_ - 1) / block_size_;
  int have = static_cast<int>(seq.blocks.size());
  return want > have ? want - have : 0;
}

void BlockManager::grow(Sequence& seq, int num_tokens) {
  int need = blocks_needed(seq, num_tokens);
  NODELLM_CHECK(need <= num_free(), "grow without free blocks");
  for (int i = 0; i < need; ++i) {
    seq.blocks.push_back(free_.back());
    free_.pop_back();
  }
}

void BlockManager::release(Sequence& seq) {
  for (auto it = seq.blocks.rbegin(); it != seq.blocks.rend(); ++it) free_.push_back(*it);
  seq.blocks.clear();
}

}  // namespace nodellm
