// FileWatch: notices when files were replaced or rewritten, by their
// identity (inode, size, mtime). Kubernetes updates a mounted Secret or
// ConfigMap by swapping a symlinked directory, which moves the inode; an
// editor or `cp` moves the size or mtime. Used by whatever re-reads files it
// was configured with: TLS certificates, the JWKS, API keys.
//
//   FileWatch watch({"/etc/fanout-tls/tls.crt", "/etc/fanout-tls/tls.key"});
//   ... later, every few seconds:
//   if (watch.Changed()) ...read them again; on a parse error keep the old...
//
// A file that cannot be stat'ed (mid-swap, deleted) has an empty identity, so
// its return is a change too. One owner: not thread-safe.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <string>
#include <vector>

namespace fanout {

class FileWatch {
 public:
  // Remembers the files' identities now.
  explicit FileWatch(std::vector<std::string> files);
  // True when a file's identity differs from the last call (or construction).
  bool Changed();

 private:
  struct Stamp {
    ino_t inode = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const Stamp& o) const {
      return inode == o.inode && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
             mtime.tv_nsec == o.mtime.tv_nsec;
    }
  };
  std::vector<Stamp> Read() const;

  std::vector<std::string> files_;
  std::vector<Stamp> stamps_;
};

}  // namespace fanout
