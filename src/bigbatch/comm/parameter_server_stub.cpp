// ParameterServerJob for a build without MPI (BIGBATCH_MPI=OFF): it cannot be constructed (an
// MpiSession cannot either).
#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/core/error.h"

namespace bigbatch::comm {

struct ParameterServerJob::Impl {};

ParameterServerJob::ParameterServerJob(const MpiSession&, const PsOptions&, double) {
  BIGBATCH_THROW(CommError, "[ps] bigbatch was built without MPI (configure with -DBIGBATCH_MPI=ON)");
}
ParameterServerJob::~ParameterServerJob() = default;
PsRole ParameterServerJob::role() const { return PsRole::worker; }
int ParameterServerJob::index() const { return 0; }
int ParameterServerJob::workers() const { return 1; }
int ParameterServerJob::servers() const { return 0; }
std::string ParameterServerJob::describe() const { return {}; }
Communicator& ParameterServerJob::workers_comm() { BIGBATCH_THROW(CommError, "[ps] built without MPI"); }
BucketExchange& ParameterServerJob::connect(const ArenaLayout&, const std::vector<Bucket>&) {
  BIGBATCH_THROW(CommError, "[ps] built without MPI");
}
const std::vector<int64_t>& ParameterServerJob::server_loads() const {
  static const std::vector<int64_t> none;
  return none;
}
bool ParameterServerJob::update_on_servers() const { return false; }
void ParameterServerJob::set_parameters(const Arena&) {}
void ParameterServerJob::set_lr(double) {}
void ParameterServerJob::load_servers(const Arena&, const Arena&, double) {}
void ParameterServerJob::gather_momentum(const Arena&) {}
void ParameterServerJob::finish() {}
void ParameterServerJob::serve(ShardUpdater*) {}

}  // namespace bigbatch::comm
