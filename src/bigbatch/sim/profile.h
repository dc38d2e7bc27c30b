// The per-layer backward profiles that bench/overlap/overlap_bench writes (bench/overlap/*.profile):
//   # comment lines
//   <model> <batch> <threads> <backward_s>
//   <node_id> <seconds>        one line per gradient-ready event, seconds since backward began
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bigbatch::sim {

struct ProfileEvent {
  int node = 0;       // graph node id whose parameter gradients became final
  double t_s = 0.0;   // seconds after backward began
};

struct BackwardProfile {
  std::string model;
  int64_t batch = 0;
  int64_t threads = 0;
  double backward_s = 0.0;
  std::vector<ProfileEvent> events;  // as in the file
};

// Throws InvalidArgument "[sim] ORIGIN:LINE: ..." for a missing header, a line that is not two
// numbers, a negative or repeated node id, a time outside [0, backward_s], or no event at all.
BackwardProfile parse_backward_profile(const std::string& text, const std::string& origin);
// Reads and parses a file; throws InvalidArgument "[sim] PATH: cannot open" when unreadable.
BackwardProfile read_backward_profile(const std::string& path);

}  // namespace bigbatch::sim
