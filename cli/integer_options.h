// Refuses integer option values that do not fit the option's 64-bit type. CLI11 2.1 converts
// 64-bit options with strtoll/strtoull and keeps their saturated result, so `--y 99999999999999999999`
// became INT64_MAX and `--seed -1` became UINT64_MAX without a word; narrower types it already refuses.
#pragma once

#include <CLI/CLI.hpp>

namespace ds::cli {

// Adds the range check to every INT and UINT option of `app` and of its subcommands, at any depth.
void refuse_out_of_range_integers(CLI::App& app);

}  // namespace ds::cli
