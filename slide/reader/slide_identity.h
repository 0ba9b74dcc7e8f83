// The identity of a slide's bytes (base/file_hash.h) over every file the slide is read from, so a
// result is never reused after any of them changed: one file for TIFF, NDPI and plain images; for
// a DICOM slide (one instance file or a folder) every instance of its series that the reader uses,
// since a changed level or label instance changes what a window reads.
#pragma once
#include <string>
#include <vector>

#include "base/file_hash.h"

namespace ds {

// The files `path`'s slide is read from, sorted: {path} for a single-file slide.
// InputError as Slide::open gives it when a DICOM series cannot be read.
std::vector<std::string> slide_source_files(const std::string& path);

// file_identity of a single-file slide (unchanged, so keys written before stay valid); for several
// files: the sum of their sizes, and the FNV-1a of each file's (size, head hash) in path order
// (head) and of their tail hashes (tail).
FileIdentity slide_source_identity(const std::string& path);

}  // namespace ds
