// python_threads permits (see python_permits.hpp).
#include "python_permits.hpp"

#include "dftracer/utils/core/detail/futex.hpp"

namespace dftracer::utils::python {

namespace {
// The permit pool this thread holds a permit of, and how many nested Holds.
thread_local PythonPermits* tls_held = nullptr;
thread_local int tls_depth = 0;
}  // namespace

void PythonPermits::acquire() {
  for (;;) {
    std::uint32_t v = available_.load(std::memory_order_acquire);
    while (v > 0) {
      if (available_.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) return;
    }
    // Not a BlockingScope: a permit holder is either running Python (it will
    // give the permit back) or blocked on a handle (it gave it back already),
    // so this wait always ends, and counting it as blocked would start a
    // temporary worker per queued callable that then also waits here.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (available_.load(std::memory_order_seq_cst) == 0) futex_wait(available_, 0);
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

bool PythonPermits::try_acquire() noexcept {
  std::uint32_t v = available_.load(std::memory_order_acquire);
  while (v > 0) {
    if (available_.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void PythonPermits::release() {
  available_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) futex_wake_one(available_);
}

PythonPermits::Hold::Hold(PythonPermits* permits) : permits_(permits) {
  if (!permits_ || permits_->cap_ == 0) {
    permits_ = nullptr;
    return;
  }
  if (tls_depth++ == 0) {
    permits_->acquire();
    tls_held = permits_;
  }
}

PythonPermits::Hold::Hold(PythonPermits* permits, NoWait) : permits_(permits) {
  if (!permits_ || permits_->cap_ == 0) {
    permits_ = nullptr;
    return;
  }
  if (tls_depth == 0 && !permits_->try_acquire()) {
    permits_ = nullptr;
    held_ = false;
    return;
  }
  if (tls_depth++ == 0) tls_held = permits_;
}

PythonPermits::Hold::~Hold() {
  if (!permits_) return;
  if (--tls_depth == 0) {
    tls_held = nullptr;
    permits_->release();
  }
}

PythonPermits::Pause::Pause() {
  if (!tls_held) return;
  permits_ = tls_held;
  depth_ = tls_depth;
  tls_held = nullptr;
  tls_depth = 0;
  permits_->release();
}

PythonPermits::Pause::~Pause() {
  if (!permits_) return;
  permits_->acquire();
  tls_held = permits_;
  tls_depth = depth_;
}

}  // namespace dftracer::utils::python
