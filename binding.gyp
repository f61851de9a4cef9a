{
  "targets": [
    {
      "target_name": "evy",
      "sources": ["src/evy.c", "src/poll.c", "src/fd.c", "src/stream.c", "src/watchdog.c", "src/sourcemap.c", "src/watchdog_stack.cc", "src/tls.c", "src/context.cc"],
      "cflags_cc": ["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-O2"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
