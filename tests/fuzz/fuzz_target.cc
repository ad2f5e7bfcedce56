#include "tests/fuzz/fuzz_target.h"

#include <cstdio>
#include <cstdlib>

namespace fanout::fuzz {

void Broken(const char* target, const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s_fuzzer: %s: %s\n", target, what, detail.c_str());
  std::abort();
}

}  // namespace fanout::fuzz
