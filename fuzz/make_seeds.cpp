// Writes the seed corpora of the fuzz targets: OUT/<target>/<name>, a few small valid (and
// nearly valid) inputs each, made with the project's own writers so that they follow the
// formats as they change. Usage: fuzz_seeds OUT [CONFIG.toml ...] (configs are copied as seeds
// of toml_config).
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bigbatch/data/image_shards.h"
#include "bigbatch/data/jpeg_codec.h"
#include "bigbatch/io/safetensors.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

fs::path g_out;

void write(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream out(g_out / target / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_u32_be(Bytes& b, uint32_t v) {
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u32_le(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

Bytes gzip(const Bytes& plain) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15 + 16: a gzip wrapper
  Bytes out(deflateBound(&z, static_cast<uLong>(plain.size())) + 32);
  z.next_in = const_cast<Bytef*>(plain.data());
  z.avail_in = static_cast<uInt>(plain.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// [u32 LE length of first][first][second]: the framing of the two-file targets.
Bytes framed(const Bytes& first, const Bytes& second) {
  Bytes b;
  put_u32_le(b, static_cast<uint32_t>(first.size()));
  b.insert(b.end(), first.begin(), first.end());
  b.insert(b.end(), second.begin(), second.end());
  return b;
}

void safetensors_seeds() {
  const fs::path tmp = g_out / "safetensors.tmp";
  auto emit = [&](const std::string& name, const bigbatch::io::SafetensorsWriter& w) {
    w.write_atomic(tmp.string());
    write("safetensors", name, read(tmp));
    fs::remove(tmp);
  };
  const float f32[6] = {1.0f, -2.0f, 0.5f, 3.0e38f, 0.0f, -0.0f};
  const uint16_t half[4] = {0x3c00, 0x7c00, 0x0001, 0xfe00};
  const int64_t i64[2] = {1, -(int64_t{1} << 40)};
  const uint8_t u8[3] = {1, 2, 3};
  bigbatch::io::SafetensorsWriter a;
  a.add("conv1.weight", "F32", bigbatch::Shape({2, 3}), f32, sizeof f32);
  a.add("bn1.num_batches_tracked", "I64", bigbatch::Shape(), i64, 8);
  a.set_metadata("epoch", "3");
  emit("checkpoint", a);
  bigbatch::io::SafetensorsWriter b;
  b.add("h", "F16", bigbatch::Shape({4}), half, sizeof half);
  b.add("b", "BF16", bigbatch::Shape({2, 2}), half, sizeof half);
  b.add("i", "I64", bigbatch::Shape({2}), i64, sizeof i64);
  b.add("u", "U8", bigbatch::Shape({3}), u8, sizeof u8);
  b.add("empty", "F64", bigbatch::Shape({0, 5}), nullptr, 0);
  emit("dtypes", b);
  write("safetensors", "empty_header", {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
}

void idx_seeds() {
  Bytes images, labels;
  put_u32_be(images, 0x803);
  put_u32_be(images, 2);
  put_u32_be(images, 3);
  put_u32_be(images, 2);
  for (int i = 0; i < 12; ++i) images.push_back(static_cast<uint8_t>(i * 20));
  put_u32_be(labels, 0x801);
  put_u32_be(labels, 2);
  labels.push_back(3);
  labels.push_back(9);
  write("idx", "plain", framed(images, labels));
  write("idx", "gzip", framed(gzip(images), gzip(labels)));
  write("idx", "gzip_images", framed(gzip(images), labels));
}

void cifar_seeds() {
  for (int layout = 0; layout < 3; ++layout) {
    const int label_bytes = layout == 0 ? 1 : 2;
    Bytes file;
    for (int r = 0; r < 2; ++r) {
      for (int l = 0; l < label_bytes; ++l) file.push_back(static_cast<uint8_t>(r + l));
      for (int p = 0; p < 3072; ++p) file.push_back(static_cast<uint8_t>(p * 7 + r));
    }
    Bytes plain{static_cast<uint8_t>(layout)}, packed{static_cast<uint8_t>(layout)};
    plain.insert(plain.end(), file.begin(), file.end());
    const Bytes z = gzip(file);
    packed.insert(packed.end(), z.begin(), z.end());
    write("cifar", "layout" + std::to_string(layout) + "_plain", plain);
    write("cifar", "layout" + std::to_string(layout) + "_gzip", packed);
  }
}

bigbatch::data::RgbImage test_image(int64_t width, int64_t height) {
  bigbatch::data::RgbImage image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width * height * 3));
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = static_cast<uint8_t>((i * 37) ^ (i / 3));
  return image;
}

std::vector<Bytes> jpeg_seeds() {
  using bigbatch::data::ChromaSubsampling;
  struct Case {
    const char* name;
    int64_t width, height;
    ChromaSubsampling chroma;
    bool progressive;
  };
  const Case cases[] = {{"s420_16x16", 16, 16, ChromaSubsampling::s420, false},
                        {"s444_progressive_9x13", 9, 13, ChromaSubsampling::s444, true},
                        {"s422_33x8", 33, 8, ChromaSubsampling::s422, false},
                        {"s440_progressive_24x17", 24, 17, ChromaSubsampling::s440, true}};
  std::vector<Bytes> all;
  for (const Case& c : cases) {
    all.push_back(bigbatch::data::encode_jpeg(test_image(c.width, c.height), 75, c.chroma, c.progressive));
    write("jpeg", c.name, all.back());
  }
  return all;
}

void shard_seeds(const std::vector<Bytes>& jpegs) {
  // One shard of two records, then the index body without its CRC (the target appends it).
  Bytes shard;
  bigbatch::data::ShardIndex index;
  index.class_names = {"cat", "dog"};
  index.shard_files = {"train-00000.shard"};
  for (int i = 0; i < 2; ++i) {
    const Bytes& jpeg = jpegs[static_cast<size_t>(i)];
    bigbatch::data::ShardRecord r;
    r.shard = 0;
    r.offset = shard.size();
    r.length = static_cast<uint32_t>(jpeg.size());
    r.label = i;
    r.crc32 = static_cast<uint32_t>(::crc32(0L, jpeg.data(), static_cast<uInt>(jpeg.size())));
    r.path = (i == 0 ? "cat/a.jpg" : "dog/b.jpg");
    put_u32_le(shard, bigbatch::data::kShardRecordMagic);
    put_u32_le(shard, r.length);
    shard.insert(shard.end(), jpeg.begin(), jpeg.end());
    index.records.push_back(r);
  }
  Bytes body = bigbatch::data::encode_shard_index(index);
  body.resize(body.size() - 4);
  write("shards", "two_records", framed(body, shard));
  index.records.clear();
  Bytes empty = bigbatch::data::encode_shard_index(index);
  empty.resize(empty.size() - 4);
  write("shards", "no_records", framed(empty, {}));
}

void toml_seeds(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) write("toml_config", fs::path(argv[i]).filename().string(), read(argv[i]));
  const std::string text =
      "global_batch = 4096\nlr = 1e-1\ndecay_epochs = []\nnesterov = true\nseed = 18446744073709551615\n"
      "precision = \"bf16\"\n# a comment\nout = 'runs/x'\n";
  write("toml_config", "types.toml", Bytes(text.begin(), text.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT [CONFIG.toml ...]\n");
    return 2;
  }
  g_out = argv[1];
  fs::create_directories(g_out);
  safetensors_seeds();
  idx_seeds();
  cifar_seeds();
  shard_seeds(jpeg_seeds());
  toml_seeds(argc, argv);
  return 0;
}
