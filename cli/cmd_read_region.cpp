// deepslide read-region: one region of a slide level to a PNG or JPEG (x, y in level-0 pixels).
#include "cli/commands.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"

namespace ds::cli {

void register_read_region(CLI::App& app, Globals& g) {
  struct Opts {
    std::string slide, out;
    int64_t x = 0, y = 0;
    int level = 0, width = 0, height = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("read-region", "Write one region of a slide as PNG or JPEG (OpenSlide coordinates)");
  sub->add_option("slide", o->slide, "Slide file")->required();
  sub->add_option("--x", o->x, "Left edge in level-0 pixels")->required();
  sub->add_option("--y", o->y, "Top edge in level-0 pixels")->required();
  sub->add_option("--level", o->level, "Pyramid level")->capture_default_str();
  sub->add_option("--width", o->width, "Width in pixels of that level")->required();
  sub->add_option("--height", o->height, "Height in pixels of that level")->required();
  sub->add_option("--out", o->out, "Output image: .png, or .jpg / .jpeg (quality 90)")->required();
  sub->callback([o, &g] {
    check_image_path(o->out);
    auto slide = Slide::open(o->slide);
    RgbImage img = slide->read_region(o->x, o->y, o->level, o->width, o->height, g.threads);
    save_image(o->out, img);
  });
}

}  // namespace ds::cli
