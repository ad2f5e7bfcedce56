#include "node/actor/actor.h"

#include "absl/strings/str_cat.h"
#include "node/base/log.h"

namespace fanout {

bool IsActorFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

std::string_view RestartPolicyName(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kResume:
      return "resume";
    case RestartPolicy::kRestart:
      return "restart";
    case RestartPolicy::kStop:
      return "stop";
  }
  return "unknown";
}

namespace internal {

RestartPolicy Supervision::OnFailure(const absl::Status& failure) {
  RestartPolicy action = options_->policy;
  std::string why;
  if (action == RestartPolicy::kRestart && !TakeRestart()) {
    action = RestartPolicy::kStop;
    why = absl::StrCat(" (more than ", options_->max_restarts, " restarts within ",
                       absl::FormatDuration(options_->restart_window), ")");
  }
  FANOUT_LOG(WARNING) << "actor " << options_->name << " failed: " << failure << "; "
                      << RestartPolicyName(action) << why;
  if (options_->supervisor) options_->supervisor({options_->name, failure, action});
  return action;
}

bool Supervision::TakeRestart() {
  absl::Time now = clock_->Now();
  while (!recent_restarts_.empty() && now - recent_restarts_.front() >= options_->restart_window) {
    recent_restarts_.pop_front();
  }
  if (static_cast<int>(recent_restarts_.size()) >= options_->max_restarts) return false;
  recent_restarts_.push_back(now);
  return true;
}

absl::Status ActorRefusal(const ActorOptions& options, const absl::Status& mailbox_error) {
  if (absl::IsResourceExhausted(mailbox_error)) {
    return absl::ResourceExhaustedError(absl::StrCat("actor ", options.name, ": mailbox full (",
                                                     options.mailbox_capacity, " messages)"));
  }
  return ActorStoppedError(options);
}

absl::Status ActorStoppedError(const ActorOptions& options) {
  return absl::UnavailableError(absl::StrCat("actor ", options.name, " is stopped"));
}

absl::Status NoTimeToAskError(const ActorOptions& options) {
  return absl::DeadlineExceededError(
      absl::StrCat("actor ", options.name, ": the deadline passed before the Ask was sent"));
}

absl::Status NoInstanceError(const ActorOptions& options) {
  return absl::FailedPreconditionError(
      absl::StrCat("actor ", options.name, ": the factory returned no actor"));
}

}  // namespace internal
}  // namespace fanout
