// The `python_threads` cap: how many Python callables may run at once.
//
// A worker holds one permit while it runs a Python callable (nested inline
// runs on the same thread reuse it) and gives it back while it blocks on a
// handle, so a parent waiting for its child never keeps the child from a
// permit. A cap of 0 means no cap.
#pragma once

#include <atomic>
#include <cstdint>

namespace dftracer::utils::python {

class PythonPermits {
 public:
  explicit PythonPermits(std::uint32_t cap) : cap_(cap), available_(cap) {}
  std::uint32_t cap() const noexcept { return cap_; }

  // RAII: holds a permit on this thread (reentrant).
  class Hold {
   public:
    explicit Hold(PythonPermits* permits);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

    // A Hold that never waits: held() says whether it got the permit (or
    // needed none). For a thread that holds the GIL, which must not wait for
    // a permit that a thread waiting for the GIL holds.
    struct NoWait {};
    Hold(PythonPermits* permits, NoWait);
    bool held() const noexcept { return held_; }

   private:
    PythonPermits* permits_;
    bool held_ = true;
  };

  // RAII: gives this thread's permit back for a blocking wait, retakes it
  // afterwards. No-op when the thread holds none.
  class Pause {
   public:
    Pause();
    ~Pause();
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;

   private:
    PythonPermits* permits_ = nullptr;
    int depth_ = 0;
  };

 private:
  void acquire();
  bool try_acquire() noexcept;
  void release();

  std::uint32_t cap_;
  std::atomic<std::uint32_t> available_;
  std::atomic<std::uint32_t> sleepers_{0};
};

}  // namespace dftracer::utils::python
