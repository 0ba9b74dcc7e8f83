// What made a prediction CSV, so a rerun redoes exactly the slides whose CSV came from something
// else: the model file's content hash, every setting that changes the numbers or the windows
// (patch size, overlap, level or mpp, tissue filter and its parameters, the kernel ISA: AVX-512
// and AVX2 round differently; the precision and the convolution algorithm), the slide's identity (size and hashes of
// its first and last MB, base/file_hash.h; over every instance of a DICOM series), the program version and the
// executable's own hash (a rebuild may round differently). Batch size,
// thread and reader counts are left out: they do not change a byte of the CSV (kernel schedules depend on shapes, not
// thread counts, and each window's row is computed alone).
//
// Written beside the CSV as OUT/<name>.key.json: {"key": {...}, "csv_bytes", "csv_fnv1a"} (the
// CSV's own fingerprint, so a CSV replaced or cut after the key was written is not trusted).
// The same key heads a partial file (infer/partial_predictions.h).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "base/file_hash.h"
#include "engine/autograd.h"
#include "slide/windows/slide_windows.h"

namespace ds {

using ojson = nlohmann::ordered_json;

// The slides' remembered SHA-256 in a prediction or diagnosis folder (base/file_hash_cache.h).
constexpr const char* kSlideHashes = ".slide-hashes.json";

// The per-run part: program version and executable hash, model hash, ISA and window settings.
// `precision` is the convolutions' arithmetic (bf16 and int8 round differently from fp32).
ojson run_key(const std::string& model_path, const WindowOptions& windows, Precision precision);
// The run key plus the slide's identity: given, or that of every file the slide at slide_path is
// read from (slide/reader/slide_identity.h: a DICOM series' instances).
ojson slide_key(const ojson& run, const FileIdentity& slide);
ojson slide_key(const ojson& run, const std::string& slide_path);

// "" when `old_key` equals `key`, else what differs, in words ("the model file changed",
// "--overlap changed (3 -> 1)", "the slide file changed", "deepslide version changed").
std::string key_difference(const ojson& old_key, const ojson& key);

// Why OUT/<name>.csv cannot be reused for `key` ("" when it can): no CSV, no key file, a key
// file for other inputs (key_difference), or a CSV that is not the one the key file describes.
std::string reuse_refusal(const std::string& csv_path, const std::string& key_path, const ojson& key);
// Why OUT/<name>.csv, listed in predict.json by an earlier run, was not made with this run's
// settings ("" when it was): its key file's key, the slide's identity left aside, against `run`
// (run_key) and `annotations` (what annotation_key gives the slide in this run; null when this
// run has none), and its CSV the one the key file describes. predict.json lists it only when it was.
std::string run_refusal(const std::string& csv_path, const std::string& key_path, const ojson& run,
                        const ojson& annotations);
// Why OUT/<name>.csv is not one predict finished ("" when it is): no CSV, no key file
// OUT/<name>.key.json beside it (a redo of its slide started and has not finished), or a CSV the
// key file does not describe.
std::string finished_refusal(const std::string& csv_path);
// Writes the key file of a finished CSV (atomically, after the CSV).
void write_key_file(const std::string& key_path, const ojson& key, const std::string& csv_text);

}  // namespace ds
