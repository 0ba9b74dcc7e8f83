// The bind policy and token checks of serve/access.h, kept apart from the HTTP library so tests
// and reviews see the whole rule in one place.
#include "serve/access.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>

#include "base/error.h"

namespace ds {

bool is_loopback_address(const std::string& host) {
  if (host == "localhost") return true;
  // Parsed as an address, not matched as text: "127.x.example" is a host name that may resolve anywhere.
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void check_bind_policy(const std::string& host, const std::string& token) {
  for (char c : token)
    if (!(std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '~' || c == '-'))
      throw InputError("--token", "may hold only letters, digits and . _ ~ - (it is sent in URLs and cookies)");
  if (!token.empty() && token.size() < 16) throw InputError("--token", "is shorter than 16 characters");
  if (token.empty() && !is_loopback_address(host))
    throw InputError("--bind " + host,
                     "is not a loopback address: give --token with a shared secret, or bind to 127.0.0.1");
}

bool token_matches(const std::string& given, const std::string& token) {
  if (token.empty()) return true;
  unsigned diff = given.size() == token.size() ? 0u : 1u;
  for (size_t i = 0; i < token.size(); ++i)
    diff |= (unsigned)(uint8_t)token[i] ^ (unsigned)(uint8_t)(i < given.size() ? given[i] : 0);
  return diff == 0;
}

std::string token_cookie_name(int port) { return "deepslide_token_" + std::to_string(port); }

std::string cookie_value(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    while (pos < header.size() && (header[pos] == ' ' || header[pos] == ';')) ++pos;
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    const std::string part = header.substr(pos, end - pos);
    const size_t eq = part.find('=');
    if (eq != std::string::npos && part.compare(0, eq, name) == 0) return part.substr(eq + 1);
    pos = end + 1;
  }
  return "";
}

}  // namespace ds
