# sluice_library(NAME SRCS a.cc b.cc DEPS other libs TESTS a_test.cc)
# One static library per module, target sluice_<NAME>; includes are rooted at src/.
# TESTS become one GoogleTest binary, sluice_<NAME>_test, registered with CTest.
# FUZZERS name libFuzzer sources (see SLUICE_FUZZ).
function(sluice_library NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;TESTS;FUZZERS" ${ARGN})
  set(target sluice_${NAME})
  add_library(${target} STATIC ${ARG_SRCS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
  target_link_libraries(${target} PUBLIC ${ARG_DEPS})
  if(ARG_TESTS AND NOT SLUICE_FUZZ)
    add_executable(${target}_test ${ARG_TESTS})
    target_compile_options(${target}_test PRIVATE -Wall -Wextra -Werror)
    target_link_libraries(${target}_test PRIVATE ${target} GTest::gtest GTest::gtest_main)
    # Sources are compiled from the build directory with relative paths (ccache's
    # CCACHE_BASEDIR), so tests that find data files next to __FILE__ run from there.
    gtest_discover_tests(${target}_test DISCOVERY_TIMEOUT 30 WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  endif()
  # FUZZERS: libFuzzer targets (one per parser), built with -DSLUICE_FUZZ=ON under clang.
  if(SLUICE_FUZZ)
    foreach(src ${ARG_FUZZERS})
      get_filename_component(fuzzer ${src} NAME_WE)
      add_executable(${fuzzer} ${src})
      target_compile_options(${fuzzer} PRIVATE -fsanitize=fuzzer,address,undefined)
      target_link_options(${fuzzer} PRIVATE -fsanitize=fuzzer,address,undefined)
      target_link_libraries(${fuzzer} PRIVATE ${target})
    endforeach()
  endif()
endfunction()
