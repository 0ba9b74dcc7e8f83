// The connection guard of `deepslide serve`: shuts down connections that hold a worker thread
// without finishing a request, that send more than any request of ours needs, or that keep a
// worker from clients waiting for one.
//
// Why it exists: cpp-httplib (0.11.4) times out each read and bounds each header line, but not a
// whole request, and gives each connection a worker for as long as it is kept open. A client
// sending a header byte every few seconds held a worker forever (a few such clients stop the
// server answering anyone), and one sending header lines without end grew the server's memory
// without bound (measured: 555 MB of headers in 8 s on loopback, the server's RSS at 860 MB; Intel(R) Xeon(R)
// Processor, family 6 model 207).
// The library has no hook where it accepts a connection, so the guard watches the process's TCP
// connections from outside, through the kernel's counters of each one (TCP_INFO's bytes received
// and acknowledged, SIOCINQ's bytes received and not yet read, SIOCOUTQ's bytes not yet
// delivered), and shuts a connection down, which makes the worker's read or write fail and the
// worker move on to the next connection, when
// - a worker has read part of a request and its answer is not delivered within the request
//   timeout: slow requests ("slowloris"); an answer counts as moving while the client takes at
//   least kMinAnswerProgress per timeout (slow readers are cut, slow links are not);
// - it has received more than kMaxRequestBytes since its last answer: endless headers;
// - it has been open longer than twice the timeout, has just been answered, and another
//   connection waits for a worker: so a client that finishes each request just in time cannot
//   keep its worker from the others.
// A connection still waiting for a worker (nothing of it read yet) is never judged busy; an idle
// keep-alive connection is not busy either (httplib closes it after its keep-alive timeout).
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

// An answer still being delivered keeps its connection while the client takes at least this much
// per request timeout (2 KB/s at the default 30 s: a slow link, not a client reading a byte now
// and then).
constexpr uint64_t kMinAnswerProgress = 64u << 10;

// What the guard knows of one connection between two looks.
struct GuardedConnection {
  uint64_t read_answered = 0;  // bytes the server had read when its last answer was delivered
  uint64_t tx_answered = 0;    // bytes the client had acknowledged then
  uint64_t tx_mark = 0;        // acknowledged bytes when busy_since was last set
  double busy_since = -1;      // seconds (steady clock) since the connection turned busy, -1 when idle
  double opened = -1;          // when the guard first saw it
  bool seen = false;           // seen in this look (connections not seen are forgotten)
};

// The counters of one look at a connection, and the decision taken from them (pure, so the
// rules are tested without sockets).
struct ConnectionCounters {
  uint64_t rx = 0;      // bytes received from the client (tcpi_bytes_received)
  uint64_t unread = 0;  // of those, not yet read by the server (SIOCINQ)
  uint64_t tx = 0;      // bytes the client acknowledged (tcpi_bytes_acked)
  uint64_t unsent = 0;  // bytes queued for the client and not yet acknowledged (SIOCOUTQ)
};
// Whether no worker has read anything of the connection yet: it waits in httplib's queue.
bool waiting_for_worker(const GuardedConnection& c, const ConnectionCounters& n);
enum class GuardVerdict { keep, too_slow, too_much, too_long };
GuardVerdict judge_connection(GuardedConnection& c, const ConnectionCounters& now, double now_s,
                              double request_timeout_s, bool others_waiting);

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
