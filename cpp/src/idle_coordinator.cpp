// Idle worker coordination (see idle_coordinator.hpp for the rules).
#include "dftracer/utils/core/idle_coordinator.hpp"

#include <algorithm>
#include <cassert>

namespace dftracer::utils {

IdleCoordinator::IdleCoordinator(std::uint32_t max_workers)
    : sleepers_by_slot_(new Sleeper[max_workers]) {
  parked_.reserve(max_workers);
}

void IdleCoordinator::add_worker() noexcept {
  state_.fetch_add(kWorkersOne + kUnparkedOne, std::memory_order_seq_cst);
}

void IdleCoordinator::remove_worker(bool searching) noexcept {
  std::uint64_t dec = kWorkersOne + kUnparkedOne + (searching ? kSearchingOne : 0);
  state_.fetch_sub(dec, std::memory_order_seq_cst);
}

bool IdleCoordinator::try_begin_search() noexcept {
  std::uint64_t s = state_.load(std::memory_order_seq_cst);
  for (;;) {
    Counts c = unpack(s);
    // "About half": with 1 or 2 workers one searcher is allowed.
    if (2 * c.searching >= c.workers && c.searching > 0) return false;
    if (state_.compare_exchange_weak(s, s + kSearchingOne, std::memory_order_seq_cst)) return true;
  }
}

bool IdleCoordinator::end_search() noexcept {
  std::uint64_t prev = state_.fetch_sub(kSearchingOne, std::memory_order_seq_cst);
  assert(unpack(prev).searching > 0);
  return unpack(prev).searching == 1;
}

bool IdleCoordinator::prepare_park(std::uint32_t slot, bool searching, bool& last_searcher) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  std::uint64_t dec = kUnparkedOne + (searching ? kSearchingOne : 0);
  std::uint64_t prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
  last_searcher = searching && unpack(prev).searching == 1;
  sleepers_by_slot_[slot].word.store(1, std::memory_order_relaxed);
  parked_.push_back(slot);
  return true;
}

void IdleCoordinator::wait_parked(std::uint32_t slot) noexcept {
  auto& word = sleepers_by_slot_[slot].word;
  // Acquire: pairs with the waker's release store, so what the waker saw
  // (the new work) is visible to us.
  while (word.load(std::memory_order_acquire) == 1) futex_wait(word, 1);
}

bool IdleCoordinator::wait_parked_for(std::uint32_t slot, std::chrono::nanoseconds timeout) noexcept {
  auto& word = sleepers_by_slot_[slot].word;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (word.load(std::memory_order_acquire) == 1) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left.count() > 0) {
      futex_wait_for(word, 1, left);
      continue;
    }
    // Notifiers clear the word under mu_, so under mu_ either we were woken
    // (and counted as a searcher by the notifier) or we are still listed.
    std::lock_guard lock(mu_);
    if (word.load(std::memory_order_relaxed) == 0) return true;
    auto it = std::find(parked_.begin(), parked_.end(), slot);
    assert(it != parked_.end() && "a parked slot with its word set is listed");
    parked_.erase(it);
    word.store(0, std::memory_order_relaxed);
    state_.fetch_add(kUnparkedOne, std::memory_order_seq_cst);
    return false;
  }
  return true;
}

void IdleCoordinator::notify_one(bool relaxed) {
  if (relaxed) {
    if (!should_wake(unpack(state_.load(std::memory_order_relaxed)))) return;
  } else {
    // seq_cst load: the producer's seq_cst publication of the work precedes
    // it, and a parking worker's seq_cst state update precedes its seq_cst
    // re-check of the queues; one of the two sees the other.
    if (!should_wake(unpack(state_.load(std::memory_order_seq_cst)))) return;
  }
  std::uint32_t slot;
  {
    std::lock_guard lock(mu_);
    // Re-check under the lock: another notifier may have woken a searcher.
    if (!should_wake(unpack(state_.load(std::memory_order_seq_cst))) || parked_.empty()) return;
    slot = parked_.back();
    parked_.pop_back();
    // The woken worker starts out searching (so others do not also wake).
    state_.fetch_add(kUnparkedOne + kSearchingOne, std::memory_order_seq_cst);
    sleepers_by_slot_[slot].word.store(0, std::memory_order_release);
  }
  futex_wake_one(sleepers_by_slot_[slot].word);
}

void IdleCoordinator::notify_all_and_stop() {
  std::vector<std::uint32_t> woken;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    woken.swap(parked_);
    for (std::uint32_t slot : woken) {
      state_.fetch_add(kUnparkedOne + kSearchingOne, std::memory_order_seq_cst);
      sleepers_by_slot_[slot].word.store(0, std::memory_order_release);
    }
  }
  for (std::uint32_t slot : woken) futex_wake_one(sleepers_by_slot_[slot].word);
}

void IdleCoordinator::begin_blocking() noexcept {
  state_.fetch_sub(kUnparkedOne, std::memory_order_seq_cst);
}

void IdleCoordinator::end_blocking() noexcept {
  state_.fetch_add(kUnparkedOne, std::memory_order_seq_cst);
}

}  // namespace dftracer::utils
