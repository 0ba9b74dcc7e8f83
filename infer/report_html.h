// Pieces of the self-contained HTML report: escaping, base64 data URIs for embedded pictures, and
// inline SVG charts (ROC curves, training curves). No scripts, no external resources: the file
// opens offline on an air-gapped machine.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace ds {

std::string html_escape(const std::string& s);
// v with digits decimals, "n/a" when NaN (a metric that could not be computed).
std::string metric_text(double v, int digits = 4);
std::string base64_encode(const std::string& bytes);
// <img> with the picture as a JPEG data URI (InputError naming the file when unreadable).
// Pictures wider than twice max_width_px are downscaled to that, so a report of many slides
// stays a few megabytes.
std::string embedded_image(const std::string& path, const std::string& alt, int max_width_px = 0);

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
};
// A line chart with axes, ticks and a legend; x and y ranges fitted to the data unless given.
// diagonal draws the y = x reference line (ROC).
std::string svg_line_chart(const std::vector<Series>& series, const std::string& x_label, const std::string& y_label,
                           bool unit_square, bool diagonal, int width = 420, int height = 320);

}  // namespace ds
