// A slide's identity over all its files (see slide_identity.h).
#include "slide/reader/slide_identity.h"

#include <algorithm>
#include <filesystem>

#include "base/file_hash_cache.h"
#include "base/hash.h"
#include "base/sha256.h"
#include "slide/reader/dicom_instance.h"
#include "slide/reader/dicom_series.h"
#include "slide/reader/mirax_layout.h"

namespace ds {

std::vector<std::string> slide_source_files(const std::string& path) {
  std::error_code ec;
  if (is_mirax_path(path)) {
    std::vector<std::string> files = read_mirax_layout(path).source_files;
    std::sort(files.begin(), files.end());
    files.erase(std::unique(files.begin(), files.end()), files.end());
    return files;
  }
  if (!std::filesystem::is_directory(path, ec) && !has_dicom_magic(path)) return {path};
  std::vector<std::string> files;
  for (const DicomInstance& d : read_dicom_series(path).parts) files.push_back(d.path);
  std::sort(files.begin(), files.end());
  return files;
}

namespace {

// slide_source_identity of the slide at `path` read from `files` (slide_source_files).
FileIdentity identity_of(const std::string& path, const std::vector<std::string>& files) {
  if (files.size() == 1 && files[0] == path) return file_identity(path);
  FileIdentity all;
  all.head = all.tail = kFnvOffset;
  for (const std::string& f : files) {
    const FileIdentity id = file_identity(f);
    all.bytes += id.bytes;
    all.head = fnv1a(&id.bytes, sizeof id.bytes, all.head);
    all.head = fnv1a(&id.head, sizeof id.head, all.head);
    all.tail = fnv1a(&id.tail, sizeof id.tail, all.tail);
  }
  return all;
}

}  // namespace

FileIdentity slide_source_identity(const std::string& path) { return identity_of(path, slide_source_files(path)); }

FileIdentity slide_content_identity(const std::string& path, FileHashCache& hashes) {
  const std::vector<std::string> files = slide_source_files(path);  // (a DICOM series: parsed once)
  FileIdentity id = identity_of(path, files);
  if (files.size() == 1) {
    id.sha256 = hashes.sha256(files[0]);
    return id;
  }
  std::string all;
  for (const std::string& f : files) all += hashes.sha256(f);
  id.sha256 = sha256_hex(all);
  return id;
}

}  // namespace ds
