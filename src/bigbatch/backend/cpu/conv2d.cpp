// oneDNN convolution: primitive descriptors planned once per shape, the algorithm of each
// direction chosen by timing (cached by shape), and the weights reorders that keep the
// arena in plain OIHW f32.
#include "bigbatch/backend/cpu/conv2d.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

using tag = memory::format_tag;
using dt = memory::data_type;
using Alg = dnnl::algorithm;

namespace {

constexpr int kTimedRuns = 3;

// Best of a few runs of a primitive on zero-filled scratch buffers (plan time only).
double time_ms(const dnnl::primitive_desc& pd, const std::vector<int>& args) {
  const dnnl::primitive prim(pd);
  ArgMap map;
  for (int arg : args) {
    memory m = make_memory(pd.query_md(dnnl::query::exec_arg_md, arg));
    std::memset(m.get_data_handle(), 0, m.get_desc().get_size());
    map.emplace(arg, m);
  }
  map.emplace(DNNL_ARG_SCRATCHPAD, make_scratchpad(pd.scratchpad_desc().get_size()));
  dnnl::stream& stream = context().stream;
  prim.execute(stream, map);  // warm-up: first-touch of the buffers
  stream.wait();
  double best = 1e30;
  for (int i = 0; i < kTimedRuns; ++i) {
    const auto start = std::chrono::steady_clock::now();
    prim.execute(stream, map);
    stream.wait();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// A layer shape recurs (residual stages, every executor of a run): time each choice once.
struct TunedChoices {
  std::mutex mutex;
  std::map<std::string, bool> winograd;  // shape key -> Winograd is faster
};
TunedChoices& tuned_choices() {
  static TunedChoices choices;
  return choices;
}

bool winograd_is_faster(const std::string& key, const std::function<double(Alg)>& time) {
  TunedChoices& choices = tuned_choices();
  {
    std::lock_guard<std::mutex> lock(choices.mutex);
    auto it = choices.winograd.find(key);
    if (it != choices.winograd.end()) return it->second;
  }
  const bool faster = time(Alg::convolution_winograd) < time(Alg::convolution_direct);
  std::lock_guard<std::mutex> lock(choices.mutex);
  choices.winograd.emplace(key, faster);
  return faster;
}

// Direct, or Winograd where asked (or faster, when tuning) and available. make(alg) returns
// an empty descriptor when oneDNN has no implementation.
template <class Pd, class Make>
Pd choose(ConvAlgorithm algorithm, const std::string& key, Make make, const std::vector<int>& args) {
  if (algorithm != ConvAlgorithm::direct) {
    Pd winograd = make(Alg::convolution_winograd);
    if (winograd && algorithm == ConvAlgorithm::winograd) return winograd;
    if (winograd && winograd_is_faster(key, [&](Alg alg) {
          return alg == Alg::convolution_winograd ? time_ms(winograd, args) : time_ms(make(alg), args);
        }))
      return winograd;
  }
  Pd direct = make(Alg::convolution_direct);
  BIGBATCH_CHECK(direct, "[conv2d] oneDNN has no direct convolution for " << key);
  return direct;
}

}  // namespace

std::map<std::string, bool> tuned_conv_choices() {
  TunedChoices& choices = tuned_choices();
  std::lock_guard<std::mutex> lock(choices.mutex);
  return choices.winograd;
}

void preset_tuned_conv_choices(const std::map<std::string, bool>& choices) {
  TunedChoices& tuned = tuned_choices();
  std::lock_guard<std::mutex> lock(tuned.mutex);
  for (const auto& [key, winograd] : choices) tuned.winograd.insert_or_assign(key, winograd);
}

Conv2d::Conv2d(const ops::Conv2dParams& p, const ops::Dims4& src_dims, dt dtype, const memory::desc& src_md,
               bool backward_data, ConvAlgorithm algorithm)
    : p_(p), dst_dims_(ops::conv2d_dst_dims(p, src_dims)) {
  const Context& ctx = context();
  const memory::dims strides = {p.stride_h, p.stride_w};
  const memory::dims pad_l = {p.pad_h, p.pad_w};
  // oneDNN wants the padding that makes its output size formula exact (floor mode); it may
  // be negative on the right when the last window would not fit.
  const memory::dims pad_r = {(dst_dims_.h - 1) * p.stride_h + p.kernel_h - src_dims.h - p.pad_h,
                              (dst_dims_.w - 1) * p.stride_w + p.kernel_w - src_dims.w - p.pad_w};
  const memory::dims weights_dims = {p.out_channels, p.in_channels, p.kernel_h, p.kernel_w};
  weights_plain_md_ = memory::desc(weights_dims, dt::f32, tag::oihw);
  if (p.bias) bias_md_ = memory::desc({p.out_channels}, dt::f32, tag::a);
  const memory::desc weights_any(weights_dims, dtype, tag::any);
  const memory::desc diff_weights_any(weights_dims, dt::f32, tag::any);
  const dnnl::primitive_attr attr = scratchpad_attr();
  std::ostringstream shape;
  shape << src_dims.to_string() << " " << describe(src_md) << " o" << p.out_channels << " k" << p.kernel_h << "x"
        << p.kernel_w << " s" << p.stride_h << " p" << p.pad_h << " bias" << p.bias;
  const std::string where = "[conv2d] " + shape.str();
  auto with_bias = [&](std::vector<int> args, int bias_arg) {
    if (p.bias) args.push_back(bias_arg);
    return args;
  };

  // Forward with the given src layout (or any) and dst any; the backward directions then use
  // the layouts it chose, so activations keep one layout between layers.
  auto make_fwd = [&](Alg alg, const memory::desc& src, const memory::desc& dst) {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, alg, src, weights_any, bias_md_, dst, strides,
                                      pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(d, attr, ctx.engine, true);
  };
  BIGBATCH_DNNL(where + " forward plan", {
    fwd_pd_ = choose<dnnl::convolution_forward::primitive_desc>(
        algorithm, shape.str() + " fwd", [&](Alg alg) { return make_fwd(alg, src_md, any_md(dst_dims_, dtype)); },
        with_bias({DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, DNNL_ARG_BIAS));
    fwd_ = dnnl::convolution_forward(fwd_pd_);
  });
  src_md_ = fwd_pd_.src_desc();
  dst_md_ = fwd_pd_.dst_desc();
  weights_ = make_memory(fwd_pd_.weights_desc());
  BIGBATCH_DNNL(where + " weights reorder plan",
                weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                    ctx.engine, weights_plain_md_, ctx.engine, fwd_pd_.weights_desc(), attr)));

  if (backward_data) {
    BIGBATCH_DNNL(where + " backward_data plan", {
      bwd_data_pd_ = choose<dnnl::convolution_backward_data::primitive_desc>(
          algorithm, shape.str() + " bwd_data",
          [&](Alg alg) {
            const auto hint = make_fwd(alg, src_md_, dst_md_);
            if (!hint) return dnnl::convolution_backward_data::primitive_desc();
            dnnl::convolution_backward_data::desc d(alg, src_md_, weights_any, dst_md_, strides, pad_l, pad_r);
            return dnnl::convolution_backward_data::primitive_desc(d, attr, ctx.engine, hint, true);
          },
          {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC});
      bwd_data_ = dnnl::convolution_backward_data(bwd_data_pd_);
    });
    if (bwd_data_pd_.weights_desc() != fwd_pd_.weights_desc()) {
      bwd_data_weights_ = make_memory(bwd_data_pd_.weights_desc());
      BIGBATCH_DNNL(where + " backward_data weights reorder plan",
                    bwd_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                        ctx.engine, weights_plain_md_, ctx.engine, bwd_data_pd_.weights_desc(), attr)));
    }
  }

  // diff_weights in oneDNN's preferred layout, then reordered: asking for plain OIHW here
  // selects the reference implementation, thousands of times slower.
  BIGBATCH_DNNL(where + " backward_weights plan", {
    bwd_weights_pd_ = choose<dnnl::convolution_backward_weights::primitive_desc>(
        algorithm, shape.str() + " bwd_weights",
        [&](Alg alg) {
          const auto hint = make_fwd(alg, src_md_, dst_md_);
          if (!hint) return dnnl::convolution_backward_weights::primitive_desc();
          dnnl::convolution_backward_weights::desc d(alg, src_md_, diff_weights_any, bias_md_, dst_md_, strides, pad_l,
                                                     pad_r);
          return dnnl::convolution_backward_weights::primitive_desc(d, attr, ctx.engine, hint, true);
        },
        with_bias({DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}, DNNL_ARG_DIFF_BIAS));
    bwd_weights_ = dnnl::convolution_backward_weights(bwd_weights_pd_);
  });
  if (bwd_weights_pd_.diff_weights_desc() != weights_plain_md_) {
    diff_weights_ = make_memory(bwd_weights_pd_.diff_weights_desc());
    BIGBATCH_DNNL(where + " diff_weights reorder plan",
                  diff_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                      ctx.engine, bwd_weights_pd_.diff_weights_desc(), ctx.engine, weights_plain_md_, attr)));
  }
}

size_t Conv2d::staging_bytes() const {
  size_t bytes = fwd_pd_.weights_desc().get_size();
  if (bwd_data_) bytes = std::max(bytes, bwd_data_pd_.weights_desc().get_size());
  return std::max(bytes, bwd_weights_pd_.diff_weights_desc().get_size());
}

void Conv2d::set_staging(void* buffer) {
  const Context& ctx = context();
  weights_ = make_memory(fwd_pd_.weights_desc(), buffer);
  if (bwd_data_) {
    bwd_data_weights_ = make_memory(bwd_data_pd_.weights_desc(), buffer);
    if (!bwd_weights_reorder_)
      BIGBATCH_DNNL("[conv2d] backward_data weights reorder plan",
                    bwd_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                        ctx.engine, weights_plain_md_, ctx.engine, bwd_data_pd_.weights_desc(), scratchpad_attr())));
  }
  if (diff_weights_reorder_) diff_weights_ = make_memory(bwd_weights_pd_.diff_weights_desc(), buffer);
}

size_t Conv2d::scratchpad_bytes() const {
  size_t bytes = std::max(fwd_pd_.scratchpad_desc().get_size(), bwd_weights_pd_.scratchpad_desc().get_size());
  if (bwd_data_) bytes = std::max(bytes, bwd_data_pd_.scratchpad_desc().get_size());
  return bytes;
}

std::string Conv2d::implementation() const {
  std::string s = std::string(fwd_pd_.impl_info_str()) + " / ";
  s += bwd_data_ ? bwd_data_pd_.impl_info_str() : "-";
  return s + " / " + bwd_weights_pd_.impl_info_str();
}

void Conv2d::forward(StepList& steps, const memory& src, const memory& weights, const memory& bias,
                     const memory& dst) const {
  steps.add(weights_reorder_, {{DNNL_ARG_FROM, weights}, {DNNL_ARG_TO, weights_}}, "[conv2d] weights reorder");
  ArgMap args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
  if (p_.bias) args.emplace(DNNL_ARG_BIAS, bias);
  steps.add(fwd_, std::move(args), "[conv2d] forward");
}

void Conv2d::backward_data(StepList& steps, const memory& diff_dst, const memory& weights,
                           const memory& diff_src) const {
  BIGBATCH_CHECK(bwd_data_, "[conv2d] backward_data was not planned");
  memory bwd_weights = weights_;
  if (bwd_weights_reorder_) {
    steps.add(bwd_weights_reorder_, {{DNNL_ARG_FROM, weights}, {DNNL_ARG_TO, bwd_data_weights_}},
              "[conv2d] backward_data weights reorder");
    bwd_weights = bwd_data_weights_;
  }
  steps.add(bwd_data_, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, bwd_weights}, {DNNL_ARG_DIFF_SRC, diff_src}},
            "[conv2d] backward_data");
}

void Conv2d::backward_weights(StepList& steps, const memory& src, const memory& diff_dst, const memory& diff_weights,
                              const memory& diff_bias) const {
  ArgMap args = {{DNNL_ARG_SRC, src},
                 {DNNL_ARG_DIFF_DST, diff_dst},
                 {DNNL_ARG_DIFF_WEIGHTS, diff_weights_reorder_ ? diff_weights_ : diff_weights}};
  if (p_.bias) args.emplace(DNNL_ARG_DIFF_BIAS, diff_bias);
  steps.add(bwd_weights_, std::move(args), "[conv2d] backward_weights");
  if (diff_weights_reorder_)
    steps.add(diff_weights_reorder_, {{DNNL_ARG_FROM, diff_weights_}, {DNNL_ARG_TO, diff_weights}},
              "[conv2d] diff_weights reorder");
}

}  // namespace bigbatch::backend::cpu
