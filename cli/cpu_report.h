// JSON records of the CPU, its caches and the convolution blocking in use (cli/cpu_report.cpp).
#pragma once
#include <nlohmann/json.hpp>

#include "engine/kernels/conv_blocking.h"

namespace ds::cli {

nlohmann::ordered_json blocking_json(const ConvBlocking& b);
// brand, vendor, family, model, l1d, l2, l3 (bytes), l3_per_core, caches_from.
nlohmann::ordered_json caches_json();
// tuning ("file", "derived", "off", "ignored", "env"), file, classes, and warning when ignored.
nlohmann::ordered_json tuning_json();

}  // namespace ds::cli
