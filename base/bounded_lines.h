// Line-by-line reading of text files we did not write (label and prediction CSVs) with a bound
// on the line length: std::getline grows its string to whatever the file holds, so one line of
// gigabytes would be read whole into memory.
#pragma once
#include <istream>
#include <string>

#include "base/error.h"

namespace ds {

constexpr size_t kMaxLineBytes = 1u << 16;

// Reads the next line into `line` (without the '\n'). Returns false at the end of the input.
// InputError(path, "line N is longer than ...") when a line passes max_bytes.
inline bool read_bounded_line(std::istream& in, std::string& line, const std::string& path, int64_t lineno,
                              size_t max_bytes = kMaxLineBytes) {
  line.clear();
  std::streambuf* sb = in.rdbuf();
  bool any = false;
  for (;;) {
    int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      if (!any) in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n') return true;
    if (line.size() >= max_bytes)
      throw InputError(path,
                       "line " + std::to_string(lineno) + " is longer than " + std::to_string(max_bytes) + " bytes");
    line.push_back((char)c);
  }
}

// Removes a UTF-8 byte order mark from the start of a file's first line (spreadsheet programs
// write one); returns whether there was one. Only the exact three bytes EF BB BF are removed.
inline bool strip_utf8_bom(std::string& first_line) {
  if (first_line.compare(0, 3, "\xEF\xBB\xBF") != 0) return false;
  first_line.erase(0, 3);
  return true;
}

}  // namespace ds
