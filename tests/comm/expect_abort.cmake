# Runs PROGRAM's "abort" mode under MPIRUN with NP ranks: passes when the job ends with a
# non-zero status within 60 s and rank 1's error line was printed.
execute_process(COMMAND ${MPIRUN} -np ${NP} ${PROGRAM} abort
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
message(STATUS "exit: ${rc}\n${out}${err}")
if(rc MATCHES "timeout")
  message(FATAL_ERROR "the job hung: MPI_Abort did not end every rank")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "the job exited 0 although rank 1 failed")
endif()
if(NOT "${out}${err}" MATCHES "\\[rank 1\\] error: injected failure")
  message(FATAL_ERROR "rank 1's error line is missing")
endif()
