// Union-find for merged buffers, then first fit by address among the live-overlapping ones.
#include "bigbatch/nn/interval_plan.h"

#include <algorithm>

#include "bigbatch/core/error.h"

namespace bigbatch::nn {

IntervalPlan::IntervalPlan(size_t alignment) : alignment_(alignment) {
  BIGBATCH_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0,
                 "[interval_plan] alignment must be a power of two, got " << alignment);
}

int IntervalPlan::add(size_t bytes, int first, int last) {
  BIGBATCH_CHECK(!packed_, "[interval_plan] add() after pack()");
  BIGBATCH_CHECK(first <= last, "[interval_plan] empty lifetime " << first << ".." << last);
  const int id = static_cast<int>(buffers_.size());
  buffers_.push_back(Buffer{(bytes + alignment_ - 1) / alignment_ * alignment_, first, last, id});
  return id;
}

int IntervalPlan::find(int id) {
  while (buffers_[static_cast<size_t>(id)].parent != id) {
    Buffer& b = buffers_[static_cast<size_t>(id)];
    b.parent = buffers_[static_cast<size_t>(b.parent)].parent;
    id = b.parent;
  }
  return id;
}

int IntervalPlan::root(int id) const {
  while (buffers_[static_cast<size_t>(id)].parent != id) id = buffers_[static_cast<size_t>(id)].parent;
  return id;
}

void IntervalPlan::merge(int a, int b) {
  BIGBATCH_CHECK(!packed_, "[interval_plan] merge() after pack()");
  const int ra = find(a), rb = find(b);
  if (ra == rb) return;
  Buffer& x = buffers_[static_cast<size_t>(ra)];
  Buffer& y = buffers_[static_cast<size_t>(rb)];
  y.parent = ra;
  x.bytes = std::max(x.bytes, y.bytes);
  x.first = std::min(x.first, y.first);
  x.last = std::max(x.last, y.last);
}

size_t IntervalPlan::pack() {
  BIGBATCH_CHECK(!packed_, "[interval_plan] pack() twice");
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(buffers_.size()); ++i)
    if (find(i) == i) order.push_back(i);
  // Largest first (ties by first step, then id): the big buffers set the arena's shape.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const Buffer &x = buffers_[static_cast<size_t>(a)], &y = buffers_[static_cast<size_t>(b)];
    return x.bytes != y.bytes ? x.bytes > y.bytes : x.first < y.first;
  });
  std::vector<const Buffer*> placed, conflicts;
  total_ = 0;
  for (int id : order) {
    Buffer& b = buffers_[static_cast<size_t>(id)];
    conflicts.clear();
    for (const Buffer* q : placed)
      if (q->first <= b.last && b.first <= q->last) conflicts.push_back(q);
    std::sort(conflicts.begin(), conflicts.end(),
              [](const Buffer* x, const Buffer* y) { return x->offset < y->offset; });
    size_t offset = 0;
    for (const Buffer* q : conflicts) {
      if (offset + b.bytes <= q->offset) break;
      offset = std::max(offset, q->offset + q->bytes);
    }
    b.offset = offset;
    total_ = std::max(total_, offset + b.bytes);
    placed.push_back(&b);
  }
  packed_ = true;
  return total_;
}

size_t IntervalPlan::offset(int id) const {
  BIGBATCH_CHECK(packed_, "[interval_plan] offset() before pack()");
  BIGBATCH_CHECK(id >= 0 && id < static_cast<int>(buffers_.size()), "[interval_plan] no buffer " << id);
  return buffers_[static_cast<size_t>(root(id))].offset;
}

}  // namespace bigbatch::nn
