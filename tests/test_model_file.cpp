// The safetensors reader/writer and the model file: round trips, F16/BF16 decoding, and every
// kind of bad file (crafted here byte by byte) giving an InputError that names the file and,
// where there is one, the tensor.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/rng.h"
#include "engine/cpu_features.h"
#include "engine/fma_peak.h"
#include "scratch_dir.h"
#include "weights/model.h"
#include "weights/model_forward.h"
#include "weights/precision_agreement.h"
#include "weights/safetensors.h"

using namespace ds;
namespace fs = std::filesystem;

namespace {

fs::path test_dir() {
  static fs::path dir = ds::test::scratch_dir("test_model_file");
  return dir;
}

std::string tmp_path(const std::string& name) { return (test_dir() / name).string(); }

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), (std::streamsize)bytes.size());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// A safetensors file from a header text and raw data bytes (the header length is computed).
std::vector<uint8_t> raw_file(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data.size());
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back((uint8_t)(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <class T>
void append(std::vector<uint8_t>& data, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  data.insert(data.end(), b, b + sizeof(T));
}

// Expects InputError from f() with every needle in its message.
template <class F>
void require_input_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    for (const std::string& n : needles) {
      INFO("expected to contain: " << n);
      CHECK(msg.find(n) != std::string::npos);
    }
    return;
  }
  FAIL("no InputError thrown");
}

std::vector<int64_t> dims(const Shape& s) { return std::vector<int64_t>(s.d, s.d + s.ndim); }

// Every parameter and buffer of a model as StTensorRefs in the file layout (PyTorch's), for
// crafting variants of a model file. Converted tensors live in `keep` (reserved up front).
std::vector<StTensorRef> model_refs(const Model& m, std::vector<Tensor>& keep) {
  std::vector<StTensorRef> refs;
  keep.reserve(m.net->params().params.size());
  for (const Param* p : m.net->params().params) {
    keep.push_back(to_file_layout(*p, p->value));
    refs.push_back({p->name, dims(keep.back().shape()), keep.back().data()});
  }
  for (const Buffer* b : m.net->params().buffers) refs.push_back({b->name, dims(b->value.shape()), b->value.data()});
  return refs;
}

std::map<std::string, std::string> good_metadata() {
  return {{"format", "deepslide-model"},
          {"version", "1"},
          {"arch", "resnet18"},
          {"classes", "[\"tumor\", \"normal\", \"other\"]"},
          {"mean", "[0.485, 0.456, 0.406]"},
          {"std", "[0.25, 0.25, 0.25]"},
          {"patch_size", "32"}};
}

// One small ResNet-18 shared by the tests (building one costs most of a second).
Model& small_model() {
  static Model m = [] {
    Model x = make_model(Arch::resnet18, {"tumor", "normal", "other"}, 7, 32, kImageNetMean, {0.25f, 0.25f, 0.25f});
    // Non-trivial running statistics so the round trip covers buffers too.
    Rng rng(11);
    for (Buffer* b : x.net->params().buffers)
      for (int64_t i = 0; i < b->value.numel(); ++i) b->value[i] = rng.uniform(0.5f, 1.5f);
    return x;
  }();
  return m;
}

}  // namespace

TEST_CASE("safetensors F32 round trip keeps names, shapes, values, order and metadata") {
  std::vector<float> a = {1.f, -2.5f, 3.25f, 0.f, 1e-30f, -7.f};
  std::vector<float> s = {42.f};
  std::vector<StTensorRef> refs = {
      {"b.weight", {2, 3}, a.data()}, {"a.scalar", {}, s.data()}, {"c.empty", {0, 4}, nullptr}};
  const std::string path = tmp_path("roundtrip.safetensors");
  write_safetensors(path, refs, {{"format", "x"}, {"note", "héllo \"quoted\""}});

  std::vector<uint8_t> bytes = read_bytes(path);
  uint64_t hlen = 0;
  std::memcpy(&hlen, bytes.data(), 8);
  REQUIRE(hlen % 8 == 0);
  REQUIRE(bytes.size() == 8 + hlen + 7 * 4);

  StFile f = read_safetensors(path);
  REQUIRE(f.has_metadata);
  REQUIRE(f.metadata.at("note") == "héllo \"quoted\"");
  REQUIRE(f.tensors.size() == 3);
  REQUIRE(f.tensors[0].name == "b.weight");  // data order = the order written
  REQUIRE(f.tensors[1].name == "a.scalar");
  REQUIRE(f.tensors[0].shape == std::vector<int64_t>{2, 3});
  REQUIRE(f.tensors[0].values == a);
  REQUIRE(f.tensors[1].shape.empty());
  REQUIRE(f.tensors[1].values == s);
  REQUIRE(f.find("c.empty")->values.empty());
  REQUIRE(f.find("nope") == nullptr);

  // Writing the same content twice gives identical bytes.
  write_safetensors(tmp_path("roundtrip2.safetensors"), refs, {{"format", "x"}, {"note", "héllo \"quoted\""}});
  REQUIRE(read_bytes(tmp_path("roundtrip2.safetensors")) == bytes);
}

TEST_CASE("F16, BF16 and F64 decode to the exact float32 values") {
  REQUIRE(half_to_float(0x3C00) == 1.0f);
  REQUIRE(half_to_float(0xC000) == -2.0f);
  REQUIRE(half_to_float(0x3555) == 0.333251953125f);
  REQUIRE(half_to_float(0x7BFF) == 65504.0f);
  REQUIRE(half_to_float(0x0001) == std::ldexp(1.0f, -24));     // smallest subnormal
  REQUIRE(half_to_float(0x03FF) == std::ldexp(1023.0f, -24));  // largest subnormal
  REQUIRE(std::signbit(half_to_float(0x8000)));
  REQUIRE(half_to_float(0x7C00) == std::numeric_limits<float>::infinity());
  REQUIRE(std::isnan(half_to_float(0x7E00)));
  REQUIRE(bf16_to_float(0x3F80) == 1.0f);
  REQUIRE(bf16_to_float(0xC040) == -3.0f);
  REQUIRE(bf16_to_float(0x3EAB) == 0.333984375f);

  std::vector<uint8_t> data;
  for (uint16_t h : {0x3C00, 0xC000, 0x3555, 0x0001}) append<uint16_t>(data, h);
  for (uint16_t b : {0x3F80, 0xC040, 0x3EAB}) append<uint16_t>(data, b);
  data.push_back(0);  // pad to 8 so the F64 below starts aligned (not required, but typical)
  data.push_back(0);
  const std::string header = R"({"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]},)"
                             R"("pad":{"dtype":"U8","shape":[2],"data_offsets":[14,16]},)"
                             R"("d":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}})";
  append<double>(data, 0.1);
  // U8 is a valid safetensors dtype but not a model one: only accepted because the name says so.
  std::string h2 = header;
  h2.replace(h2.find("\"pad\""), 5, "\"x.num_batches_tracked\"");
  const std::string path = tmp_path("halves.safetensors");
  write_bytes(path, raw_file(h2, data));
  StFile f = read_safetensors(path);
  REQUIRE(!f.has_metadata);
  REQUIRE(f.ignored == 1);
  REQUIRE(f.tensors.size() == 3);
  REQUIRE(f.find("h")->values == std::vector<float>{1.0f, -2.0f, 0.333251953125f, std::ldexp(1.0f, -24)});
  REQUIRE(f.find("b")->values == std::vector<float>{1.0f, -3.0f, 0.333984375f});
  REQUIRE(f.find("b")->dtype == "BF16");
  REQUIRE(f.find("d")->values == std::vector<float>{(float)0.1});

  // Without the num_batches_tracked name the U8 tensor is an error naming it and its dtype.
  write_bytes(path, raw_file(header, data));
  require_input_error([&] { read_safetensors(path); }, {path, "'pad'", "U8"});
}

TEST_CASE("num_batches_tracked entries are ignored whatever their dtype") {
  std::vector<uint8_t> data;
  append<float>(data, 1.5f);
  append<int64_t>(data, 12345);
  append<int16_t>(data, 7);
  const std::string header =
      R"({"bn1.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("bn1.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[4,12]},)"
      R"("layer1.0.bn1.num_batches_tracked":{"dtype":"WEIRD","shape":[],"data_offsets":[12,14]}})";
  const std::string path = tmp_path("nbt.safetensors");
  write_bytes(path, raw_file(header, data));
  StFile f = read_safetensors(path);
  REQUIRE(f.ignored == 2);
  REQUIRE(f.tensors.size() == 1);
  REQUIRE(f.tensors[0].values == std::vector<float>{1.5f});
}

TEST_CASE("model save/load round trip gives identical weights and metadata") {
  const Model& m = small_model();
  const std::string path = tmp_path("model.safetensors");
  save_model(path, m);

  StFile raw = read_safetensors(path);
  REQUIRE(raw.metadata.at("format") == "deepslide-model");
  REQUIRE(raw.metadata.at("version") == "1");
  REQUIRE(raw.metadata.at("arch") == "resnet18");
  REQUIRE(raw.metadata.at("classes") == R"(["tumor","normal","other"])");
  REQUIRE(raw.metadata.at("mean") == "[0.485, 0.456, 0.406]");  // short decimals, not float noise
  REQUIRE(raw.metadata.at("std") == "[0.25, 0.25, 0.25]");
  REQUIRE(raw.metadata.at("patch_size") == "32");
  for (const StTensor& t : raw.tensors) REQUIRE(t.dtype == "F32");
  REQUIRE(raw.find("layer4.1.bn2.running_var") != nullptr);
  REQUIRE(raw.find("fc.weight")->shape == std::vector<int64_t>{3, 512});
  // Convolution weights are written in PyTorch's [OC, C, KH, KW] whatever their layout in memory.
  const StTensor* c1 = raw.find("conv1.weight");
  REQUIRE(c1->shape == std::vector<int64_t>{64, 3, 7, 7});
  const Tensor& w = m.net->params().params.front()->value;  // conv1.weight, [7, 7, 3, 64]
  REQUIRE(m.net->params().params.front()->name == "conv1.weight");
  for (int64_t oc = 0; oc < 64; oc += 9)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t kh = 0; kh < 7; kh += 2)
        for (int64_t kw = 0; kw < 7; kw += 3)
          REQUIRE(c1->values[(size_t)(((oc * 3 + c) * 7 + kh) * 7 + kw)] == w[((kh * 7 + kw) * 3 + c) * 64 + oc]);

  Model back = load_model(path);
  REQUIRE(back.net->arch() == Arch::resnet18);
  REQUIRE(back.classes == m.classes);
  REQUIRE(back.mean == m.mean);
  REQUIRE(back.std == m.std);
  REQUIRE(back.patch_size == 32);
  const ParamSet& a = m.net->params();
  const ParamSet& b = back.net->params();
  REQUIRE(a.params.size() == b.params.size());
  REQUIRE(a.buffers.size() == b.buffers.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    INFO(a.params[i]->name);
    REQUIRE(a.params[i]->name == b.params[i]->name);
    REQUIRE(max_abs_diff(a.params[i]->value, b.params[i]->value) == 0.0f);
  }
  for (size_t i = 0; i < a.buffers.size(); ++i) {
    INFO(a.buffers[i]->name);
    REQUIRE(max_abs_diff(a.buffers[i]->value, b.buffers[i]->value) == 0.0f);
  }
}

TEST_CASE("a model stored as F16 loads with the F16-rounded weights") {
  const Model& m = small_model();
  // Re-encode every tensor of the model as F16 (round to nearest via float->half by hand).
  std::vector<Tensor> keep;
  std::vector<StTensorRef> refs = model_refs(m, keep);
  std::string header = "{\"__metadata__\":" + nlohmann::json(good_metadata()).dump();
  std::vector<uint8_t> data;
  auto to_half = [](float f) -> uint16_t {
    // Only normal-range values occur in these weights; truncation toward zero is enough here
    // because the test compares against half_to_float of the same bits.
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int exp = (int)((x >> 23) & 0xff) - 127 + 15;
    if (exp <= 0) return (uint16_t)sign;
    return (uint16_t)(sign | (exp << 10) | ((x >> 13) & 0x3ff));
  };
  std::vector<std::vector<uint16_t>> halves;
  for (const StTensorRef& r : refs) {
    int64_t n = 1;
    for (int64_t d : r.shape) n *= d;
    std::vector<uint16_t> h(n);
    for (int64_t i = 0; i < n; ++i) h[i] = to_half(r.data[i]);
    size_t begin = data.size();
    for (uint16_t v : h) append<uint16_t>(data, v);
    header += ",\"" + r.name + "\":{\"dtype\":\"F16\",\"shape\":" + nlohmann::json(r.shape).dump() +
              ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
    halves.push_back(std::move(h));
  }
  header += "}";
  const std::string path = tmp_path("f16.safetensors");
  write_bytes(path, raw_file(header, data));
  Model back = load_model(path);
  const ParamSet& b = back.net->params();
  for (size_t i = 0; i < b.params.size(); ++i) {
    const Tensor got = to_file_layout(*b.params[i], b.params[i]->value);
    for (int64_t j = 0; j < got.numel(); j += 97) REQUIRE(got[j] == half_to_float(halves[i][j]));
  }
}

TEST_CASE("bad safetensors files give an InputError naming the file and the tensor") {
  const std::string p = tmp_path("bad.safetensors");
  auto expect = [&](const std::vector<uint8_t>& bytes, std::vector<std::string> needles) {
    write_bytes(p, bytes);
    needles.push_back(p);
    require_input_error([&] { read_safetensors(p); }, needles);
    require_input_error([&] { load_model(p); }, needles);
  };
  std::vector<uint8_t> four_floats;
  for (int i = 0; i < 4; ++i) append<float>(four_floats, (float)i);
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

  SECTION("missing file") {
    require_input_error([&] { load_model(tmp_path("nope.safetensors")); }, {"nope.safetensors", "no such file"});
  }
  SECTION("empty") { expect({}, {"empty"}); }
  SECTION("shorter than 8 bytes") { expect({1, 0, 0}, {"too short"}); }
  SECTION("header length above the limit") {
    std::vector<uint8_t> b(8, 0);
    b[5] = 1;  // 2^40
    b.push_back('{');
    expect(b, {"exceeds"});
  }
  SECTION("header length beyond the file") {
    std::vector<uint8_t> b = raw_file(ok, four_floats);
    b[0] = 200;
    b.resize(8 + 50);
    expect(b, {"header length 200", "truncated"});
  }
  SECTION("malformed JSON") { expect(raw_file(R"({"w":{"dtype":"F32",)", four_floats), {"malformed JSON"}); }
  SECTION("not an object") { expect(raw_file(R"(["w"])", {}), {"'{'"}); }
  SECTION("truncated data") {
    std::vector<uint8_t> b = raw_file(ok, four_floats);
    b.resize(b.size() - 3);
    expect(b, {"'w'", "beyond", "truncated"});
  }
  SECTION("offsets out of range") {
    expect(raw_file(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,400]}})", four_floats),
           {"'w'", "[0, 400]", "beyond"});
  }
  SECTION("offsets that do not match shape and dtype") {
    expect(raw_file(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", four_floats),
           {"'w'", "needs 16 bytes"});
  }
  SECTION("overlapping tensors") {
    expect(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("v":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}})",
                    four_floats),
           {"'v'", "overlap"});
  }
  SECTION("gap between tensors") {
    expect(raw_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("v":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                    four_floats),
           {"'v'", "gap"});
  }
  SECTION("trailing bytes") {
    std::vector<uint8_t> more = four_floats;
    append<float>(more, 9.f);
    expect(raw_file(ok, more), {"4 unexpected bytes"});
  }
  SECTION("wrong dtype on a weight") {
    expect(raw_file(R"({"conv1.weight":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})", four_floats),
           {"'conv1.weight'", "I32"});
  }
  SECTION("unknown dtype") {
    expect(raw_file(R"({"w":{"dtype":"Q7","shape":[2,2],"data_offsets":[0,16]}})", four_floats),
           {"'w'", "unknown dtype 'Q7'"});
  }
  SECTION("negative shape") {
    expect(raw_file(R"({"w":{"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]}})", four_floats),
           {"'w'", "non-negative"});
  }
  SECTION("duplicate tensor name") {
    expect(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                    four_floats),
           {"'w' twice"});
  }
  SECTION("non-string metadata") {
    expect(raw_file(R"({"__metadata__":{"patch_size":224},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})",
                    four_floats),
           {"patch_size", "not a string"});
  }
}

TEST_CASE("model files with wrong tensors give an InputError naming the file and tensor") {
  const Model& m = small_model();
  const std::string p = tmp_path("badmodel.safetensors");
  std::vector<Tensor> keep;
  const std::vector<StTensorRef> refs = model_refs(m, keep);
  auto expect = [&](const std::vector<StTensorRef>& r, const std::map<std::string, std::string>& md,
                    std::vector<std::string> needles) {
    write_bytes(p, encode_safetensors(r, md));  // no fsync: these files only feed the loader
    needles.push_back(p);
    require_input_error([&] { load_model(p); }, needles);
  };
  // Each case writes a full ResNet-18 file, so they run in one pass rather than as SECTIONs.
  std::vector<StTensorRef> r;
  for (const auto& t : refs)
    if (t.name != "layer2.0.downsample.1.running_var") r.push_back(t);
  expect(r, good_metadata(), {"'layer2.0.downsample.1.running_var'", "missing"});

  r = refs;
  r.push_back({"layer5.0.conv1.weight", {4}, refs[0].data});
  expect(r, good_metadata(), {"'layer5.0.conv1.weight'", "unexpected"});

  r = refs;
  for (auto& t : r)
    if (t.name == "layer1.0.conv1.weight") t.shape = {64, 64, 3, 1};
  expect(r, good_metadata(), {"'layer1.0.conv1.weight'", "[64, 64, 3, 1]", "[64, 64, 3, 3]"});

  auto md = good_metadata();
  md["arch"] = "resnet34";
  expect(refs, md, {"'layer1.2.conv1.weight'", "missing"});

  expect(refs, {}, {"no __metadata__", "'format'", "export_torchvision.py"});
}

TEST_CASE("model files with bad metadata give an InputError naming the file and the key") {
  // Metadata is checked before any tensor, so these files hold only fc.weight.
  const std::string p = tmp_path("badmeta.safetensors");
  std::vector<float> fc(3 * 512, 0.5f);
  const std::vector<StTensorRef> refs = {{"fc.weight", {3, 512}, fc.data()}};
  auto expect = [&](const std::string& key, const std::string& value, std::vector<std::string> needles) {
    auto md = good_metadata();
    if (value.empty()) md.erase(key);
    else md[key] = value;
    write_bytes(p, encode_safetensors(refs, md));
    needles.push_back(p);
    require_input_error([&] { load_model(p); }, needles);
  };
  expect("arch", "resnet99", {"unknown arch 'resnet99'"});
  expect("patch_size", "", {"'patch_size' is missing", "export_torchvision.py"});
  expect("format", "something-else", {"'something-else'"});
  expect("version", "9", {"version 9", "newer"});
  expect("version", "one", {"'one'"});
  expect("classes", "tumor,normal,other", {"'classes'", "not valid JSON"});
  expect("classes", R"(["a","b","a"])", {"'a' is listed twice"});
  expect("classes", R"(["a","b"])", {"'fc.weight'", "[3, 512]", "2 classes"});
  expect("classes", R"(["a"])", {"at least two classes"});
  expect("mean", "[0.5, 0.5]", {"'mean'", "3 numbers"});
  expect("std", "[0.2, 0, 0.2]", {"std must be positive"});
  expect("patch_size", "4", {"patch_size 4"});
  expect("patch_size", "22x", {"'22x'"});

  // A long class list and no classifier: refused before a network of that many classes is built
  // (200,000 classes would be a 1.6 GB fc layer in ResNet-50, from a 2 MB file).
  std::string many = "[";
  for (int i = 0; i < 200000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  auto md = good_metadata();
  md["arch"] = "resnet50";
  md["classes"] = many + "]";
  write_bytes(p, encode_safetensors({}, md));
  require_input_error([&] { load_model(p); }, {p, "'fc.weight' is missing"});
}

TEST_CASE("make_batch normalizes like ToTensor + Normalize and checks the patch size") {
  Model& m = small_model();  // ImageNet mean, std 0.25, patch 32
  RgbImage a(32, 32, 0), b(32, 32, 255);
  a.pixels[0] = 51;                      // pixel (0,0) red
  a.pixels[3 * (2 * 32 + 1) + 2] = 204;  // pixel (y=2, x=1) blue
  Tensor t = make_batch({a, b}, m);
  REQUIRE(t.shape() == Shape{2, 3, 32, 32});
  const int64_t plane = 32 * 32;
  REQUIRE(t[0] == (51.f / 255.f - 0.485f) / 0.25f);
  REQUIRE(t[2 * plane + 2 * 32 + 1] == (204.f / 255.f - 0.406f) / 0.25f);
  REQUIRE(t[plane] == (0.f - 0.456f) / 0.25f);          // green of a black pixel
  REQUIRE(t[3 * plane + 5] == (1.f - 0.485f) / 0.25f);  // second image, white
  REQUIRE(t[3 * plane + 2 * plane + 77] == (1.f - 0.406f) / 0.25f);

  RgbImage wrong(32, 30);
  require_input_error([&] { make_batch({a, wrong}, m, {"a.png", "wrong.png"}); }, {"wrong.png", "32x30", "32x32"});

  Tensor probs = predict_probabilities(m, make_batch({a, b}, m));
  REQUIRE(probs.shape() == Shape{2, 3});
  for (int i = 0; i < 2; ++i) {
    float sum = 0.f;
    for (int k = 0; k < 3; ++k) {
      REQUIRE(probs[i * 3 + k] > 0.f);
      sum += probs[i * 3 + k];
    }
    REQUIRE(sum == Approx(1.0f).epsilon(1e-5));
  }
  // Eval mode uses running statistics: a patch's result does not depend on the rest of the batch.
  Tensor solo = predict_probabilities(m, make_batch({b}, m));
  for (int k = 0; k < 3; ++k) REQUIRE(solo[k] == Approx(probs[3 + k]).margin(1e-6));
}

TEST_CASE("make_model rejects bad classes, normalization and patch sizes") {
  require_input_error([] { make_model(Arch::resnet18, {"only"}, 0, 32); }, {"at least two classes"});
  require_input_error([] { make_model(Arch::resnet18, {"a", ""}, 0, 32); }, {"empty"});
  require_input_error(
      [] {
        make_model(Arch::resnet18, {"a", "b"}, 0, 32, kImageNetMean, {0.2f, -1.f, 0.2f});
      },
      {"std must be positive"});
  require_input_error([] { make_model(Arch::resnet18, {"a", "b"}, 0, 0); }, {"patch_size"});
}

TEST_CASE("a model's precision agreement round-trips through its file and refuses bad values") {
  Model m = load_model([] {
    const std::string p = tmp_path("agree_src.safetensors");
    save_model(p, small_model());
    return p;
  }());
  REQUIRE_FALSE(m.agreement.any());
  m.agreement.windows = 40;
  m.agreement.bf16 = {true, 1.0, 0.004, kBf16Arithmetic};
  m.agreement.int8 = {true, 0.975, 0.0375, kInt8Arithmetic};
  const std::string path = tmp_path("agree.safetensors");
  save_model(path, m);
  REQUIRE(read_safetensors(path).metadata.count(kAgreementMetadataKey) == 1);
  const Model back = load_model(path);
  REQUIRE(back.agreement.windows == 40);
  REQUIRE(back.agreement.bf16.measured);
  REQUIRE(back.agreement.bf16.max_abs_dp == 0.004);
  REQUIRE(back.agreement.int8.argmax_agreement == 0.975);
  REQUIRE(back.agreement.int8.arithmetic == kInt8Arithmetic);
  // A record from before the field: arithmetic 1 (int8 then added the identity in fp32).
  const PrecisionAgreement old =
      parse_agreement_metadata("m", "{\"windows\": 4, \"int8\": {\"argmax_agreement\": 1, \"max_abs_dp\": 0.01}}");
  REQUIRE(old.int8.measured);
  REQUIRE(old.int8.arithmetic == 1);
  // A command that rewrites the file does not pass the record on as someone else's metadata.
  REQUIRE(extra_metadata(read_safetensors(path).metadata).count(kAgreementMetadataKey) == 0);

  const std::string f = "model.safetensors";
  auto bad = [&](const std::string& text, const std::string& needle) {
    require_input_error([&] { parse_agreement_metadata(f, text); }, {f, needle});
  };
  bad("[1, 2]", "not a JSON object");
  bad("{\"bf16\": {\"argmax_agreement\": 1, \"max_abs_dp\": 0}}", "'windows'");
  bad("{\"windows\": 0}", "'windows'");
  bad("{\"windows\": 4, \"fp16\": {}}", "names 'fp16'");
  bad("{\"windows\": 4, \"int8\": {\"argmax_agreement\": 1.5, \"max_abs_dp\": 0}}", "int8.argmax_agreement");
  bad("{\"windows\": 4, \"bf16\": {\"argmax_agreement\": 1}}", "bf16.max_abs_dp");
  bad("{\"windows\": 4, \"bf16\": 7}", "bf16.argmax_agreement");
  for (const char* v : {"0", "1.5", "\"2\"", "1001", "-3"})
    bad(std::string("{\"windows\": 4, \"int8\": {\"argmax_agreement\": 1, \"max_abs_dp\": 0, \"arithmetic\": ") + v +
            "}}",
        "int8.arithmetic");
  bad(std::string(100, '[') + std::string(100, ']'), "nested");
}

TEST_CASE("--precision auto picks the fastest precision with kernels whose recorded agreement meets the bar") {
  PrecisionAgreement a;
  a.windows = 200;
  a.bf16 = {true, 1.0, 0.01, kBf16Arithmetic};
  a.int8 = {true, 0.999, 0.03, kInt8Arithmetic};
  // Everything present and good: int8.
  REQUIRE(pick_precision(a, true, true, true).precision == Precision::int8);
  REQUIRE(pick_precision(a, true, true, true).why.find("auto -> int8") == 0);
  // No VNNI kernels, or an uncalibrated model: bf16, saying why not int8.
  PrecisionPick p = pick_precision(a, true, true, false);
  REQUIRE(p.precision == Precision::bf16);
  REQUIRE(p.why.find("no AVX512-VNNI or AVX-VNNI kernels") != std::string::npos);
  REQUIRE(pick_precision(a, false, true, true).precision == Precision::bf16);
  // int8 short of the bar, on either measure.
  PrecisionAgreement worse = a;
  worse.int8.argmax_agreement = 0.99;
  REQUIRE(pick_precision(worse, true, true, true).precision == Precision::bf16);
  REQUIRE(pick_precision(worse, true, true, true).why.find("short of the bar") != std::string::npos);
  worse = a;
  worse.int8.max_abs_dp = 0.06;
  REQUIRE(pick_precision(worse, true, true, true).precision == Precision::bf16);
  // bf16 is held to its tighter bound (0.02), int8 to 0.05.
  worse.bf16.max_abs_dp = 0.03;
  REQUIRE(pick_precision(worse, true, true, true).precision == Precision::fp32);
  // Measured with another version of int8's arithmetic (a bundle calibrated by an older build): not
  // used until measured again.
  worse = a;
  worse.int8.arithmetic = 1;
  p = pick_precision(worse, true, true, true);
  REQUIRE(p.precision == Precision::bf16);
  REQUIRE(p.why.find("arithmetic version 1, this build runs 2") != std::string::npos);
  // Never measured: never chosen, whatever the CPU.
  PrecisionAgreement none;
  p = pick_precision(none, true, true, true);
  REQUIRE(p.precision == Precision::fp32);
  REQUIRE(p.why.find("no agreement recorded") != std::string::npos);
  // No kernels at all: fp32, naming both extensions.
  p = pick_precision(a, true, false, false);
  REQUIRE(p.precision == Precision::fp32);
  REQUIRE(p.why.find("AVX512-BF16") != std::string::npos);
  REQUIRE(p.why.find("AVX512-VNNI") != std::string::npos);
  // bf16 kernels that would run slower than fp32 (an Intel Xeon without AMX): fp32, saying so.
  // Asked only when bf16 would be chosen (it measures the CPU).
  int asked = 0;
  const auto slow = [&] {
    ++asked;
    return std::string("slow here");
  };
  p = pick_precision(a, true, true, false, slow);
  REQUIRE(p.precision == Precision::fp32);
  REQUIRE(p.why.find("bf16: slow here") != std::string::npos);
  REQUIRE(asked == 1);
  REQUIRE(pick_precision(a, true, true, true, slow).precision == Precision::int8);
  REQUIRE(pick_precision(none, true, true, false, slow).precision == Precision::fp32);
  REQUIRE(asked == 1);
  REQUIRE(pick_precision(a, true, true, false, [] { return std::string(); }).precision == Precision::bf16);
}

TEST_CASE("the bf16 dot-product rate is measured where the bf16 kernels run, 0 elsewhere") {
  const Isa before = cpu_isa();
  if (has_bf16_kernels()) {
    const double r = measured_bf16_dot_ratio();
    std::printf("bf16 dot products at %.2fx the fp32 FMAs' flops on this CPU\n", r);
    CHECK(r > 0.2);  // runs, and measures flops in the same units (an Intel Xeon 0.49, AMD Zen ~2 expected)
    CHECK(r < 4.0);
  } else {
    WARN("not run: this CPU has no AVX512-BF16 kernels");
  }
  force_isa(Isa::avx2);
  CHECK(measured_bf16_dot_ratio() == 0.0);
  force_isa(before);
}
