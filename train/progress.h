// Training progress as data (the CLI decides how to show it): images/s, running loss and
// accuracy, ETAs of the epoch and of the run, and the share of step time spent waiting for the loader. Also the
// formatting of one progress line, shared by the terminal bar and the plain periodic lines.
#pragma once
#include <cstdint>
#include <string>

#include "base/progress.h"  // format_duration

namespace ds {

struct StepProgress {
  int64_t epoch = 0, epochs = 0;
  int64_t batch = 0, batches = 0;  // batches done in this epoch / in the epoch
  int64_t first_batch = 0;         // the batch this process started the epoch at (a resumed one's)
  int64_t images = 0;              // images seen in this epoch by this process
  double seconds = 0;              // wall time of this epoch in this process
  double wait_seconds = 0;         // of which waiting for data
  double loss = 0, acc = 0;        // running means over the epoch
  // The last epoch's time after its batches (validation, checkpoint, log); 0 until one has ended.
  double epoch_end_seconds = 0;
  int64_t steps_left = -1;  // optimizer steps until --max-steps stops the run; -1: no limit
  double images_per_second() const { return seconds > 0 ? (double)images / seconds : 0; }
  double eta_seconds() const;  // rest of this epoch's batches at the current rate
  // Rest of the run: this epoch's batches and end, then each epoch left as long (batches at the
  // current rate plus the last epoch's end), or the steps --max-steps leaves and the ends of the
  // epochs they finish before it stops, whichever is less.
  double run_eta_seconds() const;
};

std::string format_progress(const StepProgress& p);

}  // namespace ds
