#include "node/base/file_watch.h"

#include <sys/stat.h>

#include <utility>

namespace fanout {

FileWatch::FileWatch(std::vector<std::string> files) : files_(std::move(files)), stamps_(Read()) {}

bool FileWatch::Changed() {
  std::vector<Stamp> now = Read();
  if (now == stamps_) return false;
  stamps_ = std::move(now);
  return true;
}

std::vector<FileWatch::Stamp> FileWatch::Read() const {
  std::vector<Stamp> stamps(files_.size());
  for (size_t i = 0; i < files_.size(); ++i) {
    struct stat st {};
    // stat follows the symlinks a Secret mount is made of.
    if (::stat(files_[i].c_str(), &st) != 0) continue;  // mid-swap: a default stamp
    stamps[i] = {st.st_ino, st.st_size, st.st_mtim};
  }
  return stamps;
}

}  // namespace fanout
