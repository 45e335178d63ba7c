#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace oceand {

// Lets at most `slots` threads compute at once; a thread that waits on something outside the
// process (a third party's answer, its rate-limit window) steps out meanwhile.
//
// Why: CPU priority is per thread. 32 event workers at nice 10 that all have work weigh more
// together than two I/O loops at nice 0, so "accepting webhooks comes first" held only for few
// workers. With the gate, the workers computing at any moment are about as many as the CPUs,
// whatever event_workers_count is, while those waiting for GitHub or Jira hold nothing.
//
// A slot is a lease, not a lock: one held for `lease` on one piece of work (renew) stops counting
// when another thread wants it, so a plugin that blocks on its own (not through the host) delays
// the others once by at most that, and never stalls them.
class CpuGate {
 public:
  using Clock = std::chrono::steady_clock;

  CpuGate(size_t slots, std::chrono::milliseconds lease);

  // One thread's place at the gate (an event worker's). take, renew and give_back are called by
  // that thread; forfeit by any thread, once the owner is given up (an abandoned worker).
  class Seat {
   public:
    // Keeps the gate alive: an abandoned worker's thread may end after the engine that made it.
    explicit Seat(std::shared_ptr<CpuGate> gate) : owner_(std::move(gate)), gate_(*owner_) {}
    ~Seat() { forfeit(); }
    Seat(const Seat&) = delete;
    Seat& operator=(const Seat&) = delete;

    // Waits for a slot; inside the gate after. `returning`: the thread comes back from an
    // outside wait in the middle of its work, and is served before threads that would start new
    // work.
    void take(bool returning = false);
    // A new piece of work begins: the lease starts over.
    void renew();
    // Out of the gate; the slot, if still held, goes to the next thread. False: it was not inside.
    bool give_back();
    // give_back for good: take and give_back do nothing from now on.
    void forfeit();
    bool inside() const;
    // False once the lease ran out and another thread took the slot (still inside, uncounted).
    bool holds_slot() const;
    // Threads back from an outside wait are waiting for a slot: one between two pieces of work
    // should give its slot back rather than keep it for the next.
    bool others_returning() const;

   private:
    friend class CpuGate;
    std::shared_ptr<CpuGate> owner_;
    CpuGate& gate_;
    // Guarded by gate_.mutex_.
    bool inside_ = false;
    bool holds_slot_ = false;
    bool forfeited_ = false;
    Clock::time_point since_{};
  };

  // The calling thread's seat for OutsideWait (null: the thread computes ungated).
  static void bind_this_thread(std::shared_ptr<Seat> seat);

  // For the duration of a wait on something outside the process, on the calling thread: its slot
  // goes to another thread, and is taken again after. Does nothing on a thread without a seat or
  // outside the gate.
  class OutsideWait {
   public:
    OutsideWait();
    ~OutsideWait();
    OutsideWait(const OutsideWait&) = delete;
    OutsideWait& operator=(const OutsideWait&) = delete;

   private:
    Seat* seat_ = nullptr;
  };

  // The CPUs this process may run on: its affinity mask, bounded by a cgroup v2 CPU quota
  // (`cpu.max`, a container's CPU limit) when there is one. At least 1.
  static size_t usable_cpus();

  size_t slots() const { return slots_; }
  // Threads waiting for a slot now.
  size_t waiting() const;
  // Slots taken from a holder whose lease ran out.
  size_t leases_expired() const;

 private:
  bool release(Seat& seat);  // with mutex_ held; false: the seat was not inside
  void wake_next();          // with mutex_ held

  const size_t slots_;
  const std::chrono::milliseconds lease_;
  mutable std::mutex mutex_;
  std::condition_variable returning_freed_;  // threads back from an outside wait
  std::condition_variable freed_;            // threads starting new work
  std::vector<Seat*> holders_;               // seats counted against slots_
  size_t returning_waiting_ = 0;
  size_t waiting_ = 0;
  size_t expired_ = 0;
};

}  // namespace oceand
