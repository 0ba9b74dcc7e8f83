// TiffHandlePool (see tiff_handle_pool.h). The lock covers only the free list.
#include "slide/reader/tiff_handle_pool.h"

namespace ds {

TiffHandlePool::Lease TiffHandlePool::acquire(const TiffDir& dir) {
  std::unique_ptr<TiffHandle> h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      h = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!h) h = std::make_unique<TiffHandle>(path_);
  h->select(dir.main_index, dir.subifd_offset);
  return Lease(this, std::move(h));
}

void TiffHandlePool::give_back(std::unique_ptr<TiffHandle> h) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(std::move(h));
}

}  // namespace ds
