// The parts of `deepslide serve` that need no socket: Deep Zoom geometry (worked by hand from the
// DZI rules: levels halve with rounding up down to 1 x 1, tiles overlap inside the level only),
// the bind and token rules, the cookie parser, the encoded-tile LRU's byte bound, and the connection guard's rules.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "base/error.h"
#include "serve/access.h"
#include "serve/connection_guard.h"
#include "serve/deep_zoom.h"
#include "serve/tile_bytes_cache.h"

using namespace ds;

TEST_CASE("Deep Zoom levels and tiles follow the DZI rules") {
  DeepZoom dz;
  dz.width = 1000;
  dz.height = 600;
  // 1000 x 600 -> 500 x 300 -> ... -> 8 x 5 -> 4 x 3 -> 2 x 2 -> 1 x 1: 11 levels (ceil(log2 1000) = 10)
  REQUIRE(dz.level_count() == 11);
  CHECK(dz.level_width(10) == 1000);
  CHECK(dz.level_height(10) == 600);
  CHECK(dz.level_width(9) == 500);
  CHECK(dz.level_width(3) == 8);   // ceil(1000 / 128)
  CHECK(dz.level_height(3) == 5);  // ceil(600 / 128)
  CHECK(dz.level_width(0) == 1);
  CHECK(dz.level_height(0) == 1);
  CHECK(dz.cols(10) == 4);  // ceil(1000 / 254)
  CHECK(dz.rows(10) == 3);
  const DeepZoom::Rect first = dz.tile_rect(10, 0, 0);
  CHECK((first.x0 == 0 && first.y0 == 0 && first.x1 == 255 && first.y1 == 255));  // overlap right and below only
  const DeepZoom::Rect mid = dz.tile_rect(10, 1, 1);
  CHECK((mid.x0 == 253 && mid.x1 == 509 && mid.y0 == 253 && mid.y1 == 509));
  const DeepZoom::Rect last = dz.tile_rect(10, 3, 2);
  CHECK((last.x0 == 761 && last.x1 == 1000 && last.y0 == 507 && last.y1 == 600));
  CHECK(dz.has_tile(10, 3, 2));
  CHECK_FALSE(dz.has_tile(10, 4, 0));
  CHECK_FALSE(dz.has_tile(11, 0, 0));
  CHECK_FALSE(dz.has_tile(-1, 0, 0));
  CHECK_FALSE(dz.has_tile(10, -1, 0));
  CHECK(dz.dzi_xml("jpeg").find("TileSize=\"254\"") != std::string::npos);
  DeepZoom one;
  one.width = one.height = 1;
  CHECK(one.level_count() == 1);
}

TEST_CASE("serve binds off loopback only with a token") {
  CHECK(is_loopback_address("127.0.0.1"));
  CHECK(is_loopback_address("127.1.2.3"));
  CHECK(is_loopback_address("::1"));
  CHECK(is_loopback_address("localhost"));
  CHECK_FALSE(is_loopback_address("0.0.0.0"));
  CHECK_FALSE(is_loopback_address("10.0.0.5"));
  CHECK_FALSE(is_loopback_address("127.attacker.example"));  // a host name, not an address
  CHECK_FALSE(is_loopback_address("127.0.0.1.example"));
  CHECK_FALSE(is_loopback_address("::ffff:127.0.0.1"));
  CHECK_NOTHROW(check_bind_policy("127.0.0.1", ""));
  CHECK_THROWS_AS(check_bind_policy("0.0.0.0", ""), InputError);
  CHECK_THROWS_AS(check_bind_policy("0.0.0.0", "short"), InputError);
  CHECK_THROWS_AS(check_bind_policy("0.0.0.0", "has a space in it ok"), InputError);
  CHECK_NOTHROW(check_bind_policy("0.0.0.0", "abcdefghijklmnop"));
}

TEST_CASE("tokens compare whole, cookies parse by name") {
  CHECK(token_matches("abcdefghijklmnop", "abcdefghijklmnop"));
  CHECK_FALSE(token_matches("abcdefghijklmnoq", "abcdefghijklmnop"));
  CHECK_FALSE(token_matches("abcdefghijklmno", "abcdefghijklmnop"));
  CHECK_FALSE(token_matches("abcdefghijklmnopq", "abcdefghijklmnop"));
  CHECK_FALSE(token_matches("", "abcdefghijklmnop"));
  CHECK(token_matches("anything", ""));  // no token configured: everyone
  CHECK(cookie_value("a=1; deepslide_token=xyz; b=2", "deepslide_token") == "xyz");
  CHECK(cookie_value("deepslide_token=xyz", "deepslide_token") == "xyz");
  CHECK(cookie_value("xdeepslide_token=xyz", "deepslide_token").empty());
  CHECK(cookie_value("", "deepslide_token").empty());
}

TEST_CASE("the encoded-tile cache keeps recent tiles within its byte bound") {
  TileBytesCache c(100);
  auto bytes = [](size_t n) { return std::make_shared<const std::string>(n, 'x'); };
  c.put("a", bytes(40));
  c.put("b", bytes(40));
  REQUIRE(c.get("a"));    // a is now the most recent
  c.put("c", bytes(40));  // 120 > 100: b, the least recent, goes
  CHECK(c.get("a"));
  CHECK_FALSE(c.get("b"));
  CHECK(c.get("c"));
  CHECK(c.bytes() == 80);
  c.put("huge", bytes(101));  // larger than the whole cache: not kept
  CHECK_FALSE(c.get("huge"));
  c.put("a", bytes(10));  // replacing counts the new size only
  CHECK(c.bytes() == 50);
}

TEST_CASE("The connection guard closes connections busy too long, sent too much or held too long") {
  const double timeout = 30;
  // Counters as {received, of them unread, acknowledged by the client, queued for it}.
  SECTION("a request answered in time, then idle for longer than the timeout: kept") {
    GuardedConnection c;
    CHECK(judge_connection(c, {0, 0, 0, 0}, 0, timeout, false) == GuardVerdict::keep);       // connected
    CHECK(judge_connection(c, {300, 0, 0, 0}, 1, timeout, false) == GuardVerdict::keep);     // a request, read
    CHECK(judge_connection(c, {300, 0, 0, 5000}, 2, timeout, false) == GuardVerdict::keep);  // its answer on its way
    CHECK(judge_connection(c, {300, 0, 5000, 0}, 3, timeout, false) == GuardVerdict::keep);  // delivered
    CHECK(c.busy_since < 0);
    CHECK(judge_connection(c, {300, 0, 5000, 0}, 100, timeout, true) == GuardVerdict::keep);   // keep-alive, idle
    CHECK(judge_connection(c, {600, 0, 5000, 0}, 101, timeout, false) == GuardVerdict::keep);  // the next request
    CHECK(judge_connection(c, {600, 0, 9000, 0}, 102, timeout, false) == GuardVerdict::keep);  // answered, no one waits
    CHECK(judge_connection(c, {600, 0, 9000, 0}, 500, timeout, false) == GuardVerdict::keep);
  }
  SECTION("a request trickled a byte at a time: closed once busy for longer than the timeout") {
    GuardedConnection c;
    GuardVerdict v = GuardVerdict::keep;
    double t = 0;
    for (uint64_t rx = 1; v == GuardVerdict::keep && t < 100; ++rx, t += 1)
      v = judge_connection(c, {rx, 0, 0, 0}, t, timeout, false);
    CHECK(v == GuardVerdict::too_slow);
    CHECK(t == Approx(32));  // busy from t = 0, judged too slow at the first look past 30 s
  }
  SECTION("waiting in the queue for a worker (nothing read yet) is not busy, however long") {
    GuardedConnection c;
    const ConnectionCounters queued{300, 300, 0, 0};
    CHECK(waiting_for_worker(c, queued));
    CHECK(judge_connection(c, queued, 0, timeout, true) == GuardVerdict::keep);
    CHECK(judge_connection(c, queued, 500, timeout, true) == GuardVerdict::keep);
    CHECK(!waiting_for_worker(c, {300, 0, 0, 0}));  // a worker took it
  }
  SECTION("an answer the client does not read: closed after the timeout; one read steadily: kept") {
    GuardedConnection c;
    CHECK(judge_connection(c, {200, 0, 0, 0}, 0, timeout, false) == GuardVerdict::keep);
    CHECK(judge_connection(c, {200, 0, 4000, 600000}, 10, timeout, false) == GuardVerdict::keep);
    CHECK(judge_connection(c, {200, 0, 4100, 599900}, 29, timeout, false) == GuardVerdict::keep);
    CHECK(judge_connection(c, {200, 0, 4200, 599800}, 31, timeout, false) == GuardVerdict::too_slow);
    GuardedConnection slow_link;  // 5 MB at ~3 KB/s: over the timeout in all, but moving
    CHECK(judge_connection(slow_link, {200, 0, 0, 0}, 0, timeout, false) == GuardVerdict::keep);
    uint64_t acked = 0;
    GuardVerdict v = GuardVerdict::keep;
    for (double t = 1; t < 200 && v == GuardVerdict::keep; t += 1) {
      acked += 3000;
      v = judge_connection(slow_link, {200, 0, acked, 5000000 - acked}, t, timeout, false);
    }
    CHECK(v == GuardVerdict::keep);
  }
  SECTION("endless headers: closed past kMaxRequestBytes read whatever the time") {
    GuardedConnection c;
    CHECK(judge_connection(c, {kMaxRequestBytes, 0, 0, 0}, 0, timeout, false) == GuardVerdict::keep);
    CHECK(judge_connection(c, {kMaxRequestBytes + 1, 0, 0, 0}, 0.1, timeout, false) == GuardVerdict::too_much);
    GuardedConnection answered;  // the bound counts from the last answer, not from the connection's start
    CHECK(judge_connection(answered, {kMaxRequestBytes, 0, 0, 0}, 0, timeout, false) == GuardVerdict::keep);
    CHECK(judge_connection(answered, {kMaxRequestBytes, 0, 100, 0}, 1, timeout, false) == GuardVerdict::keep);
    CHECK(judge_connection(answered, {2 * kMaxRequestBytes, 0, 100, 0}, 2, timeout, false) == GuardVerdict::keep);
    CHECK(judge_connection(answered, {2 * kMaxRequestBytes + 1, 0, 100, 0}, 3, timeout, false) ==
          GuardVerdict::too_much);
  }
  SECTION("requests each finished just in time: the worker goes to a waiting client after 2 x the timeout") {
    GuardedConnection c;
    GuardVerdict v = GuardVerdict::keep;
    double t = 0;
    uint64_t rx = 0, tx = 0;
    while (v == GuardVerdict::keep && t < 1000) {
      for (int i = 0; i < 29 && v == GuardVerdict::keep; ++i, t += 1)
        v = judge_connection(c, {++rx, 0, tx, 0}, t, timeout, true);  // a byte a second, 29 s
      if (v == GuardVerdict::keep) v = judge_connection(c, {rx, 0, tx += 500, 0}, t, timeout, true);  // answered
    }
    CHECK(v == GuardVerdict::too_long);
    CHECK(t > 60);
    CHECK(t < 100);
  }
}
