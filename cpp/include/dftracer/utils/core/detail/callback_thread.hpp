// CallbackThread: the runtime's thread for work that must not run where it
// arises. The watchdog thread must never run user code (a callback that
// waits, shuts the runtime down or drops it would deadlock the watchdog, and
// no later timeout would fire), and neither may a foreign thread that
// completes a native task: the finishing steps of such tasks (which run the
// error callback), the watchdog's reports and the interrupts it sends all
// come here.
//
// It belongs to its runtime like a worker (ThreadRole::callback), so the
// runtime's guards refuse wait_all()/shutdown() from it. A wait on this
// thread runs the items queued behind it meanwhile (TaskState's wait): the
// task it waits for may be one of them.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "dftracer/utils/core/detail/thread_role.hpp"

namespace dftracer::utils {

class CallbackThread final : public ThreadRole::DeferredWork {
 public:
  // Starts the thread (ThreadStartError when the system refuses it).
  // `on_exit` runs on it last (the bindings drop its Python thread state).
  CallbackThread(const void* owner, std::function<void()> on_exit);
  ~CallbackThread();
  CallbackThread(const CallbackThread&) = delete;
  CallbackThread& operator=(const CallbackThread&) = delete;

  // Runs `fn` on the callback thread, after everything posted before it.
  // After stop(), runs it on the calling thread instead (nothing is lost).
  void post(std::function<void()> fn);
  // On the callback thread only: runs one queued item now.
  bool run_one() override;
  // Runs what is queued, then joins. Idempotent; not from the thread itself.
  void stop();

  bool is_current_thread() const noexcept { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void run();
  // Runs `fn`, keeping anything it throws from ending the thread (but a
  // forced unwind, a thread cancellation, passes).
  static void run_guarded(std::function<void()>& fn);

  const void* owner_;
  std::function<void()> on_exit_;
  std::mutex mu_;  // guards queue_ and stopping_
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace dftracer::utils
