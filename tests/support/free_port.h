// FreePort: a TCP port on 127.0.0.1 that nothing listens on now, for tests
// that start a real server whose port must be named before it starts (a
// fanoutd config file, a PostgreSQL cluster). Another process may take it
// before the server binds it: prefer port 0 wherever the server can say
// which port it got.
//
//   int port = ::fanout::testing::FreePort();   // aborts the test binary if none
//
// Thread-safe.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fanout::testing {

inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    // A port of 0 would be written into a config and fail far from here.
    std::fprintf(stderr, "FreePort: no port on 127.0.0.1: %s\n", std::strerror(errno));
    std::abort();
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace fanout::testing
