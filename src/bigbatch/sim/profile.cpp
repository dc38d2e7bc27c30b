// Reads overlap_bench's backward profiles, rejecting anything malformed with its line number.
#include "bigbatch/sim/profile.h"

#include <algorithm>
#include <cmath>
#include <locale>
#include <set>
#include <sstream>

#include "bigbatch/core/error.h"
#include "bigbatch/core/read_file.h"

namespace bigbatch::sim {

BackwardProfile parse_backward_profile(const std::string& text, const std::string& origin) {
  BackwardProfile p;
  std::istringstream lines(text);
  std::string line;
  bool header = false;
  std::set<int> seen;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    std::istringstream in(line);
    in.imbue(std::locale::classic());
    std::string rest;
    if (!header) {
      in >> p.model >> p.batch >> p.threads >> p.backward_s;
      BIGBATCH_CHECK(!in.fail() && !(in >> rest) && p.batch > 0 && p.threads >= 0 && std::isfinite(p.backward_s) &&
                         p.backward_s > 0,
                     "[sim] " << origin << ":" << number
                              << ": expected the header 'model batch threads backward_s' (batch > 0, "
                                 "backward_s > 0), got '"
                              << line << "'");
      header = true;
      continue;
    }
    ProfileEvent e;
    in >> e.node >> e.t_s;
    BIGBATCH_CHECK(!in.fail() && !(in >> rest),
                   "[sim] " << origin << ":" << number << ": expected 'node_id seconds', got '" << line << "'");
    BIGBATCH_CHECK(e.node >= 0 && seen.insert(e.node).second,
                   "[sim] " << origin << ":" << number << ": node " << e.node << " is negative or repeated");
    // The file prints 6 digits: an event at the very end may round a hair past the total.
    BIGBATCH_CHECK(std::isfinite(e.t_s) && e.t_s >= 0 && e.t_s <= p.backward_s * (1 + 1e-5),
                   "[sim] " << origin << ":" << number << ": time " << e.t_s << " s is outside the backward of "
                            << p.backward_s << " s");
    e.t_s = std::min(e.t_s, p.backward_s);
    p.events.push_back(e);
  }
  BIGBATCH_CHECK(header, "[sim] " << origin << ": no header line 'model batch threads backward_s'");
  BIGBATCH_CHECK(!p.events.empty(), "[sim] " << origin << ": no gradient-ready events");
  return p;
}

BackwardProfile read_backward_profile(const std::string& path) {
  return parse_backward_profile(read_file(path, "sim"), path);
}

}  // namespace bigbatch::sim
