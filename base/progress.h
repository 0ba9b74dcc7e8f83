// Progress of a long job for a person watching it: done/total, rate and ETA of the current
// item's phase (a slide's tissue scan, then its windows) and of the whole run (items done of all,
// steps so far, a rough ETA from the share of items done). Reusable by any command that counts
// steps over items (predict today; patches, train, diagnose later).
//
// On a terminal one line on stderr is redrawn in place (at most 5 times a second). Otherwise (a
// log file, a pipe, `deepslide run`'s child) a plain line at most every `interval_seconds` (15 s;
// the environment variable DEEPSLIDE_PROGRESS_INTERVAL overrides it, tests set it low), and one
// as soon as the first phase starts, so a log shows within seconds that the job is alive. Quiet:
// nothing at all.
//
// Usage: Progress p("predict", slides, "windows", ProgressStyle::for_stderr(quiet));
//        p.phase(i, "a/s.svs", "tissue scan", candidates); ... p.add(1) from any thread ...
//        p.phase(i, "a/s.svs", "predict", windows, resumed); ... p.add(batch) ...
//        p.item_done(); p.print("[1/3] a/s.svs: 5000 windows");  // an outcome line
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace ds {

struct ProgressStyle {
  std::FILE* out = nullptr;      // nullptr: silent
  bool redraw = false;           // a terminal: one line rewritten in place
  double interval_seconds = 15;  // between two plain lines (redraw: 0.2)
  // stderr: redrawn when it is a terminal, else plain lines every DEEPSLIDE_PROGRESS_INTERVAL
  // seconds (default 15); silent when `quiet`.
  static ProgressStyle for_stderr(bool quiet);
};

class Progress {
 public:
  // job: the prefix of each line ("predict"); items: how many the run has (slides); unit: what a
  // step is ("windows").
  Progress(std::string job, int64_t items, std::string unit, ProgressStyle style);
  ~Progress();  // ends a redrawn line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_items(int64_t items);  // when the item count is known only after construction

  // Starts a phase of item `item` (0-based): `name` names the item, `phase` says what it does,
  // `total` steps (0: unknown), of which `done` are done already (resumed work, not in the rate).
  // The run's step count and rate add up the phases with `run_steps` (predict: the windows
  // predicted, not the candidates its tissue scan examined).
  void phase(int64_t item, const std::string& name, const std::string& phase, int64_t total, int64_t done = 0,
             bool run_steps = true);
  void add(int64_t n);  // n more steps done; thread-safe, prints only when a line is due
  void item_done();     // the current item is finished (predicted, skipped or failed)
  // Prints a whole line (an item's outcome), clearing a redrawn progress line first. Safe to
  // call when silent (the line still goes to `out` unless it is null).
  void print(const std::string& line);

  // The status line as it would be printed now (for tests and for callers that log it).
  std::string status() const;

 private:
  void maybe_print(bool force);
  std::string status_locked() const;
  void end_phase_locked();
  double now() const;  // seconds since construction

  const std::string job_, unit_;
  int64_t items_;
  const ProgressStyle style_;
  mutable std::mutex mu_;  // guards the strings and printing
  std::string name_, phase_;
  int64_t item_ = 0, items_done_ = 0;
  int64_t total_ = 0, resumed_ = 0;
  std::atomic<bool> phase_run_steps_{true};  // read by add() without the mutex
  double start_ = 0, phase_start_ = 0;
  bool work_started_ = false;  // a phase has started (items before it were skipped)
  double work_start_ = 0;
  int64_t items_at_work_start_ = 0;
  double last_item_done_ = 0;          // when the latest item finished
  std::atomic<int64_t> done_{0};       // steps of the current phase, resumed ones included
  std::atomic<int64_t> run_steps_{0};  // steps of run_steps phases (resumed ones excluded)
  double run_step_seconds_ = 0;        // time spent in run_steps phases that ended
  std::atomic<double> next_print_{0};  // time the next line is due
  bool printed_ = false, line_open_ = false;
};

// "12s", "3m05s", "1h02m" (shared with train's progress lines).
std::string format_duration(double seconds);

// Rate and time left of a loop over whole items, for a command that reports once per item
// (diagnose: "0.25 slides/s, ETA 12s").
class ItemEta {
 public:
  ItemEta();
  // Call when an item that took real work finishes (skipped items do not count: they would
  // make the rate look faster than the work left).
  void worked() { ++worked_; }
  // "<rate> <unit>/s, ETA <duration>" for `left` items still to do ("" before the first worked item).
  std::string text(size_t left, const char* unit) const;

 private:
  double start_;
  size_t worked_ = 0;
};

}  // namespace ds
