// Grey levels to colours, for the screen. colour_image: a result image as the app's small
// views show it (aegui.preprocess.to_uint8, then the view's colour table; aegui/gui/views.py
// does the same in numpy without the library). colour_box: the part of the canvas's view
// that the pen just painted (aegui/gui/canvas.py, likewise). Both run per stroke event on
// the UI thread, where a numpy call costs tens of microseconds between events; each is one
// call here.
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

void colour_box(const uint8_t* ink, int64_t width, const uint32_t* colours, uint32_t* rgb, int64_t x0, int64_t y0,
                int64_t x1, int64_t y1) {
  for (int64_t row = y0; row < y1; ++row) {
    const uint8_t* from = ink + row * width;
    uint32_t* to = rgb + row * width;
    for (int64_t col = x0; col < x1; ++col) to[col] = colours[from[col]];
  }
}

}  // namespace aegui
