// PNG writer: the bytes decode back (dimensions, CRCs, pixels); the write is atomic; errors name the path.
#include "bigbatch/plot/png.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "bigbatch/core/error.h"
#include "plot/png_decode.h"

namespace bigbatch::plot {
namespace {

namespace fs = std::filesystem;
using testing::decode_png;

TEST(Png, EncodedBytesDecodeToTheSamePixels) {
  const int w = 37, h = 11;
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(i * 7919 % 251);
  testing::DecodedPng png = decode_png(encode_png(w, h, rgb));
  EXPECT_EQ(png.width, w);
  EXPECT_EQ(png.height, h);
  EXPECT_EQ(png.chunks, 3);  // IHDR, IDAT, IEND
  EXPECT_EQ(png.rgb, rgb);
}

TEST(Png, DecoderNoticesACorruptCrc) {
  std::vector<std::uint8_t> rgb(3, 200);
  std::vector<std::uint8_t> bytes = encode_png(1, 1, rgb);
  bytes[20] ^= 1;  // inside IHDR's data
  EXPECT_THROW(decode_png(bytes), std::runtime_error);
}

TEST(Png, WritesAtomicallyAndNamesThePathOnError) {
  const fs::path dir = fs::temp_directory_path() / ("bigbatch_png_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "a.png").string();
  std::vector<std::uint8_t> rgb(2 * 3 * 3, 50);
  write_png(path, 2, 3, rgb);
  write_png(path, 2, 3, rgb);  // over an existing file
  testing::DecodedPng png = decode_png(testing::read_bytes(path));
  EXPECT_EQ(png.width, 2);
  EXPECT_EQ(png.height, 3);
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1) << "the temp file was left behind";

  try {
    write_png((dir / "missing" / "b.png").string(), 2, 3, rgb);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[plot] " + (dir / "missing" / "b.png").string() + ": cannot create"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(write_png(path, 3, 3, rgb), InvalidArgument);  // 18 bytes for a 3x3 image
  EXPECT_THROW(encode_png(0, 3, {}), InvalidArgument);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bigbatch::plot
