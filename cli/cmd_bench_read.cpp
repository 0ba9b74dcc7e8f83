// deepslide bench-read: slide-read throughput (regions/s, MB/s) as one JSON line, for
// bench/compare_openslide.py and BENCHMARKS.md.
#include <iostream>

#include <nlohmann/json.hpp>

#include "base/threads.h"
#include "cli/commands.h"
#include "slide/reader/jpeg_decode.h"
#include "slide/reader/read_bench.h"

namespace ds::cli {

void register_bench_read(CLI::App& app, Globals& g) {
  struct Opts {
    std::string slide;
    ReadBenchOptions bench;
    size_t cache_mb = 32;
    std::string partial = "auto";
    std::string jpeg = "auto";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("bench-read", "Measure slide-read throughput");
  sub->add_option("slide", o->slide, "Slide file")->required();
  sub->add_option(
         "--pattern", o->bench.pattern,
         "aligned (one tile per region), random (--size regions anywhere) or raster (--size windows row by row)")
      ->check(CLI::IsMember({"aligned", "random", "raster"}))
      ->capture_default_str();
  sub->add_option("--size", o->bench.size, "Region side for --pattern random and raster")->capture_default_str();
  sub->add_option("--count", o->bench.count, "Number of regions")->capture_default_str();
  auto* threads = sub->add_option("--threads", o->bench.threads,
                                  "Reading threads (default 1, or the --threads given before the command)");
  sub->add_option("--level", o->bench.level, "Pyramid level")->capture_default_str();
  sub->add_option("--seed", o->bench.seed, "Seed for region positions")->capture_default_str();
  sub->add_option("--cache-mb", o->cache_mb, "Decoded-tile cache (OpenSlide's default is 32)")->capture_default_str();
  sub->add_option("--partial-decode", o->partial,
                  "Decode uncached tiles only in the part a region needs, straight into it, not cached: auto (when "
                  "the cache sees little reuse), never or always")
      ->check(CLI::IsMember({"auto", "never", "always"}))
      ->capture_default_str();
  sub->add_option("--jpeg-decoder", o->jpeg,
                  "auto: deepslide's own baseline decoder for YCbCr JPEG tiles and frames (libjpeg's pixels), else "
                  "libjpeg; libjpeg: libjpeg always")
      ->check(CLI::IsMember({"auto", "libjpeg"}))
      ->capture_default_str();
  sub->callback([o, threads, &g] {
    // One reader by default (OpenSlide's comparisons are per thread); a --threads before the
    // command name counts too, as it does for every other command.
    if (threads->count() == 0 && g.threads > 0) o->bench.threads = g.threads;
    check_thread_count(o->bench.threads, "--threads");  // before the slide is opened
    set_fast_jpeg_decoder(o->jpeg == "auto");
    auto slide = Slide::open(o->slide, o->cache_mb << 20);
    slide->set_partial_decode(o->partial == "never"    ? Slide::PartialDecode::kNever
                              : o->partial == "always" ? Slide::PartialDecode::kAlways
                                                       : Slide::PartialDecode::kAuto);
    ReadBenchResult r = run_read_bench(*slide, o->bench);
    nlohmann::ordered_json j = {{"pattern", o->bench.pattern},
                                {"level", o->bench.level},
                                {"region_width", r.region_width},
                                {"region_height", r.region_height},
                                {"count", r.regions},
                                {"threads", o->bench.threads},
                                {"cache_mb", o->cache_mb},
                                {"partial_decode", o->partial},
                                {"jpeg_decoder", o->jpeg},
                                {"seconds", r.seconds},
                                {"regions_per_sec", r.regions_per_sec},
                                {"mb_per_sec", r.mb_per_sec},
                                {"tiles_decoded", r.tiles_decoded},
                                {"tiles_from_cache", r.tiles_from_cache},
                                {"tiles_decoded_in_part", r.tiles_decoded_in_part},
                                {"checksum", r.checksum}};
    std::cout << j.dump() << "\n";
  });
}

}  // namespace ds::cli
