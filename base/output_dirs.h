// Creating the folders a command writes below its output folder, never through a link: a folder
// there that someone replaced by a symbolic link (to anywhere) would take the outputs outside.
#pragma once
#include <string>

namespace ds {

// Creates out/rel folder by folder (rel relative, its components already safe names); a component
// that exists as a symbolic link, or as anything but a folder, is an InputError naming it. `out`
// itself may be a link: that one is the user's own choice.
void make_output_dirs(const std::string& out, const std::string& rel);

}  // namespace ds
