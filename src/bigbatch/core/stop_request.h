// Preemption: SIGTERM (a scheduler's notice: Slurm's scancel, a preemption, a requeue) and
// SIGINT (Ctrl-C) ask long work to stop at its next safe point, where it can write a
// checkpoint; a second signal ends the process at once with status 128 + signal.
#pragma once

namespace bigbatch {

// Installs the SIGTERM and SIGINT handlers for the process (again: no effect).
void install_stop_handlers();

// Back to the default action (the process ends at once): for a job being torn down, where a
// launcher's SIGTERM (MPI_Abort's) must not be taken as a request to finish the step.
void remove_stop_handlers();

// The signal that asked to stop, or 0 when none has.
int stop_requested();

// As if `signal` had arrived (tests, and a peer rank's request); 0 clears the request.
void set_stop_request(int signal);

// "SIGTERM", "SIGINT", else "a signal".
const char* stop_signal_name(int signal);

}  // namespace bigbatch
