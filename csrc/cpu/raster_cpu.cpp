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

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include "drawing_kernels.h"

namespace aegui {
namespace {

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

// A piece as its pixels are computed: relative to its start, in float32.
struct Ink {
  float ex, ey;        // the piece's direction and length
  float ux, uy;        // that divided by its squared length (0 for a dot)
  float off_x, off_y;  // the centre of the box's first pixel
  float level, cap;    // ink at distance 0 before clipping, and the most ink
};

// The ink of the pixel `offset` columns right of the box's left edge, on the row whose
// centre is `dy` below the piece's start: raster.py's _ink, operation by operation.
template <typename Offset>
inline uint8_t ink_at(const Ink& k, Offset offset, float dy, float ty) {
  const float dx = static_cast<float>(offset) + k.off_x;
  float t = dx * k.ux;
  t = t + ty;
  t = std::min(std::max(t, 0.0f), 1.0f);
  float qx = t * -k.ex;
  qx = qx + dx;
  float qy = t * -k.ey;
  qy = qy + dy;
  qx = qx * qx;
  qy = qy * qy;
  float d = std::sqrt(qx + qy);
  d = d * -255.0f;
  d = d + k.level;
  d = std::min(std::max(d, 0.0f), k.cap);
  return static_cast<uint8_t>(d);  // truncation, as numpy's astype
}

// Columns [first, last) of the box (offsets from its left edge, `left` on the image) on
// image rows [top, bottom). The pen and the eraser get a loop each: no branch per pixel.
template <typename Offset>
void paint_rows(uint8_t* image, int64_t width, const Box& box, const Ink& k, int64_t left, int64_t top,
                int64_t bottom, Offset first, Offset last, bool erase) {
  for (int64_t row = top; row < bottom; ++row) {
    const float dy = static_cast<float>(row - box.y0) + k.off_y;
    const float ty = dy * k.uy;
    uint8_t* line = image + row * width + left - first;  // line[first] is the pixel at `left`
    if (erase) {
      for (Offset i = first; i < last; ++i) line[i] = std::min<uint8_t>(line[i], 255 - ink_at(k, i, dy, ty));
    } else {
      for (Offset i = first; i < last; ++i) line[i] = std::max<uint8_t>(line[i], ink_at(k, i, dy, ty));
    }
  }
}

// One piece's ink on the part of its box that lies on the image, combined by max (pen) or
// min (eraser). Mirrors raster.py's _ink, operation by operation.
void paint_piece(uint8_t* image, int64_t height, int64_t width, const double* piece, const Box& box,
                 bool erase) {
  Ink k;
  const float ax = static_cast<float>(piece[0]), ay = static_cast<float>(piece[1]);
  k.ex = static_cast<float>(piece[2]) - ax;
  k.ey = static_cast<float>(piece[3]) - ay;
  const float r = static_cast<float>(piece[4]);
  float length2 = k.ex * k.ex + k.ey * k.ey;
  if (length2 <= static_cast<float>(1e-12)) length2 = std::numeric_limits<float>::infinity();
  k.ux = k.ex / length2;
  k.uy = k.ey / length2;
  // Pixel centres relative to the piece's start: small numbers, exact in float32.
  k.off_x = static_cast<float>(static_cast<double>(box.x0) - piece[0] + 0.5);
  k.off_y = static_cast<float>(static_cast<double>(box.y0) - piece[1] + 0.5);
  k.level = (r + 0.5f) * 255.0f + 0.5f;
  k.cap = std::min(1.0f, 2 * r) * 255.0f + 0.5f;
  const int64_t left = std::max<int64_t>(box.x0, 0), right = std::min(box.x1, width);
  const int64_t top = std::max<int64_t>(box.y0, 0), bottom = std::min(box.y1, height);
  // Offsets as int32 vectorise (int64 to float does not convert in vectors before AVX-512)
  // and convert to the same floats; a box too wide for them (a glitch) takes int64.
  if (right - box.x0 <= std::numeric_limits<int32_t>::max()) {
    paint_rows<int32_t>(image, width, box, k, left, top, bottom, static_cast<int32_t>(left - box.x0),
                        static_cast<int32_t>(right - box.x0), erase);
  } else {
    paint_rows<int64_t>(image, width, box, k, left, top, bottom, left - box.x0, right - box.x0, erase);
  }
}

}  // namespace

bool paint_pieces(uint8_t* image, int64_t height, int64_t width, const double* pieces, int64_t count, bool erase,
                  int64_t box_out[4]) {
  int64_t x0 = std::numeric_limits<int64_t>::max(), y0 = x0;
  int64_t x1 = std::numeric_limits<int64_t>::min(), y1 = x1;
  bool any = false;
  for (int64_t k = 0; k < count; ++k) {
    const double* piece = pieces + 5 * k;
    // A piece numpy could not place either (non-finite, or far beyond any image): skipped.
    bool placeable = true;
    for (int i = 0; i < 5; ++i) placeable = placeable && std::abs(piece[i]) < 1e15;
    if (!placeable) continue;
    const Box box = piece_box(piece[0], piece[1], piece[2], piece[3], piece[4]);
    if (!(box.x1 > 0 && box.y1 > 0 && box.x0 < width && box.y0 < height)) continue;
    paint_piece(image, height, width, piece, box, erase);
    any = true;
    x0 = std::min(x0, box.x0);
    y0 = std::min(y0, box.y0);
    x1 = std::max(x1, box.x1);
    y1 = std::max(y1, box.y1);
  }
  if (!any) return false;
  box_out[0] = std::max<int64_t>(x0, 0);
  box_out[1] = std::max<int64_t>(y0, 0);
  box_out[2] = std::min(x1, width);
  box_out[3] = std::min(y1, height);
  return true;
}

}  // namespace aegui
