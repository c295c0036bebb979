// Starting the runtime's threads (see thread_start.hpp).
#include "dftracer/utils/core/detail/thread_start.hpp"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#endif

namespace dftracer::utils {

namespace {
std::atomic<long> g_starts_before_failure{-1};

#if defined(__unix__) || defined(__APPLE__)
std::string rlimit_text(int resource, double unit, const char* unit_name) {
  rlimit r{};
  if (getrlimit(resource, &r) != 0) return "unknown";
  if (r.rlim_cur == RLIM_INFINITY) return "unlimited";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f%s", static_cast<double>(r.rlim_cur) / unit, unit_name);
  return buf;
}
#endif
}  // namespace

void check_pool_size(const char* what, std::size_t threads) {
  if (threads > kMaxPoolThreads) {
    throw std::invalid_argument(std::string(what) + " = " + std::to_string(threads) + " is more than the " +
                                std::to_string(kMaxPoolThreads) + " threads a pool may have");
  }
}

std::string describe_thread_start_failure(const std::string& what, std::size_t index, std::size_t wanted,
                                          const std::system_error& error) {
  std::string out = "could not start " + what + " thread " + std::to_string(index + 1) + " of " +
                    std::to_string(wanted) + ": " + error.what();
#if defined(__unix__) || defined(__APPLE__)
  out += "; the system's limits on threads are: processes/threads per user (ulimit -u) " +
         rlimit_text(RLIMIT_NPROC, 1, "");
#if defined(__linux__)
  std::ifstream max_file("/proc/sys/kernel/threads-max");
  long threads_max = 0;
  if (max_file >> threads_max) out += ", kernel.threads-max " + std::to_string(threads_max);
#endif
  out += ", stack per thread (ulimit -s) " + rlimit_text(RLIMIT_STACK, 1024.0 * 1024.0, " MiB") +
         ", address space (ulimit -v) " + rlimit_text(RLIMIT_AS, 1024.0 * 1024.0, " MiB");
#endif
  out += "; ask for fewer threads or raise the limit";
  return out;
}

namespace detail {
SignalsBlocked::SignalsBlocked() noexcept {
#if defined(__unix__) || defined(__APPLE__)
  static_assert(sizeof(sigset_t) <= sizeof(previous_));
  sigset_t all;
  sigfillset(&all);
  // Synchronous signals stay deliverable: they belong to the faulting thread.
  for (int sync_signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&all, sync_signal);
  pthread_sigmask(SIG_SETMASK, &all, reinterpret_cast<sigset_t*>(previous_));
#endif
}

SignalsBlocked::~SignalsBlocked() {
#if defined(__unix__) || defined(__APPLE__)
  pthread_sigmask(SIG_SETMASK, reinterpret_cast<const sigset_t*>(previous_), nullptr);
#endif
}
}  // namespace detail

namespace testing {
void fail_thread_starts_after(long n) noexcept { g_starts_before_failure.store(n, std::memory_order_relaxed); }

bool next_thread_start_fails() noexcept {
  long left = g_starts_before_failure.load(std::memory_order_relaxed);
  while (left >= 0) {
    if (left == 0) return true;
    if (g_starts_before_failure.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) return false;
  }
  return false;
}
}  // namespace testing

}  // namespace dftracer::utils
