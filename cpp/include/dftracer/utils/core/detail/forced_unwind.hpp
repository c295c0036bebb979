// Thread cancellation must pass through our catch-all handlers.
//
// When a thread is ended from inside (pthread_exit: CPython does this to a
// thread that takes the GIL while the interpreter finalizes), glibc unwinds
// its stack with a special exception. A `catch (...)` that swallows it
// aborts the process ("FATAL: exception not rethrown"). Every catch-all on a
// path that may run foreign code is preceded by
//
//   } catch (const detail::ForcedUnwind&) {
//     throw;
//   } catch (...) {
#pragma once

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

namespace dftracer::utils::detail {

#if defined(__GLIBCXX__)
using ForcedUnwind = abi::__forced_unwind;
#else
// No forced unwinding here: a type nothing throws.
struct ForcedUnwind {};
#endif

}  // namespace dftracer::utils::detail
