# Optional GPU backends (STYLE §1, §10), included by the top-level CMakeLists.txt.
# BIGBATCH_CUDA defaults to ON when nvcc, cuBLAS and cuDNN are found, BIGBATCH_NCCL when NCCL
# is found too; OFF builds link stub files, so sources carry no #ifdef.
# Hints: CUDAToolkit_ROOT (or nvcc on PATH, or /usr/local/cuda), CUDNN_ROOT, NCCL_ROOT (cache
# variables or environment), e.g. a pip wheel's site-packages/nvidia/cudnn.
include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "CUDA compiler")
endif()
check_language(CUDA)

set(_bigbatch_cuda_found OFF)
set(_bigbatch_nccl_found OFF)
if(CMAKE_CUDA_COMPILER)
  get_filename_component(_bigbatch_cuda_bin "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(_bigbatch_cuda_root "${_bigbatch_cuda_bin}" DIRECTORY)
  if(NOT CUDAToolkit_ROOT)
    set(CUDAToolkit_ROOT "${_bigbatch_cuda_root}")
  endif()
  find_package(CUDAToolkit QUIET)
  # Wheels ship only the versioned names (libcudnn.so.9, libnccl.so.2): look for those too.
  set(_bigbatch_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_ROOT} ${_bigbatch_cuda_root})
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_bigbatch_hints} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS ${_bigbatch_hints} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64 targets/x86_64-linux/lib)
  if(CUDAToolkit_FOUND AND TARGET CUDA::cublas AND CUDNN_INCLUDE_DIR AND CUDNN_LIBRARY)
    set(_bigbatch_cuda_found ON)
  endif()
  set(_bigbatch_nccl_hints ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_ROOT} ${_bigbatch_cuda_root})
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_bigbatch_nccl_hints} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${_bigbatch_nccl_hints} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64 targets/x86_64-linux/lib)
  if(_bigbatch_cuda_found AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(_bigbatch_nccl_found ON)
  endif()
endif()

option(BIGBATCH_CUDA "Build the CUDA backend (cuDNN, cuBLAS); otherwise stubs that throw" ${_bigbatch_cuda_found})
option(BIGBATCH_NCCL "Build the NCCL communicator; otherwise a stub that throws" ${_bigbatch_nccl_found})
if(BIGBATCH_CUDA AND NOT _bigbatch_cuda_found)
  message(FATAL_ERROR "BIGBATCH_CUDA is ON but nvcc, cuBLAS or cuDNN was not found "
                      "(nvcc: '${CMAKE_CUDA_COMPILER}', cudnn.h: '${CUDNN_INCLUDE_DIR}', libcudnn: '${CUDNN_LIBRARY}'); "
                      "set CUDNN_ROOT or CUDAToolkit_ROOT")
endif()
if(BIGBATCH_NCCL AND NOT BIGBATCH_CUDA)
  message(FATAL_ERROR "BIGBATCH_NCCL needs BIGBATCH_CUDA")
endif()
if(BIGBATCH_NCCL AND NOT _bigbatch_nccl_found)
  message(FATAL_ERROR "BIGBATCH_NCCL is ON but nccl.h or libnccl was not found; set NCCL_ROOT")
endif()

if(BIGBATCH_CUDA)
  # H100/H200 by default; override with -DCMAKE_CUDA_ARCHITECTURES=80 (A100) and so on.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)
  endif()
  enable_language(CUDA)
  # .cu files compile as C++20 like the rest (CUDA_STANDARD follows CXX_STANDARD); CMake 3.25
  # does not know nvcc's C++20 flag yet, so it is named here.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  add_library(bigbatch_cudnn INTERFACE)
  target_include_directories(bigbatch_cudnn SYSTEM INTERFACE ${CUDNN_INCLUDE_DIR})
  target_link_libraries(bigbatch_cudnn INTERFACE ${CUDNN_LIBRARY})
  if(BIGBATCH_NCCL)
    add_library(bigbatch_nccl INTERFACE)
    target_include_directories(bigbatch_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
    target_link_libraries(bigbatch_nccl INTERFACE ${NCCL_LIBRARY} CUDA::cudart)
  endif()
endif()
message(STATUS "bigbatch: CUDA backend ${BIGBATCH_CUDA}, NCCL ${BIGBATCH_NCCL}")
