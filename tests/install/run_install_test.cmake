# CTest script (tests/CMakeLists.txt, test Install.CMakeAndPkgConfig):
# installs the build into a scratch prefix, checks what landed there, builds
# hello_gemma.cc against it through find_package(gemma) and through
# pkg-config, and runs both and the installed program on the installed tiny
# model.
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DCXX=... -P run_install_test.cmake
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_install_test.cmake needs -D${var}=...")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "failed (${rc}): ${command}\n${out}${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# GNUInstallDirs may pick lib/ or lib/<multiarch>/: find the files.
file(GLOB_RECURSE archive ${prefix}/lib*/libgemma.a)
file(GLOB_RECURSE pc_file ${prefix}/lib*/pkgconfig/gemma.pc)
file(GLOB_RECURSE config ${prefix}/lib*/cmake/gemma/gemmaConfig.cmake)
foreach(found archive pc_file config)
  list(LENGTH ${found} n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "install: expected one ${found}, found '${${found}}'")
  endif()
endforeach()
foreach(file bin/gemma include/gemma/gemma.h include/gemma/status.h include/gemma/sampling.h
             include/gemma/tools.h include/gemma/engine.h include/gemma/serve.h share/gemma/tiny-gemma3.gguf)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "install: ${prefix}/${file} is missing")
  endif()
endforeach()
set(model ${prefix}/share/gemma/tiny-gemma3.gguf)

# The installed program runs from its new place.
run(${prefix}/bin/gemma run -m ${model} -p Hello -n 4 --temp 0 -t 1)

# find_package(gemma) -> gemma::gemma
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install -B ${WORK_DIR}/cmake-build
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cmake-build)
run(${WORK_DIR}/cmake-build/hello_gemma ${model})
if(NOT run_output MATCHES "architecture gemma3, [1-9][0-9]* pieces streamed\nserved /health")
  message(FATAL_ERROR "hello_gemma (CMake) printed: ${run_output}")
endif()

# pkg-config: one compile-and-link line.
get_filename_component(pc_dir ${pc_file} DIRECTORY)
find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} ${PKG_CONFIG} --cflags --libs gemma)
string(STRIP "${run_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${CXX} -std=c++20 -O1 ${SOURCE_DIR}/tests/install/hello_gemma.cc -o ${WORK_DIR}/hello_pc
    ${flags})
run(${WORK_DIR}/hello_pc ${model})
if(NOT run_output MATCHES "architecture gemma3, [1-9][0-9]* pieces streamed\nserved /health")
  message(FATAL_ERROR "hello_gemma (pkg-config) printed: ${run_output}")
endif()
message(STATUS "install: CMake package and pkg-config builds run")
