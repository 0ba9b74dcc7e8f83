// The connection guard of `deepslide serve` (connection_guard.h): the rules, and the thread that
// applies them to the process's sockets.
#include "serve/connection_guard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>  // tcp_info with the byte counters (glibc's netinet/tcp.h has an older one)
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ds {

bool waiting_for_worker(const GuardedConnection& c, const ConnectionCounters& n) {
  return n.rx > 0 && n.unread >= n.rx && c.tx_answered == 0 && n.tx == 0;
}

GuardVerdict judge_connection(GuardedConnection& c, const ConnectionCounters& n, double now_s, double request_timeout_s,
                              bool others_waiting) {
  if (c.opened < 0) c.opened = now_s;
  const uint64_t read = n.rx - std::min(n.unread, n.rx);  // what a worker has taken in
  // Everything queued for the client has been acknowledged, and more than before: an answer was
  // delivered, so what the server read before it was a request that got its answer.
  bool answered = false;
  if (n.unsent == 0 && n.tx != c.tx_answered) {
    c.read_answered = read;
    c.tx_answered = n.tx;
    answered = true;
  }
  if (read > c.read_answered + kMaxRequestBytes) return GuardVerdict::too_much;
  if (answered && others_waiting && now_s - c.opened > 2 * request_timeout_s) return GuardVerdict::too_long;
  const bool busy = read > c.read_answered || n.unsent > 0;
  if (!busy) {
    c.busy_since = -1;
    return GuardVerdict::keep;
  }
  if (c.busy_since < 0 || (n.unsent > 0 && n.tx >= c.tx_mark + kMinAnswerProgress)) {
    c.busy_since = now_s;  // turned busy, or an answer still moving at a useful pace
    c.tx_mark = n.tx;
  }
  return now_s - c.busy_since > request_timeout_s ? GuardVerdict::too_slow : GuardVerdict::keep;
}

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The port of an IPv4 or IPv6 address (-1 for another family), and its host as text.
int port_of(const sockaddr_storage& a, std::string* host = nullptr) {
  char text[INET6_ADDRSTRLEN] = "?";
  int port = -1;
  if (a.ss_family == AF_INET) {
    const auto* v4 = (const sockaddr_in*)&a;
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = (const sockaddr_in6*)&a;
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  if (host) *host = text;
  return port;
}

// "address:port" of the client, for the log line.
std::string peer_of(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (getpeername(fd, (sockaddr*)&a, &len) != 0) return "a client";
  std::string host;
  const int port = port_of(a, &host);
  return host + ":" + std::to_string(port);
}

int local_port(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  return getsockname(fd, (sockaddr*)&a, &len) == 0 ? port_of(a) : -1;
}

}  // namespace

ConnectionGuard::ConnectionGuard(double request_timeout_s, int port) : timeout_s_(request_timeout_s), port_(port) {
  const auto every = std::chrono::duration<double>(std::min(0.1, request_timeout_s / 10));
  thread_ = std::thread([this, every] {
    while (!stop_.load()) {
      look();
      std::this_thread::sleep_for(every);
    }
  });
}

ConnectionGuard::~ConnectionGuard() {
  stop_ = true;
  thread_.join();
}

void ConnectionGuard::look() {
  if (unsupported_) return;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  const double now = now_seconds();
  struct Looked {
    int fd;  // a duplicate, closed after the verdicts
    uint64_t inode;
    ConnectionCounters n;
  };
  std::vector<Looked> looked;
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    // A duplicate keeps the socket open while we look: a worker may close its descriptor at any
    // moment and the number be reused, but the duplicate still names the socket we looked at.
    const int g = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
    if (g < 0) continue;
    struct stat st {};
    int v = 0;
    socklen_t len = sizeof v;
    tcp_info ti{};
    socklen_t ti_len = sizeof ti;
    int unsent = 0, unread = 0;
    const bool ours = fstat(g, &st) == 0 && S_ISSOCK(st.st_mode) &&
                      getsockopt(g, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v == 0 &&
                      getsockopt(g, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 && v == IPPROTO_TCP &&
                      local_port(g) == port_ && getsockopt(g, IPPROTO_TCP, TCP_INFO, &ti, &ti_len) == 0;
    if (ours && ti_len < offsetof(tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received) {
      std::fprintf(stderr,
                   "deepslide serve: this kernel reports no TCP byte counters: slow or endless requests "
                   "are bounded only by the read timeout\n");
      unsupported_ = true;
    } else if (ours && ioctl(g, SIOCOUTQ, &unsent) == 0 && ioctl(g, SIOCINQ, &unread) == 0) {
      looked.push_back({g,
                        (uint64_t)st.st_ino,
                        {ti.tcpi_bytes_received, (uint64_t)std::max(unread, 0), ti.tcpi_bytes_acked,
                         (uint64_t)std::max(unsent, 0)}});
      continue;
    }
    close(g);
    if (unsupported_) break;
  }
  closedir(dir);
  bool someone_waits = false;
  for (const Looked& l : looked) someone_waits = someone_waits || waiting_for_worker(conns_[l.inode], l.n);
  for (const Looked& l : looked) {
    GuardedConnection& c = conns_[l.inode];
    c.seen = true;
    const GuardVerdict verdict = judge_connection(c, l.n, now, timeout_s_, someone_waits);
    if (verdict != GuardVerdict::keep) {
      shutdown(l.fd, SHUT_RDWR);  // the worker's read or write fails; it closes the connection
      closed_.fetch_add(1);
      const std::string who = peer_of(l.fd);
      if (verdict == GuardVerdict::too_much)
        std::fprintf(stderr,
                     "deepslide serve: closed the connection from %s: over %llu KiB received without a "
                     "complete request\n",
                     who.c_str(), (unsigned long long)(kMaxRequestBytes >> 10));
      else if (verdict == GuardVerdict::too_long)
        std::fprintf(stderr,
                     "deepslide serve: closed the connection from %s after an answer: open over %g s while "
                     "other clients wait for a thread\n",
                     who.c_str(), 2 * timeout_s_);
      else
        std::fprintf(stderr,
                     "deepslide serve: closed the connection from %s: a request not complete and answered "
                     "within %g s (--request-timeout)\n",
                     who.c_str(), timeout_s_);
    }
    close(l.fd);
  }
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (!it->second.seen) it = conns_.erase(it);
    else (it++)->second.seen = false;
  }
}

}  // namespace ds
