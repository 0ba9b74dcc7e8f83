// Lookup of one embedded page file by name (the table itself is generated at build time).
#include "serve/web_files.h"

#include <string>

#include "base/error.h"

namespace ds {

std::string_view web_file(std::string_view name) {
  for (const WebFile& f : web_files())
    if (f.name == name) return f.bytes;
  throw InternalError("no embedded file " + std::string(name));
}

}  // namespace ds
