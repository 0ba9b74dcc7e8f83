// The identity of a slide's bytes (base/file_hash.h) over every file the slide is read from, so a
// result is never reused after any of them changed: one file for TIFF, NDPI and plain images; for
// a DICOM slide (one instance file or a folder) every instance of its series that the reader uses,
// since a changed level or label instance changes what a window reads; for a MIRAX slide its
// Slidedat.ini, Index.dat and data files (not the .mrxs, which the reader does not read).
#pragma once
#include <string>
#include <vector>

#include "base/file_hash.h"

namespace ds {

class FileHashCache;  // base/file_hash_cache.h

// The files `path`'s slide is read from, sorted: {path} for a single-file slide.
// InputError as Slide::open gives it when a DICOM series cannot be read.
std::vector<std::string> slide_source_files(const std::string& path);

// file_identity of a single-file slide (unchanged, so keys written before stay valid); for several
// files: the sum of their sizes, and the FNV-1a of each file's (size, head hash) in path order
// (head) and of their tail hashes (tail).
FileIdentity slide_source_identity(const std::string& path);

// slide_source_identity plus the SHA-256 of every byte the slide is read from (one file: its own;
// several: of their hashes' hex in path order), taken from `hashes` while each file's size, times
// and inode are unchanged, else read whole and remembered (base/file_hash_cache.h). What predict
// and diagnose key results by: a slide changed anywhere, keeping its size, first and last MB,
// is still another slide.
FileIdentity slide_content_identity(const std::string& path, FileHashCache& hashes);

}  // namespace ds
