// The shared queue of items (see work_queue.h). Messages: a rank's request is its last item
// (int64, -1 for none yet) followed by that item's result bytes (tag kRequest); rank 0 answers
// with the next item, or -1 when none is left (tag kReply). Rank 0's answering thread and the
// other ranks' waits poll with short sleeps: a blocking MPI call spins a core in Open MPI, and
// the cores belong to the work.
#include "dist/work_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>
#include <utility>

#include "base/error.h"
#include "dist/comm.h"
#include "dist/mpi_check.h"

namespace ds::dist {

std::vector<int64_t> largest_first(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> order(sizes.size());
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return sizes[(size_t)a] > sizes[(size_t)b]; });
  return order;
}

namespace {

using Work = std::function<std::string(int64_t)>;
using Done = std::function<void(int64_t, const std::string&)>;

void run_alone(const std::vector<int64_t>& order, const Work& work, const Done& done) {
  for (int64_t item : order) done(item, work(item));
}

}  // namespace

#ifndef DEEPSLIDE_MPI

void share_items(const std::vector<int64_t>& order, const Work& work, const Done& done) {
  run_alone(order, work, done);
}

#else

namespace {

constexpr int kRequest = 7101, kReply = 7102;
// A result larger than this is a bug (results are a slide's record: kilobytes).
constexpr int64_t kMaxResult = int64_t(64) << 20;
constexpr auto kPoll = std::chrono::microseconds(500);

std::string request(int64_t item, const std::string& result) {
  DS_CHECK((int64_t)result.size() <= kMaxResult, "a work item's result of " + std::to_string(result.size()) + " bytes");
  std::string msg(sizeof item, '\0');
  std::memcpy(msg.data(), &item, sizeof item);
  return msg + result;
}

// Rank 0's side: the queue, the results that other ranks sent, and the thread answering them.
class Dispatcher {
 public:
  explicit Dispatcher(const std::vector<int64_t>& order) : order_(order), waiting_(size() - 1) {
    thread_ = std::thread([this] { serve(); });
  }
  ~Dispatcher() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // The next item for rank 0 itself (-1: none left).
  int64_t take() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_ < order_.size() ? order_[next_++] : -1;
  }
  // The other ranks' results that arrived so far.
  std::deque<std::pair<int64_t, std::string> > arrived() {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_) std::rethrow_exception(failure_);
    return std::exchange(inbox_, {});
  }
  // True once every other rank has been told there is nothing left (its last result is in).
  bool finished() const { return waiting_ == 0; }

 private:
  void serve() {
    try {
      while (!stop_ && waiting_ > 0) {
        int flag = 0;
        MPI_Status st;
        check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, kRequest, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
        if (!flag) {
          std::this_thread::sleep_for(kPoll);
          continue;
        }
        answer(st);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      failure_ = std::current_exception();
    }
  }

  void answer(const MPI_Status& st) {
    int bytes = 0;
    check_mpi(MPI_Get_count(&st, MPI_BYTE, &bytes), "MPI_Get_count");
    DS_CHECK(bytes >= (int)sizeof(int64_t), "a work request of " + std::to_string(bytes) + " bytes");
    std::string msg((size_t)bytes, '\0');
    check_mpi(MPI_Recv(msg.data(), bytes, MPI_BYTE, st.MPI_SOURCE, kRequest, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
              "MPI_Recv");
    int64_t item = -1;
    std::memcpy(&item, msg.data(), sizeof item);
    const int64_t next = take();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (item >= 0) inbox_.emplace_back(item, msg.substr(sizeof item));
    }
    check_mpi(MPI_Send(&next, 1, MPI_INT64_T, st.MPI_SOURCE, kReply, MPI_COMM_WORLD), "MPI_Send");
    if (next < 0) --waiting_;
  }

  const std::vector<int64_t>& order_;
  std::mutex mu_;
  size_t next_ = 0;
  std::deque<std::pair<int64_t, std::string> > inbox_;
  std::exception_ptr failure_;
  std::atomic<int> waiting_;  // other ranks not yet told that nothing is left
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void run_rank0(const std::vector<int64_t>& order, const Work& work, const Done& done) {
  Dispatcher q(order);
  auto deliver = [&] {
    for (const auto& [item, result] : q.arrived()) done(item, result);
  };
  for (int64_t item = q.take(); item >= 0; item = q.take()) {
    deliver();
    done(item, work(item));
  }
  while (!q.finished()) {
    deliver();
    std::this_thread::sleep_for(kPoll * 10);
  }
  deliver();
}

// The next item from rank 0, sending the last one's result; -1 when none is left.
int64_t ask(int64_t last, const std::string& result) {
  const std::string msg = request(last, result);
  check_mpi(MPI_Send(msg.data(), (int)msg.size(), MPI_BYTE, 0, kRequest, MPI_COMM_WORLD), "MPI_Send");
  int64_t next = -1;
  MPI_Request req;
  check_mpi(MPI_Irecv(&next, 1, MPI_INT64_T, 0, kReply, MPI_COMM_WORLD, &req), "MPI_Irecv");
  for (int flag = 0;;) {
    check_mpi(MPI_Test(&req, &flag, MPI_STATUS_IGNORE), "MPI_Test");
    if (flag) return next;
    std::this_thread::sleep_for(kPoll / 5);
  }
}

void run_worker(const Work& work) {
  int64_t last = -1;
  std::string result;
  for (int64_t item; (item = ask(last, result)) >= 0; last = item) result = work(item);
}

}  // namespace

void share_items(const std::vector<int64_t>& order, const Work& work, const Done& done) {
  if (size() == 1) {
    run_alone(order, work, done);
  } else {
    DS_CHECK(threads_allowed(), "sharing work across ranks needs MPI_THREAD_SERIALIZED from the MPI library");
    if (rank() == 0) run_rank0(order, work, done);
    else run_worker(work);
  }
  mark_finished_together();
}

#endif

}  // namespace ds::dist
