// evy's native hub: the JS stack for the blocking watchdog, through V8's
// interrupt API (Isolate::RequestInterrupt), which N-API has no equivalent
// for. The only C++ in src/: everything else about the watchdog is watchdog.c.
//
// RequestInterrupt may be called from any thread; V8 runs the callback on the
// JS thread at its next interrupt check (a function entry, a loop's back
// edge, an Atomics.wait), so a JS loop that spins is caught where it spins.
// The callback must not call into JS: it only reads the stack.
#include <v8.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "watchdog.h"

namespace {

const int kMaxFrames = 24;

// The addon is built once (prebuilds/) and loaded by every supported Node, so
// the V8 symbols used here must exist in all of them: String::Utf8Value's
// constructor gained a parameter in Node 24's V8, and Utf8Length/WriteUtf8
// are in 20, 22 and 24 alike.
std::string Utf8(v8::Isolate* isolate, v8::Local<v8::String> s) {
  if (s.IsEmpty()) return std::string();
  int n = s->Utf8Length(isolate);
  if (n <= 0) return std::string();
  std::string out(static_cast<size_t>(n), '\0');
  s->WriteUtf8(isolate, &out[0], n, nullptr, v8::String::NO_NULL_TERMINATION);
  return out;
}

void OnInterrupt(v8::Isolate* isolate, void* data) {
  evy_watch* w = evy_watchdog_claim(reinterpret_cast<uintptr_t>(data));
  if (w == nullptr) return;  // it stopped before V8 got here
  v8::HandleScope scope(isolate);
  v8::Local<v8::StackTrace> trace = v8::StackTrace::CurrentStackTrace(isolate, kMaxFrames, v8::StackTrace::kDetailed);
  std::string out;
  int n = trace->GetFrameCount();
  for (int i = 0; i < n; i++) {
    v8::Local<v8::StackFrame> f = trace->GetFrame(isolate, i);
    std::string fn = Utf8(isolate, f->GetFunctionName());
    std::string file = Utf8(isolate, f->GetScriptNameOrSourceURL());
    if (file.rfind("file://", 0) == 0) file = file.substr(7);
    const char* skip = evy_watchdog_skip(w);
    if ((skip[0] != 0 && file.rfind(skip, 0) == 0) || file.rfind("node:internal/", 0) == 0 ||
        file == "node:async_hooks") continue;
    int line = f->GetLineNumber();
    int col = f->GetColumn();
    std::string map = Utf8(isolate, f->GetScriptSourceMappingURL());
    if (!map.empty()) evy_sourcemap_lookup(map.data(), map.size(), &line, &col);
    char pos[64];
    std::snprintf(pos, sizeof pos, ":%d:%d", line, col);
    if (file.empty()) file = "<anonymous>";
    out += "    at ";
    if (!fn.empty()) out += fn + " (" + file + pos + ")\n";
    else out += file + pos + "\n";
  }
  evy_watchdog_stack_caught(w, out.c_str());
}

}  // namespace

extern "C" void* evy_watchdog_isolate(void) { return v8::Isolate::GetCurrent(); }

extern "C" void evy_watchdog_request_stack(void* isolate, uintptr_t token) {
  static_cast<v8::Isolate*>(isolate)->RequestInterrupt(OnInterrupt, reinterpret_cast<void*>(token));
}
