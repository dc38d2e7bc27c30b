// TurboJPEG (libjpeg-turbo 2.x API): one handle per decoder, errors turned into exceptions
// that name the file.
#include "bigbatch/data/jpeg_codec.h"

#include <turbojpeg.h>

#include <algorithm>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

namespace {

// libjpeg's own limit on a dimension; larger headers are corrupt.
constexpr int64_t kMaxDimension = 65500;

std::string error_text(tjhandle handle) { return tjGetErrorStr2(handle); }

}  // namespace

JpegDecoder::JpegDecoder() : handle_(tjInitDecompress()) {
  if (handle_ == nullptr)
    BIGBATCH_THROW(Error, "[data:jpeg] cannot create a TurboJPEG decompressor: " << tjGetErrorStr2(nullptr));
}

JpegDecoder::~JpegDecoder() {
  if (handle_ != nullptr) tjDestroy(handle_);
}

JpegHeader JpegDecoder::read_header(std::span<const uint8_t> jpeg, const std::string& where, const std::string& name) {
  BIGBATCH_CHECK(!jpeg.empty(), where << " " << name << ": empty file, not a JPEG");
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(handle_, jpeg.data(), static_cast<unsigned long>(jpeg.size()), &width, &height, &subsamp,
                          &colorspace) != 0) {
    // A warning with the dimensions read is no reason to refuse the header; decode() judges.
    const bool warning = tjGetErrorCode(handle_) == TJERR_WARNING;
    if (!warning || width <= 0 || height <= 0) fail(where, name, "not a readable JPEG");
    reset();
  }
  BIGBATCH_CHECK(width > 0 && height > 0 && width <= kMaxDimension && height <= kMaxDimension,
                 where << " " << name << ": JPEG header gives an image of " << width << "x" << height);
  return {width, height, colorspace == TJCS_CMYK || colorspace == TJCS_YCCK};
}

void JpegDecoder::reset() {
  // TurboJPEG 2.x leaves a handle whose call failed half-way in a state that can mislead the
  // next call (a later header read as 0x0 was seen): start again with a fresh one.
  tjDestroy(handle_);
  handle_ = tjInitDecompress();
  if (handle_ == nullptr) BIGBATCH_THROW(Error, "[data:jpeg] cannot create a TurboJPEG decompressor");
}

void JpegDecoder::fail(const std::string& where, const std::string& name, const char* what) {
  const std::string text = error_text(handle_);
  reset();
  BIGBATCH_THROW(InvalidArgument, where << " " << name << ": " << what << ": " << text);
}

void JpegDecoder::decode(std::span<const uint8_t> jpeg, const JpegHeader& header, JpegScale scale, RgbImage& out,
                         const std::string& where, const std::string& name) {
  out.width = scale.apply(header.width);
  out.height = scale.apply(header.height);
  const bool cmyk = header.cmyk;
  const auto pixels = static_cast<size_t>(out.width * out.height);
  out.rgb.resize(pixels * 3);
  uint8_t* dst = out.rgb.data();
  if (cmyk) {
    cmyk_.resize(pixels * 4);
    dst = cmyk_.data();
  }
  // tjDecompress2 picks the DCT scale from the requested size: ask for exactly the scaled one.
  const int result =
      tjDecompress2(handle_, jpeg.data(), static_cast<unsigned long>(jpeg.size()), dst, static_cast<int>(out.width), 0,
                    static_cast<int>(out.height), cmyk ? TJPF_CMYK : TJPF_RGB, 0);
  if (result != 0) {
    const std::string text = error_text(handle_);
    // libjpeg reports a stream cut short as a warning and fills the rest with grey; PIL
    // refuses such a file ("image file is truncated"), and so do we. Other warnings
    // (extraneous bytes before a marker, ...) leave a complete image and are accepted.
    const bool warning = tjGetErrorCode(handle_) == TJERR_WARNING;
    if (!warning || text.find("Premature end") != std::string::npos) fail(where, name, "corrupt JPEG");
    reset();
  }
  if (cmyk) {
    // Adobe CMYK JPEGs store inverted ink values, so RGB = C·K/255 (as libjpeg-turbo's tjutil).
    for (size_t p = 0; p < pixels; ++p) {
      const uint8_t* s = cmyk_.data() + 4 * p;
      for (int c = 0; c < 3; ++c)
        out.rgb[3 * p + static_cast<size_t>(c)] = static_cast<uint8_t>((s[c] * s[3] + 127) / 255);
    }
  }
}

const std::vector<JpegScale>& jpeg_reducing_scales() {
  static const std::vector<JpegScale> scales = [] {
    int count = 0;
    const tjscalingfactor* factors = tjGetScalingFactors(&count);
    std::vector<JpegScale> out;
    for (int i = 0; i < count; ++i)
      if (factors[i].num <= factors[i].denom) out.push_back({factors[i].num, factors[i].denom});
    // Largest first: the caller takes the first too-small one's predecessor.
    std::sort(out.begin(), out.end(), [](JpegScale a, JpegScale b) { return a.num * b.denom > b.num * a.denom; });
    if (out.empty()) out.push_back({1, 1});
    return out;
  }();
  return scales;
}

const std::vector<JpegScale>& jpeg_fast_scales() {
  static const std::vector<JpegScale> scales = [] {
    std::vector<JpegScale> out;
    for (const JpegScale& s : jpeg_reducing_scales())
      if (s.num == 1 && (s.denom == 1 || s.denom == 2 || s.denom == 4 || s.denom == 8)) out.push_back(s);
    return out;
  }();
  return scales;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality) {
  BIGBATCH_CHECK(
      image.width > 0 && image.height > 0 && image.rgb.size() == static_cast<size_t>(image.width * image.height * 3),
      "[data:jpeg] cannot encode a " << image.width << "x" << image.height << " image of " << image.rgb.size()
                                     << " bytes");
  tjhandle handle = tjInitCompress();
  if (handle == nullptr) BIGBATCH_THROW(Error, "[data:jpeg] cannot create a TurboJPEG compressor");
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const int result = tjCompress2(handle, image.rgb.data(), static_cast<int>(image.width), 0,
                                 static_cast<int>(image.height), TJPF_RGB, &buffer, &size, TJSAMP_420, quality, 0);
  std::string text = result != 0 ? error_text(handle) : std::string();
  std::vector<uint8_t> out;
  if (result == 0) out.assign(buffer, buffer + size);
  tjFree(buffer);
  tjDestroy(handle);
  if (result != 0) BIGBATCH_THROW(Error, "[data:jpeg] encoding failed: " << text);
  return out;
}

}  // namespace bigbatch::data
