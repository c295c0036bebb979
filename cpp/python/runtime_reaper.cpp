// Reaper threads (see runtime_reaper.hpp).
#include "runtime_reaper.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "waiting.hpp"

namespace dftracer::utils::python {

namespace {
std::mutex g_mu;
std::condition_variable g_cv;
std::size_t g_live = 0;
}  // namespace

bool reap_elsewhere(std::unique_ptr<Runtime> runtime) noexcept {
  {
    std::lock_guard lock(g_mu);
    ++g_live;
  }
  Runtime* raw = runtime.get();
  try {
    // The thread gets a plain pointer: had it got the unique_ptr, a failed
    // start would destroy the runtime right here, on its own thread.
    std::thread([raw] {
      delete raw;  // ~Runtime: cancels, waits for the task that dropped it, joins
      std::lock_guard lock(g_mu);
      --g_live;
      g_cv.notify_all();
    }).detach();
    (void)runtime.release();  // the reaper owns it now
    return true;
  } catch (...) {
    std::lock_guard lock(g_mu);
    --g_live;
    g_cv.notify_all();
  }
  note_abandoned(raw);
  (void)runtime.release();
  return false;
}

bool wait_for_reapers(std::chrono::nanoseconds timeout) noexcept {
  std::unique_lock lock(g_mu);
  return g_cv.wait_for(lock, timeout, [] { return g_live == 0; });
}

}  // namespace dftracer::utils::python
