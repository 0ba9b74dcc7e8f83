// `deepslide serve`: an HTTP server (cpp-httplib, a pool of worker threads) over a Catalog:
// the viewer page and OpenSeadragon from the binary, Deep Zoom descriptors and tiles, and the
// JSON the page draws its overlays from. docs/formats.md ("deepslide serve") lists the endpoints.
// Only GET and HEAD; every path is matched against a fixed pattern and every id looked up in
// the catalog, so no part of a request reaches the file system.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "serve/catalog.h"

namespace ds {

struct ServeOptions {
  std::string bind = "127.0.0.1";
  int port = 8000;    // 0: any free port
  std::string token;  // required unless bind is a loopback address (serve/access.h)
  int threads = 8;    // worker threads answering requests
  int jpeg_quality = 85;
  size_t tile_cache_bytes = 128u << 20;  // encoded tiles kept for repeated requests
  double request_timeout_s = 30;         // a connection busy longer is shut down (connection_guard.h)
};

// Binds (InputError naming the address when it cannot), calls on_listening with the URL to open,
// and answers requests until SIGINT/SIGTERM or `stop` (when given) returns true; then returns.
void run_server(const Catalog& catalog, const ServeOptions& o,
                const std::function<void(const std::string&)>& on_listening,
                const std::function<bool()>& stop = nullptr);

}  // namespace ds
