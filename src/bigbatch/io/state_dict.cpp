// Arena <-> safetensors by state-dict name, with PyTorch's I64 num_batches_tracked scalars.
#include "bigbatch/io/state_dict.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "bigbatch/core/error.h"

namespace bigbatch::io {

namespace {

constexpr const char kNumBatchesTracked[] = ".num_batches_tracked";

bool convertible_to_f32(const std::string& dtype) {
  return dtype == "F32" || dtype == "BF16" || dtype == "F16" || dtype == "F64" || dtype == "I64" || dtype == "I32";
}

}  // namespace

bool is_num_batches_tracked(const std::string& name) {
  constexpr size_t n = sizeof(kNumBatchesTracked) - 1;
  return name.size() >= n && name.compare(name.size() - n, n, kNumBatchesTracked) == 0;
}

void add_arena(SafetensorsWriter& writer, const Arena& arena, const std::string& prefix) {
  for (int i = 0; i < arena.layout().size(); ++i) {
    const ArenaEntry& entry = arena.layout().entry(i);
    const Tensor& tensor = arena.tensor(i);
    BIGBATCH_CHECK(tensor.device() == Device::cpu, "[state_dict] tensor '" << entry.name << "' is not on the CPU");
    const std::string name = prefix + entry.name;
    if (!is_num_batches_tracked(entry.name)) {
      writer.add(name, "F32", entry.shape, tensor.raw(), tensor.nbytes());
      continue;
    }
    // A count kept in an f32 slot; exact up to 2^24, which no run reaches.
    BIGBATCH_CHECK(entry.shape.numel() == 1,
                   "[state_dict] tensor '" << entry.name << "' has shape " << entry.shape.to_string() << ", expected numel 1");
    const float count = tensor.data<float>()[0];
    BIGBATCH_CHECK(std::isfinite(count) && std::fabs(count) < 0x1p62f,
                   "[state_dict] tensor '" << entry.name << "' holds " << count << ", not a batch count");
    const int64_t value = std::llround(count);
    writer.add(name, "I64", Shape{}, &value, sizeof(value));
  }
}

std::string unfit_reason(const SafetensorsFile& file, const std::string& name, const ArenaEntry& entry) {
  if (!file.contains(name)) return "missing (expected shape " + entry.shape.to_string() + ")";
  const TensorInfo& info = file.info(name);
  const bool shape_ok = is_num_batches_tracked(entry.name) ? info.shape.numel() == 1 && entry.shape.numel() == 1
                                                           : info.shape == entry.shape;
  if (!shape_ok) return "has shape " + info.shape.to_string() + ", expected " + entry.shape.to_string();
  if (!convertible_to_f32(info.dtype)) return "is " + info.dtype + ", not convertible to f32";
  return {};
}

void load_arena(const SafetensorsFile& file, const Arena& arena, const std::string& prefix, bool strict) {
  const ArenaLayout& layout = arena.layout();
  // Pass 1: check everything, so that a bad file leaves the arena as it was.
  for (const ArenaEntry& entry : layout.entries()) {
    const std::string name = prefix + entry.name;
    const std::string why = unfit_reason(file, name, entry);
    BIGBATCH_CHECK(why.empty(), "[state_dict] " << file.path() << ": tensor '" << name << "' " << why);
  }
  if (strict) {
    for (const std::string& name : file.names()) {
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      BIGBATCH_CHECK(layout.find(name.substr(prefix.size())) >= 0,
                     "[state_dict] " << file.path() << ": unexpected tensor '" << name << "' (shape "
                                     << file.info(name).shape.to_string() << ")");
    }
  }
  // Pass 2: convert into the arena.
  for (int i = 0; i < layout.size(); ++i) {
    const std::string name = prefix + layout.entry(i).name;
    file.read_f32(name, arena.tensor(i).data<float>(), file.info(name).shape);
  }
}

}  // namespace bigbatch::io
