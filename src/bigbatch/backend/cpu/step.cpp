// Planned step lists: execute primitives with prebuilt argument maps.
#include "bigbatch/backend/cpu/step.h"

#include "bigbatch/backend/cpu/context.h"

namespace bigbatch::backend::cpu {

void StepList::add(const dnnl::primitive& primitive, ArgMap args, std::string where) {
  if (scratchpad_) args.emplace(DNNL_ARG_SCRATCHPAD, scratchpad_);
  std::vector<dnnl_exec_arg_t> c_args;
  for (const auto& [arg, mem] : args)
    if (mem) c_args.push_back({arg, mem.get()});
  steps_.push_back(Step{primitive, std::move(args), std::move(c_args), {}, -1, std::move(where)});
}

void StepList::add_host(std::function<void()> fn) { steps_.push_back(Step{{}, {}, {}, std::move(fn), -1, {}}); }

void StepList::add_hook(int id) { steps_.push_back(Step{{}, {}, {}, {}, id, {}}); }

void StepList::run(dnnl::stream& stream, const std::function<void(int)>& hook) const {
  for (const Step& step : steps_) {
    if (step.primitive) {
      // The C call with the prebuilt argument array: the C++ execute() would rebuild it.
      BIGBATCH_DNNL(step.where, dnnl::error::wrap_c_api(
                                    dnnl_primitive_execute(step.primitive.get(), stream.get(),
                                                           static_cast<int>(step.c_args.size()), step.c_args.data()),
                                    "could not execute a primitive"));
    } else if (step.host) {
      BIGBATCH_DNNL(step.where, stream.wait());
      step.host();
    } else if (hook) {
      BIGBATCH_DNNL("[cpu] hook", stream.wait());
      hook(step.hook);
    }
  }
  BIGBATCH_DNNL("[cpu] steps", stream.wait());
}

}  // namespace bigbatch::backend::cpu
