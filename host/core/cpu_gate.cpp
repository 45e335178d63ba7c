#include "core/cpu_gate.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

namespace oceand {

namespace {
thread_local std::shared_ptr<CpuGate::Seat> this_thread_seat;
}  // namespace

CpuGate::CpuGate(size_t slots, std::chrono::milliseconds lease)
    : slots_(slots == 0 ? 1 : slots), lease_(lease) {}

void CpuGate::Seat::take(bool returning) {
  CpuGate& g = gate_;
  std::unique_lock lock(g.mutex_);
  if (forfeited_ || inside_) return;
  ++g.waiting_;
  if (returning) ++g.returning_waiting_;
  std::condition_variable& cv = returning ? g.returning_freed_ : g.freed_;
  for (;;) {
    if (forfeited_) break;
    if (g.holders_.size() < g.slots_ && (returning || g.returning_waiting_ == 0)) {
      g.holders_.push_back(this);
      holds_slot_ = true;
      since_ = Clock::now();
      break;
    }
    if (g.holders_.size() < g.slots_) {  // free, but a returning thread goes first
      cv.wait(lock);
      continue;
    }
    // Full: the holder longest on one piece of work stops counting once its lease ran out.
    auto oldest = std::min_element(g.holders_.begin(), g.holders_.end(),
                                   [](Seat* a, Seat* b) { return a->since_ < b->since_; });
    const Clock::time_point expiry = (*oldest)->since_ + g.lease_;
    if (Clock::now() >= expiry) {
      (*oldest)->holds_slot_ = false;
      g.holders_.erase(oldest);
      ++g.expired_;
      continue;
    }
    cv.wait_until(lock, expiry);
  }
  --g.waiting_;
  if (returning) --g.returning_waiting_;
  if (!forfeited_) inside_ = true;
  // A slot may still be free for the next in line (several were given back together).
  g.wake_next();
}

void CpuGate::Seat::renew() {
  std::lock_guard lock(gate_.mutex_);
  if (holds_slot_) since_ = Clock::now();
}

bool CpuGate::Seat::give_back() {
  std::lock_guard lock(gate_.mutex_);
  return gate_.release(*this);
}

void CpuGate::Seat::forfeit() {
  std::lock_guard lock(gate_.mutex_);
  gate_.release(*this);
  forfeited_ = true;
}

bool CpuGate::Seat::inside() const {
  std::lock_guard lock(gate_.mutex_);
  return inside_;
}

bool CpuGate::Seat::holds_slot() const {
  std::lock_guard lock(gate_.mutex_);
  return holds_slot_;
}

bool CpuGate::Seat::others_returning() const {
  std::lock_guard lock(gate_.mutex_);
  return gate_.returning_waiting_ > 0;
}

bool CpuGate::release(Seat& seat) {
  if (!seat.inside_) return false;
  seat.inside_ = false;
  if (!seat.holds_slot_) return true;
  seat.holds_slot_ = false;
  holders_.erase(std::find(holders_.begin(), holders_.end(), &seat));
  wake_next();
  return true;
}

void CpuGate::wake_next() {
  if (holders_.size() >= slots_) return;
  if (returning_waiting_ > 0) {
    returning_freed_.notify_one();
  } else {
    freed_.notify_one();
  }
}

size_t CpuGate::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_;
}

size_t CpuGate::leases_expired() const {
  std::lock_guard lock(mutex_);
  return expired_;
}

size_t CpuGate::usable_cpus() {
  size_t cpus = 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    cpus = static_cast<size_t>(CPU_COUNT(&set));
  // "max 100000" (no quota) or "<quota> <period>", in the cgroup oceand runs in.
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (in >> quota >> period && quota != "max" && period > 0) {
    const double q = std::strtod(quota.c_str(), nullptr);
    if (q > 0)
      cpus = std::min(cpus, std::max<size_t>(1, static_cast<size_t>(std::ceil(q / period))));
  }
  return cpus;
}

void CpuGate::bind_this_thread(std::shared_ptr<Seat> seat) {
  this_thread_seat = std::move(seat);
}

CpuGate::OutsideWait::OutsideWait() {
  Seat* seat = this_thread_seat.get();
  if (seat && seat->give_back()) seat_ = seat;
}

CpuGate::OutsideWait::~OutsideWait() {
  if (seat_) seat_->take(true);
}

}  // namespace oceand
