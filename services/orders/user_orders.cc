#include "services/orders/user_orders.h"

#include "absl/strings/str_cat.h"
#include "node/base/log.h"
#include "node/base/status_macros.h"
#include "services/orders/watch_hub.h"

namespace fanout::orders {
namespace {

metrics::Counter* WritesCounter(const char* outcome) {
  return &metrics::DefaultRegistry()
              .AddCounter("fanout_orders_writes_total",
                          "CreateOrder writes by outcome: committed, committed_after_caller_left "
                          "(the caller stopped waiting while the row was stored), "
                          "not_written_caller_left (it stopped waiting before the write's turn).",
                          {"outcome"})
              .With({outcome});
}

bool CallerLeft(const WriteOrder& write) {
  return (write.caller_left && write.caller_left->load()) || absl::Now() >= write.answer_by;
}

}  // namespace

WriteOutcomes::WriteOutcomes()
    : committed_metric_(WritesCounter("committed")),
      committed_after_metric_(WritesCounter("committed_after_caller_left")),
      not_written_metric_(WritesCounter("not_written_caller_left")) {}

Task<absl::StatusOr<WriteResult>> UserOrders::Handle(WriteOrder write) {
  const absl::Time now = absl::Now();
  if (write.user_checked) {
    user_checked_until_ = now + context_->user_check_ttl;
  } else if (now >= user_checked_until_) {
    co_return WriteResult{.user_unchecked = true};
  }
  if (CallerLeft(write)) {
    // Logged before counted: whoever sees the count can find the line.
    FANOUT_LOG(INFO) << "order for user " << user_id_
                     << " not written: its caller stopped waiting before the write's turn";
    context_->outcomes->NotWrittenCallerLeft();
    co_return absl::CancelledError(
        absl::StrCat("order for user ", user_id_, " not written: the caller left"));
  }
  const v1::CreateOrderRequest& request = write.request;
  FANOUT_CO_ASSIGN_OR_RETURN(v1::Order order, co_await Offload(*context_->pool, [&] {
                               return context_->store->Insert(request);
                             }));
  if (context_->hub != nullptr) context_->hub->Publish(order);
  if (CallerLeft(write)) {
    FANOUT_LOG(WARNING) << "order " << order.id() << " for user " << user_id_ << " (sequence "
                        << order.sequence()
                        << ") committed after its caller stopped waiting: the caller was not "
                           "told, a retry would write it again";
    context_->outcomes->CommittedAfterCallerLeft();
  } else {
    context_->outcomes->Committed();
  }
  co_return WriteResult{.order = std::move(order)};
}

}  // namespace fanout::orders
