#include "services/recommendations/recommendations_service.h"

#include "absl/strings/str_cat.h"
#include "node/base/status_macros.h"
#include "node/rpc/client.h"

namespace fanout::recommendations {

RecommendationsService::RecommendationsService(orders::v1::Orders::Stub* orders, OffloadPool* pool,
                                               Options options)
    : orders_(orders), pool_(pool), options_(options), catalogue_(options.catalogue_size) {}

void RecommendationsService::Serve(Server& server) {
  server.ServeUnary(
      &service_, &v1::Recommendations::AsyncService::RequestRecommend,
      [this](grpc::ServerContext&, const v1::RecommendRequest& r) { return Recommend(r); });
}

Task<absl::StatusOr<v1::RecommendResponse>> RecommendationsService::Recommend(
    const v1::RecommendRequest& request) {
  if (request.user_id() <= 0) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("user_id must be > 0, got ", request.user_id()));
  }
  int limit = request.limit() == 0 ? 5 : request.limit();
  if (limit < 1 || limit > 100) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("limit must be in [0, 100], got ", request.limit()));
  }
  orders::v1::ListOrdersRequest list;
  list.set_user_id(request.user_id());
  list.set_limit(options_.orders_considered);
  // Inherits this call's deadline and cancellation.
  absl::StatusOr<orders::v1::ListOrdersResponse> history = co_await CallUnary(
      orders_, &orders::v1::Orders::Stub::PrepareAsyncListOrders, std::move(list));
  if (!history.ok()) {
    co_return absl::Status(history.status().code(),
                           absl::StrCat("orders backend: ", history.status().message()));
  }
  std::vector<float> taste(Catalogue::kDimensions, 0.0f);
  std::vector<std::string> ordered;
  for (const auto& order : history->orders()) {
    std::vector<float> f = Catalogue::Features(order.item());
    for (int d = 0; d < Catalogue::kDimensions; ++d) taste[d] += f[d] * order.quantity();
    ordered.push_back(order.item());
  }
  if (ordered.empty()) taste = Catalogue::Features("popular");  // A cold start.
  auto scored = co_await Offload(*pool_, [&]() -> absl::StatusOr<std::vector<v1::Recommendation>> {
    return catalogue_.Score(taste, limit, ordered);
  });
  FANOUT_CO_RETURN_IF_ERROR(scored.status());
  v1::RecommendResponse response;
  for (auto& r : *scored) *response.add_items() = std::move(r);
  response.set_orders_considered(static_cast<int32_t>(ordered.size()));
  co_return response;
}

}  // namespace fanout::recommendations
