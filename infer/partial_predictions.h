// A slide's predictions committed in chunks, so an interrupted predict (a signal, a kill, a power
// cut) continues where it stopped instead of starting the slide over. OUT/<name>.partial holds
//   line 1: JSON {"format": "deepslide-partial", "version": 1, "key": <the slide's key,
//           infer/prediction_key.h>, "candidates": N, "windows": [[x, y], ...] (the tissue
//           windows, so a resumed slide skips its tissue scan), "rows": K}
//   then:   the prediction CSV text of the first K windows, header included: exactly the first
//           bytes of the finished CSV, whose later rows are appended to it.
// It is rewritten whole and atomically (base/atomic_file.h) at each commit and removed once the
// slide's CSV is written. A partial file for another key, or one that does not parse, is not
// used (the caller says why) and is replaced.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "infer/prediction_csv.h"
#include "infer/prediction_key.h"
#include "slide/windows/window_grid.h"

namespace ds {

struct PartialPredictions {
  ojson key;
  int64_t candidates = 0;
  std::vector<Window> windows;  // tissue windows, in prediction order
  int64_t rows = 0;             // windows predicted so far (the first `rows`)
  std::string csv;              // the CSV text of those rows, header included
  std::string windows_json;     // `windows` as JSON, made by the first write (they never change)
};

// Reads OUT/<name>.partial and checks it against `key` and `classes`. Returns false and sets
// `why` when there is none ("" then) or it cannot be used (another key, corrupt).
bool read_partial(const std::string& path, const ojson& key, const std::vector<std::string>& classes,
                  PartialPredictions& out, std::string& why);
// Writes it atomically (the commit that makes the chunk durable: data and folder synced).
void write_partial(const std::string& path, PartialPredictions& p);

}  // namespace ds
