// A drawing framed like MNIST in C++: aegui.preprocess.mnist_style for an 8-bit page.
//
// aegui/preprocess.py is the definition (and what frames every data set); the app frames
// the user's page with this twin on each mouse move, once the model's library is loaded.
// Why: numpy frames a 512x512 page in a dozen array calls, and each lets the UI thread's
// Python in and waits for it back; on a busy 2-core machine that tripled the framing's
// CPU time (0.3 -> 1.3 ms). Here it is one call.
//
// The same steps in the same precision: the ink threshold, the bounding box, the
// overlap weights (float64, then float32) and the placement are computed exactly as
// numpy does. Only the two resampling products sum in another order (numpy hands them to
// BLAS, which sums float32 in blocks; here each sum is float64, rounded once), so a frame
// differs from numpy's by a few float32 roundings, about 1e-7; tests/test_preprocess.py
// bounds that and checks that the whole-pixel placement is the same. (A centroid exactly
// on a half pixel, as a uniformly inked box has, rounds either way with any change of
// summing order, in numpy too: numpy itself placed a uniform 20x20 square 4.5 px from
// the frame's edge one way in rows and the other in columns.)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "drawing_kernels.h"

namespace aegui {
namespace {

constexpr int64_t kFrame = 28;          // preprocess.FRAME
constexpr int64_t kBox = 20;            // preprocess.BOX
constexpr double kInkFraction = 0.02;   // preprocess.INK_FRACTION
constexpr double kEmptyPeak = 0.05;     // preprocess.EMPTY_PEAK
constexpr double kPlacement = 14.0;     // preprocess.PLACEMENT_CENTRE, both axes

// preprocess._overlap_matrix: (n_out, n_in) weights, row-major.
std::vector<float> overlap_matrix(int64_t n_in, double length, int64_t* n_out) {
  *n_out = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(length - 1e-6)));
  const double step = length / static_cast<double>(n_in);
  std::vector<float> weights(static_cast<size_t>(*n_out * n_in), 0.0f);
  for (int64_t j = 0; j < *n_out; ++j) {
    const double lo = static_cast<double>(j), hi = lo + 1.0;
    for (int64_t i = 0; i < n_in; ++i) {
      const double a = std::min(std::max(static_cast<double>(i) * step, lo), hi);
      const double b = std::min(std::max(static_cast<double>(i + 1) * step, lo), hi);
      weights[j * n_in + i] = static_cast<float>(b - a);
    }
  }
  return weights;
}

// preprocess._shift: round half up, kept where the box stays in the frame.
int64_t whole_pixel_shift(double wanted, int64_t most) {
  return std::min(std::max(static_cast<int64_t>(std::floor(wanted + 0.5)), int64_t{0}), most);
}

}  // namespace

void frame_digit(const uint8_t* pixels, int64_t height, int64_t width, float* out) {
  std::fill(out, out + kFrame * kFrame, 0.0f);
  // Each row's brightest pixel first (one vectorisable pass): the page's peak, and which
  // rows hold ink at all.
  std::vector<uint8_t> row_peak(static_cast<size_t>(height), 0);
  for (int64_t row = 0; row < height; ++row) {
    const uint8_t* line = pixels + row * width;
    uint8_t most = 0;
    for (int64_t col = 0; col < width; ++col) most = std::max(most, line[col]);
    row_peak[row] = most;
  }
  const uint8_t brightest = *std::max_element(row_peak.begin(), row_peak.end());
  const double peak = std::min(static_cast<double>(brightest) / 255.0, 1.0);
  if (peak < kEmptyPeak) return;
  const double threshold = kInkFraction * peak * 255.0;
  const uint8_t threshold_u8 = static_cast<uint8_t>(std::min(std::ceil(threshold), 255.0));

  // _ink_bounding_box: rows with a pixel at the threshold, and the columns they reach
  // (each column's brightest pixel over those rows: again one vectorisable pass a row).
  int64_t top = -1, bottom = -1;
  std::vector<uint8_t> column_peak(static_cast<size_t>(width), 0);
  for (int64_t row = 0; row < height; ++row) {
    if (row_peak[row] < threshold_u8) continue;
    if (top < 0) top = row;
    bottom = row;
    const uint8_t* line = pixels + row * width;
    for (int64_t col = 0; col < width; ++col) column_peak[col] = std::max(column_peak[col], line[col]);
  }
  int64_t left = 0, right = width - 1;
  while (column_peak[left] < threshold_u8) ++left;
  while (column_peak[right] < threshold_u8) --right;
  const int64_t h = bottom - top + 1, w = right - left + 1, longer = std::max(h, w);

  // _fit_box: down @ crop @ across.T, the crop scaled to [0, 1] in float32 first. Each
  // input row (column) reaches one or two output rows (columns) when shrinking: only
  // those products are summed, in float64.
  int64_t out_h = 0, out_w = 0;
  const std::vector<float> down = overlap_matrix(h, static_cast<double>(kBox * h) / longer, &out_h);
  const std::vector<float> across = overlap_matrix(w, static_cast<double>(kBox * w) / longer, &out_w);
  // The crop's values as numpy scales them (float32 pixel times float32(1/255), clipped):
  // 256 of them, looked up.
  const float unit = static_cast<float>(1.0 / 255.0);
  double scaled[256];
  for (int v = 0; v < 256; ++v) scaled[v] = std::min(std::max(static_cast<float>(v) * unit, 0.0f), 1.0f);
  std::vector<double> shrunk(static_cast<size_t>(out_h * w), 0.0);
  std::vector<double> values(static_cast<size_t>(w));
  for (int64_t i = 0; i < h; ++i) {
    const uint8_t* line = pixels + (top + i) * width + left;
    for (int64_t c = 0; c < w; ++c) values[c] = scaled[line[c]];
    for (int64_t j = 0; j < out_h; ++j) {
      const double weight = down[j * h + i];
      if (weight == 0.0) continue;
      double* __restrict sums = shrunk.data() + j * w;
      const double* __restrict row = values.data();
      for (int64_t c = 0; c < w; ++c) sums[c] += weight * row[c];
    }
  }
  std::vector<double> narrowed(static_cast<size_t>(out_h * out_w), 0.0);
  for (int64_t c = 0; c < w; ++c) {
    for (int64_t k = 0; k < out_w; ++k) {
      const double weight = across[k * w + c];
      if (weight == 0.0) continue;
      for (int64_t j = 0; j < out_h; ++j) {
        // numpy's product reads the first one rounded to float32.
        narrowed[j * out_w + k] += weight * static_cast<double>(static_cast<float>(shrunk[j * w + c]));
      }
    }
  }
  std::vector<float> digit(static_cast<size_t>(out_h * out_w));
  float largest = 0.0f;
  for (size_t k = 0; k < digit.size(); ++k) {
    digit[k] = static_cast<float>(narrowed[k]);
    largest = std::max(largest, digit[k]);
  }
  for (float& value : digit) value /= largest;

  // _place_by_centre_of_mass, in float64.
  double total = 0.0, row_moment = 0.0, col_moment = 0.0;
  for (int64_t j = 0; j < out_h; ++j) {
    for (int64_t k = 0; k < out_w; ++k) {
      const double value = digit[j * out_w + k];
      total += value;
      row_moment += value * static_cast<double>(j);
      col_moment += value * static_cast<double>(k);
    }
  }
  const int64_t at_row = whole_pixel_shift(kPlacement - row_moment / total, kFrame - out_h);
  const int64_t at_col = whole_pixel_shift(kPlacement - col_moment / total, kFrame - out_w);
  for (int64_t j = 0; j < out_h; ++j) {
    std::copy(digit.begin() + j * out_w, digit.begin() + (j + 1) * out_w, out + (at_row + j) * kFrame + at_col);
  }
}

}  // namespace aegui
