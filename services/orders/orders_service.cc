#include "services/orders/orders_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "node/base/status_macros.h"

namespace fanout::orders {
namespace {

constexpr size_t kMaxItemLength = 200;
constexpr int32_t kMaxQuantity = 1000;

absl::Status Validate(const v1::CreateOrderRequest& r) {
  if (r.user_id() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("user_id must be > 0, got ", r.user_id()));
  }
  if (r.item().empty()) return absl::InvalidArgumentError("item must not be empty");
  if (r.item().size() > kMaxItemLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("item must be at most ", kMaxItemLength, " bytes, got ", r.item().size()));
  }
  if (r.quantity() < 1 || r.quantity() > kMaxQuantity) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantity must be in [1, ", kMaxQuantity, "], got ", r.quantity()));
  }
  if (r.amount_cents() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("amount_cents must be >= 0, got ", r.amount_cents()));
  }
  return absl::OkStatus();
}

// One user's writer: stores the order, then tells the watchers.
class UserOrders : public Actor<v1::CreateOrderRequest, v1::Order> {
 public:
  UserOrders(OrdersStore* store, OffloadPool* pool, WatchHub* hub)
      : store_(store), pool_(pool), hub_(hub) {}

  Task<absl::StatusOr<v1::Order>> Handle(v1::CreateOrderRequest request) override {
    FANOUT_CO_ASSIGN_OR_RETURN(v1::Order order,
                               co_await Offload(*pool_, [&] { return store_->Insert(request); }));
    hub_->Publish(order);
    co_return order;
  }

 private:
  OrdersStore* store_;
  OffloadPool* pool_;
  WatchHub* hub_;
};

}  // namespace

std::shared_ptr<WatchHub::Watcher> WatchHub::Add(int64_t user_id) {
  auto watcher = std::make_shared<Watcher>(user_id, buffer_);
  MutexLock lock(&mu_);
  watchers_.push_back(watcher);
  return watcher;
}

void WatchHub::Remove(const std::shared_ptr<Watcher>& watcher) {
  MutexLock lock(&mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
}

void WatchHub::Publish(const v1::Order& order) {
  MutexLock lock(&mu_);
  for (const auto& w : watchers_) {
    if (w->user_id != 0 && w->user_id != order.user_id()) continue;
    if (w->overflowed.load()) continue;
    if (!w->queue.TrySend(order).ok()) {
      w->overflowed.store(true);
      w->queue.Close();
    }
  }
}

size_t WatchHub::size() const {
  MutexLock lock(&mu_);
  return watchers_.size();
}

OrdersService::OrdersService(OrdersStore* store, OffloadPool* pool, LoopGroup& loops,
                             Options options)
    : store_(store),
      pool_(pool),
      options_(options),
      hub_(options.watcher_buffer),
      users_(loops,
             [this](const int64_t&) { return std::make_unique<UserOrders>(store_, pool_, &hub_); },
             {.actor = {.name = "orders/user", .mailbox_capacity = options.mailbox_capacity},
              .max_actors = options.max_user_actors}) {}

void OrdersService::Serve(Server& server) {
  using S = v1::Orders::AsyncService;
  server.ServeUnary(
      &service_, &S::RequestCreateOrder,
      [this](grpc::ServerContext&, const v1::CreateOrderRequest& r) { return CreateOrder(r); });
  server.ServeUnary(
      &service_, &S::RequestListOrders,
      [this](grpc::ServerContext&, const v1::ListOrdersRequest& r) { return ListOrders(r); });
  server.ServeServerStream(
      &service_, &S::RequestWatchOrders,
      [this](grpc::ServerContext&, const v1::WatchOrdersRequest& r,
             ServerStreamWriter<v1::Order>& out) { return WatchOrders(r, out); });
}

Task<absl::StatusOr<v1::Order>> OrdersService::CreateOrder(const v1::CreateOrderRequest& request) {
  FANOUT_CO_RETURN_IF_ERROR(Validate(request));
  FANOUT_CO_ASSIGN_OR_RETURN(auto writer, users_.Get(request.user_id()));
  co_return co_await writer.Ask(request, options_.write_timeout);
}

Task<absl::StatusOr<v1::ListOrdersResponse>> OrdersService::ListOrders(
    const v1::ListOrdersRequest& request) {
  if (request.user_id() <= 0) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("user_id must be > 0, got ", request.user_id()));
  }
  int limit = request.limit() == 0 ? 10 : request.limit();
  if (limit < 1 || limit > 100) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("limit must be in [0, 100], got ", request.limit()));
  }
  FANOUT_CO_ASSIGN_OR_RETURN(std::vector<v1::Order> orders, co_await Offload(*pool_, [&] {
                               return store_->Recent(request.user_id(), limit);
                             }));
  v1::ListOrdersResponse response;
  for (auto& o : orders) *response.add_orders() = std::move(o);
  co_return response;
}

Task<absl::Status> OrdersService::WatchOrders(const v1::WatchOrdersRequest& request,
                                              ServerStreamWriter<v1::Order>& out) {
  if (request.user_id() < 0) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("user_id must be >= 0, got ", request.user_id()));
  }
  std::shared_ptr<WatchHub::Watcher> watcher = hub_.Add(request.user_id());
  absl::Status ended;
  for (;;) {
    absl::StatusOr<v1::Order> order = co_await watcher->queue.Receive();
    if (watcher->overflowed.load()) {
      ended = absl::ResourceExhaustedError(absl::StrCat(
          "watcher fell behind: more than ", options_.watcher_buffer, " orders undelivered"));
      break;
    }
    if (!order.ok()) {
      ended = order.status();
      break;
    }
    if (ended = co_await out.Write(*order); !ended.ok()) break;
  }
  hub_.Remove(watcher);
  co_return ended;
}

}  // namespace fanout::orders
