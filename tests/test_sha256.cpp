// SHA-256 (base/sha256.h) against the FIPS 180-4 / NIST example vectors, fed whole and in pieces
// (with whichever block function this CPU runs), and the SHA-extensions blocks against the plain
// ones on random states and messages where the CPU has them (else it says they were not run).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "base/sha256_blocks.h"

using namespace ds;

TEST_CASE("sha256 matches the NIST vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(sha256_hex(two) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(sha256_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  Sha256 h;  // the same bytes in uneven pieces
  for (size_t i = 0; i < million.size();) {
    const size_t n = std::min<size_t>(million.size() - i, 1 + i % 131);
    h.update(million.data() + i, n);
    i += n;
  }
  CHECK(h.hex() == sha256_hex(million));
}

TEST_CASE("sha256 of a file equals that of its bytes") {
  const std::string path = "test_sha256.tmp";
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = (char)(i * 7 + 1);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  CHECK(sha256_file_hex(path) == sha256_hex(bytes));
  std::remove(path.c_str());
}

TEST_CASE("sha256 blocks on the SHA extensions equal the plain ones") {
  if (!sha256_shani_available()) {
    // (ctest then reports the whole test as skipped: CMakeLists.txt)
    WARN("not run: this CPU lacks the SHA extensions (the plain blocks ran above)");
    return;
  }
  std::mt19937_64 rng(5);
  for (size_t blocks : {1u, 2u, 3u, 7u, 64u}) {
    std::vector<uint8_t> msg(64 * blocks);
    for (uint8_t& b : msg) b = (uint8_t)rng();
    uint32_t a[8], b[8];
    for (int i = 0; i < 8; ++i) a[i] = b[i] = (uint32_t)rng();
    sha256_blocks_portable(a, msg.data(), blocks);
    sha256_blocks_shani(b, msg.data(), blocks);
    CHECK(std::equal(a, a + 8, b));
  }
}
