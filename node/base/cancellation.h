// Cancellation: asyncio's task.cancel(), as a source and the tokens it hands out.
//
// Every Task runs with a CancellationToken in its context (see task.h); every
// await in node/ watches it: a sleep ends, a semaphore wait gives up, an
// in-flight RPC gets TryCancel(). A source may have a parent (cancelling the
// parent cancels the child) and a deadline (inherited: a child's deadline is
// never later than its parent's). The reason it was cancelled, CANCELLED or
// DEADLINE_EXCEEDED, is what the interrupted awaits return.
//
// A deadline is only a value here: it is enforced by whoever waits on it
// (WithDeadline's timer, Ask, Retry, an RPC's gRPC deadline), in the loop's
// time (EventLoop::Now(): real, or simulated in tests).
//
//   CancellationSource source(parent_token);
//   CancellationCallback on_cancel(source.token(), [&](const absl::Status&) {
//     context.TryCancel();
//   });
//   source.Cancel(absl::CancelledError("caller went away"));
//
// Loop-affine: a source, its tokens and callbacks belong to one loop. To
// cancel from another thread, Post() the Cancel() to that loop.
#pragma once

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fanout {

class CancellationSource;
class CancellationCallback;

// A view of a source. Cheap to copy; valid while its source lives (tasks are
// structured: a child never outlives the source it was given).
class CancellationToken {
 public:
  CancellationToken() = default;  // Never cancelled.
  explicit CancellationToken(CancellationSource* source) : source_(source) {}

  bool cancelled() const;
  // OK while not cancelled.
  absl::Status reason() const;
  // InfiniteFuture when none.
  absl::Time deadline() const;
  CancellationSource* source() const { return source_; }

 private:
  CancellationSource* source_ = nullptr;
};

class CancellationSource {
 public:
  explicit CancellationSource(CancellationToken parent = {},
                              absl::Time deadline = absl::InfiniteFuture());
  ~CancellationSource();
  CancellationSource(const CancellationSource&) = delete;
  CancellationSource& operator=(const CancellationSource&) = delete;

  CancellationToken token() { return CancellationToken(this); }
  bool cancelled() const { return !reason_.ok(); }
  const absl::Status& reason() const { return reason_; }
  absl::Time deadline() const { return deadline_; }

  // The first call wins; later calls do nothing. Runs the callbacks now, in
  // registration order. `reason` must not be OK.
  void Cancel(absl::Status reason);

 private:
  friend class CancellationCallback;
  void Link(CancellationCallback* cb);
  void Unlink(CancellationCallback* cb);

  absl::Status reason_;
  absl::Time deadline_;
  CancellationCallback* head_ = nullptr;
  CancellationCallback* tail_ = nullptr;
  CancellationCallback* parent_link_ = nullptr;  // Owned; our callback on the parent.
};

// Registers `fn` to run when the token is cancelled, until this object dies.
// If the token is already cancelled, `fn` is not registered (and not run):
// check `token.cancelled()` first.
class CancellationCallback {
 public:
  CancellationCallback(CancellationToken token, absl::AnyInvocable<void(const absl::Status&)> fn);
  ~CancellationCallback();
  CancellationCallback(const CancellationCallback&) = delete;
  CancellationCallback& operator=(const CancellationCallback&) = delete;

 private:
  friend class CancellationSource;
  CancellationSource* source_ = nullptr;  // Null once run or unlinked.
  CancellationCallback* prev_ = nullptr;
  CancellationCallback* next_ = nullptr;
  absl::AnyInvocable<void(const absl::Status&)> fn_;
};

}  // namespace fanout
