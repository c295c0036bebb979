// The complete example of docs/cpp-primitives.md, compiled and run, so the
// page cannot go stale: CMake copies the block between its
// "docs-example: begin/end" markers into docs_example.inc at configure time.
#include <gtest/gtest.h>

// In a .cpp file of its own the example builds warning-free; included from
// another file, g++ flags the lambdas in its coroutine frames as types
// "with no linkage" inside a header (-Wsubobject-linkage), which is harmless
// here: the .inc is part of this one translation unit only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#include "docs_example.inc"
#pragma GCC diagnostic pop

TEST(DocsExample, CppPrimitivesPageExampleGivesItsDocumentedAnswer) {
  for (std::size_t threads : {1, 2, 4}) {
    dft::Runtime rt({.threads = threads, .io_threads = 1});
    EXPECT_EQ(dft::sync_wait(rt, example(1000)), 500542) << threads << " threads";
  }
}
