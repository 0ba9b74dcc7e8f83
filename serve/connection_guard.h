// The connection guard of `deepslide serve`: shuts down connections that hold a worker thread
// without finishing a request, or that send more than any request of ours needs.
//
// Why it exists: cpp-httplib (0.11.4) times out each read and bounds each header line, but not a
// whole request. A client sending a header byte every few seconds holds a worker forever (a few
// such clients stop the server answering anyone), and one sending header lines without end grows
// the server's memory without bound (measured: 555 MB of headers in 8 s on loopback, the
// server's RSS at 860 MB). The library has no hook where it accepts a connection, so the guard
// watches the process's TCP connections from outside, through the kernel's counters of each one
// (TCP_INFO's bytes received and acknowledged, SIOCOUTQ's bytes not yet delivered), and shuts a
// connection down, which makes the worker's read or write fail and the worker move on, when
// - it has been busy (bytes received and not yet answered, or an answer not yet delivered) for
//   longer than the request timeout: slow requests ("slowloris") and slow readers;
// - it has received more than kMaxRequestBytes since its last answer: endless headers.
// An idle keep-alive connection is not busy; httplib closes it after its keep-alive timeout.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <unordered_map>

namespace ds {

// No request we answer carries a body (one is refused), and the URL is bounded at 8 KB: 1 MiB
// received without an answer is an attack or a broken client.
constexpr uint64_t kMaxRequestBytes = 1u << 20;

// What the guard knows of one connection between two looks.
struct GuardedConnection {
  uint64_t rx_answered = 0;  // bytes received up to the last fully delivered answer
  uint64_t tx_answered = 0;  // bytes acknowledged by the client at that point
  double busy_since = -1;    // seconds (steady clock) since the connection turned busy, -1 when idle
  bool seen = false;         // seen in this look (connections not seen are forgotten)
};

// The counters of one look at a connection, and the decision taken from them (pure, so the
// rules are tested without sockets).
struct ConnectionCounters {
  uint64_t rx = 0;      // bytes received from the client (tcpi_bytes_received)
  uint64_t tx = 0;      // bytes the client acknowledged (tcpi_bytes_acked)
  uint64_t unsent = 0;  // bytes queued for the client and not yet acknowledged (SIOCOUTQ)
};
enum class GuardVerdict { keep, too_slow, too_much };
GuardVerdict judge_connection(GuardedConnection& c, const ConnectionCounters& now, double now_s,
                              double request_timeout_s);

class ConnectionGuard {
 public:
  // Starts a thread looking at the process's TCP connections to local port `port` every tenth of
  // the timeout (at most every 100 ms). A kernel without the counters (Linux < 4.1) leaves the
  // guard idle, with a note on stderr.
  ConnectionGuard(double request_timeout_s, int port);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  uint64_t closed() const { return closed_.load(); }  // connections shut down so far

 private:
  void look();  // one pass over /proc/self/fd
  double timeout_s_;
  int port_;
  bool unsupported_ = false;
  std::unordered_map<uint64_t, GuardedConnection> conns_;  // by socket inode
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> closed_{0};
  std::thread thread_;
};

}  // namespace ds
