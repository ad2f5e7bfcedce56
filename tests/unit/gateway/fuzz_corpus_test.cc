// The fuzz targets' seed corpora (tests/fuzz/corpus/<target>/), run through
// the targets on every build, plain and sanitized: a crash the fuzzer found
// and that was saved into a corpus stays fixed.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(FuzzCorpusTest, JsonTranscoderSeedsPass) {
  std::filesystem::path dir = FANOUT_FUZZ_CORPUS_DIR "/json_transcoder";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::string input = bytes.str();
    SCOPED_TRACE(entry.path().filename().string());
    // The target aborts on a broken property; returning is passing.
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size()),
              0);
    ++files;
  }
  EXPECT_GT(files, 10);
}

}  // namespace
