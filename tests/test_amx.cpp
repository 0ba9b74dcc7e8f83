// The AMX tiles on the hardware (engine/kernels/lowp_conv_amx.cpp): bf16 against the reference
// twin on the shared shapes (tests/lowp_tile_cases.h) and against the same tile on emulated
// registers, bit-identical on 1 and 2 threads and what conv2d_forward_bf16 dispatches to under DEEPSLIDE_AMX=1; int8
// bit for bit against its twin. Only where the CPU has AMX-TILE with AMX-BF16 (and AMX-INT8) and
// Linux grants the tile state (amx_bf16_tiles_available()); elsewhere it prints "not run: CPU lacks
// AMX-BF16" and ctest reports the executable as skipped (CMakeLists.txt), never as passed.
// test_bf16 and test_int8 run the tiles' logic on emulated registers on any AVX-512 CPU with
// AVX512-BF16 / VNNI. The bf16 Winograd's GEMMs on the hardware tiles: exact on integer data,
// against the twin, and on 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

#include "base/rng.h"
#include "base/threads.h"
#include "conv_cases.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/conv_winograd_bf16.h"
#include "lowp_tile_cases.h"

using namespace ds;

namespace {

bool amx_available() {
  if (amx_bf16_tiles_available()) return true;
  const CpuExtensions& e = cpu_extensions();
  std::printf("not run: CPU lacks AMX-BF16 (amx_tile %d, amx_bf16 %d, OS tile state %d, or DEEPSLIDE_ISA cap)\n",
              (int)e.amx_tile, (int)e.amx_bf16, (int)e.amx_os);
  return false;
}

}  // namespace

TEST_CASE("the AMX-BF16 convolution matches its reference twin on the hardware") {
  if (!amx_available()) return;
  test::check_bf16_tiles(conv_bf16_kernels_amx(), "AMX-BF16 tiles");
}

TEST_CASE("AMX-BF16 hardware tiles equal the emulated ones, on 1 and 2 threads, and are what DEEPSLIDE_AMX=1 runs") {
  if (!amx_available()) return;
  Rng rng(9);
  const ConvDims d = make_conv_dims(2, 64, 20, 36, 128, 3, 3, 1, 1);
  auto [x, w, b, res, n_out] = test::operands(d, rng);
  const ConvBf16Weights p = pack_conv_bf16(w.data(), nullptr, d.KH, d.KW, d.C, d.OC);
  ConvEpilogue ep;
  ep.bias = b.data(), ep.residual = res.data(), ep.relu = true;
  std::vector<float> hw1((size_t)n_out), hw2((size_t)n_out), emu((size_t)n_out), dflt((size_t)n_out);
  test::run_on_1_and_2_threads(hw1.data(), hw2.data(), [&](float* y) {
    conv2d_forward_bf16_on(conv_bf16_kernels_amx(), y, x.data(), p, d, ep);
  });
  conv2d_forward_bf16_on(conv_bf16_kernels_amx_emulated(), emu.data(), x.data(), p, d, ep);
  conv2d_forward_bf16(dflt.data(), x.data(), p, d, ep);
  CHECK(hw1 == hw2);
  // conv2d_forward_bf16 runs them when chosen (DEEPSLIDE_AMX=1), else the AVX512-BF16 tiles.
  if (has_amx_bf16_kernels()) CHECK(dflt == hw1);
  // The emulation sums each pair's products in the SDM's order; the hardware may round the
  // pair's sum once: within fp32 summation error of each other.
  CHECK(test::rel_err(emu, hw1) < 2e-6 * std::sqrt((double)(d.KH * d.KW * d.C)));
}

TEST_CASE("the AMX-INT8 convolution equals its reference twin bit for bit on the hardware") {
  if (!amx_available()) return;
  if (!amx_int8_tiles_available()) {
    std::printf("not run: CPU lacks AMX-INT8 (it has AMX-BF16)\n");
    return;
  }
  test::check_int8_tiles(conv_int8_kernels_amx(), "AMX-INT8 tiles");
}

// bf16 Winograd F(2x2, 3x3) (conv_winograd_bf16.h) with its GEMMs on the hardware tiles: V rows
// loaded straight from the transformed block (equally spaced), short tiles copied.
TEST_CASE("bf16 Winograd on the AMX-BF16 hardware tiles matches its twin, exactly on integer data") {
  if (!amx_available()) return;
  Rng rng(10);
  for (const ConvDims& d :
       {make_conv_dims(2, 64, 20, 36, 128, 3, 3, 1, 1), make_conv_dims(1, 70, 9, 13, 40, 3, 3, 1, 0),
        make_conv_dims(3, 13, 7, 7, 17, 3, 3, 1, 1)}) {
    auto [x, w, b, res, n_out] = test::operands(d, rng);
    ConvEpilogue ep;
    ep.bias = b.data(), ep.residual = res.data(), ep.relu = true;
    const ConvWinogradBf16Weights p = pack_conv_winograd_bf16(w.data(), nullptr, d.C, d.OC);
    std::vector<float> hw1((size_t)n_out), hw2((size_t)n_out), twin((size_t)n_out);
    test::run_on_1_and_2_threads(hw1.data(), hw2.data(), [&](float* y) {
      conv2d_forward_winograd_bf16_on(conv_bf16_kernels_amx(), y, x.data(), p, d, ep);
    });
    conv2d_forward_winograd_bf16_ref(twin.data(), x.data(), p, d, ep);
    INFO("C=" << d.C << " OC=" << d.OC << " H=" << d.H << " W=" << d.W);
    CHECK(hw1 == hw2);
    CHECK(test::rel_err(hw1, twin) < 1e-6 * std::sqrt((double)d.C));
    // Integer data in [-4, 4]: every sum exact in fp32, so the tiles must equal the direct convolution.
    for (float& v : x) v = (float)((int)(rng.uniform() * 9.0) - 4);
    for (float& v : w) v = (float)((int)(rng.uniform() * 9.0) - 4);
    const ConvWinogradBf16Weights pi = pack_conv_winograd_bf16(w.data(), nullptr, d.C, d.OC);
    std::vector<float> exact((size_t)n_out), direct((size_t)n_out);
    conv2d_forward_winograd_bf16_on(conv_bf16_kernels_amx(), exact.data(), x.data(), pi, d);
    conv2d_forward_ref(direct.data(), x.data(), w.data(), d);
    CHECK(exact == direct);
  }
}
