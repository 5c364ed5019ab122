// The entry points declared in isa_entry.h, defined once for every instruction set: the
// including file includes this after kernels.inl, inside its set's namespace, having named
// its vector types `VecFloat` and `VecDouble`.

void forward_f32(const ForwardParams& p, int64_t r0, int64_t r1) { forward_rows<VecFloat>(p, r0, r1); }
void forward_f64(const ForwardParams& p, int64_t r0, int64_t r1) { forward_rows<VecDouble>(p, r0, r1); }
void backward_f32(const BackwardParams& p, int64_t r0, int64_t r1, float* acc, float* scratch) {
  backward_rows<VecFloat>(p, r0, r1, acc, scratch);
}
void backward_f64(const BackwardParams& p, int64_t r0, int64_t r1, double* acc, double* scratch) {
  backward_rows<VecDouble>(p, r0, r1, acc, scratch);
}
