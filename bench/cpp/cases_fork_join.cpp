// Fork-join kernels: fib, skynet, nqueens, integrate.
//
// Each kernel has three forms doing the same recursion: serial (plain calls,
// the floor), ours (`co_await spawn(child)` for all but the last child, the
// last one awaited inline, then the joins) and oneTBB (`task_group::run` for
// all but the last, the last called inline, then `wait`). A "task" is one call
// of the recursive function, counted once with the serial form, so
// ns*core/task is comparable across the three.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "bench_support.hpp"

#if DFTRACER_BENCH_HAVE_TBB
#include <oneapi/tbb/task_group.h>
#endif

namespace dft_bench {

namespace {

// ---------------------------------------------------------------- fib

__attribute__((noinline)) std::uint64_t fib_serial(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  return fib_serial(n - 1) + fib_serial(n - 2);
}

dft::Task<std::uint64_t> fib_ours(int n) {
  if (n < 2) co_return static_cast<std::uint64_t>(n);
  auto child = co_await dft::spawn(fib_ours(n - 1));
  std::uint64_t b = co_await fib_ours(n - 2);
  std::uint64_t a = co_await std::move(child);
  co_return a + b;
}

#if DFTRACER_BENCH_HAVE_TBB
std::uint64_t fib_tbb(int n) {
  if (n < 2) return static_cast<std::uint64_t>(n);
  std::uint64_t a = 0;
  tbb::task_group g;
  g.run([&] { a = fib_tbb(n - 1); });
  std::uint64_t b = fib_tbb(n - 2);
  g.wait();
  return a + b;
}
#endif

std::uint64_t fib_value(int n) {
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    std::uint64_t c = a + b;
    a = b;
    b = c;
  }
  return a;
}

// ---------------------------------------------------------------- skynet
// 10-way fan-out to `depth` levels; leaf i returns i; the root sums them.

std::uint64_t pow10(int k) {
  std::uint64_t p = 1;
  while (k-- > 0) p *= 10;
  return p;
}

__attribute__((noinline)) std::uint64_t skynet_serial(std::uint64_t num, int depth) {
  if (depth == 0) return num;
  std::uint64_t size = pow10(depth - 1), sum = 0;
  for (std::uint64_t i = 0; i < 10; ++i) sum += skynet_serial(num + i * size, depth - 1);
  return sum;
}

dft::Task<std::uint64_t> skynet_ours(std::uint64_t num, int depth) {
  if (depth == 0) co_return num;
  std::uint64_t size = pow10(depth - 1);
  dft::JoinHandle<std::uint64_t> children[9];
  for (std::uint64_t i = 0; i < 9; ++i) children[i] = co_await dft::spawn(skynet_ours(num + i * size, depth - 1));
  std::uint64_t sum = co_await skynet_ours(num + 9 * size, depth - 1);
  for (auto& c : children) sum += co_await std::move(c);
  co_return sum;
}

#if DFTRACER_BENCH_HAVE_TBB
std::uint64_t skynet_tbb(std::uint64_t num, int depth) {
  if (depth == 0) return num;
  std::uint64_t size = pow10(depth - 1);
  std::uint64_t part[10] = {};
  tbb::task_group g;
  for (std::uint64_t i = 0; i < 9; ++i)
    g.run([&part, i, num, size, depth] { part[i] = skynet_tbb(num + i * size, depth - 1); });
  part[9] = skynet_tbb(num + 9 * size, depth - 1);
  g.wait();
  std::uint64_t sum = 0;
  for (auto p : part) sum += p;
  return sum;
}
#endif

// ---------------------------------------------------------------- nqueens
// Counts the placements of n queens; one task per partial board.

constexpr int kMaxQueens = 16;
using Board = std::array<std::int8_t, kMaxQueens>;

inline bool queen_ok(const Board& b, int row, int col) {
  for (int r = 0; r < row; ++r) {
    int q = b[r];
    if (q == col || q - col == row - r || col - q == row - r) return false;
  }
  return true;
}

// Valid columns for `row`; returns how many.
inline int queen_moves(const Board& b, int n, int row, int (&cols)[kMaxQueens]) {
  int m = 0;
  for (int c = 0; c < n; ++c) {
    if (queen_ok(b, row, c)) cols[m++] = c;
  }
  return m;
}

// Returns solutions. With CountCalls, also adds the number of calls to
// `calls` (the task count); without, it is the timed serial floor, free of
// the counting.
template <bool CountCalls>
__attribute__((noinline)) std::uint64_t nqueens_serial_impl(int n, int row, const Board& b, std::uint64_t* calls) {
  if constexpr (CountCalls) ++*calls;
  if (row == n) return 1;
  int cols[kMaxQueens];
  int m = queen_moves(b, n, row, cols);
  std::uint64_t sum = 0;
  for (int i = 0; i < m; ++i) {
    Board c = b;
    c[row] = static_cast<std::int8_t>(cols[i]);
    sum += nqueens_serial_impl<CountCalls>(n, row + 1, c, calls);
  }
  return sum;
}

std::uint64_t nqueens_serial(int n, int row, const Board& b, std::uint64_t& calls) {
  return nqueens_serial_impl<true>(n, row, b, &calls);
}

std::uint64_t nqueens_serial_plain(int n, int row, const Board& b) {
  return nqueens_serial_impl<false>(n, row, b, nullptr);
}

dft::Task<std::uint64_t> nqueens_ours(int n, int row, Board b) {
  if (row == n) co_return 1;
  int cols[kMaxQueens];
  int m = queen_moves(b, n, row, cols);
  if (m == 0) co_return 0;
  dft::JoinHandle<std::uint64_t> children[kMaxQueens];
  for (int i = 0; i + 1 < m; ++i) {
    Board c = b;
    c[row] = static_cast<std::int8_t>(cols[i]);
    children[i] = co_await dft::spawn(nqueens_ours(n, row + 1, c));
  }
  Board last = b;
  last[row] = static_cast<std::int8_t>(cols[m - 1]);
  std::uint64_t sum = co_await nqueens_ours(n, row + 1, last);
  for (int i = 0; i + 1 < m; ++i) sum += co_await std::move(children[i]);
  co_return sum;
}

#if DFTRACER_BENCH_HAVE_TBB
std::uint64_t nqueens_tbb(int n, int row, const Board& b) {
  if (row == n) return 1;
  int cols[kMaxQueens];
  int m = queen_moves(b, n, row, cols);
  if (m == 0) return 0;
  std::uint64_t part[kMaxQueens] = {};
  tbb::task_group g;
  for (int i = 0; i + 1 < m; ++i) {
    Board c = b;
    c[row] = static_cast<std::int8_t>(cols[i]);
    g.run([&part, i, n, row, c] { part[i] = nqueens_tbb(n, row + 1, c); });
  }
  Board last = b;
  last[row] = static_cast<std::int8_t>(cols[m - 1]);
  std::uint64_t sum = nqueens_tbb(n, row + 1, last);
  g.wait();
  for (int i = 0; i + 1 < m; ++i) sum += part[i];
  return sum;
}
#endif

// ---------------------------------------------------------------- integrate
// Adaptive trapezoid quadrature of (x^2 + 1) x over [0, n]: split until the
// two halves agree with the whole within eps (as in libfork's benchmark).

inline double integrand(double x) { return (x * x + 1.0) * x; }

struct Quad {
  double eps;
};

double integrate_serial(const Quad& q, double x1, double y1, double x2, double y2, double area, std::uint64_t& calls) {
  ++calls;
  double half = (x2 - x1) / 2, x0 = x1 + half, y0 = integrand(x0);
  double a1 = (y1 + y0) / 2 * half, a2 = (y0 + y2) / 2 * half, a12 = a1 + a2;
  if (a12 - area < q.eps && area - a12 < q.eps) return a12;
  return integrate_serial(q, x1, y1, x0, y0, a1, calls) + integrate_serial(q, x0, y0, x2, y2, a2, calls);
}

__attribute__((noinline)) double integrate_serial_plain(const Quad& q, double x1, double y1, double x2, double y2,
                                                        double area) {
  double half = (x2 - x1) / 2, x0 = x1 + half, y0 = integrand(x0);
  double a1 = (y1 + y0) / 2 * half, a2 = (y0 + y2) / 2 * half, a12 = a1 + a2;
  if (a12 - area < q.eps && area - a12 < q.eps) return a12;
  return integrate_serial_plain(q, x1, y1, x0, y0, a1) + integrate_serial_plain(q, x0, y0, x2, y2, a2);
}

dft::Task<double> integrate_ours(Quad q, double x1, double y1, double x2, double y2, double area) {
  double half = (x2 - x1) / 2, x0 = x1 + half, y0 = integrand(x0);
  double a1 = (y1 + y0) / 2 * half, a2 = (y0 + y2) / 2 * half, a12 = a1 + a2;
  if (a12 - area < q.eps && area - a12 < q.eps) co_return a12;
  auto left = co_await dft::spawn(integrate_ours(q, x1, y1, x0, y0, a1));
  double right = co_await integrate_ours(q, x0, y0, x2, y2, a2);
  co_return right + co_await std::move(left);
}

#if DFTRACER_BENCH_HAVE_TBB
double integrate_tbb(const Quad& q, double x1, double y1, double x2, double y2, double area) {
  double half = (x2 - x1) / 2, x0 = x1 + half, y0 = integrand(x0);
  double a1 = (y1 + y0) / 2 * half, a2 = (y0 + y2) / 2 * half, a12 = a1 + a2;
  if (a12 - area < q.eps && area - a12 < q.eps) return a12;
  double left = 0;
  tbb::task_group g;
  g.run([&] { left = integrate_tbb(q, x1, y1, x0, y0, a1); });
  double right = integrate_tbb(q, x0, y0, x2, y2, a2);
  g.wait();
  return left + right;
}
#endif

// ---------------------------------------------------------------- registration

// What a kernel's run is checked against: its number of calls and its
// result, from the serial form. Computed on first use, not at registration:
// integrate(10000, 1e-9) is 350M calls, seconds of work.
template <class R>
struct Expected {
  std::once_flag once;
  std::uint64_t calls = 0;
  R value{};
};

template <class R, class Prepare, class Serial, class Ours, class Tbb, class Ok>
void register_kernel(const std::string& name, Prepare prepare, Serial serial, Ours ours, [[maybe_unused]] Tbb tbb_body,
                     Ok ok) {
  auto expected = std::make_shared<Expected<R>>();
  // Returns the expected figures, computing them the first time.
  auto get = [expected, prepare]() -> const Expected<R>& {
    std::call_once(expected->once, [&] { prepare(expected->calls, expected->value); });
    return *expected;
  };
  add(name, "serial", 1, [=](benchmark::State& st) {
    const Expected<R>& e = get();
    measure(st, 1, [&] {
      R r = serial();
      benchmark::DoNotOptimize(r);
      if (!ok(r, e.value)) fail(st, "serial: wrong result");
      return e.calls;
    });
  });
  for (int t : options().threads) {
    add(name, "ours", t, [=](benchmark::State& st) {
      const Expected<R>& e = get();
      dft::Runtime& rt = ours_runtime(t);
      measure(st, t, [&] {
        R r = dft::sync_wait(rt, ours());
        if (!ok(r, e.value)) fail(st, "ours: wrong result");
        return e.calls;
      });
    });
#if DFTRACER_BENCH_HAVE_TBB
    add(name, "tbb", t, [=](benchmark::State& st) {
      const Expected<R>& e = get();
      tbb::task_arena& arena = tbb_arena(t);
      measure(st, t, [&] {
        R r{};
        arena.execute([&] { r = tbb_body(); });
        if (!ok(r, e.value)) fail(st, "tbb: wrong result");
        return e.calls;
      });
    });
#endif
  }
}

#if DFTRACER_BENCH_HAVE_TBB
#define TBB_BODY(...) __VA_ARGS__
#else
#define TBB_BODY(...) 0
#endif

auto exact_match = [](std::uint64_t r, std::uint64_t expect) { return r == expect; };

void register_fib(int n) {
  register_kernel<std::uint64_t>(
      "fib/n:" + std::to_string(n),
      [n](std::uint64_t& calls, std::uint64_t& value) {
        calls = 2 * fib_value(n + 1) - 1;
        value = fib_value(n);
      },
      [n] { return fib_serial(n); }, [n] { return fib_ours(n); }, TBB_BODY([n] { return fib_tbb(n); }), exact_match);
}

void register_skynet(int depth) {
  register_kernel<std::uint64_t>(
      "skynet/depth:" + std::to_string(depth),
      [depth](std::uint64_t& calls, std::uint64_t& value) {
        std::uint64_t leaves = pow10(depth);
        calls = (pow10(depth + 1) - 1) / 9;
        value = leaves * (leaves - 1) / 2;
      },
      [depth] { return skynet_serial(0, depth); }, [depth] { return skynet_ours(0, depth); },
      TBB_BODY([depth] { return skynet_tbb(0, depth); }), exact_match);
}

void register_nqueens(int n) {
  register_kernel<std::uint64_t>(
      "nqueens/n:" + std::to_string(n),
      [n](std::uint64_t& calls, std::uint64_t& value) { value = nqueens_serial(n, 0, Board{}, calls); },
      [n] { return nqueens_serial_plain(n, 0, Board{}); }, [n] { return nqueens_ours(n, 0, Board{}); },
      TBB_BODY([n] { return nqueens_tbb(n, 0, Board{}); }), exact_match);
}

void register_integrate(double n, double eps) {
  Quad q{eps};
  char label[64];
  std::snprintf(label, sizeof label, "integrate/n:%g,eps:%g", n, eps);
  register_kernel<double>(
      label,
      [q, n](std::uint64_t& calls, double& value) {
        value = integrate_serial(q, 0, integrand(0), n, integrand(n), 0, calls);
        double exact = n * n * n * n / 4 + n * n / 2;
        if (std::fabs(value - exact) > 1e-6 * exact)
          std::fprintf(stderr, "integrate: serial result off the exact value\n");
      },
      [q, n] { return integrate_serial_plain(q, 0, integrand(0), n, integrand(n), 0); },
      [q, n] { return integrate_ours(q, 0, integrand(0), n, integrand(n), 0); },
      TBB_BODY([q, n] { return integrate_tbb(q, 0, integrand(0), n, integrand(n), 0); }),
      // The parallel forms add the same terms in the same tree: equal up to rounding.
      [](double r, double expect) { return std::fabs(r - expect) <= 1e-9 * std::fabs(expect); });
}

}  // namespace

dft::Task<std::uint64_t> fib_task(int n) { return fib_ours(n); }
std::uint64_t fib_result(int n) { return fib_value(n); }
std::uint64_t fib_calls(int n) { return 2 * fib_value(n + 1) - 1; }

void register_fork_join() {
  bool quick = options().quick;
  if (quick) {
    register_fib(18);
    register_fib(20);
    register_skynet(4);
    register_nqueens(8);
    register_integrate(100, 1e-6);
  } else {
    register_fib(30);
    register_fib(32);
    register_skynet(6);
    register_nqueens(12);
    register_integrate(10000, 1e-9);
  }
}

}  // namespace dft_bench
