// `import aegui._C`: loading this library registers the ops with torch (bindings.cpp), and
// the module itself offers the drawing's two kernels (cpu/drawing_kernels.h) to numpy
// arrays directly, through the buffer protocol:
//
//   paint_pieces(image, pieces, erase) -> (x0, y0, x1, y1) | None
//       image: 2-D uint8, C-contiguous, writable, painted in place; pieces: (K, 5) float64.
//   frame_digit(page, frame) -> None
//       page: non-empty 2-D uint8, C-contiguous; frame: (28, 28) float32, written whole.
//
// Why not torch ops: they run on every mouse move (the canvas paints twice, on the UI
// thread) and every drawing (the inference thread frames it). A torch op call goes through
// the dispatcher, boxes its arguments and wraps each array in a tensor; between events,
// with that code and data cold again, it cost 45-60 us where the painting itself takes a
// few. These calls keep the global lock: a call takes microseconds, and letting go would
// hand the lock to the other thread and wait to get it back.
#include <Python.h>

#include <cstdint>

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
  if (*format == '@' || *format == '=' || *format == '<') ++format;
  return format[0] != '\0' && format[1] == '\0' ? format[0] : '\0';
}

// Takes `object`'s buffer as a C-contiguous 2-D array of `code` items, `rows` x `columns`
// where they are not -1, writable when asked; else sets a ValueError that says what
// `argument` of `function` must be (`wanted`) and returns false.
bool take(PyObject* object, Held& held, const char* function, const char* argument, const char* wanted, char code,
          Py_ssize_t rows, Py_ssize_t columns, bool writable) {
  const int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(object, &held.view, flags) != 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%s: %s must be %s, got a %s that is not one", function, argument, wanted,
                 Py_TYPE(object)->tp_name);
    return false;
  }
  held.held = true;
  const Py_buffer& v = held.view;
  const bool shaped = v.ndim == 2 && (rows < 0 || v.shape[0] == rows) && (columns < 0 || v.shape[1] == columns);
  if (item_code(v) != code || !shaped) {
    PyErr_Format(PyExc_ValueError, "%s: %s must be %s, got %d-D items '%s'", function, argument, wanted, v.ndim,
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
  if (!take(args[0], image, "paint_pieces", "image", "a C-contiguous, writable 2-D uint8 array", 'B', -1, -1, true) ||
      !take(args[1], pieces, "paint_pieces", "pieces", "a C-contiguous (K, 5) float64 array", 'd', -1, 5, false)) {
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
  if (!take(args[0], page, "frame_digit", "page", "a C-contiguous 2-D uint8 array", 'B', -1, -1, false) ||
      !take(args[1], frame, "frame_digit", "frame", "a C-contiguous, writable (28, 28) float32 array", 'f', 28,
            28, true)) {
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

PyMethodDef methods[] = {
    {"paint_pieces", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(paint_pieces)), METH_FASTCALL,
     "paint_pieces(image, pieces, erase): aegui.raster's straight pieces painted into image, in place; the box "
     "(x0, y0, x1, y1) of pixels that may have changed, or None."},
    {"frame_digit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(frame_digit)), METH_FASTCALL,
     "frame_digit(page, frame): aegui.preprocess.mnist_style of a uint8 page, written into a (28, 28) float32 "
     "frame."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_C", "The op's library: the drawing's kernels.", -1,
                                   methods};
  return PyModule_Create(&def);
}
