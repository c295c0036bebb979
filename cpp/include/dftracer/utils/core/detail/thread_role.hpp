// ThreadRole: which runtime owns the calling thread, and as what.
//
// Pool workers are known through their executor (Executor::current()). The
// runtime's other threads, its callback thread and its watchdog, mark
// themselves here for their whole life, so that every "not from inside the
// runtime" guard (wait_all, shutdown, destroying the runtime) knows every
// thread the runtime owns, and so that a wait on the callback thread can
// run the deferred work queued behind it (docs/design.md, "Threads").
#pragma once

#include <cstdint>

namespace dftracer::utils {

class ThreadRole {
 public:
  enum class Kind : std::uint8_t { none, callback, watchdog };

  // Work a thread runs for others; a wait on that thread runs it meanwhile.
  class DeferredWork {
   public:
    // Runs one queued item; false when none was queued.
    virtual bool run_one() = 0;

   protected:
    ~DeferredWork() = default;
  };

  // Marks the calling thread for the scope's lifetime.
  class Scope {
   public:
    Scope(Kind kind, const void* owner, DeferredWork* deferred = nullptr) noexcept;
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  };

  static Kind kind() noexcept;
  // The runtime the calling thread belongs to (callback or watchdog), or null.
  static const void* owner() noexcept;
  // The callback thread's queue, when the calling thread is one.
  static DeferredWork* deferred_work() noexcept;
};

}  // namespace dftracer::utils
