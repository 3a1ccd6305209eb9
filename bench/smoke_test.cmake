# bench_smoke: the benchmark makes every link it was asked for, checks each, and counts no error.
# Run as: cmake -DBENCH=<login_link_bench> -P smoke_test.cmake
execute_process(
  COMMAND ${BENCH} --requests 2000 --concurrency 32 --connections 8 --no-progress --json -
  RESULT_VARIABLE status
  OUTPUT_VARIABLE json
  ERROR_VARIABLE table)
message("${table}${json}")
if(NOT status EQUAL 0)
  message(FATAL_ERROR "login_link_bench exited with ${status}")
endif()
if(NOT json MATCHES "\"links\":2000,\"errors\":0,")
  message(FATAL_ERROR "expected \"links\":2000 and \"errors\":0 in the JSON")
endif()
