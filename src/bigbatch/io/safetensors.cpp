// safetensors reader and atomic writer. The reader trusts nothing in the file: every
// length, offset and shape is checked before it is used, with overflow-safe arithmetic.
#include "bigbatch/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>

#include "bigbatch/core/atomic_file.h"
#include "bigbatch/core/error.h"

namespace bigbatch::io {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so is this host");

namespace {

using nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";

struct DTypeSize {
  const char* name;
  size_t size;
};

// Every dtype the format defines; data of any of them can be stored and skipped.
constexpr DTypeSize kDTypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
    {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},    {"U32", 4},     {"F32", 4},
    {"I64", 8},  {"U64", 8}, {"F64", 8},
};

// IEEE half to float, subnormals, infinities and NaN included.
float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // zero or subnormal
    return sign ? -magnitude : magnitude;
  }
  uint32_t bits = exponent == 0x1f ? (sign | 0x7f800000u | (mantissa << 13))
                                   : (sign | ((exponent + 112u) << 23) | (mantissa << 13));
  return std::bit_cast<float>(bits);
}

// Element i of a possibly unaligned little-endian array: memcpy keeps this free of UB.
template <class T>
T load(const uint8_t* src, int64_t i) {
  T value;
  std::memcpy(&value, src + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return value;
}

// Doubles beyond the float range become infinities explicitly: a plain cast would be UB.
float narrow(double x) {
  constexpr double kMax = std::numeric_limits<float>::max();
  if (x > kMax) return std::numeric_limits<float>::infinity();
  if (x < -kMax) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(x);
}

std::string errno_text() { return std::strerror(errno); }

void check_utf8(const std::string& text, const char* what) {
  try {
    (void)json(text).dump();
  } catch (const json::exception&) {
    BIGBATCH_THROW(InvalidArgument, "[safetensors] " << what << " is not valid UTF-8");
  }
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  for (const DTypeSize& d : kDTypes)
    if (dtype == d.name) return d.size;
  return 0;
}

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
  }
  return "?";
}

// ---- writer ----------------------------------------------------------------------------

void SafetensorsWriter::add(const std::string& name, const std::string& dtype, const Shape& shape, const void* data,
                            size_t nbytes) {
  BIGBATCH_CHECK(name != kMetadataKey, "[safetensors] '" << kMetadataKey << "' is reserved, not a tensor name");
  check_utf8(name, "tensor name");
  BIGBATCH_CHECK(!contains(name), "[safetensors] duplicate tensor '" << name << "'");
  size_t size = safetensors_dtype_size(dtype);
  BIGBATCH_CHECK(size != 0, "[safetensors] tensor '" << name << "': unknown dtype '" << dtype << "'");
  for (int64_t d : shape.dims())
    BIGBATCH_CHECK(d >= 0, "[safetensors] tensor '" << name << "': negative extent in shape " << shape.to_string());
  BIGBATCH_CHECK(static_cast<size_t>(shape.numel()) * size == nbytes,
                 "[safetensors] tensor '" << name << "': " << dtype << " " << shape.to_string() << " needs "
                                          << static_cast<size_t>(shape.numel()) * size << " bytes, got " << nbytes);
  BIGBATCH_CHECK(data != nullptr || nbytes == 0, "[safetensors] tensor '" << name << "': null data");
  const auto* bytes = static_cast<const uint8_t*>(data);
  tensors_.emplace(name, Entry{dtype, shape, std::vector<uint8_t>(bytes, bytes + nbytes)});
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  check_utf8(key, "metadata key");
  check_utf8(value, "metadata value");
  metadata_[key] = value;
}

void SafetensorsWriter::write_atomic(const std::string& path) const {
  // Largest elements first, then by name: each tensor starts at a multiple of its element
  // size, because the buffer itself starts at a multiple of 8.
  std::vector<std::pair<const std::string*, const Entry*>> order;
  for (const auto& [name, entry] : tensors_) order.emplace_back(&name, &entry);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return safetensors_dtype_size(a.second->dtype) > safetensors_dtype_size(b.second->dtype);
  });

  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, entry] : order) {
    uint64_t end = offset + entry->bytes.size();
    header[*name] = {{"dtype", entry->dtype}, {"shape", entry->shape.dims()}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  if (!metadata_.empty()) header[kMetadataKey] = metadata_;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the Rust reference pads with spaces to 8
  BIGBATCH_CHECK(text.size() <= kMaxHeaderBytes,
                 "[safetensors] " << path << ": header of " << text.size() << " bytes exceeds " << kMaxHeaderBytes);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));

  // Header length, header, then the tensors in `order`: written straight from the entries, not copied.
  std::vector<std::span<const uint8_t>> pieces = {{length, sizeof(length)},
                                                  {reinterpret_cast<const uint8_t*>(text.data()), text.size()}};
  for (const auto& item : order) pieces.emplace_back(item.second->bytes);
  write_file_atomic(path, pieces, "safetensors");
}

// ---- reader ----------------------------------------------------------------------------

#define BIGBATCH_SAFETENSORS_FAIL(message) BIGBATCH_THROW(InvalidArgument, "[safetensors] " << path << ": " << message)

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  SafetensorsFile result;
  result.path_ = path;

  // Read the whole file: a mapping would turn a file truncated under us into SIGBUS.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) BIGBATCH_SAFETENSORS_FAIL("cannot open: " << errno_text());
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    BIGBATCH_SAFETENSORS_FAIL("not a regular file");
  }
  const auto file_size = static_cast<uint64_t>(st.st_size);
  result.file_ = std::make_unique_for_overwrite<uint8_t[]>(std::max<uint64_t>(file_size, 1));
  uint64_t got = 0;
  while (got < file_size) {
    ssize_t r = ::read(fd, result.file_.get() + got, file_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<uint64_t>(r);
  }
  ::close(fd);
  if (got != file_size) BIGBATCH_SAFETENSORS_FAIL("read " << got << " of " << file_size << " bytes");

  // 1. The header length, then the header.
  if (file_size < 8) BIGBATCH_SAFETENSORS_FAIL("file is " << file_size << " bytes, shorter than the 8-byte header length");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(result.file_[static_cast<size_t>(i)]) << (8 * i);
  if (header_size > kMaxHeaderBytes) BIGBATCH_SAFETENSORS_FAIL("header length " << header_size << " exceeds " << kMaxHeaderBytes);
  if (header_size > file_size - 8)
    BIGBATCH_SAFETENSORS_FAIL("header length " << header_size << " exceeds the " << file_size - 8 << " bytes after it");
  result.data_start_ = static_cast<size_t>(8 + header_size);
  const uint64_t buffer_size = file_size - 8 - header_size;

  const uint8_t* header_begin = result.file_.get() + 8;
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_size, nullptr, /*allow_exceptions=*/false);
  } catch (const json::exception& e) {
    BIGBATCH_SAFETENSORS_FAIL("header is not valid JSON: " << e.what());
  }
  if (header.is_discarded()) BIGBATCH_SAFETENSORS_FAIL("header is not valid JSON");
  if (!header.is_object()) BIGBATCH_SAFETENSORS_FAIL("header is not a JSON object");

  // 2. Each entry: metadata, or a tensor with a known dtype, a shape and in-range offsets.
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) BIGBATCH_SAFETENSORS_FAIL("'" << kMetadataKey << "' is not an object");
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string()) BIGBATCH_SAFETENSORS_FAIL("metadata '" << key << "' is not a string");
        result.metadata_[key] = text.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': entry is not an object");
    auto dtype = value.find("dtype");
    auto shape = value.find("shape");
    auto offsets = value.find("data_offsets");
    if (dtype == value.end()) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': missing 'dtype'");
    if (shape == value.end()) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': missing 'shape'");
    if (offsets == value.end()) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': missing 'data_offsets'");

    if (!dtype->is_string()) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': 'dtype' is not a string");
    TensorInfo info;
    info.dtype = dtype->get<std::string>();
    const size_t element_size = safetensors_dtype_size(info.dtype);
    if (element_size == 0) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': unknown dtype '" << info.dtype << "'");

    // numel must fit int64 (Shape::numel) whatever the order of the extents, so bound
    // the product of the non-zero ones; a zero extent still makes numel 0.
    if (!shape->is_array()) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': 'shape' is not an array");
    std::vector<int64_t> dims;
    uint64_t nonzero_product = 1;
    bool has_zero = false;
    constexpr auto kMaxElems = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    for (const json& d : *shape) {
      if (!d.is_number_unsigned()) BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': shape extent " << d.dump() << " is not a non-negative integer");
      const auto extent = d.get<uint64_t>();
      if (extent > kMaxElems / nonzero_product)
        BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': shape " << shape->dump() << " has too many elements");
      if (extent == 0) has_zero = true;
      else nonzero_product *= extent;
      dims.push_back(static_cast<int64_t>(extent));
    }
    info.shape = Shape(std::move(dims));
    const uint64_t numel = has_zero ? 0 : nonzero_product;
    if (numel > std::numeric_limits<uint64_t>::max() / element_size)
      BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': shape " << shape->dump() << " has too many bytes");

    if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': 'data_offsets' is not [begin, end]: " << offsets->dump());
    info.begin = (*offsets)[0].get<uint64_t>();
    info.end = (*offsets)[1].get<uint64_t>();
    if (info.begin > info.end || info.end > buffer_size)
      BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': data_offsets [" << info.begin << ", " << info.end
                                  << "] out of range of the " << buffer_size << "-byte data buffer");
    if (info.nbytes() != numel * element_size)
      BIGBATCH_SAFETENSORS_FAIL("tensor '" << name << "': " << info.dtype << " " << info.shape.to_string() << " needs "
                                  << numel * element_size << " bytes, data_offsets give " << info.nbytes());
    result.tensors_.emplace(name, std::move(info));
  }

  // 3. The tensors tile the buffer exactly: no overlap, no gap, no trailing bytes.
  std::vector<std::tuple<uint64_t, uint64_t, const std::string*>> ranges;
  for (const auto& [name, info] : result.tensors_) ranges.emplace_back(info.begin, info.end, &name);
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  const std::string* previous = nullptr;
  for (const auto& [begin, end, name] : ranges) {
    if (begin < covered)
      BIGBATCH_SAFETENSORS_FAIL("tensors '" << *previous << "' and '" << *name << "' overlap at byte " << begin);
    if (begin > covered) BIGBATCH_SAFETENSORS_FAIL("bytes [" << covered << ", " << begin << ") of the data buffer belong to no tensor");
    covered = end;
    previous = name;
  }
  if (covered != buffer_size)
    BIGBATCH_SAFETENSORS_FAIL(buffer_size - covered << " trailing bytes after the last tensor belong to no tensor");
  return result;
}

#undef BIGBATCH_SAFETENSORS_FAIL

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, info] : tensors_) out.push_back(name);
  return out;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  BIGBATCH_CHECK(it != tensors_.end(), "[safetensors] " << path_ << ": no tensor '" << name << "'");
  return it->second;
}

std::span<const uint8_t> SafetensorsFile::raw(const std::string& name) const {
  const TensorInfo& i = info(name);
  return {file_.get() + data_start_ + i.begin, static_cast<size_t>(i.nbytes())};
}

void SafetensorsFile::read_f32(const std::string& name, float* dst, const Shape& expected) const {
  const TensorInfo& i = info(name);
  BIGBATCH_CHECK(i.shape == expected, "[safetensors] " << path_ << ": tensor '" << name << "' has shape "
                                                       << i.shape.to_string() << ", expected " << expected.to_string());
  const uint8_t* src = raw(name).data();
  const int64_t n = i.shape.numel();
  if (i.dtype == "F32") {
    if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  } else if (i.dtype == "BF16") {
    for (int64_t k = 0; k < n; ++k) dst[k] = bf16_to_f32(load<uint16_t>(src, k));
  } else if (i.dtype == "F16") {
    for (int64_t k = 0; k < n; ++k) dst[k] = f16_to_f32(load<uint16_t>(src, k));
  } else if (i.dtype == "F64") {
    for (int64_t k = 0; k < n; ++k) dst[k] = narrow(load<double>(src, k));
  } else if (i.dtype == "I64") {
    for (int64_t k = 0; k < n; ++k) dst[k] = static_cast<float>(load<int64_t>(src, k));
  } else if (i.dtype == "I32") {
    for (int64_t k = 0; k < n; ++k) dst[k] = static_cast<float>(load<int32_t>(src, k));
  } else {
    BIGBATCH_THROW(InvalidArgument,
                   "[safetensors] " << path_ << ": tensor '" << name << "' is " << i.dtype << ", not convertible to f32");
  }
}

}  // namespace bigbatch::io
