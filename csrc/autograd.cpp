// Autograd for the bottleneck ops, registered in C++ (the Autograd dispatch key) so that a
// training step pays a few microseconds for it, not the ~10 us of a Python autograd.Function:
// that is most of the op's time at small batch sizes. Each forward calls the op below
// autograd and saves what its backward op needs; each backward is one call of the op's own
// backward kernel (CPU or CUDA). torch.compile traces through these like through any
// native op with a derivative; the fake kernels are registered from Python.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <string>
#include <tuple>

namespace aegui {
namespace {

using at::Tensor;
using c10::optional;
using c10::string_view;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// act'(pre) can be read off y = act(pre) for these, so y is kept for the backward instead
// of recomputing pre; for the others y is not kept alive.
bool derivative_from_output(string_view activation) {
  return activation == "relu" || activation == "tanh" || activation == "identity";
}

optional<Tensor> maybe(const Tensor& t) { return t.defined() ? optional<Tensor>(t) : c10::nullopt; }

template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

class BottleneckFunction : public torch::autograd::Function<BottleneckFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& h, const Tensor& w_enc, const Tensor& b_enc,
                               const Tensor& w_dec, const Tensor& b_dec, string_view activation) {
    at::AutoDispatchBelowADInplaceOrView below;
    static const auto op = op_handle<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&,
                                                                const Tensor&, const Tensor&, string_view)>(
        "aegui::bottleneck");
    auto [z, y] = op.call(h, w_enc, b_enc, w_dec, b_dec, activation);
    ctx->saved_data["activation"] = std::string(activation);
    ctx->save_for_backward({h, w_enc, z, derivative_from_output(activation) ? y : Tensor(), w_dec, b_dec});
    ctx->set_materialize_grads(false);  // an unused output's gradient stays undefined: zero
    return {z, y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto op =
        op_handle<std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor>(
            const optional<Tensor>&, const optional<Tensor>&, const Tensor&, const Tensor&, const Tensor&,
            const optional<Tensor>&, const Tensor&, const Tensor&, string_view)>("aegui::bottleneck_backward");
    const variable_list s = ctx->get_saved_variables();
    const std::string activation = ctx->saved_data["activation"].toStringRef();
    auto [g_h, g_we, g_be, g_wd, g_bd] =
        op.call(maybe(grads[0]), maybe(grads[1]), s[0], s[1], s[2], maybe(s[3]), s[4], s[5], activation);
    return {g_h, g_we, g_be, g_wd, g_bd, Tensor()};
  }
};

class VariationalFunction : public torch::autograd::Function<VariationalFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& h, const Tensor& w_mu, const Tensor& b_mu,
                               const Tensor& w_logvar, const Tensor& b_logvar, const Tensor& w_dec,
                               const Tensor& b_dec, const optional<Tensor>& eps, string_view activation) {
    at::AutoDispatchBelowADInplaceOrView below;
    static const auto op =
        op_handle<std::tuple<Tensor, Tensor, Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&,
                                                             const Tensor&, const Tensor&, const Tensor&,
                                                             const Tensor&, const optional<Tensor>&, string_view)>(
            "aegui::variational_bottleneck");
    auto [mu, logvar, z, y] = op.call(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation);
    const Tensor eps_t = eps.has_value() ? *eps : Tensor();
    ctx->saved_data["activation"] = std::string(activation);
    ctx->saved_data["has_eps"] = eps_t.defined();
    ctx->save_for_backward(
        {h, w_mu, w_logvar, eps_t, logvar, z, derivative_from_output(activation) ? y : Tensor(), w_dec, b_dec});
    ctx->set_materialize_grads(false);
    return {mu, logvar, z, y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto op =
        op_handle<std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>(
            const optional<Tensor>&, const optional<Tensor>&, const optional<Tensor>&, const optional<Tensor>&,
            const Tensor&, const Tensor&, const Tensor&, const optional<Tensor>&, const Tensor&, const Tensor&,
            const optional<Tensor>&, const Tensor&, const Tensor&, string_view)>(
            "aegui::variational_bottleneck_backward");
    const variable_list s = ctx->get_saved_variables();
    const std::string activation = ctx->saved_data["activation"].toStringRef();
    auto [g_h, g_wm, g_bm, g_wl, g_bl, g_eps, g_wd, g_bd] =
        op.call(maybe(grads[0]), maybe(grads[1]), maybe(grads[2]), maybe(grads[3]), s[0], s[1], s[2], maybe(s[3]),
                s[4], s[5], maybe(s[6]), s[7], s[8], activation);
    const bool has_eps = ctx->saved_data["has_eps"].toBool();
    return {g_h, g_wm, g_bm, g_wl, g_bl, g_wd, g_bd, has_eps ? g_eps : Tensor(), Tensor()};
  }
};

class DecodeHeadFunction : public torch::autograd::Function<DecodeHeadFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& z, const Tensor& w_dec, const Tensor& b_dec,
                               string_view activation) {
    at::AutoDispatchBelowADInplaceOrView below;
    static const auto op =
        op_handle<Tensor(const Tensor&, const Tensor&, const Tensor&, string_view)>("aegui::decode_head");
    Tensor y = op.call(z, w_dec, b_dec, activation);
    ctx->saved_data["activation"] = std::string(activation);
    ctx->save_for_backward({z, derivative_from_output(activation) ? y : Tensor(), w_dec, b_dec});
    ctx->set_materialize_grads(false);
    return {y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto op = op_handle<std::tuple<Tensor, Tensor, Tensor>(
        const optional<Tensor>&, const Tensor&, const optional<Tensor>&, const Tensor&, const Tensor&,
        string_view)>("aegui::decode_head_backward");
    const variable_list s = ctx->get_saved_variables();
    const std::string activation = ctx->saved_data["activation"].toStringRef();
    auto [g_z, g_wd, g_bd] = op.call(maybe(grads[0]), s[0], maybe(s[1]), s[2], s[3], activation);
    return {g_z, g_wd, g_bd, Tensor()};
  }
};

std::tuple<Tensor, Tensor> bottleneck_autograd(const Tensor& h, const Tensor& w_enc, const Tensor& b_enc,
                                               const Tensor& w_dec, const Tensor& b_dec, string_view activation) {
  variable_list out = BottleneckFunction::apply(h, w_enc, b_enc, w_dec, b_dec, activation);
  return {out[0], out[1]};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> variational_autograd(const Tensor& h, const Tensor& w_mu,
                                                                const Tensor& b_mu, const Tensor& w_logvar,
                                                                const Tensor& b_logvar, const Tensor& w_dec,
                                                                const Tensor& b_dec, const optional<Tensor>& eps,
                                                                string_view activation) {
  variable_list out = VariationalFunction::apply(h, w_mu, b_mu, w_logvar, b_logvar, w_dec, b_dec, eps, activation);
  return {out[0], out[1], out[2], out[3]};
}

Tensor decode_head_autograd(const Tensor& z, const Tensor& w_dec, const Tensor& b_dec, string_view activation) {
  return DecodeHeadFunction::apply(z, w_dec, b_dec, activation)[0];
}

}  // namespace

TORCH_LIBRARY_IMPL(aegui, Autograd, m) {
  m.impl("bottleneck", &bottleneck_autograd);
  m.impl("variational_bottleneck", &variational_autograd);
  m.impl("decode_head", &decode_head_autograd);
}

}  // namespace aegui
