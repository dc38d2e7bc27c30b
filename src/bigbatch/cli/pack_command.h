// `bigbatch pack D -o shards/`: an ImageFolder tree (D/train, D/val) into packed shards with
// an index per split (data/image_shards.h), for `--dataset imageshards --data-dir shards/`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "bigbatch/data/jpeg_codec.h"

namespace CLI {
class App;
}

namespace bigbatch::cli {

struct PackCommandOptions {
  std::string root;         // D: the ImageFolder tree
  std::string out;          // the shards' folder
  int64_t shard_mib = 256;  // shard size
  bool skip_bad_images = false;
  int64_t max_image_pixels = data::kDefaultMaxImagePixels;  // a larger image is bad
};

CLI::App* add_pack_command(CLI::App& app, PackCommandOptions& options);
int run_pack_command(const PackCommandOptions& options, std::ostream& out);

}  // namespace bigbatch::cli
