// Training and validation sets for `deepslide train`: either windows of whole slides (DeepSlide's
// label CSVs; training windows balanced per class, validation windows at overlap 1.5, every patch
// read from the slide when needed) or a patch folder (DeepSlide's "skip to stage 3" layout,
// DIR/{train,val}/<class>/**/*.{jpg,jpeg,png}). Bad input is found before training starts: an
// empty class, a val class missing from train stop it; a slide that is missing, cannot be opened
// or fails its tissue scan (memory exhausted by its declared size included) is listed in
// `failed` and left out, and training goes on with the others (the command exits 2 at the end);
// unreadable or wrong-size patch images are counted, listed and skipped (more than 1% stops with
// an error). A slide window whose read fails (a corrupt tile) is found when it is read: the
// loader skips it and the trainer counts and lists it under the same 1% rule (see trainer.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <vector>
#include "base/progress.h"

#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"
#include "slide/windows/slide_windows.h"
#include "slide/windows/training_windows.h"
#include "weights/model.h"

namespace ds {

// One training or validation example: a file, or a window of a slide.
struct Sample {
  int label = 0;
  int32_t file = -1;   // index into Dataset::files (patch folder mode)
  int32_t slide = -1;  // index into Dataset::slides (slides mode)
  Window window;
};

struct Dataset {
  std::vector<std::string> classes;  // sorted class names; labels index this
  std::vector<Sample> train, val;
  std::vector<std::string> files;              // patch folder mode
  std::vector<std::unique_ptr<Slide>> slides;  // slides mode (read_region is thread-safe)
  std::vector<std::string> slide_paths;
  std::vector<ReadGeometry> geometry;  // per slide
  TrainedAt read_at;                   // slides mode: the --level or --mpp windows are read at
  int patch_size = 224;
  std::vector<std::string> skipped;  // "what: reason", listed for the user
  std::vector<std::string> failed;   // slides mode: "file: reason" of slides left out
  int64_t slides_listed = 0;         // slides mode: distinct slides the label CSVs name
  std::string source;                // a short description for the fingerprint
  // The 1% rule for unreadable items: (unreadable_at_load + unreadable found while training)
  // * 100 > items stops with an error. Items are the patch images found (readable or not) in
  // folder mode, the distinct windows (slide, x, y) of the training and validation sets in
  // slides mode; unreadable_at_load counts the images skipped above (slides mode: 0).
  int64_t items = 0;
  int64_t unreadable_at_load = 0;

  bool slides_mode() const { return !slides.empty(); }
  // The 8-bit RGB patch of a sample (patch_size square); InputError naming the file when it
  // cannot be read (or a patch image is not patch_size square). Thread-safe.
  RgbImage read(const Sample& s) const;
  // The file a sample comes from; where in it ("x=<x> y=<y>", the window's level-0 top-left
  // corner, or "" for a patch image); both for messages ("<file> x=<x> y=<y>").
  const std::string& file_of(const Sample& s) const;
  std::string where_in_file(const Sample& s) const;
};

struct SlidesSource {
  std::string all_wsi, labels_train, labels_val;
  WindowOptions window;  // patch size, level/mpp, tissue filter (overlap ignored)
  int64_t num_train_per_class = 80000;
  double val_overlap = 1.5;
  // --annotations: a folder of <slide stem>.geojson/.json/.xml; windows are then taken only
  // inside annotated regions covering at least annotation_cover of them, labelled by class
  // (training_windows.h's AnnotationRegions), for training and validation slides alike.
  std::string annotations;
  double annotation_cover = 0.5;
  Progress* progress = nullptr;  // each slide's tissue scan, an item (training_windows.h ScanProgress); may be null
};

Dataset load_slides_dataset(const SlidesSource& src, int threads);
// Scans DIR/train and DIR/val; every image is decoded once (in parallel) to check its size.
Dataset load_folder_dataset(const std::string& dir, int patch_size, int threads);

// Where `deepslide train` takes its data from: a patch folder when train_folder is set, else
// slides with label CSVs. slides.window.patch_size is the patch size in both.
struct DataSource {
  std::string train_folder;
  SlidesSource slides;
};
Dataset load_dataset(const DataSource& src, int threads);

// Per-class sample counts (for messages).
std::vector<int64_t> class_counts(const std::vector<Sample>& samples, size_t num_classes);

}  // namespace ds
