// Greedy interval allocation over steps: groups in order of their first step take the
// smallest free block that fits, else grow the largest free block, else open a new one.
#include "bigbatch/backend/cpu/buffer_plan.h"

#include <algorithm>

#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

int BufferPlan::add(size_t bytes, int first, int last) {
  BIGBATCH_CHECK(first <= last, "[buffer_plan] empty lifetime " << first << ".." << last);
  const int id = static_cast<int>(buffers_.size());
  buffers_.push_back(Buffer{bytes, first, last, id});
  return id;
}

int BufferPlan::find(int id) {
  while (buffers_[static_cast<size_t>(id)].parent != id) {
    Buffer& b = buffers_[static_cast<size_t>(id)];
    b.parent = buffers_[static_cast<size_t>(b.parent)].parent;
    id = b.parent;
  }
  return id;
}

void BufferPlan::extend(int id, int last) {
  Buffer& root = buffers_[static_cast<size_t>(find(id))];
  root.last = std::max(root.last, last);
}

void BufferPlan::merge(int a, int b) {
  const int ra = find(a), rb = find(b);
  if (ra == rb) return;
  Buffer& x = buffers_[static_cast<size_t>(ra)];
  Buffer& y = buffers_[static_cast<size_t>(rb)];
  y.parent = ra;
  x.bytes = std::max(x.bytes, y.bytes);
  x.first = std::min(x.first, y.first);
  x.last = std::max(x.last, y.last);
}

void BufferPlan::allocate() {
  std::vector<int> roots;
  for (int i = 0; i < static_cast<int>(buffers_.size()); ++i)
    if (find(i) == i) roots.push_back(i);
  std::sort(roots.begin(), roots.end(), [&](int a, int b) {
    const Buffer &x = buffers_[static_cast<size_t>(a)], &y = buffers_[static_cast<size_t>(b)];
    return x.first != y.first ? x.first < y.first : x.bytes > y.bytes;
  });
  struct Block {
    size_t bytes;
    int busy_until;
  };
  std::vector<Block> blocks;
  for (int r : roots) {
    Buffer& b = buffers_[static_cast<size_t>(r)];
    int best = -1, largest = -1;
    for (int k = 0; k < static_cast<int>(blocks.size()); ++k) {
      const Block& blk = blocks[static_cast<size_t>(k)];
      if (blk.busy_until >= b.first) continue;
      if (blk.bytes >= b.bytes && (best < 0 || blk.bytes < blocks[static_cast<size_t>(best)].bytes)) best = k;
      if (largest < 0 || blk.bytes > blocks[static_cast<size_t>(largest)].bytes) largest = k;
    }
    if (best < 0) best = largest;
    if (best < 0) {
      best = static_cast<int>(blocks.size());
      blocks.push_back(Block{0, 0});
    }
    Block& blk = blocks[static_cast<size_t>(best)];
    blk.bytes = std::max(blk.bytes, b.bytes);
    blk.busy_until = b.last;
    b.block = best;
  }
  total_ = 0;
  for (const Block& blk : blocks) {
    blocks_.push_back(Storage::allocate(std::max<size_t>(blk.bytes, 1)));
    total_ += blk.bytes;
  }
}

void* BufferPlan::data(int id) const {
  int r = id;
  while (buffers_[static_cast<size_t>(r)].parent != r) r = buffers_[static_cast<size_t>(r)].parent;
  const int block = buffers_[static_cast<size_t>(r)].block;
  BIGBATCH_CHECK(block >= 0, "[buffer_plan] data() before allocate()");
  return blocks_[static_cast<size_t>(block)]->data();
}

}  // namespace bigbatch::backend::cpu
