// Liveness-based packing of an executor's buffers into one arena, for every backend: each
// buffer is live over an inclusive range of steps of the forward+backward timeline; buffers
// whose lives overlap get disjoint bytes, the others may share them. Planned once, then the
// backend allocates total_bytes() where it computes (host or device) and adds offset(id).
#pragma once

#include <cstddef>
#include <vector>

namespace bigbatch::nn {

class IntervalPlan {
 public:
  // Every offset is a multiple of `alignment` (bytes, a power of two).
  explicit IntervalPlan(size_t alignment);

  // A buffer of `bytes` live from step `first` to step `last` (inclusive); returns its id.
  int add(size_t bytes, int first, int last);
  // a and b occupy the same bytes (an in-place op, an aliased diff): one buffer whose size is
  // the larger and whose life is the union.
  void merge(int a, int b);
  bool same(int a, int b) { return find(a) == find(b); }

  // Places every buffer, largest first, at the lowest offset clear of the placed buffers whose
  // lives overlap its own; returns total_bytes(). Call once, after every add and merge.
  size_t pack();
  size_t offset(int id) const;
  size_t total_bytes() const { return total_; }

 private:
  struct Buffer {
    size_t bytes;
    int first, last;
    int parent;
    size_t offset = 0;
  };
  int find(int id);
  int root(int id) const;

  size_t alignment_;
  std::vector<Buffer> buffers_;
  size_t total_ = 0;
  bool packed_ = false;
};

}  // namespace bigbatch::nn
