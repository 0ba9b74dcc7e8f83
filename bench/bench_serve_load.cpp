// Load test of `deepslide serve` over loopback: the server (serve/server.h, the same code the
// command runs) on a free port in this process, and C client threads with keep-alive connections
// (cpp-httplib's client) asking for Deep Zoom tiles. Two passes over the same tile list, every
// tile of the top --levels levels in a shuffled order: "cold" (each tile rendered from the slide
// and encoded: the reader's tile cache starts empty, the file is in the OS page cache after the
// first run) and "warm" (every tile answered from the encoded-tile cache, the list repeated up to
// --requests). Bounded by --requests per pass and --seconds per pass. Prints one JSON line per pass: tiles/s, client
// latency p50/p99 and the server's own time per tile (its Server-Timing header) p50/p99, in milliseconds.
//   bench_serve_load SLIDE [--concurrency 16] [--levels 3] [--requests 5000] [--seconds 30] [--serve-threads 8]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "serve/catalog.h"
#include "serve/server.h"

using namespace ds;
using Clock = std::chrono::steady_clock;

namespace {

struct Pass {
  std::vector<double> client_ms, server_ms;
  int errors = 0;
  double seconds = 0;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, (size_t)(p * (double)v.size()))];
}

Pass run_pass(int port, const std::vector<std::string>& paths, int concurrency, double max_seconds) {
  Pass out;
  std::atomic<size_t> next{0};
  std::vector<Pass> per(concurrency);
  const auto t0 = Clock::now();
  std::vector<std::thread> th;
  for (int c = 0; c < concurrency; ++c)
    th.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      for (size_t i; (i = next++) < paths.size();) {
        if (std::chrono::duration<double>(Clock::now() - t0).count() > max_seconds) break;
        const auto a = Clock::now();
        auto res = cli.Get(paths[i]);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
        if (!res || res->status != 200) {
          if (per[c].errors++ == 0)
            std::fprintf(stderr, "bench_serve_load: %s: %s\n", paths[i].c_str(),
                         res ? std::to_string(res->status).c_str() : httplib::to_string(res.error()).c_str());
          continue;
        }
        per[c].client_ms.push_back(ms);
        const std::string st = res->get_header_value("Server-Timing");  // "tile;dur=<ms>"
        const size_t eq = st.find("dur=");
        if (eq != std::string::npos) per[c].server_ms.push_back(std::atof(st.c_str() + eq + 4));
      }
    });
  for (auto& t : th) t.join();
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (const Pass& p : per) {
    out.client_ms.insert(out.client_ms.end(), p.client_ms.begin(), p.client_ms.end());
    out.server_ms.insert(out.server_ms.end(), p.server_ms.begin(), p.server_ms.end());
    out.errors += p.errors;
  }
  return out;
}

void report(const char* name, const Pass& p, int concurrency, int serve_threads) {
  std::printf(
      "{\"pass\": \"%s\", \"tiles\": %zu, \"errors\": %d, \"seconds\": %.3f, \"tiles_per_s\": %.1f, \"concurrency\": "
      "%d, "
      "\"serve_threads\": %d, \"client_p50_ms\": %.3f, \"client_p99_ms\": %.3f, \"server_p50_ms\": %.4f, "
      "\"server_p99_ms\": %.4f}\n",
      name, p.client_ms.size(), p.errors, p.seconds, (double)p.client_ms.size() / p.seconds, concurrency, serve_threads,
      pct(p.client_ms, 0.5), pct(p.client_ms, 0.99), pct(p.server_ms, 0.5), pct(p.server_ms, 0.99));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_serve_load SLIDE [--concurrency N] [--levels N] [--requests N] [--seconds S] "
                 "[--serve-threads N]\n");
    return 2;
  }
  int concurrency = 16, levels = 3, requests = 5000, serve_threads = 8;
  double seconds = 30;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const double v = std::atof(argv[i + 1]);
    if (k == "--concurrency") concurrency = std::clamp((int)v, 1, 256);
    else if (k == "--levels") levels = std::clamp((int)v, 1, 20);
    else if (k == "--requests") requests = std::clamp((int)v, 1, 1000000);
    else if (k == "--seconds") seconds = std::clamp(v, 0.1, 600.0);
    else if (k == "--serve-threads") serve_threads = std::clamp((int)v, 1, 256);
  }
  CatalogOptions co;
  co.inputs = {argv[1]};
  const Catalog catalog(co);
  const ServedSlide& s = catalog.slides().front();
  std::vector<std::string> paths;
  for (int L = s.dz.level_count() - 1; L >= std::max(0, s.dz.level_count() - levels); --L)
    for (int64_t r = 0; r < s.dz.rows(L); ++r)
      for (int64_t c = 0; c < s.dz.cols(L); ++c)
        paths.push_back("/slides/" + s.id + "_files/" + std::to_string(L) + "/" + std::to_string(c) + "_" +
                        std::to_string(r) + ".jpeg");
  std::shuffle(paths.begin(), paths.end(), std::mt19937(7));
  if (paths.size() > (size_t)requests) paths.resize((size_t)requests);

  ServeOptions so;
  so.port = 0;
  so.threads = serve_threads;
  so.tile_cache_bytes = size_t{1} << 30;  // the warm pass must find every tile
  std::atomic<int> port{0};
  std::atomic<bool> stop{false};
  std::thread server([&] {
    run_server(
        catalog, so, [&](const std::string& url) { port = std::atoi(url.c_str() + url.rfind(':') + 1); },
        [&] { return stop.load(); });
  });
  while (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::fprintf(stderr, "bench_serve_load: %s, %zu tiles of the top %d levels, %d clients\n", argv[1], paths.size(),
               levels, concurrency);
  report("cold", run_pass(port, paths, concurrency, seconds), concurrency, serve_threads);
  std::vector<std::string> again;  // the same tiles, over and over, up to --requests
  while (again.size() < (size_t)requests) again.insert(again.end(), paths.begin(), paths.end());
  again.resize((size_t)requests);
  report("warm", run_pass(port, again, concurrency, seconds), concurrency, serve_threads);
  stop = true;
  server.join();
  return 0;
}
