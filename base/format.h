// printf-style formatting of one number into a std::string, for the places that need a fixed
// notation (TIFF properties round-trip with %.17g, logs with %.6f, reports with %.4g); a count
// with its noun; and a message made fit for one line of a terminal.
#pragma once
#include <cstdio>
#include <string>

namespace ds {

inline std::string format_number(const char* printf_format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, printf_format, v);
  return buf;
}

// "1 slide", "3 slides": a count and its noun, plural as English has it for nouns taking -s.
inline std::string count_text(long long n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// `text` on one line (line breaks as spaces), cut after `max` characters with a note of how many
// more there were: error messages that quote what the user typed stay readable however long it was.
inline std::string one_line(std::string text, size_t max) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  if (text.size() <= max) return text;
  const size_t more = text.size() - max;
  text.resize(max);
  return text + "... (" + std::to_string(more) + " more characters)";
}

}  // namespace ds
