// The rows-convolution scheduler (see conv_rows.h): a plan per convolution (tiles, reduction
// chunks, work items), then one parallel region that splits the work items of all the plans
// between the threads by their cost.
#include "engine/kernels/conv_rows.h"

#include <algorithm>
#include <cstdlib>

#include "engine/kernels/scratch.h"

namespace ds {

int choose_nv(const BrgemmKernels& k, int64_t cols, bool narrow) {
  static const int forced = [] {
    const char* e = std::getenv("DEEPSLIDE_CONV_NV");
    return e ? std::clamp(std::atoi(e), 0, 4) : 0;
  }();
  const int64_t nvec = ceil_div(cols, k.vw);
  const int nv = forced ? forced : (k.vw == 16 && !narrow ? 4 : 2);
  return (int)std::min<int64_t>(nv, nvec);
}

namespace {

// Weights of the output-channel blocks one work-item superblock covers.
// Measured (bash bench/compare_conv_builds.sh, 5 rounds, against block order): layer2.0.conv1
// forward 60.8 -> 71.1% of peak, layer2.0.downsample 24.2 -> 44.8, layer3.0.downsample 67.2 ->
// 72.5, layer2 81.1 -> 83.8; shapes whose blocks hold more than this keep block order (four
// blocks of layer3 at a time ran it 81.4 -> 72.8, 3 rounds).
constexpr int64_t kSuperWeightBytes = 640 << 10;
constexpr int64_t kChunkK = 1152;           // 1152 x 64 x 4 B = 288 KB of weights per chunk
constexpr int64_t kGroupBytes = 192 << 10;  // outputs of one work item (their partial sums)

// The reduction (kernel rows x KW*C) is cut into chunks whose weights fit in L2 (whole
// kernel rows while they fit kChunkK, else parts of one row), and each work item (output-channel
// block, group of consecutive output pixels) runs every tile of its group through one chunk
// before the next, so a chunk's weights are read from L2 by all the group's tiles instead of
// streaming from L3 for every output row (layer3/layer4: 1.2 MB per block at C = 512). Tiles take
// M consecutive output pixels, crossing row and image ends (each row of A has its own pointer),
// so narrow maps (7 or 14 wide) still fill whole tiles. Partial sums stay in the output; the
// epilogue (scale, bias, residual, ReLU) goes with the last chunk.
// With fill_panel, a thread builds the B columns of its work item's output-channel block in a
// per-thread panel when the block changes (block-major items: about once per block), instead of
// a separate pass writing the whole transposed B to memory for the tiles to read back (layer4
// backward data then runs within a point of skipping the transpose).
struct RowsPlan {
  const RowsConv* r;
  int NV, M;
  int64_t nvec, nb, P, group, ngroups, nrows, kwc, ldp, ldb, nchunks, nbs, items, OHo, OWo;
  bool mapped;
  std::vector<int64_t> a_offs, b_offs;                  // [chunk][row of the chunk]
  std::vector<int64_t> chunk_row, chunk_taps, chunk_k;  // [chunk]
  std::vector<float> zeros;                             // taps outside the image (tapwise)

  RowsPlan(const RowsConv& conv, const BrgemmKernels& k) : r(&conv) {
    NV = choose_nv(k, r->cols);
    nvec = ceil_div(r->cols, k.vw);
    nb = ceil_div(nvec, NV);
    M = k.max_m[NV];
    P = r->N * r->OH * r->OW;
    // Pixel groups of (nearly) equal size, whole tiles each, at most kGroupBytes of outputs.
    const int64_t max_group = std::max<int64_t>(M, kGroupBytes / (4 * NV * k.vw) / M * M);
    group = ceil_div(ceil_div(P, ceil_div(P, max_group)), M) * M;
    ngroups = ceil_div(P, group);
    // The reduction's rows: kernel rows of KW*C, or taps of C (tapwise); B is [rows][kwc] either
    // way. Chunks: whole rows (as many as fit kChunkK) or, for wide rows, parts of one row.
    // Tapwise chunks follow the kernel rows the same way (whole kernel rows, or
    // KW / ceil(KW*C / kChunkK) taps when a kernel row does not fit), as measured best: chunks of
    // 2 taps on 512 channels (K = 1024) ran layer4 at 76% against 83% with 1 tap, and 4 taps on
    // 256 channels 73% against 76% with 3.
    nrows = r->tapwise ? r->KH * r->KW : r->KH;
    kwc = r->tapwise ? r->C : r->KW * r->C;
    const int64_t per_tap = ceil_div(kwc, kChunkK);
    ldp = (int64_t)NV * k.vw;
    ldb = r->fill_panel ? ldp : r->ldw;
    const int64_t kernel_row = r->KW * r->C;
    const int64_t taps_per =
        per_tap > 1             ? 1
        : !r->tapwise           ? std::max<int64_t>(1, kChunkK / kwc)
        : kernel_row <= kChunkK ? r->KW * std::max<int64_t>(1, kChunkK / kernel_row)
                                : std::max<int64_t>(1, r->KW / ceil_div(kernel_row, kChunkK));
    nchunks = per_tap > 1 ? nrows * per_tap : ceil_div(nrows, taps_per);
    a_offs.resize((size_t)(nchunks * nrows));
    b_offs.resize((size_t)(nchunks * nrows));
    chunk_row.resize((size_t)nchunks);
    chunk_taps.resize((size_t)nchunks);
    chunk_k.resize((size_t)nchunks);
    for (int64_t ch = 0; ch < nchunks; ++ch) {
      const int64_t kh0 = per_tap > 1 ? ch / per_tap : ch * taps_per;
      const int64_t part = per_tap > 1 ? ch % per_tap : 0;
      const int64_t k0 = part * kwc / per_tap, k1 = (part + 1) * kwc / per_tap;
      const int64_t nt = per_tap > 1 ? 1 : std::min(taps_per, nrows - kh0);
      chunk_row[(size_t)ch] = kh0;
      chunk_taps[(size_t)ch] = nt;
      chunk_k[(size_t)ch] = k1 - k0;
      for (int64_t j = 0; j < nt; ++j) {
        a_offs[(size_t)(ch * nrows + j)] = r->tapwise ? k0 : (kh0 + j) * r->Wp * r->C + k0;
        b_offs[(size_t)(ch * nrows + j)] = ((kh0 + j) * kwc + k0) * ldb;
      }
    }
    zeros.assign(r->tapwise ? (size_t)r->C : 0, 0.f);
    items = nb * ngroups;
    // Work items in block order, or, when the weights of several blocks fit kSuperWeightBytes
    // together, in superblocks of nbs blocks with the pixel groups outer: the threads then split
    // a superblock's pixel groups, each reading its part of the image once for all nbs blocks,
    // instead of each thread streaming the whole image once per block of its own.
    const int64_t block_bytes = 4 * nrows * kwc * NV * k.vw;
    nbs = r->fill_panel ? 1 : std::clamp<int64_t>(kSuperWeightBytes / block_bytes, 1, nb);
    OHo = r->OHo ? r->OHo : r->OH;
    OWo = r->OWo ? r->OWo : r->OW;
    mapped = r->osh != 1 || r->osw != 1 || r->oph != 0 || r->opw != 0 || OHo != r->OH ||
             OWo != r->OW;
  }

  // Output-channel block and pixel group of work item it.
  void item(int64_t it, int64_t& ob, int64_t& g) const {
    const int64_t sb = it / (nbs * ngroups), in_sb = it % (nbs * ngroups);
    const int64_t nbs_here = std::min(nbs, nb - sb * nbs);
    ob = sb * nbs + in_sb % nbs_here;
    g = in_sb / nbs_here;
  }

  // Multiply-adds of work item it (the threads' shares are balanced on these).
  double cost(int64_t it, const BrgemmKernels& k) const {
    int64_t ob, g;
    item(it, ob, g);
    const int64_t pixels = std::min(P, (g + 1) * group) - g * group;
    const int64_t nv = std::min<int64_t>(NV, nvec - ob * NV);
    return (double)pixels * (double)(nv * k.vw) * (double)(nrows * kwc);
  }
};

// A thread's row pointers and panel, reused across its work items.
struct RowsThread {
  std::vector<const float*> base;  // A row per pixel of the group ([row][pixel] if tapwise)
  std::vector<float*> obase;       // output row per pixel of the group (mapped outputs)
  float* panel = nullptr;
  const RowsPlan* panel_plan = nullptr;
  int64_t panel_ob = -1;
};

void run_item(const RowsPlan& pl, int64_t it, RowsThread& th, const BrgemmKernels& k) {
  const RowsConv& r = *pl.r;
  int64_t ob, g;
  pl.item(it, ob, g);
  const int64_t group = pl.group, nrows = pl.nrows;
  const int64_t p0 = g * group, p1 = std::min(pl.P, p0 + group);
  const int nv = (int)std::min<int64_t>(pl.NV, pl.nvec - ob * pl.NV);
  const int64_t oc0 = ob * pl.NV * k.vw;
  if (r.fill_panel && (th.panel_plan != &pl || th.panel_ob != ob)) {
    r.fill_panel(oc0, std::min(pl.ldp, r.cols - oc0), th.panel, pl.ldp);
    th.panel_plan = &pl;
    th.panel_ob = ob;
  }
  const float** base = th.base.data();
  float** obase = th.obase.data();
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / (r.OH * r.OW), oh = p / r.OW % r.OH, ow = p % r.OW;
    if (r.tapwise) {
      for (int64_t kh = 0; kh < r.KH; ++kh)
        for (int64_t kw = 0; kw < r.KW; ++kw) {
          const int64_t ih = oh * r.sh + kh + r.off_h, iw = ow * r.sw + kw + r.off_w;
          const bool inside = ih >= 0 && ih < r.Hp && iw >= 0 && iw < r.Wp;
          base[(kh * r.KW + kw) * group + p - p0] =
              inside ? r.in + ((n * r.Hp + ih) * r.Wp + iw) * r.C : pl.zeros.data();
        }
    } else {
      base[p - p0] = r.in + ((n * r.Hp + oh * r.sh) * r.Wp + ow * r.sw) * r.C;
    }
    if (pl.mapped)
      obase[p - p0] =
          r.out + ((n * pl.OHo + oh * r.osh + r.oph) * pl.OWo + ow * r.osw + r.opw) * r.cols + oc0;
  }
  for (int64_t ch = 0; ch < pl.nchunks; ++ch) {
    const bool first = ch == 0, last = ch == pl.nchunks - 1;
    RowsTile t;
    t.a_off = &pl.a_offs[(size_t)(ch * nrows)];
    t.b = r.fill_panel ? th.panel : r.wp + oc0;
    t.b_off = &pl.b_offs[(size_t)(ch * nrows)];
    t.a_taps_ld = group;
    t.ldb = pl.ldb;
    t.taps = (int)pl.chunk_taps[(size_t)ch];
    t.K = pl.chunk_k[(size_t)ch];
    t.ldc = r.cols;
    t.N = std::min<int64_t>((int64_t)nv * k.vw, r.cols - oc0);
    t.accumulate = first ? r.accumulate : true;
    t.scale = last && r.ep.weight_scale ? r.ep.weight_scale + oc0 : nullptr;
    t.bias = last && r.ep.bias ? r.ep.bias + oc0 : nullptr;
    t.ldr = r.cols;
    t.relu = last && r.ep.relu;
    for (int64_t pt = p0; pt < p1; pt += pl.M) {
      if (r.tapwise)
        t.a_taps = base + pl.chunk_row[(size_t)ch] * group + (pt - p0);
      else
        t.a_rows = base + (pt - p0);
      t.c = r.out + pt * r.cols + oc0;
      if (pl.mapped) t.c_rows = obase + (pt - p0);
      t.res = last && r.ep.residual ? r.ep.residual + pt * r.cols + oc0 : nullptr;
      k.rows(t, (int)std::min<int64_t>(pl.M, p1 - pt), nv);
    }
  }
}

}  // namespace

// The work items of all plans, in plan order, are split between the threads in contiguous runs
// of (nearly) equal cost: item i goes to the thread whose share holds the middle of its cost.
// With one convolution of equal items this is the plain static schedule; backward data's stride
// phases (1, 2, 2 and 4 taps for a 3x3 kernel at stride 2) run in one region without a barrier
// between them.
void run_rows_convs(const std::vector<RowsConv>& convs, const BrgemmKernels& k) {
  std::vector<RowsPlan> plans;
  plans.reserve(convs.size());  // items point into plans: no reallocation after this
  for (const RowsConv& c : convs)
    if (c.N * c.OH * c.OW * c.cols > 0) plans.emplace_back(c, k);
  std::vector<std::pair<const RowsPlan*, int64_t>> items;
  std::vector<double> mid;  // cost before item i plus half its own
  double total = 0;
  size_t base_len = 0, obase_len = 0;
  int64_t panel_len = 0;
  for (const RowsPlan& pl : plans) {
    for (int64_t it = 0; it < pl.items; ++it) {
      const double c = pl.cost(it, k);
      items.emplace_back(&pl, it);
      mid.push_back(total + c / 2);
      total += c;
    }
    base_len = std::max(base_len, (size_t)((pl.r->tapwise ? pl.nrows : 1) * pl.group));
    obase_len = std::max(obase_len, pl.mapped ? (size_t)pl.group : 0);
    if (pl.r->fill_panel) panel_len = std::max(panel_len, pl.nrows * pl.kwc * pl.ldp);
  }
  if (items.empty()) return;
#pragma omp parallel if (use_threads(2.0 * total))
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    RowsThread th;
    th.base.resize(base_len);
    th.obase.resize(obase_len);
    if (panel_len) th.panel = scratch(ScratchSlot::conv_wpack, panel_len);
    for (size_t i = 0; i < items.size(); ++i) {
      const int owner = std::min(nt - 1, (int)(mid[i] / total * nt));
      if (owner == tid) run_item(*items[i].first, items[i].second, th, k);
    }
  }
}

}  // namespace ds
