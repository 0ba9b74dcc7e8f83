// fork + exec of a stage command (see stage_process.h).
#include "pipeline/stage_process.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/error.h"
#include "base/interrupt.h"

namespace ds {

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+@%") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

int run_stage_process(const std::vector<std::string>& argv, int threads, const std::vector<std::string>& root_flags,
                      std::ostream& log, std::ostream& err) {
  std::vector<std::string> full = {"deepslide"};
  if (threads > 0) full.insert(full.end(), {"--threads", std::to_string(threads)});
  full.insert(full.end(), root_flags.begin(), root_flags.end());
  full.insert(full.end(), argv.begin(), argv.end());
  std::string shown = "$";
  for (const std::string& t : full) shown += " " + shell_quote(t);
  log << shown << std::endl;
  std::fflush(stdout);
  std::vector<char*> cargs;
  for (std::string& t : full) cargs.push_back(t.data());
  cargs.push_back(nullptr);
  // The stage's environment: this one's, and kRunStageEnv (base/interrupt.h), made before fork (the
  // child may call only async-signal-safe functions until it execs).
  std::string stage_flag = std::string(kRunStageEnv) + "=1";
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, kRunStageEnv, std::strlen(kRunStageEnv)) != 0) env.push_back(*e);
  env.push_back(stage_flag.data());
  env.push_back(nullptr);
  // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: when this process is killed, the
  // stage it started is too, instead of running on unattended. The child inherits the workdir
  // lock's descriptor, so the lock lasts as long as either process. Stop signals are held back
  // around fork: the child then takes them with their default action until the stage installs
  // its own handlers (with this process's handler and stop flag, a copy of a stop passed on to it
  // before exec would count as the first one's repeat and be lost), and this process sees one
  // that arrived meanwhile once fork returns.
  sigset_t stops, before;
  sigemptyset(&stops);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stops, &before);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    execve("/proc/self/exe", cargs.data(), env.data());
    std::fprintf(stderr, "deepslide run: cannot start /proc/self/exe: %s\n", std::strerror(errno));
    _exit(127);
  }
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (pid < 0) throw InternalError(std::string("fork: ") + std::strerror(fork_errno));
  // A stop request (SIGINT, SIGTERM: stop_signal) is passed on to the stage, once, and the stage is
  // waited for while it saves its state: leaving first would let a rerun start beside it. (From a
  // terminal the stage gets Ctrl-C itself too; base/interrupt.cpp takes the two as one request.)
  int status = 0;
  bool passed_on = false;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw InternalError(std::string("waitpid: ") + std::strerror(errno));
    if (!passed_on && stop_signal()) {
      kill(pid, stop_signal());
      passed_on = true;
    }
    const timespec pause{0, 20'000'000};
    nanosleep(&pause, nullptr);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    err << "deepslide run: " << argv[0] << " was killed by signal " << WTERMSIG(status) << " ("
        << strsignal(WTERMSIG(status)) << ")\n";
    return 128 + WTERMSIG(status);
  }
  return 1;
}

}  // namespace ds
