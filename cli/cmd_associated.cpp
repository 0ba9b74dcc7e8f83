// deepslide associated SLIDE NAME: writes an associated image (thumbnail, label, macro) as PNG or JPEG.
#include "cli/commands.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"

namespace ds::cli {

void register_associated(CLI::App& app, Globals& g) {
  struct Opts {
    std::string slide, name, out;
  };
  auto o = std::make_shared<Opts>();
  auto* sub =
      app.add_subcommand("associated", "Write a slide's associated image (thumbnail, label, macro) as PNG or JPEG");
  sub->add_option("slide", o->slide, "Slide file")->required();
  sub->add_option("name", o->name, "Associated image name (see `deepslide info`)")->required();
  sub->add_option("--out", o->out, "Output image: .png, or .jpg / .jpeg (quality 90)")->required();
  sub->callback([o] {
    check_image_path(o->out);
    auto slide = Slide::open(o->slide);
    save_image(o->out, slide->read_associated(o->name));
  });
}

}  // namespace ds::cli
