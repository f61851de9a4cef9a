{
  "targets": [
    {
      "target_name": "evy",
      "sources": ["src/evy.c", "src/poll.c", "src/fd.c", "src/stream.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
