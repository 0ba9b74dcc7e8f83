// Who may talk to `deepslide serve`: loopback addresses need nothing, any other bind address needs
// a shared secret (--token), which a request carries as `Authorization: Bearer <token>`, as a
// `token=` query parameter (the link to open in a browser) or in the cookie the server sets when
// it sees the parameter (so the page's tile and API requests carry it without help).
#pragma once
#include <string>

namespace ds {

// The token cookie's name for a server on `port`: deepslide_token_<port> (a browser sends a host's
// cookies to all its ports, so one name would let two servers overwrite each other's token).
std::string token_cookie_name(int port);

bool is_loopback_address(const std::string& host);  // 127.0.0.0/8, ::1, localhost
// InputError when the address is not loopback and the token is empty, or the token is too short
// (under 16 bytes) or holds characters outside [A-Za-z0-9._~-] (it travels in URLs and cookies).
void check_bind_policy(const std::string& host, const std::string& token);
// Whether `given` equals `token`, in time independent of where they differ.
bool token_matches(const std::string& given, const std::string& token);
// The value of cookie `name` in a Cookie header, "" when absent.
std::string cookie_value(const std::string& header, const std::string& name);

}  // namespace ds
