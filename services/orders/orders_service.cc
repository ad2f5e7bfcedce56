#include "services/orders/orders_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "node/base/status_macros.h"
#include "node/rpc/client.h"

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

// Every replica's orders for this one's watchers, from a shared store.
std::unique_ptr<WatchPoller> MakePoller(OrdersStore* store, WatchHub* hub,
                                        const OrdersService::Options& options) {
  return std::make_unique<WatchPoller>(
      store, hub,
      WatchPoller::Options{.interval = options.watch_poll_interval,
                           // One poll never overfills a watcher that has kept up.
                           .limit_per_user = static_cast<int>(options.watcher_buffer)});
}

}  // namespace

OrdersService::OrdersService(OrdersStore* store, OffloadPool* pool, LoopGroup& loops,
                             Options options, users::v1::Users::Stub* users)
    : store_(store),
      pool_(pool),
      users_(users),
      options_(options),
      hub_(options.watcher_buffer),
      poller_(store->shared() ? MakePoller(store, &hub_, options) : nullptr),
      context_{.store = store_,
               .pool = pool_,
               .hub = poller_ ? nullptr : &hub_,
               .outcomes = &outcomes_,
               .user_check_ttl = options.user_check_ttl},
      writers_(loops,
               [this](const int64_t& user_id) {
                 return std::make_unique<UserOrders>(user_id, &context_);
               },
               {.actor = {.name = "orders/user", .mailbox_capacity = options.mailbox_capacity},
                .max_actors = options.max_user_actors,
                .idle_timeout = options.actor_idle_timeout}) {}

OrdersService::Options OrdersService::OptionsFromConfig(const config::v1::Orders& config) {
  Options options;
  if (config.max_user_actors() > 0) options.max_user_actors = config.max_user_actors();
  if (config.actor_idle_ms() > 0) {
    options.actor_idle_timeout = absl::Milliseconds(config.actor_idle_ms());
  }
  if (config.user_check_ttl_ms() > 0) {
    options.user_check_ttl = absl::Milliseconds(config.user_check_ttl_ms());
  }
  if (config.watch_poll_ms() > 0) {
    options.watch_poll_interval = absl::Milliseconds(config.watch_poll_ms());
  }
  return options;
}

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
  WriteOrder write{.request = request};
  FANOUT_CO_ASSIGN_OR_RETURN(WriteResult result, co_await Write(write));
  if (result.user_unchecked) {
    // The actor is fresh or its check is old: ask users, then write.
    FANOUT_CO_RETURN_IF_ERROR(co_await CheckUser(request.user_id()));
    write.user_checked = true;
    FANOUT_CO_ASSIGN_OR_RETURN(result, co_await Write(write));
  }
  co_return std::move(result.order);
}

Task<absl::StatusOr<WriteResult>> OrdersService::Write(WriteOrder write) {
  const TaskContext context = co_await CurrentContext();
  auto left = std::make_shared<std::atomic<bool>>(false);
  write.caller_left = left;
  write.answer_by = std::min(absl::Now() + options_.write_timeout, context.token.deadline());
  absl::StatusOr<WriteResult> result;
  {
    absl::StatusOr<ActorRef<WriteOrder, WriteResult>> writer =
        writers_.Get(write.request.user_id());
    FANOUT_CO_RETURN_IF_ERROR(writer.status());
    result = co_await writer->Ask(std::move(write), options_.write_timeout);
  }  // The ref goes at once: an idle actor may then be evicted.
  if (!result.ok() && (context.token.cancelled() || absl::IsDeadlineExceeded(result.status()))) {
    left->store(true);
    callers_left_.fetch_add(1);
  }
  co_return result;
}

Task<absl::Status> OrdersService::CheckUser(int64_t user_id) {
  if (users_ == nullptr) {
    co_return absl::FailedPreconditionError("orders: no users backend to check user_id against");
  }
  users::v1::GetUserRequest get;
  get.set_id(user_id);
  // Made from the handler's task: the call carries the caller's deadline
  // and is cancelled with it.
  absl::StatusOr<users::v1::User> user =
      co_await CallUnary(users_, &users::v1::Users::Stub::PrepareAsyncGetUser, std::move(get));
  if (user.ok()) co_return absl::OkStatus();
  const absl::Status& s = user.status();
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      co_return absl::NotFoundError(absl::StrCat("user_id ", user_id, ": no such user"));
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      co_return absl::Status(s.code(), absl::StrCat("checking user_id ", user_id,
                                                    " with the users backend: ", s.message()));
    default:  // Not a silent create: the order waits until users can answer.
      co_return absl::UnavailableError(
          absl::StrCat("cannot check user_id ", user_id, ": users backend answered ",
                       absl::StatusCodeToString(s.code()), ": ", s.message()));
  }
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
  if (request.user_id() <= 0) {
    co_return absl::InvalidArgumentError(absl::StrCat(
        "user_id is required (> 0), got ", request.user_id(), ": a watch is of one user's orders"));
  }
  // Polled from the store: the watch starts after the user's newest order.
  int64_t after_sequence = 0;
  if (poller_ != nullptr) {
    FANOUT_CO_ASSIGN_OR_RETURN(std::vector<v1::Order> newest, co_await Offload(*pool_, [&] {
                                 return store_->Recent(request.user_id(), 1);
                               }));
    if (!newest.empty()) after_sequence = newest[0].sequence();
  }
  std::shared_ptr<WatchHub::Watcher> watcher = hub_.Add(request.user_id(), after_sequence);
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
