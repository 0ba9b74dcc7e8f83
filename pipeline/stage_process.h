// Runs one stage command as a child process: /proc/self/exe (this same binary) with exactly the
// arguments a user would type, printed before it runs. A child process rather than a call into
// the command: every command's options are bound at registration to state that a second parse in
// the same process would start from (predict runs twice), and thread counts and caches are
// process-wide. A child is `deepslide <command> ...` as typed by hand, so `run` and the separate
// commands cannot diverge, and a crash or an out-of-memory kill in stage N ends only stage N.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace ds {

// Runs `deepslide [--threads N] <root_flags> <argv>` (threads > 0 adds the flag) and returns its exit code,
// 128 + the signal when it was killed. The command line goes to `log` (flushed, with stdout,
// before the child starts: the child writes to the same stdout); a kill is reported on `err`.
// A stop request this process gets (install_stop_handlers) is passed on to the child, which is
// then waited for; the child gets SIGTERM when this process dies.
int run_stage_process(const std::vector<std::string>& argv, int threads, const std::vector<std::string>& root_flags,
                      std::ostream& log, std::ostream& err);

// `s` quoted for a POSIX shell where it needs to be.
std::string shell_quote(const std::string& s);

}  // namespace ds
