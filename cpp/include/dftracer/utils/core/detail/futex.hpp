// Parking primitive: wait on a 32-bit atomic word until it changes, wake
// waiters on it. On Linux this is the futex system call directly, because
// libstdc++'s std::atomic::wait adds its own spin phase and a shared waiter
// table we do not want on the park/unpark path; elsewhere it falls back to
// std::atomic::wait.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace dftracer::utils {

// Blocks while `word` holds `expected`. Returns on a wake, on a value change,
// or spuriously: callers re-check their condition in a loop.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;

// As futex_wait, but gives up after `timeout`. Returns false on timeout.
bool futex_wait_for(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                    std::chrono::nanoseconds timeout) noexcept;

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept;
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

}  // namespace dftracer::utils
