// Items of work (slides) shared out to the ranks of the job through one queue that rank 0 keeps:
// each rank asks for the next item when it has finished its last one, so a fast rank takes more
// and a slow one fewer; every item is done exactly once. Rank 0 does items too: a thread of its
// own answers the other ranks' requests (polling, so it costs no core while they work).
//
// What an item produced comes back to rank 0 as bytes, sent with the rank's next request, and
// rank 0 hands it to `done` on its main thread: its own results at once, the other ranks' between
// two of its own items and, once its share is done, as they arrive. So rank 0 alone sees every
// result and writes the run's summary files and prints; the other ranks write only their own
// items' files. Callers make their outputs independent of which rank did an item and of the
// order results arrive in (a summary ordered by item index, not by arrival).
//
// Alone (one process, or no MPI) the items run in `order` on the calling thread and each result
// goes to `done` at once: the same code path, without messages.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ds::dist {

// Runs work(item) once for every item of `order` across the job's ranks and calls done(item,
// result) on rank 0 for each (never on other ranks). `order` is the order items are handed out in
// (rank 0's is used; the largest first, so that no rank starts a long item last); every rank must
// call this with the same items. An exception from work or done on any rank ends this call on that
// rank (the caller's main ends the job: dist::abort_job). After it returns on every rank, no rank
// waits for another (finished_together() is true).
void share_items(const std::vector<int64_t>& order, const std::function<std::string(int64_t item)>& work,
                 const std::function<void(int64_t item, const std::string& result)>& done);

// Item indices 0..n-1 by decreasing size (ties in index order): the hand-out order above.
std::vector<int64_t> largest_first(const std::vector<int64_t>& sizes);

}  // namespace ds::dist
