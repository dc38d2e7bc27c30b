// Planned step lists: execute primitives with prebuilt argument maps.
#include "bigbatch/backend/cpu/step.h"

#include "bigbatch/backend/cpu/context.h"

namespace bigbatch::backend::cpu {

void StepList::add(const dnnl::primitive& primitive, ArgMap args, std::string where) {
  if (scratchpad_) args.emplace(DNNL_ARG_SCRATCHPAD, scratchpad_);
  steps_.push_back(Step{primitive, std::move(args), {}, -1, std::move(where)});
}

void StepList::add_host(std::function<void()> fn) { steps_.push_back(Step{{}, {}, std::move(fn), -1, {}}); }

void StepList::add_hook(int id) { steps_.push_back(Step{{}, {}, {}, id, {}}); }

void StepList::run(dnnl::stream& stream, const std::function<void(int)>& hook) const {
  for (const Step& step : steps_) {
    if (step.primitive) {
      BIGBATCH_DNNL(step.where, step.primitive.execute(stream, step.args));
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
