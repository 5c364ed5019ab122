// The pen's pixels in C++: aegui.raster's straight pieces, painted into an 8-bit image.
//
// aegui/raster.py is the definition (and the fallback where this library does not load);
// this is the same arithmetic, step for step, in float32, so that the two give the same
// bytes: the canvas switches to this kernel once the model's library is loaded, and what
// a user draws must not change with it. numpy spends most of a mouse move's rasterising
// on calling its array functions for a box of a few thousand pixels; here that box is two
// loops.
//
// No fused multiply-add: numpy rounds every product before the sum, and a contracted
// a * b + c would round once, changing the last bit of a distance and, rarely, a pixel.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace aegui {
namespace {

using at::Tensor;

struct Box {
  int64_t x0, y0, x1, y1;  // exclusive ends, as in raster.py
};

// The piece's box as raster.py's _paint_pieces works it out (float64, then whole pixels).
Box piece_box(double ax, double ay, double bx, double by, double r) {
  const double reach = r + 1.0;
  return {static_cast<int64_t>(std::floor(std::min(ax, bx) - reach)),
          static_cast<int64_t>(std::floor(std::min(ay, by) - reach)),
          static_cast<int64_t>(std::ceil(std::max(ax, bx) + reach)) + 1,
          static_cast<int64_t>(std::ceil(std::max(ay, by) + reach)) + 1};
}

// One piece's ink on the part of its box that lies on the image, combined by max (pen) or
// min (eraser). Mirrors raster.py's _ink, operation by operation.
void paint_piece(uint8_t* image, int64_t height, int64_t width, const double* piece, const Box& box,
                 bool erase) {
  const float ax = static_cast<float>(piece[0]), ay = static_cast<float>(piece[1]);
  const float ex = static_cast<float>(piece[2]) - ax, ey = static_cast<float>(piece[3]) - ay;
  const float r = static_cast<float>(piece[4]);
  float length2 = ex * ex + ey * ey;
  if (length2 <= static_cast<float>(1e-12)) length2 = std::numeric_limits<float>::infinity();
  const float ux = ex / length2, uy = ey / length2;
  // Pixel centres relative to the piece's start: small numbers, exact in float32.
  const float off_x = static_cast<float>(static_cast<double>(box.x0) - piece[0] + 0.5);
  const float off_y = static_cast<float>(static_cast<double>(box.y0) - piece[1] + 0.5);
  const float level = (r + 0.5f) * 255.0f + 0.5f;
  const float cap = std::min(1.0f, 2 * r) * 255.0f + 0.5f;
  const int64_t left = std::max<int64_t>(box.x0, 0), right = std::min(box.x1, width);
  const int64_t top = std::max<int64_t>(box.y0, 0), bottom = std::min(box.y1, height);
  for (int64_t row = top; row < bottom; ++row) {
    const float dy = static_cast<float>(row - box.y0) + off_y;
    const float ty = dy * uy;
    uint8_t* out = image + row * width;
    for (int64_t col = left; col < right; ++col) {
      const float dx = static_cast<float>(col - box.x0) + off_x;
      float t = dx * ux;
      t = t + ty;
      t = std::min(std::max(t, 0.0f), 1.0f);
      float qx = t * -ex;
      qx = qx + dx;
      float qy = t * -ey;
      qy = qy + dy;
      qx = qx * qx;
      qy = qy * qy;
      float d = std::sqrt(qx + qy);
      d = d * -255.0f;
      d = d + level;
      d = std::min(std::max(d, 0.0f), cap);
      const uint8_t ink = static_cast<uint8_t>(d);  // truncation, as numpy's astype
      out[col] = erase ? std::min<uint8_t>(out[col], 255 - ink) : std::max(out[col], ink);
    }
  }
}

// paint_pieces(image, pieces, erase) -> [x0, y0, x1, y1] of the pixels that may have
// changed, or [] when no piece lies on the image. image: 2-D uint8, contiguous, painted in
// place; pieces: (K, 5) float64 rows (ax, ay, bx, by, r) in pixels.
std::vector<int64_t> paint_pieces(Tensor image, const Tensor& pieces, bool erase) {
  TORCH_CHECK(image.device().is_cpu() && image.dim() == 2 && image.scalar_type() == at::kByte &&
                  image.is_contiguous(),
              "paint_pieces: image must be a contiguous 2-D uint8 CPU tensor, got ", image.dim(), "-D ",
              image.scalar_type(), " on ", image.device());
  TORCH_CHECK(pieces.device().is_cpu() && pieces.dim() == 2 && pieces.size(1) == 5 &&
                  pieces.scalar_type() == at::kDouble && pieces.is_contiguous(),
              "paint_pieces: pieces must be a contiguous (K, 5) float64 CPU tensor, got ", pieces.sizes(), " ",
              pieces.scalar_type());
  const int64_t height = image.size(0), width = image.size(1);
  uint8_t* pixels = image.data_ptr<uint8_t>();
  const double* rows = pieces.data_ptr<double>();
  int64_t x0 = std::numeric_limits<int64_t>::max(), y0 = x0;
  int64_t x1 = std::numeric_limits<int64_t>::min(), y1 = x1;
  bool any = false;
  for (int64_t k = 0; k < pieces.size(0); ++k) {
    const double* piece = rows + 5 * k;
    // A piece numpy could not place either (non-finite, or far beyond any image): skipped.
    bool placeable = true;
    for (int i = 0; i < 5; ++i) placeable = placeable && std::abs(piece[i]) < 1e15;
    if (!placeable) continue;
    const Box box = piece_box(piece[0], piece[1], piece[2], piece[3], piece[4]);
    if (!(box.x1 > 0 && box.y1 > 0 && box.x0 < width && box.y0 < height)) continue;
    paint_piece(pixels, height, width, piece, box, erase);
    any = true;
    x0 = std::min(x0, box.x0);
    y0 = std::min(y0, box.y0);
    x1 = std::max(x1, box.x1);
    y1 = std::max(y1, box.y1);
  }
  if (!any) return {};
  return {std::max<int64_t>(x0, 0), std::max<int64_t>(y0, 0), std::min(x1, width), std::min(y1, height)};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(aegui, m) {
  m.def("paint_pieces(Tensor(a!) image, Tensor pieces, bool erase) -> int[]");
}

TORCH_LIBRARY_IMPL(aegui, CPU, m) { m.impl("paint_pieces", &paint_pieces); }

}  // namespace aegui
