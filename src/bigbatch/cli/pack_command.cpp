// `bigbatch pack`: progress and skipped files on stderr, the summary on stdout.
#include "bigbatch/cli/pack_command.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <ostream>

#include "bigbatch/core/error.h"
#include "bigbatch/data/image_shards.h"

namespace bigbatch::cli {

CLI::App* add_pack_command(CLI::App& app, PackCommandOptions& o) {
  CLI::App* command = app.add_subcommand(
      "pack",
      "Pack an ImageFolder tree (D/train/<class>/*.jpg, D/val/<class>/*.jpg) into shards with a CRC-checked "
      "index, read by `train --dataset imageshards --data-dir OUT`");
  command->add_option("root", o.root, "the ImageFolder tree D")->required();
  command->add_option("-o,--out", o.out, "folder for the shards and indexes")->required();
  command->add_option("--shard-mib", o.shard_mib, "shard size in MiB")->capture_default_str();
  command->add_flag("--skip-bad-images", o.skip_bad_images,
                    "leave out bad JPEGs (unreadable, truncated, over --max-image-pixels: each is decoded as training "
                    "will) with one line each on stderr, instead of stopping");
  command
      ->add_option("--max-image-pixels", o.max_image_pixels,
                   "an image whose header claims more pixels is bad (a decompression bomb), as in training")
      ->capture_default_str();
  return command;
}

int run_pack_command(const PackCommandOptions& o, std::ostream& out) {
  BIGBATCH_CHECK(o.shard_mib > 0 && o.shard_mib <= 1 << 20,
                 "[pack] --shard-mib: expected in [1, 1048576], got " << o.shard_mib);
  BIGBATCH_CHECK(o.max_image_pixels > 0, "[pack] --max-image-pixels: expected > 0, got " << o.max_image_pixels);
  data::PackOptions options;
  options.shard_bytes = o.shard_mib << 20;
  options.skip_bad_images = o.skip_bad_images;
  options.max_image_pixels = o.max_image_pixels;
  options.log = [](const std::string& line) { std::cerr << "bigbatch: " << line << '\n'; };
  const data::PackSummary s = data::pack_image_folder(o.root, o.out, options);
  out << "packed " << s.records << " images (" << s.skipped << " skipped) into " << s.shards << " shards, "
      << (s.bytes >> 20) << " MiB: " << o.out << "\n";
  return 0;
}

}  // namespace bigbatch::cli
