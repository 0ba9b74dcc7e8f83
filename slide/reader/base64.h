// Base64 (RFC 4648) decoding for images vendors embed in XML metadata (Philips' label and macro).
// Lenient in the way GLib's decoder (OpenSlide's) is: characters outside the alphabet, such as
// line breaks, are skipped, and decoding stops at the first '='.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ds {

std::vector<uint8_t> decode_base64(const std::string& text);

}  // namespace ds
