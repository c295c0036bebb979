// Durations as users write them, for the timeout setters, the watchdog's
// thresholds and the bindings: a number is milliseconds (the upstream API's
// unit); a string may carry its unit ("250ms", "30s", "5m", "1h", also
// "us"/"ns"), and a bare numeric string is milliseconds.
#pragma once

#include <chrono>
#include <string>

namespace dftracer::utils {

// Throws std::invalid_argument for negative, NaN, infinite or unparseable
// values and for units it does not know.
std::chrono::nanoseconds parse_duration(const std::string& text);
std::chrono::nanoseconds duration_from_ms(double ms);

}  // namespace dftracer::utils
