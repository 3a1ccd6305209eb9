#!/usr/bin/env bash
# Writes every ```cpp block of the given Markdown files to OUT_DIR as a translation unit:
#   NAME_N_program.cpp   a block with main(): built, then run against fake-stripe (run_program.sh)
#   NAME_N_unit.cpp      a block with #include lines but no main(): compiled as it stands
#   NAME_N_fragment.cpp  anything else: statements placed in a coroutine that has a client
#                        `stripe` and a std::string `account` in scope, as the docs' text assumes
# Usage: extract_cpp_blocks.sh OUT_DIR FILE.md...
set -euo pipefail
out=$1
shift
mkdir -p "$out"
rm -f "$out"/*.cpp
for md in "$@"; do
  name=$(basename "$md" .md | tr -c 'A-Za-z0-9\n' '_')
  awk -v out="$out" -v name="$name" -v src="$(basename "$md")" '
    function flush(   kind, file, i) {
      kind = "fragment"
      if (text ~ /int main\(/) kind = "program"
      else if (text ~ /(^|\n)#include/) kind = "unit"
      file = out "/" name "_" n "_" kind ".cpp"
      if (kind == "fragment") {
        print "// From " src ", block " n ": placed in a coroutine with `stripe` and `account`." > file
        print "#include <stripe_asio/stripe_asio.hpp>" > file
        print "#include <boost/asio/as_tuple.hpp>\n#include <boost/asio/use_awaitable.hpp>" > file
        print "#include <iostream>\n#include <string>" > file
        print "namespace asio = boost::asio;" > file
        print "asio::awaitable<void> doc_fragment(stripe_asio::client& stripe, std::string account) {" > file
        printf "%s", text > file
        print "}" > file
      } else {
        print "// From " src ", block " n "." > file
        printf "%s", text > file
      }
      close(file)
    }
    /^```/ {
      if (inside) { flush(); inside = 0 }
      else if ($0 ~ /^```(cpp|c\+\+)[ \t]*$/) { inside = 1; n++; text = "" }
      next
    }
    inside { text = text $0 "\n" }
  ' "$md"
done
