// Training's progress line (train/progress.h): the epoch's ETA from this process's own batches (a
// resumed epoch's earlier batches are not in its clock), and the run's ETA over the epochs left,
// their ends (validation) and a --max-steps limit.
#include <catch2/catch.hpp>

#include <string>

#include "train/progress.h"

using namespace ds;

namespace {

// Epoch 2 of 5, 100 batches, 10 done in 20 s: 2 s per batch.
StepProgress halfway() {
  StepProgress p;
  p.epoch = 2, p.epochs = 5;
  p.batch = 10, p.batches = 100;
  p.seconds = 20;
  p.images = 160;
  return p;
}

}  // namespace

TEST_CASE("the epoch's ETA is the rest of its batches at this process's rate") {
  StepProgress p = halfway();
  CHECK(p.eta_seconds() == Approx(180));
  p.first_batch = 6;  // resumed at batch 6: 4 batches in 20 s
  CHECK(p.eta_seconds() == Approx(450));
  p.batch = p.first_batch;  // no batch yet: no rate, no estimate
  CHECK(p.eta_seconds() == 0);
}

TEST_CASE("the run's ETA adds the epochs left and their ends, capped by --max-steps and the ends it reaches") {
  StepProgress p = halfway();
  CHECK(p.run_eta_seconds() == Approx(180 + 3 * 200));  // epochs 3..5 at 2 s per batch
  p.epoch_end_seconds = 30;                             // the last epoch's validation
  CHECK(p.run_eta_seconds() == Approx(180 + 30 + 3 * (200 + 30)));
  p.steps_left = 50;  // stops within this epoch (90 batches left): no validation on the way
  CHECK(p.run_eta_seconds() == Approx(100));
  p.steps_left = 90;  // stops right after this epoch's last batch, before its validation
  CHECK(p.run_eta_seconds() == Approx(180));
  p.steps_left = 91;  // one step into epoch 3: this epoch's end is run
  CHECK(p.run_eta_seconds() == Approx(182 + 30));
  p.steps_left = 250;  // epochs 2 and 3 end, stop 60 batches into epoch 4
  CHECK(p.run_eta_seconds() == Approx(500 + 2 * 30));
  p.steps_left = 290;  // stops at epoch 4's last batch: still two ends
  CHECK(p.run_eta_seconds() == Approx(580 + 2 * 30));
  p.steps_left = 100000;  // more steps than the run has: the run's own end
  CHECK(p.run_eta_seconds() == Approx(180 + 30 + 3 * (200 + 30)));
  p.steps_left = 0;
  CHECK(p.run_eta_seconds() == 0);
  const std::string line = format_progress(halfway());
  CHECK(line.find("eta 3m00s (run 13m00s)") != std::string::npos);
  StepProgress capped = halfway();
  capped.steps_left = 50;  // --max-steps stops the run before this epoch ends: the shorter ETA shown
  CHECK(format_progress(capped).find("eta 3m00s (run 1m40s)") != std::string::npos);
  StepProgress last = halfway();
  last.epoch = last.epochs;  // the last epoch with no end measured: the run's ETA says nothing more
  CHECK(format_progress(last).find("(run") == std::string::npos);
}
