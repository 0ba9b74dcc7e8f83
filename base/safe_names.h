// Names from files we did not write (class names from label CSVs and model files, slide paths
// from label CSVs) end up in output paths: a class becomes a folder, a slide a CSV name. These
// checks keep every such path inside the output folder: a class name is one plain path
// component; a slide path is relative and never climbs out with "..".
#pragma once
#include <string>

namespace ds {

// "" when `name` may be used as one path component, else the reason it may not: empty, "." or
// "..", a '/' or '\\', a control character, or longer than 255 bytes.
std::string unsafe_component_reason(const std::string& name);

// "" when `s` may be a cell of the CSVs deepslide writes and reads (label CSVs, prediction and
// diagnosis CSVs) as it is, else the reason: a ',' or '"' (the cells are not quoted), a control
// character, white space at either end (the reader trims it), or a first character '=', '+', '-'
// or '@' (a spreadsheet program opening the CSV would run the cell as a formula).
std::string unsafe_csv_cell_reason(const std::string& s);
// Only the last rule: "" unless `s` starts with '=', '+', '-' or '@'.
std::string spreadsheet_formula_reason(const std::string& s);

// "" when `name` may be a class name: one path component (a class names a folder of patches or
// heatmaps) and a CSV cell and column suffix (prob_<class>), both as above.
std::string unsafe_class_name_reason(const std::string& name);

// "" when `path` is a relative path whose components are each safe (as above, except that '/'
// separates them), else the reason.
std::string unsafe_relative_path_reason(const std::string& path);

// A relative slide path flattened into one file name, reversibly (so distinct paths give
// distinct names): '%' -> "%25", '/' -> "%2F" ("a/s.svs" -> "a%2Fs.svs"). A name longer than
// 200 bytes is cut to 160 and ends in "%h" and the 16 hex digits of the path's FNV-1a hash
// ("%h" never comes out of the escaping, so a cut name cannot equal an uncut one).
std::string flat_path_name(const std::string& relative_path);
// `name` itself when at most 200 bytes, else cut as flat_path_name cuts, hashing `name`.
std::string bounded_name(const std::string& name);

// `name` (a slide's stem, a DICOM series' folder) as one component of an output path: itself when
// unsafe_component_reason finds nothing, else escaped: '%', '/', '\\' and control characters as
// %XX, a name of dots ("." and "..") with each dot as "%2E", "" as "%"; then bounded_name. So
// `..` never names a folder that climbs out of the output folder. (An escaped name may equal
// another slide's plain one: callers make names unique after this.)
std::string output_component(const std::string& name);

// `s` for an error message: control characters shown as '?', cut after 200 bytes.
std::string quoted_for_message(std::string s);

}  // namespace ds
