#!/usr/bin/env bash
# gRPC unary calls with curl (HTTP/2, a framed protobuf body), for scripts
# that have no gRPC client. Source it:
#
#   source deploy/grpc_curl.sh
#   grpc_health 127.0.0.1:50051 fanout.users.v1.Users   # exit 0 iff SERVING
#   grpc_call 127.0.0.1:50051 fanout.users.v1.Users/GetUser 0801
#       # prints the reply message as hex; exit 0 iff grpc-status is 0
#
# Messages are hex-encoded protobuf (0801: field 1 = 1).

# The 5-byte gRPC frame header (not compressed, big-endian length) + message.
grpc_frame() {  # hex message -> binary frame on stdout
  local hex=$1 len=$((${#1} / 2))
  printf "\\x00\\x$(printf %02x $((len >> 24 & 255)))\\x$(printf %02x $((len >> 16 & 255)))"
  printf "\\x$(printf %02x $((len >> 8 & 255)))\\x$(printf %02x $((len & 255)))"
  [ -z "$hex" ] || printf "$(echo "$hex" | sed 's/../\\x&/g')"
}

# A string field (tag byte given in hex, short strings only) as hex.
grpc_string_field() {  # tag_hex string -> hex
  printf '%s%02x' "$1" "${#2}"
  printf '%s' "$2" | od -An -v -tx1 | tr -d ' \n'
}

grpc_call() {  # address /service/method hex-message
  local address=$1 method=$2 hex=${3:-} out headers status
  headers=$(mktemp)
  out=$(grpc_frame "$hex" | curl -sS --max-time "${GRPC_CURL_TIMEOUT:-5}" --http2-prior-knowledge \
    -H 'content-type: application/grpc' -H 'te: trailers' -D "$headers" --data-binary @- \
    "http://$address/$method" | od -An -v -tx1 | tr -d ' \n') || { rm -f "$headers"; return 2; }
  status=$(tr -d '\r' < "$headers" | sed -n 's/^grpc-status: *//p' | tail -1)
  rm -f "$headers"
  echo "${out:10}"
  [ "$status" = 0 ] || { echo "grpc_call $method on $address: grpc-status ${status:-none}" >&2; return 1; }
}

grpc_health() {  # address [service]
  local reply
  reply=$(grpc_call "$1" grpc.health.v1.Health/Check \
    "$([ -z "${2:-}" ] || grpc_string_field 0a "$2")" 2>/dev/null) || return 1
  [ "$reply" = 0801 ]  # status: SERVING
}

# The gRPC services a fanoutd role serves (none for the gateway), for health checks.
services_of() {  # role
  case $1 in
    users) echo fanout.users.v1.Users ;;
    orders) echo fanout.orders.v1.Orders ;;
    recommendations) echo fanout.recommendations.v1.Recommendations ;;
    lab) echo fanout.lab.v1.Lab ;;
  esac
}
