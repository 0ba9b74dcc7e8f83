// The viewer's page and its scripts (serve/web/: index.html, viewer.js, viewer.css and the
// vendored OpenSeadragon with its licence), compiled into the binary by scripts/embed_files.cmake
// so that `deepslide serve` reads nothing from disk but the slides and runs it was given.
#pragma once
#include <string_view>
#include <vector>

namespace ds {

struct WebFile {
  std::string_view name;   // file name under serve/web/, e.g. "viewer.js"
  std::string_view bytes;  // its contents
};

const std::vector<WebFile>& web_files();
// The contents of one of them; InternalError when it is not embedded (a build problem).
std::string_view web_file(std::string_view name);

}  // namespace ds
