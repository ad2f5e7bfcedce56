// UserOrders: the actor that writes one user's orders, one at a time, so
// they are numbered 1, 2, 3, ... in the order accepted.
//
//   WriteOrder write{.request = request, .caller_left = left, .answer_by = deadline};
//   absl::StatusOr<WriteResult> result = co_await writer.Ask(write, timeout);
//   if (result.ok() && result->user_unchecked) { ...ask users, set .user_checked, ask again... }
//
// The user check. The actor remembers that its user exists for
// `user_check_ttl` after a write that came with `user_checked` (the handler
// has just asked the users service, with its caller's deadline). A write
// without it, after that time or in a fresh actor, is answered
// `user_unchecked` and not written. So an actor that writes has seen its
// user within the ttl, and an order for a deleted user is refused at the
// latest user_check_ttl after the deletion (sooner if the actor is evicted:
// a fresh one checks again). Only positive answers are kept: a user created
// after a refused order can order at once.
//
// A caller that leaves. The asker sets `caller_left` when it stops waiting
// (the client cancelled, its deadline or the write timeout passed); the
// actor reads it, and `answer_by`, when the write's turn comes:
//  - left before its turn: not written (CANCELLED), logged at INFO;
//  - left while the row was being stored: the write commits (SQLite cannot
//    take it back, and the caller cannot tell which happened either), and
//    a WARNING names the order id and sequence it got.
// Each outcome is counted in fanout_orders_writes_total{outcome}.
//
// Owning actor only (it is an Actor); WriteOutcomes is thread-safe.
#pragma once

#include <atomic>
#include <memory>

#include "fanout/orders/v1/orders.pb.h"
#include "node/actor/actor.h"
#include "node/async/offload.h"
#include "services/orders/orders_store.h"

namespace fanout::orders {

class WatchHub;

struct WriteOrder {
  v1::CreateOrderRequest request;
  // The handler asked the users service for this user just before.
  bool user_checked = false;
  // Set by the asker once it stops waiting for the answer.
  std::shared_ptr<const std::atomic<bool>> caller_left;
  // The asker waits no longer than this.
  absl::Time answer_by = absl::InfiniteFuture();
};

struct WriteResult {
  // Not written: ask the users service, then send it again with user_checked.
  bool user_unchecked = false;
  v1::Order order;  // When written.
};

// What became of writes, for the log's companion metric and for tests.
// Thread-safe.
class WriteOutcomes {
 public:
  WriteOutcomes();
  void Committed() { Count(committed_, *committed_metric_); }
  void CommittedAfterCallerLeft() { Count(committed_after_, *committed_after_metric_); }
  void NotWrittenCallerLeft() { Count(not_written_, *not_written_metric_); }

  int64_t committed() const { return committed_.load(); }
  int64_t committed_after_caller_left() const { return committed_after_.load(); }
  int64_t not_written_caller_left() const { return not_written_.load(); }

 private:
  static void Count(std::atomic<int64_t>& mine, metrics::Counter& process) {
    mine.fetch_add(1, std::memory_order_relaxed);
    process.Increment();
  }
  std::atomic<int64_t> committed_{0}, committed_after_{0}, not_written_{0};
  metrics::Counter* committed_metric_;
  metrics::Counter* committed_after_metric_;
  metrics::Counter* not_written_metric_;
};

class UserOrders : public Actor<WriteOrder, WriteResult> {
 public:
  struct Context {  // Shared by every user's actor; outlives them.
    OrdersStore* store;
    OffloadPool* pool;
    WatchHub* hub;  // Null: a WatchPoller publishes (the store is shared).
    WriteOutcomes* outcomes;
    absl::Duration user_check_ttl;
  };
  UserOrders(int64_t user_id, const Context* context) : user_id_(user_id), context_(context) {}

  Task<absl::StatusOr<WriteResult>> Handle(WriteOrder write) override;

 private:
  const int64_t user_id_;
  const Context* context_;
  absl::Time user_checked_until_ = absl::InfinitePast();
};

}  // namespace fanout::orders
