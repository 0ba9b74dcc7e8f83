// The window/tissue flags shared by patches, train and predict (--patch-size, --overlap,
// --level/--mpp, --tissue, --purple-threshold, --purple-scale, --otsu-min-fraction), and the
// --readers value of predict and diagnose.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "slide/windows/slide_windows.h"
#include "weights/model.h"

namespace ds::cli {

struct WindowFlags {
  WindowOptions opt;
  std::string tissue = "purple";
  CLI::Option* overlap = nullptr;  // to tell whether --overlap was given
  CLI::App* sub = nullptr;         // to tell which flags were given
  // Validates and returns the options (InputError on bad values).
  WindowOptions resolve(double default_overlap) const;
  // A bundle's recipe with each flag the user gave replacing its setting (validated as resolve).
  WindowOptions resolve_over(const WindowOptions& recipe) const;
  // A plain model's: resolve, then, unless --level or --mpp was given, the level or mpp the model
  // was trained at (Model::trained_at), said on stderr as "<who>: ...".
  WindowOptions resolve_for(const TrainedAt& trained_at, double default_overlap, const std::string& who) const;
  // Whether the user gave flag `name` (e.g. "--level") on the command line.
  bool given(const char* name) const;
};

// overlap_default: how --overlap's default is described in the help; "" for no --overlap flag.
void add_window_flags(CLI::App* sub, WindowFlags& f, const std::string& overlap_default);

// --readers: "auto" -> -1 (PredictOptions::reader_threads decides), else a count >= 0.
int parse_readers(const std::string& value);

}  // namespace ds::cli
