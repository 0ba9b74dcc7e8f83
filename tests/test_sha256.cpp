// SHA-256 (base/sha256.h) against the FIPS 180-4 / NIST example vectors, fed whole and in pieces.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

#include "base/sha256.h"

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
