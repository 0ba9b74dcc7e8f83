// A reader's first check on a path it was given: a regular file (through symbolic links), not a
// FIFO (opening one blocks until a writer comes), a device (/dev/zero never ends) or a folder.
#pragma once
#include <string>

namespace ds {

// InputError naming `path` and what it is instead (or why it cannot be looked at: a symbolic link
// loop, no permission). Nothing for a missing path: the caller's open says so in its own words.
void require_regular_file(const std::string& path);

// The input checks a command makes before it creates its output folder, so that a mistyped path
// leaves nothing behind: InputError naming `path` when it is missing ("no such file" / "no such
// folder") or of the other kind.
void require_input_file(const std::string& path);
void require_input_folder(const std::string& path);

}  // namespace ds
