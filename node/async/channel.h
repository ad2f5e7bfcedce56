// Channel<T>: asyncio.Queue(maxsize), closable. The mailbox under actors.
//
//   Channel<Job> jobs(/*capacity=*/64);
//   FANOUT_CO_RETURN_IF_ERROR(co_await jobs.Send(job));   // suspends while full
//   while (true) {
//     absl::StatusOr<Job> job = co_await jobs.Receive();  // suspends while empty
//     if (!job.ok()) break;                                // closed and drained
//     ...
//   }
//
// Send suspends while the channel is full (backpressure); TrySend refuses
// with RESOURCE_EXHAUSTED instead. Close() lets receivers drain what is
// buffered, then they get OUT_OF_RANGE; senders get FAILED_PRECONDITION.
// Waiting senders and receivers are served in FIFO order and give up with
// their task's cancellation reason.
//
// Thread-safe: any loop may send or receive; waiters resume on their own loop.
#pragma once

#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "node/async/wait_list.h"
#include "node/base/sync.h"

namespace fanout {

template <typename T>
class Channel {
 public:
  explicit Channel(size_t capacity) : capacity_(capacity > 0 ? capacity : 1) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  absl::Status TrySend(T value) {
    internal::WaitNode* woken = nullptr;
    {
      MutexLock lock(&mu_);
      if (closed_) return ClosedError();
      if (buffer_.size() >= capacity_) {
        return absl::ResourceExhaustedError(
            absl::StrCat("channel is full (capacity ", capacity_, ")"));
      }
      woken = DeliverLocked(std::move(value));
    }
    if (woken) woken->Wake();
    return absl::OkStatus();
  }

  std::optional<T> TryReceive() {
    internal::WaitNode* woken = nullptr;
    std::optional<T> value;
    {
      MutexLock lock(&mu_);
      if (buffer_.empty()) return std::nullopt;
      value.emplace(std::move(buffer_.front()));
      buffer_.pop_front();
      woken = AdmitSender();
    }
    if (woken) woken->Wake();
    return value;
  }

  class SendAwaiter;
  class ReceiveAwaiter;
  // co_await: OK once buffered.
  SendAwaiter Send(T value) { return SendAwaiter(this, std::move(value)); }
  // co_await: the next value, or OUT_OF_RANGE once closed and drained.
  ReceiveAwaiter Receive() { return ReceiveAwaiter(this); }

  void Close() {
    internal::WaitList receivers, senders;
    {
      MutexLock lock(&mu_);
      if (closed_) return;
      closed_ = true;
      // Receivers wait only when the buffer is empty: none will get a value.
      while (auto* n = receivers_.PopFront()) {
        n->status = absl::OutOfRangeError("channel closed");
        receivers.PushBack(n);
      }
      while (auto* n = senders_.PopFront()) {
        n->status = ClosedError();
        senders.PushBack(n);
      }
    }
    while (auto* n = receivers.PopFront()) n->Wake();
    while (auto* n = senders.PopFront()) n->Wake();
  }

  size_t size() const {
    MutexLock lock(&mu_);
    return buffer_.size();
  }
  size_t capacity() const { return capacity_; }
  bool closed() const {
    MutexLock lock(&mu_);
    return closed_;
  }

  class SendAwaiter : public internal::CancellableWait {
   public:
    SendAwaiter(Channel* ch, T value)
        : CancellableWait(&ch->mu_, &ch->senders_), channel_(ch), value_(std::move(value)) {
      node_.owner = this;
    }
    bool await_ready() noexcept { return false; }
    template <internal::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
      const TaskContext& context = h.promise().context;
      internal::WaitNode* woken = nullptr;
      {
        MutexLock lock(mu_);
        if (channel_->closed_) {
          node_.status = ClosedError();
          return false;
        }
        if (channel_->buffer_.size() < channel_->capacity_ && channel_->senders_.empty()) {
          woken = channel_->DeliverLocked(std::move(*value_));
          if (woken == nullptr) return false;
        } else if (!Suspend(context, h)) {
          return false;
        }
      }
      if (woken) {
        woken->Wake();
        return false;
      }
      WatchCancellation(context);
      return true;
    }
    absl::Status await_resume() {
      StopWatching();
      return node_.status;
    }

   private:
    friend class Channel;
    Channel* channel_;
    std::optional<T> value_;  // Moved into the buffer when admitted.
  };

  class ReceiveAwaiter : public internal::CancellableWait {
   public:
    explicit ReceiveAwaiter(Channel* ch)
        : CancellableWait(&ch->mu_, &ch->receivers_), channel_(ch) {
      node_.owner = this;
    }
    bool await_ready() noexcept { return false; }
    template <internal::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
      const TaskContext& context = h.promise().context;
      internal::WaitNode* woken = nullptr;
      bool suspended = false;
      {
        MutexLock lock(mu_);
        if (!channel_->buffer_.empty()) {
          TakeLocked();
          woken = channel_->AdmitSender();
        } else if (channel_->closed_) {
          node_.status = absl::OutOfRangeError("channel closed");
          return false;
        } else if (!Suspend(context, h)) {
          return false;
        } else {
          // From here a sender may fill value_ from another thread: it must
          // not be read again until we are resumed.
          suspended = true;
        }
      }
      if (!suspended) {
        if (woken) woken->Wake();
        return false;
      }
      WatchCancellation(context);
      return true;
    }
    absl::StatusOr<T> await_resume() {
      StopWatching();
      // A sender hands its value straight to a waiting receiver.
      if (!value_.has_value()) return node_.status;
      return std::move(*value_);
    }

   private:
    void TakeLocked() {
      value_.emplace(std::move(channel_->buffer_.front()));
      channel_->buffer_.pop_front();
    }
    friend class Channel;
    Channel* channel_;
    std::optional<T> value_;
  };

 private:
  static absl::Status ClosedError() { return absl::FailedPreconditionError("channel closed"); }

  // A value arrives: straight to the first waiting receiver (woken, returned)
  // or into the buffer.
  internal::WaitNode* DeliverLocked(T value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    internal::WaitNode* n = receivers_.PopFront();
    if (n == nullptr) {
      buffer_.push_back(std::move(value));
      return nullptr;
    }
    static_cast<ReceiveAwaiter*>(n->owner)->value_.emplace(std::move(value));
    return n;
  }

  // A slot freed up: the first waiting sender's value moves in; it is woken.
  internal::WaitNode* AdmitSender() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    internal::WaitNode* n = senders_.PopFront();
    if (n == nullptr) return nullptr;
    buffer_.push_back(std::move(*static_cast<SendAwaiter*>(n->owner)->value_));
    return n;
  }

  const size_t capacity_;
  mutable Mutex mu_;
  std::deque<T> buffer_ ABSL_GUARDED_BY(mu_);
  internal::WaitList receivers_ ABSL_GUARDED_BY(mu_);
  internal::WaitList senders_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fanout
