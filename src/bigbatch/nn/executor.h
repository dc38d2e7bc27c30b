// Runs a Graph's forward and backward for a fixed batch on one backend. Everything (buffers,
// primitives, memory formats) is planned at construction; a step allocates nothing.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "bigbatch/core/arena.h"
#include "bigbatch/core/dtype.h"
#include "bigbatch/core/tensor.h"
#include "bigbatch/nn/graph.h"

namespace bigbatch::nn {

struct ExecutorOptions {
  int64_t batch = 1;             // examples per forward call (v virtual workers × n)
  int64_t bn_group = 0;          // examples per batch-norm statistics group (n); 0 = whole batch
  DType precision = DType::f32;  // compute type of activations; parameters stay f32
};

// Which dropout masks the next training forwards draw (ops/dropout.h): the run's seed, the
// optimizer step, and the pass's first example in the step's global batch (its worker's offset
// plus its micro-batch's), so that the masks do not depend on how the batch is split.
struct DropoutDraw {
  uint64_t seed = 0;
  uint64_t step = 0;
  int64_t first_example = 0;
};

// The mask key of dropout node `node` under `draw`: every executor draws through this.
inline ops::DropoutKey dropout_key(const DropoutDraw& draw, int node) {
  return {ops::dropout_stream(draw.seed, draw.step, static_cast<uint64_t>(node)), draw.first_example};
}

// Called during backward as soon as the parameter gradients of node `id` are final.
using GradsReadyHook = std::function<void(int id)>;

class Executor {
 public:
  virtual ~Executor() = default;

  // src: batch×C×H×W f32 (NCHW). training: BN normalises with per-group batch statistics
  // and updates the running statistics in the buffer arena; otherwise uses them.
  virtual void forward(const Tensor& src, bool training) = 0;
  // batch×classes f32 of the last forward.
  virtual const Tensor& logits() const = 0;
  // Back-propagates diff_logits (batch×classes f32) through the last training forward,
  // overwriting the gradient arena; hook(id) fires when node id's gradients are final.
  virtual void backward(const Tensor& diff_logits, const GradsReadyHook& hook = {}) = 0;

  // Read by the next training forward (graphs with dropout only); backward reuses its masks.
  void set_dropout_draw(const DropoutDraw& draw) { draw_ = draw; }
  const DropoutDraw& dropout_draw() const { return draw_; }

 private:
  DropoutDraw draw_;
};

// The bound arenas must outlive the executor; the executor reads params at every forward.
struct ExecutorBindings {
  const Graph* graph = nullptr;
  const Arena* params = nullptr;
  const Arena* grads = nullptr;    // same layout as params
  const Arena* buffers = nullptr;  // BN running statistics
};

// oneDNN on the CPU: blocked formats between layers, fused BN+ReLU, cached primitives.
// Throws BackendError in a build without oneDNN (BIGBATCH_DNNL=OFF).
std::unique_ptr<Executor> make_cpu_executor(const ExecutorBindings& bindings, const ExecutorOptions& options);
// True when the CPU runs bf16 convolutions natively (false without oneDNN).
bool cpu_has_native_bf16();
// The CPU backend's tuned convolution algorithms as text, one "winograd|direct <shape>" line
// each, and their replay before any executor is planned: timing differs from process to
// process, so a resumed run continues bitwise only with the choices of the run it continues.
// replay throws InvalidArgument "[train] <source>:<line>: ..." on a malformed record. Without
// oneDNN the record is empty and replay does nothing.
std::string cpu_tuning_record();
void replay_cpu_tuning(const std::string& record, const std::string& source);
// Plain loops over the ops' reference implementations, in T = float or double (the oracle).
template <class T>
std::unique_ptr<Executor> make_reference_executor(const ExecutorBindings& bindings, const ExecutorOptions& options);

}  // namespace bigbatch::nn
