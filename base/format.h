// printf-style formatting of one number into a std::string, for the places that need a fixed
// notation (TIFF properties round-trip with %.17g, logs with %.6f, reports with %.4g).
#pragma once
#include <cstdio>
#include <string>

namespace ds {

inline std::string format_number(const char* printf_format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, printf_format, v);
  return buf;
}

}  // namespace ds
