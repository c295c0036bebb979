// The runtime's callback thread (see callback_thread.hpp).
#include "dftracer/utils/core/detail/callback_thread.hpp"

#include "dftracer/utils/core/detail/forced_unwind.hpp"
#include "dftracer/utils/core/detail/thread_start.hpp"
#include "dftracer/utils/core/errors.hpp"

namespace dftracer::utils {

CallbackThread::CallbackThread(const void* owner, std::function<void()> on_exit)
    : owner_(owner), on_exit_(std::move(on_exit)) {
  try {
    thread_ = start_runtime_thread([this] { run(); });
  } catch (const std::system_error& e) {
    throw ThreadStartError(describe_thread_start_failure("callback", 0, 1, e));
  }
}

CallbackThread::~CallbackThread() { stop(); }

void CallbackThread::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(fn));
      cv_.notify_one();
      return;
    }
  }
  run_guarded(fn);
}

void CallbackThread::run_guarded(std::function<void()>& fn) {
  try {
    fn();
  } catch (const detail::ForcedUnwind&) {
    throw;
  } catch (...) {
    // Items catch their own errors (a callback's are logged by the binding);
    // whatever still escapes must not take the runtime's callbacks down.
  }
}

bool CallbackThread::run_one() {
  std::function<void()> fn;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return false;
    fn = std::move(queue_.front());
    queue_.pop_front();
  }
  run_guarded(fn);
  return true;
}

void CallbackThread::run() {
  ThreadRole::Scope role(ThreadRole::Kind::callback, owner_, this);
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping and drained
    std::function<void()> fn = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    run_guarded(fn);
    fn = nullptr;  // drop its captures (task references) outside the lock
    lock.lock();
  }
  lock.unlock();
  if (on_exit_) on_exit_();
}

void CallbackThread::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && !is_current_thread()) thread_.join();
}

}  // namespace dftracer::utils
