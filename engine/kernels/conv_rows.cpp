// The rows-convolution scheduler (see conv_rows.h): a plan per convolution (tiles, reduction
// chunks, work items), then one parallel region that splits the work items of all the plans
// between the threads by their cost.
#include "engine/kernels/conv_rows.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threading.h"
#include "engine/kernels/tile_sums.h"
#include "engine/kernels/work_runs.h"

namespace ds {

int choose_nv(const BrgemmKernels& k, int64_t cols, bool narrow, int preferred) {
  static const int forced = [] {
    const char* e = std::getenv("DEEPSLIDE_CONV_NV");
    return e ? std::clamp(std::atoi(e), 0, 4) : 0;
  }();
  DS_CHECK(preferred >= 0 && preferred <= 4, "choose_nv: a tile is 1 to 4 vectors wide");
  const int64_t nvec = ceil_div(cols, k.vw);
  const int nv = forced ? forced : preferred ? preferred : (k.vw == 16 && !narrow ? 4 : 2);
  return (int)std::min<int64_t>(nv, nvec);
}

int64_t rows_block_width(const BrgemmKernels& k, int64_t cols) { return (int64_t)choose_nv(k, cols) * k.vw; }

int64_t rows_weights_floats(const BrgemmKernels& k, int64_t rows, int64_t OC) {
  const int64_t width = rows_block_width(k, OC);
  return ceil_div(OC, width) * rows * width;
}

void pack_rows_weights(float* dst, const float* w, const float* scale, int64_t rows, int64_t OC,
                       const BrgemmKernels& k) {
  const int64_t width = rows_block_width(k, OC), blocks = ceil_div(OC, width);
#pragma omp parallel for schedule(static) if (use_threads(blocks * rows * width * 4, kMinParallelFlops))
  for (int64_t it = 0; it < blocks * rows; ++it) {
    const int64_t b = it / rows, r = it % rows, oc0 = b * width, n = std::min(width, OC - oc0);
    float* row = dst + it * width;
    for (int64_t j = 0; j < n; ++j) row[j] = w[r * OC + oc0 + j] * (scale ? scale[oc0 + j] : 1.0f);
    std::fill(row + n, row + width, 0.f);
  }
}

namespace {

// The cache blocking (ConvBlocking, conv_blocking.h, RowsConv::blocking): the reduction is cut
// into chunks of at most chunk_k floats per kernel row (on Zen 5's 1 MB L2, 1152 x 64 x 4 B =
// 288 KB of weights per chunk), a work item holds at most group_bytes of outputs (their partial
// sums), and output-channel blocks whose weights fit super_weight_bytes together form a
// superblock (RowsPlan); blocks that hold more each stay a superblock of their own, because
// several such blocks at a time evict each other's weights from L2.

// The plan of one rows convolution.
// The reduction (kernel rows x KW*C) is cut into chunks whose weights fit in L2 (whole kernel
// rows while they fit chunk_k, else parts of one row), and each work item (output-channel block,
// group of consecutive output pixels) runs every tile of its group through one chunk before the
// next, so a chunk's weights are read from L2 by all the group's tiles instead of streaming from
// L3 for every output row (a block of layer3/layer4's weights is 1.2 MB at C = 512). Tiles take M
// consecutive output pixels, crossing row and image ends (each row of A has its own pointer), so
// narrow maps (7 or 14 wide) still fill whole tiles. Partial sums stay in the output; the
// epilogue (scale, bias, residual, ReLU) goes with the last chunk.
// With fill_panel, a thread builds the B columns of its work item's output-channel block in a
// per-thread panel when the block changes (block-major items: about once per block), instead of
// a separate pass writing the whole transposed B to memory for the tiles to read back.
struct RowsPlan {
  const RowsConv* r;
  // Tiles: M output pixels x NV vectors of output channels.
  int NV = 0;
  int M = 0;
  int64_t nvec = 0;  // vectors covering the output channels
  int64_t nb = 0;    // output-channel blocks of NV vectors
  // Work items: one output-channel block x one group of consecutive output pixels.
  int64_t P = 0;        // output pixels, N * OH * OW
  int64_t group = 0;    // pixels per group, whole tiles
  int64_t ngroups = 0;  // pixel groups
  int64_t nbs = 0;      // output-channel blocks per superblock
  int64_t items = 0;    // nb * ngroups
  // The reduction: nrows rows of kwc floats (kernel rows of KW*C, or taps of C when tapwise),
  // cut into chunks.
  int64_t nrows = 0;
  int64_t kwc = 0;
  int64_t ldp = 0;  // a panel's row: NV vectors
  int64_t ldb = 0;  // distance between B's rows: ldp with fill_panel, else the weights' ldw
  int64_t nchunks = 0;
  std::vector<int64_t> a_offs, b_offs;  // [chunk][row of the chunk]: where it starts in A and B
  std::vector<int64_t> chunk_row;       // [chunk]: its first reduction row
  std::vector<int64_t> chunk_taps;      // [chunk]: reduction rows in it
  std::vector<int64_t> chunk_k;         // [chunk]: floats of each of its rows
  std::vector<float> zeros;             // what taps outside the image read (tapwise)
  // Where the outputs go.
  int64_t OHo = 0, OWo = 0;  // size of the image written into
  bool mapped = false;       // output pixels are not out's consecutive pixels (RowsConv::map)
  TileSums sums;             // with ep.channel_sums: partial i = output pixels [i, i + 1) * M * kTilesPerSum

  RowsPlan(const RowsConv& conv, const BrgemmKernels& k) : r(&conv) {
    plan_tiles(k);
    plan_groups(k);
    plan_chunks();
    plan_superblocks(k);
    plan_output();
  }

  void plan_tiles(const BrgemmKernels& k) {
    ldp = rows_block_width(k, r->cols);  // pack_rows_weights' block width, by construction
    NV = (int)(ldp / k.vw);
    M = k.max_m[NV];
    nvec = ceil_div(r->cols, k.vw);
    nb = ceil_div(nvec, NV);
  }

  // Pixel groups of (nearly) equal size, whole tiles each (whole runs of tiles that share a
  // partial of the channel sums, when taken), at most group_bytes of outputs.
  void plan_groups(const BrgemmKernels& k) {
    P = r->N * r->OH * r->OW;
    const int64_t unit = r->ep.channel_sums ? M * kTilesPerSum : M;
    const int64_t max_group = std::max<int64_t>(unit, r->blocking.group_bytes / (4 * NV * k.vw) / unit * unit);
    group = round_up(ceil_div(P, ceil_div(P, max_group)), unit);
    ngroups = ceil_div(P, group);
    items = nb * ngroups;
  }

  // The reduction's rows: kernel rows of KW*C, or taps of C (tapwise); B is [rows][kwc] either
  // way. Chunks: whole rows (as many as fit chunk_k) or, for wide rows, parts of one row.
  // Tapwise chunks follow the kernel rows the same way (whole kernel rows, or
  // KW / ceil(KW*C / chunk_k) taps when a kernel row does not fit), which measures best: one tap
  // per chunk on 512 channels and three on 256, rather than two and four.
  void plan_chunks() {
    nrows = r->tapwise ? r->KH * r->KW : r->KH;
    kwc = r->tapwise ? r->C : r->KW * r->C;
    ldb = r->fill_panel || r->wp_blocked ? ldp : r->ldw;
    const int64_t max_k = std::max<int64_t>(1, r->blocking.chunk_k);
    const int64_t per_tap = ceil_div(kwc, max_k);  // chunks per reduction row (> 1: wide rows)
    const int64_t kernel_row = r->KW * r->C;
    const int64_t taps_per =  // reduction rows per chunk (when rows are not split)
        per_tap > 1           ? 1
        : !r->tapwise         ? std::max<int64_t>(1, max_k / kwc)
        : kernel_row <= max_k ? r->KW * std::max<int64_t>(1, max_k / kernel_row)
                              : std::max<int64_t>(1, r->KW / ceil_div(kernel_row, max_k));
    nchunks = per_tap > 1 ? nrows * per_tap : ceil_div(nrows, taps_per);
    a_offs.resize((size_t)(nchunks * nrows));
    b_offs.resize((size_t)(nchunks * nrows));
    chunk_row.resize((size_t)nchunks);
    chunk_taps.resize((size_t)nchunks);
    chunk_k.resize((size_t)nchunks);
    for (int64_t ch = 0; ch < nchunks; ++ch) {
      const int64_t row0 = per_tap > 1 ? ch / per_tap : ch * taps_per;
      const int64_t part = per_tap > 1 ? ch % per_tap : 0;
      const int64_t k0 = part * kwc / per_tap, k1 = (part + 1) * kwc / per_tap;
      const int64_t rows = per_tap > 1 ? 1 : std::min(taps_per, nrows - row0);
      chunk_row[(size_t)ch] = row0;
      chunk_taps[(size_t)ch] = rows;
      chunk_k[(size_t)ch] = k1 - k0;
      for (int64_t j = 0; j < rows; ++j) {
        a_offs[(size_t)(ch * nrows + j)] = r->tapwise ? k0 : (row0 + j) * r->Wp * r->C + k0;
        b_offs[(size_t)(ch * nrows + j)] = ((row0 + j) * kwc + k0) * ldb;
      }
    }
    zeros.assign(r->tapwise ? (size_t)r->C : 0, 0.f);
  }

  // Work items in block order, or, when the weights of several blocks fit super_weight_bytes
  // together, in superblocks of nbs blocks with the pixel groups outer: the threads then split
  // a superblock's pixel groups, each reading its part of the image once for all nbs blocks,
  // instead of each thread streaming the whole image once per block of its own.
  void plan_superblocks(const BrgemmKernels& k) {
    const int64_t block_bytes = 4 * nrows * kwc * NV * k.vw;
    nbs = r->fill_panel ? 1 : std::clamp<int64_t>(r->blocking.super_weight_bytes / block_bytes, 1, nb);
  }

  void plan_output() {
    const OutputMap& m = r->map;
    OHo = m.H ? m.H : r->OH;
    OWo = m.W ? m.W : r->OW;
    mapped = m.sh != 1 || m.sw != 1 || m.ph != 0 || m.pw != 0 || OHo != r->OH || OWo != r->OW;
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
  std::vector<float*> opix;        // output pixel per pixel of the group (mapped outputs)
  std::vector<float*> obase;       // the same at the item's first output channel
  float* panel = nullptr;
  const RowsPlan* panel_plan = nullptr;
  int64_t panel_ob = -1;
  const RowsPlan* rows_plan = nullptr;  // whose group's pointers base and opix hold
  int64_t rows_g = -1;
};

// Where the A rows of pixels [p0, p1) start (per tap when tapwise) and, for mapped outputs,
// where their output pixels start. The pixel is walked (n, oh, ow), not divided out per pixel:
// with a 1x1 or a stride-2 kernel the divisions cost a noticeable share of the arithmetic.
void point_rows(const RowsPlan& pl, int64_t p0, int64_t p1, RowsThread& th) {
  const RowsConv& r = *pl.r;
  const OutputMap& m = r.map;
  int64_t n = p0 / (r.OH * r.OW), oh = p0 / r.OW % r.OH, ow = p0 % r.OW;
  for (int64_t p = p0; p < p1; ++p) {
    if (r.tapwise) {
      for (int64_t kh = 0; kh < r.KH; ++kh)
        for (int64_t kw = 0; kw < r.KW; ++kw) {
          const int64_t ih = oh * r.sh + kh + r.off_h, iw = ow * r.sw + kw + r.off_w;
          const bool inside = ih >= 0 && ih < r.Hp && iw >= 0 && iw < r.Wp;
          th.base[(size_t)((kh * r.KW + kw) * pl.group + p - p0)] =
              inside ? r.in + ((n * r.Hp + ih) * r.Wp + iw) * r.C : pl.zeros.data();
        }
    } else {
      th.base[(size_t)(p - p0)] = r.in + ((n * r.Hp + oh * r.sh) * r.Wp + ow * r.sw) * r.C;
    }
    if (pl.mapped)
      th.opix[(size_t)(p - p0)] = r.out + ((n * pl.OHo + oh * m.sh + m.ph) * pl.OWo + ow * m.sw + m.pw) * r.cols;
    if (++ow == r.OW) {
      ow = 0;
      if (++oh == r.OH) oh = 0, ++n;
    }
  }
}

// How far ahead (rows of B) the first tile through a chunk asks for the chunk's weights
// (RowsTile::prefetch_b): 8, 16 and 32 all measured faster than none at batch 1; 16 the most.
constexpr int64_t kPrefetchRows = 16;

// Work item it: every tile of its pixel group through each reduction chunk in turn.
void run_item(const RowsPlan& pl, int64_t it, RowsThread& th, const BrgemmKernels& k) {
  const RowsConv& r = *pl.r;
  int64_t ob, g;
  pl.item(it, ob, g);
  const int64_t p0 = g * pl.group, p1 = std::min(pl.P, p0 + pl.group);
  const int nv = (int)std::min<int64_t>(pl.NV, pl.nvec - ob * pl.NV);
  const int64_t oc0 = ob * pl.NV * k.vw;
  if (r.fill_panel && (th.panel_plan != &pl || th.panel_ob != ob)) {
    r.fill_panel(oc0, std::min(pl.ldp, r.cols - oc0), th.panel, pl.ldp);
    th.panel_plan = &pl;
    th.panel_ob = ob;
  }
  if (th.rows_plan != &pl || th.rows_g != g) {  // the previous item's group: same pointers
    point_rows(pl, p0, p1, th);
    th.rows_plan = &pl;
    th.rows_g = g;
  }
  if (pl.mapped)
    for (int64_t p = 0; p < p1 - p0; ++p) th.obase[(size_t)p] = th.opix[(size_t)p] + oc0;
  const float** base = th.base.data();
  for (int64_t ch = 0; ch < pl.nchunks; ++ch) {
    const bool first = ch == 0, last = ch == pl.nchunks - 1;
    RowsTile t;
    t.a_off = &pl.a_offs[(size_t)(ch * pl.nrows)];
    t.b = r.fill_panel ? th.panel : r.wp_blocked ? r.wp + ob * pl.nrows * pl.kwc * pl.ldp : r.wp + oc0;
    t.b_off = &pl.b_offs[(size_t)(ch * pl.nrows)];
    t.a_taps_ld = pl.group;
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
    t.ld_sums = pl.sums.ld;
    for (int64_t pt = p0; pt < p1; pt += pl.M) {
      t.sums = last && pl.sums.parts ? pl.sums.row(pt / pl.M / kTilesPerSum) + oc0 : nullptr;
      t.sums_add = pt / pl.M % kTilesPerSum != 0;
      if (r.tapwise) t.a_taps = base + pl.chunk_row[(size_t)ch] * pl.group + (pt - p0);
      else t.a_rows = base + (pt - p0);
      const bool whole_next = pt + 2 * pl.M <= p1;  // the next tile's rows, from its pointers
      t.a_next = !whole_next ? nullptr : r.tapwise ? t.a_taps + pl.M : t.a_rows + pl.M;
      t.prefetch_a = true;
      t.c = r.out + pt * r.cols + oc0;
      if (pl.mapped) t.c_rows = th.obase.data() + (pt - p0);
      t.res = last && r.ep.residual ? r.ep.residual + pt * r.cols + oc0 : nullptr;
      t.prefetch_b = pt == p0 ? kPrefetchRows : 0;  // the first tile streams the chunk's weights
      k.rows(t, (int)std::min<int64_t>(pl.M, p1 - pt), nv);
    }
  }
}

}  // namespace

// The work items of all plans, in plan order, are split between the threads in contiguous runs
// of (nearly) equal cost: item i goes to the thread whose share holds the middle of its cost; a
// thread done with its run steals from the back of another's (work_runs.h). Backward data's stride
// phases (1, 2, 2 and 4 taps for a 3x3 kernel at stride 2) run in one region without a barrier
// between them.
void run_rows_convs(const std::vector<RowsConv>& convs, const BrgemmKernels& k) {
  std::vector<RowsPlan> plans;
  plans.reserve(convs.size());  // items point into plans: no reallocation after this
  for (const RowsConv& c : convs)
    if (c.N * c.OH * c.OW * c.cols > 0) plans.emplace_back(c, k);
  for (RowsPlan& pl : plans)
    if (pl.r->ep.channel_sums) {  // one tile_sums buffer per call
      DS_CHECK(convs.size() == 1 && !pl.mapped, "run_rows_convs: channel sums of one plain convolution only");
      pl.sums = tile_sums(ceil_div(pl.P, pl.M * kTilesPerSum), pl.r->cols);
    }
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
  const bool threads = use_threads(2.0 * total, kMinParallelFlops);
  const int nt = threads ? omp_get_max_threads() : 1;
  WorkRuns runs(nt, [&](int t) {  // thread t's run ends at the first item whose middle reaches the next share
    if (t == nt - 1) return (int64_t)items.size();
    return (int64_t)(std::lower_bound(mid.begin(), mid.end(), total * (t + 1) / nt) - mid.begin());
  });
#pragma omp parallel if (threads)
  {
    RowsThread th;
    th.base.resize(base_len);
    th.opix.resize(obase_len);
    th.obase.resize(obase_len);
    if (panel_len) th.panel = scratch(ScratchSlot::conv_panel, panel_len);
    for (int64_t i; runs.next(omp_get_thread_num(), i);)
      run_item(*items[(size_t)i].first, items[(size_t)i].second, th, k);
  }
  for (const RowsPlan& pl : plans)
    if (pl.sums.parts) combine_tile_sums(pl.r->ep.channel_sums, pl.sums, pl.r->cols);
}

}  // namespace ds
