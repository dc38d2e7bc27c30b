// Liveness-based sharing of activation and diff buffers: each buffer is live over a range of
// steps; buffers whose ranges do not overlap share one block, so a step's peak memory is
// close to the largest set of simultaneously live buffers. Planned once, then allocated.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "bigbatch/core/storage.h"

namespace bigbatch::backend::cpu {

class BufferPlan {
 public:
  // A buffer of `bytes` live from step `first` to step `last` (inclusive); returns its id.
  int add(size_t bytes, int first, int last);
  // Makes the buffer live at least until step `last`.
  void extend(int id, int last);
  // a and b occupy the same bytes (an in-place op or an aliased diff): one lifetime, the union.
  void merge(int a, int b);
  bool same(int a, int b) { return find(a) == find(b); }

  // Assigns blocks and allocates them; call once, after every add/extend/merge.
  void allocate();
  void* data(int id) const;
  size_t total_bytes() const { return total_; }

 private:
  struct Buffer {
    size_t bytes;
    int first, last;
    int parent;
    int block = -1;
  };
  int find(int id);

  std::vector<Buffer> buffers_;
  std::vector<std::shared_ptr<Storage>> blocks_;
  size_t total_ = 0;
};

}  // namespace bigbatch::backend::cpu
