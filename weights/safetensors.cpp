// safetensors reader and writer. The reader trusts nothing in the file: header length, JSON,
// dtypes, shapes and offsets are all checked (offsets must tile the data section exactly, as
// the reference implementation requires) before any byte is decoded.
#include "weights/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "base/regular_file.h"

namespace ds {

namespace {

// Element size of every dtype the safetensors format defines; 0 for an unknown name.
size_t dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

bool decodable(const std::string& dtype) {
  return dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string quoted(const std::string& name) { return "tensor '" + name + "'"; }

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void decode(const std::string& dtype, const uint8_t* src, size_t n, float* dst) {
  if (dtype == "F32") {
    std::memcpy(dst, src, n * 4);
  } else if (dtype == "F16" || dtype == "BF16") {
    const bool half = dtype == "F16";
    for (size_t i = 0; i < n; ++i) {
      uint16_t v = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
      dst[i] = half ? half_to_float(v) : bf16_to_float(v);
    }
  } else {  // F64
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      dst[i] = (float)d;
    }
  }
}

// A header entry after validation, before decoding.
struct Entry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

}  // namespace

float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: value = mant * 2^-24; normalise it into a float32.
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while (!(mant & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const StTensor* StFile::find(const std::string& name) const {
  for (const StTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

// The header length in the file's first 8 bytes, checked against the limit and the file size.
uint64_t checked_header_length(const std::string& label, const uint8_t* first8, uint64_t size) {
  auto fail = [&](const std::string& reason) { return InputError(label, reason); };
  if (size == 0) throw fail("empty file, not a safetensors model");
  if (size < 8)
    throw fail("file is " + std::to_string(size) + " bytes, too short for a safetensors header length (8 bytes)");
  const uint64_t header_len = read_le64(first8);
  if (header_len == 0) throw fail("safetensors header length is 0");
  if (header_len > kMaxSafetensorsHeader)
    throw fail("safetensors header length " + std::to_string(header_len) + " exceeds the " +
               std::to_string(kMaxSafetensorsHeader) + "-byte limit (corrupt or not safetensors)");
  if (header_len > size - 8)
    throw fail("safetensors header length " + std::to_string(header_len) + " but only " + std::to_string(size - 8) +
               " bytes follow (truncated or not safetensors)");
  return header_len;
}

// The header's JSON, bounded in depth, with duplicate top-level keys rejected (nlohmann would
// silently keep the last one).
nlohmann::json parse_header_json(const std::string& label, const char* hdr, uint64_t header_len) {
  auto fail = [&](const std::string& reason) { return InputError(label, reason); };
  if (hdr[0] != '{') throw fail("safetensors header does not start with '{' (not safetensors)");
  if (json_nesting_depth(std::string(hdr, header_len)) > kMaxJsonDepth)
    throw fail("safetensors header is JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  std::set<std::string> seen;
  std::string duplicate;
  nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) duplicate = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json header = nlohmann::json::parse(hdr, hdr + header_len, cb, false);
  if (header.is_discarded()) throw fail("malformed JSON in the safetensors header");
  if (!header.is_object()) throw fail("safetensors header is not a JSON object");
  if (!duplicate.empty()) throw fail("safetensors header lists '" + duplicate + "' twice");
  return header;
}

void read_metadata(const std::string& label, const nlohmann::json& v, StFile& out) {
  if (!v.is_object()) throw InputError(label, "__metadata__ is not a JSON object");
  out.has_metadata = true;
  for (auto m = v.begin(); m != v.end(); ++m) {
    if (!m.value().is_string()) throw InputError(label, "__metadata__ value of '" + m.key() + "' is not a string");
    out.metadata[m.key()] = m.value().get<std::string>();
  }
}

// The shape's element count, or nullopt when it is absurdly large (checked without overflow).
std::optional<uint64_t> element_count(const std::string& label, const std::string& what, const nlohmann::json& shape,
                                      std::vector<int64_t>& dims) {
  uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) throw InputError(label, what + ": shape entries must be non-negative integers");
    const uint64_t dim = d.get<uint64_t>();
    if (dim > (1ull << 40)) overflow = true;
    dims.push_back((int64_t)dim);
    if (!overflow && dim != 0 && numel > (1ull << 50) / dim) overflow = true;
    if (!overflow) numel *= dim;
  }
  if (overflow) return std::nullopt;
  return numel;
}

// One tensor's header entry, checked: dtype, shape, and offsets within a data section of
// `data_size` bytes that hold exactly the shape's bytes.
Entry parse_entry(const std::string& label, const std::string& name, const nlohmann::json& v, uint64_t data_size) {
  auto fail = [&](const std::string& reason) { return InputError(label, reason); };
  const std::string what = quoted(name);
  if (!v.is_object()) throw fail(what + ": header entry is not a JSON object");
  if (!v.contains("dtype") || !v["dtype"].is_string()) throw fail(what + ": missing or non-string dtype");
  if (!v.contains("shape") || !v["shape"].is_array()) throw fail(what + ": missing or non-list shape");
  if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
    throw fail(what + ": data_offsets must be a list of two integers");
  Entry e;
  e.name = name;
  e.dtype = v["dtype"].get<std::string>();
  const bool ignored = ends_with(name, "num_batches_tracked");
  const size_t esize = dtype_size(e.dtype);
  if (!ignored && esize == 0) throw fail(what + ": unknown dtype '" + e.dtype + "'");
  if (!ignored && !decodable(e.dtype))
    throw fail(what + ": dtype " + e.dtype + " is not supported (model tensors must be F32, F16, BF16 or F64)");
  const std::optional<uint64_t> numel = element_count(label, what, v["shape"], e.shape);
  for (const auto& o : v["data_offsets"])
    if (!o.is_number_unsigned()) throw fail(what + ": data_offsets must be non-negative integers");
  e.begin = v["data_offsets"][0].get<uint64_t>();
  e.end = v["data_offsets"][1].get<uint64_t>();
  const std::string offsets = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) throw fail(what + ": " + offsets + " end before they begin");
  if (e.end > data_size)
    throw fail(what + ": " + offsets + " lie beyond the " + std::to_string(data_size) +
               "-byte data section (file truncated?)");
  if (!numel) throw fail(what + ": shape " + shape_str(e.shape) + " is absurdly large");
  if (esize != 0 && *numel * esize != e.end - e.begin)
    throw fail(what + ": shape " + shape_str(e.shape) + " of " + e.dtype + " needs " + std::to_string(*numel * esize) +
               " bytes but " + offsets + " span " + std::to_string(e.end - e.begin));
  return e;
}

// The tensors must tile the data section: no overlap, no gap, nothing after the last one.
// Sorts `entries` by offset.
void check_tiling(const std::string& label, std::vector<Entry>& entries, uint64_t data_size) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  for (const Entry& e : entries) {
    const std::string offsets = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin < pos) throw InputError(label, quoted(e.name) + ": " + offsets + " overlap another tensor");
    if (e.begin > pos)
      throw InputError(label, quoted(e.name) + ": data_offsets start at " + std::to_string(e.begin) +
                                  " leaving a gap after byte " + std::to_string(pos));
    pos = e.end;
  }
  if (pos != data_size)
    throw InputError(label, std::to_string(data_size - pos) + " unexpected bytes after the last tensor");
}

// Parses and checks the JSON header against a data section of `data_size` bytes: metadata into
// `out`, the tensors' entries (sorted by offset, tiling the data section) returned.
std::vector<Entry> parse_header(const std::string& label, const char* hdr, uint64_t header_len, uint64_t data_size,
                                StFile& out) {
  const nlohmann::json header = parse_header_json(label, hdr, header_len);
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") read_metadata(label, it.value(), out);
    else entries.push_back(parse_entry(label, it.key(), it.value(), data_size));
  }
  check_tiling(label, entries, data_size);
  return entries;
}

// Decodes the tensors of `entries` into `out`; read(entry, dst) fills dst with the entry's raw bytes.
template <class ReadFn>
void decode_entries(const std::vector<Entry>& entries, StFile& out, ReadFn read) {
  std::vector<uint8_t> raw;
  for (const Entry& e : entries) {
    if (ends_with(e.name, "num_batches_tracked")) {
      ++out.ignored;
      continue;
    }
    StTensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = e.shape;
    const size_t n = (size_t)((e.end - e.begin) / dtype_size(e.dtype));
    t.values.resize(n);
    if (e.dtype == "F32") {
      read(e, reinterpret_cast<uint8_t*>(t.values.data()));  // little-endian, as x86-64
    } else {
      raw.resize((size_t)(e.end - e.begin));
      read(e, raw.data());
      decode(e.dtype, raw.data(), n, t.values.data());
    }
    out.tensors.push_back(std::move(t));
  }
}

}  // namespace

StFile parse_safetensors(const std::string& label, const uint8_t* bytes, size_t size) {
  const uint64_t header_len = checked_header_length(label, bytes, size);
  const uint8_t* data = bytes + 8 + header_len;
  StFile out;
  const std::vector<Entry> entries =
      parse_header(label, reinterpret_cast<const char*>(bytes + 8), header_len, size - 8 - header_len, out);
  decode_entries(entries, out,
                 [&](const Entry& e, uint8_t* dst) { std::memcpy(dst, data + e.begin, (size_t)(e.end - e.begin)); });
  return out;
}

// Reads the header first and checks every size in it against the file's size, then each
// tensor's bytes straight into its values: a file never costs more memory than the tensors it
// holds, whatever its header claims.
StFile read_safetensors(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) throw InputError(path, "is a directory, not a model file");
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff len = in.tellg();
  if (len < 0) throw InputError(path, "cannot determine the file size");
  in.seekg(0, std::ios::beg);
  const uint64_t size = (uint64_t)len;
  uint8_t first8[8] = {};
  if (size >= 8 && !in.read(reinterpret_cast<char*>(first8), 8)) throw InputError(path, "read failed");
  const uint64_t header_len = checked_header_length(path, first8, size);
  std::string hdr((size_t)header_len, '\0');
  if (!in.read(hdr.data(), (std::streamsize)header_len)) throw InputError(path, "read failed");
  StFile out;
  const std::vector<Entry> entries = parse_header(path, hdr.data(), header_len, size - 8 - header_len, out);
  const uint64_t data_start = 8 + header_len;
  decode_entries(entries, out, [&](const Entry& e, uint8_t* dst) {
    in.seekg((std::streamoff)(data_start + e.begin), std::ios::beg);
    if (!in.read(reinterpret_cast<char*>(dst), (std::streamsize)(e.end - e.begin)))
      throw InputError(path, quoted(e.name) + ": read failed (file changed while reading?)");
  });
  return out;
}

std::vector<uint8_t> encode_safetensors(const std::vector<StTensorRef>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  std::vector<uint64_t> counts;
  for (const StTensorRef& t : tensors) {
    DS_CHECK(!t.name.empty() && t.name != "__metadata__", "bad tensor name '" + t.name + "'");
    DS_CHECK(names.insert(t.name).second, "tensor '" + t.name + "' written twice");
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      DS_CHECK(d >= 0, "negative dimension in " + t.name);
      n *= (uint64_t)d;
    }
    DS_CHECK(n == 0 || t.data != nullptr, "tensor '" + t.name + "' has no data");
    counts.push_back(n);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + n * 4}}};
    offset += n * 4;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<uint8_t> out(8 + text.size() + offset);
  uint64_t hlen = text.size();
  for (int i = 0; i < 8; ++i) out[i] = (uint8_t)(hlen >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* dst = out.data() + 8 + text.size();
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (counts[i]) std::memcpy(dst, tensors[i].data, counts[i] * 4);  // x86-64: little-endian
    dst += counts[i] * 4;
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<StTensorRef>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<uint8_t> bytes = encode_safetensors(tensors, metadata);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace ds
