// 8-bit RGB images in memory and on disk: PNG/JPEG (and anything stb_image reads) in, PNG and
// JPEG out. Grey and grey+alpha are expanded to RGB, alpha is dropped. Writes are atomic.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/rgb_image.h"

namespace ds {

RgbImage load_image(const std::string& path);  // InputError(path, reason) when unreadable
// The same for a PNG or JPEG held in memory; `what` names it in errors.
RgbImage decode_image_bytes(const std::vector<uint8_t>& data, const std::string& what);
// In-memory encodings (for embedding, e.g. data URIs in the HTML report).
std::vector<uint8_t> encode_png(const RgbImage& img);
std::vector<uint8_t> encode_jpeg(const RgbImage& img, int quality = 90);
void save_png(const std::string& path, const RgbImage& img, bool sync = true);
void save_jpeg(const std::string& path, const RgbImage& img, int quality = 90, bool sync = true);
// Whether the path names a PNG or JPEG picture by its extension (.png, .jpg, .jpeg, any case).
bool is_picture_path(const std::string& path);
// PNG or JPEG (quality 90) by the path's extension (.png, .jpg, .jpeg, any case).
// check_image_path: InputError(path) for any other extension, to call before the work that makes
// the image.
void check_image_path(const std::string& path);
void save_image(const std::string& path, const RgbImage& img);

}  // namespace ds
