// The rank-ordered sum's state machine (see ordered_sum.h).
#include "dist/ordered_sum.h"

#ifdef DEEPSLIDE_MPI
#include <algorithm>

#include "base/error.h"
#include "base/int_math.h"

namespace ds::dist {

namespace {

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}

}  // namespace

template <class T>
void OrderedSum<T>::start(MPI_Comm comm, T* v, int64_t n) {
  DS_CHECK(done(), "a rank-ordered sum started while another is in flight");
  comm_ = comm;
  v_ = v;
  n_ = n;
  off_ = 0;
  MPI_Comm_size(comm, &ranks_);
  if (n > 0) begin_piece();
}

template <class T>
void OrderedSum<T>::begin_piece() {
  len_ = std::min(kPiece, n_ - off_);
  chunk_ = ceil_div(len_, (int64_t)ranks_);
  send_.assign((size_t)(chunk_ * ranks_), T(0));
  recv_.resize((size_t)(chunk_ * ranks_));
  std::copy(v_ + off_, v_ + off_ + len_, send_.begin());
  const MPI_Datatype type = mpi_type<T>();
  check_mpi(MPI_Ialltoall(send_.data(), (int)chunk_, type, recv_.data(), (int)chunk_, type, comm_, &req_),
            "MPI_Ialltoall");
  phase_ = Phase::exchange;
}

template <class T>
void OrderedSum<T>::after_exchange() {
  for (int64_t i = 0; i < chunk_; ++i) {
    T s = recv_[(size_t)i];
    for (int64_t r = 1; r < ranks_; ++r) s += recv_[(size_t)(r * chunk_ + i)];
    send_[(size_t)i] = s;
  }
  const MPI_Datatype type = mpi_type<T>();
  check_mpi(MPI_Iallgather(send_.data(), (int)chunk_, type, recv_.data(), (int)chunk_, type, comm_, &req_),
            "MPI_Iallgather");
  phase_ = Phase::gather;
}

template <class T>
void OrderedSum<T>::after_gather() {
  std::copy(recv_.begin(), recv_.begin() + len_, v_ + off_);
  off_ += len_;
  if (off_ < n_) begin_piece();
  else phase_ = Phase::idle;
}

template <class T>
void OrderedSum<T>::advance() {
  if (phase_ == Phase::exchange) after_exchange();
  else after_gather();
}

template <class T>
bool OrderedSum<T>::progress() {
  while (!done()) {
    int complete = 0;
    check_mpi(MPI_Test(&req_, &complete, MPI_STATUS_IGNORE), "MPI_Test");
    if (!complete) return false;
    advance();
  }
  return true;
}

template <class T>
void OrderedSum<T>::wait() {
  while (!done()) {
    check_mpi(MPI_Wait(&req_, MPI_STATUS_IGNORE), "MPI_Wait");
    advance();
  }
}

template class OrderedSum<float>;
template class OrderedSum<double>;

}  // namespace ds::dist
#endif
