// The drawing's kernels in C++, over plain pointers: the pen's pixels (raster_cpu.cpp,
// aegui.raster's twin), the page framed like MNIST (framing_cpu.cpp, the twin of
// aegui.preprocess.mnist_style), and grey levels coloured for the screen (colour_cpu.cpp).
// Python calls them through python_module.cpp, not through torch's dispatcher: the canvas
// paints on the UI thread twice per mouse move, where a torch op call cost 45-60 us between
// events (its code and data cold again after each millisecond of idling) against 8 us in a
// loop; these calls touch little besides the kernel itself.
#pragma once

#include <cstdint>

namespace aegui {

// Paints `count` straight pieces (rows ax, ay, bx, by, r in pixels, float64) into the
// row-major `height` x `width` uint8 `image`, by max (pen) or min (eraser, `erase`).
// Returns false when no piece lies on the image; else true, with the box of pixels that
// may have changed in `box` (x0, y0, x1, y1, exclusive ends).
bool paint_pieces(uint8_t* image, int64_t height, int64_t width, const double* pieces, int64_t count, bool erase,
                  int64_t box[4]);

// Frames the row-major `height` x `width` uint8 `page` (ink bright; both at least 1) like
// MNIST into `frame`, 28 x 28 float32, all of which it writes (zeros when there is no ink).
void frame_digit(const uint8_t* page, int64_t height, int64_t width, float* frame);

// A result image as the app's small views show it (colour_cpu.cpp): each of `count` values
// quantised as aegui.preprocess.to_uint8 does (clipped to [0, 1], times 255, rounded half to
// even; NaN to 0) into `pixels`, and looked up in the 256 `colours` into `rgb`.
void colour_image(const float* image, int64_t count, const uint32_t* colours, uint8_t* pixels, uint32_t* rgb);
void colour_image(const double* image, int64_t count, const uint32_t* colours, uint8_t* pixels, uint32_t* rgb);

// The grey levels of `ink` (row-major, `width` wide) in the box x0 <= x < x1, y0 <= y < y1
// looked up in the 256 `colours`, into the same pixels of `rgb` (colour_cpu.cpp).
void colour_box(const uint8_t* ink, int64_t width, const uint32_t* colours, uint32_t* rgb, int64_t x0, int64_t y0,
                int64_t x1, int64_t y1);

}  // namespace aegui
