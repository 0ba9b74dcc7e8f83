// Writing a file so that readers never see a partial one: every output of deepslide (models,
// checkpoints, CSVs, JSON, images) goes through here.
#pragma once
#include <cstddef>
#include <string>

namespace ds {

// Writes to a temporary file in the same folder, fsyncs it (unless sync is false: bulk exports
// of many small files), then renames it over `path`. InputError naming `path` on failure.
void write_file_atomic(const std::string& path, const void* data, size_t size, bool sync = true);
void write_text_atomic(const std::string& path, const std::string& text, bool sync = true);

}  // namespace ds
