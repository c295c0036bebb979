// Starting the runtime's own threads (workers, the callback thread, the
// watchdog): how many a pool may ask for, the signal mask they start with,
// and what a user is told when the system refuses one: an exception naming
// the limit that was hit, never std::terminate (docs/design.md, "Threads").
#pragma once

#include <cstddef>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace dftracer::utils {

// Beyond this a size is a mistake, not a machine (std::invalid_argument
// before any thread starts).
inline constexpr std::size_t kMaxPoolThreads = 4096;

// Throws std::invalid_argument when `threads` exceeds kMaxPoolThreads.
void check_pool_size(const char* what, std::size_t threads);

// "could not start <what> thread <index + 1> of <wanted>: <reason>; limits:
// ..." with the process's thread, stack and address-space limits.
std::string describe_thread_start_failure(const std::string& what, std::size_t index, std::size_t wanted,
                                          const std::system_error& error);

// std::thread(f) with every asynchronous signal blocked in the new thread
// (it inherits the creator's mask while it starts), so Ctrl-C reaches a
// thread that can act on it: typically a main thread waiting on a handle,
// whose futex wait then returns early. Throws std::system_error like
// std::thread, or when a test asked for a failure (testing::).
template <class F>
std::thread start_runtime_thread(F&& f);

namespace detail {
// Blocks asynchronous signals on the calling thread; restores on destruction.
class SignalsBlocked {
 public:
  SignalsBlocked() noexcept;
  ~SignalsBlocked();
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  unsigned char previous_[128];  // a sigset_t, kept opaque here
};
}  // namespace detail

namespace testing {
// The next `n` thread starts succeed, then every one fails with EAGAIN, until
// reset with a negative n. For tests of the failure paths only.
void fail_thread_starts_after(long n) noexcept;
// True (and counts down) when the next start must fail.
bool next_thread_start_fails() noexcept;
}  // namespace testing

template <class F>
std::thread start_runtime_thread(F&& f) {
  if (testing::next_thread_start_fails()) {
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                            "thread start refused by testing::fail_thread_starts_after");
  }
  detail::SignalsBlocked blocked;
  return std::thread(std::forward<F>(f));
}

}  // namespace dftracer::utils
