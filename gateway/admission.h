// AdmissionLimiter: load shedding before any work. A request takes a ticket
// on arrival; when the limit is reached it is refused at once (REST 503
// with Retry-After, gRPC UNAVAILABLE), so the requests already accepted keep
// meeting their deadlines instead of everyone queueing past theirs.
//
//   std::optional<AdmissionLimiter::Ticket> ticket = limiter.TryAdmit();
//   if (!ticket) return Shed();
//
// Thread-safe (one atomic counter): checked on the I/O thread, released on
// a loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

namespace fanout::gateway {

// gateway.max_in_flight when the config leaves it 0: a gateway always has a
// limit over all routes. A route's max_in_flight of 0 is no limit of the
// route's own (AdmissionLimiter(kNoLimit)); the gateway's still counts it.
inline constexpr int64_t kDefaultGatewayMaxInFlight = 10000;

class AdmissionLimiter {
 public:
  static constexpr int64_t kNoLimit = 0;

  // limit <= 0 (kNoLimit): unlimited.
  explicit AdmissionLimiter(int64_t limit) : limit_(limit) {}
  AdmissionLimiter(const AdmissionLimiter&) = delete;
  AdmissionLimiter& operator=(const AdmissionLimiter&) = delete;

  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept : limiter_(std::exchange(other.limiter_, nullptr)) {}
    Ticket& operator=(Ticket&& other) noexcept {
      std::swap(limiter_, other.limiter_);
      return *this;
    }
    ~Ticket() {
      if (limiter_) limiter_->in_flight_.fetch_sub(1, std::memory_order_relaxed);
    }

   private:
    friend class AdmissionLimiter;
    explicit Ticket(AdmissionLimiter* limiter) : limiter_(limiter) {}
    AdmissionLimiter* limiter_;
  };

  std::optional<Ticket> TryAdmit() {
    int64_t now = in_flight_.fetch_add(1, std::memory_order_relaxed);
    if (limit_ > 0 && now >= limit_) {
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      shed_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return Ticket(this);
  }

  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  int64_t shed() const { return shed_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> shed_{0};
};

}  // namespace fanout::gateway
