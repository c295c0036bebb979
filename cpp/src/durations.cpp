// Durations for the timeout setters (see durations.hpp).
#include "dftracer/utils/core/durations.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace dftracer::utils {

std::chrono::nanoseconds duration_from_ms(double ms) {
  if (std::isnan(ms) || ms < 0) throw std::invalid_argument("a duration must be a non-negative number");
  if (ms > 1e15) throw std::invalid_argument("duration too large");
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ms * 1e6)));
}

std::chrono::nanoseconds parse_duration(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  const char* begin = text.c_str() + i;
  char* end = nullptr;
  double value = std::strtod(begin, &end);
  if (end == begin) throw std::invalid_argument("cannot parse duration '" + text + "'");
  std::string unit(end);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(unit.begin());
  double ms_per_unit;
  if (unit.empty() || unit == "ms")
    ms_per_unit = 1;
  else if (unit == "ns")
    ms_per_unit = 1e-6;
  else if (unit == "us")
    ms_per_unit = 1e-3;
  else if (unit == "s")
    ms_per_unit = 1e3;
  else if (unit == "m" || unit == "min")
    ms_per_unit = 60e3;
  else if (unit == "h")
    ms_per_unit = 3600e3;
  else
    throw std::invalid_argument("unknown unit '" + unit + "' in duration '" + text + "' (use ns, us, ms, s, m, h)");
  if (std::isnan(value) || std::isinf(value) || value < 0) {
    throw std::invalid_argument("duration '" + text + "' must be a finite non-negative value");
  }
  return duration_from_ms(value * ms_per_unit);
}

}  // namespace dftracer::utils
