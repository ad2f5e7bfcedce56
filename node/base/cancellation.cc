#include "node/base/cancellation.h"

#include <algorithm>
#include <cassert>

namespace fanout {

bool CancellationToken::cancelled() const { return source_ != nullptr && source_->cancelled(); }

absl::Status CancellationToken::reason() const {
  return source_ == nullptr ? absl::OkStatus() : source_->reason();
}

absl::Time CancellationToken::deadline() const {
  return source_ == nullptr ? absl::InfiniteFuture() : source_->deadline();
}

CancellationSource::CancellationSource(CancellationToken parent, absl::Time deadline)
    : deadline_(std::min(deadline, parent.deadline())) {
  if (parent.source() == nullptr) return;
  if (parent.cancelled()) {
    reason_ = parent.reason();
    return;
  }
  parent_link_ =
      new CancellationCallback(parent, [this](const absl::Status& reason) { Cancel(reason); });
}

CancellationSource::~CancellationSource() {
  delete parent_link_;
  // Callbacks that outlive us (their owners are being torn down too) must not
  // touch us later.
  for (CancellationCallback* cb = head_; cb != nullptr;) {
    CancellationCallback* next = cb->next_;
    cb->source_ = nullptr;
    cb->prev_ = cb->next_ = nullptr;
    cb = next;
  }
}

void CancellationSource::Cancel(absl::Status reason) {
  assert(!reason.ok());
  if (cancelled()) return;
  reason_ = std::move(reason);
  // Pop each callback before running it, so a callback may freely destroy
  // other registrations (or itself) while we walk.
  while (head_ != nullptr) {
    CancellationCallback* cb = head_;
    Unlink(cb);
    cb->fn_(reason_);
  }
}

void CancellationSource::Link(CancellationCallback* cb) {
  cb->source_ = this;
  cb->prev_ = tail_;
  cb->next_ = nullptr;
  if (tail_ != nullptr)
    tail_->next_ = cb;
  else
    head_ = cb;
  tail_ = cb;
}

void CancellationSource::Unlink(CancellationCallback* cb) {
  if (cb->prev_ != nullptr)
    cb->prev_->next_ = cb->next_;
  else
    head_ = cb->next_;
  if (cb->next_ != nullptr)
    cb->next_->prev_ = cb->prev_;
  else
    tail_ = cb->prev_;
  cb->source_ = nullptr;
  cb->prev_ = cb->next_ = nullptr;
}

CancellationCallback::CancellationCallback(CancellationToken token,
                                           absl::AnyInvocable<void(const absl::Status&)> fn)
    : fn_(std::move(fn)) {
  if (token.source() != nullptr && !token.cancelled()) token.source()->Link(this);
}

CancellationCallback::~CancellationCallback() {
  if (source_ != nullptr) source_->Unlink(this);
}

}  // namespace fanout
