// Idle worker coordination (see idle_coordinator.hpp for the protocol).
#include "dftracer/utils/core/detail/idle_coordinator.hpp"

#include <algorithm>
#include <cassert>

namespace dftracer::utils {

IdleCoordinator::IdleCoordinator(std::uint32_t max_workers) : sleepers_by_slot_(new Sleeper[max_workers]) {
  parked_.reserve(max_workers);
}

void IdleCoordinator::add_worker() noexcept { state_.fetch_add(kWorkersOne, std::memory_order_seq_cst); }

void IdleCoordinator::remove_worker(bool searching) noexcept {
  // seq_cst: like prepare_park, this is the step a retiring temporary worker's re-check
  // of the queues must follow (see Executor::park).
  std::uint64_t prev = state_.fetch_sub(kWorkersOne + (searching ? kSearchingOne : 0), std::memory_order_seq_cst);
  assert(unpack(prev).workers > 0);
  (void)prev;
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

void IdleCoordinator::begin_search() noexcept { state_.fetch_add(kSearchingOne, std::memory_order_seq_cst); }

bool IdleCoordinator::end_search() noexcept {
  std::uint64_t prev = state_.fetch_sub(kSearchingOne, std::memory_order_seq_cst);
  assert(unpack(prev).searching > 0);
  return unpack(prev).searching == 1;
}

bool IdleCoordinator::prepare_park(std::uint32_t slot, bool searching) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  assert(std::find(parked_.begin(), parked_.end(), slot) == parked_.end());
  sleepers_by_slot_[slot].word.store(1, std::memory_order_relaxed);
  parked_.push_back(slot);
  // seq_cst RMW, then the caller's seq_cst re-check of the queues: the
  // worker half of the store-load pair described at the top of the header.
  std::uint64_t delta = kParkedOne - (searching ? kSearchingOne : 0);
  state_.fetch_add(delta, std::memory_order_seq_cst);
  return true;
}

bool IdleCoordinator::unlist_locked(std::uint32_t slot) noexcept {
  auto it = std::find(parked_.begin(), parked_.end(), slot);
  if (it == parked_.end()) return false;
  parked_.erase(it);
  sleepers_by_slot_[slot].word.store(0, std::memory_order_relaxed);
  return true;
}

void IdleCoordinator::cancel_park(std::uint32_t slot) noexcept {
  std::lock_guard lock(mu_);
  // Not listed: a notifier unlisted us and already counted us as searching.
  if (unlist_locked(slot)) state_.fetch_add(kSearchingOne - kParkedOne, std::memory_order_seq_cst);
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
    // Notifiers unlist under mu_, so under mu_ either we were woken (and
    // counted as a searcher by the notifier) or we are still listed.
    std::lock_guard lock(mu_);
    if (!unlist_locked(slot)) return true;
    state_.fetch_sub(kParkedOne, std::memory_order_seq_cst);
    return false;
  }
  return true;
}

void IdleCoordinator::notify_one() {
  // seq_cst load after the producer's seq_cst publication (the producer half
  // of the store-load pair).
  if (!should_wake(unpack(state_.load(std::memory_order_seq_cst)))) return;
  std::uint32_t slot;
  {
    std::lock_guard lock(mu_);
    // Re-check under the lock: another notifier may have woken a searcher.
    if (!should_wake(unpack(state_.load(std::memory_order_seq_cst))) || parked_.empty()) return;
    slot = parked_.back();
    parked_.pop_back();
    // The woken worker starts out searching (so others do not also wake).
    state_.fetch_add(kSearchingOne - kParkedOne, std::memory_order_seq_cst);
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
      state_.fetch_add(kSearchingOne - kParkedOne, std::memory_order_seq_cst);
      sleepers_by_slot_[slot].word.store(0, std::memory_order_release);
    }
  }
  for (std::uint32_t slot : woken) futex_wake_one(sleepers_by_slot_[slot].word);
}

}  // namespace dftracer::utils
