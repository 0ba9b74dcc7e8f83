// deepslide serve SLIDE_OR_RUN_DIR...: the offline slide viewer over HTTP (serve/server.h).
#include <iostream>

#include "cli/commands.h"
#include "serve/server.h"

namespace ds::cli {

void register_serve(CLI::App& app, Globals& g) {
  struct Opts {
    CatalogOptions catalog;
    ServeOptions serve;
    int cache_mb = 256, tile_cache_mb = 128;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "serve", "View slides with their predictions, heatmaps and annotations in a browser (offline, Deep Zoom)");
  sub->add_option("inputs", o->catalog.inputs,
                  "Slide files, folders of slides, predict output folders (predict.json) or diagnose output folders")
      ->required();
  sub->add_option("--port", o->serve.port, "TCP port (0: any free one; the URL is printed)")->capture_default_str();
  sub->add_option("--bind", o->serve.bind, "Address to listen on; other than loopback needs --token")
      ->capture_default_str();
  sub->add_option("--token", o->serve.token,
                  "Shared secret (16+ characters of [A-Za-z0-9._~-]) every request must carry; required off loopback");
  sub->add_option("--annotations", o->catalog.annotations,
                  "Folder of annotation files, <slide stem>.geojson/.json/.xml, shown as a layer");
  sub->add_option("--serve-threads", o->serve.threads, "Threads answering requests")->capture_default_str();
  sub->add_option("--request-timeout", o->serve.request_timeout_s,
                  "Seconds a connection may take to send a request and receive the answer; longer, it is closed")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  sub->add_option("--jpeg-quality", o->serve.jpeg_quality, "Quality of the JPEG tiles (1-100)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  sub->add_option("--cache-mb", o->cache_mb, "Decoded-tile cache per slide file, MB")
      ->capture_default_str()
      ->check(CLI::Range(16, 65536));
  sub->add_option("--tile-cache-mb", o->tile_cache_mb, "Encoded Deep Zoom tiles kept for repeat requests, MB")
      ->capture_default_str()
      ->check(CLI::Range(0, 65536));
  sub->callback([o] {
    o->catalog.cache_bytes = (size_t)o->cache_mb << 20;
    o->serve.tile_cache_bytes = (size_t)o->tile_cache_mb << 20;
    const Catalog catalog(o->catalog);
    run_server(catalog, o->serve, [&](const std::string& url) {
      std::cout << "deepslide serve: " << catalog.slides().size() << " slide(s) at " << url << "  (Ctrl-C stops)"
                << std::endl;
    });
    std::cout << "deepslide serve: stopped" << std::endl;
  });
}

}  // namespace ds::cli
