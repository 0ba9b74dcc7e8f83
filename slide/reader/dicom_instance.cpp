// Reads one DICOM WSI instance with DCMTK (dicom_instance.h). DCMTK parses the file with values
// longer than kMaxReadLength left in the file (so a frame, an ICC profile or a lying length costs
// no memory); each frame's position in the file is then the element's value offset, which DCMTK
// gives through the element's input-stream factory. Properties follow OpenSlide 4's DICOM driver
// (libdicom underneath): every attribute of the file meta group and of the dataset before the
// first of ReferencedImageNavigationSequence, PerFrameFunctionalGroupsSequence, the offset
// tables and the pixel data, named dicom.<Keyword>, dicom.<Keyword>[i] for multi-valued ones and
// dicom.<Sequence>[i].<Keyword> inside sequences; binary values are left out.
#include "slide/reader/dicom_instance.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmf.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcvrat.h>
#include <dcmtk/oflog/oflog.h>

#include <cstring>
#include <fstream>
#include <mutex>

#include "base/error.h"
#include "base/format.h"

namespace ds {

namespace {

// Values longer than this stay in the file until asked for (DCMTK's maxReadLength).
constexpr Uint32 kMaxReadLength = 256;
constexpr int64_t kMaxSide = 1ll << 22;            // total pixel matrix side: 4M px (300 mm at 0.07 um)
constexpr int64_t kMaxTilePixels = 1ll << 26;      // one frame
constexpr uint64_t kMaxFrames = 1ull << 26;        // frames of one instance
constexpr size_t kMaxProperties = 1u << 16;        // dicom.* keys of one instance
constexpr unsigned long kMaxIccBytes = 64u << 20;  // an ICC profile
const char* const kWsiSopClass = "1.2.840.10008.5.1.4.1.1.77.1.6";

void quiet_dcmtk() {
  static std::once_flag once;
  // DCMTK logs parse problems to stderr; ours are reported as one InputError line instead.
  std::call_once(once, [] { OFLog::configure(OFLogger::OFF_LOG_LEVEL); });
}

std::string get_string(DcmItem& item, const DcmTagKey& key, unsigned long pos = 0) {
  OFString v;
  return item.findAndGetOFString(key, v, pos).good() ? std::string(v.c_str()) : std::string();
}

std::optional<int64_t> get_int(DcmItem& item, const DcmTagKey& key) {
  OFString v;
  if (item.findAndGetOFString(key, v).bad()) return std::nullopt;
  std::string s = v.c_str();
  s.erase(0, s.find_first_not_of(' '));
  s.erase(s.find_last_not_of(' ') + 1);
  if (s.empty()) return std::nullopt;
  try {
    size_t used = 0;
    long long n = std::stoll(s, &used);
    if (used != s.size()) return std::nullopt;
    return (int64_t)n;
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<double> get_double(DcmItem& item, const DcmTagKey& key, unsigned long pos = 0) {
  Float64 v = 0;
  if (item.findAndGetFloat64(key, v, pos).bad() || !(v == v)) return std::nullopt;
  return (double)v;
}

DcmItem* seq_item(DcmItem& item, const DcmTagKey& key, int index = 0) {
  DcmItem* out = nullptr;
  return item.findAndGetSequenceItem(key, out, index).good() ? out : nullptr;
}

// The file offset of a value DCMTK left in the file, or nothing when it read the value.
std::optional<uint64_t> value_offset_in_file(DcmElement& e) {
  const DcmInputStreamFactory* f = e.getInputStream();
  if (!f || f->ident() != DFT_DcmInputFileStreamFactory) return std::nullopt;
  return (uint64_t) static_cast<const DcmInputFileStreamFactory*>(f)->getOffset();
}

// ---- properties ----

bool is_stop_tag(const DcmTagKey& t) {
  return t == DcmTagKey(0x0048, 0x0200) /* ReferencedImageNavigationSequence */ ||
         t == DCM_PerFrameFunctionalGroupsSequence || t == DCM_ExtendedOffsetTable || t == DCM_FloatPixelData ||
         t == DCM_DoubleFloatPixelData || t == DCM_PixelData;
}

bool is_binary(DcmEVR vr) {
  return vr == EVR_OB || vr == EVR_OW || vr == EVR_OF || vr == EVR_OD || vr == EVR_OL || vr == EVR_OV || vr == EVR_UN ||
         vr == EVR_ox || vr == EVR_px || vr == EVR_pixelSQ || vr == EVR_pixelItem;
}

std::string value_string(DcmElement& e, unsigned long pos) {
  const DcmEVR vr = e.getTag().getEVR();
  if (vr == EVR_FL || vr == EVR_FD) {
    Float64 d = 0;
    if (vr == EVR_FL) {
      Float32 f = 0;
      if (e.getFloat32(f, pos).bad()) return {};
      d = f;
    } else if (e.getFloat64(d, pos).bad()) {
      return {};
    }
    return format_number("%.17g", d);  // as g_ascii_dtostr, which OpenSlide uses
  }
  if (vr == EVR_AT) {
    DcmTagKey k;
    if (static_cast<DcmAttributeTag&>(e).getTagVal(k, pos).bad()) return {};
    return std::to_string(((uint32_t)k.getGroup() << 16) | k.getElement());
  }
  OFString v;
  if (e.getOFString(v, pos, OFTrue).bad()) return {};
  return v.c_str();
}

void add_item_properties(DcmItem& item, const std::string& prefix, bool top, std::map<std::string, std::string>& out);

void add_element_property(DcmElement& e, const std::string& prefix, std::map<std::string, std::string>& out) {
  DcmTag tag = e.getTag();
  if (tag.isPrivate() || (tag.getElement() == 0 && tag.getGroup() != 2)) return;
  const char* name = tag.getTagName();
  if (!name || std::strcmp(name, DcmTag_ERROR_TagName) == 0) return;
  // DCMTK prefixes retired attributes' names; libdicom (OpenSlide's names) does not.
  if (std::strncmp(name, "RETIRED_", 8) == 0) name += 8;
  const std::string key = prefix + "." + name;
  if (tag.getEVR() == EVR_SQ) {
    auto& sq = static_cast<DcmSequenceOfItems&>(e);
    for (unsigned long i = 0; i < sq.card() && out.size() < kMaxProperties; ++i)
      add_item_properties(*sq.getItem(i), key + "[" + std::to_string(i) + "]", false, out);
    return;
  }
  if (is_binary(tag.getEVR())) return;
  const unsigned long vm = e.getVM();
  if (vm == 1) {
    out[key] = value_string(e, 0);
  } else {
    for (unsigned long i = 0; i < vm && out.size() < kMaxProperties; ++i)
      out[key + "[" + std::to_string(i) + "]"] = value_string(e, i);
  }
}

void add_item_properties(DcmItem& item, const std::string& prefix, bool top, std::map<std::string, std::string>& out) {
  for (unsigned long i = 0; i < item.card() && out.size() < kMaxProperties; ++i) {
    DcmElement* e = item.getElement(i);
    if (!e) continue;
    if (top && is_stop_tag(e->getTag())) break;
    add_element_property(*e, prefix, out);
  }
}

// ---- frames ----

DicomCodec codec_of(const std::string& path, const std::string& ts) {
  if (ts == "1.2.840.10008.1.2.1" || ts == "1.2.840.10008.1.2") return DicomCodec::kNative;
  if (ts == "1.2.840.10008.1.2.4.50") return DicomCodec::kJpeg;
  if (ts == "1.2.840.10008.1.2.4.90" || ts == "1.2.840.10008.1.2.4.91") return DicomCodec::kJpeg2000;
  throw InputError(path, "unsupported transfer syntax " + ts +
                             " (this reader decodes JPEG baseline, JPEG 2000 and uncompressed little-endian)");
}

// Frames of an encapsulated pixel data element: one fragment each, after the offset table.
void locate_encapsulated(DcmPixelData& pix, E_TransferSyntax xfer, uint64_t nframes, DicomInstance& d) {
  DcmPixelSequence* seq = nullptr;
  if (pix.getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq)
    throw InputError(d.path, "pixel data is not encapsulated as its transfer syntax says");
  const unsigned long items = seq->card();
  if (items < 1 || items - 1 != nframes)
    throw InputError(d.path, "NumberOfFrames is " + std::to_string(nframes) + " but the pixel data holds " +
                                 std::to_string(items ? items - 1 : 0) +
                                 " fragments (a missing frame, or frames split across fragments, which this "
                                 "reader does not join)");
  d.frames.reserve(nframes);
  for (unsigned long i = 1; i < items; ++i) {
    DcmPixelItem* it = nullptr;
    if (seq->getItem(it, i).bad() || !it)
      throw InputError(d.path, "cannot read pixel data fragment " + std::to_string(i));
    DicomFrameBytes f;
    f.length = it->getLength();
    if (auto off = value_offset_in_file(*it)) {
      f.offset = *off;
    } else {
      Uint8* p = nullptr;
      if (f.length > 0 && (it->getUint8Array(p).bad() || !p))
        throw InputError(d.path, "cannot read pixel data fragment " + std::to_string(i));
      f.offset = d.inline_bytes.size();
      f.in_memory = true;
      d.inline_bytes.insert(d.inline_bytes.end(), p, p + f.length);
    }
    d.frames.push_back(f);
  }
}

// Frames of native (uncompressed, 8-bit interleaved RGB) pixel data: consecutive in one value.
void locate_native(DcmElement& pix, uint64_t nframes, DicomInstance& d) {
  const uint64_t frame_bytes = (uint64_t)d.tile_w * d.tile_h * 3;
  const uint64_t len = pix.getLength();
  if (frame_bytes * nframes > len)
    throw InputError(d.path, "pixel data of " + std::to_string(len) + " bytes is too short for " +
                                 std::to_string(nframes) + " frames of " + std::to_string(d.tile_w) + "x" +
                                 std::to_string(d.tile_h) + " RGB (a missing frame?)");
  auto base = value_offset_in_file(pix);
  Uint8* p = nullptr;
  if (!base) {
    if (pix.getUint8Array(p).bad() || !p) throw InputError(d.path, "cannot read the pixel data");
    d.inline_bytes.assign(p, p + frame_bytes * nframes);
  }
  for (uint64_t i = 0; i < nframes; ++i)
    d.frames.push_back(DicomFrameBytes{(base ? *base : 0) + i * frame_bytes, (uint32_t)frame_bytes, !base});
}

// TILED_SPARSE: each frame's plane position (Per-Frame Functional Groups).
void read_positions(DcmDataset& ds, uint64_t nframes, DicomInstance& d) {
  DcmSequenceOfItems* pf = nullptr;
  if (ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, pf).bad() || !pf || pf->card() != nframes)
    throw InputError(d.path,
                     "TILED_SPARSE but the Per-Frame Functional Groups do not give one plane position per "
                     "frame (" +
                         std::to_string(pf ? pf->card() : 0) + " for " + std::to_string(nframes) + " frames)");
  d.positions.reserve(nframes);
  for (unsigned long i = 0; i < pf->card(); ++i) {
    DcmItem* pos = seq_item(*pf->getItem(i), DCM_PlanePositionSlideSequence);
    auto c = pos ? get_int(*pos, DCM_ColumnPositionInTotalImagePixelMatrix) : std::nullopt;
    auto r = pos ? get_int(*pos, DCM_RowPositionInTotalImagePixelMatrix) : std::nullopt;
    if (!c || !r) throw InputError(d.path, "frame " + std::to_string(i + 1) + " has no plane position");
    d.positions.emplace_back(*c, *r);
  }
}

// ---- the instance ----

void check_sample_layout(DcmDataset& ds, DicomInstance& d) {
  auto need = [&](const DcmTagKey& key, const char* name, int64_t want) {
    auto v = get_int(ds, key);
    if (v != want)
      throw InputError(d.path, std::string(name) + " is " + (v ? std::to_string(*v) : "missing") + ", expected " +
                                   std::to_string(want) + " (8-bit RGB)");
  };
  need(DCM_SamplesPerPixel, "SamplesPerPixel", 3);
  need(DCM_BitsAllocated, "BitsAllocated", 8);
  need(DCM_BitsStored, "BitsStored", 8);
  if (auto pc = get_int(ds, DCM_PlanarConfiguration); pc && *pc != 0)
    throw InputError(d.path, "PlanarConfiguration 1 (colour-by-plane) is not supported");
  if (auto fp = get_int(ds, DCM_TotalPixelMatrixFocalPlanes); fp && *fp != 1)
    throw InputError(d.path, std::to_string(*fp) + " focal planes (this reader reads single-plane slides)");
  d.photometric = get_string(ds, DCM_PhotometricInterpretation);
  const std::string& p = d.photometric;
  bool ok = d.codec == DicomCodec::kNative ? p == "RGB"
            : d.codec == DicomCodec::kJpeg ? p == "RGB" || p == "YBR_FULL_422" || p == "YBR_FULL"
                                           : p == "RGB" || p == "YBR_ICT" || p == "YBR_RCT";
  if (!ok) throw InputError(d.path, "PhotometricInterpretation '" + p + "' is not supported for " + d.transfer_syntax);
}

void read_geometry(DcmDataset& ds, DicomInstance& d) {
  auto cols = get_int(ds, DCM_TotalPixelMatrixColumns), rows = get_int(ds, DCM_TotalPixelMatrixRows);
  auto tw = get_int(ds, DCM_Columns), th = get_int(ds, DCM_Rows);
  if (!tw || !th || *tw <= 0 || *th <= 0 || *tw * *th > kMaxTilePixels)
    throw InputError(d.path, "absurd or missing frame size (Columns x Rows)");
  // An associated image may be a single frame without a total pixel matrix.
  d.total_cols = cols.value_or(*tw);
  d.total_rows = rows.value_or(*th);
  if (d.total_cols <= 0 || d.total_rows <= 0 || d.total_cols > kMaxSide || d.total_rows > kMaxSide)
    throw InputError(d.path,
                     "absurd total pixel matrix " + std::to_string(d.total_cols) + "x" + std::to_string(d.total_rows));
  d.tile_w = (int)*tw;
  d.tile_h = (int)*th;
  const std::string org = get_string(ds, DCM_DimensionOrganizationType);
  d.sparse = org != "TILED_FULL";  // absent: TILED_SPARSE, as OpenSlide reads it
  if (DcmItem* shared = seq_item(ds, DCM_SharedFunctionalGroupsSequence))
    if (DcmItem* pm = seq_item(*shared, DCM_PixelMeasuresSequence)) {
      auto row_mm = get_double(*pm, DCM_PixelSpacing, 0), col_mm = get_double(*pm, DCM_PixelSpacing, 1);
      if (row_mm && *row_mm > 0) d.mpp_y = *row_mm * 1000.0;
      if (col_mm && *col_mm > 0) d.mpp_x = *col_mm * 1000.0;
    }
  if (DcmItem* op = seq_item(ds, DCM_OpticalPathSequence)) {
    if (auto p = get_double(*op, DCM_ObjectiveLensPower); p && *p > 0) d.objective_power = *p;
    DcmElement* icc = nullptr;
    Uint8* bytes = nullptr;
    if (op->findAndGetElement(DCM_ICCProfile, icc).good() && icc->getLength() <= kMaxIccBytes &&
        icc->getUint8Array(bytes).good() && bytes)
      d.icc_profile.assign(bytes, bytes + icc->getLength());
  }
}

void read_concatenation(DcmDataset& ds, DicomInstance& d) {
  d.concatenation_uid = get_string(ds, DCM_ConcatenationUID);
  if (d.concatenation_uid.empty()) return;
  auto n = get_int(ds, DCM_InConcatenationNumber), total = get_int(ds, DCM_InConcatenationTotalNumber);
  if (!n || *n < 1 || *n > 65535)
    throw InputError(d.path, "a concatenation part without a valid InConcatenationNumber");
  d.in_concatenation = (int)*n;
  if (total) {
    if (*total < *n || *total > 65535) throw InputError(d.path, "InConcatenationTotalNumber is out of range");
    d.concatenation_total = (int)*total;
  }
  if (auto off = get_int(ds, DCM_ConcatenationFrameOffsetNumber)) {
    if (*off < 0 || (uint64_t)*off > kMaxFrames * 256)
      throw InputError(d.path, "absurd ConcatenationFrameOffsetNumber");
    d.frame_offset = (uint64_t)*off;
  }
}

void read_frames(DcmDataset& ds, DicomInstance& d) {
  auto n = get_int(ds, DCM_NumberOfFrames);
  const int64_t nframes = n.value_or(1);
  if (nframes < 1 || (uint64_t)nframes > kMaxFrames)
    throw InputError(d.path, "absurd NumberOfFrames " + std::to_string(nframes));
  DcmElement* pix = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, pix).bad() || !pix) throw InputError(d.path, "no pixel data");
  if (d.codec == DicomCodec::kNative) locate_native(*pix, (uint64_t)nframes, d);
  else locate_encapsulated(static_cast<DcmPixelData&>(*pix), ds.getOriginalXfer(), (uint64_t)nframes, d);
  if (d.sparse) read_positions(ds, (uint64_t)nframes, d);
}

}  // namespace

bool has_dicom_magic(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char m[132] = {0};
  f.read(m, sizeof m);
  return f.gcount() == (std::streamsize)sizeof m && std::memcmp(m + 128, "DICM", 4) == 0;
}

DicomInstance read_dicom_instance(const std::string& path, std::string* series_uid) {
  quiet_dcmtk();
  if (!dcmDataDict.isDictionaryLoaded())
    throw InternalError("DCMTK's data dictionary is not loaded (install libdcmtk17 or set DCMDICTPATH)");
  DcmFileFormat ff;
  OFCondition c = ff.loadFile(OFFilename(path.c_str()), EXS_Unknown, EGL_noChange, kMaxReadLength, ERM_fileOnly);
  DcmDataset& ds = *ff.getDataset();
  if (series_uid) *series_uid = get_string(ds, DCM_SeriesInstanceUID);
  if (c.bad()) throw InputError(path, std::string("not a readable DICOM file (DCMTK: ") + c.text() + "; truncated?)");
  DicomInstance d;
  d.path = path;
  DcmMetaInfo& meta = *ff.getMetaInfo();
  const std::string sop = get_string(meta, DCM_MediaStorageSOPClassUID);
  if (sop != kWsiSopClass)
    throw InputError(path, "a DICOM file but not a whole-slide image (SOP class " + (sop.empty() ? "missing" : sop) +
                               ", expected VL Whole Slide Microscopy Image " + kWsiSopClass + ")");
  d.series_uid = get_string(ds, DCM_SeriesInstanceUID);
  d.sop_instance_uid = get_string(ds, DCM_SOPInstanceUID);
  if (d.series_uid.empty() || d.sop_instance_uid.empty())
    throw InputError(path, "no SeriesInstanceUID or SOPInstanceUID");
  d.flavor = get_string(ds, DCM_ImageType, 2);
  d.transfer_syntax = get_string(meta, DCM_TransferSyntaxUID);
  // Other image flavors are passed over (as OpenSlide does), whatever they hold.
  if (d.flavor != "VOLUME" && d.flavor != "LABEL" && d.flavor != "OVERVIEW" && d.flavor != "THUMBNAIL") return d;
  d.codec = codec_of(path, d.transfer_syntax);
  check_sample_layout(ds, d);
  read_geometry(ds, d);
  read_concatenation(ds, d);
  read_frames(ds, d);
  add_item_properties(meta, "dicom", true, d.properties);
  add_item_properties(ds, "dicom", true, d.properties);
  return d;
}

}  // namespace ds
