// The fuzz targets' seed corpora (tests/fuzz/corpus/<target>/), run through
// the targets on every build, plain and sanitized: a crash the fuzzer found
// and that was saved into a corpus stays fixed.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "tests/fuzz/fuzz_target.h"

namespace fanout::fuzz {
namespace {

struct Target {
  const char* name;  // also the corpus folder and tests/fuzz/<name>_fuzzer.cc
  int (*run)(const uint8_t* data, size_t size);
  int min_seeds;
};

const Target kTargets[] = {
    {"json_transcoder", &FuzzJsonTranscoder, 10}, {"http_request", &FuzzHttpRequest, 8},
    {"timeout_header", &FuzzTimeoutHeader, 8},    {"traceparent", &FuzzTraceparent, 8},
    {"node_config", &FuzzNodeConfig, 6},          {"proxy_metadata", &FuzzProxyMetadata, 6},
};

const std::filesystem::path kCorpora = FANOUT_FUZZ_CORPUS_DIR;

class FuzzCorpusTest : public testing::TestWithParam<Target> {};

TEST_P(FuzzCorpusTest, SeedsPass) {
  const Target& target = GetParam();
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpora / target.name)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::string input = bytes.str();
    SCOPED_TRACE(entry.path().filename().string());
    // The target aborts on a broken property; returning is passing.
    EXPECT_EQ(target.run(reinterpret_cast<const uint8_t*>(input.data()), input.size()), 0);
    ++files;
  }
  EXPECT_GE(files, target.min_seeds);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpusTest, testing::ValuesIn(kTargets),
                         [](const testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

// A corpus without a replay (a target added to fuzz.sh and not here) would
// keep its crash inputs untested.
TEST(FuzzCorpusTest, EveryCorpusIsReplayed) {
  std::set<std::string> replayed;
  for (const Target& target : kTargets) replayed.insert(target.name);
  for (const auto& entry : std::filesystem::directory_iterator(kCorpora)) {
    EXPECT_TRUE(replayed.contains(entry.path().filename().string()))
        << entry.path() << " has no entry in kTargets";
  }
}

}  // namespace
}  // namespace fanout::fuzz
