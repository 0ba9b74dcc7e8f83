// Fingerprints of files, to tell whether an output was made from the same inputs: the FNV-1a
// hash of a whole file (a model of some 100 MB hashes in a fraction of a second), and a cheaper
// identity for files too large to read whole each time (a slide of gigabytes): its size and the
// hashes of its first and last megabyte (a changed slide that keeps its size, its first and its
// last megabyte is taken for the same one: results that must never be reused from other bytes
// add the whole file's SHA-256, remembered by file identity: slide_content_identity).
#pragma once
#include <cstdint>
#include <string>

namespace ds {

// FNV-1a of the file's bytes. InputError naming the file when it cannot be read.
uint64_t fnv1a_file(const std::string& path);

struct FileIdentity {
  uint64_t bytes = 0;
  uint64_t head = 0;  // FNV-1a of the first min(bytes, span) bytes
  uint64_t tail = 0;  // FNV-1a of the last min(bytes, span) bytes
  // SHA-256 of every byte (hex), where the caller asked for it (slide_content_identity: what
  // predict and diagnose key their results by); "" otherwise.
  std::string sha256;
  bool operator==(const FileIdentity& o) const = default;
};

FileIdentity file_identity(const std::string& path, uint64_t span = 1 << 20);

// Bytes of a file, or of the files in a folder and below (a DICOM series); 0 when there is
// nothing to measure. For ordering work largest first, never for identity.
uint64_t bytes_on_disk(const std::string& path);

// The running executable's path (what /proc/self/exe points at; "<path> (deleted)" when the file
// was replaced while it runs), and the FNV-1a of its bytes, hashed once per process (read through
// /proc/self/exe, so a replaced binary still hashes as the one running). InternalError when Linux
// does not say.
std::string self_exe_path();
uint64_t self_exe_fnv1a();

// 16 lower-case hex digits.
std::string hex64(uint64_t v);

}  // namespace ds
