// deepslide info SLIDE: slide metadata as one JSON object (levels, mpp, objective power,
// associated image names, every raw property).
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "slide/reader/slide.h"

namespace ds::cli {

void register_info(CLI::App& app, Globals& g) {
  auto path = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("info", "Print a slide's levels, resolution and properties as JSON");
  sub->add_option("slide", *path,
                  "Slide file (TIFF/SVS/BigTIFF and the vendor TIFFs, a DICOM WSI file or series folder, PNG or JPEG)")
      ->required();
  sub->callback([path] {
    auto slide = Slide::open(*path);
    nlohmann::ordered_json j;
    j["vendor"] = slide->vendor();
    j["levels"] = nlohmann::ordered_json::array();
    for (const auto& L : slide->levels())
      j["levels"].push_back({{"width", L.width},
                             {"height", L.height},
                             {"downsample", L.downsample},
                             {"tile_width", L.tile_width},
                             {"tile_height", L.tile_height}});
    auto opt = [](std::optional<double> v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(); };
    j["mpp_x"] = opt(slide->mpp_x());
    j["mpp_y"] = opt(slide->mpp_y());
    j["objective_power"] = opt(slide->objective_power());
    j["associated"] = slide->associated_names();
    // Appended, not looked up: the keys come sorted and unique, and ordered_json's operator[]
    // searches linearly (a DICOM or MIRAX slide can have tens of thousands of properties).
    nlohmann::ordered_json props = nlohmann::ordered_json::object();
    auto& obj = props.get_ref<nlohmann::ordered_json::object_t&>();
    for (const auto& [k, v] : slide->properties()) obj.Container::emplace_back(k, v);
    j["properties"] = std::move(props);
    // Vendor strings are not always UTF-8 (a Latin-1 "µ" in a scanner's description): such bytes
    // print as U+FFFD instead of ending the command in a JSON error.
    std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  });
}

}  // namespace ds::cli
