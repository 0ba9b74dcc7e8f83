// Procedural H&E rendering: islands -> stroma -> gland lumens -> nuclei, all driven by hashes
// of (seed, position) so each region renders on its own.
#include "slide/synth/synth_tissue.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"

namespace ds {

namespace {

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
inline uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return mix64(a * 0x9E3779B97F4A7C15ull ^ mix64(b + 0x632BE59BD9B4E019ull) ^
               mix64(c * 0xD6E8FEB86659FD93ull + 0x85EBCA6B) ^ mix64(d + 0xC2B2AE35ull));
}
inline double unit(uint64_t h) { return (h >> 11) * 0x1.0p-53; }

// A tiny deterministic stream for per-cell parameters.
struct CellRng {
  uint64_t s;
  double next() { return unit(s = mix64(s + 0x9E3779B97F4A7C15ull)); }
};

struct Nucleus {
  double cx, cy, r, aspect, angle, dark;
};

struct Gland {
  double cx, cy, ring;  // ring radius; lumen inside ring - nucleus radius
};

constexpr double kCell = 32.0;      // grid for scattered nuclei
constexpr double kGland = 84.0;     // grid for glands
constexpr double kCluster = 128.0;  // grid for dense clusters

}  // namespace

struct SynthTissue::Cells {
  std::vector<Gland> glands;
  std::vector<Nucleus> nuclei;
};

SynthMorphology synth_class_morphology(int cls) {
  DS_CHECK_INPUT(cls >= 0, "synthetic class index must be >= 0");
  SynthMorphology m;
  switch (cls % 3) {
    case 0:  // glandular, orderly: small round nuclei lining lumens, sparse stroma nuclei
      m = {3.2, 0.12, 1.25, 0.55, 0.85, 0.0, 0.65};
      break;
    case 1:  // carcinoma-like sheets: large pleomorphic elongated nuclei, dense, disorderly
      m = {5.6, 0.35, 2.1, 2.2, 0.0, 0.1, 0.62};
      break;
    default:  // lymphoid-like: small, round, dark nuclei in dense clumps
      m = {2.4, 0.1, 1.1, 1.6, 0.0, 0.8, 0.85};
      break;
  }
  if (cls >= 3) {  // further classes: same archetype, shifted size/density so they stay distinct
    double k = 1.0 + 0.35 * (cls / 3);
    m.nucleus_radius *= k;
    m.density /= k;
  }
  return m;
}

SynthTissue::SynthTissue(int64_t width, int64_t height, int cls, uint64_t seed)
    : width_(width), height_(height), cls_(cls), seed_(seed), m_(synth_class_morphology(cls)) {
  DS_CHECK_INPUT(width > 0 && height > 0, "synthetic slide size must be positive");
  CellRng r{hash4(seed, cls, 0xA11, 0)};
  n_islands_ = 2 + (int)(r.next() * 3);  // 2..4
  double mind = (double)std::min(width, height);
  for (int i = 0; i < n_islands_; ++i) {
    islands_[i].cx = width * (0.2 + 0.6 * r.next());
    islands_[i].cy = height * (0.2 + 0.6 * r.next());
    islands_[i].rx = mind * (0.15 + 0.2 * r.next());
    islands_[i].ry = mind * (0.15 + 0.2 * r.next());
  }
  // Stain variation shared by all classes: hematoxylin around (95, 55, 150), eosin around
  // (235, 140, 190), each jittered per slide.
  const double h0[3] = {95, 55, 150}, e0[3] = {235, 140, 190};
  double hj = (r.next() - 0.5) * 40, ej = (r.next() - 0.5) * 30;
  for (int c = 0; c < 3; ++c) {
    stain_h_[c] = std::clamp(h0[c] + hj * (c == 1 ? 0.5 : 1.0) + (r.next() - 0.5) * 16, 0.0, 255.0);
    stain_e_[c] = std::clamp(e0[c] + ej * (c == 2 ? -0.6 : 1.0) + (r.next() - 0.5) * 12, 0.0, 255.0);
  }
  stain_strength_ = 0.75 + 0.35 * r.next();
  const double fibre_angle = 3.14159 * r.next();
  fibre_cos_ = std::cos(fibre_angle);
  fibre_sin_ = std::sin(fibre_angle);
}

double SynthTissue::noise(double x, double y, double scale, uint64_t salt) const {
  double fx = x / scale, fy = y / scale;
  double ix = std::floor(fx), iy = std::floor(fy);
  double tx = fx - ix, ty = fy - iy;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  int64_t i = (int64_t)ix, j = (int64_t)iy;
  double a = unit(hash4(seed_, salt, (uint64_t)i, (uint64_t)j));
  double b = unit(hash4(seed_, salt, (uint64_t)(i + 1), (uint64_t)j));
  double c = unit(hash4(seed_, salt, (uint64_t)i, (uint64_t)(j + 1)));
  double d = unit(hash4(seed_, salt, (uint64_t)(i + 1), (uint64_t)(j + 1)));
  return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

bool SynthTissue::in_tissue(double x, double y) const {
  double best = 1e9;
  for (int i = 0; i < n_islands_; ++i) {
    const Island& s = islands_[i];
    double dx = (x - s.cx) / s.rx, dy = (y - s.cy) / s.ry;
    best = std::min(best, dx * dx + dy * dy);
  }
  if (best > 2.0) return false;
  return best < 1.0 + 0.9 * (noise(x, y, 160.0, 1) - 0.5) + 0.25 * (noise(x, y, 40.0, 2) - 0.5);
}

// Glass and stroma: every pixel of the region, before any cell is drawn over it.
void SynthTissue::paint_stroma(int64_t x0, int64_t y0, RgbImage& out) const {
  const int w = out.width, h = out.height;
  for (int yy = 0; yy < h; ++yy) {
    uint8_t* row = out.row(yy);
    for (int xx = 0; xx < w; ++xx) {
      const double x = (double)(x0 + xx), y = (double)(y0 + yy);
      const uint64_t ph = hash4(seed_, 7, (uint64_t)(x0 + xx), (uint64_t)(y0 + yy));
      double px[3];
      if (x < 0 || y < 0 || x >= width_ || y >= height_ || !in_tissue(x, y)) {
        const double g = 242 + 5 * unit(ph);
        px[0] = g;
        px[1] = g;
        px[2] = g + 2;
      } else {
        // Fibres: anisotropic noise stretched along a slowly turning direction.
        const double warp = 60.0 * noise(x, y, 220.0, 3);
        const double u = x * fibre_cos_ + y * fibre_sin_ + warp;
        const double v = -x * fibre_sin_ + y * fibre_cos_ + warp;
        const double fibre = 0.6 * noise(u, v * 4.0, 14.0, 4) + 0.4 * noise(x, y, 5.0, 5);
        const double dens = std::clamp(stain_strength_ * (0.35 + 0.55 * fibre) + 0.06 * (unit(ph) - 0.5), 0.05, 1.0);
        for (int c = 0; c < 3; ++c) px[c] = 250 * (1 - dens) + stain_e_[c] * dens;
      }
      for (int c = 0; c < 3; ++c) row[3 * xx + c] = (uint8_t)std::clamp(px[c], 0.0, 255.0);
    }
  }
}

// The glands and nuclei whose grid cells reach [rx0, rx1) x [ry0, ry1): glands with their ring
// of nuclei, scattered nuclei, then dense clusters, each cell's from its own hash.
SynthTissue::Cells SynthTissue::collect_cells(double rx0, double ry0, double rx1, double ry1) const {
  Cells cells;
  auto add_nucleus = [&](CellRng& r, double cx, double cy, double radius_scale, double angle) {
    if (!in_tissue(cx, cy)) return;
    Nucleus n;
    n.cx = cx;
    n.cy = cy;
    n.r = std::max(1.2, m_.nucleus_radius * radius_scale * (1 + m_.radius_jitter * 2 * (r.next() - 0.5) * 1.7));
    n.aspect = 1 + (m_.max_aspect - 1) * r.next();
    n.angle = angle < -100 ? 3.14159 * r.next() : angle;
    n.dark = std::clamp(m_.darkness + 0.15 * (r.next() - 0.5), 0.3, 1.0);
    cells.nuclei.push_back(n);
  };
  if (m_.glands > 0) {
    for (int64_t j = (int64_t)std::floor(ry0 / kGland); j <= (int64_t)std::floor(ry1 / kGland); ++j)
      for (int64_t i = (int64_t)std::floor(rx0 / kGland); i <= (int64_t)std::floor(rx1 / kGland); ++i) {
        CellRng r{hash4(seed_, 11, (uint64_t)i, (uint64_t)j)};
        if (r.next() > m_.glands) continue;
        Gland g{(i + 0.25 + 0.5 * r.next()) * kGland, (j + 0.25 + 0.5 * r.next()) * kGland, 14 + 14 * r.next()};
        if (!in_tissue(g.cx, g.cy)) continue;
        cells.glands.push_back(g);
        const int count = (int)(2 * 3.14159 * g.ring / (2.3 * m_.nucleus_radius));
        const double phase = r.next() * 6.283;
        for (int k = 0; k < count; ++k) {
          const double a = phase + 6.283 * k / count + 0.08 * (r.next() - 0.5);
          const double rr = g.ring + 1.2 * (r.next() - 0.5);
          add_nucleus(r, g.cx + rr * std::cos(a), g.cy + rr * std::sin(a), 1.0, a + 1.5708);
        }
      }
  }
  const double scattered = m_.density * (1 - m_.glands * 0.7 - m_.clustering * 0.6);
  for (int64_t j = (int64_t)std::floor(ry0 / kCell); j <= (int64_t)std::floor(ry1 / kCell); ++j)
    for (int64_t i = (int64_t)std::floor(rx0 / kCell); i <= (int64_t)std::floor(rx1 / kCell); ++i) {
      CellRng r{hash4(seed_, 13, (uint64_t)i, (uint64_t)j)};
      const double lambda = scattered * kCell * kCell / 1000.0;
      const int count = (int)(lambda + r.next());
      for (int k = 0; k < count; ++k) add_nucleus(r, (i + r.next()) * kCell, (j + r.next()) * kCell, 1.0, -1000);
    }
  if (m_.clustering > 0) {
    for (int64_t j = (int64_t)std::floor(ry0 / kCluster) - 1; j <= (int64_t)std::floor(ry1 / kCluster) + 1; ++j)
      for (int64_t i = (int64_t)std::floor(rx0 / kCluster) - 1; i <= (int64_t)std::floor(rx1 / kCluster) + 1; ++i) {
        CellRng r{hash4(seed_, 17, (uint64_t)i, (uint64_t)j)};
        if (r.next() > m_.clustering) continue;
        const double cx = (i + r.next()) * kCluster, cy = (j + r.next()) * kCluster, rad = 25 + 30 * r.next();
        if (cx + rad < rx0 || cx - rad > rx1 || cy + rad < ry0 || cy - rad > ry1) continue;
        const int count = (int)(3.14159 * rad * rad * m_.density * 10.0 / 1000.0);
        for (int k = 0; k < count; ++k) {
          const double a = 6.283 * r.next(), d = rad * std::sqrt(r.next());
          add_nucleus(r, cx + d * std::cos(a), cy + d * std::sin(a), 1.0, -1000);
        }
      }
  }
  return cells;
}

// Gland lumens: pale, nearly empty space inside the ring of nuclei.
void SynthTissue::paint_lumens(const Cells& cells, int64_t x0, int64_t y0, RgbImage& out) const {
  const int w = out.width, h = out.height;
  for (const Gland& g : cells.glands) {
    const double lr = g.ring - m_.nucleus_radius * 1.6;
    if (lr <= 1) continue;
    const int ya = std::max<int64_t>(0, (int64_t)std::floor(g.cy - lr) - y0);
    const int yb = std::min<int64_t>(h - 1, (int64_t)std::ceil(g.cy + lr) - y0);
    const int xa = std::max<int64_t>(0, (int64_t)std::floor(g.cx - lr) - x0);
    const int xb = std::min<int64_t>(w - 1, (int64_t)std::ceil(g.cx + lr) - x0);
    for (int yy = ya; yy <= yb; ++yy)
      for (int xx = xa; xx <= xb; ++xx) {
        const double dx = x0 + xx - g.cx, dy = y0 + yy - g.cy;
        const double d = std::sqrt(dx * dx + dy * dy);
        if (d >= lr) continue;
        const double a = std::clamp((lr - d) / 2.5, 0.0, 1.0) * 0.85;
        uint8_t* p = out.row(yy) + 3 * xx;
        for (int c = 0; c < 3; ++c) p[c] = (uint8_t)std::clamp(p[c] * (1 - a) + (246 - 6 * (c == 1)) * a, 0.0, 255.0);
      }
  }
}

// Nuclei: soft-edged ellipses with chromatin texture.
void SynthTissue::paint_nuclei(const Cells& cells, int64_t x0, int64_t y0, RgbImage& out) const {
  const int w = out.width, h = out.height;
  for (const Nucleus& n : cells.nuclei) {
    const double ext = n.r * n.aspect + 1.5;
    const int ya = std::max<int64_t>(0, (int64_t)std::floor(n.cy - ext) - y0);
    const int yb = std::min<int64_t>(h - 1, (int64_t)std::ceil(n.cy + ext) - y0);
    const int xa = std::max<int64_t>(0, (int64_t)std::floor(n.cx - ext) - x0);
    const int xb = std::min<int64_t>(w - 1, (int64_t)std::ceil(n.cx + ext) - x0);
    if (ya > yb || xa > xb) continue;
    const double ca = std::cos(n.angle), sa = std::sin(n.angle);
    const double ra = n.r * n.aspect, rb = n.r / std::sqrt(n.aspect);
    for (int yy = ya; yy <= yb; ++yy)
      for (int xx = xa; xx <= xb; ++xx) {
        const double dx = x0 + xx + 0.5 - n.cx, dy = y0 + yy + 0.5 - n.cy;
        const double u = (dx * ca + dy * sa) / ra, v = (-dx * sa + dy * ca) / rb;
        const double d = std::sqrt(u * u + v * v);
        if (d >= 1.0) continue;
        const double alpha = std::clamp((1.0 - d) * rb * 0.9, 0.0, 1.0) * n.dark;
        const double grain = 0.8 + 0.2 * unit(hash4(seed_, 19, (uint64_t)(x0 + xx), (uint64_t)(y0 + yy)));
        uint8_t* p = out.row(yy) + 3 * xx;
        for (int c = 0; c < 3; ++c) {
          const double target = stain_h_[c] * grain;
          p[c] = (uint8_t)std::clamp(p[c] * (1 - alpha) + target * alpha, 0.0, 255.0);
        }
      }
  }
}

void SynthTissue::render(int64_t x0, int64_t y0, RgbImage& out) const {
  paint_stroma(x0, y0, out);
  // Cells centred up to a nucleus's reach (or a gland's ring) outside the region draw into it.
  const double margin = m_.nucleus_radius * (1 + 3 * m_.radius_jitter) * m_.max_aspect + 40;
  const Cells cells = collect_cells(x0 - margin, y0 - margin, x0 + out.width + margin, y0 + out.height + margin);
  paint_lumens(cells, x0, y0, out);
  paint_nuclei(cells, x0, y0, out);
}

}  // namespace ds
