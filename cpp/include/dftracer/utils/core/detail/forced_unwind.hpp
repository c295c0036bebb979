// Thread cancellation must pass through our catch-all handlers.
//
// When a thread is ended from inside (pthread_exit: CPython does this to a
// thread that takes the GIL while the interpreter finalizes), glibc unwinds
// its stack with a special exception. A `catch (...)` that swallows it
// aborts the process ("FATAL: exception not rethrown"). Every catch-all on a
// path that may run foreign code starts with this clause.
#pragma once

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#define DFTRACER_RETHROW_FORCED_UNWIND \
  catch (const abi::__forced_unwind&) { \
    throw;                              \
  }
#else
#define DFTRACER_RETHROW_FORCED_UNWIND
#endif
