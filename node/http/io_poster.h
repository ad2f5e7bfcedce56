// IoPoster: posts to an Asio io_context until Close(); afterwards posting
// is a no-op, so work finishing on other threads (an HTTP exchange's
// answer, a permit granted to a relayed call) never touches a destroyed
// io_context. Shared (std::shared_ptr) by whoever may post late.
//
//   auto poster = std::make_shared<IoPoster>(&io);
//   poster->Post([] { ... on io's thread ... });   // from any thread
//   poster->Close();                                // before io goes
//
// Thread-safe.
#pragma once

#include <utility>
// ^ before Boost: Asio 1.74 needs std::exchange from it under g++ 12.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "node/base/sync.h"

namespace fanout {

class IoPoster {
 public:
  explicit IoPoster(boost::asio::io_context* io) : io_(io) {}

  template <typename Fn>
  void Post(Fn&& fn) {
    MutexLock lock(&mu_);
    if (io_ != nullptr) boost::asio::post(*io_, std::forward<Fn>(fn));
  }
  void Close() {
    MutexLock lock(&mu_);
    io_ = nullptr;
  }

 private:
  Mutex mu_;
  boost::asio::io_context* io_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fanout
