// deepslide convert SLIDE --to dicom --out DIR: any readable slide as a DICOM WSI series
// (slide/synth/dicom_writer.h).
#include <iostream>

#include "cli/commands.h"
#include "slide/reader/slide.h"
#include "slide/synth/dicom_writer.h"

namespace ds::cli {

void register_convert(CLI::App& app, Globals& g) {
  struct Opts {
    std::string slide, to = "dicom", out;
    DicomWriteOptions dicom;
    bool reencode = false;  // (a plain flag: CLI11 shows a negated one's default as "{false}")
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("convert", "Write a slide in another format (a DICOM WSI series)");
  sub->add_option("slide", o->slide, "Slide file (or folder of DICOM instances)")->required();
  sub->add_option("--to", o->to, "Output format (dicom)")->check(CLI::IsMember({"dicom"}));
  sub->add_option("--out", o->out, "Output folder: level<i>.dcm, label.dcm, macro.dcm, thumbnail.dcm")->required();
  sub->add_option("--tile", o->dicom.tile, "Frame side in pixels (a multiple of 16)")->capture_default_str();
  sub->add_option("--quality", o->dicom.quality, "JPEG quality of the frames")->capture_default_str();
  sub->add_option("--levels", o->dicom.max_levels, "Write only the first N levels (0: all)")->capture_default_str();
  sub->add_flag("--reencode", o->reencode,
                "Re-encode every frame (default: copy stored JPEG tiles of the frame size as they are)");
  sub->callback([o] {
    o->dicom.copy_jpeg = !o->reencode;
    auto slide = Slide::open(o->slide);
    DicomWriteResult r = write_dicom_series(*slide, o->out, o->dicom);
    for (const std::string& p : r.files) std::cout << p << "\n";
    std::cout << r.frames_copied << " frames copied from the slide's JPEG tiles, the others encoded\n";
  });
}

}  // namespace ds::cli
