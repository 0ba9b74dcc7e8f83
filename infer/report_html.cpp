// HTML escaping, base64, embedded pictures and SVG line charts for the report.
#include "infer/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/error.h"
#include "base/format.h"
#include "infer/colormap.h"
#include "slide/reader/image_io.h"
#include "slide/reader/resize.h"

namespace ds {

std::string metric_text(double v, int digits) {
  if (std::isnan(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string base64_encode(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = ((uint8_t)in[i] << 16) | ((uint8_t)in[i + 1] << 8) | (uint8_t)in[i + 2];
    o += t[v >> 18];
    o += t[(v >> 12) & 63];
    o += t[(v >> 6) & 63];
    o += t[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = (uint8_t)in[i] << 16;
    o += t[v >> 18];
    o += t[(v >> 12) & 63];
    o += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = ((uint8_t)in[i] << 16) | ((uint8_t)in[i + 1] << 8);
    o += t[v >> 18];
    o += t[(v >> 12) & 63];
    o += t[(v >> 6) & 63];
    o += '=';
  }
  return o;
}

std::string embedded_image(const std::string& path, const std::string& alt, int max_width_px) {
  RgbImage img = load_image(path);
  if (max_width_px > 0 && img.width > 2 * max_width_px) {
    const int w = 2 * max_width_px, h = std::max(1, (int)((int64_t)img.height * w / img.width));
    img = resize_area(img, w, h);
  }
  const std::vector<uint8_t> jpg = encode_jpeg(img, 90);
  std::string style = max_width_px > 0 ? " style=\"max-width:" + std::to_string(max_width_px) + "px\"" : "";
  return "<img alt=\"" + html_escape(alt) + "\"" + style + " src=\"data:image/jpeg;base64," +
         base64_encode(std::string(jpg.begin(), jpg.end())) + "\">";
}

std::string svg_line_chart(const std::vector<Series>& series, const std::string& x_label, const std::string& y_label,
                           bool unit_square, bool diagonal, int width, int height) {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (!unit_square) {
    x0 = y0 = std::numeric_limits<double>::infinity();
    x1 = y1 = -std::numeric_limits<double>::infinity();
    for (const auto& s : series)
      for (const auto& [x, y] : s.points) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
    if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) y1 = y0 + 1;
    const double pad = 0.05 * (y1 - y0);
    y0 -= pad;
    y1 += pad;
  }
  const int L = 56, R = 12, T = 12, B = 44;
  const double pw = width - L - R, ph = height - T - B;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return T + (1 - (y - y0) / (y1 - y0)) * ph; };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"11\">";
  s += "<rect x=\"" + format_number("%.4g", L) + "\" y=\"" + format_number("%.4g", T) + "\" width=\"" +
       format_number("%.4g", pw) + "\" height=\"" + format_number("%.4g", ph) + "\" fill=\"white\" stroke=\"#444\"/>";
  for (int i = 0; i <= 4; ++i) {
    const double xv = x0 + (x1 - x0) * i / 4, yv = y0 + (y1 - y0) * i / 4;
    s += "<line x1=\"" + format_number("%.4g", px(xv)) + "\" y1=\"" + format_number("%.4g", T) + "\" x2=\"" +
         format_number("%.4g", px(xv)) + "\" y2=\"" + format_number("%.4g", T + ph) + "\" stroke=\"#ddd\"/>";
    s += "<line x1=\"" + format_number("%.4g", L) + "\" y1=\"" + format_number("%.4g", py(yv)) + "\" x2=\"" +
         format_number("%.4g", L + pw) + "\" y2=\"" + format_number("%.4g", py(yv)) + "\" stroke=\"#ddd\"/>";
    s += "<text x=\"" + format_number("%.4g", px(xv)) + "\" y=\"" + format_number("%.4g", T + ph + 14) +
         "\" text-anchor=\"middle\">" + format_number("%.4g", xv) + "</text>";
    s += "<text x=\"" + format_number("%.4g", L - 4) + "\" y=\"" + format_number("%.4g", py(yv) + 4) +
         "\" text-anchor=\"end\">" + format_number("%.4g", yv) + "</text>";
  }
  s += "<text x=\"" + format_number("%.4g", L + pw / 2) + "\" y=\"" + format_number("%.4g", height - 6) +
       "\" text-anchor=\"middle\">" + html_escape(x_label) + "</text>";
  s += "<text transform=\"translate(12," + format_number("%.4g", T + ph / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + html_escape(y_label) + "</text>";
  if (diagonal)
    s += "<line x1=\"" + format_number("%.4g", px(0)) + "\" y1=\"" + format_number("%.4g", py(0)) + "\" x2=\"" +
         format_number("%.4g", px(1)) + "\" y2=\"" + format_number("%.4g", py(1)) +
         "\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>";
  static const char* palette[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};
  for (size_t i = 0; i < series.size(); ++i) {
    const char* col = palette[i % 9];
    std::string pts;
    for (const auto& [x, y] : series[i].points)
      pts += format_number("%.4g", px(x)) + "," + format_number("%.4g", py(y)) + " ";
    s += "<polyline fill=\"none\" stroke=\"" + std::string(col) + "\" stroke-width=\"2\" points=\"" + pts + "\"/>";
    if (series[i].points.size() == 1)
      s += "<circle cx=\"" + format_number("%.4g", px(series[i].points[0].first)) + "\" cy=\"" +
           format_number("%.4g", py(series[i].points[0].second)) + "\" r=\"3\" fill=\"" + col + "\"/>";
    // Legend in the lower right, where ROC and rising training curves leave room.
    const double ly = T + ph - 8 - 14 * (double)(series.size() - 1 - i);
    s += "<line x1=\"" + format_number("%.4g", L + pw - 170) + "\" y1=\"" + format_number("%.4g", ly - 4) + "\" x2=\"" +
         format_number("%.4g", L + pw - 154) + "\" y2=\"" + format_number("%.4g", ly - 4) + "\" stroke=\"" + col +
         "\" stroke-width=\"2\"/>";
    s += "<text x=\"" + format_number("%.4g", L + pw - 150) + "\" y=\"" + format_number("%.4g", ly) + "\">" +
         html_escape(series[i].name) + "</text>";
  }
  return s + "</svg>";
}

}  // namespace ds
