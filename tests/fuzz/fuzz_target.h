// What every fuzz target in tests/fuzz/ is: a function from bytes to 0 that
// aborts when a property breaks, declared here so the corpus replay test
// (tests/unit/fuzz_corpus_test.cc) can call each one by name.
//
//   // tests/fuzz/traceparent_fuzzer.cc
//   int fanout::fuzz::FuzzTraceparent(const uint8_t* data, size_t size) { ... }
//   FANOUT_FUZZ_ENTRY(fanout::fuzz::FuzzTraceparent)
//
// tests/fuzz/fuzz.sh compiles one target with -DFANOUT_LIBFUZZER, which makes
// FANOUT_FUZZ_ENTRY libFuzzer's entry point; in unit_tests it is empty, so
// all the targets link into one binary side by side.
//
// Thread-compatible: a target may keep no state between inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fanout::fuzz {

int FuzzJsonTranscoder(const uint8_t* data, size_t size);
int FuzzHttpRequest(const uint8_t* data, size_t size);
int FuzzTimeoutHeader(const uint8_t* data, size_t size);
int FuzzTraceparent(const uint8_t* data, size_t size);
int FuzzNodeConfig(const uint8_t* data, size_t size);
int FuzzProxyMetadata(const uint8_t* data, size_t size);

// Reports a broken property and aborts: libFuzzer saves the input, a
// replayed corpus file fails its test.
[[noreturn]] void Broken(const char* target, const char* what, const std::string& detail);

}  // namespace fanout::fuzz

#ifdef FANOUT_LIBFUZZER
#define FANOUT_FUZZ_ENTRY(function)                                         \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return function(data, size);                                            \
  }
#else
#define FANOUT_FUZZ_ENTRY(function)
#endif
