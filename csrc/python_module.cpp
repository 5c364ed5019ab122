// `import aegui._C`: loading this library registers the ops with torch (bindings.cpp), and
// the module itself offers the drawing's kernels (cpu/drawing_kernels.h) to numpy
// arrays directly, through the buffer protocol:
//
//   paint_pieces(image, pieces, erase) -> (x0, y0, x1, y1) | None
//       image: 2-D uint8, C-contiguous, writable, painted in place; pieces: (K, 5) float64.
//   frame_digit(page, frame) -> None
//       page: non-empty 2-D uint8, C-contiguous; frame: (28, 28) float32, written whole.
//   colour_image(image, colours, pixels, rgb) -> None
//       image: 2-D float32 or float64; colours: (256,) uint32; pixels (uint8) and rgb
//       (uint32): the image's shape, written whole.
//   colour_box(ink, colours, rgb, (x0, y0, x1, y1)) -> None
//       ink: 2-D uint8; rgb: uint32 of its shape, written in the box only.
//
// Why not torch ops, or numpy: they run on every mouse move (the canvas paints twice, on
// the UI thread) and every drawing (the inference thread frames it; the UI thread shows the
// frame and the reconstruction, a handful of numpy calls on 784 numbers each otherwise). A
// torch op call goes through the dispatcher, boxes its arguments and wraps each array in a
// tensor; between events, with that code and data cold again, it cost 45-60 us where the
// painting itself takes a few. These calls keep the global lock: a call takes microseconds,
// and letting go would hand the lock to the other thread and wait to get it back.
#include <Python.h>

#include <cstdint>
#include <cstring>

#include "cpu/drawing_kernels.h"

namespace {

// A buffer held for the length of a call.
struct Held {
  Py_buffer view{};
  bool held = false;
  ~Held() {
    if (held) PyBuffer_Release(&view);
  }
};

// The one-letter struct code of a buffer's items, without a native byte-order prefix
// ('\0' when the buffer says another byte order or is not a single item).
char item_code(const Py_buffer& view) {
  const char* format = view.format == nullptr ? "B" : view.format;
  const char native_order = PY_LITTLE_ENDIAN ? '<' : '>';
  if (*format == '@' || *format == '=' || *format == native_order) ++format;
  return format[0] != '\0' && format[1] == '\0' ? format[0] : '\0';
}

// What an argument must be: C-contiguous, `ndim`-D (1 or 2), of items whose one-letter
// code is in `codes` and whose size is `itemsize` (0: what the code says), with `shape[i]`
// items along axis i where that is not -1; writable when asked.
struct Wanted {
  const char* text;  // said in the error: "a C-contiguous 2-D uint8 array"
  const char* codes;
  Py_ssize_t itemsize;
  int ndim;
  Py_ssize_t shape[2];
  bool writable;
};

// Takes `object`'s buffer as `wanted`; else sets a ValueError that says what `argument` of
// `function` must be and returns false.
bool take(PyObject* object, Held& held, const char* function, const char* argument, const Wanted& wanted) {
  const int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (wanted.writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(object, &held.view, flags) != 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%s: %s must be %s, got a %s that is not one", function, argument, wanted.text,
                 Py_TYPE(object)->tp_name);
    return false;
  }
  held.held = true;
  const Py_buffer& v = held.view;
  const char code = item_code(v);
  bool fits = v.ndim == wanted.ndim && (wanted.itemsize == 0 || v.itemsize == wanted.itemsize) && code != '\0' &&
              std::strchr(wanted.codes, code) != nullptr;
  for (int axis = 0; fits && axis < wanted.ndim; ++axis) {
    fits = wanted.shape[axis] < 0 || v.shape[axis] == wanted.shape[axis];
  }
  if (!fits) {
    PyErr_Format(PyExc_ValueError, "%s: %s must be %s, got %d-D items '%s'", function, argument, wanted.text, v.ndim,
                 v.format == nullptr ? "B" : v.format);
    return false;
  }
  return true;
}

PyObject* paint_pieces(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3) {
    PyErr_Format(PyExc_TypeError, "paint_pieces(image, pieces, erase) takes 3 arguments, got %zd", nargs);
    return nullptr;
  }
  Held image, pieces;
  if (!take(args[0], image, "paint_pieces", "image",
            {"a C-contiguous, writable 2-D uint8 array", "B", 1, 2, {-1, -1}, true}) ||
      !take(args[1], pieces, "paint_pieces", "pieces",
            {"a C-contiguous (K, 5) float64 array", "d", 8, 2, {-1, 5}, false})) {
    return nullptr;
  }
  const int erase = PyObject_IsTrue(args[2]);
  if (erase < 0) return nullptr;
  int64_t box[4];
  const bool changed = aegui::paint_pieces(static_cast<uint8_t*>(image.view.buf), image.view.shape[0],
                                           image.view.shape[1], static_cast<const double*>(pieces.view.buf),
                                           pieces.view.shape[0], erase != 0, box);
  if (!changed) Py_RETURN_NONE;
  return Py_BuildValue("(LLLL)", static_cast<long long>(box[0]), static_cast<long long>(box[1]),
                       static_cast<long long>(box[2]), static_cast<long long>(box[3]));
}

PyObject* frame_digit(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_Format(PyExc_TypeError, "frame_digit(page, frame) takes 2 arguments, got %zd", nargs);
    return nullptr;
  }
  Held page, frame;
  if (!take(args[0], page, "frame_digit", "page", {"a C-contiguous 2-D uint8 array", "B", 1, 2, {-1, -1}, false}) ||
      !take(args[1], frame, "frame_digit", "frame",
            {"a C-contiguous, writable (28, 28) float32 array", "f", 4, 2, {28, 28}, true})) {
    return nullptr;
  }
  if (page.view.shape[0] < 1 || page.view.shape[1] < 1) {
    PyErr_SetString(PyExc_ValueError, "frame_digit: page is empty");
    return nullptr;
  }
  aegui::frame_digit(static_cast<const uint8_t*>(page.view.buf), page.view.shape[0], page.view.shape[1],
                     static_cast<float*>(frame.view.buf));
  Py_RETURN_NONE;
}

// colour_image(image, colours, pixels, rgb): a result image as a small view shows it.
PyObject* colour_image(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 4) {
    PyErr_Format(PyExc_TypeError, "colour_image(image, colours, pixels, rgb) takes 4 arguments, got %zd", nargs);
    return nullptr;
  }
  Held image, colours, pixels, rgb;
  if (!take(args[0], image, "colour_image", "image",
            {"a C-contiguous 2-D float32 or float64 array", "fd", 0, 2, {-1, -1}, false}) ||
      !take(args[1], colours, "colour_image", "colours",
            {"a C-contiguous (256,) uint32 array", "IL", 4, 1, {256, -1}, false})) {
    return nullptr;
  }
  const Py_ssize_t rows = image.view.shape[0], columns = image.view.shape[1];
  if (!take(args[2], pixels, "colour_image", "pixels",
            {"a C-contiguous, writable uint8 array of the image's shape", "B", 1, 2, {rows, columns}, true}) ||
      !take(args[3], rgb, "colour_image", "rgb",
            {"a C-contiguous, writable uint32 array of the image's shape", "IL", 4, 2, {rows, columns}, true})) {
    return nullptr;
  }
  const auto* table = static_cast<const uint32_t*>(colours.view.buf);
  auto* grey = static_cast<uint8_t*>(pixels.view.buf);
  auto* colour = static_cast<uint32_t*>(rgb.view.buf);
  if (item_code(image.view) == 'f') {
    aegui::colour_image(static_cast<const float*>(image.view.buf), rows * columns, table, grey, colour);
  } else {
    aegui::colour_image(static_cast<const double*>(image.view.buf), rows * columns, table, grey, colour);
  }
  Py_RETURN_NONE;
}

// colour_box(ink, colours, rgb, (x0, y0, x1, y1)): the canvas's view recoloured where the
// pen just painted.
PyObject* colour_box(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 4) {
    PyErr_Format(PyExc_TypeError, "colour_box(ink, colours, rgb, box) takes 4 arguments, got %zd", nargs);
    return nullptr;
  }
  Held ink, colours, rgb;
  if (!take(args[0], ink, "colour_box", "ink", {"a C-contiguous 2-D uint8 array", "B", 1, 2, {-1, -1}, false}) ||
      !take(args[1], colours, "colour_box", "colours",
            {"a C-contiguous (256,) uint32 array", "IL", 4, 1, {256, -1}, false})) {
    return nullptr;
  }
  const Py_ssize_t height = ink.view.shape[0], width = ink.view.shape[1];
  if (!take(args[2], rgb, "colour_box", "rgb",
            {"a C-contiguous, writable uint32 array of ink's shape", "IL", 4, 2, {height, width}, true})) {
    return nullptr;
  }
  long long box[4];
  if (!PyTuple_Check(args[3]) || PyTuple_GET_SIZE(args[3]) != 4) {
    PyErr_SetString(PyExc_ValueError, "colour_box: box must be a tuple (x0, y0, x1, y1)");
    return nullptr;
  }
  for (int i = 0; i < 4; ++i) {
    box[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(args[3], i));
    if (box[i] == -1 && PyErr_Occurred()) return nullptr;
  }
  if (!(0 <= box[0] && box[0] <= box[2] && box[2] <= width && 0 <= box[1] && box[1] <= box[3] &&
        box[3] <= height)) {
    PyErr_Format(PyExc_ValueError, "colour_box: box (%lld, %lld, %lld, %lld) is not inside the %zd x %zd image",
                 box[0], box[1], box[2], box[3], width, height);
    return nullptr;
  }
  aegui::colour_box(static_cast<const uint8_t*>(ink.view.buf), width, static_cast<const uint32_t*>(colours.view.buf),
                    static_cast<uint32_t*>(rgb.view.buf), box[0], box[1], box[2], box[3]);
  Py_RETURN_NONE;
}

// The method table takes every function as a PyCFunction; a METH_FASTCALL one has another
// signature, and goes in through a plain function pointer.
template <typename Function>
PyCFunction fastcall(Function function) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(function));
}

PyMethodDef methods[] = {
    {"paint_pieces", fastcall(paint_pieces), METH_FASTCALL,
     "paint_pieces(image, pieces, erase): aegui.raster's straight pieces painted into image, in place; the box "
     "(x0, y0, x1, y1) of pixels that may have changed, or None."},
    {"frame_digit", fastcall(frame_digit), METH_FASTCALL,
     "frame_digit(page, frame): aegui.preprocess.mnist_style of a uint8 page, written into a (28, 28) float32 "
     "frame."},
    {"colour_image", fastcall(colour_image), METH_FASTCALL,
     "colour_image(image, colours, pixels, rgb): a [0, 1] image quantised as aegui.preprocess.to_uint8 does, into "
     "pixels, and looked up in the 256 colours, into rgb."},
    {"colour_box", fastcall(colour_box), METH_FASTCALL,
     "colour_box(ink, colours, rgb, (x0, y0, x1, y1)): the grey levels of ink in the box looked up in the 256 "
     "colours, into rgb."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_C", "The op's library: the drawing's kernels.", -1,
                                   methods};
  return PyModule_Create(&def);
}
