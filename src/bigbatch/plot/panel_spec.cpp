// Panels from a JSON spec (see the header).
#include "bigbatch/plot/panel_spec.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "bigbatch/core/error.h"
#include "bigbatch/core/read_file.h"

namespace bigbatch::plot {
namespace {

using nlohmann::json;

std::string text_of(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) return {};
  BIGBATCH_CHECK(j[key].is_string(), "[plot] " << where << ": \"" << key << "\" must be a string");
  const std::string s = j[key].get<std::string>();
  BIGBATCH_CHECK(s.size() <= kMaxSpecText,
                 "[plot] " << where << ": \"" << key << "\" is longer than " << kMaxSpecText << " characters");
  return s;
}

std::vector<double> numbers_of(const json& j, const char* key, const std::string& where) {
  BIGBATCH_CHECK(j.contains(key) && j[key].is_array(), "[plot] " << where << ": \"" << key << "\" must be an array");
  const json& a = j[key];
  BIGBATCH_CHECK(a.size() <= kMaxSpecPoints,
                 "[plot] " << where << ": " << a.size() << " points; at most " << kMaxSpecPoints);
  std::vector<double> out;
  out.reserve(a.size());
  for (const json& v : a) {
    BIGBATCH_CHECK(v.is_number() || v.is_null(), "[plot] " << where << ": \"" << key << "\" holds a non-number");
    out.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
  }
  return out;
}

}  // namespace

PanelSpec parse_panel_spec(const std::string& text, const std::string& origin) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  BIGBATCH_CHECK(!j.is_discarded() && j.is_object(), "[plot] " << origin << ": not a JSON object");
  PanelSpec spec;
  if (j.contains("columns")) {
    BIGBATCH_CHECK(j["columns"].is_number_integer() && j["columns"].get<int64_t>() >= 1 &&
                       j["columns"].get<int64_t>() <= static_cast<int64_t>(kMaxSpecPanels),
                   "[plot] " << origin << ": \"columns\" must be an integer from 1 to " << kMaxSpecPanels);
    spec.columns = j["columns"].get<int>();
  }
  BIGBATCH_CHECK(j.contains("panels") && j["panels"].is_array() && !j["panels"].empty(),
                 "[plot] " << origin << ": \"panels\" must be a non-empty array");
  BIGBATCH_CHECK(j["panels"].size() <= kMaxSpecPanels,
                 "[plot] " << origin << ": " << j["panels"].size() << " panels; at most " << kMaxSpecPanels);
  for (size_t p = 0; p < j["panels"].size(); ++p) {
    const json& jp = j["panels"][p];
    const std::string where = origin + ": panel " + std::to_string(p);
    BIGBATCH_CHECK(jp.is_object(), "[plot] " << where << ": not an object");
    Panel panel;
    panel.title = text_of(jp, "title", where);
    panel.x_label = text_of(jp, "x_label", where);
    panel.y_label = text_of(jp, "y_label", where);
    if (jp.contains("log_y")) {
      BIGBATCH_CHECK(jp["log_y"].is_boolean(), "[plot] " << where << ": \"log_y\" must be true or false");
      panel.log_y = jp["log_y"].get<bool>();
    }
    for (const char* key : {"y_min", "y_max"}) {
      if (!jp.contains(key) || jp[key].is_null()) continue;
      BIGBATCH_CHECK(jp[key].is_number() && std::isfinite(jp[key].get<double>()),
                     "[plot] " << where << ": \"" << key << "\" must be a finite number");
      (std::string(key) == "y_min" ? panel.y_min : panel.y_max) = jp[key].get<double>();
    }
    BIGBATCH_CHECK(jp.contains("series") && jp["series"].is_array(),
                   "[plot] " << where << ": \"series\" must be an array");
    BIGBATCH_CHECK(jp["series"].size() <= kMaxSpecSeries,
                   "[plot] " << where << ": " << jp["series"].size() << " series; at most " << kMaxSpecSeries);
    for (size_t s = 0; s < jp["series"].size(); ++s) {
      const json& js = jp["series"][s];
      const std::string at = where + ", series " + std::to_string(s);
      BIGBATCH_CHECK(js.is_object(), "[plot] " << at << ": not an object");
      Series series{text_of(js, "label", at), numbers_of(js, "x", at), numbers_of(js, "y", at)};
      BIGBATCH_CHECK(series.x.size() == series.y.size(),
                     "[plot] " << at << ": " << series.x.size() << " x but " << series.y.size() << " y");
      panel.series.push_back(std::move(series));
    }
    spec.panels.push_back(std::move(panel));
  }
  return spec;
}

PanelSpec read_panel_spec(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  BIGBATCH_CHECK(ec || size <= kMaxSpecBytes,
                 "[plot] " << path << ": " << size << " bytes; a panel spec is at most " << kMaxSpecBytes);
  return parse_panel_spec(read_file(path, "plot"), path);
}

}  // namespace bigbatch::plot
