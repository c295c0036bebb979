// The defaults of every Runtime option, stated once. RuntimeOptions,
// WatchdogOptions and RegistryOptions take them from here; the bindings
// export them as dftracer.utils._core.DEFAULTS, which the Python Runtime's
// signature reads.
#pragma once

#include <chrono>
#include <cstddef>

namespace dftracer::utils::defaults {

// Temporary workers (for blocked waits and for the watchdog's starvation
// rescue, one cap for both) per pool.
inline constexpr std::size_t kMaxTemporaryWorkers = 256;
// 0: no max_pending bound.
inline constexpr std::size_t kMaxPending = 0;
// Finished tasks get_progress() remembers; failed handles kept until
// clear_failed(); error records for progress.
inline constexpr std::size_t kRecentTasks = 1024;
inline constexpr std::size_t kFailureCapacity = 10000;
inline constexpr std::size_t kErrorCapacity = 256;
// The watchdog (interval 0: none).
inline constexpr std::chrono::milliseconds kWatchdogInterval{100};
inline constexpr std::chrono::milliseconds kStallThreshold{10'000};
inline constexpr std::chrono::milliseconds kStarvationThreshold{1'000};
inline constexpr std::chrono::milliseconds kLongTaskThreshold{10'000};

}  // namespace dftracer::utils::defaults
