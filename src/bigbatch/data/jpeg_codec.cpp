// libjpeg (libjpeg-turbo 2.x): one decompressor per decoder, reused from image to image; errors
// leave libjpeg by longjmp and become exceptions that name the file.
#include "bigbatch/data/jpeg_codec.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "bigbatch/core/error.h"

// After <cstdio>: jpeglib.h uses FILE and size_t without including their headers.
#include <jerror.h>
#include <jpeglib.h>

namespace bigbatch::data {

namespace {

// libjpeg's own limit on a dimension; larger headers are corrupt.
constexpr int64_t kMaxDimension = 65500;

// The most libjpeg needs for a width × height image: progressive and multi-scan files keep
// every DCT coefficient (2 bytes each, at most 4 full-resolution components: 8 bytes a pixel,
// blocks rounded out to whole iMCUs), plus row buffers and tables. libjpeg-turbo's memory
// manager refuses a larger coefficient buffer ("backing store not supported").
long libjpeg_memory_cap(int64_t width, int64_t height) {
  constexpr int64_t kPad = 64, kTables = int64_t{64} << 20;
  return static_cast<long>(8 * (width + kPad) * (height + kPad) + kTables);
}

// Fancy upsampling makes a pixel from its chroma sample and the neighbouring one, and treats a
// cropped window's edge as the image's edge: columns this far inside the window decode to the
// same bytes as in the whole image (rows need no margin: libjpeg keeps the context rows).
constexpr int64_t kColumnMargin = 2;

// libjpeg's error manager, extended: where to jump on an error, and the two warnings that
// matter, both data running out (libjpeg fills the rest of the image with grey and goes on).
struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg's callbacks get a pointer to it
  std::jmp_buf jump;
  bool premature_end = false;  // JWRN_JPEG_EOF: the file ended
  bool short_segment = false;  // JWRN_HIT_MARKER: a scan's data ended before its last block
};

[[noreturn]] void jump_on_error(j_common_ptr info) {
  std::longjmp(reinterpret_cast<ErrorManager*>(info->err)->jump, 1);
}

void note_warning(j_common_ptr info, int level) {
  if (level >= 0) return;  // trace messages
  auto* errors = reinterpret_cast<ErrorManager*>(info->err);
  if (info->err->msg_code == JWRN_JPEG_EOF) errors->premature_end = true;
  if (info->err->msg_code == JWRN_HIT_MARKER) errors->short_segment = true;
  ++info->err->num_warnings;  // other warnings (extraneous bytes before a marker, ...) leave a whole image
}

void install(ErrorManager& errors) {
  jpeg_std_error(&errors.pub);
  errors.pub.error_exit = jump_on_error;
  errors.pub.emit_message = note_warning;
}

std::string message_of(j_common_ptr info) {
  char text[JMSG_LENGTH_MAX] = {};
  (*info->err->format_message)(info, text);
  return text;
}

// A stream cut short has no end-of-image marker after its first scan. (0xFF 0xD9 cannot occur
// inside entropy-coded data, where every 0xFF is followed by 0x00 or a restart marker.)
bool has_end_marker(std::span<const uint8_t> jpeg, size_t scan_start) {
  for (size_t i = jpeg.size(); i >= scan_start + 2; --i)
    if (jpeg[i - 2] == 0xFF && jpeg[i - 1] == 0xD9) return true;
  return false;
}

}  // namespace

struct JpegDecoder::State {
  jpeg_decompress_struct info{};
  ErrorManager errors{};
  size_t scan_start = 0;  // the offset of the first scan's data, after the header

  std::string message() { return message_of(reinterpret_cast<j_common_ptr>(&info)); }
};

namespace {

// The guarded steps: each returns false when libjpeg reported an error. setjmp sits in the
// frame of the libjpeg calls, and nothing in these frames has a destructor, which is what makes
// the longjmp out of libjpeg well defined in C++.

bool guarded_create(jpeg_decompress_struct& info, ErrorManager& errors) {
  install(errors);
  info.err = &errors.pub;
  if (setjmp(errors.jump) != 0) return false;
  jpeg_create_decompress(&info);
  return true;
}

bool guarded_read_header(jpeg_decompress_struct& info, ErrorManager& errors, std::span<const uint8_t> jpeg,
                         size_t& scan_start) {
  if (setjmp(errors.jump) != 0) return false;
  errors.premature_end = false;
  errors.short_segment = false;
  jpeg_mem_src(&info, jpeg.data(), static_cast<unsigned long>(jpeg.size()));
  jpeg_read_header(&info, TRUE);
  scan_start = jpeg.size() - info.src->bytes_in_buffer;
  return true;
}

// Starts decompressing at `scale` (the output's size goes to `scaled`) and narrows the output
// to columns [left, left + width), which libjpeg widens to whole iMCUs (both are updated).
bool guarded_start(jpeg_decompress_struct& info, ErrorManager& errors, JpegScale scale, bool cmyk, JDIMENSION scaled[2],
                   JDIMENSION& left, JDIMENSION& width) {
  if (setjmp(errors.jump) != 0) return false;
  info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  info.scale_num = static_cast<unsigned>(scale.num);
  info.scale_denom = static_cast<unsigned>(scale.denom);
  info.dct_method = JDCT_ISLOW;  // the defaults, stated: PIL decodes with these
  info.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&info);
  scaled[0] = info.output_height;
  scaled[1] = info.output_width;
  if (left != 0 || width != info.output_width) jpeg_crop_scanline(&info, &left, &width);
  return true;
}

// Skips to row `top` and reads rows [top, bottom) into dst, `stride` bytes apart.
bool guarded_read_rows(jpeg_decompress_struct& info, ErrorManager& errors, JDIMENSION top, JDIMENSION bottom,
                       uint8_t* dst, size_t stride) {
  if (setjmp(errors.jump) != 0) return false;
  if (top > 0) jpeg_skip_scanlines(&info, top);
  constexpr JDIMENSION kRowsPerCall = 16;
  JSAMPROW rows[kRowsPerCall];
  while (info.output_scanline < bottom) {
    const JDIMENSION first = info.output_scanline, count = std::min(kRowsPerCall, bottom - first);
    for (JDIMENSION i = 0; i < count; ++i) rows[i] = dst + static_cast<size_t>(first - top + i) * stride;
    if (jpeg_read_scanlines(&info, rows, count) == 0) {
      errors.premature_end = true;  // a memory source never suspends: no rows means no data
      break;
    }
  }
  return true;
}

}  // namespace

JpegDecoder::JpegDecoder() : state_(std::make_unique<State>()) {
  if (!guarded_create(state_->info, state_->errors))
    BIGBATCH_THROW(Error, "[data:jpeg] cannot create a libjpeg decompressor: " << state_->message());
}

JpegDecoder::~JpegDecoder() { jpeg_destroy_decompress(&state_->info); }

void JpegDecoder::fail(const std::string& where, const std::string& name, const std::string& what) {
  jpeg_abort_decompress(&state_->info);  // ready for the next image
  BIGBATCH_THROW(InvalidArgument, where << " " << name << ": " << what);
}

JpegHeader JpegDecoder::read_header(std::span<const uint8_t> jpeg, const std::string& where, const std::string& name,
                                    int64_t max_pixels) {
  BIGBATCH_CHECK(!jpeg.empty(), where << " " << name << ": empty file, not a JPEG");
  State& s = *state_;
  if (!guarded_read_header(s.info, s.errors, jpeg, s.scan_start))
    fail(where, name, "not a readable JPEG: " + s.message());
  const int64_t width = s.info.image_width, height = s.info.image_height;
  const bool cmyk = s.info.jpeg_color_space == JCS_CMYK || s.info.jpeg_color_space == JCS_YCCK;
  jpeg_abort_decompress(&s.info);
  BIGBATCH_CHECK(width > 0 && height > 0 && width <= kMaxDimension && height <= kMaxDimension,
                 where << " " << name << ": JPEG header gives an image of " << width << "x" << height);
  // A few kilobytes can claim 60000x60000 and cost gigabytes once decoded: refused on the
  // header's word, like PIL's DecompressionBombError.
  BIGBATCH_CHECK(width * height <= max_pixels,
                 where << " " << name << ": JPEG header claims " << width << "x" << height << " = " << width * height
                       << " pixels, over the limit of " << max_pixels
                       << " (--max-image-pixels; a corrupt header or a decompression bomb)");
  return {width, height, cmyk};
}

void JpegDecoder::decode(std::span<const uint8_t> jpeg, const JpegHeader& header, JpegScale scale, RgbImage& out,
                         const std::string& where, const std::string& name) {
  decode_region(jpeg, header, scale, {0, 0, scale.apply(header.height), scale.apply(header.width)}, out, where, name);
}

void JpegDecoder::decode_region(std::span<const uint8_t> jpeg, const JpegHeader& header, JpegScale scale,
                                PixelRegion region, RgbImage& out, const std::string& where, const std::string& name) {
  const int64_t width = scale.apply(header.width), height = scale.apply(header.height);
  BIGBATCH_CHECK(0 <= region.top && region.top < region.bottom && region.bottom <= height && 0 <= region.left &&
                     region.left < region.right && region.right <= width,
                 where << " " << name << ": rows [" << region.top << ", " << region.bottom << ") columns ["
                       << region.left << ", " << region.right << ") are not inside the " << width << "x" << height
                       << " image");
  State& s = *state_;
  if (!guarded_read_header(s.info, s.errors, jpeg, s.scan_start)) fail(where, name, "corrupt JPEG: " + s.message());
  // Before jpeg_start_decompress allocates for the size these bytes claim: it must be the
  // size that was checked.
  if (static_cast<int64_t>(s.info.image_width) != header.width ||
      static_cast<int64_t>(s.info.image_height) != header.height)
    fail(where, name,
         "JPEG header gives " + std::to_string(s.info.image_width) + "x" + std::to_string(s.info.image_height) +
             ", not " + std::to_string(header.width) + "x" + std::to_string(header.height) +
             " (does the header belong to these bytes?)");
  s.info.mem->max_memory_to_use = libjpeg_memory_cap(header.width, header.height);
  auto left = static_cast<JDIMENSION>(std::max<int64_t>(0, region.left - kColumnMargin));
  auto columns = static_cast<JDIMENSION>(std::min(width, region.right + kColumnMargin)) - left;
  JDIMENSION scaled[2] = {0, 0};
  if (!guarded_start(s.info, s.errors, scale, header.cmyk, scaled, left, columns))
    fail(where, name, "corrupt JPEG: " + s.message());
  if (static_cast<int64_t>(scaled[0]) != height || static_cast<int64_t>(scaled[1]) != width)
    fail(where, name,
         "decodes to " + std::to_string(scaled[1]) + "x" + std::to_string(scaled[0]) + ", not " +
             std::to_string(width) + "x" + std::to_string(height) + " (does the header belong to these bytes?)");

  out.width = columns;
  out.height = region.bottom - region.top;
  out.top = region.top;
  out.left = left;
  const auto pixels = static_cast<size_t>(out.width * out.height);
  out.rgb.resize(pixels * 3);
  uint8_t* dst = out.rgb.data();
  if (header.cmyk) {
    cmyk_.resize(pixels * 4);
    dst = cmyk_.data();
  }
  const size_t stride = static_cast<size_t>(out.width) * (header.cmyk ? 4 : 3);
  if (!guarded_read_rows(s.info, s.errors, static_cast<JDIMENSION>(region.top), static_cast<JDIMENSION>(region.bottom),
                         dst, stride))
    fail(where, name, "corrupt JPEG: " + s.message());
  // libjpeg reports a stream cut short as a warning and fills the rest with grey; PIL refuses
  // such a file ("image file is truncated"), and so do we, also when the cut lies below the rows
  // read. Other warnings (extraneous bytes before a marker, ...) leave a whole image.
  if (s.errors.premature_end || !has_end_marker(jpeg, s.scan_start))
    fail(where, name, "corrupt JPEG: the data ends before the end-of-image marker (truncated file)");
  // A header that declares more rows (or columns) than the scan holds, or a file cut and closed
  // with an end-of-image marker: the scan meets a marker before its last block. Found when
  // the rows read reach the missing ones (pack decodes every row).
  if (s.errors.short_segment)
    fail(where, name,
         "corrupt JPEG: its data ends before the " + std::to_string(header.width) + "x" +
             std::to_string(header.height) + " pixels its header declares (premature end of data segment)");
  jpeg_abort_decompress(&s.info);
  if (header.cmyk) {
    // Adobe CMYK JPEGs store inverted ink values, so RGB = C·K/255 (as libjpeg-turbo's tjutil).
    for (size_t p = 0; p < pixels; ++p) {
      const uint8_t* c = cmyk_.data() + 4 * p;
      for (size_t k = 0; k < 3; ++k) out.rgb[3 * p + k] = static_cast<uint8_t>((c[k] * c[3] + 127) / 255);
    }
  }
}

const std::vector<JpegScale>& jpeg_reducing_scales() {
  // libjpeg-turbo's IDCT outputs k×k pixels per 8×8 block for k = 1..16: the reductions are k/8.
  static const std::vector<JpegScale> scales = [] {
    std::vector<JpegScale> out;
    for (int k = 8; k >= 1; --k) {
      const int g = std::gcd(k, 8);
      out.push_back({k / g, 8 / g});
    }
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

namespace {

bool guarded_encode(jpeg_compress_struct& info, ErrorManager& errors, const RgbImage& image, int quality,
                    ChromaSubsampling chroma, bool progressive, unsigned char** buffer, unsigned long* size) {
  if (setjmp(errors.jump) != 0) return false;
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, buffer, size);
  info.image_width = static_cast<JDIMENSION>(image.width);
  info.image_height = static_cast<JDIMENSION>(image.height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  const bool wide = chroma == ChromaSubsampling::s420 || chroma == ChromaSubsampling::s422;
  const bool tall = chroma == ChromaSubsampling::s420 || chroma == ChromaSubsampling::s440;
  info.comp_info[0].h_samp_factor = wide ? 2 : 1;  // luma's factors; chroma keeps 1×1
  info.comp_info[0].v_samp_factor = tall ? 2 : 1;
  if (progressive) jpeg_simple_progression(&info);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    // libjpeg reads the rows without writing them; its row type is not const.
    JSAMPROW row = const_cast<uint8_t*>(image.rgb.data()) + static_cast<size_t>(info.next_scanline) * image.width * 3;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, ChromaSubsampling chroma, bool progressive) {
  BIGBATCH_CHECK(
      image.width > 0 && image.height > 0 && image.rgb.size() == static_cast<size_t>(image.width * image.height * 3),
      "[data:jpeg] cannot encode a " << image.width << "x" << image.height << " image of " << image.rgb.size()
                                     << " bytes");
  BIGBATCH_CHECK(quality >= 1 && quality <= 100, "[data:jpeg] quality must be in 1..100, got " << quality);
  jpeg_compress_struct info{};
  ErrorManager errors{};
  install(errors);
  info.err = &errors.pub;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const bool ok = guarded_encode(info, errors, image, quality, chroma, progressive, &buffer, &size);
  const std::string text = ok ? std::string() : message_of(reinterpret_cast<j_common_ptr>(&info));
  std::vector<uint8_t> out;
  if (ok) out.assign(buffer, buffer + size);
  jpeg_destroy_compress(&info);
  std::free(buffer);  // jpeg_mem_dest's buffer is malloc'd and the caller's to free
  if (!ok) BIGBATCH_THROW(Error, "[data:jpeg] encoding failed: " << text);
  return out;
}

}  // namespace bigbatch::data
