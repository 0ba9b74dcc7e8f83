// A pool of libtiff handles on one file, for the codecs we do not drive ourselves (LZW, Deflate,
// ...): each decode borrows a handle already positioned on its directory, so threads decode in
// parallel without sharing libtiff state and without re-reading directories on every tile.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "slide/reader/tiff_dir.h"
#include "slide/reader/tiff_handle.h"

namespace ds {

class TiffHandlePool {
 public:
  explicit TiffHandlePool(std::string path) : path_(std::move(path)) {}

  class Lease {
   public:
    Lease(TiffHandlePool* pool, std::unique_ptr<TiffHandle> h) : pool_(pool), h_(std::move(h)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (h_) pool_->give_back(std::move(h_));
    }
    TiffHandle& operator*() { return *h_; }
    TiffHandle* operator->() { return h_.get(); }

   private:
    TiffHandlePool* pool_;
    std::unique_ptr<TiffHandle> h_;
  };

  // A handle with `dir` selected; InputError when the directory cannot be read.
  Lease acquire(const TiffDir& dir);

 private:
  void give_back(std::unique_ptr<TiffHandle> h);
  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<TiffHandle>> free_;
};

}  // namespace ds
