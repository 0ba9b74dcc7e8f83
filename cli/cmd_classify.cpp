// deepslide classify: placeholder registration until the model file lands (see issue 2).
#include "cli/commands.h"
#include "engine/error.h"

namespace ds::cli {

void register_classify(CLI::App& app, Globals& g) {
  auto* sub = app.add_subcommand("classify", "Classify PNG/JPEG patches with a model file");
  sub->callback([] { throw InternalError("classify is not built yet"); });
}

}  // namespace ds::cli
