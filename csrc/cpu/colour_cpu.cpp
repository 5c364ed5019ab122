// A result image as the app's small views show it: aegui.preprocess.to_uint8, then the
// view's colour table (aegui/gui/views.py, which does the same in numpy without the
// library). Each view shows a new image per drawing, on the UI thread: in numpy that is a
// handful of calls on 784 numbers, and between strokes each call costs tens of
// microseconds; this is one.
#include <cmath>
#include <cstdint>

#include "drawing_kernels.h"

namespace aegui {
namespace {

template <typename T>
void colour(const T* image, int64_t count, const uint32_t* colours, uint8_t* pixels, uint32_t* rgb) {
  for (int64_t i = 0; i < count; ++i) {
    // to_uint8: np.maximum(x, 0), np.minimum(x, 1), * 255, np.rint, in float64.
    double value = static_cast<double>(image[i]);
    uint8_t level = 0;  // NaN shows as paper
    if (!std::isnan(value)) {
      value = value < 0.0 ? 0.0 : (value > 1.0 ? 1.0 : value);
      level = static_cast<uint8_t>(std::nearbyint(value * 255.0));  // half to even, as np.rint
    }
    pixels[i] = level;
    rgb[i] = colours[level];
  }
}

}  // namespace

void colour_image(const float* image, int64_t count, const uint32_t* colours, uint8_t* pixels, uint32_t* rgb) {
  colour(image, count, colours, pixels, rgb);
}

void colour_image(const double* image, int64_t count, const uint32_t* colours, uint8_t* pixels, uint32_t* rgb) {
  colour(image, count, colours, pixels, rgb);
}

}  // namespace aegui
