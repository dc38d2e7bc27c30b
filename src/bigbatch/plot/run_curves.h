// `bigbatch plot`: training and test top-1 error vs epoch of several runs, read from each run
// directory's metrics.jsonl, drawn side by side like the paper's Fig. 2/3.
#pragma once

#include <string>
#include <vector>

namespace bigbatch::plot {

// The epoch curves of one run, errors in percent. NaN where the metrics line had null.
struct RunCurves {
  std::string label;  // the "label" of a {"kind":"run"} line, else the directory's name
  std::vector<double> epoch, train_err, test_err;
};

// Reads <run_dir>/metrics.jsonl. Epoch lines need numeric "epoch", "train_top1_err" and
// "test_top1_err" (fractions; null allowed); other kinds are ignored. A later line for the same
// epoch replaces an earlier one (a resumed run logs it again), and epochs come out sorted.
// An unterminated last line that is not JSON is ignored (the run is writing it).
// Throws InvalidArgument "[plot] <file>:<line>: ..." on a malformed line, Error if the file cannot
// be read, InvalidArgument if it has no epoch lines.
RunCurves read_run(const std::string& run_dir);

// Two panels, training error (%) and test top-1 error (%) vs epochs, one series per run, written to
// out_png. Throws as read_run and render_panels do.
void plot_runs(const std::vector<std::string>& run_dirs, const std::string& out_png);

}  // namespace bigbatch::plot
